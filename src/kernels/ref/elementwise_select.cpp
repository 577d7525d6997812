// Variadic (Sum, Mean, Max, Min), Where and Clip kernels.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernel.h"
#include "kernels/ref/elementwise_loop.h"

namespace condense {

namespace {

using ew::kGrainCheap;

template <typename V>
bool is_nan(V v) {
  if constexpr (std::is_floating_point_v<V>)
    return std::isnan(v);
  else
    return false;
}

// y = op(...op(op(x0, x1), x2)..., xn) with every input broadcast to y's shape; the running
// result lives in y (same shape, so updating it in place is safe). `mean` divides by n at the end.
template <typename Op>
Status variadic(KernelCtx& ctx, Op op, bool mean) {
  const size_t n = ctx.inputs.size();
  for (size_t i = 0; i < n; ++i)
    if (!ctx.has_input(i)) return ctx.fail("input {} is missing", i);
  const Tensor& x0 = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x0.dtype() == DType::Bool || x0.dtype() == DType::I4 || x0.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(x0.dtype()));
  return visit_dtype(x0.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_same_v<T, bool>) {
      using C = compute_t<T>;
      auto f = ew::via_compute<T>(op);
      if (n == 1) {
        ew::binary_map<T, T, T>(x0, x0, y, kGrainCheap, [](T a, T) { return a; });
      } else {
        ew::binary_map<T, T, T>(x0, ctx.in(1), y, kGrainCheap, f);
        for (size_t i = 2; i < n; ++i) ew::binary_map<T, T, T>(y, ctx.in(i), y, kGrainCheap, f);
      }
      if (mean) {
        const C count = static_cast<C>(n);
        ew::unary_map<T, T>(y, y, kGrainCheap,
                            [count](T v) { return convert<T>(convert<C>(v) / count); });
      }
    }
    return Status::ok();
  });
}

}  // namespace

Status ref_Sum(KernelCtx& ctx) {
  return variadic(
      ctx, [](auto a, auto b) { return a + b; }, false);
}
Status ref_Mean(KernelCtx& ctx) {
  return variadic(
      ctx, [](auto a, auto b) { return a + b; }, true);
}
// NaN propagates (as numpy's maximum/minimum).
Status ref_Max(KernelCtx& ctx) {
  return variadic(
      ctx, [](auto a, auto b) { return is_nan(a) || a > b ? a : b; }, false);
}
Status ref_Min(KernelCtx& ctx) {
  return variadic(
      ctx, [](auto a, auto b) { return is_nan(a) || a < b ? a : b; }, false);
}

// y = condition ? x : y, all three broadcast together.
Status ref_Where(KernelCtx& ctx) {
  const Tensor& c = ctx.in(0);
  const Tensor& a = ctx.in(1);
  const Tensor& b = ctx.in(2);
  Tensor& y = ctx.out(0);
  if (c.dtype() != DType::Bool) return ctx.fail("condition must be bool");
  if (a.dtype() == DType::I4 || a.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(a.dtype()));
  const ew::BroadcastPlan<3> plan =
      ew::make_plan<3>(y.shape(), {&c.shape(), &a.shape(), &b.shape()});
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    const bool* pc = c.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    const int64_t sc = plan.inner_stride[0], sa = plan.inner_stride[1], sb = plan.inner_stride[2];
    ew::run_plan(plan, kGrainCheap, [&](int64_t o, const std::array<int64_t, 3>& off, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        py[o + i] = pc[off[0] + i * sc] ? pa[off[1] + i * sa] : pb[off[2] + i * sb];
    });
    return Status::ok();
  });
}

// y = min(max(x, lo), hi): NaN stays NaN, and min > max gives max everywhere (as ONNX says).
// An absent bound is the dtype's limit. Bounds of another dtype are converted to x's.
Status ref_Clip(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() == DType::Bool || x.dtype() == DType::I4 || x.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  for (size_t i = 1; i < 3; ++i)
    if (ctx.has_input(i) && ctx.in(i).numel() != 1)
      return ctx.fail("{} must be a scalar, got shape {}", i == 1 ? "min" : "max",
                      shape_str(ctx.in(i).shape()));
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_same_v<T, bool>) {
      using C = compute_t<T>;
      auto bound = [&](size_t i, C fallback) -> C {
        if (!ctx.has_input(i)) return fallback;
        const Tensor& t = ctx.in(i);
        if (t.dtype() == x.dtype()) return convert<C>(t.data<T>()[0]);
        if (dtype_is_float(t.dtype())) return ew::sat_cast<C>(t.get_f64(0));
        return ew::sat_cast<C>(static_cast<double>(t.get_i64(0)));
      };
      using L = std::numeric_limits<C>;
      const C lo = bound(1, L::has_infinity ? -L::infinity() : L::lowest());
      const C hi = bound(2, L::has_infinity ? L::infinity() : L::max());
      ew::unary_map<T, T>(x, ctx.out(0), kGrainCheap, [lo, hi](T v) {
        C c = convert<C>(v);
        if (c < lo) c = lo;
        if (c > hi) c = hi;
        return convert<T>(c);
      });
    }
    return Status::ok();
  });
}

}  // namespace condense
