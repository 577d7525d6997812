// Shape family, part 3: shape queries and generators (Shape, Size, ConstantOfShape, Range,
// EyeLike) and Col2Im.
#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "ops/infer.h"
#include "ops/shape_common.h"

namespace condense {

// Shape(data; start = 0, end = rank) -> I64 1-D; start/end clamp to [0, rank].
Status infer_Shape(InferCtx& ctx) {
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, DType::I64);
    return Status::ok();
  }
  const int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t start = ctx.node.attr_int("start", 0), end = ctx.node.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  ctx.set_out(0, DType::I64, {std::max<int64_t>(end - start, 0)});
  return Status::ok();
}

Status infer_Size(InferCtx& ctx) {
  ctx.set_out(0, DType::I64, {});
  return Status::ok();
}

// ConstantOfShape(shape (I64 1-D); value = f32 0) -> shape filled with value.
Status infer_ConstantOfShape(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I64}));
  DType t = DType::F32;
  if (const ir::Attribute* v = ctx.node.attr("value")) {
    if (v->kind != ir::Attribute::Kind::Tensor || v->t.numel() != 1)
      return ctx.fail("attribute 'value' must be a one-element tensor");
    t = v->t.dtype();
    if (dtype_bits(t) % 8 != 0) return ctx.fail("value dtype {} is not supported", dtype_name(t));
  }
  const Tensor* s = ctx.in(0).value;
  if (!s) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  if (s->rank() != 1) return ctx.fail("shape must be 1-D, got {}", shape_str(s->shape()));
  Shape out = s->to_i64_vector();
  for (int64_t d : out)
    if (d < 0) return ctx.fail("shape {} has a negative dimension", shape_str(out));
  ctx.set_out(0, t, std::move(out));
  return Status::ok();
}

namespace {
// Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0).
Result<int64_t> range_count(const Tensor& start, const Tensor& limit, const Tensor& delta) {
  if (dtype_is_float(start.dtype())) {
    const double s = start.get_f64(0), l = limit.get_f64(0), d = delta.get_f64(0);
    if (d == 0 || !std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d))
      return Status::errorf("start {}, limit {}, delta {} do not define a finite range", s, l, d);
    const double n = std::ceil((l - s) / d);
    if (n > 1e12) return Status::errorf("the range has {} elements, too many", n);
    return n > 0 ? static_cast<int64_t>(n) : int64_t{0};
  }
  const int64_t s = start.get_i64(0), l = limit.get_i64(0), d = delta.get_i64(0);
  if (d == 0) return Status::error("delta is 0");
  // Integer ceil division in 128 bits so extreme int64 values cannot overflow.
  const __int128 span = static_cast<__int128>(l) - s;
  __int128 n = span / d;
  if (n * d != span && ((span > 0) == (d > 0))) ++n;
  if (n > static_cast<__int128>(1e12)) return Status::errorf("the range is too long");
  return n > 0 ? static_cast<int64_t>(n) : int64_t{0};
}
}  // namespace

// Range(start, limit, delta): scalars of one numeric dtype.
Status infer_Range(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_dtype(
      ctx, 0,
      {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I16, DType::I32, DType::I64}));
  const DType t = ctx.in(0).dtype;
  for (size_t i = 0; i < 3; ++i)
    if (ctx.in(i).shape_known && shape_numel(ctx.in(i).shape) != 1)
      return ctx.fail("input {} must be a scalar, got shape {}", i, shape_str(ctx.in(i).shape));
  if (!ctx.in(0).value || !ctx.in(1).value || !ctx.in(2).value) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  auto n = range_count(*ctx.in(0).value, *ctx.in(1).value, *ctx.in(2).value);
  if (!n) return ctx.fail("{}", n.status().message());
  ctx.set_out(0, t, {*n});
  return Status::ok();
}

// EyeLike(input (2-D); dtype?, k = 0): zeros with ones on diagonal k.
Status infer_EyeLike(InferCtx& ctx) {
  const TensorInfo& x = ctx.in(0);
  DType t = x.dtype;
  if (ctx.node.has_attr("dtype")) {
    auto d = dtype_from_onnx(static_cast<int>(ctx.node.attr_int("dtype", 0)));
    if (!d) return ctx.fail("dtype {} is not supported", ctx.node.attr_int("dtype", 0));
    t = *d;
  }
  if (dtype_bits(t) % 8 != 0) return ctx.fail("dtype {} is not supported", dtype_name(t));
  if (!x.shape_known) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  if (x.shape.size() != 2) return ctx.fail("input must be 2-D, got {}", shape_str(x.shape));
  ctx.set_out(0, t, x.shape);
  return Status::ok();
}

// Col2Im(input (N, C*prod(block), L), image_shape, block_shape; dilations, pads, strides)
// -> (N, C, *image_shape): sums each column back into its image window.
Status infer_Col2Im(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32, DType::F64, DType::F16, DType::BF16}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known || !ctx.in(1).value || !ctx.in(2).value) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  std::vector<int64_t> image = ctx.in(1).value->to_i64_vector();
  std::vector<int64_t> block = ctx.in(2).value->to_i64_vector();
  const size_t n = image.size();
  if (n == 0 || block.size() != n)
    return ctx.fail("image_shape {} and block_shape {} must have the same non-zero length",
                    shape_str(image), shape_str(block));
  std::vector<int64_t> dil = ctx.node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  std::vector<int64_t> str = ctx.node.attr_ints("strides", std::vector<int64_t>(n, 1));
  std::vector<int64_t> pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (dil.size() != n || str.size() != n || pads.size() != 2 * n)
    return ctx.fail("dilations/strides need {} entries and pads {}", n, 2 * n);
  if (x.shape.size() != 3)
    return ctx.fail("input must be 3-D (N, C*prod(block), L), got {}", shape_str(x.shape));
  int64_t block_size = 1, blocks = 1;
  for (size_t i = 0; i < n; ++i) {
    if (block[i] <= 0 || image[i] <= 0 || dil[i] <= 0 || str[i] <= 0)
      return ctx.fail("image_shape, block_shape, dilations and strides must be positive");
    block_size *= block[i];
    const int64_t span = image[i] + pads[i] + pads[i + n] - dil[i] * (block[i] - 1) - 1;
    if (span < 0) return ctx.fail("block {} does not fit the padded image on axis {}", block[i], i);
    blocks *= span / str[i] + 1;
  }
  if (x.shape[1] % block_size != 0)
    return ctx.fail("input dim 1 = {} is not a multiple of prod(block_shape) = {}", x.shape[1],
                    block_size);
  if (x.shape[2] != blocks)
    return ctx.fail("input dim 2 = {} but the image holds {} blocks", x.shape[2], blocks);
  Shape out{x.shape[0], x.shape[1] / block_size};
  out.insert(out.end(), image.begin(), image.end());
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

}  // namespace condense
