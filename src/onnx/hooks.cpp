#include "onnx/hooks.h"

namespace condense::onnx_internal {

const HookTable& op_hooks() {
  static const HookTable table = [] {
    HookTable t;
#define CONDENSE_X(family) register_onnx_hooks_##family(t);
    CONDENSE_OP_FAMILIES(CONDENSE_X)
#undef CONDENSE_X
    return t;
  }();
  return table;
}

Status UpgradeCtx::attr_to_input(const std::string& attr, size_t index, DType dtype, bool scalar) {
  const ir::Attribute* a = node.attr(attr);
  if (!a) return Status::ok();
  Tensor t;
  auto make = [&](auto values) {
    using V = typename decltype(values)::value_type;
    Shape shape = scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())};
    Tensor out = Tensor::empty(dtype, shape);
    for (size_t i = 0; i < values.size(); ++i) {
      if (dtype == DType::I64) out.data<int64_t>()[i] = static_cast<int64_t>(values[i]);
      else if (dtype == DType::F32) out.data<float>()[i] = static_cast<float>(values[i]);
      else CONDENSE_CHECK_MSG(false, "attr_to_input: dtype must be I64 or F32");
    }
    (void)sizeof(V);
    return out;
  };
  switch (a->kind) {
    case ir::Attribute::Kind::Ints: t = make(a->ints); break;
    case ir::Attribute::Kind::Floats: t = make(a->floats); break;
    case ir::Attribute::Kind::Int: t = make(std::vector<int64_t>{a->i}); break;
    case ir::Attribute::Kind::Float: t = make(std::vector<float>{a->f}); break;
    default:
      return Status::errorf("node {}: attribute '{}' has an unexpected type", node.describe(), attr);
  }
  node.attrs.erase(attr);
  set_const_input(index, std::move(t));
  return Status::ok();
}

void UpgradeCtx::set_const_input(size_t index, Tensor t) {
  if (node.inputs.size() <= index) node.inputs.resize(index + 1, nullptr);
  node.inputs[index] = graph.add_constant(graph.fresh_name(node.name + "_const"), std::move(t));
}

const Tensor* DowngradeCtx::const_input(size_t i) const {
  ir::Value* v = node.input(i);
  return v && v->is_constant() ? &*v->constant : nullptr;
}

void DowngradeCtx::drop_input(size_t i) {
  if (static_cast<int>(i) < proto.input_size()) proto.set_input(static_cast<int>(i), "");
  while (proto.input_size() > 0 && proto.input(proto.input_size() - 1).empty())
    proto.mutable_input()->RemoveLast();
}

Status DowngradeCtx::set_const_input(size_t i, const Tensor& t) {
  if (!graph_proto) return Status::error("internal: no graph to add an initializer to");
  std::string name = proto.name() + "_" + std::to_string(i) + "_downgraded";
  for (int k = 0; k < graph_proto->initializer_size(); ++k)
    if (graph_proto->initializer(k).name() == name) name += "_";
  tensor_to_proto(t, name, graph_proto->add_initializer());
  while (proto.input_size() <= static_cast<int>(i)) proto.add_input("");
  proto.set_input(static_cast<int>(i), name);
  return Status::ok();
}

}  // namespace condense::onnx_internal
