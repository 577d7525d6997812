// ONNX Runtime's quantized contrib ops (domain com.microsoft), as ORT's QOperator graphs and
// condense's QDQ lowering (passes/lower_qdq.cpp) use them:
//   QLinearAdd(A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?) -> C, numpy broadcasting,
//     C = saturate(round((A - A_zp) * A_scale / C_scale + (B - B_zp) * B_scale / C_scale) + C_zp)
//   QLinearGlobalAveragePool(X, x_scale, x_zp, y_scale, y_zp) {channels_last}: X (N, C, D...) or
//     (N, D..., C) -> (N, C, 1...) or (N, 1..., C), the mean of each channel requantized.
//   QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?) {alpha, transA, transB}:
//     Y (M, N) = alpha * (A' - a_zp)(B' - b_zp) * a_scale * b_scale + C * a_scale * b_scale
//     (C int32, 1-D (N) or (M, N)), quantized with y_scale / y_zp when y_scale is given, else f32;
//     b_scale and b_zp per tensor or per column (N).
// A, B, C (X, Y) of QLinearAdd / QLinearGlobalAveragePool share one 8-bit dtype; scales are f32
// scalars, zero points scalars.
#include "ops/infer.h"

namespace condense {

namespace {
Status check_scalar(const InferCtx& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i) || !ctx.in(i).shape_known) return Status::ok();
  if (shape_numel(ctx.in(i).shape) != 1)
    return ctx.fail("{} must be a scalar (got {})", what, shape_str(ctx.in(i).shape));
  return Status::ok();
}
}  // namespace

Status infer_QLinearAdd(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  const DType t = ctx.in(0).dtype;
  for (size_t i : {2u, 3u, 5u, 7u})
    if (ctx.has_input(i) && ctx.in(i).dtype != t)
      return ctx.fail("input {} has dtype {}, expected {} (A's)", i, dtype_name(ctx.in(i).dtype),
                      dtype_name(t));
  for (size_t i : {1u, 4u, 6u}) CONDENSE_TRY(check_dtype(ctx, i, {DType::F32}));
  const char* names[] = {"A",       "A_scale",      "A_zero_point", "B",
                         "B_scale", "B_zero_point", "C_scale",      "C_zero_point"};
  for (size_t i : {1u, 2u, 4u, 5u, 6u, 7u}) CONDENSE_TRY(check_scalar(ctx, i, names[i]));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  auto s = broadcast_shapes(ctx.in(0).shape, ctx.in(3).shape);
  if (!s) return ctx.fail("{}", s.status().message());
  ctx.set_out(0, t, *s);
  return Status::ok();
}

Status infer_QLinearGlobalAveragePool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  const DType t = ctx.in(0).dtype;
  for (size_t i : {2u, 4u})
    if (ctx.in(i).dtype != t)
      return ctx.fail("input {} has dtype {}, expected {} (X's)", i, dtype_name(ctx.in(i).dtype),
                      dtype_name(t));
  for (size_t i : {1u, 3u}) CONDENSE_TRY(check_dtype(ctx, i, {DType::F32}));
  const char* names[] = {"X", "x_scale", "x_zero_point", "y_scale", "y_zero_point"};
  for (size_t i = 1; i < 5; ++i) CONDENSE_TRY(check_scalar(ctx, i, names[i]));
  const int64_t channels_last = ctx.node.attr_int("channels_last", 0);
  if (channels_last != 0 && channels_last != 1)
    return ctx.fail("channels_last must be 0 or 1 (got {})", channels_last);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  Shape s = ctx.in(0).shape;
  if (s.size() < 3) return ctx.fail("X must have rank 3 or more (got {})", shape_str(s));
  for (size_t d = 1; d < s.size(); ++d)
    if (channels_last ? d + 1 < s.size() : d >= 2) s[d] = 1;
  ctx.set_out(0, t, s);
  return Status::ok();
}

Status infer_QGemm(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 6, {DType::I32}));
  for (size_t i : {1u, 4u, 7u}) CONDENSE_TRY(check_dtype(ctx, i, {DType::F32}));
  if (ctx.has_input(2) && ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("a_zero_point dtype differs from A");
  if (ctx.has_input(5) && ctx.in(5).dtype != ctx.in(3).dtype)
    return ctx.fail("b_zero_point dtype differs from B");
  if (ctx.has_input(8) && !ctx.has_input(7))
    return ctx.fail("y_zero_point is given without y_scale");
  CONDENSE_TRY(check_dtype(ctx, 8, {DType::I8, DType::U8}));
  const DType out =
      ctx.has_input(7) ? (ctx.has_input(8) ? ctx.in(8).dtype : DType::U8) : DType::F32;
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, out);
    return Status::ok();
  }
  const Shape& a = ctx.in(0).shape;
  const Shape& b = ctx.in(3).shape;
  if (a.size() != 2 || b.size() != 2)
    return ctx.fail("A and B must be 2-D (got {} and {})", shape_str(a), shape_str(b));
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1];
  const int64_t Kb = tb ? b[1] : b[0], N = tb ? b[0] : b[1];
  if (K != Kb)
    return ctx.fail("A is {} but B is {}: inner dimensions differ", shape_str(a), shape_str(b));
  for (size_t i : {1u, 2u, 7u, 8u})
    if (ctx.has_input(i) && shape_numel(ctx.in(i).shape) != 1)
      return ctx.fail("input {} must be a scalar (got {})", i, shape_str(ctx.in(i).shape));
  for (size_t i : {4u, 5u}) {
    if (!ctx.has_input(i)) continue;
    const int64_t n = shape_numel(ctx.in(i).shape);
    if (n != 1 && (ctx.in(i).shape.size() != 1 || n != N))
      return ctx.fail("input {} must be a scalar or have N = {} elements (got {})", i, N,
                      shape_str(ctx.in(i).shape));
  }
  if (ctx.has_input(6)) {
    const Shape& c = ctx.in(6).shape;
    if (!(c.size() == 1 && c[0] == N) && !(c.size() == 2 && c[0] == M && c[1] == N))
      return ctx.fail("C must be ({}) or ({}, {}) (got {})", N, M, N, shape_str(c));
  }
  ctx.set_out(0, out, {M, N});
  return Status::ok();
}

}  // namespace condense
