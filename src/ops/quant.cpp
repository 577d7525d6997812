// Quantization ops: QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked),
// DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.
#include "ops/infer.h"
#include "ops/quant_shape.h"

namespace condense {

namespace {

bool is_quant_int(DType t) {
  return t == DType::I8 || t == DType::U8 || t == DType::I16 || t == DType::U16 || t == DType::I4 ||
         t == DType::U4;
}

// Error helper naming a node, for checks that run outside an InferCtx (conv_geometry).
struct NodeErr {
  const ir::Node& node;
  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::error(
        fmt::format("node {}: {}", node.describe(), fmt::format(f, std::forward<Args>(args)...)));
  }
};

}  // namespace

// Validates scale/zero point (inputs scale_in, zp_in) against x (input 0) for per-tensor,
// per-axis (1-D scale of x.shape[axis] elements) and blocked (scale of x's rank,
// ceil(D_axis / block_size) on the axis) quantization.
static Status check_qparams(const InferCtx& ctx, size_t scale_in, size_t zp_in, int64_t* axis_out,
                            int64_t* block_out) {
  const TensorInfo& x = ctx.in(0);
  const TensorInfo& s = ctx.in(scale_in);
  const int64_t block = ctx.node.attr_int("block_size", 0);
  if (block < 0) return ctx.fail("block_size must be >= 0 (got {})", block);
  if (ctx.has_input(zp_in) && ctx.in(zp_in).shape_known && s.shape_known &&
      ctx.in(zp_in).shape != s.shape &&
      !(shape_numel(ctx.in(zp_in).shape) == 1 && shape_numel(s.shape) == 1))
    return ctx.fail("scale shape {} and zero point shape {} differ", shape_str(s.shape),
                    shape_str(ctx.in(zp_in).shape));
  *axis_out = 0;
  *block_out = 0;
  if (!x.shape_known || !s.shape_known) return Status::ok();
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t snumel = shape_numel(s.shape);
  const bool per_tensor = s.shape.empty() || (s.shape.size() == 1 && snumel == 1 && block == 0);
  if (per_tensor) {
    if (block > 0) return ctx.fail("block_size {} needs a scale of the input's rank", block);
    return Status::ok();
  }
  auto axis = normalize_axis(ctx.node.attr_int("axis", 1), rank);
  if (!axis) return ctx.fail("{}", axis.status().message());
  *axis_out = *axis;
  if (block == 0) {
    if (s.shape.size() != 1)
      return ctx.fail(
          "per-axis scale must be 1-D (got {}); set block_size for blocked quantization",
          shape_str(s.shape));
    if (s.shape[0] != x.shape[*axis])
      return ctx.fail("per-axis scale has {} elements but input dim {} (axis {}) is {}", s.shape[0],
                      *axis, *axis, x.shape[*axis]);
    return Status::ok();
  }
  // Blocked: scale has the input's rank; dim `axis` is ceil(D / block), the others equal.
  if (static_cast<int64_t>(s.shape.size()) != rank)
    return ctx.fail("blocked scale {} must have the input's rank {}", shape_str(s.shape), rank);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t want = d == *axis ? (x.shape[d] + block - 1) / block : x.shape[d];
    if (s.shape[d] != want)
      return ctx.fail("blocked scale {} does not fit input {} with block_size {} on axis {}",
                      shape_str(s.shape), shape_str(x.shape), block, *axis);
  }
  *block_out = block;
  return Status::ok();
}

Status infer_QuantizeLinear(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::F32, DType::F16, DType::BF16, DType::F64}));
  DType out = DType::U8;
  const int64_t odt = ctx.node.attr_int("output_dtype", 0);
  if (odt != 0) {
    auto t = dtype_from_onnx(static_cast<int>(odt));
    if (!t || !is_quant_int(*t))
      return ctx.fail("output_dtype {} is not a supported quantized type", odt);
    out = *t;
  }
  if (ctx.has_input(2)) {
    const DType z = ctx.in(2).dtype;
    if (!is_quant_int(z))
      return ctx.fail("zero point dtype {} is not a supported quantized type", dtype_name(z));
    if (odt != 0 && z != out)
      return ctx.fail("output_dtype {} differs from the zero point dtype {}", dtype_name(out),
                      dtype_name(z));
    out = z;
  }
  int64_t axis, block;
  CONDENSE_TRY(check_qparams(ctx, 1, 2, &axis, &block));
  if (!ctx.in(0).shape_known) {
    ctx.set_out_unknown(0, out);
    return Status::ok();
  }
  ctx.set_out(0, out, ctx.in(0).shape);
  return Status::ok();
}

Status infer_DequantizeLinear(InferCtx& ctx) {
  const DType x = ctx.in(0).dtype;
  if (!is_quant_int(x) && x != DType::I32)
    return ctx.fail("input dtype {} is not a supported quantized type", dtype_name(x));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::F32, DType::F16, DType::BF16, DType::F64}));
  if (ctx.has_input(2)) {
    if (ctx.in(2).dtype != x)
      return ctx.fail("zero point dtype {} differs from the input dtype {}",
                      dtype_name(ctx.in(2).dtype), dtype_name(x));
  }
  DType out = ctx.in(1).dtype;
  const int64_t odt = ctx.node.attr_int("output_dtype", 0);
  if (odt != 0) {
    auto t = dtype_from_onnx(static_cast<int>(odt));
    if (!t || !dtype_is_float(*t)) return ctx.fail("output_dtype {} is not a float type", odt);
    out = *t;
  }
  int64_t axis, block;
  CONDENSE_TRY(check_qparams(ctx, 1, 2, &axis, &block));
  if (!ctx.in(0).shape_known) {
    ctx.set_out_unknown(0, out);
    return Status::ok();
  }
  ctx.set_out(0, out, ctx.in(0).shape);
  return Status::ok();
}

// x: f32 -> (y: u8 same shape, y_scale: f32 scalar, y_zero_point: u8 scalar).
Status infer_DynamicQuantizeLinear(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32}));
  if (ctx.in(0).shape_known)
    ctx.set_out(0, DType::U8, ctx.in(0).shape);
  else
    ctx.set_out_unknown(0, DType::U8);
  ctx.set_out(1, DType::F32, {});
  ctx.set_out(2, DType::U8, {});
  return Status::ok();
}

// Numpy matmul shape of a (..., M, K) x b (..., K, N); both operands rank >= 1.
static Status matmul_shape(InferCtx& ctx, const Shape& a0, const Shape& b0, Shape* out) {
  if (a0.empty() || b0.empty()) return ctx.fail("matmul operands must have rank >= 1");
  Shape a = a0, b = b0;
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    return ctx.fail("inner dimensions differ: {} x {}", shape_str(a0), shape_str(b0));
  auto batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!batch) return ctx.fail("batch dimensions: {}", batch.status().message());
  *out = *batch;
  if (!a1) out->push_back(a[a.size() - 2]);
  if (!b1) out->push_back(b.back());
  return Status::ok();
}

Status infer_MatMulInteger(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I8, DType::U8}));
  if (ctx.has_input(2) && ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("a_zero_point dtype {} differs from A's {}", dtype_name(ctx.in(2).dtype),
                    dtype_name(ctx.in(0).dtype));
  if (ctx.has_input(3) && ctx.in(3).dtype != ctx.in(1).dtype)
    return ctx.fail("b_zero_point dtype {} differs from B's {}", dtype_name(ctx.in(3).dtype),
                    dtype_name(ctx.in(1).dtype));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, DType::I32);
    return Status::ok();
  }
  Shape out;
  CONDENSE_TRY(matmul_shape(ctx, ctx.in(0).shape, ctx.in(1).shape, &out));
  ctx.set_out(0, DType::I32, std::move(out));
  return Status::ok();
}

// a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp.
Status infer_QLinearMatMul(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 7, {DType::I8, DType::U8}));
  for (size_t s : {1u, 4u, 6u})
    CONDENSE_TRY(check_dtype(ctx, s, {DType::F32, DType::F16, DType::BF16}));
  if (ctx.in(2).dtype != ctx.in(0).dtype || ctx.in(5).dtype != ctx.in(3).dtype)
    return ctx.fail("zero point dtypes must match their operands (a {} / a_zp {}, b {} / b_zp {})",
                    dtype_name(ctx.in(0).dtype), dtype_name(ctx.in(2).dtype),
                    dtype_name(ctx.in(3).dtype), dtype_name(ctx.in(5).dtype));
  const DType out_t = ctx.in(7).dtype;
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, out_t);
    return Status::ok();
  }
  if (shape_numel(ctx.in(6).shape) != 1 || shape_numel(ctx.in(7).shape) != 1)
    return ctx.fail("y_scale and y_zero_point must be scalars");
  Shape out;
  CONDENSE_TRY(matmul_shape(ctx, ctx.in(0).shape, ctx.in(3).shape, &out));
  ctx.set_out(0, out_t, std::move(out));
  return Status::ok();
}

Result<ConvGeometry> conv_geometry(const ir::Node& n, const Shape& x, const Shape& w) {
  const NodeErr ctx{n};
  ConvGeometry g;
  if (x.size() < 3) return ctx.fail("input must be (N, C, spatial...), got {}", shape_str(x));
  if (w.size() != x.size())
    return ctx.fail("weight {} must have the input's rank {}", shape_str(w), x.size());
  const size_t nd = x.size() - 2;
  g.group = n.attr_int("group", 1);
  if (g.group <= 0) return ctx.fail("group must be positive (got {})", g.group);
  if (x[1] % g.group != 0 || w[0] % g.group != 0)
    return ctx.fail("group={} must divide input channels {} and output channels {}", g.group, x[1],
                    w[0]);
  if (w[1] * g.group != x[1])
    return ctx.fail("weight {} expects {} input channels, input has {}", shape_str(w),
                    w[1] * g.group, x[1]);
  g.kernel = n.attr_ints("kernel_shape", Shape(w.begin() + 2, w.end()));
  g.strides = n.attr_ints("strides", Shape(nd, 1));
  g.dilations = n.attr_ints("dilations", Shape(nd, 1));
  g.pads = n.attr_ints("pads", Shape(2 * nd, 0));
  if (g.kernel.size() != nd || g.strides.size() != nd || g.dilations.size() != nd ||
      g.pads.size() != 2 * nd)
    return ctx.fail("kernel_shape/strides/dilations/pads do not match {} spatial dims", nd);
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  g.out = {x[0], w[0]};
  for (size_t d = 0; d < nd; ++d) {
    if (g.kernel[d] != w[d + 2])
      return ctx.fail("kernel_shape {} differs from the weight's {}", shape_str(g.kernel),
                      shape_str(w));
    if (g.strides[d] <= 0 || g.dilations[d] <= 0 || g.pads[d] < 0 || g.pads[d + nd] < 0)
      return ctx.fail("strides and dilations must be positive, pads non-negative");
    const int64_t ek = (g.kernel[d] - 1) * g.dilations[d] + 1;
    const int64_t in = x[d + 2];
    int64_t o;
    if (auto_pad == "NOTSET") {
      o = (in + g.pads[d] + g.pads[d + nd] - ek) / g.strides[d] + 1;
      if (in + g.pads[d] + g.pads[d + nd] < ek) o = 0;
    } else if (auto_pad == "VALID") {
      o = in >= ek ? (in - ek) / g.strides[d] + 1 : 0;
      g.pads[d] = g.pads[d + nd] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      o = (in + g.strides[d] - 1) / g.strides[d];
      const int64_t total = std::max<int64_t>(0, (o - 1) * g.strides[d] + ek - in);
      const int64_t small = total / 2, big = total - small;
      g.pads[d] = auto_pad == "SAME_UPPER" ? small : big;
      g.pads[d + nd] = total - g.pads[d];
    } else {
      return ctx.fail("unknown auto_pad '{}'", auto_pad);
    }
    if (o <= 0) return ctx.fail("input {} is too small for the kernel", shape_str(x));
    g.out.push_back(o);
  }
  return g;
}

static Status check_channel_zp(const InferCtx& ctx, size_t i, int64_t channels, const char* what) {
  if (!ctx.has_input(i) || !ctx.in(i).shape_known) return Status::ok();
  const int64_t n = shape_numel(ctx.in(i).shape);
  if (ctx.in(i).shape.size() > 1 || (n != 1 && n != channels))
    return ctx.fail("{} must be a scalar or have {} elements (got {})", what, channels,
                    shape_str(ctx.in(i).shape));
  return Status::ok();
}

// x, w, x_zero_point (scalar), w_zero_point (scalar or per output channel) -> i32.
Status infer_ConvInteger(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I8, DType::U8}));
  if (ctx.has_input(2) && ctx.in(2).dtype != ctx.in(0).dtype)
    return ctx.fail("x_zero_point dtype differs from x");
  if (ctx.has_input(3) && ctx.in(3).dtype != ctx.in(1).dtype)
    return ctx.fail("w_zero_point dtype differs from w");
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, DType::I32);
    return Status::ok();
  }
  CONDENSE_ASSIGN_OR_RETURN(ConvGeometry g,
                            conv_geometry(ctx.node, ctx.in(0).shape, ctx.in(1).shape));
  CONDENSE_TRY(check_channel_zp(ctx, 2, 1, "x_zero_point"));
  CONDENSE_TRY(check_channel_zp(ctx, 3, ctx.in(1).shape[0], "w_zero_point"));
  ctx.set_out(0, DType::I32, g.out);
  return Status::ok();
}

// x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B (optional i32 bias).
Status infer_QLinearConv(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 7, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 8, {DType::I32}));
  for (size_t s : {1u, 4u, 6u})
    CONDENSE_TRY(check_dtype(ctx, s, {DType::F32, DType::F16, DType::BF16}));
  if (ctx.in(2).dtype != ctx.in(0).dtype || ctx.in(5).dtype != ctx.in(3).dtype)
    return ctx.fail("zero point dtypes must match their operands");
  const DType out_t = ctx.in(7).dtype;
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, out_t);
    return Status::ok();
  }
  CONDENSE_ASSIGN_OR_RETURN(ConvGeometry g,
                            conv_geometry(ctx.node, ctx.in(0).shape, ctx.in(3).shape));
  const int64_t m = ctx.in(3).shape[0];
  CONDENSE_TRY(check_channel_zp(ctx, 1, 1, "x_scale"));
  CONDENSE_TRY(check_channel_zp(ctx, 2, 1, "x_zero_point"));
  CONDENSE_TRY(check_channel_zp(ctx, 4, m, "w_scale"));
  CONDENSE_TRY(check_channel_zp(ctx, 5, m, "w_zero_point"));
  CONDENSE_TRY(check_channel_zp(ctx, 6, 1, "y_scale"));
  CONDENSE_TRY(check_channel_zp(ctx, 7, 1, "y_zero_point"));
  if (ctx.has_input(8) && (ctx.in(8).shape.size() != 1 || ctx.in(8).shape[0] != m))
    return ctx.fail("bias must be 1-D with {} elements (got {})", m, shape_str(ctx.in(8).shape));
  ctx.set_out(0, out_t, g.out);
  return Status::ok();
}

}  // namespace condense
