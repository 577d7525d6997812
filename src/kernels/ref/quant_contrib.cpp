// Reference kernels of ONNX Runtime's quantized contrib ops (src/ops/quant_contrib.cpp).
// Arithmetic in f32, in exactly the order the fast kernels (kernels/int8/) use, so that they
// agree bit for bit: QLinearAdd computes fma(A - A_zp, A_scale / C_scale, (B - B_zp) *
// (B_scale / C_scale)), then rounds half to even, adds C_zp and saturates.
#include <algorithm>
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/quant_util.h"

namespace condense {

namespace {
float scalar_f32(const KernelCtx& ctx, size_t i) {
  return ctx.in(i).data<float>()[0];
}
int32_t scalar_zp(const KernelCtx& ctx, size_t i) {
  return ctx.has_input(i) ? static_cast<int32_t>(ctx.in(i).get_f64(0)) : 0;
}
// A Relu fused by the QDQ lowering ("_activation" = Relu): a clamp at the output zero point.
void clamp_fused_relu(const KernelCtx& ctx, std::vector<int32_t>& q, int32_t zy) {
  if (ctx.node.attr_string("_activation", "") != "Relu") return;
  for (int32_t& v : q) v = std::max(v, zy);
}
}  // namespace

Status ref_QLinearAdd(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  const float ra = scalar_f32(ctx, 1) / scalar_f32(ctx, 6);
  const float rb = scalar_f32(ctx, 4) / scalar_f32(ctx, 6);
  const int32_t za = scalar_zp(ctx, 2), zb = scalar_zp(ctx, 5), zy = scalar_zp(ctx, 7);
  const std::vector<int32_t> av = widen_to_i32(a), bv = widen_to_i32(b);
  const QRange r = qrange(y.dtype());
  std::vector<int32_t> q(y.numel());
  for_each_broadcast<2>(y.shape(), {&a.shape(), &b.shape()},
                        [&](int64_t i, const std::array<int64_t, 2>& o) {
                          const float vb = static_cast<float>(bv[o[1]] - zb) * rb;
                          const float v = std::fma(static_cast<float>(av[o[0]] - za), ra, vb);
                          q[i] = quantize_value(v, zy, r);
                        });
  clamp_fused_relu(ctx, q, zy);
  store_from_i32(y, q);
  return Status::ok();
}

// y = saturate(round(sum(x - x_zp) * (x_scale / (y_scale * count))) + y_zp) per channel; the
// integer sum is exact, the multiplier is f32.
Status ref_QLinearGlobalAveragePool(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const bool channels_last = ctx.node.attr_int("channels_last", 0) != 0;
  const int64_t N = x.dim(0), C = channels_last ? x.dim(-1) : x.dim(1);
  const int64_t S = N * C != 0 ? x.numel() / (N * C) : 0;
  const int32_t zx = scalar_zp(ctx, 2), zy = scalar_zp(ctx, 4);
  const float mult =
      scalar_f32(ctx, 1) / (scalar_f32(ctx, 3) * static_cast<float>(std::max<int64_t>(S, 1)));
  const std::vector<int32_t> xv = widen_to_i32(x);
  const QRange r = qrange(y.dtype());
  std::vector<int32_t> q(y.numel());
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      int64_t sum = 0;
      for (int64_t s = 0; s < S; ++s)
        sum += xv[channels_last ? (n * S + s) * C + c : (n * C + c) * S + s] - zx;
      q[n * C + c] = quantize_value(static_cast<float>(sum) * mult, zy, r);
    }
  }
  clamp_fused_relu(ctx, q, zy);
  store_from_i32(y, q);
  return Status::ok();
}

// acc[m, n] = sum_k (A'[m, k] - a_zp)(B'[k, n] - b_zp[n]) in int32, s = alpha * acc + C in f32;
// float output: a_scale * b_scale[n] * s; quantized: saturate(round(s * (a_scale * b_scale[n] /
// y_scale)) + y_zp).
Status ref_QGemm(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor& y = ctx.out(0);
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const float alpha = ctx.node.attr_float("alpha", 1.f);
  const int64_t M = y.dim(0), N = y.dim(1), K = ta ? a.dim(0) : a.dim(1);
  const std::vector<int32_t> av = widen_to_i32(a), bv = widen_to_i32(b);
  const int32_t za = scalar_zp(ctx, 2);
  const std::vector<int32_t> zb =
      ctx.has_input(5) ? widen_to_i32(ctx.in(5)) : std::vector<int32_t>(1, 0);
  const std::vector<float> sb = load_f32(ctx.in(4));
  const std::vector<int32_t> c =
      ctx.has_input(6) ? widen_to_i32(ctx.in(6)) : std::vector<int32_t>();
  const bool c_full = ctx.has_input(6) && ctx.in(6).rank() == 2;
  const float sa = scalar_f32(ctx, 1);
  const bool quantized = ctx.has_input(7);
  const float sy = quantized ? scalar_f32(ctx, 7) : 1.f;
  const int32_t zy = quantized ? scalar_zp(ctx, 8) : 0;
  const QRange r = quantized ? qrange(y.dtype()) : QRange{0, 0};
  std::vector<int32_t> q(quantized ? y.numel() : 0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      const int32_t zbn = zb.size() == 1 ? zb[0] : zb[n];
      int32_t acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += (av[ta ? k * M + m : m * K + k] - za) * (bv[tb ? n * K + k : k * N + n] - zbn);
      const float scale = sa * sb[sb.size() == 1 ? 0 : n];
      const float cv = c.empty() ? 0.f : static_cast<float>(c[c_full ? m * N + n : n]);
      const float sum = alpha * static_cast<float>(acc) + cv;
      // Quantized: one multiplier scale / y_scale in f32 (as QLinearConv's reference), product
      // in double.
      if (quantized)
        q[m * N + n] = quantize_value(static_cast<double>(sum) * (scale / sy), zy, r);
      else
        y.data<float>()[m * N + n] = scale * sum;
    }
  }
  if (quantized) {
    clamp_fused_relu(ctx, q, zy);
    store_from_i32(y, q);
  } else if (ctx.node.attr_string("_activation", "") == "Relu") {
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = std::max(y.data<float>()[i], 0.f);
  }
  return Status::ok();
}

}  // namespace condense
