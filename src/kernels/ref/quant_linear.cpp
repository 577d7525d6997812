// Reference kernels for integer matmul / conv: MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv. Operands are widened to int32 with their zero points subtracted, products are
// accumulated in int32, and the QLinear* ops requantize with round half to even + saturation.
#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/quant_util.h"
#include "ops/infer.h"
#include "ops/quant_shape.h"

namespace condense {

namespace {

// v (elements of a tensor of `shape`) -= zero point `zp` broadcast to `shape`. A 1-D zp whose
// length is the row count of a matrix operand (rows = true, shape (..., M, K)) is per row.
Status subtract_zero_point(const KernelCtx& ctx, std::vector<int32_t>& v, const Shape& shape,
                           const Tensor* zp, bool rows, const char* what) {
  if (!zp) return Status::ok();
  std::vector<int32_t> z = widen_to_i32(*zp);
  if (z.size() == 1) {
    for (int32_t& x : v) x -= z[0];
    return Status::ok();
  }
  Shape zs = zp->shape();
  if (rows && zs.size() == 1 && shape.size() >= 2) zs = {zs[0], 1};
  auto b = broadcast_shapes(zs, shape);
  if (!b || *b != shape)
    return ctx.fail("{} {} does not fit its operand {}", what, shape_str(zp->shape()),
                    shape_str(shape));
  for_each_broadcast<1>(shape, {&zs},
                        [&](int64_t i, const std::array<int64_t, 1>& o) { v[i] -= z[o[0]]; });
  return Status::ok();
}

// acc (..., M, N) = a (..., M, K) x b (..., K, N) in int32, numpy matmul broadcasting.
void matmul_i32(const std::vector<int32_t>& a, const Shape& a_shape0, const std::vector<int32_t>& b,
                const Shape& b_shape0, const Shape& y_shape, int32_t* y) {
  Shape as = a_shape0, bs = b_shape0;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  Shape batch(y_shape.begin(),
              y_shape.end() - (a_shape0.size() > 1 ? 1 : 0) - (b_shape0.size() > 1 ? 1 : 0));
  std::vector<int64_t> off_a, off_b;
  for_each_broadcast<2>(batch, {&batch_a, &batch_b}, [&](int64_t, const std::array<int64_t, 2>& o) {
    off_a.push_back(o[0]);
    off_b.push_back(o[1]);
  });
  const int64_t nb = static_cast<int64_t>(off_a.size());
#pragma omp parallel for if (nb * M * N * K > 100000)
  for (int64_t bm = 0; bm < nb * M; ++bm) {
    const int64_t bi = bm / M, m = bm % M;
    const int32_t* ra = a.data() + off_a[bi] * M * K + m * K;
    const int32_t* mb = b.data() + off_b[bi] * K * N;
    int32_t* ry = y + bi * M * N + m * N;
    for (int64_t n = 0; n < N; ++n) ry[n] = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t av = ra[k];
      if (av == 0) continue;
      const int32_t* rb = mb + k * N;
      for (int64_t n = 0; n < N; ++n) ry[n] += av * rb[n];
    }
  }
}

// A Relu fused by the QDQ lowering (passes/lower_qdq.cpp: "_activation" = Relu where the
// output's saturation does not imply it): relu before quantizing is a clamp at the zero point.
void clamp_fused_relu(const KernelCtx& ctx, std::vector<int32_t>& q, int32_t zy) {
  if (ctx.node.attr_string("_activation", "") != "Relu") return;
  for (int32_t& v : q) v = std::max(v, zy);
}

// Rounds v to the precision of dtype t (f16/bf16), as arithmetic in that type would.
float round_to(DType t, float v) {
  if (t == DType::F16) return static_cast<float>(Half(v));
  if (t == DType::BF16) return static_cast<float>(BFloat16(v));
  return v;
}

}  // namespace

Status ref_MatMulInteger(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  std::vector<int32_t> av = widen_to_i32(a), bv = widen_to_i32(b);
  CONDENSE_TRY(subtract_zero_point(ctx, av, a.shape(), ctx.has_input(2) ? &ctx.in(2) : nullptr,
                                   true, "a_zero_point"));
  CONDENSE_TRY(subtract_zero_point(ctx, bv, b.shape(), ctx.has_input(3) ? &ctx.in(3) : nullptr,
                                   false, "b_zero_point"));
  matmul_i32(av, a.shape(), bv, b.shape(), ctx.out(0).shape(), ctx.out(0).data<int32_t>());
  return Status::ok();
}

// y = saturate(round((a - a_zp)(b - b_zp) * (a_scale * b_scale / y_scale)) + y_zp); a_scale may
// be per row of a, b_scale per column of b. The multiplier is computed in the scales' precision.
Status ref_QLinearMatMul(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  std::vector<int32_t> av = widen_to_i32(a), bv = widen_to_i32(b);
  CONDENSE_TRY(subtract_zero_point(ctx, av, a.shape(), &ctx.in(2), true, "a_zero_point"));
  CONDENSE_TRY(subtract_zero_point(ctx, bv, b.shape(), &ctx.in(5), false, "b_zero_point"));
  std::vector<int32_t> acc(y.numel());
  matmul_i32(av, a.shape(), bv, b.shape(), y.shape(), acc.data());
  const int64_t M = a.rank() >= 2 ? a.dim(-2) : 1, N = b.rank() >= 2 ? b.dim(-1) : 1;
  std::vector<float> sa = load_f32(ctx.in(1)), sb = load_f32(ctx.in(4)), sy = load_f32(ctx.in(6));
  if ((sa.size() != 1 && static_cast<int64_t>(sa.size()) != M) ||
      (sb.size() != 1 && static_cast<int64_t>(sb.size()) != N) || sy.size() != 1)
    return ctx.fail("scales must be per tensor, a_scale per row ({}) or b_scale per column ({})", M,
                    N);
  const DType st = ctx.in(1).dtype();
  const int32_t zy = widen_to_i32(ctx.in(7))[0];
  const QRange r = qrange(y.dtype());
  std::vector<int32_t> q(y.numel());
  const int64_t n_total = y.numel();
  for (int64_t i = 0; i < n_total; ++i) {
    const int64_t n = i % N, m = (i / N) % M;
    const float ma = sa.size() == 1 ? sa[0] : sa[m];
    const float mb = sb.size() == 1 ? sb[0] : sb[n];
    const float mult = round_to(st, round_to(st, ma * mb) / sy[0]);
    q[i] = quantize_value(static_cast<double>(acc[i]) * mult, zy, r);
  }
  clamp_fused_relu(ctx, q, zy);
  store_from_i32(y, q);
  return Status::ok();
}

namespace {

// y (N, M, O...) = conv(x (N, C, D...), w (M, C/group, k...)) on zero-point-shifted int32
// values; padding contributes 0 (the shifted zero point).
void conv_i32(const std::vector<int32_t>& x, const Shape& xs, const std::vector<int32_t>& w,
              const Shape& ws, const ConvGeometry& g, int32_t* y) {
  const size_t nd = xs.size() - 2;
  const int64_t N = xs[0], C = xs[1], M = ws[0], Cg = C / g.group, Mg = M / g.group;
  int64_t in_sp = 1, out_sp = 1, k_sp = 1;
  for (size_t d = 0; d < nd; ++d) {
    in_sp *= xs[d + 2];
    out_sp *= g.out[d + 2];
    k_sp *= ws[d + 2];
  }
  // Per kernel position: its coordinate in each spatial dim.
  std::vector<int64_t> kcoord(k_sp * nd);
  for (int64_t k = 0; k < k_sp; ++k) {
    int64_t r = k;
    for (size_t d = nd; d-- > 0;) {
      kcoord[k * nd + d] = r % ws[d + 2];
      r /= ws[d + 2];
    }
  }
#pragma omp parallel for if (N * M * out_sp * Cg * k_sp > 200000)
  for (int64_t nm = 0; nm < N * M; ++nm) {
    const int64_t n = nm / M, m = nm % M, grp = m / Mg;
    std::vector<int64_t> ocoord(nd), base(nd);
    std::vector<int64_t> in_off(k_sp);
    std::vector<char> valid(k_sp);
    for (int64_t o = 0; o < out_sp; ++o) {
      int64_t r = o;
      for (size_t d = nd; d-- > 0;) {
        ocoord[d] = r % g.out[d + 2];
        r /= g.out[d + 2];
        base[d] = ocoord[d] * g.strides[d] - g.pads[d];
      }
      for (int64_t k = 0; k < k_sp; ++k) {
        int64_t off = 0;
        bool ok = true;
        for (size_t d = 0; d < nd; ++d) {
          const int64_t p = base[d] + kcoord[k * nd + d] * g.dilations[d];
          if (p < 0 || p >= xs[d + 2]) {
            ok = false;
            break;
          }
          off = off * xs[d + 2] + p;
        }
        valid[k] = ok;
        in_off[k] = off;
      }
      int32_t acc = 0;
      for (int64_t c = 0; c < Cg; ++c) {
        const int32_t* px = x.data() + (n * C + grp * Cg + c) * in_sp;
        const int32_t* pw = w.data() + (m * Cg + c) * k_sp;
        for (int64_t k = 0; k < k_sp; ++k)
          if (valid[k]) acc += px[in_off[k]] * pw[k];
      }
      y[nm * out_sp + o] = acc;
    }
  }
}

// w -= w_zero_point (scalar or one per output channel).
Status subtract_channel_zp(const KernelCtx& ctx, std::vector<int32_t>& w, int64_t M,
                           const Tensor* zp) {
  if (!zp) return Status::ok();
  std::vector<int32_t> z = widen_to_i32(*zp);
  if (z.size() != 1 && static_cast<int64_t>(z.size()) != M)
    return ctx.fail("w_zero_point must be a scalar or have {} elements", M);
  const int64_t per = M ? static_cast<int64_t>(w.size()) / M : 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < per; ++i) w[m * per + i] -= z.size() == 1 ? z[0] : z[m];
  return Status::ok();
}

}  // namespace

Status ref_ConvInteger(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  CONDENSE_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ctx.node, x.shape(), w.shape()));
  std::vector<int32_t> xv = widen_to_i32(x), wv = widen_to_i32(w);
  if (ctx.has_input(2)) {
    std::vector<int32_t> z = widen_to_i32(ctx.in(2));
    if (z.size() != 1) return ctx.fail("x_zero_point must be a scalar");
    for (int32_t& v : xv) v -= z[0];
  }
  CONDENSE_TRY(subtract_channel_zp(ctx, wv, w.dim(0), ctx.has_input(3) ? &ctx.in(3) : nullptr));
  conv_i32(xv, x.shape(), wv, w.shape(), g, ctx.out(0).data<int32_t>());
  return Status::ok();
}

// y = saturate(round((conv(x - x_zp, w - w_zp) + B) * (x_scale * w_scale[m] / y_scale)) + y_zp).
Status ref_QLinearConv(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(3);
  Tensor& y = ctx.out(0);
  CONDENSE_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ctx.node, x.shape(), w.shape()));
  const int64_t M = w.dim(0);
  if (y.numel() == 0) return Status::ok();
  std::vector<int32_t> xv = widen_to_i32(x), wv = widen_to_i32(w);
  std::vector<int32_t> zx = widen_to_i32(ctx.in(2));
  if (zx.size() != 1) return ctx.fail("x_zero_point must be a scalar");
  for (int32_t& v : xv) v -= zx[0];
  CONDENSE_TRY(subtract_channel_zp(ctx, wv, M, &ctx.in(5)));
  std::vector<int32_t> acc(y.numel());
  conv_i32(xv, x.shape(), wv, w.shape(), g, acc.data());
  std::vector<float> sx = load_f32(ctx.in(1)), sw = load_f32(ctx.in(4)), sy = load_f32(ctx.in(6));
  if (sx.size() != 1 || sy.size() != 1 || (sw.size() != 1 && static_cast<int64_t>(sw.size()) != M))
    return ctx.fail("x_scale and y_scale must be scalars, w_scale a scalar or per channel");
  std::vector<int32_t> bias = ctx.has_input(8) ? widen_to_i32(ctx.in(8)) : std::vector<int32_t>();
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != M)
    return ctx.fail("bias must have {} elements", M);
  const DType st = ctx.in(1).dtype();
  const int32_t zy = widen_to_i32(ctx.in(7))[0];
  const QRange r = qrange(y.dtype());
  const int64_t sp = M ? y.numel() / (y.dim(0) * M) : 0;
  std::vector<int32_t> q(y.numel());
  for (int64_t i = 0; i < y.numel(); ++i) {
    const int64_t m = (i / sp) % M;
    const float mult = round_to(st, round_to(st, sx[0] * (sw.size() == 1 ? sw[0] : sw[m])) / sy[0]);
    const int64_t v = static_cast<int64_t>(acc[i]) + (bias.empty() ? 0 : bias[m]);
    q[i] = quantize_value(static_cast<double>(v) * mult, zy, r);
  }
  clamp_fused_relu(ctx, q, zy);
  store_from_i32(y, q);
  return Status::ok();
}

}  // namespace condense
