// AVX-512 VNNI kernels for the fused low-bit MatMuls (layouts: src/kernels/lowbit/lowbit_packed.h).
// Compiled with -mavx512{f,bw,vl,dq,vnni}; callers check cpu_has_avx512_vnni() first.
//
// Both integer kernels run vpdpbusd (u8 x s8, four products per 32-bit lane, exact int32 sums)
// over a tile of MR rows x G groups of 16 columns, the weights streamed from their panel once
// per tile; threads split (panel, row chunk) work items.
//   dynamic int8:  activations u8 (DynamicQuantizeLinear, per tensor) x weights s8; zero points
//                  corrected after the sum with precomputed column sums and row sums.
//   weight-only:   weights u8 codes (int4 nibbles unpacked in registers) x activations s8
//                  quantized per row and block of K; per block, the sum is corrected for the
//                  weight zero point and scaled into an f32 accumulator.
// GCC 12's AVX-512 headers start horizontal reductions (_mm512_reduce_*) from an "undefined"
// vector, which -Wmaybe-uninitialized reports inside the header; it is not a bug here.
#if defined(__GNUC__) && !defined(__clang__)  // a GCC-only warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/lowbit/lowbit_packed.h"

namespace condense::lowbit {

namespace {

constexpr int64_t kRowChunk = 64;  // rows per work item: a panel stays in L2 across its tiles

inline __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline __mmask16 column_mask(int64_t col0, int64_t n) {
  const int64_t valid = std::clamp<int64_t>(n - col0, 0, 16);
  return static_cast<__mmask16>((1u << valid) - 1u);
}

// Work items: (panel, chunk of kRowChunk rows), panel-major. Handed out dynamically: on a
// shared machine a thread that loses its core for a while must not hold half of the work.
template <typename F>
void for_each_work_item(int64_t n_pad, int64_t m, F&& f) {
  const int64_t panels = (n_pad + kPanel - 1) / kPanel;
  const int64_t chunks = (m + kRowChunk - 1) / kRowChunk;
  const int64_t items = panels * chunks;
#pragma omp parallel for schedule(dynamic) if (items > 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t p = it / chunks, c = it % chunks;
    f(p, c * kRowChunk, std::min(m, (c + 1) * kRowChunk));
  }
}

// Calls f.template operator()<G>() for G = groups (1..4).
template <typename F>
void with_groups(int64_t groups, F&& f) {
  switch (groups) {
    case 1:
      f.template operator()<1>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    default:
      f.template operator()<4>();
      break;
  }
}

template <typename F>
void with_rows(int64_t rows, F&& f) {
  switch (rows) {
    case 1:
      f.template operator()<1>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    default:
      f.template operator()<4>();
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Dynamic int8.

// DynamicQuantizeLinear of all of x (M x K) into s.xq (M x K_pad, zero padded) and the row sums
// of the codes; returns (scale, zero point) exactly as the reference computes them.
std::pair<float, int32_t> quantize_dynamic(const float* x, int64_t M, int64_t K, int64_t K_pad,
                                           LowbitScratch& s) {
  const int64_t total = M * K;
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
  for (int64_t i = 0; i < total; i += 16) {
    const __mmask16 m = column_mask(i, total);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    vlo = _mm512_min_ps(v, vlo);  // NaN in v: the second operand, as the reference skips NaN
    vhi = _mm512_max_ps(v, vhi);
  }
  const float lo = _mm512_reduce_min_ps(vlo), hi = _mm512_reduce_max_ps(vhi);
  const float scale = (hi - lo) / 255.f;
  int32_t zp = 0;
  if (scale > 0) {
    const float z = -lo / scale;
    zp = std::isnan(z) ? 0 : static_cast<int32_t>(std::clamp(std::nearbyint(z), 0.f, 255.f));
  }
  uint8_t* xq = s.xq.data();
  int32_t* rowsum = s.xsum.data();
  if (!(scale > 0)) {
    std::memset(xq, 0, static_cast<size_t>(M * K_pad));
    std::fill(rowsum, rowsum + M, 0);
    return {scale, zp};
  }
  const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps(static_cast<float>(zp));
  const __m512 v0 = _mm512_setzero_ps(), v255 = _mm512_set1_ps(255.f);
#pragma omp parallel for schedule(static) if (total > (1 << 16))
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    uint8_t* qr = xq + m * K_pad;
    __m512i sum = _mm512_setzero_si512();
    for (int64_t k = 0; k < K; k += 16) {
      const __mmask16 mk = column_mask(k, K);
      __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(mk, xr + k), vs);
      q = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(q, q, _CMP_ORD_Q), q);  // NaN -> 0, then + zp
      q = _mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, vz), v0), v255);
      const __m512i qi = _mm512_cvtps_epi32(q);
      sum = _mm512_mask_add_epi32(sum, mk, sum, qi);
      _mm_mask_storeu_epi8(qr + k, mk, _mm512_cvtepi32_epi8(qi));
    }
    std::memset(qr + K, 0, static_cast<size_t>(K_pad - K));
    rowsum[m] = _mm512_reduce_add_epi32(sum);
  }
  return {scale, zp};
}

// y[m0..m0+MR, panel p] for the dynamic kernel. a: MR rows of codes (K_pad each).
template <int MR, int G>
void dynamic_tile(const PackedDynamicInt8& p, int64_t panel, const uint8_t* const* a,
                  const int32_t* rowsum, float x_scale, int32_t x_zp, float* const* y) {
  // Batch 1 has MR * G independent sums only: a second set halves the dependency chains.
  constexpr int U = MR == 1 ? 2 : 1;
  __m512i acc[U][MR][G];
  for (int u = 0; u < U; ++u)
    for (int r = 0; r < MR; ++r)
      for (int g = 0; g < G; ++g) acc[u][r][g] = _mm512_setzero_si512();
  const int8_t* w = p.w.data() + panel * kPanel * p.K_pad;
  for (int64_t k = 0; k < p.K_pad; k += 4 * U) {
    for (int u = 0; u < U; ++u) {
      __m512i wv[G];
      for (int g = 0; g < G; ++g) wv[g] = _mm512_load_si512(w + g * 64);
      w += G * 64;
      for (int r = 0; r < MR; ++r) {
        const __m512i av = bcast4(a[r] + k + 4 * u);
        for (int g = 0; g < G; ++g) acc[u][r][g] = _mm512_dpbusd_epi32(acc[u][r][g], av, wv[g]);
      }
    }
  }
  // sum (x - x_zp)(w - w_zp) = acc - x_zp * colsum - w_zp * (rowsum - K * x_zp)
  const __m512i vxzp = _mm512_set1_epi32(x_zp);
  const __m512 vxs = _mm512_set1_ps(x_scale);
  for (int g = 0; g < G; ++g) {
    const int64_t col = panel * kPanel + g * kLanes;
    const __mmask16 mask = column_mask(col, p.N);
    if (!mask) continue;
    const __m512i cs = _mm512_mullo_epi32(vxzp, _mm512_load_si512(p.colsum.data() + col));
    const __m512i wzp = _mm512_load_si512(p.zp.data() + col);
    // x_scale * w_scale in f32, then times the sum: the unfused graph's two Muls, same order.
    const __m512 s = _mm512_mul_ps(vxs, _mm512_load_ps(p.scale.data() + col));
    for (int r = 0; r < MR; ++r) {
      __m512i v = acc[0][r][g];
      if constexpr (U == 2) v = _mm512_add_epi32(v, acc[1][r][g]);
      const __m512i rs = _mm512_set1_epi32(rowsum[r] - static_cast<int32_t>(p.K) * x_zp);
      v = _mm512_sub_epi32(_mm512_sub_epi32(v, cs), _mm512_mullo_epi32(wzp, rs));
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), s);
      if (p.bias.size() > 0) f = _mm512_add_ps(f, _mm512_load_ps(p.bias.data() + col));
      _mm512_mask_storeu_ps(y[r] + col, mask, f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Weight-only.

// Per row and block of K: int8 codes q = round(x * 127 / amax) in s.xq (M x K_pad, zero
// padded), scale amax / 127 in s.xscale and the sum of the codes in s.xsum ((M, blocks) each).
void quantize_blocks_s8(const float* x, int64_t M, const PackedWeightOnly& p, LowbitScratch& s) {
  const int64_t K = p.K, B = p.block;
  const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512i q_lo = _mm512_set1_epi32(-127), q_hi = _mm512_set1_epi32(127);
#pragma omp parallel for schedule(static) if (M * K > (1 << 16))
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    int8_t* qr = reinterpret_cast<int8_t*>(s.xq.data() + m * p.K_pad);
    for (int64_t b = 0; b < p.blocks; ++b) {
      const int64_t k0 = b * B, k1 = std::min(K, k0 + B);
      __m512 amax = _mm512_setzero_ps();
      __mmask16 nan = 0;
      for (int64_t k = k0; k < k1; k += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(column_mask(k, k1), xr + k);
        amax = _mm512_max_ps(_mm512_and_ps(v, sign), amax);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      }
      const float a = _mm512_reduce_max_ps(amax);
      const __m512 inv = _mm512_set1_ps(a > 0 ? 127.f / a : 0.f);
      __m512i sum = _mm512_setzero_si512();
      for (int64_t k = k0; k < k1; k += 16) {
        const __mmask16 mk = column_mask(k, k1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, xr + k), inv);
        // Nearest, ties to even (MXCSR default); clamped: x * (127 / amax) may round to 127.00002.
        const __m512i q = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), q_lo), q_hi);
        sum = _mm512_mask_add_epi32(sum, mk, sum, q);
        _mm_mask_storeu_epi8(qr + k, mk, _mm512_cvtepi32_epi8(q));
      }
      if (k1 < k0 + B) std::memset(qr + k1, 0, static_cast<size_t>(k0 + B - k1));
      // A NaN in the block makes its scale NaN, so the row's outputs are NaN as in f32.
      s.xscale[m * p.blocks + b] = nan ? std::numeric_limits<float>::quiet_NaN() : a / 127.f;
      s.xsum[m * p.blocks + b] = _mm512_reduce_add_epi32(sum);
    }
  }
}

const uint8_t* panel_weights(const PackedWeightOnly& p, int64_t panel) {
  return p.w.data() + panel * kPanel * p.K_pad * p.bits / 8;
}

// Unsigned weight codes of one k step for G groups: 4-bit steps hold 8 k (two vectors per group:
// low nibbles k..k+3, high nibbles k+4..k+7), 8-bit steps 4 k.
template <int Bits, int G>
inline void load_codes(const uint8_t* w, __m512i (&wv)[2][G]) {
  for (int g = 0; g < G; ++g) {
    const __m512i v = _mm512_load_si512(w + g * 64);
    if constexpr (Bits == 4) {
      const __m512i lo = _mm512_set1_epi8(0x0f);
      wv[0][g] = _mm512_and_si512(v, lo);
      wv[1][g] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
    } else {
      wv[0][g] = v;
    }
  }
}

template <int Bits, int MR, int G>
void weight_only_tile(const PackedWeightOnly& p, int64_t panel, int64_t m0, const LowbitScratch& s,
                      float* const* y) {
  constexpr int H = Bits == 4 ? 2 : 1;  // vectors of 4 k per loaded step
  const int64_t B = p.block;
  alignas(64) float yt[MR][kPanel];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g)
      _mm512_store_ps(yt[r] + g * 16, p.bias.size() > 0
                                          ? _mm512_load_ps(p.bias.data() + panel * kPanel + g * 16)
                                          : _mm512_setzero_ps());
  const uint8_t* a[MR];
  for (int r = 0; r < MR; ++r) a[r] = s.xq.data() + (m0 + r) * p.K_pad;
  const uint8_t* w = panel_weights(p, panel);
  for (int64_t b = 0; b < p.blocks; ++b) {
    __m512i acc[MR][G];
    for (int r = 0; r < MR; ++r)
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_si512();
    const int64_t kb = b * B;
    for (int64_t k = 0; k < B; k += 4 * H) {
      __m512i wv[2][G];
      load_codes<Bits, G>(w, wv);
      w += G * 64;
      for (int h = 0; h < H; ++h)
        for (int r = 0; r < MR; ++r) {
          const __m512i av = bcast4(a[r] + kb + k + 4 * h);
          for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbusd_epi32(acc[r][g], wv[h][g], av);
        }
    }
    // y += x_scale * w_scale * (acc - w_zp * sum(x codes)), per block.
    for (int g = 0; g < G; ++g) {
      const int64_t col = b * p.N_pad + panel * kPanel + g * kLanes;
      const __m512 ws = _mm512_load_ps(p.scale.data() + col);
      const __m512i wzp =
          _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p.zp.data() + col)));
      for (int r = 0; r < MR; ++r) {
        const int64_t rb = (m0 + r) * p.blocks + b;
        const __m512i v =
            _mm512_sub_epi32(acc[r][g], _mm512_mullo_epi32(wzp, _mm512_set1_epi32(s.xsum[rb])));
        const __m512 sc = _mm512_mul_ps(_mm512_set1_ps(s.xscale[rb]), ws);
        _mm512_store_ps(yt[r] + g * 16,
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), sc, _mm512_load_ps(yt[r] + g * 16)));
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    const int64_t col = panel * kPanel + g * kLanes;
    const __mmask16 mask = column_mask(col, p.N);
    for (int r = 0; r < MR; ++r)
      _mm512_mask_storeu_ps(y[r] + col, mask, _mm512_load_ps(yt[r] + g * 16));
  }
}

// Exact mode: dequantizes block b of a panel, (q - zp) * scale as DequantizeLinear computes it,
// into t (B x kPanel f32, row k).
template <int Bits, int G>
void dequantize_block(const PackedWeightOnly& p, int64_t panel, int64_t b, float* t) {
  const uint8_t* w = panel_weights(p, panel) + b * (p.block / (Bits == 4 ? 8 : 4)) * G * 64;
  __m512 zpf[G], sc[G];
  for (int g = 0; g < G; ++g) {
    const int64_t col = b * p.N_pad + panel * kPanel + g * kLanes;
    sc[g] = _mm512_load_ps(p.scale.data() + col);
    zpf[g] = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p.zp.data() + col))));
  }
  const __m512i byte = _mm512_set1_epi32(0xff);
  constexpr int H = Bits == 4 ? 2 : 1;
  for (int64_t k = 0; k < p.block; k += 4 * H) {
    __m512i wv[2][G];
    load_codes<Bits, G>(w, wv);
    w += G * 64;
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < 4; ++j)
        for (int g = 0; g < G; ++g) {
          const __m512i u = _mm512_and_si512(_mm512_srli_epi32(wv[h][g], 8 * j), byte);
          const __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(u), zpf[g]), sc[g]);
          _mm512_store_ps(t + (k + 4 * h + j) * kPanel + g * 16, v);
        }
  }
}

template <int Bits, int G>
void weight_only_f32_item(const PackedWeightOnly& p, int64_t panel, int64_t m_begin, int64_t m_end,
                          const float* x, float* y, float* t, float* ybuf) {
  const int64_t rows = m_end - m_begin;
  for (int64_t i = 0; i < rows; ++i)
    for (int g = 0; g < G; ++g)
      _mm512_store_ps(ybuf + i * kPanel + g * 16,
                      p.bias.size() > 0 ? _mm512_load_ps(p.bias.data() + panel * kPanel + g * 16)
                                        : _mm512_setzero_ps());
  for (int64_t b = 0; b < p.blocks; ++b) {
    dequantize_block<Bits, G>(p, panel, b, t);
    const int64_t k0 = b * p.block, kn = std::min(p.K, k0 + p.block) - k0;
    for (int64_t m0 = 0; m0 < rows; m0 += 4) {
      with_rows(std::min<int64_t>(4, rows - m0), [&]<int MR>() {
        __m512 acc[MR][G];
        for (int r = 0; r < MR; ++r)
          for (int g = 0; g < G; ++g) acc[r][g] = _mm512_load_ps(ybuf + (m0 + r) * kPanel + g * 16);
        const float* xr = x + (m_begin + m0) * p.K + k0;
        for (int64_t k = 0; k < kn; ++k) {
          __m512 wv[G];
          for (int g = 0; g < G; ++g) wv[g] = _mm512_load_ps(t + k * kPanel + g * 16);
          for (int r = 0; r < MR; ++r) {
            const __m512 xv = _mm512_set1_ps(xr[r * p.K + k]);
            for (int g = 0; g < G; ++g) acc[r][g] = _mm512_fmadd_ps(xv, wv[g], acc[r][g]);
          }
        }
        for (int r = 0; r < MR; ++r)
          for (int g = 0; g < G; ++g) _mm512_store_ps(ybuf + (m0 + r) * kPanel + g * 16, acc[r][g]);
      });
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int g = 0; g < G; ++g) {
      const int64_t col = panel * kPanel + g * kLanes;
      _mm512_mask_storeu_ps(y + (m_begin + i) * p.N + col, column_mask(col, p.N),
                            _mm512_load_ps(ybuf + i * kPanel + g * 16));
    }
}

int64_t panel_groups(int64_t n_pad, int64_t panel) {
  return std::min(kPanel, n_pad - panel * kPanel) / kLanes;
}

}  // namespace

std::pair<float, int32_t> dynamic_quantize_avx512(const PackedDynamicInt8& p, const float* x,
                                                  int64_t M, LowbitScratch& s) {
  if (s.rows < M || s.xq.size() < M * p.K_pad) {
    s.xq = AlignedArray<uint8_t>(M * p.K_pad);
    s.xsum = AlignedArray<int32_t>(M);
    s.rows = M;
  }
  return quantize_dynamic(x, M, p.K, p.K_pad, s);
}

void dynamic_int8_epilogue_avx512(const PackedDynamicInt8& p, const int32_t* acc, int64_t M,
                                  const LowbitScratch& s, float x_scale, int32_t x_zp, float* y) {
  const __m512 vxs = _mm512_set1_ps(x_scale);
#pragma omp parallel for schedule(static) if (M * p.N > (1 << 15))
  for (int64_t m = 0; m < M; ++m) {
    const __m512i rs = _mm512_set1_epi32(s.xsum[m] - static_cast<int32_t>(p.K) * x_zp);
    for (int64_t col = 0; col < p.N; col += 16) {
      const __mmask16 mask = column_mask(col, p.N);
      const __m512i a = _mm512_maskz_loadu_epi32(mask, acc + m * p.N + col);
      const __m512i v =
          _mm512_sub_epi32(a, _mm512_mullo_epi32(_mm512_load_si512(p.zp.data() + col), rs));
      const __m512 sc = _mm512_mul_ps(vxs, _mm512_load_ps(p.scale.data() + col));
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), sc);
      if (p.bias.size() > 0) f = _mm512_add_ps(f, _mm512_load_ps(p.bias.data() + col));
      _mm512_mask_storeu_ps(y + m * p.N + col, mask, f);
    }
  }
}

void dynamic_int8_matmul_avx512vnni(const PackedDynamicInt8& p, const float* x, int64_t M, float* y,
                                    LowbitScratch& s) {
  if (s.rows < M || s.xq.size() < M * p.K_pad) {
    s.xq = AlignedArray<uint8_t>(M * p.K_pad);
    s.xsum = AlignedArray<int32_t>(M);
    s.rows = M;
  }
  // Named copies: clang 14 does not let lambdas capture structured bindings.
  const auto q = quantize_dynamic(x, M, p.K, p.K_pad, s);
  const auto x_scale = q.first;
  const auto x_zp = q.second;
  for_each_work_item(p.N_pad, M, [&](int64_t panel, int64_t m_begin, int64_t m_end) {
    with_groups(panel_groups(p.N_pad, panel), [&]<int G>() {
      for (int64_t m0 = m_begin; m0 < m_end; m0 += 4) {
        with_rows(std::min<int64_t>(4, m_end - m0), [&]<int MR>() {
          const uint8_t* a[MR];
          float* yr[MR];
          for (int r = 0; r < MR; ++r) {
            a[r] = s.xq.data() + (m0 + r) * p.K_pad;
            yr[r] = y + (m0 + r) * p.N;
          }
          dynamic_tile<MR, G>(p, panel, a, s.xsum.data() + m0, x_scale, x_zp, yr);
        });
      }
    });
  });
}

void weight_only_matmul_avx512vnni(const PackedWeightOnly& p, const float* x, int64_t M, float* y,
                                   LowbitScratch& s) {
  if (s.rows < M || s.xq.size() < M * p.K_pad) {
    s.xq = AlignedArray<uint8_t>(M * p.K_pad);
    s.xsum = AlignedArray<int32_t>(M * p.blocks);
    s.xscale = AlignedArray<float>(M * p.blocks);
    s.rows = M;
  }
  quantize_blocks_s8(x, M, p, s);
  for_each_work_item(p.N_pad, M, [&](int64_t panel, int64_t m_begin, int64_t m_end) {
    with_groups(panel_groups(p.N_pad, panel), [&]<int G>() {
      for (int64_t m0 = m_begin; m0 < m_end; m0 += 4) {
        with_rows(std::min<int64_t>(4, m_end - m0), [&]<int MR>() {
          float* yr[MR];
          for (int r = 0; r < MR; ++r) yr[r] = y + (m0 + r) * p.N;
          if (p.bits == 4)
            weight_only_tile<4, MR, G>(p, panel, m0, s, yr);
          else
            weight_only_tile<8, MR, G>(p, panel, m0, s, yr);
        });
      }
    });
  });
}

void weight_only_matmul_f32_avx512(const PackedWeightOnly& p, const float* x, int64_t M, float* y) {
  const int64_t panels = (p.N_pad + kPanel - 1) / kPanel;
  const int64_t chunks = (M + kRowChunk - 1) / kRowChunk;
  const int64_t items = panels * chunks;
#pragma omp parallel if (items > 1)
  {
    AlignedArray<float> t(p.block * kPanel), ybuf(kRowChunk * kPanel);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t panel = it / chunks, c = it % chunks;
      const int64_t m_begin = c * kRowChunk, m_end = std::min(M, m_begin + kRowChunk);
      with_groups(panel_groups(p.N_pad, panel), [&]<int G>() {
        if (p.bits == 4)
          weight_only_f32_item<4, G>(p, panel, m_begin, m_end, x, y, t.data(), ybuf.data());
        else
          weight_only_f32_item<8, G>(p, panel, m_begin, m_end, x, y, t.data(), ybuf.data());
      });
    }
  }
}

}  // namespace condense::lowbit
