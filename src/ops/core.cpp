// Core ops: Identity, Constant.
#include "ops/infer.h"

namespace condense {

Status infer_Identity(InferCtx& ctx) {
  ctx.outputs[0] = ctx.in(0);
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = false;  // the output is the input (shared storage)
  return Status::ok();
}

// Constant's canonical form keeps its tensor in attribute "value" (the importer converts
// value_float, value_ints, ... and sparse forms into it).
Status infer_Constant(InferCtx& ctx) {
  const ir::Attribute* a = ctx.node.attr("value");
  if (!a || a->kind != ir::Attribute::Kind::Tensor) return ctx.fail("missing tensor attribute 'value'");
  ctx.set_out(0, a->t.dtype(), a->t.shape());
  ctx.out(0).allocate = false;
  return Status::ok();
}

}  // namespace condense
