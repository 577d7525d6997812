// Neural-network ops: MatMul, Gemm, normalization. Conv and pooling: nn_conv.cpp.
#include "ops/infer.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {
constexpr std::initializer_list<DType> kFloatTypes = {DType::F32, DType::F64, DType::F16,
                                                      DType::BF16};

Status check_fused_activation(const InferCtx& ctx) {
  if (!fused_activation(ctx.node))
    return ctx.fail("unknown fused activation '{}'", ctx.node.attr_string("_activation", ""));
  return Status::ok();
}

// Output = input shape; for ops whose output mirrors input 0.
void set_like_input(InferCtx& ctx, size_t out) {
  if (ctx.in(0).shape_known)
    ctx.set_out(out, ctx.in(0).dtype, ctx.in(0).shape);
  else
    ctx.set_out_unknown(out, ctx.in(0).dtype);
}
}  // namespace

// MatMul: numpy matmul. 1-D operands are promoted (and the added dim removed from the result).
Status infer_MatMul(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 1));
  CONDENSE_TRY(check_dtype(ctx, 0,
                           {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64,
                            DType::U32, DType::U64}));
  CONDENSE_TRY(check_fused_activation(ctx));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  Shape a = ctx.in(0).shape, b = ctx.in(1).shape;
  if (a.empty() || b.empty()) return ctx.fail("MatMul operands must have rank >= 1");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    return ctx.fail("inner dimensions differ: {} x {}", shape_str(ctx.in(0).shape),
                    shape_str(ctx.in(1).shape));
  Shape batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  auto batch = broadcast_shapes(batch_a, batch_b);
  if (!batch) return ctx.fail("batch dimensions: {}", batch.status().message());
  Shape out = *batch;
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  ctx.set_out(0, ctx.in(0).dtype, std::move(out));
  return Status::ok();
}

// Gemm: Y (M, N) = alpha * A' (M, K) * B' (K, N) + beta * C, A' = transA ? A^T : A (same for B);
// C broadcasts unidirectionally to (M, N).
Status infer_Gemm(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_dtype(ctx, 0,
                           {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64,
                            DType::U32, DType::U64}));
  CONDENSE_TRY(check_fused_activation(ctx));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  const Shape& a = ctx.in(0).shape;
  const Shape& b = ctx.in(1).shape;
  if (a.size() != 2 || b.size() != 2)
    return ctx.fail("A and B must be 2-D, got {} and {}", shape_str(a), shape_str(b));
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1];
  const int64_t Kb = tb ? b[1] : b[0], N = tb ? b[0] : b[1];
  if (K != Kb)
    return ctx.fail("inner dimensions differ: A {} (transA={}) and B {} (transB={})", shape_str(a),
                    ta, shape_str(b), tb);
  if (ctx.has_input(2)) {
    const Shape& c = ctx.in(2).shape;
    if (c.size() > 2) return ctx.fail("C must have rank <= 2, got {}", shape_str(c));
    Shape full = {M, N};
    for (size_t i = 0; i < c.size(); ++i) {
      int64_t d = c[c.size() - 1 - i], want = full[1 - i];
      if (d != 1 && d != want)
        return ctx.fail("C {} does not broadcast to ({}, {})", shape_str(c), M, N);
    }
  }
  ctx.set_out(0, ctx.in(0).dtype, {M, N});
  return Status::ok();
}

// BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * scale + B, with x: (N, C, ...) and
// the four statistics (C). training_mode = 1: the batch's statistics, and the optional outputs
// running_mean / running_var (C) updated with momentum (a forward run; training graphs rewrite
// the node to BatchNormTraining, see docs/autograd.md).
Status infer_BatchNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  for (size_t i = 1; i < 5; ++i) CONDENSE_TRY(check_dtype(ctx, i, kFloatTypes));
  const bool training = ctx.node.attr_int("training_mode", 0) != 0;
  for (size_t i = 1; i < ctx.outputs.size(); ++i)
    if (ctx.node.output(i) && !training)
      return ctx.fail("outputs running_mean/running_var exist only with training_mode=1");
  if (any_unknown(ctx)) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i)
      if (ctx.node.output(i)) ctx.set_out_unknown(i, ctx.in(i == 0 ? 0 : 2 + i).dtype);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  if (x.size() < 2) return ctx.fail("X must have rank >= 2, got {}", shape_str(x));
  for (size_t i = 1; i < 5; ++i) {
    const Shape& s = ctx.in(i).shape;
    if (s.size() != 1 || s[0] != x[1])
      return ctx.fail("input {} has shape {}, expected [{}] (the channels of X {})", i,
                      shape_str(s), x[1], shape_str(x));
  }
  set_like_input(ctx, 0);
  for (size_t i = 1; i < ctx.outputs.size(); ++i)
    if (ctx.node.output(i)) ctx.set_out(i, ctx.in(2 + i).dtype, {x[1]});
  return Status::ok();
}

// InstanceNormalization: per (n, c), normalize over the spatial dims; scale, B: (C).
Status infer_InstanceNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  if (x.size() < 3) return ctx.fail("input must have rank >= 3, got {}", shape_str(x));
  for (size_t i = 1; i < 3; ++i)
    if (ctx.in(i).shape != Shape{x[1]})
      return ctx.fail("input {} has shape {}, expected [{}]", i, shape_str(ctx.in(i).shape), x[1]);
  set_like_input(ctx, 0);
  return Status::ok();
}

// LRN across channels: x (N, C, ...).
Status infer_LRN(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  if (ctx.node.attr_int("size", 0) < 1)
    return ctx.fail("attribute size must be given and >= 1, got {}", ctx.node.attr_int("size", 0));
  if (ctx.in(0).shape_known && ctx.in(0).shape.size() < 3)
    return ctx.fail("input must have rank >= 3, got {}", shape_str(ctx.in(0).shape));
  set_like_input(ctx, 0);
  return Status::ok();
}

}  // namespace condense
