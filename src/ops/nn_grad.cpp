// Gradient rules of the nn family: MatMul, Gemm, Conv, ConvTranspose, pooling, batch norm.
#include "ops/grad.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
// Transpose of the last two dims of a value of rank r (>= 2).
ir::Value* swap_last_two(GradCtx& ctx, ir::Value* v, int64_t r) {
  std::vector<int64_t> perm(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) perm[i] = i;
  std::swap(perm[r - 1], perm[r - 2]);
  Attrs a;
  a["perm"] = ir::Attribute::of_ints(perm);
  return ctx.op(OpKind::Transpose, {v}, std::move(a));
}

ir::Value* unsqueeze(GradCtx& ctx, ir::Value* v, std::vector<int64_t> axes) {
  return ctx.op(OpKind::Unsqueeze, {v, ctx.ints(std::move(axes))});
}

// ReduceSum of dY (N, M, ...) over every dim but 1: the bias gradient.
ir::Value* channel_sum(GradCtx& ctx, ir::Value* dy, int64_t rank) {
  std::vector<int64_t> axes = {0};
  for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
  Attrs a;
  a["keepdims"] = ir::Attribute::of_int(0);
  return ctx.op(OpKind::ReduceSum, {dy, ctx.ints(axes)}, std::move(a));
}
}  // namespace

// Y = A @ B with batch broadcasting; 1-D A is (1, K) with the M dim dropped from Y, 1-D B is
// (K, 1) with N dropped. dA = dY @ B^T, dB = A^T @ dY, each summed over broadcast batch dims.
Status grad_MatMul(GradCtx& ctx) {
  ir::Value* a = ctx.in(0);
  ir::Value* b = ctx.in(1);
  const int64_t ra = ctx.facts(a).rank(), rb = ctx.facts(b).rank();
  if (ra < 1 || rb < 1) return ctx.fail("the ranks of both operands must be known statically");
  ir::Value* a2 = ra == 1 ? unsqueeze(ctx, a, {0}) : a;
  ir::Value* b2 = rb == 1 ? unsqueeze(ctx, b, {-1}) : b;
  ir::Value* dy = ctx.dy(0);
  if (ra == 1 && rb == 1)
    dy = unsqueeze(ctx, dy, {0, 1});
  else if (ra == 1)
    dy = unsqueeze(ctx, dy, {-2});
  else if (rb == 1)
    dy = unsqueeze(ctx, dy, {-1});
  const int64_t ra2 = std::max<int64_t>(ra, 2), rb2 = std::max<int64_t>(rb, 2);
  const bool plain = ra2 == 2 && rb2 == 2;  // no batch dims: shapes match exactly
  if (ctx.wants(0)) {
    ir::Value* g = ctx.op(OpKind::MatMul, {dy, swap_last_two(ctx, b2, rb2)});
    if (!plain) g = ctx.op(OpKind::SumToShape, {g, ctx.shape_of(a2)});
    ctx.dx[0] = ra == 1 ? ctx.op(OpKind::Reshape, {g, ctx.shape_of(a)}) : g;
  }
  if (ctx.wants(1)) {
    ir::Value* g = ctx.op(OpKind::MatMul, {swap_last_two(ctx, a2, ra2), dy});
    if (!plain) g = ctx.op(OpKind::SumToShape, {g, ctx.shape_of(b2)});
    ctx.dx[1] = rb == 1 ? ctx.op(OpKind::Reshape, {g, ctx.shape_of(b)}) : g;
  }
  return Status::ok();
}

// Y = alpha * A' B' + beta * C with A' = transA ? A^T : A, B' = transB ? B^T : B.
//   dA' = alpha dY B'^T, dB' = alpha A'^T dY, dC = beta dY summed to C's shape.
// Each is one Gemm with transpose flags (no transposed copies).
Status grad_Gemm(GradCtx& ctx) {
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const float alpha = ctx.node.attr_float("alpha", 1.f), beta = ctx.node.attr_float("beta", 1.f);
  ir::Value* a = ctx.in(0);
  ir::Value* b = ctx.in(1);
  ir::Value* dy = ctx.dy(0);
  auto gemm = [&](ir::Value* x, ir::Value* y, bool tx, bool ty) {
    Attrs at;
    if (tx) at["transA"] = ir::Attribute::of_int(1);
    if (ty) at["transB"] = ir::Attribute::of_int(1);
    if (alpha != 1.f) at["alpha"] = ir::Attribute::of_float(alpha);
    return ctx.op(OpKind::Gemm, {x, y}, std::move(at));
  };
  if (ctx.wants(0)) ctx.dx[0] = ta ? gemm(b, dy, tb, true) : gemm(dy, b, false, !tb);
  if (ctx.wants(1)) ctx.dx[1] = tb ? gemm(dy, a, true, ta) : gemm(a, dy, !ta, false);
  if (ctx.wants(2)) {
    ir::Value* g = dy;
    if (beta != 1.f) g = ctx.op(OpKind::Mul, {g, ctx.scalar(ctx.dtype(ctx.out(0)), beta)});
    ctx.dx[2] = ctx.sum_to(g, ctx.out(0), ctx.in(2));
  }
  return Status::ok();
}

// Conv: dW, dB?, dX? = ConvGradWeight(dY, X, W) (one node reads dY once for all three);
// dX alone (frozen W) = ConvGradData(dY, W, shape(X)). The Conv's attributes on both.
Status grad_Conv(GradCtx& ctx) {
  ir::Value* x = ctx.in(0);
  ir::Value* w = ctx.in(1);
  ir::Value* dy = ctx.dy(0);
  const Attrs attrs = ctx.node_attrs();
  if (ctx.wants(1)) {
    const int nout = ctx.wants(0) ? 3 : ctx.wants(2) ? 2 : 1;
    auto outs = ctx.ops(OpKind::ConvGradWeight, {dy, x, w}, nout, attrs);
    ctx.dx[1] = outs[0];
    if (ctx.wants(2)) ctx.dx[2] = outs[1];
    if (ctx.wants(0)) ctx.dx[0] = outs[2];
    if (nout > 1 && !ctx.wants(2)) outs[1]->producer->outputs[1] = nullptr;  // no dB
    return Status::ok();
  }
  if (ctx.wants(0)) ctx.dx[0] = ctx.op(OpKind::ConvGradData, {dy, w, ctx.shape_of(x)}, attrs);
  if (ctx.wants(2)) {
    const int64_t r = ctx.facts(w).rank();
    if (r < 3) return ctx.fail("the rank of W must be known statically");
    ctx.dx[2] = channel_sum(ctx, dy, r);
  }
  return Status::ok();
}

// ConvTranspose is the data gradient of a Conv with the same W (C, M/group, k...): its own
// gradients are that Conv (dX = Conv(dY, W)) and that Conv's weight gradient with the roles of
// input and output swapped (dW = ConvGradWeight(X, dY, W)). Pads derived from output_shape or
// auto_pad are resolved here, which needs X's spatial dims statically.
Status grad_ConvTranspose(GradCtx& ctx) {
  ir::Value* x = ctx.in(0);
  ir::Value* w = ctx.in(1);
  ir::Value* dy = ctx.dy(0);
  const ValueFacts& fx = ctx.facts(x);
  const ValueFacts& fw = ctx.facts(w);
  if (fx.rank() < 3 || fw.rank() != fx.rank())
    return ctx.fail("the ranks of X and W must be known statically");
  Shape xs = fx.probe[0], ks;
  for (int64_t d = 2; d < fw.rank(); ++d) {
    if (fw.static_dim(d) < 0) return ctx.fail("W's kernel dims must be static");
    ks.push_back(fw.static_dim(d));
  }
  const bool derived_pads =
      ctx.node.has_attr("output_shape") || ctx.node.attr_string("auto_pad", "NOTSET") != "NOTSET";
  for (int64_t d = 2; d < fx.rank() && derived_pads; ++d)
    if (fx.static_dim(d) < 0)
      return ctx.fail("output_shape / auto_pad need X's spatial dims statically");
  auto g = conv_transpose_geometry(ctx.node, xs, ks);
  if (!g) return ctx.fail("{}", g.status().message());
  const Shape out_pad = ctx.node.attr_ints("output_padding", Shape(g->rank, 0));
  Shape pads = g->pad_begin;
  pads.insert(pads.end(), g->pad_end.begin(), g->pad_end.end());
  for (int64_t i = 0; i < g->rank; ++i) {
    if (out_pad[i] >= g->strides[i])
      return ctx.fail("output_padding {} >= stride {} is not differentiable here", out_pad[i],
                      g->strides[i]);
    if (g->pad_begin[i] < 0 || g->pad_end[i] < 0)
      return ctx.fail("output_shape larger than the full output is not differentiable here");
  }
  Attrs conv;
  conv["strides"] = ir::Attribute::of_ints(g->strides);
  conv["dilations"] = ir::Attribute::of_ints(g->dilations);
  conv["pads"] = ir::Attribute::of_ints(pads);
  conv["kernel_shape"] = ir::Attribute::of_ints(g->kernel);
  conv["group"] = ir::Attribute::of_int(ctx.node.attr_int("group", 1));
  if (ctx.wants(0)) ctx.dx[0] = ctx.op(OpKind::Conv, {dy, w}, conv);
  if (ctx.wants(1)) ctx.dx[1] = ctx.op(OpKind::ConvGradWeight, {x, dy, w}, conv);
  if (ctx.wants(2)) ctx.dx[2] = channel_sum(ctx, dy, fx.rank());
  return Status::ok();
}

Status grad_MaxPool(GradCtx& ctx) {
  ctx.dx[0] =
      ctx.op(OpKind::MaxPoolGrad, {ctx.dy(0), ctx.in(0)}, ctx.node_attrs({"storage_order"}));
  return Status::ok();
}

Status grad_AveragePool(GradCtx& ctx) {
  ctx.dx[0] =
      ctx.op(OpKind::AveragePoolGrad, {ctx.dy(0), ctx.shape_of(ctx.in(0))}, ctx.node_attrs());
  return Status::ok();
}

// dX = expand(dY / (spatial size)) to X's shape.
Status grad_GlobalAveragePool(GradCtx& ctx) {
  ir::Value* x = ctx.in(0);
  Attrs cast;
  cast["to"] = ir::Attribute::of_int(dtype_onnx(ctx.dtype(x)));
  ir::Value* n_out = ctx.op(OpKind::Cast, {ctx.op(OpKind::Size, {ctx.dy(0)})}, cast);
  ir::Value* n_in = ctx.op(OpKind::Cast, {ctx.op(OpKind::Size, {x})}, cast);
  ir::Value* g = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.op(OpKind::Div, {n_out, n_in})});
  ctx.dx[0] = ctx.op(OpKind::Expand, {g, ctx.shape_of(x)});
  return Status::ok();
}

namespace {
// BatchNormGrad over (dY, X, scale, mean, var) -> dX, dscale, dB (as wanted).
Status batchnorm_grad(GradCtx& ctx, ir::Value* mean, ir::Value* var, bool training) {
  Attrs a;
  a["epsilon"] = ir::Attribute::of_float(ctx.node.attr_float("epsilon", 1e-5f));
  a["training"] = ir::Attribute::of_int(training ? 1 : 0);
  const int nout = ctx.wants(2) ? 3 : ctx.wants(1) ? 2 : 1;
  auto outs = ctx.ops(OpKind::BatchNormGrad, {ctx.dy(0), ctx.in(0), ctx.in(1), mean, var}, nout,
                      std::move(a));
  for (int i = 0; i < nout; ++i)
    if (ctx.wants(i)) ctx.dx[i] = outs[i];
  return Status::ok();
}
}  // namespace

// Inference-form batch norm (frozen running statistics): an affine map per channel.
Status grad_BatchNormalization(GradCtx& ctx) {
  if (ctx.node.attr_int("training_mode", 0) != 0)
    return ctx.fail("training_mode=1 nodes are rewritten to BatchNormTraining by the builder");
  return batchnorm_grad(ctx, ctx.in(3), ctx.in(4), false);
}

// Batch statistics: the gradient flows through the mean and variance too.
Status grad_BatchNormTraining(GradCtx& ctx) {
  return batchnorm_grad(ctx, ctx.out(3), ctx.out(4), true);
}

}  // namespace condense
