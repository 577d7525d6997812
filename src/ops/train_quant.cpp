// Shape inference for quantization-aware training: FakeQuantize and its backward.
//
// FakeQuantize(X, scale, zero_point; axis = 1, block_size = 0, qmin, qmax, learn_scale = 1) -> Y
//   Y = (clamp(round_half_to_even(X / scale) + zero_point, qmin, qmax) - zero_point) * scale,
//   DequantizeLinear(QuantizeLinear(X)) with the integer range narrowed to [qmin, qmax] (default:
//   the zero point dtype's range). scale: X's float dtype; per tensor (rank 0 or one element),
//   per axis (1-D of X.shape[axis]) or blocked (X's rank, ceil(D_axis / block_size) on the axis).
//   zero_point: an integer tensor of scale's shape; its dtype is the type the exporter stores.
// FakeQuantizeGrad(dY, X, scale, zero_point) -> dX (X's shape), dScale? (scale's shape).
#include <limits>

#include "ops/infer.h"
#include "ops/train_common.h"

namespace condense {

using namespace train_ops;

namespace {

bool is_zero_point_dtype(DType t) {
  return t == DType::I8 || t == DType::U8 || t == DType::I4 || t == DType::U4 || t == DType::I16 ||
         t == DType::U16 || t == DType::I32;
}

// Inputs x_in (X), x_in + 1 (scale), x_in + 2 (zero point) of a FakeQuantize-like node.
Status check_fake_quant(const InferCtx& ctx, size_t x_in) {
  CONDENSE_TRY(check_train_float(ctx, x_in, x_in + 1));
  const TensorInfo& zp = ctx.in(x_in + 2);
  if (!is_zero_point_dtype(zp.dtype))
    return ctx.fail("zero point dtype {} is not an integer quantization type",
                    dtype_name(zp.dtype));
  const int64_t qmin = ctx.node.attr_int("qmin", std::numeric_limits<int64_t>::min());
  const int64_t qmax = ctx.node.attr_int("qmax", std::numeric_limits<int64_t>::max());
  if (ctx.node.has_attr("qmin") && ctx.node.has_attr("qmax") && qmin > qmax)
    return ctx.fail("qmin {} > qmax {}", qmin, qmax);
  const int64_t block = ctx.node.attr_int("block_size", 0);
  if (block < 0) return ctx.fail("block_size must be >= 0 (got {})", block);
  const TensorInfo& x = ctx.in(x_in);
  const TensorInfo& s = ctx.in(x_in + 1);
  if (!x.shape_known || !s.shape_known) return Status::ok();
  if (zp.shape_known && shape_numel(zp.shape) != shape_numel(s.shape))
    return ctx.fail("scale {} and zero point {} differ in size", shape_str(s.shape),
                    shape_str(zp.shape));
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (shape_numel(s.shape) == 1 && s.shape.size() <= 1 && block == 0) return Status::ok();
  auto axis = normalize_axis(ctx.node.attr_int("axis", 1), rank);
  if (!axis) return ctx.fail("{}", axis.status().message());
  if (block == 0) {
    if (s.shape.size() != 1 || s.shape[0] != x.shape[*axis])
      return ctx.fail("per-axis scale {} does not fit input {} on axis {}", shape_str(s.shape),
                      shape_str(x.shape), *axis);
    return Status::ok();
  }
  if (static_cast<int64_t>(s.shape.size()) != rank)
    return ctx.fail("blocked scale {} must have the input's rank {}", shape_str(s.shape), rank);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t want = d == *axis ? (x.shape[d] + block - 1) / block : x.shape[d];
    if (s.shape[d] != want)
      return ctx.fail("blocked scale {} does not fit input {} with block_size {} on axis {}",
                      shape_str(s.shape), shape_str(x.shape), block, *axis);
  }
  return Status::ok();
}

}  // namespace

Status infer_FakeQuantize(InferCtx& ctx) {
  CONDENSE_TRY(check_fake_quant(ctx, 0));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known)
    ctx.set_out(0, x.dtype, x.shape);
  else
    ctx.set_out_unknown(0, x.dtype);
  return Status::ok();
}

Status infer_FakeQuantizeGrad(InferCtx& ctx) {
  CONDENSE_TRY(check_train_float(ctx, 0, 0));
  CONDENSE_TRY(check_fake_quant(ctx, 1));
  if (ctx.in(0).dtype != ctx.in(1).dtype)
    return ctx.fail("dY is {} but X is {}", dtype_name(ctx.in(0).dtype),
                    dtype_name(ctx.in(1).dtype));
  const TensorInfo& dy = ctx.in(0);
  const TensorInfo& x = ctx.in(1);
  if (dy.shape_known && x.shape_known && dy.shape != x.shape)
    return ctx.fail("dY {} and X {} differ in shape", shape_str(dy.shape), shape_str(x.shape));
  if (x.shape_known)
    ctx.set_out(0, x.dtype, x.shape);
  else
    ctx.set_out_unknown(0, x.dtype);
  if (ctx.outputs.size() > 1 && ctx.node.output(1)) {
    const TensorInfo& s = ctx.in(2);
    if (s.shape_known)
      ctx.set_out(1, s.dtype, s.shape);
    else
      ctx.set_out_unknown(1, s.dtype);
  }
  return Status::ok();
}

}  // namespace condense
