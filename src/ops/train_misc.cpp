// Shape inference for the train family, part 2: softmax and activation backward, training
// dropout, the NLL loss backward, and the backward of the indexing ops Gather and Slice.
#include "ops/infer.h"
#include "ops/shape_common.h"
#include "ops/train_activation.h"
#include "ops/train_common.h"

namespace condense {

using namespace train_ops;

namespace {
// dY and the saved tensor T: one float dtype, one shape; dX = that shape.
Status infer_same_shape_pair(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 1));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  if (ctx.in(0).shape != ctx.in(1).shape)
    return ctx.fail("dY {} and input 1 {} differ in shape", shape_str(ctx.in(0).shape),
                    shape_str(ctx.in(1).shape));
  ctx.set_out(0, ctx.in(0).dtype, ctx.in(0).shape);
  return Status::ok();
}
}  // namespace

// SoftmaxGrad(dY, Y; axis, log) -> dX.
Status infer_SoftmaxGrad(InferCtx& ctx) {
  CONDENSE_TRY(infer_same_shape_pair(ctx));
  if (ctx.in(1).shape_known) {
    const int64_t rank = static_cast<int64_t>(ctx.in(1).shape.size());
    if (!normalize_axis(ctx.node.attr_int("axis", -1), rank) || rank == 0)
      return ctx.fail("axis {} is out of range for rank {}", ctx.node.attr_int("axis", -1), rank);
  }
  return Status::ok();
}

// ActivationGrad(dY, T, dY2?; activation, alpha, beta) -> dX (T's shape).
Status infer_ActivationGrad(InferCtx& ctx) {
  const std::string act = ctx.node.attr_string("activation", "");
  if (!grad_act_from_name(act)) return ctx.fail("unknown activation '{}'", act);
  if (!ctx.has_input(2)) return infer_same_shape_pair(ctx);
  CONDENSE_TRY(check_train_float(ctx, 0, 2));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  auto sum = broadcast_shapes(ctx.in(0).shape, ctx.in(2).shape);
  if (!sum || *sum != ctx.in(1).shape)
    return ctx.fail("dY {} and dY2 {} do not broadcast to input 1 {}", shape_str(ctx.in(0).shape),
                    shape_str(ctx.in(2).shape), shape_str(ctx.in(1).shape));
  ctx.set_out(0, ctx.in(0).dtype, ctx.in(1).shape);
  return Status::ok();
}

// DropoutTrain(X, ratio?, seed; salt) -> Y, mask.
Status infer_DropoutTrain(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::F32, DType::F64, DType::F16, DType::BF16}));
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::I64}));
  for (size_t i = 1; i < 3; ++i)
    if (ctx.has_input(i) && ctx.in(i).shape_known && shape_numel(ctx.in(i).shape) != 1)
      return ctx.fail("input {} must be a scalar, got {}", i, shape_str(ctx.in(i).shape));
  if (ctx.has_input(1) && ctx.in(1).value) {
    const double r = ctx.in(1).value->get_f64(0);
    if (!(r >= 0.0 && r < 1.0)) return ctx.fail("ratio = {} must be in [0, 1)", r);
  }
  const TensorInfo& x = ctx.in(0);
  for (size_t i = 0; i < 2; ++i) {
    if (x.shape_known)
      ctx.set_out(i, x.dtype, x.shape);
    else
      ctx.set_out_unknown(i, x.dtype);
  }
  return Status::ok();
}

// NllLossGrad(dLoss, x_shape, labels, weights?; reduction, ignore_index) -> dX (x_shape).
Status infer_NllLossGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::I32, DType::I64}));
  CONDENSE_TRY(check_train_float(ctx, 3, 3));
  if (ctx.has_input(3) && ctx.in(3).dtype != ctx.in(0).dtype)
    return ctx.fail("weights must have the dtype of dLoss");
  const std::string red = ctx.node.attr_string("reduction", "mean");
  if (red != "none" && red != "sum" && red != "mean")
    return ctx.fail("unknown reduction '{}'", red);
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> xs, shape_input(ctx, 1));
  if (!xs || any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  if (xs->size() < 2) return ctx.fail("x_shape {} must have rank >= 2", shape_str(*xs));
  Shape lab = *xs;
  lab.erase(lab.begin() + 1);
  if (ctx.in(2).shape != lab)
    return ctx.fail("labels have shape {}, expected {}", shape_str(ctx.in(2).shape),
                    shape_str(lab));
  const Shape& dl = ctx.in(0).shape;
  if (red == "none" ? dl != lab : shape_numel(dl) != 1)
    return ctx.fail("dLoss has shape {}, expected {}", shape_str(dl),
                    red == "none" ? shape_str(lab) : std::string("a scalar"));
  if (ctx.has_input(3) && ctx.in(3).shape != Shape{(*xs)[1]})
    return ctx.fail("weights have shape {}, expected [{}]", shape_str(ctx.in(3).shape), (*xs)[1]);
  ctx.set_out(0, ctx.in(0).dtype, *xs);
  return Status::ok();
}

// GatherGrad(dY, indices, data_shape; axis) -> dData.
Status infer_GatherGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I32, DType::I64}));
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> ds, shape_input(ctx, 2));
  if (!ds || any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(ds->size());
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), r);
  if (!axis || r == 0) return ctx.fail("axis is out of range for data shape {}", shape_str(*ds));
  Shape want(ds->begin(), ds->begin() + *axis);
  want.insert(want.end(), ctx.in(1).shape.begin(), ctx.in(1).shape.end());
  want.insert(want.end(), ds->begin() + *axis + 1, ds->end());
  if (ctx.in(0).shape != want)
    return ctx.fail("dY has shape {}, expected {}", shape_str(ctx.in(0).shape), shape_str(want));
  ctx.set_out(0, ctx.in(0).dtype, *ds);
  return Status::ok();
}

// SliceGrad(dY, data_shape, starts, ends, axes?, steps?) -> dData.
Status infer_SliceGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  for (size_t i = 2; i < 6; ++i) CONDENSE_TRY(check_dtype(ctx, i, {DType::I32, DType::I64}));
  CONDENSE_ASSIGN_OR_RETURN(std::optional<Shape> ds, shape_input(ctx, 1));
  bool known = ds.has_value() && ctx.in(0).shape_known;
  for (size_t i = 2; i < ctx.inputs.size(); ++i) known &= !ctx.has_input(i) || ctx.in(i).value;
  if (!known) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  auto plan = shape_ops::slice_plan(*ds, *ctx.in(2).value, *ctx.in(3).value,
                                    ctx.has_input(4) ? ctx.in(4).value : nullptr,
                                    ctx.has_input(5) ? ctx.in(5).value : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  Shape want;
  for (const auto& a : *plan) want.push_back(a.count);
  if (ctx.in(0).shape != want)
    return ctx.fail("dY has shape {}, the slice gives {}", shape_str(ctx.in(0).shape),
                    shape_str(want));
  ctx.set_out(0, ctx.in(0).dtype, *ds);
  return Status::ok();
}

}  // namespace condense
