// Fast per-tensor QuantizeLinear (f32 -> u8 / s8) and DequantizeLinear (u8 / s8 -> f32) with
// constant scalar scale and zero point: the edges of a quantized model's integer part (its input,
// and what stays float). AVX-512 loops of kernels/x86/qlinear_avx512.cpp, bit-identical to the
// reference kernels (f32 division / multiplication, round half to even, saturation); everything
// else (per-axis, blocked, f16 scales, other dtypes) runs the reference kernel.
#include <omp.h>

#include "kernels/int8/qlinear_avx512.h"
#include "kernels/kernel.h"

namespace condense {

namespace {
using namespace int8_internal;

class QuantizeF32Int8 final : public Kernel {
 public:
  QuantizeF32Int8(OpKind op, float scale, int32_t zp) : op_(op), scale_(scale), zp_(zp) {}
  std::string_view name() const override {
    return op_ == OpKind::QuantizeLinear ? "quantize_f32_int8_avx512"
                                         : "dequantize_int8_f32_avx512";
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    const bool quantize = op_ == OpKind::QuantizeLinear;
    const DType int_type = quantize ? y.dtype() : x.dtype();
    if ((quantize && x.dtype() != DType::F32) || (!quantize && y.dtype() != DType::F32) ||
        (int_type != DType::U8 && int_type != DType::I8))
      return ref_kernel_fn(op_)(ctx);
    const int64_t n = x.numel();
    constexpr int64_t kChunk = 16384;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    const int threads = static_cast<int>(std::min<int64_t>(ctx.threads, chunks));
    auto loop = [&](auto* ints) {
#pragma omp parallel for num_threads(threads) if (threads > 1)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
        if (quantize)
          quantize_f32_avx512(x.data<float>() + lo, ints + lo, len, scale_, zp_);
        else
          dequantize_f32_avx512(ints + lo, y.data<float>() + lo, len, scale_, zp_);
      }
    };
    Tensor& ti = quantize ? y : const_cast<Tensor&>(x);
    if (int_type == DType::U8)
      loop(ti.data<uint8_t>());
    else
      loop(ti.data<int8_t>());
    return Status::ok();
  }

 private:
  OpKind op_;
  float scale_;
  int32_t zp_;
};

Result<std::unique_ptr<Kernel>> make(const KernelCreateCtx& ctx) {
  auto none = [] { return std::unique_ptr<Kernel>(); };
  if (!cpu_has_avx512bw()) return none();
  const auto& c = ctx.constant_inputs;
  const Tensor* s = c.size() > 1 ? c[1] : nullptr;
  const Tensor* z = c.size() > 2 ? c[2] : nullptr;
  if (!s || s->dtype() != DType::F32 || s->numel() != 1 || !z || z->numel() != 1 ||
      (z->dtype() != DType::U8 && z->dtype() != DType::I8))
    return none();
  if (ctx.node.attr_int("block_size", 0) != 0) return none();
  // QuantizeLinear-21's output_dtype, when set, must agree with the zero point (infer checks).
  return std::unique_ptr<Kernel>(std::make_unique<QuantizeF32Int8>(
      ctx.node.op, s->data<float>()[0], static_cast<int32_t>(z->get_f64(0))));
}
}  // namespace

Result<std::unique_ptr<Kernel>> make_quantize_linear_int8(const KernelCreateCtx& ctx) {
  return make(ctx);
}
Result<std::unique_ptr<Kernel>> make_dequantize_linear_int8(const KernelCreateCtx& ctx) {
  return make(ctx);
}

}  // namespace condense
