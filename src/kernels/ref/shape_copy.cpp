#include "kernels/ref/shape_copy.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace condense::shape_kernels {

namespace {

struct Dim {
  int64_t n;     // extent
  int64_t s, d;  // source and destination strides, in elements
};

// Parallel work starts to pay off around a few hundred KiB of traffic.
constexpr int64_t kParallelBytes = 1 << 18;

// Source/destination element offsets of outer position `linear` over dims[0..count).
void offsets_of(const std::vector<Dim>& dims, size_t count, int64_t linear, int64_t* so,
                int64_t* dof, std::vector<int64_t>& idx) {
  *so = 0;
  *dof = 0;
  for (size_t k = count; k-- > 0;) {
    idx[k] = linear % dims[k].n;
    linear /= dims[k].n;
    *so += idx[k] * dims[k].s;
    *dof += idx[k] * dims[k].d;
  }
}

// Advances the odometer over dims[0..count) by one position.
void step(const std::vector<Dim>& dims, size_t count, int64_t* so, int64_t* dof,
          std::vector<int64_t>& idx) {
  for (size_t k = count; k-- > 0;) {
    *so += dims[k].s;
    *dof += dims[k].d;
    if (++idx[k] < dims[k].n) return;
    *so -= dims[k].s * dims[k].n;
    *dof -= dims[k].d * dims[k].n;
    idx[k] = 0;
  }
}

int threads_for(int64_t bytes, int64_t units) {
  if (bytes < kParallelBytes || units < 2) return 1;
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), units));
}

// Runs body(first, last) over [0, units) split into contiguous chunks, one per thread.
template <typename Body>
void parallel_chunks(int64_t units, int threads, Body&& body) {
  if (threads <= 1) {
    body(int64_t{0}, units);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    int64_t first = units * t / threads, last = units * (t + 1) / threads;
    if (first < last) body(first, last);
  }
}

}  // namespace

Shape contiguous_strides(std::span<const int64_t> shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

void fill_pattern(void* dst, int64_t count, const void* value, int elem) {
  if (count <= 0) return;
  bool zero = true;
  for (int b = 0; b < elem; ++b) zero &= static_cast<const uint8_t*>(value)[b] == 0;
  if (zero) {
    std::memset(dst, 0, static_cast<size_t>(count) * elem);
    return;
  }
  visit_elem(elem, [&]<typename U>() {
    U v;
    std::memcpy(&v, value, sizeof(U));
    std::fill_n(static_cast<U*>(dst), count, v);
  });
}

void strided_copy(const void* src, std::span<const int64_t> src_strides, void* dst,
                  std::span<const int64_t> dst_strides, std::span<const int64_t> shape, int elem) {
  std::vector<Dim> dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    Dim dm{shape[i], src_strides[i], dst_strides[i]};
    if (!dims.empty() && dims.back().s == dm.s * dm.n && dims.back().d == dm.d * dm.n) {
      dims.back() = {dims.back().n * dm.n, dm.s, dm.d};
    } else {
      dims.push_back(dm);
    }
  }
  const auto* s8 = static_cast<const uint8_t*>(src);
  auto* d8 = static_cast<uint8_t*>(dst);
  if (dims.empty()) {
    std::memcpy(d8, s8, elem);
    return;
  }
  const Dim inner = dims.back();
  const size_t outer = dims.size() - 1;
  int64_t rows = 1;
  for (size_t k = 0; k < outer; ++k) rows *= dims[k].n;
  const int64_t bytes = rows * inner.n * elem;

  if (inner.s == 1 && inner.d == 1) {
    // Contiguous runs: one memcpy per row.
    const size_t run = static_cast<size_t>(inner.n) * elem;
    parallel_chunks(rows, threads_for(bytes, rows), [&](int64_t first, int64_t last) {
      std::vector<int64_t> idx(outer);
      int64_t so, dof;
      offsets_of(dims, outer, first, &so, &dof, idx);
      for (int64_t r = first; r < last; ++r) {
        std::memcpy(d8 + dof * elem, s8 + so * elem, run);
        step(dims, outer, &so, &dof, idx);
      }
    });
    return;
  }

  // A transpose-like copy: some outer dim `a` reads contiguously while the inner dim writes
  // contiguously. Walk (a, inner) in square tiles so both sides stay in cache.
  size_t a = outer;
  for (size_t k = outer; k-- > 0;)
    if (dims[k].s == 1) {
      a = k;
      break;
    }
  if (a < outer && inner.d == 1) {
    constexpr int64_t kTile = 32;
    const Dim da = dims[a];
    std::vector<Dim> rest;  // the outer dims other than a
    for (size_t k = 0; k < outer; ++k)
      if (k != a) rest.push_back(dims[k]);
    int64_t rest_n = 1;
    for (const Dim& dm : rest) rest_n *= dm.n;
    const int64_t tiles_a = (da.n + kTile - 1) / kTile;
    const int64_t units = rest_n * tiles_a;
    visit_elem(elem, [&]<typename U>() {
      const U* sp = reinterpret_cast<const U*>(s8);
      U* dp = reinterpret_cast<U*>(d8);
      parallel_chunks(units, threads_for(bytes, units), [&](int64_t first, int64_t last) {
        std::vector<int64_t> idx(rest.size());
        for (int64_t u = first; u < last; ++u) {
          int64_t so, dof;
          offsets_of(rest, rest.size(), u / tiles_a, &so, &dof, idx);
          const int64_t a0 = (u % tiles_a) * kTile, a1 = std::min(da.n, a0 + kTile);
          for (int64_t j0 = 0; j0 < inner.n; j0 += kTile) {
            const int64_t j1 = std::min(inner.n, j0 + kTile);
            for (int64_t i = a0; i < a1; ++i) {
              const U* srow = sp + so + i * da.s;
              U* drow = dp + dof + i * da.d;
              for (int64_t j = j0; j < j1; ++j) drow[j] = srow[j * inner.s];
            }
          }
        }
      });
    });
    return;
  }

  // General strided rows.
  visit_elem(elem, [&]<typename U>() {
    const U* sp = reinterpret_cast<const U*>(s8);
    U* dp = reinterpret_cast<U*>(d8);
    parallel_chunks(rows, threads_for(bytes, rows), [&](int64_t first, int64_t last) {
      std::vector<int64_t> idx(outer);
      int64_t so, dof;
      offsets_of(dims, outer, first, &so, &dof, idx);
      for (int64_t r = first; r < last; ++r) {
        for (int64_t j = 0; j < inner.n; ++j) dp[dof + j * inner.d] = sp[so + j * inner.s];
        step(dims, outer, &so, &dof, idx);
      }
    });
  });
}

}  // namespace condense::shape_kernels
