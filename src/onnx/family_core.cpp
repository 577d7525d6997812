// ONNX opset hooks for the core family (see onnx/hooks.h).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {
// Constant: value_float(s) / value_int(s) / sparse_value all become the tensor attribute "value".
Status upgrade_constant(UpgradeCtx& u) {
  ir::Node& n = u.node;
  if (n.has_attr("value")) return Status::ok();
  Tensor t;
  if (const ir::Attribute* a = n.attr("sparse_value")) {
    t = a->t;
  } else if (const ir::Attribute* a = n.attr("value_float")) {
    t = Tensor::scalar<float>(a->f);
  } else if (const ir::Attribute* a = n.attr("value_floats")) {
    t = Tensor::from_vector<float>(a->floats, {static_cast<int64_t>(a->floats.size())});
  } else if (const ir::Attribute* a = n.attr("value_int")) {
    t = Tensor::scalar<int64_t>(a->i);
  } else if (const ir::Attribute* a = n.attr("value_ints")) {
    t = Tensor::from_vector<int64_t>(a->ints, {static_cast<int64_t>(a->ints.size())});
  } else if (n.has_attr("value_string") || n.has_attr("value_strings")) {
    return Status::error("string constants are not supported");
  } else {
    return Status::error("Constant has no value attribute");
  }
  n.attrs.clear();
  n.attrs["value"] = ir::Attribute::of_tensor(std::move(t));
  return Status::ok();
}
}  // namespace

void register_onnx_hooks_core(HookTable& t) { t[OpKind::Constant].upgrade = &upgrade_constant; }

}  // namespace condense::onnx_internal
