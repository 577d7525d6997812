// fp16 MatMul/Gemm on AVX-512: halves converted to f32 in registers (vcvtph2ps), f32 FMAs over a
// tile of up to 4 rows x 64 columns, the weights streamed from their panel (lowbit_packed.h).
// Callers check cpu_has_avx512_vnni() (which includes AVX-512F) first.
#if defined(__GNUC__) && !defined(__clang__)            // a GCC-only warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see lowbit_matmul_avx512vnni.cpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "kernels/lowbit/lowbit_packed.h"

namespace condense::lowbit {

namespace {

constexpr int64_t kRowChunk = 64;

inline __mmask16 tail_mask(int64_t i, int64_t n) {
  const int64_t valid = std::clamp<int64_t>(n - i, 0, 16);
  return static_cast<__mmask16>((1u << valid) - 1u);
}

template <int MR, int G>
void f16_tile(const PackedF16& p, int64_t panel, const float* x, float* y) {
  __m512 acc[MR][G];
  for (int g = 0; g < G; ++g) {
    const __m512 b = p.bias.size() > 0 ? _mm512_load_ps(p.bias.data() + panel * kPanel + g * 16)
                                       : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) acc[r][g] = b;
  }
  const uint16_t* w = p.w.data() + panel * kPanel * p.K;
  for (int64_t k = 0; k < p.K; ++k) {
    __m512 wv[G];
    for (int g = 0; g < G; ++g)
      wv[g] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(w + g * 16)));
    w += G * 16;
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * p.K + k]);
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_fmadd_ps(xv, wv[g], acc[r][g]);
    }
  }
  for (int g = 0; g < G; ++g) {
    const int64_t col = panel * kPanel + g * 16;
    for (int r = 0; r < MR; ++r)
      _mm512_mask_storeu_ps(y + r * p.N + col, tail_mask(col, p.N), acc[r][g]);
  }
}

template <int G>
void f16_item(const PackedF16& p, int64_t panel, int64_t m0, int64_t m1, const float* x, float* y) {
  for (int64_t m = m0; m < m1; m += 4) {
    const float* xr = x + m * p.K;
    float* yr = y + m * p.N;
    switch (std::min<int64_t>(4, m1 - m)) {
      case 1:
        f16_tile<1, G>(p, panel, xr, yr);
        break;
      case 2:
        f16_tile<2, G>(p, panel, xr, yr);
        break;
      case 3:
        f16_tile<3, G>(p, panel, xr, yr);
        break;
      default:
        f16_tile<4, G>(p, panel, xr, yr);
        break;
    }
  }
}

// Batches of >= kBlockedRows rows: a block of kKBlock k of the panel is converted to f32 once
// (t: kKBlock x kPanel) and used by every row of the item, which accumulate in ybuf (rows x
// kPanel); converting per 4-row tile would convert the weights rows / 4 times.
constexpr int64_t kKBlock = 256;
constexpr int64_t kBlockedRows = 8;

template <int MR, int G>
void f16_block_tile(const float* t, int64_t kn, const float* x, int64_t ldx, float* yb) {
  __m512 acc[MR][G];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_load_ps(yb + r * kPanel + g * 16);
  for (int64_t k = 0; k < kn; ++k) {
    __m512 wv[G];
    for (int g = 0; g < G; ++g) wv[g] = _mm512_load_ps(t + k * kPanel + g * 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_fmadd_ps(xv, wv[g], acc[r][g]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) _mm512_store_ps(yb + r * kPanel + g * 16, acc[r][g]);
}

template <int G>
void f16_item_blocked(const PackedF16& p, int64_t panel, int64_t m0, int64_t m1, const float* x,
                      float* y, float* t, float* ybuf) {
  const int64_t rows = m1 - m0;
  for (int64_t i = 0; i < rows; ++i)
    for (int g = 0; g < G; ++g)
      _mm512_store_ps(ybuf + i * kPanel + g * 16,
                      p.bias.size() > 0 ? _mm512_load_ps(p.bias.data() + panel * kPanel + g * 16)
                                        : _mm512_setzero_ps());
  const uint16_t* w = p.w.data() + panel * kPanel * p.K;
  for (int64_t k0 = 0; k0 < p.K; k0 += kKBlock) {
    const int64_t kn = std::min(kKBlock, p.K - k0);
    for (int64_t k = 0; k < kn; ++k)
      for (int g = 0; g < G; ++g)
        _mm512_store_ps(t + k * kPanel + g * 16,
                        _mm512_cvtph_ps(_mm256_load_si256(
                            reinterpret_cast<const __m256i*>(w + (k0 + k) * G * 16 + g * 16))));
    for (int64_t i = 0; i < rows; i += 4) {
      const float* xr = x + (m0 + i) * p.K + k0;
      float* yb = ybuf + i * kPanel;
      switch (std::min<int64_t>(4, rows - i)) {
        case 1:
          f16_block_tile<1, G>(t, kn, xr, p.K, yb);
          break;
        case 2:
          f16_block_tile<2, G>(t, kn, xr, p.K, yb);
          break;
        case 3:
          f16_block_tile<3, G>(t, kn, xr, p.K, yb);
          break;
        default:
          f16_block_tile<4, G>(t, kn, xr, p.K, yb);
          break;
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int g = 0; g < G; ++g) {
      const int64_t col = panel * kPanel + g * 16;
      _mm512_mask_storeu_ps(y + (m0 + i) * p.N + col, tail_mask(col, p.N),
                            _mm512_load_ps(ybuf + i * kPanel + g * 16));
    }
}

template <int G>
void f16_dispatch(const PackedF16& p, int64_t panel, int64_t m0, int64_t m1, const float* x,
                  float* y, float* t, float* ybuf) {
  if (m1 - m0 >= kBlockedRows)
    f16_item_blocked<G>(p, panel, m0, m1, x, y, t, ybuf);
  else
    f16_item<G>(p, panel, m0, m1, x, y);
}

}  // namespace

void f16_matmul_avx512(const PackedF16& p, const uint16_t* x, int64_t M, float* y, float* xf) {
  const int64_t total = M * p.K;
  for (int64_t i = 0; i < total; i += 16) {
    const __mmask16 m = tail_mask(i, total);
    _mm512_mask_storeu_ps(xf + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
  }
  const int64_t panels = (p.N_pad + kPanel - 1) / kPanel;
  const int64_t chunks = (M + kRowChunk - 1) / kRowChunk;
  const int64_t items = panels * chunks;
#pragma omp parallel if (items > 1)
  {
    AlignedArray<float> t(kKBlock * kPanel), ybuf(kRowChunk * kPanel);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t panel = it / chunks, c = it % chunks;
      const int64_t m0 = c * kRowChunk, m1 = std::min(M, m0 + kRowChunk);
      switch (std::min(kPanel, p.N_pad - panel * kPanel) / 16) {
        case 1:
          f16_dispatch<1>(p, panel, m0, m1, xf, y, t.data(), ybuf.data());
          break;
        case 2:
          f16_dispatch<2>(p, panel, m0, m1, xf, y, t.data(), ybuf.data());
          break;
        case 3:
          f16_dispatch<3>(p, panel, m0, m1, xf, y, t.data(), ybuf.data());
          break;
        default:
          f16_dispatch<4>(p, panel, m0, m1, xf, y, t.data(), ybuf.data());
          break;
      }
    }
  }
}

}  // namespace condense::lowbit
