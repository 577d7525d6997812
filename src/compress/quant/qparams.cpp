// Quantization parameters (scale, zero point) and weight quantization per tensor, per channel
// and per block, with ONNX QuantizeLinear's rounding and saturation.
#include <algorithm>
#include <cmath>
#include <limits>

#include "compress/quant/common.h"
#include "core/qparam_index.h"
#include "kernels/ref/quant_util.h"

namespace condense::quant {

IntRange quant_range(DType dtype, bool symmetric, bool reduce_range) {
  int bits = 8;
  bool is_signed = true;
  switch (dtype) {
    case DType::I8:
      break;
    case DType::U8:
      is_signed = false;
      break;
    case DType::I4:
      bits = 4;
      break;
    case DType::U4:
      bits = 4;
      is_signed = false;
      break;
    default:
      CONDENSE_CHECK_MSG(false, "quant_range: not a quantized integer type");
  }
  if (reduce_range && bits == 8) bits = 7;
  if (!is_signed) return {0, (1 << bits) - 1};
  const int32_t half = 1 << (bits - 1);
  // Symmetric signed drops the most negative value so that the grid is symmetric around 0.
  return {symmetric ? -(half - 1) : -half, half - 1};
}

ScaleZp compute_scale_zp(float lo, float hi, IntRange r, bool symmetric) {
  CONDENSE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi);
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  ScaleZp out;
  // Symmetric: the middle of the integer range (0 for signed types, 128 for uint8).
  const int32_t mid = static_cast<int32_t>(std::floor((double(r.lo) + double(r.hi) + 1.0) / 2.0));
  if (symmetric) {
    const float a = std::max(-lo, hi);
    lo = -a;
    hi = a;
  }
  if (lo == hi) {  // all zero: any scale represents it; 1 keeps later values unsaturated
    out.scale = 1.0f;
    out.zero_point = symmetric ? mid : r.lo;
    return out;
  }
  float diff = hi - lo;
  float scale = diff / static_cast<float>(r.hi - r.lo);
  if (!std::isfinite(diff)) scale = static_cast<float>((double(hi) - double(lo)) / (r.hi - r.lo));
  out.scale = std::max(scale, kMinScale);
  if (symmetric) {
    out.zero_point = mid;
  } else {
    const double z = double(r.lo) - std::nearbyint(double(lo / out.scale));
    out.zero_point = static_cast<int32_t>(std::clamp(z, double(r.lo), double(r.hi)));
  }
  return out;
}

int32_t quantize_value(float x, float scale, int32_t zero_point, IntRange r) {
  return condense::quantize_value(static_cast<double>(x / scale), zero_point, QRange{r.lo, r.hi});
}

Result<QuantizedTensor> quantize_weight(const Tensor& w, const WeightScheme& scheme,
                                        int64_t channel_axis, int64_t block_axis,
                                        std::string_view name) {
  if (w.dtype() != DType::F32)
    return Status::errorf("weight '{}' is {}; only f32 weights are quantized", name,
                          dtype_name(w.dtype()));
  const float* pw = w.data<float>();
  const int64_t n = w.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(pw[i]))
      return Status::errorf(
          "weight '{}' has {} at element {} of {}; quantization needs finite "
          "weights",
          name, std::isnan(pw[i]) ? "NaN" : "Inf", i, shape_str(w.shape()));
  QuantizedTensor out;
  QParamIndex slot;
  Shape scale_shape;
  if (scheme.granularity != Granularity::PerTensor && w.rank() > 0) {
    const int64_t axis = scheme.granularity == Granularity::PerChannel ? channel_axis : block_axis;
    if (axis < 0 || axis >= w.rank())
      return Status::errorf("weight '{}' {}: {} axis {} is out of range", name,
                            shape_str(w.shape()), granularity_name(scheme.granularity), axis);
    slot.axis_len = w.dim(axis);
    for (int64_t d = axis + 1; d < w.rank(); ++d) slot.inner *= w.dim(d);
    out.axis = axis;
    if (scheme.granularity == Granularity::PerChannel) {
      slot.mode = 1;
      scale_shape = {slot.axis_len};
    } else {
      slot.mode = 2;
      slot.block = scheme.block_size;
      slot.scale_axis_len = (slot.axis_len + slot.block - 1) / slot.block;
      scale_shape = w.shape();
      scale_shape[axis] = slot.scale_axis_len;
      out.block_size = scheme.block_size;
    }
  }
  const int64_t slots = shape_numel(scale_shape);
  std::vector<float> lo(slots, std::numeric_limits<float>::max());
  std::vector<float> hi(slots, std::numeric_limits<float>::lowest());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = slot(i);
    lo[k] = std::min(lo[k], pw[i]);
    hi[k] = std::max(hi[k], pw[i]);
  }
  const IntRange r = quant_range(scheme.dtype, scheme.symmetric, scheme.reduce_range);
  out.scale = Tensor::empty(DType::F32, scale_shape);
  out.zero_point = Tensor::empty(scheme.dtype, scale_shape);
  std::vector<ScaleZp> qp(slots);
  std::vector<int32_t> zps(slots);
  for (int64_t k = 0; k < slots; ++k) {
    if (lo[k] > hi[k]) lo[k] = hi[k] = 0;  // an empty block cannot happen, but stay defined
    qp[k] = compute_scale_zp(lo[k], hi[k], r, scheme.symmetric);
    out.scale.data<float>()[k] = qp[k].scale;
    zps[k] = qp[k].zero_point;
  }
  store_from_i32(out.zero_point, zps);
  std::vector<int32_t> q(n);
  for (int64_t i = 0; i < n; ++i) {
    const ScaleZp& p = qp[slot(i)];
    q[i] = quantize_value(pw[i], p.scale, p.zero_point, r);
  }
  out.q = Tensor::empty(scheme.dtype, w.shape());
  store_from_i32(out.q, q);
  return out;
}

Tensor dequantize(const QuantizedTensor& t) {
  QParamIndex slot;
  if (t.axis >= 0) {
    slot.axis_len = t.q.dim(t.axis);
    for (int64_t d = t.axis + 1; d < t.q.rank(); ++d) slot.inner *= t.q.dim(d);
    slot.mode = t.block_size > 0 ? 2 : 1;
    slot.block = std::max<int64_t>(t.block_size, 1);
    slot.scale_axis_len = t.block_size > 0 ? t.scale.dim(t.axis) : 1;
  }
  std::vector<int32_t> q = widen_to_i32(t.q), z = widen_to_i32(t.zero_point);
  Tensor out = Tensor::empty(DType::F32, t.q.shape());
  const float* s = t.scale.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const int64_t k = slot(i);
    out.data<float>()[i] = static_cast<float>(static_cast<int64_t>(q[i]) - z[k]) * s[k];
  }
  return out;
}

}  // namespace condense::quant
