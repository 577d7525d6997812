// Reference kernels for Attention (opset 23/24) and RotaryEmbedding (opset 23).
#include <cmath>
#include <limits>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"

namespace condense {

namespace {

// Element (b, h, s, e) of a 4-D (B, H, S, E) tensor, or of a 3-D (B, S, H*E) one.
inline int64_t at4(bool three_d, int64_t H, int64_t S, int64_t E, int64_t b, int64_t h, int64_t s,
                   int64_t e) {
  return three_d ? ((b * S + s) * H + h) * E + e : ((b * H + h) * S + s) * E + e;
}

std::vector<double> to_f64(const Tensor& t) {
  std::vector<double> v(t.numel());
  visit_dtype(t.dtype(), [&]<typename T>() {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = convert<double>(p[i]);
  });
  return v;
}

Status store_f64(KernelCtx& ctx, Tensor& t, const std::vector<double>& v) {
  return visit_dtype(t.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("outputs must be a float type");
    } else {
      T* p = t.data<T>();
      for (size_t i = 0; i < v.size(); ++i) p[i] = convert<T>(v[i]);
      return Status::ok();
    }
  });
}

}  // namespace

// Attention: scores = (Q*sqrt(scale)) (K*sqrt(scale))^T, softcap (c*tanh(x/c)) when softcap > 0,
// plus the bias from attn_mask (bool: false -> -inf; float: added; a mask shorter than the total
// kv length is padded with -inf), the causal mask (query i sees keys j <= i + offset, offset =
// past length, or nonpad_kv_seqlen[b] - S without a past) and the padding mask of
// nonpad_kv_seqlen (keys j >= nonpad[b] -> -inf); softmax over keys; times V. Query head h uses
// kv head h / (Hq / Hkv). A row that is fully masked yields NaN, as the spec's reference does.
// qk_matmul_output: mode 0/1 the (softcapped) scores, 2 with the bias added, 3 the softmax.
Status ref_Attention(KernelCtx& ctx) {
  const Tensor& qt = ctx.in(0);
  const Tensor& kt = ctx.in(1);
  const Tensor& vt = ctx.in(2);
  const bool three = qt.rank() == 3;
  const int64_t B = qt.dim(0);
  int64_t Hq, Hkv, S, E, L, Ev;
  if (three) {
    Hq = ctx.node.attr_int("q_num_heads", 0), Hkv = ctx.node.attr_int("kv_num_heads", 0);
    if (Hq <= 0 || Hkv <= 0) return ctx.fail("3-D inputs need q_num_heads and kv_num_heads");
    S = qt.dim(1), E = qt.dim(2) / Hq, L = kt.dim(1), Ev = vt.dim(2) / Hkv;
  } else {
    Hq = qt.dim(1), S = qt.dim(2), E = qt.dim(3), Hkv = kt.dim(1), L = kt.dim(2), Ev = vt.dim(3);
  }
  if (Hkv <= 0 || Hq % Hkv)
    return ctx.fail("q heads {} are not a multiple of kv heads {}", Hq, Hkv);
  const bool has_past = ctx.has_input(4) && ctx.has_input(5);
  const int64_t P = has_past ? ctx.in(4).dim(2) : 0;
  const int64_t T = P + L;
  // present K/V: (B, Hkv, T, E|Ev) = concat(past, K/V) along the sequence.
  std::vector<double> q = to_f64(qt), kin = to_f64(kt), vin = to_f64(vt);
  std::vector<double> pk(B * Hkv * T * E), pv(B * Hkv * T * Ev);
  {
    std::vector<double> past_k, past_v;
    if (has_past) past_k = to_f64(ctx.in(4)), past_v = to_f64(ctx.in(5));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t e = 0; e < E; ++e)
            pk[((b * Hkv + h) * T + t) * E + e] = t < P
                                                      ? past_k[((b * Hkv + h) * P + t) * E + e]
                                                      : kin[at4(three, Hkv, L, E, b, h, t - P, e)];
          for (int64_t e = 0; e < Ev; ++e)
            pv[((b * Hkv + h) * T + t) * Ev + e] =
                t < P ? past_v[((b * Hkv + h) * P + t) * Ev + e]
                      : vin[at4(three, Hkv, L, Ev, b, h, t - P, e)];
        }
  }
  const float scale_attr = ctx.node.attr_float("scale", 0.0f);
  const double scale =
      ctx.node.has_attr("scale") ? scale_attr : 1.0 / std::sqrt(static_cast<double>(E));
  const double sq = std::sqrt(scale);
  const double softcap = ctx.node.attr_float("softcap", 0.0f);
  const bool causal = ctx.node.attr_int("is_causal", 0) != 0;
  const int64_t mode = ctx.node.attr_int("qk_matmul_output_mode", 0);
  const double ninf = -std::numeric_limits<double>::infinity();
  // Bias (B, Hq, S, T) from the mask (broadcast), padded with -inf past the mask's length.
  std::vector<double> bias(B * Hq * S * T, 0.0);
  if (ctx.has_input(3)) {
    const Tensor& m = ctx.in(3);
    const int64_t ml = m.dim(-1);
    Shape full{B, Hq, S, ml};
    std::vector<double> mv = to_f64(m);
    const bool is_bool = m.dtype() == DType::Bool;
    for_each_broadcast<1>(full, {&m.shape()}, [&](int64_t i, const std::array<int64_t, 1>& o) {
      const int64_t row = i / ml, j = i % ml;
      bias[row * T + j] = is_bool ? (mv[o[0]] != 0 ? 0.0 : ninf) : mv[o[0]];
    });
    for (int64_t row = 0; row < B * Hq * S; ++row)
      for (int64_t j = ml; j < T; ++j) bias[row * T + j] = ninf;
  }
  std::vector<int64_t> nonpad;
  if (ctx.has_input(6)) {
    nonpad = ctx.in(6).to_i64_vector();
    if (static_cast<int64_t>(nonpad.size()) != B)
      return ctx.fail("nonpad_kv_seqlen must have {} elements", B);
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t t = 0; t < T; ++t) {
          double& bv = bias[((b * Hq + h) * S + s) * T + t];
          if (causal) {
            const int64_t offset = (!has_past && !nonpad.empty()) ? nonpad[b] - S : P;
            if (t > s + offset) bv += ninf;
          }
          if (!nonpad.empty() && t >= nonpad[b]) bv += ninf;
        }
  std::vector<double> y(B * Hq * S * Ev, 0.0);
  std::vector<double> qk_out(ctx.outputs.size() > 3 ? B * Hq * S * T : 0);
  const int64_t rep = Hq / Hkv;
#pragma omp parallel for if (B * Hq * S * T * (E + Ev) > 65536)
  for (int64_t bhs = 0; bhs < B * Hq * S; ++bhs) {
    const int64_t b = bhs / (Hq * S), h = (bhs / S) % Hq, s = bhs % S, hk = h / rep;
    std::vector<double> row(T);
    for (int64_t t = 0; t < T; ++t) {
      double dot = 0;
      for (int64_t e = 0; e < E; ++e)
        dot += (q[at4(three, Hq, S, E, b, h, s, e)] * sq) *
               (pk[((b * Hkv + hk) * T + t) * E + e] * sq);
      if (softcap > 0) dot = softcap * std::tanh(dot / softcap);
      if (mode <= 1 && !qk_out.empty()) qk_out[bhs * T + t] = dot;
      row[t] = dot + bias[bhs * T + t];
      if (mode == 2 && !qk_out.empty()) qk_out[bhs * T + t] = row[t];
    }
    double m = ninf;
    for (double v : row) m = std::max(m, v);
    double sum = 0;
    for (double& v : row) {
      v = std::exp(v - m);
      sum += v;
    }
    for (double& v : row) v /= sum;
    if (mode == 3 && !qk_out.empty())
      for (int64_t t = 0; t < T; ++t) qk_out[bhs * T + t] = row[t];
    for (int64_t t = 0; t < T; ++t) {
      const double p = row[t];
      const double* vr = &pv[((b * Hkv + hk) * T + t) * Ev];
      for (int64_t e = 0; e < Ev; ++e) y[at4(three, Hq, S, Ev, b, h, s, e)] += p * vr[e];
    }
  }
  CONDENSE_TRY(store_f64(ctx, ctx.out(0), y));
  if (ctx.outputs.size() > 1 && ctx.out(1).defined()) CONDENSE_TRY(store_f64(ctx, ctx.out(1), pk));
  if (ctx.outputs.size() > 2 && ctx.out(2).defined()) CONDENSE_TRY(store_f64(ctx, ctx.out(2), pv));
  if (ctx.outputs.size() > 3 && ctx.out(3).defined())
    CONDENSE_TRY(store_f64(ctx, ctx.out(3), qk_out));
  return Status::ok();
}

// RotaryEmbedding: X (B, H, S, E) or (B, S, H*E). The first `rotary_embedding_dim` (default E)
// channels of every head are rotated in pairs (x1, x2): halves [0, R/2) / [R/2, R), or
// interleaved (2i, 2i+1): x1' = cos*x1 - sin*x2, x2' = sin*x1 + cos*x2, with cos/sin at
// position_ids[b, s] of (max_pos, R/2) caches, or at [b, s] of (B, S, R/2) caches.
Status ref_RotaryEmbedding(KernelCtx& ctx) {
  const Tensor& xt = ctx.in(0);
  const bool three = xt.rank() == 3;
  const int64_t B = xt.dim(0);
  int64_t H, S, E;
  if (three) {
    H = ctx.node.attr_int("num_heads", 0);
    if (H <= 0) return ctx.fail("3-D input needs num_heads");
    S = xt.dim(1), E = xt.dim(2) / H;
  } else {
    H = xt.dim(1), S = xt.dim(2), E = xt.dim(3);
  }
  int64_t R = ctx.node.attr_int("rotary_embedding_dim", 0);
  if (R == 0) R = E;
  if (R < 0 || R > E || R % 2) return ctx.fail("rotary_embedding_dim {} is invalid", R);
  const int64_t half = R / 2;
  const bool inter = ctx.node.attr_int("interleaved", 0) != 0;
  std::vector<double> x = to_f64(xt), cs = to_f64(ctx.in(1)), sn = to_f64(ctx.in(2));
  std::vector<int64_t> pos;
  int64_t max_pos = 0;
  if (ctx.has_input(3)) {
    pos = ctx.in(3).to_i64_vector();
    max_pos = ctx.in(1).dim(0);
    if (static_cast<int64_t>(pos.size()) != B * S)
      return ctx.fail("position_ids must be ({}, {})", B, S);
  }
  if (static_cast<int64_t>(cs.size()) != static_cast<int64_t>(sn.size()))
    return ctx.fail("cache shapes differ");
  std::vector<double> y = x;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      int64_t crow = b * S + s;
      if (!pos.empty()) {
        crow = pos[b * S + s];
        if (crow < 0 || crow >= max_pos)
          return ctx.fail("position id {} is out of range [0, {})", crow, max_pos);
      }
      if ((crow + 1) * half > static_cast<int64_t>(cs.size()))
        return ctx.fail("caches are too small");
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < half; ++i) {
          const int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
          const int64_t o1 = at4(three, H, S, E, b, h, s, i1),
                        o2 = at4(three, H, S, E, b, h, s, i2);
          const double c = cs[crow * half + i], sv = sn[crow * half + i];
          y[o1] = c * x[o1] - sv * x[o2];
          y[o2] = sv * x[o1] + c * x[o2];
        }
    }
  return store_f64(ctx, ctx.out(0), y);
}

}  // namespace condense
