// Elementwise ops: output shape = numpy broadcast of the inputs (unary ops keep the input
// shape). Dtype sets follow the newest ONNX opset of each op, restricted to condense's dtypes.
#include <cmath>
#include <string>

#include "ops/infer.h"

namespace condense {

namespace {

constexpr std::initializer_list<DType> kFloat = {DType::F32, DType::F64, DType::F16, DType::BF16};
constexpr std::initializer_list<DType> kSignedNumeric = {
    DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8, DType::I16, DType::I32, DType::I64};
constexpr std::initializer_list<DType> kNumeric = {DType::F32, DType::F64, DType::F16, DType::BF16,
                                                   DType::I8,  DType::I16, DType::I32, DType::I64,
                                                   DType::U8,  DType::U16, DType::U32, DType::U64};
constexpr std::initializer_list<DType> kInteger = {DType::I8, DType::I16, DType::I32, DType::I64,
                                                   DType::U8, DType::U16, DType::U32, DType::U64};
constexpr std::initializer_list<DType> kUnsigned = {DType::U8, DType::U16, DType::U32, DType::U64};
constexpr std::initializer_list<DType> kNumericBool = {
    DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8,  DType::I16, DType::I32,
    DType::I64, DType::U8,  DType::U16, DType::U32,  DType::U64, DType::Bool};
constexpr std::initializer_list<DType> kBool = {DType::Bool};

// Output 0 = broadcast of every present input, with dtype `out`.
Status infer_broadcast(InferCtx& ctx, DType out) {
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, out);
    return Status::ok();
  }
  Shape shape;
  bool first = true;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (first) {
      shape = ctx.in(i).shape;
      first = false;
      continue;
    }
    auto s = broadcast_shapes(shape, ctx.in(i).shape);
    if (!s) return ctx.fail("{}", s.status().message());
    shape = std::move(*s);
  }
  ctx.set_out(0, out, std::move(shape));
  return Status::ok();
}

// Same-dtype inputs from `allowed`, broadcast; output dtype = input dtype (or Bool).
Status infer_nary(InferCtx& ctx, std::initializer_list<DType> allowed, bool bool_out = false) {
  for (size_t i = 0; i < ctx.inputs.size(); ++i) CONDENSE_TRY(check_dtype(ctx, i, allowed));
  CONDENSE_TRY(check_same_dtype(ctx, 0, ctx.inputs.size() - 1));
  return infer_broadcast(ctx, bool_out ? DType::Bool : ctx.in(0).dtype);
}

// One input from `allowed`; output has its shape and dtype `out` (default: the input's).
Status infer_unary(InferCtx& ctx, std::initializer_list<DType> allowed,
                   std::optional<DType> out = std::nullopt) {
  CONDENSE_TRY(check_dtype(ctx, 0, allowed));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known)
    ctx.set_out(0, out.value_or(x.dtype), x.shape);
  else
    ctx.set_out_unknown(0, out.value_or(x.dtype));
  return Status::ok();
}

Status check_finite_attr(const InferCtx& ctx, const char* name, float fallback) {
  float v = ctx.node.attr_float(name, fallback);
  if (!std::isfinite(v)) return ctx.fail("attribute {}={} must be finite", name, v);
  return Status::ok();
}

// ONNX TensorProto data types condense does not have, for a clear Cast error.
std::string onnx_type_label(int64_t t) {
  switch (t) {
    case 8:
      return "STRING";
    case 14:
      return "COMPLEX64";
    case 15:
      return "COMPLEX128";
    case 17:
      return "FLOAT8E4M3FN";
    case 18:
      return "FLOAT8E4M3FNUZ";
    case 19:
      return "FLOAT8E5M2";
    case 20:
      return "FLOAT8E5M2FNUZ";
    case 23:
      return "FLOAT4E2M1";
    case 24:
      return "FLOAT8E8M0";
    case 25:
      return "UINT2";
    case 26:
      return "INT2";
    default:
      return "an unknown type";
  }
}

}  // namespace

// --- unary math ---
Status infer_Abs(InferCtx& ctx) {
  return infer_unary(ctx, kNumeric);
}
Status infer_Neg(InferCtx& ctx) {
  return infer_unary(ctx, kSignedNumeric);
}
Status infer_Exp(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Log(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Sqrt(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Reciprocal(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Floor(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Ceil(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Round(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Sign(InferCtx& ctx) {
  return infer_unary(ctx, kNumeric);
}
Status infer_Sin(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Cos(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Tan(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Asin(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Acos(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Atan(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Sinh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Cosh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Asinh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Acosh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Atanh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Erf(InferCtx& ctx) {
  return infer_unary(ctx, kNumeric);
}
Status infer_Not(InferCtx& ctx) {
  return infer_unary(ctx, kBool);
}
Status infer_IsNaN(InferCtx& ctx) {
  return infer_unary(ctx, kFloat, DType::Bool);
}
Status infer_IsInf(InferCtx& ctx) {
  return infer_unary(ctx, kFloat, DType::Bool);
}

// --- activations ---
Status infer_Relu(InferCtx& ctx) {
  return infer_unary(ctx, kSignedNumeric);
}
Status infer_LeakyRelu(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 0.01f));
  return infer_unary(ctx, kFloat);
}
// PRelu(X, slope): slope broadcasts unidirectionally to X's shape.
Status infer_PRelu(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0,
                           {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64,
                            DType::U32, DType::U64}));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 1));
  const TensorInfo& x = ctx.in(0);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  auto s = broadcast_shapes(x.shape, ctx.in(1).shape);
  if (!s || *s != x.shape)
    return ctx.fail("slope of shape {} does not broadcast to X of shape {}",
                    shape_str(ctx.in(1).shape), shape_str(x.shape));
  ctx.set_out(0, x.dtype, x.shape);
  return Status::ok();
}
Status infer_Sigmoid(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_HardSigmoid(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 0.2f));
  CONDENSE_TRY(check_finite_attr(ctx, "beta", 0.5f));
  return infer_unary(ctx, kFloat);
}
Status infer_HardSwish(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Tanh(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Elu(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 1.0f));
  return infer_unary(ctx, kFloat);
}
Status infer_Selu(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 1.67326319217681884765625f));
  CONDENSE_TRY(check_finite_attr(ctx, "gamma", 1.05070102214813232421875f));
  return infer_unary(ctx, kFloat);
}
Status infer_Celu(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 1.0f));
  if (ctx.node.attr_float("alpha", 1.0f) == 0.0f) return ctx.fail("alpha must not be 0");
  return infer_unary(ctx, kFloat);
}
Status infer_Softplus(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Softsign(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_ThresholdedRelu(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 1.0f));
  return infer_unary(ctx, kFloat);
}
Status infer_Mish(InferCtx& ctx) {
  return infer_unary(ctx, kFloat);
}
Status infer_Gelu(InferCtx& ctx) {
  std::string approx = ctx.node.attr_string("approximate", "none");
  if (approx != "none" && approx != "tanh")
    return ctx.fail("approximate must be 'none' or 'tanh', got '{}'", approx);
  return infer_unary(ctx, kFloat);
}
Status infer_Swish(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "alpha", 1.0f));
  return infer_unary(ctx, kFloat);
}
Status infer_Shrink(InferCtx& ctx) {
  CONDENSE_TRY(check_finite_attr(ctx, "lambd", 0.5f));
  CONDENSE_TRY(check_finite_attr(ctx, "bias", 0.0f));
  return infer_unary(ctx, kNumeric);
}
// Clip(input, min?, max?): min and max are scalars (a 1-element tensor is accepted too). Their
// dtype should match the input's; another numeric dtype is accepted and converted, because
// Clip < 11 carried them as float attributes and the importer cannot always know the input dtype.
Status infer_Clip(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kNumeric));
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    CONDENSE_TRY(check_dtype(ctx, i, kNumeric));
    const TensorInfo& b = ctx.in(i);
    if (b.shape_known && shape_numel(b.shape) != 1)
      return ctx.fail("{} must be a scalar, got shape {}", i == 1 ? "min" : "max",
                      shape_str(b.shape));
  }
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known)
    ctx.set_out(0, x.dtype, x.shape);
  else
    ctx.set_out_unknown(0, x.dtype);
  return Status::ok();
}

// --- binary ---
Status infer_Add(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}
Status infer_Sub(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}
Status infer_Mul(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}
Status infer_Div(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}
// Pow(X, Y): Y may have another numeric dtype; the output has X's dtype.
Status infer_Pow(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(
      ctx, 0, {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64}));
  CONDENSE_TRY(check_dtype(ctx, 1, kNumeric));
  return infer_broadcast(ctx, ctx.in(0).dtype);
}
Status infer_Mod(InferCtx& ctx) {
  int64_t fmod = ctx.node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.fail("fmod must be 0 or 1, got {}", fmod);
  CONDENSE_TRY(infer_nary(ctx, kNumeric));
  if (fmod == 0 && dtype_is_float(ctx.in(0).dtype))
    return ctx.fail("fmod=0 is not allowed for floating-point inputs ({}); set fmod=1",
                    dtype_name(ctx.in(0).dtype));
  return Status::ok();
}
Status infer_BitShift(InferCtx& ctx) {
  std::string dir = ctx.node.attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.fail("direction must be 'LEFT' or 'RIGHT', got '{}'", dir);
  return infer_nary(ctx, kUnsigned);
}
Status infer_BitwiseAnd(InferCtx& ctx) {
  return infer_nary(ctx, kInteger);
}
Status infer_BitwiseOr(InferCtx& ctx) {
  return infer_nary(ctx, kInteger);
}
Status infer_BitwiseXor(InferCtx& ctx) {
  return infer_nary(ctx, kInteger);
}
Status infer_BitwiseNot(InferCtx& ctx) {
  return infer_unary(ctx, kInteger);
}
Status infer_And(InferCtx& ctx) {
  return infer_nary(ctx, kBool);
}
Status infer_Or(InferCtx& ctx) {
  return infer_nary(ctx, kBool);
}
Status infer_Xor(InferCtx& ctx) {
  return infer_nary(ctx, kBool);
}
Status infer_Equal(InferCtx& ctx) {
  return infer_nary(ctx, kNumericBool, true);
}
Status infer_Less(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric, true);
}
Status infer_Greater(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric, true);
}
Status infer_LessOrEqual(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric, true);
}
Status infer_GreaterOrEqual(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric, true);
}

// --- variadic ---
Status infer_Sum(InferCtx& ctx) {
  return infer_nary(ctx, kFloat);
}
Status infer_Mean(InferCtx& ctx) {
  return infer_nary(ctx, kFloat);
}
Status infer_Max(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}
Status infer_Min(InferCtx& ctx) {
  return infer_nary(ctx, kNumeric);
}

// --- selection and conversion ---
// Where(condition: bool, X, Y): X and Y share a dtype; all three broadcast together.
Status infer_Where(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kBool));
  CONDENSE_TRY(check_same_dtype(ctx, 1, 2));
  if (ctx.in(1).dtype == DType::I4 || ctx.in(1).dtype == DType::U4)
    return ctx.fail("Where does not take 4-bit dtypes");
  return infer_broadcast(ctx, ctx.in(1).dtype);
}
// Cast(input; to): every condense dtype to every other. `saturate` and `round_mode` only concern
// float8 types, which condense does not have.
Status infer_Cast(InferCtx& ctx) {
  const ir::Attribute* to = ctx.node.attr("to");
  if (!to || to->kind != ir::Attribute::Kind::Int)
    return ctx.fail("attribute 'to' (int) is required");
  auto dt = dtype_from_onnx(static_cast<int>(to->i));
  if (!dt)
    return ctx.fail(
        "casting to {} (ONNX data type {}) is not supported: condense has no string, "
        "complex, float8, float4 or 2-bit types",
        onnx_type_label(to->i), to->i);
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known)
    ctx.set_out(0, *dt, x.shape);
  else
    ctx.set_out_unknown(0, *dt);
  return Status::ok();
}
// CastLike(input, target_type): casts to target_type's dtype; target_type's values are unused.
Status infer_CastLike(InferCtx& ctx) {
  const TensorInfo& x = ctx.in(0);
  DType dt = ctx.in(1).dtype;
  if (x.shape_known)
    ctx.set_out(0, dt, x.shape);
  else
    ctx.set_out_unknown(0, dt);
  return Status::ok();
}

}  // namespace condense
