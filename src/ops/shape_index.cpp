// Shape family, part 2: indexing ops (Gather*, Scatter*, OneHot, NonZero, Compress, Unique).
// Index VALUES are checked by the kernels (they may only be known at run time); here only the
// geometry.
#include <algorithm>

#include "ops/infer.h"
#include "ops/shape_common.h"

namespace condense {

using shape_ops::check_byte_dtype;

namespace {
constexpr std::initializer_list<DType> kIndexTypes = {DType::I32, DType::I64};

Status check_reduction(const InferCtx& ctx) {
  const std::string r = ctx.node.attr_string("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return ctx.fail("reduction '{}' must be one of none, add, mul, max, min", r);
  return Status::ok();
}
}  // namespace

// Gather(data, indices; axis = 0) -> data.shape[:axis] + indices.shape + data.shape[axis+1:].
Status infer_Gather(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, kIndexTypes));
  const TensorInfo& x = ctx.in(0);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0) return ctx.fail("data must have rank >= 1");
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), r);
  if (!axis) return ctx.fail("{}", axis.status().message());
  Shape out(x.shape.begin(), x.shape.begin() + *axis);
  out.insert(out.end(), ctx.in(1).shape.begin(), ctx.in(1).shape.end());
  out.insert(out.end(), x.shape.begin() + *axis + 1, x.shape.end());
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// GatherElements(data, indices; axis = 0) -> indices.shape.
Status infer_GatherElements(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, kIndexTypes));
  const TensorInfo& x = ctx.in(0);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const Shape& is = ctx.in(1).shape;
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0 || static_cast<int64_t>(is.size()) != r)
    return ctx.fail("data {} and indices {} must have the same rank >= 1", shape_str(x.shape),
                    shape_str(is));
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), r);
  if (!axis) return ctx.fail("{}", axis.status().message());
  for (int64_t d = 0; d < r; ++d)
    if (d != *axis && is[d] > x.shape[d])
      return ctx.fail("indices {} exceed data {} on axis {}", shape_str(is), shape_str(x.shape), d);
  ctx.set_out(0, x.dtype, is);
  return Status::ok();
}

// GatherND(data, indices; batch_dims = b) -> indices.shape[:-1] + data.shape[b + m:],
// m = indices.shape[-1].
Status infer_GatherND(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const Shape& is = ctx.in(1).shape;
  const int64_t r = static_cast<int64_t>(x.shape.size()), q = static_cast<int64_t>(is.size());
  const int64_t b = ctx.node.attr_int("batch_dims", 0);
  if (r < 1 || q < 1) return ctx.fail("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return ctx.fail("batch_dims {} must be in [0, min(rank(data), rank(indices)))", b);
  for (int64_t d = 0; d < b; ++d)
    if (x.shape[d] != is[d])
      return ctx.fail("batch dim {} differs: data {} vs indices {}", d, shape_str(x.shape),
                      shape_str(is));
  const int64_t m = is.back();
  if (m < 1 || m > r - b) return ctx.fail("indices.shape[-1] = {} must be in [1, {}]", m, r - b);
  Shape out(is.begin(), is.end() - 1);
  out.insert(out.end(), x.shape.begin() + b + m, x.shape.end());
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// ScatterElements(data, indices, updates; axis = 0, reduction) -> data.shape.
Status infer_ScatterElements(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, kIndexTypes));
  if (ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("updates dtype {} differs from data dtype {}", dtype_name(ctx.in(2).dtype),
                    dtype_name(ctx.in(0).dtype));
  CONDENSE_TRY(check_reduction(ctx));
  const TensorInfo& x = ctx.in(0);
  if (!any_unknown(ctx)) {
    const Shape& is = ctx.in(1).shape;
    const int64_t r = static_cast<int64_t>(x.shape.size());
    if (r == 0 || static_cast<int64_t>(is.size()) != r)
      return ctx.fail("data {} and indices {} must have the same rank >= 1", shape_str(x.shape),
                      shape_str(is));
    if (ctx.in(2).shape != is)
      return ctx.fail("updates {} must have the shape of indices {}", shape_str(ctx.in(2).shape),
                      shape_str(is));
    auto axis = normalize_axis(ctx.node.attr_int("axis", 0), r);
    if (!axis) return ctx.fail("{}", axis.status().message());
    for (int64_t d = 0; d < r; ++d)
      if (d != *axis && is[d] > x.shape[d])
        return ctx.fail("indices {} exceed data {} on axis {}", shape_str(is), shape_str(x.shape),
                        d);
  }
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}

// Scatter is the deprecated name of ScatterElements (the importer renames it).
Status infer_Scatter(InferCtx& ctx) {
  return infer_ScatterElements(ctx);
}

// ScatterND(data, indices (..., k), updates; reduction) -> data.shape; updates.shape must be
// indices.shape[:-1] + data.shape[k:].
Status infer_ScatterND(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  if (ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("updates dtype {} differs from data dtype {}", dtype_name(ctx.in(2).dtype),
                    dtype_name(ctx.in(0).dtype));
  CONDENSE_TRY(check_reduction(ctx));
  const TensorInfo& x = ctx.in(0);
  if (!any_unknown(ctx)) {
    const Shape& is = ctx.in(1).shape;
    const int64_t r = static_cast<int64_t>(x.shape.size());
    if (r < 1 || is.empty()) return ctx.fail("data and indices must have rank >= 1");
    const int64_t k = is.back();
    if (k < 1 || k > r) return ctx.fail("indices.shape[-1] = {} must be in [1, {}]", k, r);
    Shape want(is.begin(), is.end() - 1);
    want.insert(want.end(), x.shape.begin() + k, x.shape.end());
    if (ctx.in(2).shape != want)
      return ctx.fail("updates {} must have shape {}", shape_str(ctx.in(2).shape), shape_str(want));
  }
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}

// OneHot(indices, depth, values [off, on]; axis = -1): depth inserted at axis.
Status infer_OneHot(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 2));
  const TensorInfo& ind = ctx.in(1);
  const DType out_t = ctx.in(2).dtype;
  if (ctx.in(2).shape_known && shape_numel(ctx.in(2).shape) != 2)
    return ctx.fail("values must hold [off_value, on_value], got shape {}",
                    shape_str(ctx.in(2).shape));
  if (!ctx.in(0).shape_known || !ind.value) {
    ctx.set_out_unknown(0, out_t);
    return Status::ok();
  }
  if (ind.value->numel() != 1)
    return ctx.fail("depth must hold one value, got shape {}", shape_str(ind.value->shape()));
  const double depth_f = ind.value->get_f64(0);
  if (!(depth_f >= 1) || depth_f > 1e12)
    return ctx.fail("depth must be a positive count, got {}", depth_f);
  const int64_t depth = static_cast<int64_t>(depth_f);
  const Shape& is = ctx.in(0).shape;
  const int64_t r = static_cast<int64_t>(is.size());
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis < -r - 1 || axis > r)
    return ctx.fail("axis {} is out of range for output rank {}", axis, r + 1);
  if (axis < 0) axis += r + 1;
  Shape out = is;
  out.insert(out.begin() + axis, depth);
  ctx.set_out(0, out_t, std::move(out));
  return Status::ok();
}

// NonZero(X) -> I64 (rank(X), count): the output size depends on the values.
Status infer_NonZero(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  ctx.set_out_unknown(0, DType::I64);
  ctx.out(0).allocate = false;
  return Status::ok();
}

// Compress(input, condition (bool, 1-D); axis?): keeps the slices where condition is true; no
// axis flattens the input first.
Status infer_Compress(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::Bool}));
  const TensorInfo& x = ctx.in(0);
  const Tensor* cond = ctx.in(1).value;
  if (!x.shape_known || !cond) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  if (cond->rank() != 1) return ctx.fail("condition must be 1-D, got {}", shape_str(cond->shape()));
  Shape out;
  int64_t dim;
  int64_t axis = -1;
  if (ctx.node.has_attr("axis")) {
    auto a = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()));
    if (!a || x.shape.empty())
      return ctx.fail("axis {} is out of range for shape {}", ctx.node.attr_int("axis", 0),
                      shape_str(x.shape));
    axis = *a;
    out = x.shape;
    dim = x.shape[axis];
  } else {
    dim = shape_numel(x.shape);
    out = {dim};
    axis = 0;
  }
  int64_t kept = 0;
  const bool* c = cond->data<bool>();
  for (int64_t i = 0; i < cond->numel(); ++i) {
    if (!c[i]) continue;
    if (i >= dim) return ctx.fail("condition is true at {}, beyond the axis size {}", i, dim);
    ++kept;
  }
  out[axis] = kept;
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// Unique(X; axis?, sorted = 1) -> (Y, indices, inverse_indices, counts): all data-dependent.
Status infer_Unique(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known && ctx.node.has_attr("axis")) {
    auto a = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()));
    if (!a || x.shape.empty())
      return ctx.fail("axis {} is out of range for shape {}", ctx.node.attr_int("axis", 0),
                      shape_str(x.shape));
  }
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    ctx.set_out_unknown(i, i == 0 ? x.dtype : DType::I64);
    ctx.out(i).allocate = false;
  }
  return Status::ok();
}

}  // namespace condense
