// Shape family, part 1: views (Reshape, Flatten, Squeeze, Unsqueeze, Dropout) and layout /
// region copies (Transpose, Concat, Split, Slice, Expand, Tile, Pad, CenterCropPad,
// DepthToSpace, SpaceToDepth, ReverseSequence, Trilu, Col2Im).
#include <algorithm>

#include "ops/infer.h"
#include "ops/shape_common.h"

namespace condense {

using shape_ops::check_byte_dtype;

namespace {
// Output 0 is input 0's storage under a new shape.
void set_view(InferCtx& ctx, Shape shape) {
  ctx.set_out(0, ctx.in(0).dtype, std::move(shape));
  ctx.out(0).allocate = false;
}
}  // namespace

// Reshape(data, shape; allowzero): 0 copies the input dim (unless allowzero), -1 is inferred.
Status infer_Reshape(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& data = ctx.in(0);
  const Tensor* spec = ctx.in(1).value;
  if (!spec || !data.shape_known) {
    ctx.set_out_unknown(0, data.dtype);
    return Status::ok();
  }
  if (spec->rank() != 1) return ctx.fail("shape must be 1-D, got rank {}", spec->rank());
  const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  Shape out(spec->numel());
  int64_t infer_at = -1;
  int64_t known = 1;
  for (int64_t i = 0; i < spec->numel(); ++i) {
    int64_t d = spec->data<int64_t>()[i];
    if (d == -1) {
      if (infer_at >= 0)
        return ctx.fail("shape {} has more than one -1", shape_str(spec->to_i64_vector()));
      infer_at = i;
      continue;
    }
    if (d == 0 && !allowzero) {
      if (i >= static_cast<int64_t>(data.shape.size()))
        return ctx.fail("shape has 0 at index {} but the input has rank {}", i, data.shape.size());
      d = data.shape[i];
    }
    if (d < 0)
      return ctx.fail("shape {} has invalid dimension {}", shape_str(spec->to_i64_vector()), d);
    out[i] = d;
    known *= d;
  }
  const int64_t total = shape_numel(data.shape);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      return ctx.fail("cannot reshape {} into {}", shape_str(data.shape),
                      shape_str(spec->to_i64_vector()));
    out[infer_at] = total / known;
  } else if (known != total) {
    return ctx.fail("cannot reshape {} ({} elements) into {} ({} elements)", shape_str(data.shape),
                    total, shape_str(out), known);
  }
  set_view(ctx, std::move(out));
  return Status::ok();
}

// Flatten(input; axis = 1) -> 2-D (prod(dims[:axis]), prod(dims[axis:])), axis in [-r, r].
Status infer_Flatten(InferCtx& ctx) {
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < -r || axis > r) return ctx.fail("axis {} is out of range [-{}, {}]", axis, r, r);
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.shape[i];
  set_view(ctx, {outer, inner});
  return Status::ok();
}

// Squeeze(data, axes?): removes the listed size-1 axes, or every size-1 axis.
Status infer_Squeeze(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  const bool has_axes = ctx.has_input(1);
  if (!x.shape_known || (has_axes && !ctx.in(1).value)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  std::vector<bool> drop(r, false);
  if (has_axes) {
    auto axes = shape_ops::normalize_axes(ctx.in(1).value->to_i64_vector(), r);
    if (!axes) return ctx.fail("{}", axes.status().message());
    for (int64_t a : *axes) {
      if (x.shape[a] != 1)
        return ctx.fail("cannot squeeze axis {} of size {} (shape {})", a, x.shape[a],
                        shape_str(x.shape));
      drop[a] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = x.shape[i] == 1;
  }
  Shape out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(x.shape[i]);
  set_view(ctx, std::move(out));
  return Status::ok();
}

// Unsqueeze(data, axes): inserts size-1 axes at the listed positions of the OUTPUT.
Status infer_Unsqueeze(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known || !ctx.in(1).value) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const Tensor& axes_t = *ctx.in(1).value;
  if (axes_t.rank() > 1)
    return ctx.fail("axes must be a scalar or 1-D, got {}", shape_str(axes_t.shape()));
  const int64_t out_rank = static_cast<int64_t>(x.shape.size()) + axes_t.numel();
  auto axes = shape_ops::normalize_axes(axes_t.to_i64_vector(), out_rank);
  if (!axes) return ctx.fail("{}", axes.status().message());
  Shape out(out_rank, 0);
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : *axes) inserted[a] = true;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out[i] = inserted[i] ? 1 : x.shape[next++];
  set_view(ctx, std::move(out));
  return Status::ok();
}

// Dropout(data, ratio?, training_mode?) -> (output, mask?). Inference only: output is the input
// (a view) and mask is all true. Training mode is refused unless ratio is 0 (then it is the
// identity too).
Status infer_Dropout(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::Bool}));
  if (ctx.has_input(2)) {
    const Tensor* mode = ctx.in(2).value;
    if (!mode) return ctx.fail("training_mode must be a constant (only inference is supported)");
    if (mode->numel() != 1)
      return ctx.fail("training_mode must be a scalar, got {}", shape_str(mode->shape()));
    // Training with ratio 0 keeps everything (scale 1, mask all true): the same as inference.
    const Tensor* ratio = ctx.has_input(1) ? ctx.in(1).value : nullptr;
    const bool zero_ratio = ratio && ratio->numel() == 1 && ratio->get_f64(0) == 0.0;
    if (mode->get_i64(0) != 0 && !zero_ratio)
      return ctx.fail("training_mode = true is not supported: the runtime runs inference only");
  }
  const TensorInfo& x = ctx.in(0);
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = false;
  if (ctx.outputs.size() > 1) {
    if (x.shape_known)
      ctx.set_out(1, DType::Bool, x.shape);
    else
      ctx.set_out_unknown(1, DType::Bool);
  }
  return Status::ok();
}

// Transpose(data; perm = reversed axes).
Status infer_Transpose(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (!ctx.node.has_attr("perm"))
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != r)
    return ctx.fail("perm {} has {} entries, the input has rank {}", shape_str(perm), perm.size(),
                    r);
  std::vector<bool> seen(r, false);
  Shape out(r);
  for (int64_t i = 0; i < r; ++i) {
    if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
      return ctx.fail("perm {} is not a permutation of 0..{}", shape_str(perm), r - 1);
    seen[perm[i]] = true;
    out[i] = x.shape[perm[i]];
  }
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// Concat(inputs...; axis): shapes equal except along axis.
Status infer_Concat(InferCtx& ctx) {
  const size_t n = ctx.inputs.size();
  CONDENSE_TRY(check_same_dtype(ctx, 0, n - 1));
  for (size_t i = 0; i < n; ++i) CONDENSE_TRY(check_byte_dtype(ctx, i));
  if (!ctx.node.has_attr("axis")) return ctx.fail("missing required attribute 'axis'");
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  const Shape& first = ctx.in(0).shape;
  const int64_t r = static_cast<int64_t>(first.size());
  if (r == 0) return ctx.fail("cannot concatenate scalars");
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), r);
  if (!axis) return ctx.fail("{}", axis.status().message());
  Shape out = first;
  out[*axis] = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input {} is missing", i);
    const Shape& s = ctx.in(i).shape;
    bool ok = static_cast<int64_t>(s.size()) == r;
    for (int64_t d = 0; ok && d < r; ++d) ok = d == *axis || s[d] == first[d];
    if (!ok)
      return ctx.fail(
          "input {} has shape {}, incompatible with input 0's {} for concatenation on axis {}", i,
          shape_str(s), shape_str(first), *axis);
    out[*axis] += s[*axis];
  }
  ctx.set_out(0, ctx.in(0).dtype, std::move(out));
  return Status::ok();
}

// Split(input, split?; axis = 0, num_outputs?): sizes from `split`, else num_outputs pieces of
// ceil(dim / n) (the last one smaller), else equal pieces, one per output.
Status infer_Split(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  const int64_t nout = static_cast<int64_t>(ctx.outputs.size());
  const bool has_split = ctx.has_input(1);
  if (!x.shape_known || (has_split && !ctx.in(1).value)) {
    for (int64_t i = 0; i < nout; ++i) ctx.set_out_unknown(i, x.dtype);
    return Status::ok();
  }
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()));
  if (!axis || x.shape.empty())
    return ctx.fail("axis {} is out of range for shape {}", ctx.node.attr_int("axis", 0),
                    shape_str(x.shape));
  auto sizes =
      shape_ops::split_sizes(ctx.node, x.shape[*axis], has_split ? ctx.in(1).value : nullptr, nout);
  if (!sizes) return ctx.fail("{}", sizes.status().message());
  for (int64_t i = 0; i < nout; ++i) {
    Shape s = x.shape;
    s[*axis] = (*sizes)[i];
    ctx.set_out(i, x.dtype, std::move(s));
  }
  return Status::ok();
}

// Slice(data, starts, ends, axes?, steps?).
Status infer_Slice(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  for (size_t i = 1; i < 5; ++i) CONDENSE_TRY(check_dtype(ctx, i, {DType::I32, DType::I64}));
  const TensorInfo& x = ctx.in(0);
  bool known = x.shape_known;
  for (size_t i = 1; i < ctx.inputs.size(); ++i) known &= !ctx.has_input(i) || ctx.in(i).value;
  if (!known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  auto plan = shape_ops::slice_plan(x.shape, *ctx.in(1).value, *ctx.in(2).value,
                                    ctx.has_input(3) ? ctx.in(3).value : nullptr,
                                    ctx.has_input(4) ? ctx.in(4).value : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  Shape out;
  for (const auto& a : *plan) out.push_back(a.count);
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// Expand(input, shape): bidirectional broadcast of input against `shape`.
Status infer_Expand(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known || !ctx.in(1).value) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const Tensor& s = *ctx.in(1).value;
  if (s.rank() != 1) return ctx.fail("shape must be 1-D, got {}", shape_str(s.shape()));
  std::vector<int64_t> target = s.to_i64_vector();
  for (int64_t d : target)
    if (d < 0) return ctx.fail("shape {} has a negative dimension", shape_str(target));
  auto out = broadcast_shapes(x.shape, target);
  if (!out) return ctx.fail("cannot expand {} to {}", shape_str(x.shape), shape_str(target));
  ctx.set_out(0, x.dtype, std::move(*out));
  return Status::ok();
}

// Tile(input, repeats): out[i] = in[i] * repeats[i].
Status infer_Tile(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known || !ctx.in(1).value) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  std::vector<int64_t> reps = ctx.in(1).value->to_i64_vector();
  if (ctx.in(1).value->rank() != 1 || reps.size() != x.shape.size())
    return ctx.fail("repeats {} must be 1-D with one entry per input axis (rank {})",
                    shape_str(ctx.in(1).value->shape()), x.shape.size());
  Shape out = x.shape;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) return ctx.fail("repeats {} has a negative entry", shape_str(reps));
    out[i] *= reps[i];
  }
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// Pad(data, pads, constant_value?, axes?; mode).
Status infer_Pad(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::I32, DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (ctx.has_input(2)) {
    const TensorInfo& cv = ctx.in(2);
    if (cv.shape_known && shape_numel(cv.shape) != 1)
      return ctx.fail("constant_value must hold one value, got shape {}", shape_str(cv.shape));
  }
  if (!x.shape_known || !ctx.in(1).value || (ctx.has_input(3) && !ctx.in(3).value)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  auto plan = shape_ops::pad_plan(ctx.node, x.shape, *ctx.in(1).value,
                                  ctx.has_input(3) ? ctx.in(3).value : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  Shape out = x.shape;
  for (size_t i = 0; i < out.size(); ++i) out[i] += plan->before[i] + plan->after[i];
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// CenterCropPad(input, shape; axes = all): each listed axis becomes shape[i], centred.
Status infer_CenterCropPad(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I32, DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known || !ctx.in(1).value) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> ax = ctx.node.attr_ints("axes");
  if (!ctx.node.has_attr("axes"))
    for (int64_t i = 0; i < r; ++i) ax.push_back(i);
  auto axes = shape_ops::normalize_axes(ax, r);
  if (!axes) return ctx.fail("{}", axes.status().message());
  std::vector<int64_t> target = ctx.in(1).value->to_i64_vector();
  if (target.size() != axes->size())
    return ctx.fail("shape {} has {} entries, expected one per axis ({})", shape_str(target),
                    target.size(), axes->size());
  Shape out = x.shape;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] < 0) return ctx.fail("shape {} has a negative entry", shape_str(target));
    out[(*axes)[i]] = target[i];
  }
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

// DepthToSpace(input (N, C, H, W); blocksize b, mode DCR|CRD) -> (N, C/b^2, H*b, W*b).
Status infer_DepthToSpace(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  const TensorInfo& x = ctx.in(0);
  const int64_t b = ctx.node.attr_int("blocksize", 0);
  const std::string mode = ctx.node.attr_string("mode", "DCR");
  if (b <= 0) return ctx.fail("blocksize must be positive, got {}", b);
  if (mode != "DCR" && mode != "CRD") return ctx.fail("mode '{}' must be DCR or CRD", mode);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  if (x.shape.size() != 4)
    return ctx.fail("input must be 4-D (N, C, H, W), got {}", shape_str(x.shape));
  if (x.shape[1] % (b * b) != 0)
    return ctx.fail("channels {} are not divisible by blocksize^2 = {}", x.shape[1], b * b);
  ctx.set_out(0, x.dtype, {x.shape[0], x.shape[1] / (b * b), x.shape[2] * b, x.shape[3] * b});
  return Status::ok();
}

// SpaceToDepth(input (N, C, H, W); blocksize b) -> (N, C*b^2, H/b, W/b).
Status infer_SpaceToDepth(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  const TensorInfo& x = ctx.in(0);
  const int64_t b = ctx.node.attr_int("blocksize", 0);
  if (b <= 0) return ctx.fail("blocksize must be positive, got {}", b);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  if (x.shape.size() != 4)
    return ctx.fail("input must be 4-D (N, C, H, W), got {}", shape_str(x.shape));
  if (x.shape[2] % b != 0 || x.shape[3] % b != 0)
    return ctx.fail("spatial dims {}x{} are not divisible by blocksize {}", x.shape[2], x.shape[3],
                    b);
  ctx.set_out(0, x.dtype, {x.shape[0], x.shape[1] * b * b, x.shape[2] / b, x.shape[3] / b});
  return Status::ok();
}

// ReverseSequence(input, sequence_lens (batch); batch_axis = 1, time_axis = 0).
Status infer_ReverseSequence(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  const int64_t ba = ctx.node.attr_int("batch_axis", 1), ta = ctx.node.attr_int("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
    return ctx.fail("batch_axis = {} and time_axis = {} must be 0 and 1 in some order", ba, ta);
  if (x.shape_known) {
    if (x.shape.size() < 2)
      return ctx.fail("input must have rank >= 2, got {}", shape_str(x.shape));
    const TensorInfo& lens = ctx.in(1);
    if (lens.shape_known && (lens.shape.size() != 1 || lens.shape[0] != x.shape[ba]))
      return ctx.fail("sequence_lens {} must be 1-D of the batch size {}", shape_str(lens.shape),
                      x.shape[ba]);
  }
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}

// Trilu(input (..., N, M), k?; upper = 1).
Status infer_Trilu(InferCtx& ctx) {
  CONDENSE_TRY(check_byte_dtype(ctx, 0));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known && x.shape.size() < 2)
    return ctx.fail("input must have rank >= 2, got {}", shape_str(x.shape));
  if (ctx.has_input(1) && ctx.in(1).shape_known && shape_numel(ctx.in(1).shape) != 1)
    return ctx.fail("k must be a scalar, got shape {}", shape_str(ctx.in(1).shape));
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}

}  // namespace condense
