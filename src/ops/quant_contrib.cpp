// ONNX Runtime's quantized contrib ops (domain com.microsoft), as ORT's QOperator graphs and
// condense's QDQ lowering (passes/lower_qdq.cpp) use them:
//   QLinearAdd(A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?) -> C, numpy broadcasting,
//     C = saturate(round((A - A_zp) * A_scale / C_scale + (B - B_zp) * B_scale / C_scale) + C_zp)
//   QLinearGlobalAveragePool(X, x_scale, x_zp, y_scale, y_zp) {channels_last}: X (N, C, D...) or
//     (N, D..., C) -> (N, C, 1...) or (N, 1..., C), the mean of each channel requantized.
// A, B, C (X, Y) share one 8-bit dtype; scales are f32 scalars, zero points scalars.
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

}  // namespace condense
