// Conv, ConvTranspose, pooling and MaxUnpool: shape inference over (N, C, D1, ..., Dn) inputs.
// The window arithmetic itself lives in nn_geometry.cpp.
#include "ops/infer.h"
#include "ops/nn_activation.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
constexpr std::initializer_list<DType> kFloatTypes = {DType::F32, DType::F64, DType::F16,
                                                      DType::BF16};

// kernel_shape of a pooling op (required) as a Shape.
Result<Shape> pool_kernel(const InferCtx& ctx) {
  Shape k = ctx.node.attr_ints("kernel_shape");
  if (k.empty()) return ctx.fail("attribute kernel_shape is required");
  return k;
}

Status infer_pool(InferCtx& ctx, bool has_ceil) {
  CONDENSE_ASSIGN_OR_RETURN(Shape k, pool_kernel(ctx));
  if (!ctx.in(0).shape_known) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i)
      if (ctx.node.output(i)) ctx.set_out_unknown(i, i == 0 ? ctx.in(0).dtype : DType::I64);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  const bool ceil_mode = has_ceil && ctx.node.attr_int("ceil_mode", 0) != 0;
  auto g = window_geometry(ctx.node, x, k, ceil_mode);
  if (!g) return ctx.fail("{}", g.status().message());
  Shape out = {x[0], x[1]};
  out.insert(out.end(), g->out.begin(), g->out.end());
  ctx.set_out(0, ctx.in(0).dtype, out);
  if (ctx.outputs.size() > 1 && ctx.node.output(1)) ctx.set_out(1, DType::I64, out);
  return Status::ok();
}

Status infer_global_pool(InferCtx& ctx) {
  if (!ctx.in(0).shape_known) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  Shape s = ctx.in(0).shape;
  if (s.size() < 3) return ctx.fail("input must have rank >= 3, got {}", shape_str(s));
  for (size_t i = 2; i < s.size(); ++i) s[i] = 1;
  ctx.set_out(0, ctx.in(0).dtype, s);
  return Status::ok();
}

// Common checks of Conv / ConvTranspose: x (N, C, ...), w rank, group, bias (M).
Status check_conv_shapes(const InferCtx& ctx, int64_t group) {
  const Shape& x = ctx.in(0).shape;
  const Shape& w = ctx.in(1).shape;
  if (x.size() < 3)
    return ctx.fail("X must have rank >= 3 (N, C, spatial...), got {}", shape_str(x));
  if (w.size() != x.size())
    return ctx.fail("W {} must have the rank of X {}", shape_str(w), shape_str(x));
  if (group < 1) return ctx.fail("group = {} must be >= 1", group);
  Shape ks = ctx.node.attr_ints("kernel_shape");
  if (!ks.empty() && !std::equal(ks.begin(), ks.end(), w.begin() + 2, w.end()))
    return ctx.fail("kernel_shape {} does not match W {}", shape_str(ks), shape_str(w));
  return Status::ok();
}

// Dtypes and the fused activation of Conv / ConvTranspose. Returns false (output set to unknown)
// when input shapes are not known yet.
Result<bool> check_conv_preamble(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 2));
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  if (!fused_activation(ctx.node))
    return ctx.fail("unknown fused activation '{}'", ctx.node.attr_string("_activation", ""));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return false;
  }
  return true;
}
}  // namespace

// Conv: x (N, C, D...), w (M, C/group, k...), b (M) -> y (N, M, out...).
Status infer_Conv(InferCtx& ctx) {
  CONDENSE_ASSIGN_OR_RETURN(bool shapes_known, check_conv_preamble(ctx));
  if (!shapes_known) return Status::ok();
  const int64_t group = ctx.node.attr_int("group", 1);
  CONDENSE_TRY(check_conv_shapes(ctx, group));
  const Shape& x = ctx.in(0).shape;
  const Shape& w = ctx.in(1).shape;
  if (x[1] % group != 0 || w[0] % group != 0 || w[1] * group != x[1])
    return ctx.fail("group = {} does not fit X {} and W {} (need C = W[1] * group, M % group == 0)",
                    group, shape_str(x), shape_str(w));
  if (ctx.has_input(2) && ctx.in(2).shape != Shape{w[0]})
    return ctx.fail("B has shape {}, expected [{}]", shape_str(ctx.in(2).shape), w[0]);
  auto g = window_geometry(ctx.node, x, std::span<const int64_t>(w).subspan(2), false);
  if (!g) return ctx.fail("{}", g.status().message());
  Shape out = {x[0], w[0]};
  out.insert(out.end(), g->out.begin(), g->out.end());
  ctx.set_out(0, ctx.in(0).dtype, out);
  return Status::ok();
}

// ConvTranspose: x (N, C, D...), w (C, M/group, k...), b (M) -> y (N, M, out...).
Status infer_ConvTranspose(InferCtx& ctx) {
  CONDENSE_ASSIGN_OR_RETURN(bool shapes_known, check_conv_preamble(ctx));
  if (!shapes_known) return Status::ok();
  const int64_t group = ctx.node.attr_int("group", 1);
  CONDENSE_TRY(check_conv_shapes(ctx, group));
  const Shape& x = ctx.in(0).shape;
  const Shape& w = ctx.in(1).shape;
  if (w[0] != x[1] || x[1] % group != 0)
    return ctx.fail("W {} must have X's {} channels first, divisible by group = {}", shape_str(w),
                    shape_str(x), group);
  const int64_t M = w[1] * group;
  if (ctx.has_input(2) && ctx.in(2).shape != Shape{M})
    return ctx.fail("B has shape {}, expected [{}]", shape_str(ctx.in(2).shape), M);
  auto g = conv_transpose_geometry(ctx.node, x, std::span<const int64_t>(w).subspan(2));
  if (!g) return ctx.fail("{}", g.status().message());
  Shape out = {x[0], M};
  out.insert(out.end(), g->out.begin(), g->out.end());
  ctx.set_out(0, ctx.in(0).dtype, out);
  return Status::ok();
}

Status infer_MaxPool(InferCtx& ctx) {
  CONDENSE_TRY(
      check_dtype(ctx, 0, {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8, DType::U8}));
  const int64_t order = ctx.node.attr_int("storage_order", 0);
  if (order != 0 && order != 1) return ctx.fail("storage_order = {} must be 0 or 1", order);
  return infer_pool(ctx, true);
}
Status infer_AveragePool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  return infer_pool(ctx, true);
}
Status infer_LpPool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  if (ctx.node.attr_int("p", 2) < 1)
    return ctx.fail("p = {} must be >= 1", ctx.node.attr_int("p", 2));
  return infer_pool(ctx, true);
}
Status infer_GlobalAveragePool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  return infer_global_pool(ctx);
}
Status infer_GlobalMaxPool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  return infer_global_pool(ctx);
}
Status infer_GlobalLpPool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  if (ctx.node.attr_int("p", 2) < 1)
    return ctx.fail("p = {} must be >= 1", ctx.node.attr_int("p", 2));
  return infer_global_pool(ctx);
}

// MaxUnpool: x (N, C, D...), indices (same shape, I64, flat offsets into y), optional
// output_shape (full shape of y). Default out = (in - 1) * stride + kernel - pads.
Status infer_MaxUnpool(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloatTypes));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::I64}));
  CONDENSE_ASSIGN_OR_RETURN(Shape k, pool_kernel(ctx));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  if (ctx.in(1).shape != x)
    return ctx.fail("indices {} must have the shape of X {}", shape_str(ctx.in(1).shape),
                    shape_str(x));
  const size_t rank = x.size() - 2;
  if (x.size() < 3 || k.size() != rank)
    return ctx.fail("kernel_shape {} does not fit X {}", shape_str(k), shape_str(x));
  const Shape strides = ctx.node.attr_ints("strides", Shape(rank, 1));
  const Shape pads = ctx.node.attr_ints("pads", Shape(2 * rank, 0));
  if (strides.size() != rank || pads.size() != 2 * rank)
    return ctx.fail("strides {} / pads {} do not fit {} spatial dims", shape_str(strides),
                    shape_str(pads), rank);
  Shape out = {x[0], x[1]};
  if (ctx.has_input(2)) {
    const Tensor* v = ctx.in(2).value;
    if (!v) {
      ctx.set_out_unknown(0, ctx.in(0).dtype);
      return Status::ok();
    }
    out = v->to_i64_vector();
    if (out.size() != x.size() || out[0] != x[0] || out[1] != x[1])
      return ctx.fail("output_shape {} must be (N, C, ...) of rank {} matching X {}",
                      shape_str(out), x.size(), shape_str(x));
    for (int64_t d : out)
      if (d < 0) return ctx.fail("output_shape {} has a negative entry", shape_str(out));
  } else {
    for (size_t i = 0; i < rank; ++i) {
      const int64_t d = (x[i + 2] - 1) * strides[i] + k[i] - pads[i] - pads[i + rank];
      if (d < 0) return ctx.fail("pads {} leave a negative output size", shape_str(pads));
      out.push_back(d);
    }
  }
  ctx.set_out(0, ctx.in(0).dtype, out);
  return Status::ok();
}

}  // namespace condense
