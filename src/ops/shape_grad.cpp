// Gradient rules of the shape family: views, layout and region copies, indexing, Dropout.
#include "ops/grad.h"

namespace condense {

namespace {
// Views: the gradient is dY under X's shape.
Status grad_view(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Reshape, {ctx.dy(0), ctx.shape_of(ctx.in(0))});
  return Status::ok();
}

int64_t axis_attr(const GradCtx& ctx) {
  return ctx.node.attr_int("axis", 0);
}
}  // namespace

Status grad_Reshape(GradCtx& ctx) {
  return grad_view(ctx);
}
Status grad_Flatten(GradCtx& ctx) {
  return grad_view(ctx);
}
Status grad_Squeeze(GradCtx& ctx) {
  return grad_view(ctx);
}
Status grad_Unsqueeze(GradCtx& ctx) {
  return grad_view(ctx);
}

// Transpose by the inverse permutation (the default reversal is its own inverse).
Status grad_Transpose(GradCtx& ctx) {
  Attrs a;
  if (ctx.node.has_attr("perm")) {
    const std::vector<int64_t> perm = ctx.node.attr_ints("perm");
    std::vector<int64_t> inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(perm.size()))
        return ctx.fail("perm entry {} is out of range", perm[i]);
      inv[perm[i]] = static_cast<int64_t>(i);
    }
    a["perm"] = ir::Attribute::of_ints(inv);
  }
  ctx.dx[0] = ctx.op(OpKind::Transpose, {ctx.dy(0)}, std::move(a));
  return Status::ok();
}

// Concat: dY split back into the inputs' extents along the axis (static where the facts know
// them, else read from the inputs' shapes at run time).
Status grad_Concat(GradCtx& ctx) {
  const size_t n = ctx.node.inputs.size();
  int64_t axis = axis_attr(ctx);
  int64_t rank = -1;
  for (size_t i = 0; i < n && rank < 0; ++i) rank = ctx.facts(ctx.in(i)).rank();
  if (axis < 0) {
    if (rank < 0) return ctx.fail("a negative axis needs the rank statically");
    axis += rank;
  }
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < n; ++i) {
    const ValueFacts& f = ctx.facts(ctx.in(i));
    const int64_t d = f.shape_known && axis < f.rank() ? f.static_dim(axis) : -1;
    if (d < 0) {
      sizes.clear();
      break;
    }
    sizes.push_back(d);
  }
  ir::Value* split = nullptr;
  if (sizes.size() == n) {
    split = ctx.ints(sizes);
  } else {
    std::vector<ir::Value*> parts;
    for (size_t i = 0; i < n; ++i)
      parts.push_back(
          ctx.op(OpKind::Slice, {ctx.shape_of(ctx.in(i)), ctx.ints({axis}), ctx.ints({axis + 1})}));
    Attrs c;
    c["axis"] = ir::Attribute::of_int(0);
    split = ctx.op(OpKind::Concat, parts, std::move(c));
  }
  Attrs a;
  a["axis"] = ir::Attribute::of_int(axis);
  auto outs = ctx.ops(OpKind::Split, {ctx.dy(0), split}, static_cast<int>(n), std::move(a));
  for (size_t i = 0; i < n; ++i)
    if (ctx.wants(i)) ctx.dx[i] = outs[i];
  return Status::ok();
}

// Split: the outputs' gradients concatenated (zeros for outputs no gradient reached).
Status grad_Split(GradCtx& ctx) {
  std::vector<ir::Value*> parts;
  for (size_t i = 0; i < ctx.node.outputs.size(); ++i) {
    ir::Value* g = ctx.dy(i);
    if (!g) {
      ir::Value* y = ctx.out(i);
      if (!y) return ctx.fail("output {} is omitted; its extent is unknown", i);
      g = ctx.zeros_like(y);
    }
    parts.push_back(g);
  }
  Attrs a;
  a["axis"] = ir::Attribute::of_int(axis_attr(ctx));
  ctx.dx[0] = ctx.op(OpKind::Concat, parts, std::move(a));
  return Status::ok();
}

Status grad_Slice(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::SliceGrad, {ctx.dy(0), ctx.shape_of(ctx.in(0)), ctx.in(1), ctx.in(2),
                                         ctx.in(3), ctx.in(4)});
  return Status::ok();
}

// Constant Pad: the gradient is dY with the padding removed, i.e. Pad by the negated pads.
Status grad_Pad(GradCtx& ctx) {
  const std::string mode = ctx.node.attr_string("mode", "constant");
  if (mode != "constant") return ctx.fail("only mode 'constant' is differentiable, got '{}'", mode);
  ir::Value* pads = ctx.in(1);
  ir::Value* neg = pads->is_constant() ? ctx.ints([&] {
    std::vector<int64_t> v = pads->constant->to_i64_vector();
    for (int64_t& p : v) p = -p;
    return v;
  }())
                                       : ctx.op(OpKind::Neg, {pads});
  ctx.dx[0] = ctx.op(OpKind::Pad, {ctx.dy(0), neg, nullptr, ctx.in(3)});
  return Status::ok();
}

Status grad_Gather(GradCtx& ctx) {
  Attrs a;
  a["axis"] = ir::Attribute::of_int(axis_attr(ctx));
  ctx.dx[0] =
      ctx.op(OpKind::GatherGrad, {ctx.dy(0), ctx.in(1), ctx.shape_of(ctx.in(0))}, std::move(a));
  return Status::ok();
}

Status grad_Expand(GradCtx& ctx) {
  ctx.dx[0] = ctx.sum_to(ctx.dy(0), ctx.out(0), ctx.in(0));
  return Status::ok();
}

// Inference Dropout (the builder rewrote training ones to DropoutTrain): the identity.
Status grad_Dropout(GradCtx& ctx) {
  ctx.dx[0] = ctx.dy(0);
  return Status::ok();
}

// Y = X * mask, the mask already scaled by 1 / (1 - ratio).
Status grad_DropoutTrain(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.out(1)});
  return Status::ok();
}

}  // namespace condense
