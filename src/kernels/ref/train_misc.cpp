// Reference kernels (train family): broadcast reduction, softmax and activation backward,
// training dropout, NLL loss backward, Gather and Slice backward.
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/ref/broadcast.h"
#include "kernels/ref/elementwise_loop.h"
#include "kernels/ref/train_common.h"
#include "ops/shape_common.h"
#include "ops/train_activation.h"

namespace condense {

// Y[j] = sum of X[i] over the elements i that broadcast from j. Equal shapes: Y is X (a view;
// infer set allocate = false).
Status ref_SumToShape(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (!y.defined()) {
    y = x.reshaped(y.shape());
    return Status::ok();
  }
  const Shape target = y.shape();
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    std::vector<double> acc(static_cast<size_t>(y.numel()), 0.0);
    const T* px = x.data<T>();
    for_each_broadcast<1>(x.shape(), {&target},
                          [&](int64_t i, const std::array<int64_t, 1>& o) { acc[o[0]] += px[i]; });
    T* py = y.data<T>();
    for (int64_t j = 0; j < y.numel(); ++j) py[j] = static_cast<T>(acc[j]);
    return Status::ok();
  });
}

// Along `axis`: softmax dX = Y * (dY - sum(dY * Y)); log=1: dX = dY - exp(Y) * sum(dY).
Status ref_SoftmaxGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& y = ctx.in(1);
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis < 0) axis += y.rank();
  const bool log = ctx.node.attr_int("log", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= y.dim(d);
  for (int64_t d = axis + 1; d < y.rank(); ++d) inner *= y.dim(d);
  const int64_t len = y.rank() ? y.dim(axis) : 1;
  return visit_train_float(ctx, y.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    const T* py = y.data<T>();
    T* pdx = ctx.out(0).data<T>();
#pragma omp parallel for if (y.numel() > 16384)
    for (int64_t oi = 0; oi < outer * inner; ++oi) {
      const int64_t base = (oi / inner) * len * inner + oi % inner;
      double s = 0;
      for (int64_t a = 0; a < len; ++a) {
        const int64_t k = base + a * inner;
        s += log ? static_cast<double>(pdy[k]) : static_cast<double>(pdy[k]) * py[k];
      }
      for (int64_t a = 0; a < len; ++a) {
        const int64_t k = base + a * inner;
        pdx[k] = static_cast<T>(log ? pdy[k] - std::exp(static_cast<double>(py[k])) * s
                                    : py[k] * (pdy[k] - s));
      }
    }
    return Status::ok();
  });
}

namespace {
// g where t > 0, else +0 (Relu's gradient, NaN in g included), as a bit mask: a select
// `t > 0 ? g : 0` lets the compiler move g's computation into the branch, and, since a float add
// may trap, it then keeps a branch per element, mispredicted about half the time on a Relu mask.
template <typename T>
inline T relu_pass(T g, T t) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U keep = t > T(0) ? ~U(0) : U(0);
  return std::bit_cast<T>(std::bit_cast<U>(g) & keep);
}
}  // namespace

// dX = (dY + dY2) * f'(T), see src/ops/train_activation.h; dY2 (optional) and dY broadcast to
// T's shape (equal shapes, the case the fuse_activation_grad_sum pass makes, take one pass).
Status ref_ActivationGrad(KernelCtx& ctx) {
  const GradAct kind = *grad_act_from_name(ctx.node.attr_string("activation", ""));
  const double alpha = ctx.node.attr_float("alpha", 0.f), beta = ctx.node.attr_float("beta", 0.f);
  const Tensor& t = ctx.in(1);
  const Tensor* dy = &ctx.in(0);
  const Tensor* dy2 = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  Tensor sum;  // dY + dY2 when either broadcasts
  return visit_train_float(ctx, t.dtype(), [&]<typename T>() -> Status {
    if (dy2 && (dy->shape() != t.shape() || dy2->shape() != t.shape())) {
      sum = Tensor::empty(t.dtype(), t.shape());
      ew::binary_map<T, T, T>(*dy, *dy2, sum, ew::kGrainCheap, [](T a, T b) { return a + b; });
      dy = &sum;
      dy2 = nullptr;
    }
    const T* pdy = dy->data<T>();
    const T* pdy2 = dy2 ? dy2->data<T>() : nullptr;
    const T* pt = t.data<T>();
    T* pdx = ctx.out(0).data<T>();
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    const int64_t n = t.numel();
    if (kind == GradAct::Relu) {  // the common case, branch-free (see relu_pass)
      if (pdy2) {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) pdx[i] = relu_pass(pdy[i] + pdy2[i], pt[i]);
      } else {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) pdx[i] = relu_pass(pdy[i], pt[i]);
      }
      return Status::ok();
    }
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const T g = pdy2 ? pdy[i] + pdy2[i] : pdy[i];
      pdx[i] = g * activation_derivative<T>(kind, a, b, pt[i]);
    }
    return Status::ok();
  });
}

namespace {
uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

// mask[i] = 1 / (1 - ratio) when u_i >= ratio else 0, u_i uniform in [0, 1) from a counter-based
// hash of (seed, salt, i): the same seed gives the same mask on any thread count.
Status ref_DropoutTrain(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const double ratio = ctx.has_input(1) ? ctx.in(1).get_f64(0) : 0.5;
  if (!(ratio >= 0.0 && ratio < 1.0)) return ctx.fail("ratio = {} must be in [0, 1)", ratio);
  const uint64_t seed = static_cast<uint64_t>(ctx.in(2).get_i64(0));
  const uint64_t salt = static_cast<uint64_t>(ctx.node.attr_int("salt", 0));
  const uint64_t key = splitmix64(seed ^ splitmix64(salt + 0x632BE59BD9B4E019ull));
  const double keep_scale = 1.0 / (1.0 - ratio);
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    T* pm = ctx.out(1).data<T>();
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t h = splitmix64(key + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull);
      const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
      const T m = static_cast<T>(u >= ratio ? keep_scale : 0.0);
      pm[i] = m;
      py[i] = px[i] * m;
    }
    return Status::ok();
  });
}

// dX[n, t, d] = -w[t] * dLoss[n, d] (reduction none), -w[t] * dLoss (sum), -w[t] * dLoss / W
// (mean; W = total weight of the non-ignored elements; 0 when there are none); zero elsewhere.
Status ref_NllLossGrad(KernelCtx& ctx) {
  const Tensor& dl = ctx.in(0);
  const Tensor& labels = ctx.in(2);
  const Tensor* w = ctx.has_input(3) ? &ctx.in(3) : nullptr;
  Tensor& dx = ctx.out(0);
  const int64_t N = dx.dim(0), C = dx.dim(1), D = N * C != 0 ? dx.numel() / (N * C) : 0;
  const ir::Attribute* ii = ctx.node.attr("ignore_index");
  const std::string red = ctx.node.attr_string("reduction", "mean");
  double wsum = 0;
  for (int64_t k = 0; k < N * D; ++k) {
    const int64_t t = labels.get_i64(k);
    if (ii && t == ii->i) continue;
    if (t < 0 || t >= C) return ctx.fail("label {} is out of range [0, {})", t, C);
    wsum += w ? w->get_f64(t) : 1.0;
  }
  return visit_train_float(ctx, dx.dtype(), [&]<typename T>() -> Status {
    T* pdx = dx.data<T>();
    std::fill(pdx, pdx + dx.numel(), T(0));
    const T* pdl = dl.data<T>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t t = labels.get_i64(n * D + d);
        if (ii && t == ii->i) continue;
        double coef =
            red == "none" ? static_cast<double>(pdl[n * D + d]) : static_cast<double>(pdl[0]);
        if (red == "mean") coef = wsum != 0 ? coef / wsum : 0.0;
        pdx[(n * C + t) * D + d] = static_cast<T>(-(w ? w->get_f64(t) : 1.0) * coef);
      }
    return Status::ok();
  });
}

// dData[o, idx[i], r] += dY[o, i, r] (negative indices count from the end).
Status ref_GatherGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& dx = ctx.out(0);
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += dx.rank();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dx.dim(d);
  for (int64_t d = axis + 1; d < dx.rank(); ++d) inner *= dx.dim(d);
  const int64_t A = dx.dim(axis), I = ind.numel();
  std::vector<int64_t> idx(static_cast<size_t>(I));
  for (int64_t i = 0; i < I; ++i) {
    int64_t v = ind.get_i64(i);
    if (v < -A || v >= A) return ctx.fail("index {} is out of range for axis size {}", v, A);
    idx[i] = v < 0 ? v + A : v;
  }
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    std::fill(pdx, pdx + dx.numel(), T(0));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t r = 0; r < inner; ++r)
          pdx[(o * A + idx[i]) * inner + r] += pdy[(o * I + i) * inner + r];
    return Status::ok();
  });
}

// dData = zeros with dY written where the slice read (steps may be negative).
Status ref_SliceGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  auto plan = shape_ops::slice_plan(dx.shape(), ctx.in(2), ctx.in(3),
                                    ctx.has_input(4) ? &ctx.in(4) : nullptr,
                                    ctx.has_input(5) ? &ctx.in(5) : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  const int64_t rank = dx.rank();
  std::vector<int64_t> stride(static_cast<size_t>(rank), 1);
  for (int64_t d = rank - 1; d > 0; --d) stride[d - 1] = stride[d] * dx.dim(d);
  // dY viewed as rows of its last dim: row r starts at dX offset off(r) and steps by the last
  // axis' step. Rows are independent, so they split over threads.
  const int64_t inner = rank > 0 ? (*plan)[rank - 1].count : 1;
  const int64_t inner_stride = rank > 0 ? (*plan)[rank - 1].step * stride[rank - 1] : 1;
  const int64_t rows = inner > 0 ? dy.numel() / inner : 0;
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const int64_t n = dx.numel();
#pragma omp parallel if (n > 65536)
    {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) pdx[i] = T(0);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        int64_t off = rank > 0 ? (*plan)[rank - 1].start * stride[rank - 1] : 0;
        int64_t rest = r;
        for (int64_t d = rank - 1; d-- > 0;) {
          const int64_t i = rest % (*plan)[d].count;
          rest /= (*plan)[d].count;
          off += ((*plan)[d].start + i * (*plan)[d].step) * stride[d];
        }
        const T* src = pdy + r * inner;
        T* dst = pdx + off;
        for (int64_t j = 0; j < inner; ++j) dst[j * inner_stride] = src[j];
      }
    }
    return Status::ok();
  });
}

}  // namespace condense
