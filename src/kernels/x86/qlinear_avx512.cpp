// AVX-512 (F + BW) loops of the 8-bit integer kernels; see kernels/int8/qlinear_avx512.h.
// GCC 12 warns about the _mm512_undefined_* placeholders inside its own intrinsics at -O3
// (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)  // a GCC-only warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/int8/qlinear_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>

namespace condense::int8_internal {

namespace {
template <typename T>
__m512i widen16(const T* p, __mmask16 m) {
  const __m128i v = _mm_maskz_loadu_epi8(m, p);
  return std::is_same_v<T, uint8_t> ? _mm512_cvtepu8_epi32(v) : _mm512_cvtepi8_epi32(v);
}
// Rounds v (already clamped to the integer range minus zy) half to even, adds zy, stores 16
// saturated bytes.
template <typename T>
void store16(T* p, __m512 v, __m512i zy, __mmask16 m) {
  const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), zy);  // MXCSR: round half to even
  _mm_mask_storeu_epi8(p, m, _mm512_cvtepi32_epi8(q));
}
template <typename T>
constexpr int32_t lo() {
  return std::is_same_v<T, uint8_t> ? 0 : -128;
}
template <typename T>
constexpr int32_t hi() {
  return std::is_same_v<T, uint8_t> ? 255 : 127;
}
}  // namespace

bool cpu_has_avx512bw() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return has;
}

template <typename T>
void qlinear_add_avx512(const T* a, const T* b, T* y, int64_t n, int32_t za, int32_t zb, int32_t zy,
                        float ra, float rb, bool relu) {
  const __m512i vza = _mm512_set1_epi32(za), vzb = _mm512_set1_epi32(zb),
                vzy = _mm512_set1_epi32(zy);
  const __m512 vra = _mm512_set1_ps(ra), vrb = _mm512_set1_ps(rb);
  // Clamp bounds relative to zy; a fused Relu raises the lower one to 0 (real 0).
  const __m512 vlo = _mm512_set1_ps(
                   static_cast<float>(relu ? std::max(lo<T>() - zy, 0) : lo<T>() - zy)),
               vhi = _mm512_set1_ps(static_cast<float>(hi<T>() - zy));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 fa = _mm512_cvtepi32_ps(_mm512_sub_epi32(widen16(a + i, m), vza));
    const __m512 fb = _mm512_cvtepi32_ps(_mm512_sub_epi32(widen16(b + i, m), vzb));
    __m512 v = _mm512_fmadd_ps(fa, vra, _mm512_mul_ps(fb, vrb));
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    store16(y + i, v, vzy, m);
  }
}

template <typename T>
void qlinear_gap_nhwc_avx512(const T* x, T* y, int64_t rows, int64_t C, int32_t zx, int32_t zy,
                             float mult, bool relu) {
  const __m512i vzy = _mm512_set1_epi32(zy);
  const __m512 vm = _mm512_set1_ps(mult);
  // Clamp bounds relative to zy; a fused Relu raises the lower one to 0 (real 0).
  const __m512 vlo = _mm512_set1_ps(
                   static_cast<float>(relu ? std::max(lo<T>() - zy, 0) : lo<T>() - zy)),
               vhi = _mm512_set1_ps(static_cast<float>(hi<T>() - zy));
  // Sums of up to 2^23 bytes stay exact in int32 (and in f32 below 2^24).
  const __m512i vzx_rows = _mm512_set1_epi32(static_cast<int32_t>(zx * rows));
  for (int64_t c = 0; c < C; c += 16) {
    const __mmask16 m = C - c >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (C - c)) - 1);
    __m512i acc = _mm512_setzero_si512();
    for (int64_t r = 0; r < rows; ++r) acc = _mm512_add_epi32(acc, widen16(x + r * C + c, m));
    const __m512 s = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, vzx_rows));
    __m512 v = _mm512_mul_ps(s, vm);
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    store16(y + c, v, vzy, m);
  }
}

template <typename T>
void quantize_f32_avx512(const float* x, T* y, int64_t n, float scale, int32_t zp) {
  const __m512i vzp = _mm512_set1_epi32(zp);
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512 vlo = _mm512_set1_ps(static_cast<float>(lo<T>() - zp)),
               vhi = _mm512_set1_ps(static_cast<float>(hi<T>() - zp));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);  // NaN -> 0
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    store16(y + i, v, vzp, m);
  }
}

template <typename T>
void dequantize_f32_avx512(const T* x, float* y, int64_t n, float scale, int32_t zp) {
  const __m512i vzp = _mm512_set1_epi32(zp);
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(widen16(x + i, m), vzp));
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, vs));
  }
}

template void quantize_f32_avx512<uint8_t>(const float*, uint8_t*, int64_t, float, int32_t);
template void quantize_f32_avx512<int8_t>(const float*, int8_t*, int64_t, float, int32_t);
template void dequantize_f32_avx512<uint8_t>(const uint8_t*, float*, int64_t, float, int32_t);
template void dequantize_f32_avx512<int8_t>(const int8_t*, float*, int64_t, float, int32_t);
template void qlinear_add_avx512<uint8_t>(const uint8_t*, const uint8_t*, uint8_t*, int64_t,
                                          int32_t, int32_t, int32_t, float, float, bool);
template void qlinear_add_avx512<int8_t>(const int8_t*, const int8_t*, int8_t*, int64_t, int32_t,
                                         int32_t, int32_t, float, float, bool);
template void qlinear_gap_nhwc_avx512<uint8_t>(const uint8_t*, uint8_t*, int64_t, int64_t, int32_t,
                                               int32_t, float, bool);
template void qlinear_gap_nhwc_avx512<int8_t>(const int8_t*, int8_t*, int64_t, int64_t, int32_t,
                                              int32_t, float, bool);

}  // namespace condense::int8_internal
