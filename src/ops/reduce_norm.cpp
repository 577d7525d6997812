// Shape inference for normalizations, losses, Attention and RotaryEmbedding.
#include "ops/infer.h"

namespace condense {

namespace {
constexpr std::initializer_list<DType> kFloat = {DType::F32, DType::F64, DType::F16, DType::BF16};

void copy_shape(InferCtx& ctx, size_t out, size_t in) {
  ctx.outputs[out] = ctx.in(in);
  ctx.outputs[out].value = nullptr;
  ctx.outputs[out].allocate = true;
}

// Type of the statistics outputs of LayerNormalization: the stash type (1 = float).
Result<DType> stash_dtype(const InferCtx& ctx) {
  const int64_t st = ctx.node.attr_int("stash_type", 1);
  auto t = dtype_from_onnx(static_cast<int>(st));
  if (!t || !dtype_is_float(*t)) return ctx.fail("stash_type {} is not a floating-point type", st);
  return *t;
}
}  // namespace

// LayerNormalization(X, Scale, B?) -> Y, Mean?, InvStdDev?: statistics over dims [axis, rank).
Status infer_LayerNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_ASSIGN_OR_RETURN(DType st, stash_dtype(ctx));
  const TensorInfo& x = ctx.in(0);
  copy_shape(ctx, 0, 0);
  if (!x.shape_known) {
    for (size_t i = 1; i < ctx.outputs.size(); ++i) ctx.set_out_unknown(i, st);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  auto axis = normalize_axis(ctx.node.attr_int("axis", -1), rank);
  if (!axis || rank == 0)
    return ctx.fail("axis {} is out of range for rank {}", ctx.node.attr_int("axis", -1), rank);
  Shape norm(x.shape.begin() + *axis, x.shape.end());
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i) || !ctx.in(i).shape_known) continue;
    auto b = broadcast_shapes(norm, ctx.in(i).shape);
    if (!b || *b != norm)
      return ctx.fail("input {} of shape {} does not broadcast to the normalized shape {}", i,
                      shape_str(ctx.in(i).shape), shape_str(norm));
  }
  Shape stat = x.shape;
  for (int64_t d = *axis; d < rank; ++d) stat[d] = 1;
  for (size_t i = 1; i < ctx.outputs.size(); ++i) ctx.set_out(i, st, stat);
  return Status::ok();
}

// GroupNormalization-21(X (N, C, ...), scale (C), bias (C)); with the internal attribute
// `_per_group_affine` (imported from opset 18) scale and bias have num_groups elements.
Status infer_GroupNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  const TensorInfo& x = ctx.in(0);
  const int64_t g = ctx.node.attr_int("num_groups", 0);
  if (g <= 0) return ctx.fail("num_groups must be positive, got {}", g);
  if (x.shape_known) {
    if (x.shape.size() < 2) return ctx.fail("input must have rank >= 2");
    const int64_t c = x.shape[1];
    if (c % g != 0) return ctx.fail("channels {} are not divisible by num_groups {}", c, g);
    const int64_t want = ctx.node.attr_int("_per_group_affine", 0) ? g : c;
    for (size_t i = 1; i <= 2; ++i)
      if (ctx.in(i).shape_known && shape_numel(ctx.in(i).shape) != want)
        return ctx.fail("input {} has shape {}, expected {} elements", i,
                        shape_str(ctx.in(i).shape), want);
  }
  copy_shape(ctx, 0, 0);
  return Status::ok();
}

// RMSNormalization(X, scale): statistics over dims [axis, rank).
Status infer_RMSNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_dtype(ctx, 1, kFloat));
  if (auto st = stash_dtype(ctx); !st) return st.status();
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known) {
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    auto axis = normalize_axis(ctx.node.attr_int("axis", -1), rank);
    if (!axis || rank == 0) return ctx.fail("axis is out of range for rank {}", rank);
    Shape norm(x.shape.begin() + *axis, x.shape.end());
    if (ctx.in(1).shape_known) {
      auto b = broadcast_shapes(norm, ctx.in(1).shape);
      if (!b || *b != norm)
        return ctx.fail("scale of shape {} does not broadcast to the normalized shape {}",
                        shape_str(ctx.in(1).shape), shape_str(norm));
    }
  }
  copy_shape(ctx, 0, 0);
  return Status::ok();
}

Status infer_MeanVarianceNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known) {
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    for (int64_t a : ctx.node.attr_ints("axes", {0, 2, 3}))
      if (a < -rank || a >= rank) return ctx.fail("axis {} is out of range for rank {}", a, rank);
  }
  copy_shape(ctx, 0, 0);
  return Status::ok();
}

Status infer_LpNormalization(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  const int64_t p = ctx.node.attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.fail("p must be 1 or 2, got {}", p);
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known) {
    auto axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.shape.size()));
    if (!axis || x.shape.empty())
      return ctx.fail("axis is out of range for rank {}", x.shape.size());
  }
  copy_shape(ctx, 0, 0);
  return Status::ok();
}

namespace {
// Shared by both losses: scores/input (N, C, d1...), labels (N, d1...), weights (C).
Status infer_loss(InferCtx& ctx, bool with_log_prob) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I32, DType::I64}));
  if (ctx.has_input(2) && ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("weights must have the dtype of the scores");
  const std::string red = ctx.node.attr_string("reduction", "mean");
  if (red != "none" && red != "sum" && red != "mean")
    return ctx.fail("unknown reduction '{}'", red);
  const TensorInfo& x = ctx.in(0);
  const DType t = x.dtype;
  if (with_log_prob && ctx.outputs.size() > 1) copy_shape(ctx, 1, 0);
  if (!x.shape_known || !ctx.in(1).shape_known) {
    if (red == "none")
      ctx.set_out_unknown(0, t);
    else
      ctx.set_out(0, t, {});
    return Status::ok();
  }
  if (x.shape.size() < 2) return ctx.fail("scores must have rank >= 2 (N, C, ...)");
  Shape want = x.shape;
  want.erase(want.begin() + 1);
  if (ctx.in(1).shape != want)
    return ctx.fail("labels have shape {}, expected {}", shape_str(ctx.in(1).shape),
                    shape_str(want));
  if (ctx.has_input(2) && ctx.in(2).shape_known && ctx.in(2).shape != Shape{x.shape[1]})
    return ctx.fail("weights have shape {}, expected [{}]", shape_str(ctx.in(2).shape), x.shape[1]);
  if (red == "none")
    ctx.set_out(0, t, want);
  else
    ctx.set_out(0, t, {});
  return Status::ok();
}
}  // namespace

Status infer_SoftmaxCrossEntropyLoss(InferCtx& ctx) {
  return infer_loss(ctx, true);
}
Status infer_NegativeLogLikelihoodLoss(InferCtx& ctx) {
  return infer_loss(ctx, false);
}

// Attention(Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?)
//   -> Y, present_key?, present_value?, qk_matmul_output?
// 4-D: Q (B, Hq, S, E), K (B, Hkv, L, E), V (B, Hkv, L, Ev); 3-D: (B, S, H*E) with the head counts
// from q_num_heads / kv_num_heads. Y is (B, Hq, S, Ev) or (B, S, Hq*Ev); present_* are 4-D with
// past + L rows; qk_matmul_output is (B, Hq, S, past + L).
Status infer_Attention(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_same_dtype(ctx, 4, 5));
  CONDENSE_TRY(check_dtype(ctx, 6, {DType::I64}));
  if (ctx.has_input(3) && ctx.in(3).dtype != DType::Bool && ctx.in(3).dtype != ctx.in(0).dtype)
    return ctx.fail("attn_mask must be bool or the dtype of Q");
  const DType t = ctx.in(0).dtype;
  const size_t nout = ctx.outputs.size();
  if (any_unknown(ctx)) {
    for (size_t i = 0; i < nout; ++i) ctx.set_out_unknown(i, t);
    return Status::ok();
  }
  const Shape& q = ctx.in(0).shape;
  const Shape& k = ctx.in(1).shape;
  const Shape& v = ctx.in(2).shape;
  const size_t r = q.size();
  if ((r != 3 && r != 4) || k.size() != r || v.size() != r)
    return ctx.fail("Q, K and V must all be 3-D or all 4-D");
  int64_t b = q[0], hq, s, e, hkv, l, ev;
  if (r == 4) {
    hq = q[1], s = q[2], e = q[3], hkv = k[1], l = k[2], ev = v[3];
    if (k[3] != e || v[1] != hkv || v[2] != l) return ctx.fail("K/V shapes do not match Q");
  } else {
    hq = ctx.node.attr_int("q_num_heads", 0);
    hkv = ctx.node.attr_int("kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0) return ctx.fail("3-D inputs need q_num_heads and kv_num_heads");
    if (q[2] % hq || k[2] % hkv || v[2] % hkv)
      return ctx.fail("hidden sizes are not divisible by the head counts");
    s = q[1], e = q[2] / hq, l = k[1], ev = v[2] / hkv;
    if (k[2] / hkv != e || v[1] != l) return ctx.fail("K/V shapes do not match Q");
  }
  if (k[0] != b || v[0] != b) return ctx.fail("batch sizes differ");
  if (hkv <= 0 || hq % hkv != 0)
    return ctx.fail("q heads {} are not a multiple of kv heads {}", hq, hkv);
  int64_t past = 0;
  if (ctx.has_input(4) != ctx.has_input(5)) return ctx.fail("past_key and past_value go together");
  if (ctx.has_input(4)) {
    const Shape& pk = ctx.in(4).shape;
    const Shape& pv = ctx.in(5).shape;
    if (pk.size() != 4 || pv.size() != 4 || pk[0] != b || pk[1] != hkv || pk[3] != e ||
        pv[0] != b || pv[1] != hkv || pv[3] != ev || pv[2] != pk[2])
      return ctx.fail("past_key {} / past_value {} do not match K and V", shape_str(pk),
                      shape_str(pv));
    past = pk[2];
  }
  const int64_t total = past + l;
  if (ctx.has_input(3)) {
    const Shape& m = ctx.in(3).shape;
    if (m.size() < 2 || m.size() > 4 || m.back() > total)
      return ctx.fail("attn_mask shape {} is invalid", shape_str(m));
    const Shape full{b, hq, s, total};
    Shape mm = m;
    mm.back() = total;
    auto bc = broadcast_shapes(full, mm);
    if (!bc || *bc != full)
      return ctx.fail("attn_mask shape {} does not broadcast to {}", shape_str(m), shape_str(full));
  }
  if (ctx.has_input(6) && shape_numel(ctx.in(6).shape) != b)
    return ctx.fail("nonpad_kv_seqlen must have batch_size elements");
  const int64_t mode = ctx.node.attr_int("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) return ctx.fail("qk_matmul_output_mode {} is invalid", mode);
  if (r == 4)
    ctx.set_out(0, t, {b, hq, s, ev});
  else
    ctx.set_out(0, t, {b, s, hq * ev});
  if (nout > 1) ctx.set_out(1, t, {b, hkv, total, e});
  if (nout > 2) ctx.set_out(2, t, {b, hkv, total, ev});
  if (nout > 3) ctx.set_out(3, t, {b, hq, s, total});
  return Status::ok();
}

// RotaryEmbedding(X, cos_cache, sin_cache, position_ids?): X is (B, H, S, E) or (B, S, H*E).
Status infer_RotaryEmbedding(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::I64}));
  if (any_unknown(ctx)) {
    copy_shape(ctx, 0, 0);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  if (x.size() != 3 && x.size() != 4) return ctx.fail("input must be 3-D or 4-D");
  int64_t b = x[0], s, e;
  if (x.size() == 4) {
    s = x[2], e = x[3];
  } else {
    const int64_t h = ctx.node.attr_int("num_heads", 0);
    if (h <= 0 || x[2] % h) return ctx.fail("3-D input needs num_heads dividing the hidden size");
    s = x[1], e = x[2] / h;
  }
  int64_t rd = ctx.node.attr_int("rotary_embedding_dim", 0);
  if (rd == 0) rd = e;
  if (rd < 0 || rd > e || rd % 2)
    return ctx.fail("rotary_embedding_dim {} is invalid for head size {}", rd, e);
  const Shape& c = ctx.in(1).shape;
  if (ctx.in(2).shape != c) return ctx.fail("cos_cache and sin_cache shapes differ");
  if (ctx.has_input(3)) {
    if (c.size() != 2 || c[1] != rd / 2) return ctx.fail("caches must be (max_pos, {})", rd / 2);
    if (ctx.in(3).shape != Shape{b, s}) return ctx.fail("position_ids must be ({}, {})", b, s);
  } else if (c != Shape{b, s, rd / 2}) {
    return ctx.fail("caches must be ({}, {}, {}) without position_ids", b, s, rd / 2);
  }
  copy_shape(ctx, 0, 0);
  return Status::ok();
}

}  // namespace condense
