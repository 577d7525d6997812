// Gradient rule of FakeQuantize (quantization-aware training): the straight-through estimator
// for X (dY passed where X / scale rounds inside [qmin, qmax], zero where it saturates) and
// LSQ's step-size gradient for the scale (Esser et al. 2019, with their gradient scale
// 1 / sqrt(N * Qp)), both computed by one FakeQuantizeGrad node. With learn_scale = 0 (a bias
// quantized with scale = input scale x weight scale) the scale gets a zero gradient.
#include "ops/grad.h"

namespace condense {

Status grad_FakeQuantize(GradCtx& ctx) {
  const bool learn_scale = ctx.node.attr_int("learn_scale", 1) != 0;
  const bool scale_grad = ctx.wants(1) && learn_scale;
  std::vector<ir::Value*> g =
      ctx.ops(OpKind::FakeQuantizeGrad, {ctx.dy(0), ctx.in(0), ctx.in(1), ctx.in(2)},
              scale_grad ? 2 : 1, ctx.node_attrs());
  if (ctx.wants(0)) ctx.dx[0] = g[0];
  if (scale_grad)
    ctx.dx[1] = g[1];
  else if (ctx.wants(1))
    ctx.dx[1] = ctx.zeros_like(ctx.in(1));
  return Status::ok();
}

}  // namespace condense
