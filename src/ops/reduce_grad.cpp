// Gradient rules of the reduce family: ReduceSum / ReduceMean, Softmax / LogSoftmax,
// LayerNormalization and the two losses.
#include "ops/grad.h"

namespace condense {

namespace {
// dY of a ReduceSum / ReduceMean broadcast back to X's shape (before any scaling).
Result<ir::Value*> expand_reduced(GradCtx& ctx, ir::Value* dy) {
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const ir::Value* axes = ctx.in(1);
  if (axes && !axes->is_constant())
    return ctx.fail("the axes input must be a constant to differentiate");
  const bool no_axes = !axes || axes->constant->numel() == 0;
  if (no_axes && ctx.node.attr_int("noop_with_empty_axes", 0) != 0) return dy;  // identity
  if (!keepdims && !no_axes)
    dy = ctx.op(OpKind::Unsqueeze, {dy, ctx.ints(axes->constant->to_i64_vector())});
  return ctx.op(OpKind::Expand, {dy, ctx.shape_of(ctx.in(0))});
}
}  // namespace

Status grad_ReduceSum(GradCtx& ctx) {
  CONDENSE_ASSIGN_OR_RETURN(ctx.dx[0], expand_reduced(ctx, ctx.dy(0)));
  return Status::ok();
}

// dX = expand(dY * numel(Y) / numel(X)).
Status grad_ReduceMean(GradCtx& ctx) {
  ir::Value* x = ctx.in(0);
  Attrs cast;
  cast["to"] = ir::Attribute::of_int(dtype_onnx(ctx.dtype(x)));
  ir::Value* n_out = ctx.op(OpKind::Cast, {ctx.op(OpKind::Size, {ctx.out(0)})}, cast);
  ir::Value* n_in = ctx.op(OpKind::Cast, {ctx.op(OpKind::Size, {x})}, cast);
  ir::Value* g = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.op(OpKind::Div, {n_out, n_in})});
  CONDENSE_ASSIGN_OR_RETURN(ctx.dx[0], expand_reduced(ctx, g));
  return Status::ok();
}

namespace {
Status softmax_grad(GradCtx& ctx, bool log) {
  Attrs a;
  a["axis"] = ir::Attribute::of_int(ctx.node.attr_int("axis", -1));
  if (log) a["log"] = ir::Attribute::of_int(1);
  ctx.dx[0] = ctx.op(OpKind::SoftmaxGrad, {ctx.dy(0), ctx.out(0)}, std::move(a));
  return Status::ok();
}

// Makes forward output i of the node exist (optional outputs a rule needs).
ir::Value* ensure_output(GradCtx& ctx, size_t i, const std::string& suffix) {
  if (ctx.node.outputs.size() <= i) ctx.node.outputs.resize(i + 1, nullptr);
  if (!ctx.node.outputs[i]) {
    ir::Value* v = ctx.state.graph.add_value(ctx.state.fresh(ctx.node.name + suffix));
    v->producer = &ctx.node;
    ctx.node.outputs[i] = v;
  }
  return ctx.node.outputs[i];
}
}  // namespace

Status grad_Softmax(GradCtx& ctx) {
  return softmax_grad(ctx, false);
}
Status grad_LogSoftmax(GradCtx& ctx) {
  return softmax_grad(ctx, true);
}

// LayerNormGrad from the forward's saved Mean and InvStdDev (outputs added when absent; with
// f64 input they are stashed in f64).
Status grad_LayerNormalization(GradCtx& ctx) {
  const DType t = ctx.dtype(ctx.in(0));
  if (t == DType::F64) ctx.node.attrs["stash_type"] = ir::Attribute::of_int(dtype_onnx(DType::F64));
  ir::Value* mean = ensure_output(ctx, 1, "_mean");
  ir::Value* inv = ensure_output(ctx, 2, "_inv_std_dev");
  Attrs a;
  a["axis"] = ir::Attribute::of_int(ctx.node.attr_int("axis", -1));
  const int nout = ctx.wants(2) ? 3 : ctx.wants(1) ? 2 : 1;
  auto outs = ctx.ops(OpKind::LayerNormGrad, {ctx.dy(0), ctx.in(0), ctx.in(1), mean, inv}, nout,
                      std::move(a));
  if (ctx.wants(0)) ctx.dx[0] = outs[0];
  // dscale / dB come in the normalized shape; scale and B may broadcast to it.
  for (int i = 1; i < nout; ++i)
    if (ctx.wants(i)) ctx.dx[i] = ctx.op(OpKind::SumToShape, {outs[i], ctx.shape_of(ctx.in(i))});
  return Status::ok();
}

namespace {
Attrs loss_attrs(const GradCtx& ctx) {
  Attrs a;
  a["reduction"] = ir::Attribute::of_string(ctx.node.attr_string("reduction", "mean"));
  if (const ir::Attribute* ii = ctx.node.attr("ignore_index")) a["ignore_index"] = *ii;
  return a;
}
}  // namespace

// d loss / d input: -weight[label] * dLoss at each label position (scaled for "mean").
Status grad_NegativeLogLikelihoodLoss(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::NllLossGrad,
                     {ctx.dy(0), ctx.shape_of(ctx.in(0)), ctx.in(1), ctx.in(2)}, loss_attrs(ctx));
  return Status::ok();
}

// loss = NLL(LogSoftmax(scores, axis 1)): the NLL gradient (plus any gradient of the log_prob
// output) through LogSoftmax's backward, from the log_prob output.
Status grad_SoftmaxCrossEntropyLoss(GradCtx& ctx) {
  ir::Value* log_prob = ensure_output(ctx, 1, "_log_prob");
  ir::Value* g = nullptr;
  if (ctx.dy(0))
    g = ctx.op(OpKind::NllLossGrad, {ctx.dy(0), ctx.shape_of(ctx.in(0)), ctx.in(1), ctx.in(2)},
               loss_attrs(ctx));
  if (ctx.dy(1)) g = g ? ctx.op(OpKind::Add, {g, ctx.dy(1)}) : ctx.dy(1);
  Attrs a;
  a["axis"] = ir::Attribute::of_int(1);
  a["log"] = ir::Attribute::of_int(1);
  ctx.dx[0] = ctx.op(OpKind::SoftmaxGrad, {g, log_prob}, std::move(a));
  return Status::ok();
}

}  // namespace condense
