// Loop engine of the elementwise family (private to src/kernels/ref/elementwise*.cpp).
//
// A BroadcastPlan collapses an N-input numpy broadcast into rows: the output (row-major) is
// `rows x inner`, and within a row input k advances by inner_stride[k], which is 0 (broadcast)
// or 1 (contiguous). Adjacent dims are merged whenever every input is contiguous (or broadcast)
// across both, so the common cases reduce to few, long rows:
//   same shape              -> 1 row, strides (1, 1)
//   [N, C] + [C] (bias)     -> N rows, strides (1, 1), b restarting each row
//   [N, C, H, W] + [C, 1, 1] -> N*C rows of H*W, strides (1, 0)
//   x + scalar              -> 1 row, strides (1, 0)
// Index arithmetic happens once per row (piece), never per element; the inner loops are plain
// pointer loops the compiler vectorizes. Work above a size threshold is split over OpenMP
// threads by contiguous output ranges (results do not depend on the split).
#pragma once

#include <condense/tensor.h>
#include <omp.h>

#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/ref/broadcast.h"

namespace condense::ew {

// Elements below which a loop stays on one thread. Cheap ops (add, compare) need many elements
// to amortize a fork; transcendental ops (exp, tanh, erf) pay off sooner.
inline constexpr int64_t kGrainCheap = 1 << 15;
inline constexpr int64_t kGrainHeavy = 1 << 12;

template <size_t N>
struct BroadcastPlan {
  int64_t total = 0;  // output elements
  int64_t inner = 1;  // elements per row
  std::array<int64_t, N> inner_stride{};
  Shape outer;  // collapsed outer dims, row-major; product = rows
  std::array<std::vector<int64_t>, N> outer_stride;

  // Input offsets of the first element of row r.
  std::array<int64_t, N> row_offsets(int64_t r) const {
    std::array<int64_t, N> off{};
    for (size_t d = outer.size(); d-- > 0;) {
      const int64_t i = r % outer[d];
      r /= outer[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * outer_stride[k][d];
    }
    return off;
  }
};

template <size_t N>
BroadcastPlan<N> make_plan(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes) {
  BroadcastPlan<N> p;
  p.total = shape_numel(out_shape);
  const size_t rank = out_shape.size();
  std::array<std::vector<int64_t>, N> full;
  for (size_t k = 0; k < N; ++k) full[k] = broadcast_strides(*in_shapes[k], rank, out_shape);
  // Collapsed dims (sizes + strides per input), dropping size-1 output dims.
  Shape dims;
  std::array<std::vector<int64_t>, N> st;
  for (size_t d = 0; d < rank; ++d) {
    if (out_shape[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = st[k].back() == full[k][d] * out_shape[d];
    if (merge) {
      dims.back() *= out_shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = full[k][d];
    } else {
      dims.push_back(out_shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) return p;  // scalar output (or all dims 1): one row of one element
  p.inner = dims.back();
  for (size_t k = 0; k < N; ++k) {
    p.inner_stride[k] = st[k].back();
    p.outer_stride[k].assign(st[k].begin(), st[k].end() - 1);
  }
  p.outer.assign(dims.begin(), dims.end() - 1);
  return p;
}

// Calls f(out_offset, in_offsets, len) for pieces of rows covering output range [begin, end).
template <size_t N, typename F>
void run_range(const BroadcastPlan<N>& p, int64_t begin, int64_t end, F& f) {
  if (begin >= end) return;
  int64_t r = begin / p.inner, c = begin % p.inner;
  std::array<int64_t, N> off = p.row_offsets(r);
  // Odometer over the outer dims, advanced once per row.
  std::vector<int64_t> idx(p.outer.size(), 0);
  {
    int64_t rr = r;
    for (size_t d = p.outer.size(); d-- > 0;) {
      idx[d] = rr % p.outer[d];
      rr /= p.outer[d];
    }
  }
  int64_t pos = begin;
  while (pos < end) {
    const int64_t len = std::min(p.inner - c, end - pos);
    std::array<int64_t, N> o = off;
    for (size_t k = 0; k < N; ++k) o[k] += c * p.inner_stride[k];
    f(pos, o, len);
    pos += len;
    c = 0;
    for (size_t d = p.outer.size(); d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += p.outer_stride[k][d];
      if (idx[d] < p.outer[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= p.outer_stride[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

// Runs the plan, in parallel when total >= grain.
template <size_t N, typename F>
void run_plan(const BroadcastPlan<N>& p, int64_t grain, F&& f) {
  if (p.total == 0) return;
  const int threads = omp_get_max_threads();
  if (threads <= 1 || p.total < grain) {
    run_range(p, 0, p.total, f);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (p.total + nt - 1) / nt;
    run_range(p, std::min(p.total, t * chunk), std::min(p.total, (t + 1) * chunk), f);
  }
}

// Flat 1-D range split: f(begin, end) over [0, n), parallel when n >= grain.
template <typename F>
void run_flat(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int threads = omp_get_max_threads();
  if (threads <= 1 || n < grain) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = std::min(n, t * chunk), e = std::min(n, (t + 1) * chunk);
    if (b < e) f(b, e);
  }
}

// y[i] = f(x[i]) over same-shape tensors; f maps storage types (TX -> TY).
template <typename TX, typename TY, typename F>
void unary_map(const Tensor& x, Tensor& y, int64_t grain, F f) {
  const TX* px = x.data<TX>();
  TY* py = y.data<TY>();
  run_flat(x.numel(), grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
  });
}

// y = f(a, b) with numpy broadcasting; f maps storage types (TA, TB -> TY). For f32 (what real
// models run) the inner loops are specialized on the stride pattern so the compiler vectorizes
// them; other dtypes share one strided loop to keep compile time down. `y` may alias `a` when a
// already has y's shape (used by the variadic ops).
template <typename TA, typename TB, typename TY, typename F>
void binary_map(const Tensor& a, const Tensor& b, Tensor& y, int64_t grain, F f) {
  const BroadcastPlan<2> plan = make_plan<2>(y.shape(), {&a.shape(), &b.shape()});
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TY* py = y.data<TY>();
  const int64_t sa = plan.inner_stride[0], sb = plan.inner_stride[1];
  run_plan(plan, grain, [&](int64_t o, const std::array<int64_t, 2>& off, int64_t n) {
    const TA* xa = pa + off[0];
    const TB* xb = pb + off[1];
    TY* yy = py + o;
    if constexpr (std::is_same_v<TA, float> && std::is_same_v<TB, float>) {
      if (sa && sb) {
        for (int64_t i = 0; i < n; ++i) yy[i] = f(xa[i], xb[i]);
      } else if (sa) {
        const float vb = *xb;
        for (int64_t i = 0; i < n; ++i) yy[i] = f(xa[i], vb);
      } else if (sb) {
        const float va = *xa;
        for (int64_t i = 0; i < n; ++i) yy[i] = f(va, xb[i]);
      } else {
        const TY v = f(*xa, *xb);
        for (int64_t i = 0; i < n; ++i) yy[i] = v;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) yy[i] = f(xa[i * sa], xb[i * sb]);
    }
  });
}

// Float (or any number) -> T without undefined behaviour: integers truncate toward zero and
// saturate at their range, NaN becomes 0; floats convert with IEEE rounding; bool is v != 0.
template <typename T, typename V>
inline T sat_cast(V v) {
  if constexpr (std::is_same_v<T, bool>) {
    return convert<double>(v) != 0.0;
  } else if constexpr (std::is_integral_v<T> && !std::is_integral_v<compute_t<V>>) {
    const double d = convert<double>(v);
    if (std::isnan(d)) return T(0);
    constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);  // first value past max
    if (d <= lo) return std::numeric_limits<T>::lowest();
    if (d >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(d);
  } else {
    return convert<T>(v);
  }
}

// Wraps a compute-type functor (C, C -> C) into a storage-type one (T, T -> T) for 16-bit floats.
template <typename T, typename Op>
auto via_compute(Op op) {
  using C = compute_t<T>;
  return [op](T a, T b) -> T { return convert<T>(op(convert<C>(a), convert<C>(b))); };
}
template <typename T, typename Op>
auto via_compute_unary(Op op) {
  using C = compute_t<T>;
  return [op](T a) -> T { return convert<T>(op(convert<C>(a))); };
}

}  // namespace condense::ew
