// fp16 MatMul/Gemm (`condense quantize --dtype fp16` models) with constant fp16 weights: the
// weights stay halves, packed at create (lowbit_packed.h), and are converted to f32 in registers
// (src/kernels/x86/half_matmul_avx512.cpp); f32 accumulation, Gemm's beta * C as an f32 bias,
// a fused activation in f32, then one rounding to half (as the reference computes in float and
// rounds once). Declines (reference kernel) without AVX-512, transA, alpha != 1, a variable B
// or C, and C that is not per column.
#include <vector>

#include "kernels/half/half_convert.h"
#include "kernels/kernel.h"
#include "kernels/lowbit/lowbit_packed.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {
using namespace lowbit;

class MatMulF16 final : public Kernel {
 public:
  MatMulF16(bool gemm, PackedF16 p, FusedActivation act)
      : gemm_(gemm), p_(std::move(p)), act_(act) {}
  std::string_view name() const override { return gemm_ ? "gemm_f16_avx512" : "matmul_f16_avx512"; }
  Status run(KernelCtx& ctx) override {
    const Tensor& a = ctx.in(0);
    Tensor& y = ctx.out(0);
    if (a.dtype() != DType::F16 || y.dtype() != DType::F16 || a.rank() < 1 ||
        a.shape().back() != p_.K || a.numel() == 0 || p_.N == 0)
      return ref_kernel_fn(ctx.node.op)(ctx);
    const int64_t M = a.numel() / p_.K;
    xf_.resize(static_cast<size_t>(M * p_.K));
    yf_.resize(static_cast<size_t>(M * p_.N));
    f16_matmul_avx512(p_, reinterpret_cast<const uint16_t*>(a.raw()), M, yf_.data(), xf_.data());
    if (act_.kind != FusedAct::None)
      for (float& v : yf_) v = apply_fused_activation(act_, v);
    f32_to_f16(yf_.data(), reinterpret_cast<uint16_t*>(y.raw()), M * p_.N);
    return Status::ok();
  }

 private:
  bool gemm_;
  PackedF16 p_;
  FusedActivation act_;
  std::vector<float> xf_, yf_;  // x in f32 (M, K), y before rounding (M, N)
};

Result<std::unique_ptr<Kernel>> make_f16(const KernelCreateCtx& ctx, bool gemm) {
  static const bool avx512 = cpu_has_avx512_vnni();
  const ir::Node& n = ctx.node;
  const Tensor* b = ctx.constant_inputs.size() > 1 ? ctx.constant_inputs[1] : nullptr;
  if (!avx512 || !b || b->dtype() != DType::F16 || b->rank() != 2) return std::unique_ptr<Kernel>();
  const auto act = fused_activation(n);
  if (!act) return std::unique_ptr<Kernel>();
  const bool tb = gemm && n.attr_int("transB", 0) != 0;
  if (gemm && (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f))
    return std::unique_ptr<Kernel>();
  PackedF16 p;
  p.K = tb ? b->dim(1) : b->dim(0);
  p.N = tb ? b->dim(0) : b->dim(1);
  p.N_pad = round_up(p.N, kLanes);
  if (gemm && n.input(2)) {
    const Tensor* c = ctx.constant_inputs.size() > 2 ? ctx.constant_inputs[2] : nullptr;
    if (!c || c->dtype() != DType::F16 || (c->numel() != 1 && c->numel() != p.N) ||
        (c->rank() == 2 && c->dim(0) != 1))
      return std::unique_ptr<Kernel>();
    const float beta = n.attr_float("beta", 1.f);
    p.bias = AlignedArray<float>(p.N_pad);
    for (int64_t j = 0; j < p.N_pad; ++j)
      p.bias[j] =
          j < p.N ? beta * static_cast<float>(c->data<Half>()[c->numel() == 1 ? 0 : j]) : 0.f;
  }
  const uint16_t* src = reinterpret_cast<const uint16_t*>(b->raw());
  p.w = AlignedArray<uint16_t>(p.K * p.N_pad);
  for (int64_t panel = 0; panel * kPanel < p.N_pad; ++panel) {
    const int64_t cols = std::min(kPanel, p.N_pad - panel * kPanel);
    uint16_t* dst = p.w.data() + panel * kPanel * p.K;
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t j = panel * kPanel + c;
        *dst++ = j < p.N ? src[tb ? j * p.K + k : k * p.N + j] : uint16_t{0};
      }
  }
  return std::unique_ptr<Kernel>(std::make_unique<MatMulF16>(gemm, std::move(p), *act));
}
}  // namespace

Result<std::unique_ptr<Kernel>> make_f16_matmul(const KernelCreateCtx& ctx) {
  return make_f16(ctx, false);
}
Result<std::unique_ptr<Kernel>> make_f16_gemm(const KernelCreateCtx& ctx) {
  return make_f16(ctx, true);
}

}  // namespace condense
