// Shape inference for the train family (include/condense/ops/train.inc), part 1: broadcast
// reduction, convolution, pooling and normalization backward ops. Part 2: train_misc.cpp.
// These ops run in f32 and f64 (the finite-difference tests run the f64 path).
#include "ops/infer.h"
#include "ops/nn_geometry.h"
#include "ops/train_common.h"

namespace condense {

namespace train_ops {

Status check_train_float(const InferCtx& ctx, size_t first, size_t last) {
  for (size_t i = first; i <= last && i < ctx.inputs.size(); ++i)
    CONDENSE_TRY(check_dtype(ctx, i, {DType::F32, DType::F64}));
  return check_same_dtype(ctx, first, last);
}

Result<std::optional<Shape>> shape_input(const InferCtx& ctx, size_t i) {
  CONDENSE_TRY(check_dtype(ctx, i, {DType::I64}));
  const Tensor* v = ctx.in(i).value;
  if (!v) return std::optional<Shape>();
  if (v->rank() != 1)
    return ctx.fail("input {} (a shape) must be 1-D, got {}", i, shape_str(v->shape()));
  Shape s = v->to_i64_vector();
  for (int64_t d : s)
    if (d < 0) return ctx.fail("input {} (a shape) {} has a negative dimension", i, shape_str(s));
  return std::optional<Shape>(std::move(s));
}

void set_unknown_all(InferCtx& ctx, DType t) {
  for (size_t i = 0; i < ctx.outputs.size(); ++i)
    if (ctx.node.output(i)) ctx.set_out_unknown(i, t);
}

}  // namespace train_ops

using namespace train_ops;

// SumToShape(X, shape) -> Y: `shape` must broadcast to X's shape. Equal shapes: Y is X (a view).
Status infer_SumToShape(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> target, shape_input(ctx, 1));
  const TensorInfo& x = ctx.in(0);
  if (!target || !x.shape_known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  auto b = broadcast_shapes(*target, x.shape);
  if (!b || *b != x.shape)
    return ctx.fail("shape {} does not broadcast to the input shape {}", shape_str(*target),
                    shape_str(x.shape));
  ctx.set_out(0, x.dtype, *target);
  ctx.out(0).allocate = *target != x.shape;
  return Status::ok();
}

namespace {
// Checks dY (N, M, out...) against a convolution of x (N, C, in...) with w (M, C/group, k...).
Status check_conv_grad(const InferCtx& ctx, const Shape& dy, const Shape& x, const Shape& w) {
  const int64_t group = ctx.node.attr_int("group", 1);
  if (x.size() < 3 || w.size() != x.size() || dy.size() != x.size())
    return ctx.fail("dY {}, X {} and W {} must have one rank >= 3", shape_str(dy), shape_str(x),
                    shape_str(w));
  if (group < 1 || w[0] % group != 0 || w[1] * group != x[1])
    return ctx.fail("group = {} does not fit X {} and W {}", group, shape_str(x), shape_str(w));
  auto g = window_geometry(ctx.node, x, std::span<const int64_t>(w).subspan(2), false);
  if (!g) return ctx.fail("{}", g.status().message());
  Shape want = {x[0], w[0]};
  want.insert(want.end(), g->out.begin(), g->out.end());
  if (dy != want)
    return ctx.fail("dY has shape {}, the convolution of X {} with W {} gives {}", shape_str(dy),
                    shape_str(x), shape_str(w), shape_str(want));
  return Status::ok();
}
}  // namespace

// ConvGradData(dY, W, x_shape) -> dX (x_shape).
Status infer_ConvGradData(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 1));
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> xs, shape_input(ctx, 2));
  if (!xs || !ctx.in(0).shape_known || !ctx.in(1).shape_known) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  CONDENSE_TRY(check_conv_grad(ctx, ctx.in(0).shape, *xs, ctx.in(1).shape));
  ctx.set_out(0, ctx.in(0).dtype, *xs);
  return Status::ok();
}

// ConvGradWeight(dY, X, W) -> dW (W's shape), dB? (M), dX? (X's shape).
Status infer_ConvGradWeight(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 2));
  const DType t = ctx.in(0).dtype;
  if (any_unknown(ctx)) {
    set_unknown_all(ctx, t);
    return Status::ok();
  }
  const Shape& w = ctx.in(2).shape;
  CONDENSE_TRY(check_conv_grad(ctx, ctx.in(0).shape, ctx.in(1).shape, w));
  ctx.set_out(0, t, w);
  if (ctx.outputs.size() > 1 && ctx.node.output(1)) ctx.set_out(1, t, {w[0]});
  if (ctx.outputs.size() > 2 && ctx.node.output(2)) ctx.set_out(2, t, ctx.in(1).shape);
  return Status::ok();
}

namespace {
// dY (N, C, out...) against the pool of x (N, C, in...).
Status check_pool_grad(const InferCtx& ctx, const Shape& dy, const Shape& x) {
  const Shape k = ctx.node.attr_ints("kernel_shape");
  if (k.empty()) return ctx.fail("attribute kernel_shape is required");
  auto g = window_geometry(ctx.node, x, k, ctx.node.attr_int("ceil_mode", 0) != 0);
  if (!g) return ctx.fail("{}", g.status().message());
  Shape want = {x[0], x[1]};
  want.insert(want.end(), g->out.begin(), g->out.end());
  if (dy != want)
    return ctx.fail("dY has shape {}, pooling X {} gives {}", shape_str(dy), shape_str(x),
                    shape_str(want));
  return Status::ok();
}
}  // namespace

// MaxPoolGrad(dY, X) -> dX.
Status infer_MaxPoolGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 1));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  CONDENSE_TRY(check_pool_grad(ctx, ctx.in(0).shape, ctx.in(1).shape));
  ctx.set_out(0, ctx.in(0).dtype, ctx.in(1).shape);
  return Status::ok();
}

// AveragePoolGrad(dY, x_shape) -> dX.
Status infer_AveragePoolGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> xs, shape_input(ctx, 1));
  if (!xs || !ctx.in(0).shape_known) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  CONDENSE_TRY(check_pool_grad(ctx, ctx.in(0).shape, *xs));
  ctx.set_out(0, ctx.in(0).dtype, *xs);
  return Status::ok();
}

namespace {
// x (N, C, ...) with per-channel inputs [first, last] of shape (C).
Status check_channel_inputs(const InferCtx& ctx, const Shape& x, size_t first, size_t last) {
  if (x.size() < 2) return ctx.fail("X must have rank >= 2, got {}", shape_str(x));
  for (size_t i = first; i <= last; ++i)
    if (ctx.in(i).shape != Shape{x[1]})
      return ctx.fail("input {} has shape {}, expected [{}] (the channels of X {})", i,
                      shape_str(ctx.in(i).shape), x[1], shape_str(x));
  return Status::ok();
}
}  // namespace

// BatchNormTraining(X, scale, B, running_mean, running_var)
//   -> Y, running_mean', running_var', batch mean, batch variance.
Status infer_BatchNormTraining(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 4));
  const DType t = ctx.in(0).dtype;
  const float momentum = ctx.node.attr_float("momentum", 0.9f);
  if (!(momentum >= 0.f && momentum <= 1.f))
    return ctx.fail("momentum = {} must be in [0, 1]", momentum);
  if (any_unknown(ctx)) {
    set_unknown_all(ctx, t);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  CONDENSE_TRY(check_channel_inputs(ctx, x, 1, 4));
  ctx.set_out(0, t, x);
  for (size_t i = 1; i < 5; ++i) ctx.set_out(i, t, {x[1]});
  return Status::ok();
}

// BatchNormGrad(dY, X, scale, mean, var) -> dX, dscale?, dB?.
Status infer_BatchNormGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 4));
  const DType t = ctx.in(0).dtype;
  if (any_unknown(ctx)) {
    set_unknown_all(ctx, t);
    return Status::ok();
  }
  const Shape& x = ctx.in(1).shape;
  if (ctx.in(0).shape != x)
    return ctx.fail("dY {} and X {} differ in shape", shape_str(ctx.in(0).shape), shape_str(x));
  CONDENSE_TRY(check_channel_inputs(ctx, x, 2, 4));
  ctx.set_out(0, t, x);
  for (size_t i = 1; i < ctx.outputs.size(); ++i)
    if (ctx.node.output(i)) ctx.set_out(i, t, {x[1]});
  return Status::ok();
}

// LayerNormGrad(dY, X, scale, mean, inv_std_dev) -> dX, dscale?, dB? over dims [axis, rank).
Status infer_LayerNormGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 4));
  const DType t = ctx.in(0).dtype;
  if (any_unknown(ctx)) {
    set_unknown_all(ctx, t);
    return Status::ok();
  }
  const Shape& x = ctx.in(1).shape;
  if (ctx.in(0).shape != x)
    return ctx.fail("dY {} and X {} differ in shape", shape_str(ctx.in(0).shape), shape_str(x));
  const int64_t rank = static_cast<int64_t>(x.size());
  auto axis = normalize_axis(ctx.node.attr_int("axis", -1), rank);
  if (!axis || rank == 0)
    return ctx.fail("axis {} is out of range for rank {}", ctx.node.attr_int("axis", -1), rank);
  const Shape norm(x.begin() + *axis, x.end());
  const int64_t rows = shape_numel(std::span<const int64_t>(x).subspan(0, *axis));
  auto b = broadcast_shapes(norm, ctx.in(2).shape);
  if (!b || *b != norm)
    return ctx.fail("scale {} does not broadcast to the normalized shape {}",
                    shape_str(ctx.in(2).shape), shape_str(norm));
  for (size_t i = 3; i < 5; ++i)
    if (shape_numel(ctx.in(i).shape) != rows)
      return ctx.fail("input {} has shape {}, expected {} statistics (one per row)", i,
                      shape_str(ctx.in(i).shape), rows);
  ctx.set_out(0, t, x);
  for (size_t i = 1; i < ctx.outputs.size(); ++i)
    if (ctx.node.output(i)) ctx.set_out(i, t, norm);
  return Status::ok();
}

}  // namespace condense
