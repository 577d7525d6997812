// Whole-array conversions between the half types and f32, for kernels that compute half models
// in f32. fp16 -> f32 and bf16 -> f32 are exact; f32 -> fp16 and f32 -> bf16 round to nearest
// even (as float_to_half / float_to_bf16 in condense/dtype.h, which the scalar paths use).
// AVX-512 (vcvtph2ps / vcvtps2ph, shifts for bf16) where the CPU has it; large arrays are split
// over the OpenMP threads.
#pragma once

#include <condense/tensor.h>

#include <cstdint>

namespace condense {

void f16_to_f32(const uint16_t* x, float* y, int64_t n);
void f32_to_f16(const float* x, uint16_t* y, int64_t n);
void bf16_to_f32(const uint16_t* x, float* y, int64_t n);
void f32_to_bf16(const float* x, uint16_t* y, int64_t n);

// `t` (F16, BF16 or F32) as a new f32 tensor of the same shape.
Tensor half_to_f32_tensor(const Tensor& t);
// Writes f32 `src` into `dst` (F16, BF16 or F32, same element count), rounding once.
void f32_to_half_tensor(const Tensor& src, Tensor& dst);

// The AVX-512 paths (src/kernels/x86/half_convert_avx512.cpp); call only when
// half_convert_has_avx512().
bool half_convert_has_avx512();
void f16_to_f32_avx512(const uint16_t* x, float* y, int64_t n);
void f32_to_f16_avx512(const float* x, uint16_t* y, int64_t n);
void bf16_to_f32_avx512(const uint16_t* x, float* y, int64_t n);
void f32_to_bf16_avx512(const float* x, uint16_t* y, int64_t n);

}  // namespace condense
