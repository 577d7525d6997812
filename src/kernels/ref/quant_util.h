// Helpers shared by the quant reference kernels: widening integer tensors (including packed
// 4-bit) to int32, storing saturated int32 values back, and ONNX's quantize step.
#pragma once

#include <condense/tensor.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace condense {

// Range of a quantized integer dtype (I8, U8, I16, U16, I32, I4, U4).
struct QRange {
  int64_t lo, hi;
};
QRange qrange(DType t);

// All elements of an integer tensor (I8, U8, I16, U16, I32, I4, U4) as int32.
std::vector<int32_t> widen_to_i32(const Tensor& t);
// Writes values (already within the dtype's range) into t (I8, U8, I16, U16, I32, I4, U4).
void store_from_i32(Tensor& t, const std::vector<int32_t>& v);
// All elements of a float or int tensor as float / double.
std::vector<float> load_f32(const Tensor& t);
std::vector<double> load_f64(const Tensor& t);

// saturate(round_half_even(v) + zp) into [r.lo, r.hi]; NaN maps to zp (then saturated).
inline int32_t quantize_value(double v, int32_t zp, QRange r) {
  double q = std::isnan(v) ? 0.0 : std::nearbyint(v);  // default FE_TONEAREST: half to even
  q += zp;
  if (q < static_cast<double>(r.lo)) q = static_cast<double>(r.lo);
  if (q > static_cast<double>(r.hi)) q = static_cast<double>(r.hi);
  return static_cast<int32_t>(q);
}

}  // namespace condense
