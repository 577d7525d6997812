// ONNX opset hooks for the rnn family and the image ops listed with it (see onnx/hooks.h).
// RNN/GRU/LSTM map one to one (opset 14 only added `layout`, default 0).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {

// Opset 10-12 Resize, and Upsample: rewrite into the opset 19 Resize form.
//  - opset 10 Resize (X, scales) and Upsample (X, scales) / Upsample-7 (scales attribute) use
//    asymmetric coordinates and floor for nearest;
//  - opset 11-12 pass empty tensors for the unused roi / scales inputs: drop them.
Status upgrade_resize(UpgradeCtx& u) {
  ir::Node& n = u.node;
  const bool upsample = n.op == OpKind::Upsample;
  if (upsample || u.opset < 11) {
    if (upsample && n.attr_string("mode", "nearest") == "bilinear")
      n.attrs["mode"] = ir::Attribute::of_string("linear");
    if (upsample && u.opset < 9) {
      if (!n.has_attr("scales")) return Status::error("Upsample needs a scales attribute");
      CONDENSE_TRY(u.attr_to_input("scales", 2, DType::F32));
    } else {
      ir::Value* scales = n.input(1);
      n.inputs.resize(3, nullptr);
      n.inputs[1] = nullptr;
      n.inputs[2] = scales;
    }
    n.op = OpKind::Resize;
    n.attrs["coordinate_transformation_mode"] = ir::Attribute::of_string("asymmetric");
    n.attrs["nearest_mode"] = ir::Attribute::of_string("floor");
    return Status::ok();
  }
  for (size_t i : {1u, 2u}) {
    ir::Value* v = n.input(i);
    if (v && v->is_constant() && v->constant->numel() == 0) n.inputs[i] = nullptr;
  }
  while (!n.inputs.empty() && !n.inputs.back()) n.inputs.pop_back();
  return Status::ok();
}

void drop_attr(::onnx::NodeProto& p, const std::string& name) {
  for (int i = 0; i < p.attribute_size(); ++i)
    if (p.attribute(i).name() == name) {
      p.mutable_attribute()->DeleteSubrange(i, 1);
      return;
    }
}

// Below opset 18 Resize has no antialias / axes / keep_aspect_ratio_policy; below 19 no
// half_pixel_symmetric. Default values are dropped; others cannot be expressed.
Status downgrade_resize(DowngradeCtx& d) {
  const ir::Node& n = d.node;
  if (d.opset < 19 && n.attr_string("coordinate_transformation_mode", "") == "half_pixel_symmetric")
    return Status::error("half_pixel_symmetric needs opset 19");
  if (d.opset >= 18) return Status::ok();
  if (n.attr_int("antialias", 0) != 0 || n.has_attr("axes") ||
      n.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
    return Status::error("antialias, axes and keep_aspect_ratio_policy need opset 18");
  drop_attr(d.proto, "antialias");
  drop_attr(d.proto, "keep_aspect_ratio_policy");
  return Status::ok();
}

}  // namespace

void register_onnx_hooks_rnn(HookTable& t) {
  t[OpKind::Resize] = OpHooks{&upgrade_resize, &downgrade_resize, 0};
  t[OpKind::Upsample] = OpHooks{&upgrade_resize, nullptr, 0};
}

}  // namespace condense::onnx_internal
