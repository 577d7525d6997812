// AVX-512 loops of the 8-bit integer kernels (src/kernels/x86/qlinear_avx512.cpp, compiled with
// AVX-512 flags; call only when cpu_has_avx512bw()). Arithmetic as the reference kernels
// (src/kernels/ref/quant_contrib.cpp) do it, so results are bit-identical.
#pragma once

#include <cstdint>

namespace condense::int8_internal {

bool cpu_has_avx512bw();

// y[i] = saturate(round(fma(a[i] - za, ra, (b[i] - zb) * rb)) + zy), i in [0, n); T = uint8_t
// or int8_t. relu: clamped at zy from below (a fused Relu). Same for the global average.
template <typename T>
void qlinear_add_avx512(const T* a, const T* b, T* y, int64_t n, int32_t za, int32_t zb, int32_t zy,
                        float ra, float rb, bool relu);

// Channels-last global average: x (rows, C) of one image -> y (C):
// y[c] = saturate(round(float(sum_r (x[r, c] - zx)) * mult) + zy).
template <typename T>
void qlinear_gap_nhwc_avx512(const T* x, T* y, int64_t rows, int64_t C, int32_t zx, int32_t zy,
                             float mult, bool relu);

// Per-tensor QuantizeLinear from f32: y[i] = saturate(round(x[i] / scale) + zp) (NaN -> zp), and
// DequantizeLinear to f32: y[i] = float(x[i] - zp) * scale, as the reference kernels compute.
template <typename T>
void quantize_f32_avx512(const float* x, T* y, int64_t n, float scale, int32_t zp);
template <typename T>
void dequantize_f32_avx512(const T* x, float* y, int64_t n, float scale, int32_t zp);

}  // namespace condense::int8_internal
