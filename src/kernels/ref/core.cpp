#include "kernels/kernel.h"

namespace condense {

Status ref_Identity(KernelCtx& ctx) {
  ctx.out(0) = ctx.in(0);
  return Status::ok();
}

Status ref_Constant(KernelCtx& ctx) {
  ctx.out(0) = ctx.node.attr("value")->t;
  return Status::ok();
}

}  // namespace condense
