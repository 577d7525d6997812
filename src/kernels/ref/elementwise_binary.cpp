// Binary kernels with numpy broadcasting: arithmetic, Pow, Mod, bit ops, logic, comparisons, PRelu.
//
// Integer semantics (ONNX leaves overflow and division by zero undefined; condense defines them
// so no input can trigger C++ undefined behaviour):
//   - Add/Sub/Mul/Neg wrap around (two's complement);
//   - Div truncates toward zero; x / 0 = 0; INT_MIN / -1 = INT_MIN (wraps);
//   - Mod by 0 = 0; x mod -1 = 0;
//   - BitShift by >= the bit width gives 0;
//   - Pow with a negative integer exponent: 1 for base 1, +-1 for base -1, else 0 (the truncated
//     real result; 0^-n is defined as 0).
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/ref/elementwise_loop.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {

using ew::kGrainCheap;
using ew::kGrainHeavy;

// Unsigned type wide enough that arithmetic on it never promotes to (signed) int.
template <typename T>
using wrap_t =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename V>
V add(V a, V b) {
  if constexpr (std::is_integral_v<V>)
    return static_cast<V>(wrap_t<V>(a) + wrap_t<V>(b));
  else
    return a + b;
}
template <typename V>
V sub(V a, V b) {
  if constexpr (std::is_integral_v<V>)
    return static_cast<V>(wrap_t<V>(a) - wrap_t<V>(b));
  else
    return a - b;
}
template <typename V>
V mul(V a, V b) {
  if constexpr (std::is_integral_v<V>)
    return static_cast<V>(wrap_t<V>(a) * wrap_t<V>(b));
  else
    return a * b;
}
template <typename V>
V div(V a, V b) {
  if constexpr (std::is_integral_v<V>) {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<V>) {
      if (b == -1) return static_cast<V>(wrap_t<V>(0) - wrap_t<V>(a));
    }
    return static_cast<V>(a / b);
  } else {
    return a / b;
  }
}
// Integer remainder: `floored` = sign follows the divisor (Python), else the dividend (C).
template <typename V>
V int_mod(V a, V b, bool floored) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<V>) {
    if (b == -1) return 0;
    V r = static_cast<V>(a % b);
    if (floored && r != 0 && ((r < 0) != (b < 0))) r = static_cast<V>(r + b);
    return r;
  } else {
    return static_cast<V>(a % b);
  }
}

template <typename V>
V int_pow(V base, int64_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if constexpr (std::is_signed_v<V>) {
      if (base == -1) return (e % 2 == 0) ? V(1) : V(-1);
    }
    return 0;
  }
  wrap_t<V> r = 1, b = static_cast<wrap_t<V>>(base);
  auto ue = static_cast<uint64_t>(e);
  while (ue) {
    if (ue & 1) r = static_cast<wrap_t<V>>(r * b);
    b = static_cast<wrap_t<V>>(b * b);
    ue >>= 1;
  }
  return static_cast<V>(r);
}

// Same-dtype arithmetic over the numeric dtypes; `op` works on compute_t<T>.
template <typename Op>
Status arith_binary(KernelCtx& ctx, int64_t grain, Op op) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.dtype() == DType::Bool || a.dtype() == DType::I4 || a.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(a.dtype()));
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_same_v<T, bool>) {
      ew::binary_map<T, T, T>(a, b, ctx.out(0), grain, ew::via_compute<T>(op));
    }
    return Status::ok();
  });
}

// Integer-only op (bit ops, integer Mod); `op` works on T.
template <typename Op>
Status integer_binary(KernelCtx& ctx, Op op) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  switch (a.dtype()) {
#define CONDENSE_INT_CASE(D, T)                                 \
  case DType::D:                                                \
    ew::binary_map<T, T, T>(a, b, ctx.out(0), kGrainCheap, op); \
    break;
    CONDENSE_INT_CASE(I8, int8_t)
    CONDENSE_INT_CASE(I16, int16_t)
    CONDENSE_INT_CASE(I32, int32_t)
    CONDENSE_INT_CASE(I64, int64_t)
    CONDENSE_INT_CASE(U8, uint8_t)
    CONDENSE_INT_CASE(U16, uint16_t)
    CONDENSE_INT_CASE(U32, uint32_t)
    CONDENSE_INT_CASE(U64, uint64_t)
#undef CONDENSE_INT_CASE
    default:
      return ctx.fail("unsupported dtype {}", dtype_name(a.dtype()));
  }
  return Status::ok();
}

// Comparison over numeric dtypes (and bool when allowed): y (bool) = op(a, b).
template <typename Op>
Status compare_binary(KernelCtx& ctx, Op op) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.dtype() == DType::I4 || a.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(a.dtype()));
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    using C = compute_t<T>;
    ew::binary_map<T, T, bool>(a, b, ctx.out(0), kGrainCheap,
                               [&](T x, T y) { return op(convert<C>(x), convert<C>(y)); });
    return Status::ok();
  });
}

template <typename Op>
Status logic_binary(KernelCtx& ctx, Op op) {
  if (ctx.in(0).dtype() != DType::Bool) return ctx.fail("expects bool inputs");
  ew::binary_map<bool, bool, bool>(ctx.in(0), ctx.in(1), ctx.out(0), kGrainCheap, op);
  return Status::ok();
}

// x^e with base dtype TB and exponent dtype TE; the result has the base's dtype.
template <typename TB, typename TE>
TB pow_one(TB x, TE e) {
  using CB = compute_t<TB>;
  using CE = compute_t<TE>;
  if constexpr (std::is_floating_point_v<CB>) {
    if constexpr (std::is_same_v<CB, float> && std::is_same_v<CE, float>) {
      return convert<TB>(std::pow(convert<float>(x), convert<float>(e)));
    } else {
      return convert<TB>(static_cast<CB>(std::pow(convert<double>(x), convert<double>(e))));
    }
  } else if constexpr (std::is_integral_v<CE>) {
    int64_t ei;
    if constexpr (std::is_same_v<CE, uint64_t>) {
      ei = e > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(e);
    } else {
      ei = static_cast<int64_t>(e);
    }
    return int_pow<TB>(x, ei);
  } else {
    return ew::sat_cast<TB>(std::pow(static_cast<double>(x), convert<double>(e)));
  }
}

}  // namespace

// A fused activation ("_activation", set by the fuse_activation pass on float Adds: a ResNet's
// shortcut Add + Relu) applies to the sum.
Status ref_Add(KernelCtx& ctx) {
  const std::optional<FusedActivation> act = fused_activation(ctx.node);
  if (!act)
    return ctx.fail("unknown fused activation '{}'", ctx.node.attr_string("_activation", ""));
  if (act->kind == FusedAct::None)
    return arith_binary(ctx, kGrainCheap, [](auto a, auto b) { return add(a, b); });
  if (act->kind == FusedAct::Relu)
    return arith_binary(ctx, kGrainCheap, [](auto a, auto b) {
      const auto s = add(a, b);
      return s > decltype(s)(0) ? s : decltype(s)(0);
    });
  return arith_binary(ctx, kGrainHeavy, [a = *act](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>)
      return apply_fused_activation(a, add(x, y));
    else
      return add(x, y);  // the pass fuses float Adds only
  });
}
Status ref_Sub(KernelCtx& ctx) {
  return arith_binary(ctx, kGrainCheap, [](auto a, auto b) { return sub(a, b); });
}
Status ref_Mul(KernelCtx& ctx) {
  return arith_binary(ctx, kGrainCheap, [](auto a, auto b) { return mul(a, b); });
}
Status ref_Div(KernelCtx& ctx) {
  return arith_binary(ctx, kGrainCheap, [](auto a, auto b) { return div(a, b); });
}

// The exponent is first widened to int64 (integer dtypes) or double (float dtypes), except f32^f32,
// so only base x {int64, double, float} loops are instantiated.
Status ref_Pow(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& e = ctx.in(1);
  if (e.dtype() == DType::Bool || e.dtype() == DType::I4 || e.dtype() == DType::U4)
    return ctx.fail("unsupported exponent dtype {}", dtype_name(e.dtype()));
  const bool f32_pair = x.dtype() == DType::F32 && e.dtype() == DType::F32;
  Tensor expo = e;
  if (!f32_pair && e.dtype() != DType::I64 && e.dtype() != DType::F64) {
    const bool integral = dtype_is_integer(e.dtype());
    expo = Tensor::empty(integral ? DType::I64 : DType::F64, e.shape());
    visit_dtype(e.dtype(), [&]<typename TE>() {
      const TE* p = e.data<TE>();
      for (int64_t i = 0; i < e.numel(); ++i) {
        if constexpr (std::is_same_v<TE, uint64_t>) {
          expo.data<int64_t>()[i] = static_cast<int64_t>(std::min<uint64_t>(p[i], INT64_MAX));
        } else if (integral) {
          expo.data<int64_t>()[i] = ew::sat_cast<int64_t>(p[i]);
        } else {
          expo.data<double>()[i] = convert<double>(p[i]);
        }
      }
    });
  }
  auto with_base = [&]<typename TB>() -> Status {
    auto go = [&]<typename TE>() {
      ew::binary_map<TB, TE, TB>(x, expo, ctx.out(0), kGrainHeavy,
                                 [](TB a, TE b) { return pow_one<TB, TE>(a, b); });
    };
    if constexpr (std::is_same_v<TB, float>) {
      if (expo.dtype() == DType::F32) {
        go.template operator()<float>();
        return Status::ok();
      }
    }
    if (expo.dtype() == DType::I64)
      go.template operator()<int64_t>();
    else
      go.template operator()<double>();
    return Status::ok();
  };
  switch (x.dtype()) {
    case DType::F32:
      return with_base.template operator()<float>();
    case DType::F64:
      return with_base.template operator()<double>();
    case DType::F16:
      return with_base.template operator()<Half>();
    case DType::BF16:
      return with_base.template operator()<BFloat16>();
    case DType::I32:
      return with_base.template operator()<int32_t>();
    case DType::I64:
      return with_base.template operator()<int64_t>();
    default:
      return ctx.fail("unsupported base dtype {}", dtype_name(x.dtype()));
  }
}

// fmod=1: remainder with the dividend's sign (C fmod / %); fmod=0: the divisor's sign (integers
// only; shape inference rejects fmod=0 on floats as the spec requires).
Status ref_Mod(KernelCtx& ctx) {
  const bool fmod = ctx.node.attr_int("fmod", 0) != 0;
  auto float_mod = [fmod](auto a, auto b) {
    auto r = std::fmod(a, b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  };
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  switch (a.dtype()) {
    case DType::F32:
      ew::binary_map<float, float, float>(a, b, ctx.out(0), kGrainHeavy, float_mod);
      return Status::ok();
    case DType::F64:
      ew::binary_map<double, double, double>(a, b, ctx.out(0), kGrainHeavy, float_mod);
      return Status::ok();
    case DType::F16:
      ew::binary_map<Half, Half, Half>(a, b, ctx.out(0), kGrainHeavy,
                                       ew::via_compute<Half>(float_mod));
      return Status::ok();
    case DType::BF16:
      ew::binary_map<BFloat16, BFloat16, BFloat16>(a, b, ctx.out(0), kGrainHeavy,
                                                   ew::via_compute<BFloat16>(float_mod));
      return Status::ok();
    default:
      break;
  }
  return integer_binary(ctx, [fmod](auto a, auto b) { return int_mod(a, b, !fmod); });
}

Status ref_BitShift(KernelCtx& ctx) {
  const bool left = ctx.node.attr_string("direction", "") == "LEFT";
  if (dtype_is_signed(ctx.in(0).dtype())) return ctx.fail("BitShift takes unsigned integers");
  return integer_binary(ctx, [left](auto a, auto b) -> decltype(a) {
    using V = decltype(a);
    using W = wrap_t<V>;
    if (static_cast<uint64_t>(b) >= sizeof(V) * 8) return 0;
    return static_cast<V>(left ? static_cast<W>(static_cast<W>(a) << b)
                               : static_cast<W>(static_cast<W>(a) >> b));
  });
}
Status ref_BitwiseAnd(KernelCtx& ctx) {
  return integer_binary(ctx, [](auto a, auto b) { return static_cast<decltype(a)>(a & b); });
}
Status ref_BitwiseOr(KernelCtx& ctx) {
  return integer_binary(ctx, [](auto a, auto b) { return static_cast<decltype(a)>(a | b); });
}
Status ref_BitwiseXor(KernelCtx& ctx) {
  return integer_binary(ctx, [](auto a, auto b) { return static_cast<decltype(a)>(a ^ b); });
}
Status ref_BitwiseNot(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  if (!dtype_is_integer(x.dtype()) || x.dtype() == DType::I4 || x.dtype() == DType::U4)
    return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      ew::unary_map<T, T>(x, ctx.out(0), kGrainCheap, [](T v) { return static_cast<T>(~v); });
    }
    return Status::ok();
  });
}

Status ref_And(KernelCtx& ctx) {
  return logic_binary(ctx, [](bool a, bool b) { return a && b; });
}
Status ref_Or(KernelCtx& ctx) {
  return logic_binary(ctx, [](bool a, bool b) { return a || b; });
}
Status ref_Xor(KernelCtx& ctx) {
  return logic_binary(ctx, [](bool a, bool b) { return a != b; });
}

Status ref_Equal(KernelCtx& ctx) {
  return compare_binary(ctx, [](auto a, auto b) { return a == b; });
}
Status ref_Less(KernelCtx& ctx) {
  return compare_binary(ctx, [](auto a, auto b) { return a < b; });
}
Status ref_Greater(KernelCtx& ctx) {
  return compare_binary(ctx, [](auto a, auto b) { return a > b; });
}
Status ref_LessOrEqual(KernelCtx& ctx) {
  return compare_binary(ctx, [](auto a, auto b) { return a <= b; });
}
Status ref_GreaterOrEqual(KernelCtx& ctx) {
  return compare_binary(ctx, [](auto a, auto b) { return a >= b; });
}

// y = x < 0 ? slope * x : x, slope broadcast to x's shape.
Status ref_PRelu(KernelCtx& ctx) {
  return arith_binary(ctx, kGrainCheap, [](auto x, auto s) -> decltype(x) {
    using V = decltype(x);
    return x < V(0) ? mul(s, x) : x;
  });
}

}  // namespace condense
