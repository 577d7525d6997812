#include "ops/shape_common.h"

#include <algorithm>

namespace condense::shape_ops {

Status check_byte_dtype(const InferCtx& ctx, size_t input) {
  if (!ctx.has_input(input)) return Status::ok();
  DType t = ctx.in(input).dtype;
  if (dtype_bits(t) % 8 != 0)
    return ctx.fail(
        "input {} has packed dtype {}, which this op does not support (unpack it first)", input,
        dtype_name(t));
  return Status::ok();
}

Result<std::vector<int64_t>> normalize_axes(std::span<const int64_t> axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return Status::errorf("axis {} is out of range for rank {}", a, rank);
    if (a < 0) a += rank;
    if (seen[a]) return Status::errorf("axis {} is repeated", a);
    seen[a] = true;
    out.push_back(a);
  }
  return out;
}

Result<std::vector<int64_t>> split_sizes(const ir::Node& node, int64_t dim, const Tensor* split,
                                         int64_t nout) {
  std::vector<int64_t> sizes;
  if (split) {
    if (node.has_attr("num_outputs"))
      return Status::error("give either the split input or num_outputs, not both");
    sizes = split->to_i64_vector();
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return Status::errorf("split {} has a negative size", shape_str(sizes));
      sum += s;
    }
    if (static_cast<int64_t>(sizes.size()) != nout)
      return Status::errorf("split {} has {} sizes but the node has {} outputs", shape_str(sizes),
                            sizes.size(), nout);
    if (sum != dim)
      return Status::errorf("split {} sums to {}, the axis has size {}", shape_str(sizes), sum,
                            dim);
    return sizes;
  }
  const int64_t n = node.attr_int("num_outputs", nout);
  if (n != nout) return Status::errorf("num_outputs = {} but the node has {} outputs", n, nout);
  if (n <= 0) return Status::errorf("num_outputs must be positive, got {}", n);
  if (node.has_attr("num_outputs")) {
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  } else {
    if (dim % n != 0)
      return Status::errorf("the axis of size {} does not split evenly into {} outputs", dim, n);
    sizes.assign(n, dim / n);
  }
  return sizes;
}

Result<std::vector<SliceAxis>> slice_plan(std::span<const int64_t> shape, const Tensor& starts,
                                          const Tensor& ends, const Tensor* axes,
                                          const Tensor* steps) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t n = starts.numel();
  if (starts.rank() != 1 || ends.rank() != 1 || ends.numel() != n)
    return Status::errorf("starts {} and ends {} must be 1-D of equal length",
                          shape_str(starts.shape()), shape_str(ends.shape()));
  if (axes && (axes->rank() != 1 || axes->numel() != n))
    return Status::errorf("axes {} must be 1-D with {} entries", shape_str(axes->shape()), n);
  if (steps && (steps->rank() != 1 || steps->numel() != n))
    return Status::errorf("steps {} must be 1-D with {} entries", shape_str(steps->shape()), n);
  std::vector<int64_t> ax(n);
  for (int64_t i = 0; i < n; ++i) ax[i] = axes ? axes->get_i64(i) : i;
  auto norm = normalize_axes(ax, rank);
  if (!norm) return norm.status();
  std::vector<SliceAxis> plan(rank);
  for (int64_t d = 0; d < rank; ++d) plan[d] = {0, 1, shape[d]};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = (*norm)[i], dim = shape[a];
    int64_t start = starts.get_i64(i), end = ends.get_i64(i);
    const int64_t step = steps ? steps->get_i64(i) : 1;
    if (step == 0) return Status::errorf("step for axis {} is 0", a);
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? 1 + (end - start - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      // step may be INT64_MIN: compare before negating.
      count = start > end ? 1 + (step == INT64_MIN ? 0 : (start - end - 1) / -step) : 0;
    }
    plan[a] = {start, step, count};
  }
  return plan;
}

Result<PadPlan> pad_plan(const ir::Node& node, std::span<const int64_t> shape, const Tensor& pads,
                         const Tensor* axes) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  PadPlan p;
  p.mode = node.attr_string("mode", "constant");
  if (p.mode != "constant" && p.mode != "reflect" && p.mode != "edge" && p.mode != "wrap")
    return Status::errorf("mode '{}' is not one of constant, reflect, edge, wrap", p.mode);
  std::vector<int64_t> ax;
  if (axes) {
    if (axes->rank() != 1)
      return Status::errorf("axes must be 1-D, got {}", shape_str(axes->shape()));
    ax = axes->to_i64_vector();
  } else {
    for (int64_t i = 0; i < rank; ++i) ax.push_back(i);
  }
  auto norm = normalize_axes(ax, rank);
  if (!norm) return norm.status();
  const int64_t n = static_cast<int64_t>(ax.size());
  if (pads.rank() != 1 || pads.numel() != 2 * n)
    return Status::errorf("pads {} must be 1-D with {} entries (2 per padded axis)",
                          shape_str(pads.shape()), 2 * n);
  p.before.assign(rank, 0);
  p.after.assign(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = (*norm)[i];
    p.before[a] = pads.get_i64(i);
    p.after[a] = pads.get_i64(i + n);
    const int64_t out = shape[a] + p.before[a] + p.after[a];
    if (out < 0)
      return Status::errorf("pads {} and {} on axis {} of size {} leave a negative size",
                            p.before[a], p.after[a], a, shape[a]);
    const int64_t kept =
        shape[a] - std::max<int64_t>(0, -p.before[a]) - std::max<int64_t>(0, -p.after[a]);
    if (p.mode != "constant" && kept <= 0 && out > 0)
      return Status::errorf("{} padding of axis {} needs at least one input element, it has {}",
                            p.mode, a, std::max<int64_t>(kept, 0));
  }
  return p;
}

}  // namespace condense::shape_ops
