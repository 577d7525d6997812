// Gradient rules of the elementwise family (and Identity). Binary and variadic ops broadcast, so
// each input's gradient is summed back to its own shape (GradCtx::sum_to). Activation
// derivatives go through ActivationGrad (src/ops/train_activation.h says which saved tensor each
// kind reads: the output where it suffices, so an activation's input need not stay alive).
#include <limits>

#include "ops/grad.h"

namespace condense {

namespace {
Status act_grad(GradCtx& ctx, const char* kind, bool from_output, float alpha = 0.f,
                float beta = 0.f) {
  Attrs a;
  a["activation"] = ir::Attribute::of_string(kind);
  if (alpha != 0.f) a["alpha"] = ir::Attribute::of_float(alpha);
  if (beta != 0.f) a["beta"] = ir::Attribute::of_float(beta);
  ctx.dx[0] = ctx.op(OpKind::ActivationGrad, {ctx.dy(0), from_output ? ctx.out(0) : ctx.in(0)},
                     std::move(a));
  return Status::ok();
}

// A value's scalar constant of the input's dtype.
ir::Value* same_type_scalar(GradCtx& ctx, const ir::Value* like, double v) {
  return ctx.scalar(ctx.dtype(like), v);
}
}  // namespace

Status grad_Identity(GradCtx& ctx) {
  ctx.dx[0] = ctx.dy(0);
  return Status::ok();
}

// y = a + b: da = dy, db = dy (summed to shape).
Status grad_Add(GradCtx& ctx) {
  for (size_t i = 0; i < 2; ++i)
    if (ctx.wants(i)) ctx.dx[i] = ctx.sum_to(ctx.dy(0), ctx.out(0), ctx.in(i));
  return Status::ok();
}

// y = a - b: da = dy, db = -dy.
Status grad_Sub(GradCtx& ctx) {
  if (ctx.wants(0)) ctx.dx[0] = ctx.sum_to(ctx.dy(0), ctx.out(0), ctx.in(0));
  if (ctx.wants(1)) ctx.dx[1] = ctx.sum_to(ctx.op(OpKind::Neg, {ctx.dy(0)}), ctx.out(0), ctx.in(1));
  return Status::ok();
}

// y = a * b: da = dy * b, db = dy * a.
Status grad_Mul(GradCtx& ctx) {
  for (size_t i = 0; i < 2; ++i)
    if (ctx.wants(i))
      ctx.dx[i] =
          ctx.sum_to(ctx.op(OpKind::Mul, {ctx.dy(0), ctx.in(1 - i)}), ctx.out(0), ctx.in(i));
  return Status::ok();
}

// y = a / b: da = dy / b, db = -dy * y / b.
Status grad_Div(GradCtx& ctx) {
  ir::Value* da = ctx.op(OpKind::Div, {ctx.dy(0), ctx.in(1)});
  if (ctx.wants(0)) ctx.dx[0] = ctx.sum_to(da, ctx.out(0), ctx.in(0));
  if (ctx.wants(1)) {
    ir::Value* t = ctx.op(OpKind::Mul, {da, ctx.out(0)});
    ctx.dx[1] = ctx.sum_to(ctx.op(OpKind::Neg, {t}), ctx.out(0), ctx.in(1));
  }
  return Status::ok();
}

// y = a ^ b: da = dy * b * a^(b - 1), db = dy * y * ln(a).
Status grad_Pow(GradCtx& ctx) {
  ir::Value* a = ctx.in(0);
  ir::Value* b = ctx.in(1);
  const DType t = ctx.dtype(a);
  if (ctx.dtype(b) != t) {
    Attrs cast;
    cast["to"] = ir::Attribute::of_int(dtype_onnx(t));
    b = ctx.op(OpKind::Cast, {b}, std::move(cast));
  }
  if (ctx.wants(0)) {
    ir::Value* p = ctx.op(OpKind::Pow, {a, ctx.op(OpKind::Sub, {b, ctx.scalar(t, 1.0)})});
    ir::Value* g = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.op(OpKind::Mul, {b, p})});
    ctx.dx[0] = ctx.sum_to(g, ctx.out(0), ctx.in(0));
  }
  if (ctx.wants(1)) {
    ir::Value* g = ctx.op(OpKind::Mul,
                          {ctx.dy(0), ctx.op(OpKind::Mul, {ctx.out(0), ctx.op(OpKind::Log, {a})})});
    ctx.dx[1] = ctx.sum_to(g, ctx.out(0), ctx.in(1));
  }
  return Status::ok();
}

Status grad_Neg(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Neg, {ctx.dy(0)});
  return Status::ok();
}

// d|x| = sign(x) (0 at 0).
Status grad_Abs(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.op(OpKind::Sign, {ctx.in(0)})});
  return Status::ok();
}

Status grad_Exp(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.out(0)});
  return Status::ok();
}

Status grad_Log(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Div, {ctx.dy(0), ctx.in(0)});
  return Status::ok();
}

// d sqrt(x) = 0.5 / y.
Status grad_Sqrt(GradCtx& ctx) {
  ir::Value* half = same_type_scalar(ctx, ctx.in(0), 0.5);
  ctx.dx[0] = ctx.op(OpKind::Div, {ctx.op(OpKind::Mul, {ctx.dy(0), half}), ctx.out(0)});
  return Status::ok();
}

// d (1 / x) = -y^2.
Status grad_Reciprocal(GradCtx& ctx) {
  ir::Value* y2 = ctx.op(OpKind::Mul, {ctx.out(0), ctx.out(0)});
  ctx.dx[0] = ctx.op(OpKind::Neg, {ctx.op(OpKind::Mul, {ctx.dy(0), y2})});
  return Status::ok();
}

Status grad_Relu(GradCtx& ctx) {
  return act_grad(ctx, "Relu", true);
}
Status grad_LeakyRelu(GradCtx& ctx) {
  return act_grad(ctx, "LeakyRelu", false, ctx.node.attr_float("alpha", 0.01f));
}
// PRelu(x, slope): y = x (x >= 0) or slope * x; dx = dy or dy * slope, dslope = dy * x where
// x < 0 (summed to the slope's shape).
Status grad_PRelu(GradCtx& ctx) {
  ir::Value* x = ctx.in(0);
  ir::Value* zero = same_type_scalar(ctx, x, 0.0);
  ir::Value* neg = ctx.op(OpKind::Less, {x, zero});
  if (ctx.wants(0)) {
    ir::Value* scaled = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.in(1)});
    ctx.dx[0] = ctx.sum_to(ctx.op(OpKind::Where, {neg, scaled, ctx.dy(0)}), ctx.out(0), x);
  }
  if (ctx.wants(1)) {
    ir::Value* g = ctx.op(OpKind::Where, {neg, ctx.op(OpKind::Mul, {ctx.dy(0), x}), zero});
    ctx.dx[1] = ctx.sum_to(g, ctx.out(0), ctx.in(1));
  }
  return Status::ok();
}

Status grad_Sigmoid(GradCtx& ctx) {
  return act_grad(ctx, "Sigmoid", true);
}
Status grad_Tanh(GradCtx& ctx) {
  return act_grad(ctx, "Tanh", true);
}
Status grad_Erf(GradCtx& ctx) {
  return act_grad(ctx, "Erf", false);
}
Status grad_Gelu(GradCtx& ctx) {
  const std::string approx = ctx.node.attr_string("approximate", "none");
  if (approx != "none" && approx != "tanh")
    return ctx.fail("approximate = '{}' is not 'none' or 'tanh'", approx);
  return act_grad(ctx, approx == "tanh" ? "GeluTanh" : "Gelu", false);
}
Status grad_HardSigmoid(GradCtx& ctx) {
  return act_grad(ctx, "HardSigmoid", false, ctx.node.attr_float("alpha", 0.2f),
                  ctx.node.attr_float("beta", 0.5f));
}
Status grad_HardSwish(GradCtx& ctx) {
  return act_grad(ctx, "HardSwish", false);
}
Status grad_Softplus(GradCtx& ctx) {
  return act_grad(ctx, "Softplus", false);
}
Status grad_Elu(GradCtx& ctx) {
  return act_grad(ctx, "Elu", false, ctx.node.attr_float("alpha", 1.f));
}

Status grad_Selu(GradCtx& ctx) {
  return act_grad(ctx, "Selu", false, ctx.node.attr_float("alpha", 1.67326319217681884765625f),
                  ctx.node.attr_float("gamma", 1.05070102214813232421875f));
}
Status grad_Celu(GradCtx& ctx) {
  return act_grad(ctx, "Celu", false, ctx.node.attr_float("alpha", 1.f));
}
Status grad_Softsign(GradCtx& ctx) {
  return act_grad(ctx, "Softsign", false);
}
Status grad_Mish(GradCtx& ctx) {
  return act_grad(ctx, "Mish", false);
}
Status grad_Swish(GradCtx& ctx) {
  return act_grad(ctx, "Swish", false, ctx.node.attr_float("alpha", 1.f));
}
Status grad_ThresholdedRelu(GradCtx& ctx) {
  return act_grad(ctx, "ThresholdedRelu", false, ctx.node.attr_float("alpha", 1.f));
}

// d sin = cos, d cos = -sin.
Status grad_Sin(GradCtx& ctx) {
  ctx.dx[0] = ctx.op(OpKind::Mul, {ctx.dy(0), ctx.op(OpKind::Cos, {ctx.in(0)})});
  return Status::ok();
}
Status grad_Cos(GradCtx& ctx) {
  ir::Value* s = ctx.op(OpKind::Sin, {ctx.in(0)});
  ctx.dx[0] = ctx.op(OpKind::Neg, {ctx.op(OpKind::Mul, {ctx.dy(0), s})});
  return Status::ok();
}

// Clip(x, min?, max?): dy passes where min <= x <= max. Constant (or absent) bounds use
// ActivationGrad; bounds computed at run time use a mask.
Status grad_Clip(GradCtx& ctx) {
  ir::Value* lo = ctx.in(1);
  ir::Value* hi = ctx.in(2);
  const bool const_bounds = (!lo || (lo->is_constant() && lo->constant->numel() == 1)) &&
                            (!hi || (hi->is_constant() && hi->constant->numel() == 1));
  if (const_bounds) {
    const float a =
        lo ? static_cast<float>(lo->constant->get_f64(0)) : -std::numeric_limits<float>::infinity();
    const float b =
        hi ? static_cast<float>(hi->constant->get_f64(0)) : std::numeric_limits<float>::infinity();
    Attrs attrs;
    attrs["activation"] = ir::Attribute::of_string("Clip");
    attrs["alpha"] = ir::Attribute::of_float(a);
    attrs["beta"] = ir::Attribute::of_float(b);
    ctx.dx[0] = ctx.op(OpKind::ActivationGrad, {ctx.dy(0), ctx.in(0)}, std::move(attrs));
    return Status::ok();
  }
  ir::Value* x = ctx.in(0);
  ir::Value* keep = nullptr;
  if (lo) keep = ctx.op(OpKind::GreaterOrEqual, {x, lo});
  if (hi) {
    ir::Value* below = ctx.op(OpKind::LessOrEqual, {x, hi});
    keep = keep ? ctx.op(OpKind::And, {keep, below}) : below;
  }
  ctx.dx[0] = ctx.op(OpKind::Where, {keep, ctx.dy(0), same_type_scalar(ctx, x, 0.0)});
  return Status::ok();
}

namespace {
// Max / Min: the gradient goes to every input equal to the result (ties: each tied input).
Status grad_select(GradCtx& ctx) {
  ir::Value* zero = nullptr;
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i) {
    if (!ctx.wants(i)) continue;
    if (ctx.node.inputs.size() == 1) {
      ctx.dx[i] = ctx.dy(0);
      continue;
    }
    if (!zero) zero = same_type_scalar(ctx, ctx.out(0), 0.0);
    ir::Value* hit = ctx.op(OpKind::Equal, {ctx.in(i), ctx.out(0)});
    ir::Value* g = ctx.op(OpKind::Where, {hit, ctx.dy(0), zero});
    ctx.dx[i] = ctx.sum_to(g, ctx.out(0), ctx.in(i));
  }
  return Status::ok();
}
}  // namespace

Status grad_Max(GradCtx& ctx) {
  return grad_select(ctx);
}
Status grad_Min(GradCtx& ctx) {
  return grad_select(ctx);
}

Status grad_Sum(GradCtx& ctx) {
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i)
    if (ctx.wants(i)) ctx.dx[i] = ctx.sum_to(ctx.dy(0), ctx.out(0), ctx.in(i));
  return Status::ok();
}

Status grad_Mean(GradCtx& ctx) {
  const double n = static_cast<double>(ctx.node.inputs.size());
  ir::Value* g = ctx.op(OpKind::Mul, {ctx.dy(0), same_type_scalar(ctx, ctx.out(0), 1.0 / n)});
  for (size_t i = 0; i < ctx.node.inputs.size(); ++i)
    if (ctx.wants(i)) ctx.dx[i] = ctx.sum_to(g, ctx.out(0), ctx.in(i));
  return Status::ok();
}

// Where(cond, a, b): da = dy where cond, db = dy elsewhere.
Status grad_Where(GradCtx& ctx) {
  ir::Value* zero = same_type_scalar(ctx, ctx.out(0), 0.0);
  if (ctx.wants(1)) {
    ir::Value* g = ctx.op(OpKind::Where, {ctx.in(0), ctx.dy(0), zero});
    ctx.dx[1] = ctx.sum_to(g, ctx.out(0), ctx.in(1));
  }
  if (ctx.wants(2)) {
    ir::Value* g = ctx.op(OpKind::Where, {ctx.in(0), zero, ctx.dy(0)});
    ctx.dx[2] = ctx.sum_to(g, ctx.out(0), ctx.in(2));
  }
  return Status::ok();
}

// Float-to-float Cast: the gradient is cast back to the input's type.
Status grad_Cast(GradCtx& ctx) {
  const DType from = ctx.dtype(ctx.in(0));
  if (!dtype_is_float(from) || !dtype_is_float(ctx.dtype(ctx.out(0))))
    return ctx.fail("only casts between float types are differentiable ({} -> {})",
                    dtype_name(from), dtype_name(ctx.dtype(ctx.out(0))));
  Attrs a;
  a["to"] = ir::Attribute::of_int(dtype_onnx(from));
  ctx.dx[0] = ctx.op(OpKind::Cast, {ctx.dy(0)}, std::move(a));
  return Status::ok();
}

}  // namespace condense
