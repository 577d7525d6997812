// Dispatch for the half <-> f32 array conversions (half_convert.h): AVX-512 when the CPU has it,
// the scalar float_to_half / float_to_bf16 rules otherwise; parallel above kGrainCheap elements.
#include "kernels/half/half_convert.h"

#include <algorithm>

#include "kernels/ref/elementwise_loop.h"

namespace condense {

bool half_convert_has_avx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return yes;
}

namespace {

template <typename From, typename To, typename Fast, typename Slow>
void convert(const From* x, To* y, int64_t n, Fast fast, Slow slow) {
  const bool avx512 = half_convert_has_avx512();
  ew::run_flat(n, ew::kGrainCheap, [&](int64_t b, int64_t e) {
    if (avx512) {
      fast(x + b, y + b, e - b);
      return;
    }
    for (int64_t i = b; i < e; ++i) y[i] = slow(x[i]);
  });
}

}  // namespace

void f16_to_f32(const uint16_t* x, float* y, int64_t n) {
  convert(x, y, n, f16_to_f32_avx512, half_to_float);
}
void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  convert(x, y, n, f32_to_f16_avx512, float_to_half);
}
void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  convert(x, y, n, bf16_to_f32_avx512, bf16_to_float);
}
void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  convert(x, y, n, f32_to_bf16_avx512, float_to_bf16);
}

Tensor half_to_f32_tensor(const Tensor& t) {
  Tensor f = Tensor::empty(DType::F32, t.shape());
  const auto* bits = static_cast<const uint16_t*>(t.raw());
  switch (t.dtype()) {
    case DType::F16:
      f16_to_f32(bits, f.data<float>(), t.numel());
      break;
    case DType::BF16:
      bf16_to_f32(bits, f.data<float>(), t.numel());
      break;
    default:
      CONDENSE_CHECK_MSG(t.dtype() == DType::F32, "half_to_f32_tensor: not a float tensor");
      std::copy_n(t.data<float>(), t.numel(), f.data<float>());
  }
  return f;
}

void f32_to_half_tensor(const Tensor& src, Tensor& dst) {
  CONDENSE_CHECK_MSG(src.dtype() == DType::F32 && src.numel() == dst.numel(),
                     "f32_to_half_tensor: f32 source of the destination's size expected");
  auto* bits = static_cast<uint16_t*>(dst.raw());
  switch (dst.dtype()) {
    case DType::F16:
      f32_to_f16(src.data<float>(), bits, src.numel());
      break;
    case DType::BF16:
      f32_to_bf16(src.data<float>(), bits, src.numel());
      break;
    default:
      CONDENSE_CHECK_MSG(dst.dtype() == DType::F32, "f32_to_half_tensor: not a float tensor");
      std::copy_n(src.data<float>(), src.numel(), dst.data<float>());
  }
}

}  // namespace condense
