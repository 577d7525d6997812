// Window geometry shared by Conv, ConvTranspose and the pooling ops: the meaning of kernel_shape,
// strides, dilations, pads, auto_pad and ceil_mode, computed once for infer, the reference
// kernels and the oneDNN kernels so that they can never disagree.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <span>

namespace condense {

// Spatial geometry of a windowed op over x: (N, C, D1, ..., Dn). All vectors have n entries.
struct WindowGeom {
  int64_t rank = 0;  // n, the number of spatial dims
  Shape in, out, kernel, strides, dilations, pad_begin, pad_end;
  int64_t in_size() const { return shape_numel(in); }
  int64_t out_size() const { return shape_numel(out); }
  int64_t kernel_size() const { return shape_numel(kernel); }
};

// Conv and pooling (a window slides over the padded input). `kernel` is the spatial kernel
// shape (from W for Conv, the kernel_shape attribute for pools). ceil_mode: pools only.
// The error message does not name the node (callers add it).
Result<WindowGeom> window_geometry(const ir::Node& n, std::span<const int64_t> x_shape,
                                   std::span<const int64_t> kernel, bool ceil_mode);

// ConvTranspose: out = stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pads,
// or pads derived from output_shape / auto_pad.
Result<WindowGeom> conv_transpose_geometry(const ir::Node& n, std::span<const int64_t> x_shape,
                                           std::span<const int64_t> kernel);

}  // namespace condense
