// Models older than opset 7: attributes that later opsets dropped. `consumed_inputs` (opset < 6)
// was an in-place hint with no meaning for the result; `broadcast`/`axis` on binary ops
// (opset < 7) are rewritten into numpy broadcasting by reshaping B so that its dims line up with
// A's dims starting at `axis`.
#include "onnx/legacy.h"

namespace condense::onnx_internal {

namespace {
bool is_legacy_broadcast_op(std::string_view op) {
  for (std::string_view o : {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal",
                             "Less", "Greater", "PRelu"})
    if (op == o) return true;
  return false;
}

std::optional<int64_t> known_rank(const ir::Value* v) {
  if (v->is_constant()) return v->constant->rank();
  if (v->has_shape) return static_cast<int64_t>(v->dims.size());
  return std::nullopt;
}

Status reshape_b_to_axis(UpgradeCtx& u, int64_t axis) {
  ir::Node& n = u.node;
  // B's dims start at `axis` of A: append trailing 1s to B so numpy alignment matches.
  ir::Value* a = n.inputs[0];
  ir::Value* b = n.inputs[1];
  auto rank_a = known_rank(a);
  auto rank_b = known_rank(b);
  if (!rank_a || !rank_b)
    return Status::errorf(
        "legacy broadcast with axis={} needs the ranks of both inputs, which the model does not "
        "declare; re-export the model at opset 7 or newer",
        axis);
  int64_t ax = axis < 0 ? axis + *rank_a : axis;
  int64_t trailing = *rank_a - ax - *rank_b;
  if (ax < 0 || trailing < 0)
    return Status::errorf("legacy broadcast axis {} does not fit ranks {} and {}", axis, *rank_a,
                          *rank_b);
  if (trailing == 0) return Status::ok();
  if (b->is_constant()) {
    Shape s = b->constant->shape();
    s.insert(s.end(), trailing, 1);
    u.set_const_input(1, b->constant->reshaped(s));
    return Status::ok();
  }
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < trailing; ++i) axes.push_back(*rank_b + i);
  ir::Value* axes_v = u.graph.add_constant(u.graph.fresh_name(n.name + "_axes"),
                                           Tensor::from_vector<int64_t>(axes, {trailing}));
  auto unsq = op_from_onnx("", "Unsqueeze");
  if (!unsq) return Status::error("legacy broadcast needs Unsqueeze, which is not available");
  ir::Node* un = u.graph.add_node(*unsq, {b, axes_v}, 1, u.graph.fresh_name(n.name + "_unsqueeze"));
  n.inputs[1] = un->outputs[0];
  return Status::ok();
}

}  // namespace

Status upgrade_legacy_attributes(UpgradeCtx& u) {
  ir::Node& n = u.node;
  n.attrs.erase("consumed_inputs");
  if (!is_legacy_broadcast_op(op_name(n.op)) || u.opset >= 7) return Status::ok();
  const bool broadcast = n.attr_int("broadcast", 0) != 0;
  const ir::Attribute* axis_attr = n.attr("axis");
  std::optional<int64_t> axis;
  if (axis_attr) axis = axis_attr->i;
  n.attrs.erase("broadcast");
  n.attrs.erase("axis");
  // PRelu before opset 7 applied a 1-D slope along the channel axis (dim 1).
  if (op_name(n.op) == "PRelu" && !axis && n.inputs.size() == 2 && n.inputs[1] &&
      n.inputs[1]->is_constant() && n.inputs[1]->constant->rank() == 1 &&
      n.inputs[1]->constant->numel() > 1) {
    axis = 1;
    if (auto r = known_rank(n.inputs[0]); r && *r > 2) return reshape_b_to_axis(u, *axis);
    return Status::ok();
  }
  if (!broadcast || !axis || n.inputs.size() < 2 || !n.inputs[1]) return Status::ok();
  return reshape_b_to_axis(u, *axis);
}

}  // namespace condense::onnx_internal
