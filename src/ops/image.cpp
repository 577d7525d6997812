// Image ops: Resize (opset 19 meaning) and Upsample (opset 7-9; converted to Resize at import).
#include <cmath>

#include "ops/image_resize.h"
#include "ops/infer.h"

namespace condense {

namespace {

template <typename... Args>
Status node_fail(const ir::Node& n, fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(
      fmt::format("node {}: {}", n.describe(), fmt::format(f, std::forward<Args>(args)...)));
}

}  // namespace

Result<ResizePlan> plan_resize(const ir::Node& node, const Shape& x, const Tensor* roi,
                               const Tensor* scales, const Tensor* sizes, bool* shape_known) {
  ResizePlan p;
  const int64_t rank = static_cast<int64_t>(x.size());
  const bool upsample = node.op == OpKind::Upsample;
  p.mode = node.attr_string("mode", "nearest");
  if (upsample && p.mode == "bilinear") p.mode = "linear";
  if (p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic")
    return node_fail(node, "mode must be nearest, linear or cubic (got '{}')", p.mode);
  p.coord_mode =
      upsample ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
  static const char* kCoord[] = {
      "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
      "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  bool ok = false;
  for (const char* c : kCoord) ok = ok || p.coord_mode == c;
  if (!ok) return node_fail(node, "unknown coordinate_transformation_mode '{}'", p.coord_mode);
  p.nearest_mode = upsample ? "floor" : node.attr_string("nearest_mode", "round_prefer_floor");
  if (p.nearest_mode != "round_prefer_floor" && p.nearest_mode != "round_prefer_ceil" &&
      p.nearest_mode != "floor" && p.nearest_mode != "ceil")
    return node_fail(node, "unknown nearest_mode '{}'", p.nearest_mode);
  p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  p.extrapolation_value = node.attr_float("extrapolation_value", 0.f);
  p.antialias = node.attr_int("antialias", 0) != 0;
  const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
    return node_fail(node, "unknown keep_aspect_ratio_policy '{}'", policy);

  std::vector<int64_t> axes = node.attr_ints("axes");
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  std::vector<bool> seen(rank, false);
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank)
      return node_fail(node, "axis {} is out of range for rank {}", a, rank);
    if (a < 0) a += rank;
    if (seen[a]) return node_fail(node, "axis {} is repeated", a);
    seen[a] = true;
  }
  const int64_t na = static_cast<int64_t>(axes.size());
  p.scale.assign(rank, 1.0);
  p.roi_start.assign(rank, 0.0);
  p.roi_end.assign(rank, 1.0);
  p.out = x;
  *shape_known = true;

  if (roi && roi->numel() > 0 && p.coord_mode == "tf_crop_and_resize") {
    if (roi->numel() != 2 * na)
      return node_fail(node, "roi has {} values, expected {} (2 per resized axis)", roi->numel(),
                       2 * na);
    for (int64_t i = 0; i < na; ++i) {
      p.roi_start[axes[i]] = roi->get_f64(i);
      p.roi_end[axes[i]] = roi->get_f64(na + i);
    }
  }
  if (scales && sizes) return node_fail(node, "give scales or sizes, not both");
  if (!scales && !sizes) {
    *shape_known = false;
    return p;
  }
  if (scales) {
    if (scales->numel() != na)
      return node_fail(node, "scales has {} values, expected {}", scales->numel(), na);
    for (int64_t i = 0; i < na; ++i) {
      const double s = scales->get_f64(i);
      if (!(s > 0)) return node_fail(node, "scales must be positive (got {})", s);
      p.scale[axes[i]] = s;
      double len = static_cast<double>(x[axes[i]]);
      if (p.coord_mode == "tf_crop_and_resize") len *= p.roi_end[axes[i]] - p.roi_start[axes[i]];
      p.out[axes[i]] = static_cast<int64_t>(std::floor(len * s));
    }
    return p;
  }
  if (sizes->numel() != na)
    return node_fail(node, "sizes has {} values, expected {}", sizes->numel(), na);
  std::vector<int64_t> sz(na);
  for (int64_t i = 0; i < na; ++i) {
    sz[i] = sizes->get_i64(i);
    if (sz[i] < 0) return node_fail(node, "sizes must be non-negative (got {})", sz[i]);
    if (x[axes[i]] == 0 && sz[i] != 0) return node_fail(node, "cannot resize an empty axis");
  }
  if (policy == "stretch") {
    for (int64_t i = 0; i < na; ++i) {
      p.out[axes[i]] = sz[i];
      p.scale[axes[i]] = x[axes[i]] ? static_cast<double>(sz[i]) / x[axes[i]] : 1.0;
    }
    return p;
  }
  double s = policy == "not_larger" ? INFINITY : 0.0;
  for (int64_t i = 0; i < na; ++i) {
    const double r = x[axes[i]] ? static_cast<double>(sz[i]) / x[axes[i]] : 1.0;
    s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
  }
  for (int64_t i = 0; i < na; ++i) {
    p.scale[axes[i]] = s;
    p.out[axes[i]] = static_cast<int64_t>(std::floor(s * x[axes[i]] + 0.5));
  }
  return p;
}

namespace {

const Tensor* value_or_null(const InferCtx& ctx, size_t i, bool* unknown) {
  if (!ctx.has_input(i)) return nullptr;
  if (!ctx.in(i).value) {
    // An input with a known empty shape is "absent" (opset 11-12 pass empty scales / roi).
    if (ctx.in(i).shape_known && shape_numel(ctx.in(i).shape) == 0) return nullptr;
    *unknown = true;
    return nullptr;
  }
  return ctx.in(i).value->numel() > 0 ? ctx.in(i).value : nullptr;
}

Status infer_resize_common(InferCtx& ctx, size_t roi_i, size_t scales_i, size_t sizes_i) {
  const DType t = ctx.in(0).dtype;
  if (t == DType::Bool || t == DType::I4 || t == DType::U4)
    return ctx.fail("dtype {} is not supported", dtype_name(t));
  CONDENSE_TRY(check_dtype(ctx, scales_i, {DType::F32, DType::F16, DType::F64}));
  if (sizes_i) CONDENSE_TRY(check_dtype(ctx, sizes_i, {DType::I64}));
  if (!ctx.in(0).shape_known) {
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  bool unknown = false;
  const Tensor* roi = roi_i ? value_or_null(ctx, roi_i, &unknown) : nullptr;
  const Tensor* scales = value_or_null(ctx, scales_i, &unknown);
  const Tensor* sizes = sizes_i ? value_or_null(ctx, sizes_i, &unknown) : nullptr;
  const ir::Node& n = ctx.node;
  std::optional<Tensor> attr_scales;
  if (n.op == OpKind::Upsample && !ctx.has_input(1)) {
    std::vector<float> s = n.attr_floats("scales");
    if (s.empty()) return ctx.fail("Upsample needs a scales input or attribute");
    attr_scales = Tensor::from_vector<float>(s, {static_cast<int64_t>(s.size())});
    scales = &*attr_scales;
  }
  bool known = true;
  CONDENSE_ASSIGN_OR_RETURN(ResizePlan p,
                            plan_resize(n, ctx.in(0).shape, roi, scales, sizes, &known));
  if (unknown || !known) {
    if (!unknown && !known) return ctx.fail("one of scales or sizes must be given");
    ctx.set_out_unknown(0, t);
    return Status::ok();
  }
  ctx.set_out(0, t, p.out);
  return Status::ok();
}

}  // namespace

Status infer_Resize(InferCtx& ctx) {
  return infer_resize_common(ctx, 1, 2, 3);
}
Status infer_Upsample(InferCtx& ctx) {
  return infer_resize_common(ctx, 0, 1, 0);
}

}  // namespace condense
