// Elementwise ops: shape = broadcast of inputs.
#include "ops/infer.h"

namespace condense {

namespace {
Status infer_binary_same_type(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 1));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  auto s = broadcast_shapes(ctx.in(0).shape, ctx.in(1).shape);
  if (!s) return ctx.fail("{}", s.status().message());
  ctx.set_out(0, ctx.in(0).dtype, *s);
  return Status::ok();
}

Status infer_unary_same(InferCtx& ctx) {
  ctx.outputs[0] = ctx.in(0);
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}
}  // namespace

Status infer_Add(InferCtx& ctx) { return infer_binary_same_type(ctx); }
Status infer_Relu(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8,
                                    DType::I16, DType::I32, DType::I64}));
  return infer_unary_same(ctx);
}

}  // namespace condense
