// Cast between f32 and fp16 / bf16 (the Casts at the edges of a `condense quantize --dtype`
// model, and between its half and f32 parts): whole-array conversions (half_convert.h), the
// reference's rounding (nearest even). Other casts run on the reference kernel.
#include "kernels/half/half_convert.h"
#include "kernels/kernel.h"

namespace condense {

namespace {

bool is_half(DType d) {
  return d == DType::F16 || d == DType::BF16;
}

class CastHalf final : public Kernel {
 public:
  std::string_view name() const override { return "cast_half_avx512"; }
  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    const bool widen = is_half(x.dtype()) && y.dtype() == DType::F32;
    const bool narrow = x.dtype() == DType::F32 && is_half(y.dtype());
    if ((!widen && !narrow) || x.numel() != y.numel()) return ref_kernel_fn(ctx.node.op)(ctx);
    if (narrow) {
      f32_to_half_tensor(x, y);
    } else if (x.dtype() == DType::F16) {
      f16_to_f32(static_cast<const uint16_t*>(x.raw()), y.data<float>(), x.numel());
    } else {
      bf16_to_f32(static_cast<const uint16_t*>(x.raw()), y.data<float>(), x.numel());
    }
    return Status::ok();
  }
};

}  // namespace

Result<std::unique_ptr<Kernel>> make_cast_half(const KernelCreateCtx& ctx) {
  if (!half_convert_has_avx512() || ctx.input_dtypes.empty()) return std::unique_ptr<Kernel>();
  const auto to = dtype_from_onnx(static_cast<int>(ctx.node.attr_int("to", 0)));
  const DType from = ctx.input_dtypes[0];
  if (!to || !((is_half(from) && *to == DType::F32) || (from == DType::F32 && is_half(*to))))
    return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<CastHalf>());
}

}  // namespace condense
