// Reference kernels of the fused low-bit MatMuls (include/condense/ops/lowbit.inc), built from
// the reference kernels of the ops they replace, so they compute exactly what the unfused
// pattern computes: the oracle for the fast kernels (src/kernels/x86/lowbit_*_avx512*.cpp).
#include "kernels/kernel.h"
#include "ops/nn_activation.h"

namespace condense {

Status ref_DynamicQuantizeLinear(KernelCtx&);
Status ref_MatMulInteger(KernelCtx&);
Status ref_DequantizeLinear(KernelCtx&);

namespace {

// Element n of a per-column parameter of 1 or N elements.
float column(const Tensor* t, int64_t n) {
  if (!t) return 0.f;
  return t->data<float>()[t->numel() == 1 ? 0 : n];
}

}  // namespace

// x (..., K) -> DynamicQuantizeLinear -> MatMulInteger(w (K, N)) -> Cast -> Mul -> [Add], with
// the same f32 operations in the same order: y = float(acc) * (x_scale * w_scale[n]) + bias[n].
Status ref_DynamicQuantMatMul(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor q_outs[] = {Tensor::empty(DType::U8, x.shape()), Tensor::empty(DType::F32, {}),
                     Tensor::empty(DType::U8, {})};
  const Tensor* q_in[] = {&x};
  KernelCtx qctx{ctx.node, q_in, q_outs, ctx.threads};
  CONDENSE_TRY(ref_DynamicQuantizeLinear(qctx));
  Tensor& y = ctx.out(0);
  const Tensor* mm_in[] = {&q_outs[0], &w, &q_outs[2], &ctx.in(2)};
  Tensor mm_out[] = {Tensor::empty(DType::I32, y.shape())};
  KernelCtx mctx{ctx.node, mm_in, mm_out, ctx.threads};
  CONDENSE_TRY(ref_MatMulInteger(mctx));
  const int64_t N = w.dim(1), total = y.numel();
  const float x_scale = q_outs[1].data<float>()[0];
  const Tensor* bias = ctx.has_input(4) ? &ctx.in(4) : nullptr;
  const int32_t* pa = mm_out[0].data<int32_t>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < total; ++i) {
    const int64_t n = i % N;
    const float s = x_scale * column(&ctx.in(3), n);
    float v = static_cast<float>(pa[i]) * s;
    if (bias) v = v + column(bias, n);
    py[i] = v;
  }
  return Status::ok();
}

// W = DequantizeLinear(w, w_scale, w_zero_point) with the node's axis / block_size, then
// y = act(alpha * x @ W (+ beta * bias)), accumulated in double; act: a fused activation.
Status ref_WeightOnlyMatMul(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* dq_in[] = {&w, &ctx.in(2), ctx.has_input(3) ? &ctx.in(3) : nullptr};
  Tensor dq_out[] = {Tensor::empty(DType::F32, w.shape())};
  KernelCtx dctx{ctx.node, std::span<const Tensor* const>(dq_in, ctx.has_input(3) ? 3 : 2), dq_out,
                 ctx.threads};
  CONDENSE_TRY(ref_DequantizeLinear(dctx));
  const bool tb = ctx.node.attr_int("transB", 0) != 0;
  const double alpha = ctx.node.attr_float("alpha", 1.f), beta = ctx.node.attr_float("beta", 1.f);
  const int64_t K = tb ? w.dim(1) : w.dim(0), N = tb ? w.dim(0) : w.dim(1);
  const int64_t M = x.numel() / K;
  const FusedActivation act = fused_activation(ctx.node).value_or(FusedActivation{});
  // W'[k, n] = wf[k * sk + n * sn].
  const int64_t sk = tb ? 1 : N, sn = tb ? K : 1;
  const float* px = x.data<float>();
  const float* pw = dq_out[0].data<float>();
  const Tensor* bias = ctx.has_input(4) ? &ctx.in(4) : nullptr;
  float* py = ctx.out(0).data<float>();
#pragma omp parallel for if (M * N * K > 100000)
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(px[m * K + k]) * static_cast<double>(pw[k * sk + n * sn]);
      double v = alpha * acc;
      if (bias) v += beta * static_cast<double>(column(bias, n));
      py[m * N + n] = static_cast<float>(apply_fused_activation(act, v));
    }
  }
  return Status::ok();
}

}  // namespace condense
