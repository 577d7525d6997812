// Where element i of a quantized tensor finds its scale and zero point, as ONNX's
// QuantizeLinear/DequantizeLinear lay them out: per tensor (one value), per axis (scale[a]) or
// blocked (the scale has the tensor's rank with ceil(D_axis / block) on the axis). Shared by the
// reference Q/DQ kernels and the weight quantizer, so both index the same way.
#pragma once

#include <cstdint>

namespace condense {

struct QParamIndex {
  int mode = 0;  // 0 per-tensor, 1 per-axis, 2 blocked
  // Elements along the axis, elements after it (row-major stride of the axis), the scale's
  // length along the axis (blocked) and the block size.
  int64_t axis_len = 1, inner = 1, scale_axis_len = 1, block = 1;

  int64_t operator()(int64_t i) const {
    if (mode == 0) return 0;
    const int64_t a = (i / inner) % axis_len;
    if (mode == 1) return a;
    const int64_t o = i / (inner * axis_len), in = i % inner;
    return (o * scale_axis_len + a / block) * inner + in;
  }
};

}  // namespace condense
