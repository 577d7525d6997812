// Shape helpers shared by the quant ops' inference and their reference kernels.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

namespace condense {

// Geometry of an N-d convolution, x: (N, C, D1..Dn), w: (M, C/group, k1..kn).
struct ConvGeometry {
  int64_t group = 1;
  Shape kernel, strides, dilations;
  Shape pads;  // begin pads for each spatial dim, then end pads (auto_pad resolved)
  Shape out;   // (N, M, O1..On)
};

// Validates the Conv attributes (auto_pad, dilations, group, kernel_shape, pads, strides)
// against the shapes; errors name the node.
Result<ConvGeometry> conv_geometry(const ir::Node& n, const Shape& x, const Shape& w);

}  // namespace condense
