// ONNX opset hooks for the shape family (see onnx/hooks.h).
#include <algorithm>

#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {

void remove_attr(::onnx::NodeProto& p, const std::string& name) {
  auto* attrs = p.mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i)
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
}

void set_ints_attr(::onnx::NodeProto& p, const std::string& name, const std::vector<int64_t>& v) {
  remove_attr(p, name);
  auto* a = p.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// Squeeze / Unsqueeze: `axes` attribute (opset < 13) -> input 1.
Status upgrade_axes_input(UpgradeCtx& u) {
  if (u.opset < 13) return u.attr_to_input("axes", 1, DType::I64);
  return Status::ok();
}

// Below `opset_needed`, constant input `index` is written back as the ints attribute `attr`
// (the older form); a runtime value cannot be.
Status input_to_ints_attr(DowngradeCtx& d, size_t index, const char* attr, int64_t opset_needed) {
  if (d.opset >= opset_needed || !d.node.input(index)) return Status::ok();
  const Tensor* t = d.const_input(index);
  if (!t)
    return Status::errorf("input {} ({}) must be a constant to be written below opset {}", index,
                          attr, opset_needed);
  set_ints_attr(d.proto, attr, t->to_i64_vector());
  d.drop_input(index);
  return Status::ok();
}

// Squeeze / Unsqueeze: the axes input becomes the attribute again below opset 13.
Status downgrade_axes_input(DowngradeCtx& d) {
  return input_to_ints_attr(d, 1, "axes", 13);
}

// Split: `split` attribute (opset < 13) -> input 1.
Status upgrade_split(UpgradeCtx& u) {
  if (u.opset < 13) return u.attr_to_input("split", 1, DType::I64);
  return Status::ok();
}

// Static dims of input i, or nullopt when any is unknown.
std::optional<std::vector<int64_t>> static_dims(const ir::Node& n, size_t i) {
  const ir::Value* v = n.input(i);
  if (!v) return std::nullopt;
  if (v->is_constant()) return v->constant->shape();
  if (!v->has_shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : v->dims) {
    if (!d.is_static()) return std::nullopt;
    dims.push_back(d.value);
  }
  return dims;
}

// Split: num_outputs (opset 18) below 18 becomes explicit sizes (an attribute below 13, an
// input from 13), computed from the input's static shape.
Status downgrade_split(DowngradeCtx& d) {
  if (d.opset >= 18 || !d.node.has_attr("num_outputs")) {
    if (d.opset < 13 && d.node.input(1)) {
      const Tensor* s = d.const_input(1);
      if (!s)
        return Status::error(
            "split sizes must be constant to be written as an attribute below opset 13");
      set_ints_attr(d.proto, "split", s->to_i64_vector());
      d.drop_input(1);
    }
    return Status::ok();
  }
  remove_attr(d.proto, "num_outputs");
  auto dims = static_dims(d.node, 0);
  if (!dims)
    return Status::error("num_outputs needs opset 18 unless the input shape is static (it is not)");
  const int64_t r = static_cast<int64_t>(dims->size());
  int64_t axis = d.node.attr_int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r)
    return Status::errorf("axis {} is out of range for rank {}", d.node.attr_int("axis", 0), r);
  const int64_t dim = (*dims)[axis], n = d.node.attr_int("num_outputs", 1);
  const int64_t chunk = (dim + n - 1) / n;
  std::vector<int64_t> sizes;
  for (int64_t i = 0; i < n; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  if (d.opset < 13) {
    set_ints_attr(d.proto, "split", sizes);
    return Status::ok();
  }
  return d.set_const_input(1, Tensor::from_vector<int64_t>(sizes, {n}));
}

// Slice: starts / ends / axes attributes (opset < 10) -> inputs 1, 2, 3.
Status upgrade_slice(UpgradeCtx& u) {
  if (u.opset >= 10) return Status::ok();
  if (!u.node.has_attr("starts") || !u.node.has_attr("ends"))
    return Status::error("Slice needs the starts and ends attributes");
  CONDENSE_TRY(u.attr_to_input("starts", 1, DType::I64));
  CONDENSE_TRY(u.attr_to_input("ends", 2, DType::I64));
  return u.attr_to_input("axes", 3, DType::I64);
}

// Pad: pads / value attributes (opset < 11) -> inputs 1, 2. A zero value stays implicit.
Status upgrade_pad(UpgradeCtx& u) {
  if (u.opset >= 11) return Status::ok();
  if (!u.node.has_attr("pads")) return Status::error("Pad needs the pads attribute");
  CONDENSE_TRY(u.attr_to_input("pads", 1, DType::I64));
  if (u.node.attr_float("value", 0.0f) == 0.0f) {
    u.node.attrs.erase("value");
    return Status::ok();
  }
  // Old Pad only takes float data; the kernel converts the constant to the data dtype.
  return u.attr_to_input("value", 2, DType::F32, /*scalar=*/true);
}

// Pad: the axes input (opset 18) folds into full-rank pads below 18; wrap needs 19.
Status downgrade_pad(DowngradeCtx& d) {
  if (d.opset < 19 && d.node.attr_string("mode", "constant") == "wrap")
    return Status::error("Pad mode 'wrap' needs opset 19");
  if (d.opset >= 18 || !d.node.input(3)) return Status::ok();
  const Tensor* axes = d.const_input(3);
  const Tensor* pads = d.const_input(1);
  auto dims = static_dims(d.node, 0);
  if (!axes || !pads || !dims)
    return Status::error(
        "Pad's axes input needs opset 18 unless axes, pads and the input rank are static");
  const int64_t r = static_cast<int64_t>(dims->size()), n = axes->numel();
  if (pads->numel() != 2 * n) return Status::error("pads and axes lengths disagree");
  std::vector<int64_t> full(2 * r, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = axes->get_i64(i);
    if (a < 0) a += r;
    if (a < 0 || a >= r)
      return Status::errorf("axis {} is out of range for rank {}", axes->get_i64(i), r);
    full[a] = pads->get_i64(i);
    full[a + r] = pads->get_i64(i + n);
  }
  d.drop_input(3);
  return d.set_const_input(1, Tensor::from_vector<int64_t>(full, {2 * r}));
}

// Scatter (opset 9-10) is ScatterElements under its old name.
Status upgrade_scatter(UpgradeCtx& u) {
  u.node.op = OpKind::ScatterElements;
  return Status::ok();
}

// ScatterElements / ScatterND: reduction add/mul needs 16, max/min needs 18.
Status downgrade_scatter_reduction(DowngradeCtx& d) {
  const std::string r = d.node.attr_string("reduction", "none");
  if (r == "none") {
    if (d.opset < 16) remove_attr(d.proto, "reduction");
    return Status::ok();
  }
  if (d.opset < 16) return Status::errorf("reduction '{}' needs opset 16", r);
  if ((r == "max" || r == "min") && d.opset < 18)
    return Status::errorf("reduction '{}' needs opset 18", r);
  return Status::ok();
}

// Shape: start / end need opset 15.
Status downgrade_shape(DowngradeCtx& d) {
  if (d.opset < 15 && (d.node.has_attr("start") || d.node.has_attr("end")))
    return Status::error("Shape's start/end attributes need opset 15");
  return Status::ok();
}

// Dropout: the ratio attribute (opset < 12) -> input 1 (a float scalar).
Status upgrade_dropout(UpgradeCtx& u) {
  if (u.opset >= 12) return Status::ok();
  u.node.attrs.erase("is_test");
  return u.attr_to_input("ratio", 1, DType::F32, /*scalar=*/true);
}

}  // namespace

void register_onnx_hooks_shape(HookTable& t) {
  t[OpKind::Squeeze].upgrade = &upgrade_axes_input;
  t[OpKind::Unsqueeze].upgrade = &upgrade_axes_input;
  t[OpKind::Squeeze].downgrade = &downgrade_axes_input;
  t[OpKind::Unsqueeze].downgrade = &downgrade_axes_input;
  t[OpKind::Split].upgrade = &upgrade_split;
  t[OpKind::Split].downgrade = &downgrade_split;
  t[OpKind::Slice].upgrade = &upgrade_slice;
  t[OpKind::Pad].upgrade = &upgrade_pad;
  t[OpKind::Pad].downgrade = &downgrade_pad;
  t[OpKind::Scatter].upgrade = &upgrade_scatter;
  t[OpKind::ScatterElements].downgrade = &downgrade_scatter_reduction;
  t[OpKind::ScatterND].downgrade = &downgrade_scatter_reduction;
  t[OpKind::Shape].downgrade = &downgrade_shape;
  t[OpKind::Dropout].upgrade = &upgrade_dropout;
  t[OpKind::Trilu].min_opset = 14;
  t[OpKind::CenterCropPad].min_opset = 18;
  t[OpKind::Col2Im].min_opset = 18;
}

}  // namespace condense::onnx_internal
