// Unary math and activation kernels: y = f(x), same shape. 16-bit floats compute in float;
// integer paths never overflow into undefined behaviour (negation wraps, conversions saturate).
#include <cmath>
#include <numbers>

#include "kernels/kernel.h"
#include "kernels/ref/elementwise_loop.h"

namespace condense {

namespace {

using ew::kGrainCheap;
using ew::kGrainHeavy;

// Float-only op: `op` is a generic functor on float/double (16-bit floats run in float).
template <typename Op>
Status float_unary(KernelCtx& ctx, int64_t grain, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  switch (x.dtype()) {
    case DType::F32:
      ew::unary_map<float, float>(x, y, grain, op);
      break;
    case DType::F64:
      ew::unary_map<double, double>(x, y, grain, op);
      break;
    case DType::F16:
      ew::unary_map<Half, Half>(x, y, grain,
                                [&](Half v) { return Half(op(static_cast<float>(v))); });
      break;
    case DType::BF16:
      ew::unary_map<BFloat16, BFloat16>(
          x, y, grain, [&](BFloat16 v) { return BFloat16(op(static_cast<float>(v))); });
      break;
    default:
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  }
  return Status::ok();
}

// Numeric op over every non-bool dtype: `op` takes and returns compute_t<T> (float for 16-bit
// floats, T otherwise).
template <typename Op>
Status numeric_unary(KernelCtx& ctx, int64_t grain, Op op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x.dtype() == DType::Bool || x.dtype() == DType::I4 || x.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_same_v<T, bool>) {
      ew::unary_map<T, T>(x, y, grain, ew::via_compute_unary<T>(op));
    }
    return Status::ok();
  });
}

// Predicate on floats: y (bool) = pred(x).
template <typename Pred>
Status float_predicate(KernelCtx& ctx, Pred pred) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  switch (x.dtype()) {
    case DType::F32:
      ew::unary_map<float, bool>(x, y, kGrainCheap, pred);
      break;
    case DType::F64:
      ew::unary_map<double, bool>(x, y, kGrainCheap, pred);
      break;
    case DType::F16:
      ew::unary_map<Half, bool>(x, y, kGrainCheap,
                                [&](Half v) { return pred(static_cast<float>(v)); });
      break;
    case DType::BF16:
      ew::unary_map<BFloat16, bool>(x, y, kGrainCheap,
                                    [&](BFloat16 v) { return pred(static_cast<float>(v)); });
      break;
    default:
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  }
  return Status::ok();
}

// Two's-complement negation without signed overflow (-INT_MIN wraps to INT_MIN).
template <typename T>
T wrap_neg(T v) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(U(0) - static_cast<U>(v));
  } else {
    return -v;
  }
}

template <typename V>
V sigmoid(V v) {
  if (v >= V(0)) return V(1) / (V(1) + std::exp(-v));
  const V e = std::exp(v);
  return e / (V(1) + e);
}

// log(1 + exp(v)) without overflow for large v.
template <typename V>
V softplus(V v) {
  return v > V(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

}  // namespace

// --- unary math ---
Status ref_Abs(KernelCtx& ctx) {
  return numeric_unary(ctx, kGrainCheap, [](auto v) -> decltype(v) {
    using V = decltype(v);
    if constexpr (std::is_unsigned_v<V>)
      return v;
    else if constexpr (std::is_integral_v<V>)
      return v < 0 ? wrap_neg(v) : v;
    else
      return std::abs(v);
  });
}
Status ref_Neg(KernelCtx& ctx) {
  return numeric_unary(ctx, kGrainCheap, [](auto v) { return wrap_neg(v); });
}
Status ref_Exp(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::exp(v); });
}
Status ref_Log(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::log(v); });
}
Status ref_Sqrt(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return std::sqrt(v); });
}
Status ref_Reciprocal(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return decltype(v)(1) / v; });
}
Status ref_Floor(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return std::floor(v); });
}
Status ref_Ceil(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return std::ceil(v); });
}
// Half to even (the default floating-point rounding mode).
Status ref_Round(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return std::nearbyint(v); });
}
Status ref_Sign(KernelCtx& ctx) {
  return numeric_unary(ctx, kGrainCheap, [](auto v) -> decltype(v) {
    using V = decltype(v);
    if constexpr (std::is_floating_point_v<V>) {
      if (std::isnan(v)) return v;
    }
    return static_cast<V>(static_cast<int>(v > V(0)) - static_cast<int>(v < V(0)));
  });
}
Status ref_Sin(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::sin(v); });
}
Status ref_Cos(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::cos(v); });
}
Status ref_Tan(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::tan(v); });
}
Status ref_Asin(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::asin(v); });
}
Status ref_Acos(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::acos(v); });
}
Status ref_Atan(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::atan(v); });
}
Status ref_Sinh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::sinh(v); });
}
Status ref_Cosh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::cosh(v); });
}
Status ref_Asinh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::asinh(v); });
}
Status ref_Acosh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::acosh(v); });
}
Status ref_Atanh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::atanh(v); });
}
// Integer inputs: erf in double, truncated back (saturating).
Status ref_Erf(KernelCtx& ctx) {
  return numeric_unary(ctx, kGrainHeavy, [](auto v) -> decltype(v) {
    using V = decltype(v);
    if constexpr (std::is_floating_point_v<V>)
      return std::erf(v);
    else
      return ew::sat_cast<V>(std::erf(static_cast<double>(v)));
  });
}
Status ref_Not(KernelCtx& ctx) {
  if (ctx.in(0).dtype() != DType::Bool) return ctx.fail("Not takes bool");
  ew::unary_map<bool, bool>(ctx.in(0), ctx.out(0), kGrainCheap, [](bool v) { return !v; });
  return Status::ok();
}
Status ref_IsNaN(KernelCtx& ctx) {
  return float_predicate(ctx, [](auto v) { return std::isnan(v); });
}
Status ref_IsInf(KernelCtx& ctx) {
  const bool pos = ctx.node.attr_int("detect_positive", 1) != 0;
  const bool neg = ctx.node.attr_int("detect_negative", 1) != 0;
  return float_predicate(
      ctx, [pos, neg](auto v) { return std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg)); });
}

// --- activations ---
Status ref_Relu(KernelCtx& ctx) {
  return numeric_unary(ctx, kGrainCheap, [](auto v) -> decltype(v) {
    using V = decltype(v);
    return v > V(0) ? v : V(0);
  });
}
Status ref_LeakyRelu(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  return float_unary(ctx, kGrainCheap, [alpha](auto v) {
    using V = decltype(v);
    return v >= V(0) ? v : static_cast<V>(alpha) * v;
  });
}
Status ref_Sigmoid(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return sigmoid(v); });
}
// y = max(0, min(1, alpha * x + beta))
Status ref_HardSigmoid(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  return float_unary(ctx, kGrainCheap, [alpha, beta](auto v) {
    using V = decltype(v);
    return std::max(V(0), std::min(V(1), static_cast<V>(alpha) * v + static_cast<V>(beta)));
  });
}
// y = x * max(0, min(1, x / 6 + 0.5))
Status ref_HardSwish(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) {
    using V = decltype(v);
    return v * std::max(V(0), std::min(V(1), v / V(6) + V(0.5)));
  });
}
Status ref_Tanh(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return std::tanh(v); });
}
// y = x >= 0 ? x : alpha * (exp(x) - 1)
Status ref_Elu(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  return float_unary(ctx, kGrainHeavy, [alpha](auto v) {
    using V = decltype(v);
    return v >= V(0) ? v : static_cast<V>(alpha) * std::expm1(v);
  });
}
// y = gamma * (x > 0 ? x : alpha * (exp(x) - 1))
Status ref_Selu(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  return float_unary(ctx, kGrainHeavy, [alpha, gamma](auto v) {
    using V = decltype(v);
    return static_cast<V>(gamma) * (v > V(0) ? v : static_cast<V>(alpha) * std::expm1(v));
  });
}
// y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
Status ref_Celu(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  return float_unary(ctx, kGrainHeavy, [alpha](auto v) {
    using V = decltype(v);
    const V a = static_cast<V>(alpha);
    return std::max(V(0), v) + std::min(V(0), a * std::expm1(v / a));
  });
}
Status ref_Softplus(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return softplus(v); });
}
// y = x / (1 + |x|)
Status ref_Softsign(KernelCtx& ctx) {
  return float_unary(ctx, kGrainCheap, [](auto v) { return v / (decltype(v)(1) + std::abs(v)); });
}
Status ref_ThresholdedRelu(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  return float_unary(ctx, kGrainCheap, [alpha](auto v) {
    using V = decltype(v);
    return v > static_cast<V>(alpha) ? v : V(0);
  });
}
// y = x * tanh(softplus(x))
Status ref_Mish(KernelCtx& ctx) {
  return float_unary(ctx, kGrainHeavy, [](auto v) { return v * std::tanh(softplus(v)); });
}
// none: y = x/2 * (1 + erf(x / sqrt(2)))
// tanh: y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
Status ref_Gelu(KernelCtx& ctx) {
  const bool tanh_approx = ctx.node.attr_string("approximate", "none") == "tanh";
  if (tanh_approx) {
    return float_unary(ctx, kGrainHeavy, [](auto v) {
      using V = decltype(v);
      const V k = static_cast<V>(std::sqrt(2.0 / std::numbers::pi));
      return V(0.5) * v * (V(1) + std::tanh(k * (v + V(0.044715) * v * v * v)));
    });
  }
  return float_unary(ctx, kGrainHeavy, [](auto v) {
    using V = decltype(v);
    return V(0.5) * v * (V(1) + std::erf(v * static_cast<V>(std::numbers::sqrt2 / 2)));
  });
}
// y = x * sigmoid(alpha * x)
Status ref_Swish(KernelCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  return float_unary(ctx, kGrainHeavy,
                     [alpha](auto v) { return v * sigmoid(static_cast<decltype(v)>(alpha) * v); });
}
// y = x < -lambd ? x + bias : (x > lambd ? x - bias : 0); integers compute in double and
// convert back saturating.
Status ref_Shrink(KernelCtx& ctx) {
  const double lambd = ctx.node.attr_float("lambd", 0.5f);
  const double bias = ctx.node.attr_float("bias", 0.0f);
  return numeric_unary(ctx, kGrainCheap, [lambd, bias](auto v) -> decltype(v) {
    using V = decltype(v);
    const double d = static_cast<double>(v);
    const double r = d < -lambd ? d + bias : (d > lambd ? d - bias : 0.0);
    return ew::sat_cast<V>(r);
  });
}

}  // namespace condense
