// Low-bit weights packed for the u8 x s8 VNNI kernels (vpdpbusd: each 32-bit lane adds the dot
// product of 4 unsigned bytes with 4 signed bytes), shared by the generic side (packing at
// kernel create, src/kernels/lowbit/) and the AVX-512 side (src/kernels/x86/lowbit_*_avx512*).
//
// Columns are grouped in panels of up to kPanel = 64 (4 groups of 16 lanes); N is padded to a
// multiple of 16 and the last panel may hold 16, 32 or 48 columns. A panel's weights are one
// contiguous stream in the order the kernel reads them, so at batch 1 the kernel streams the
// weight bytes once, which is all the time there is:
//   8-bit: per step of 4 k: [group g][lane c][4 bytes k..k+3]            64 bytes per group
//   4-bit: per step of 8 k: [group g][lane c][4 bytes], byte j holding   64 bytes per group
//          k + j in its low nibble and k + 4 + j in its high nibble
// Panel p starts at byte p * kPanel * K_pad * bits / 8.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

namespace condense::lowbit {

constexpr int64_t kLanes = 16;
constexpr int64_t kPanel = 64;

inline int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

// 64-byte aligned array (whole cache lines for the streaming loads).
template <typename T>
class AlignedArray {
 public:
  AlignedArray() = default;
  explicit AlignedArray(int64_t n) : n_(n) {
    const size_t bytes = static_cast<size_t>(round_up(n * static_cast<int64_t>(sizeof(T)), 64));
    p_.reset(static_cast<T*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64)));
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  T& operator[](int64_t i) { return p_.get()[i]; }
  const T& operator[](int64_t i) const { return p_.get()[i]; }
  int64_t size() const { return n_; }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p_;
  int64_t n_ = 0;
};

// Dynamic int8: W (K, N) as signed bytes (uint8 weights shifted by -128, with their zero
// point), K padded to a multiple of 4 with zeros.
struct PackedDynamicInt8 {
  int64_t K = 0, N = 0, K_pad = 0, N_pad = 0;
  AlignedArray<int8_t> w;        // panels, 8-bit layout above
  AlignedArray<int32_t> colsum;  // (N_pad): sum over k of w[k, n] (signed)
  AlignedArray<int32_t> zp;      // (N_pad): the weight zero point per column (signed domain)
  AlignedArray<float> scale;     // (N_pad): w_scale per column
  AlignedArray<float> bias;      // (N_pad), or empty
};

// Weight-only int4/int8: W as unsigned codes u = q - q_min (0..15 or 0..255) with unsigned zero
// points, one scale and zero point per (block of `block` k, column). K_pad = blocks * block.
// Activations are quantized per row and block to int8 (s8), or stay f32 (exact mode: the kernel
// dequantizes a block of the panel into f32 and multiplies with FMAs).
struct PackedWeightOnly {
  int bits = 4;
  int64_t K = 0, N = 0, K_pad = 0, N_pad = 0, block = 0, blocks = 0;
  AlignedArray<uint8_t> w;    // panels, 4-bit or 8-bit layout above
  AlignedArray<float> scale;  // (blocks, N_pad): w_scale * alpha
  AlignedArray<uint8_t> zp;   // (blocks, N_pad): unsigned zero point
  AlignedArray<float> bias;   // (N_pad): beta * C, or empty
};

// Scratch for one run: quantized activations and their per-row (dynamic) or per-(row, block)
// (weight-only) sums and scales.
struct LowbitScratch {
  AlignedArray<uint8_t> xq;
  AlignedArray<int32_t> xsum;
  AlignedArray<float> xscale;
  int64_t rows = 0;
};

// AVX-512 VNNI entry points (src/kernels/x86/lowbit_matmul_avx512vnni.cpp). Call only when
// cpu_has_avx512_vnni(). x: (M, K) f32 row-major; y: (M, N) f32 row-major.
bool cpu_has_avx512_vnni();
void dynamic_int8_matmul_avx512vnni(const PackedDynamicInt8& p, const float* x, int64_t M, float* y,
                                    LowbitScratch& s);
// The two halves of dynamic_int8_matmul_avx512vnni around an integer GEMM done elsewhere
// (oneDNN, AMX): x -> s.xq (M x K_pad codes) and s.xsum (row sums), returning (x_scale, x_zp);
// then y = float(acc - w_zp * (rowsum - K * x_zp)) * (x_scale * w_scale) + bias, where acc
// (M, N) = sum over k of (x_q - x_zp) * w (signed weights).
std::pair<float, int32_t> dynamic_quantize_avx512(const PackedDynamicInt8& p, const float* x,
                                                  int64_t M, LowbitScratch& s);
void dynamic_int8_epilogue_avx512(const PackedDynamicInt8& p, const int32_t* acc, int64_t M,
                                  const LowbitScratch& s, float x_scale, int32_t x_zp, float* y);
void weight_only_matmul_avx512vnni(const PackedWeightOnly& p, const float* x, int64_t M, float* y,
                                   LowbitScratch& s);
void weight_only_matmul_f32_avx512(const PackedWeightOnly& p, const float* x, int64_t M, float* y);

}  // namespace condense::lowbit

namespace condense::lowbit {

// fp16 MatMul/Gemm: B (K, N) as IEEE halves in column panels, panel p at p * kPanel * K:
// [k][group g][16 lanes]. Converted to f32 in registers (vcvtph2ps); f32 FMAs.
struct PackedF16 {
  int64_t K = 0, N = 0, N_pad = 0;
  AlignedArray<uint16_t> w;
  AlignedArray<float> bias;  // (N_pad): beta * C, or empty
};

// x: (M, K) halves; y: (M, N) f32 (the caller applies an activation and rounds to half with
// f32_to_f16, kernels/half/half_convert.h). xf: scratch of M * K floats.
void f16_matmul_avx512(const PackedF16& p, const uint16_t* x, int64_t M, float* y, float* xf);

}  // namespace condense::lowbit
