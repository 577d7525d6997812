// Plans shared by the shape family's inference (src/ops/shape*.cpp) and its reference kernels
// (src/kernels/ref/shape*.cpp), so both compute the same output geometry from the same inputs.
#pragma once

#include <condense/tensor.h>

#include <string>
#include <vector>

#include "ops/infer.h"

namespace condense::shape_ops {

// Fails for dtypes that are not whole bytes (I4/U4): the byte movers do not unpack nibbles.
Status check_byte_dtype(const InferCtx& ctx, size_t input);

// One sliced axis after clamping: elements start, start + step, ... (count of them).
struct SliceAxis {
  int64_t start = 0, step = 1, count = 0;
};
// Slice(data, starts, ends, axes?, steps?) as the spec clamps it; one entry per data axis.
// `axes` / `steps` may be null (defaults). Errors name no node; callers add it.
Result<std::vector<SliceAxis>> slice_plan(std::span<const int64_t> shape, const Tensor& starts,
                                          const Tensor& ends, const Tensor* axes,
                                          const Tensor* steps);

// Pad(data, pads, constant_value?, axes?): per data axis, the elements added before and after
// (negative: removed).
struct PadPlan {
  std::vector<int64_t> before, after;
  std::string mode;  // constant | reflect | edge | wrap
};
Result<PadPlan> pad_plan(const ir::Node& node, std::span<const int64_t> shape, const Tensor& pads,
                         const Tensor* axes);

// Split sizes along an axis of size `dim` into `nout` outputs: from the `split` input, else
// num_outputs pieces of ceil(dim / n) (the last smaller), else equal pieces.
Result<std::vector<int64_t>> split_sizes(const ir::Node& node, int64_t dim, const Tensor* split,
                                         int64_t nout);

// Normalizes a list of axes (I32/I64 tensor or attribute values) against `rank`; rejects
// out-of-range and repeated axes.
Result<std::vector<int64_t>> normalize_axes(std::span<const int64_t> axes, int64_t rank);

}  // namespace condense::shape_ops
