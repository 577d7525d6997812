// Resize geometry shared by Resize/Upsample inference and their reference kernel.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <string>
#include <vector>

namespace condense {

struct ResizePlan {
  std::string mode;          // nearest | linear | cubic
  std::string coord_mode;    // coordinate_transformation_mode
  std::string nearest_mode;  // round_prefer_floor | round_prefer_ceil | floor | ceil
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0.0;
  bool antialias = false;
  Shape out;                      // output shape
  std::vector<double> scale;      // per axis: the scale used by the coordinate transform
  std::vector<double> roi_start;  // per axis (tf_crop_and_resize), 0 elsewhere
  std::vector<double> roi_end;    // per axis, 1 elsewhere
};

// Validates attributes and computes the output shape. `roi`, `scales`, `sizes` are the input
// values (nullptr when absent or unknown; empty tensors count as absent). `sizes_unknown`: the
// sizes/scales input is present but its value is not known (then `*shape_known` is false).
Result<ResizePlan> plan_resize(const ir::Node& node, const Shape& x, const Tensor* roi,
                               const Tensor* scales, const Tensor* sizes, bool* shape_known);

}  // namespace condense
