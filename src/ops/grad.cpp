// The gradient-rule table (generated from src/ops/grad_rules.inc) and GradCtx's node builders.
#include "ops/grad.h"

#include <array>

#include "core/dispatch.h"

namespace condense {

#define CONDENSE_GRAD(op, mask) Status grad_##op(GradCtx&);
#include "ops/grad_rules.inc"
#undef CONDENSE_GRAD

const GradRule* grad_rule(OpKind op) {
  static const std::array<GradRule, kOpCount> table = [] {
    std::array<GradRule, kOpCount> t{};
#define CONDENSE_GRAD(op, mask) t[static_cast<size_t>(OpKind::op)] = {&grad_##op, mask};
#include "ops/grad_rules.inc"
#undef CONDENSE_GRAD
    return t;
  }();
  const GradRule& r = table[static_cast<size_t>(op)];
  return r.fn ? &r : nullptr;
}

std::string GradBuildState::fresh(const std::string& prefix) {
  std::string name = prefix;
  for (int i = 1; names.count(name); ++i) name = fmt::format("{}_{}", prefix, i);
  names.insert(name);
  return name;
}

const ValueFacts& GradCtx::facts(const ir::Value* v) const {
  static const ValueFacts kNone;
  auto it = state.facts.find(v);
  return it == state.facts.end() ? kNone : it->second;
}

std::vector<ir::Value*> GradCtx::ops(OpKind op, std::vector<ir::Value*> inputs, int num_outputs,
                                     Attrs attrs) {
  const std::string base = state.fresh(fmt::format("{}/grad/{}", node.name, op_name(op)));
  std::vector<ir::Value*> outs;
  for (int i = 0; i < num_outputs; ++i)
    outs.push_back(state.graph.add_value(
        num_outputs == 1 ? base : state.fresh(fmt::format("{}:{}", base, i))));
  ir::Node* n = state.graph.add_node_with_outputs(op, std::move(inputs), outs, base);
  n->attrs = std::move(attrs);
  return outs;
}

Attrs GradCtx::node_attrs(std::initializer_list<std::string_view> drop) const {
  Attrs a = node.attrs;
  for (std::string_view k : drop) a.erase(std::string(k));
  return a;
}

ir::Value* GradCtx::scalar(DType t, double v) {
  Tensor s = Tensor::empty(t, {});
  const Status ok = visit_dtype(t, [&]<typename T>() -> Status {
    s.data<T>()[0] = convert<T>(v);
    return Status::ok();
  });
  CONDENSE_CHECK(ok.is_ok());
  return state.graph.add_constant(state.fresh(fmt::format("{}/grad/const", node.name)),
                                  std::move(s));
}

ir::Value* GradCtx::ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return state.graph.add_constant(state.fresh(fmt::format("{}/grad/ints", node.name)),
                                  Tensor::from_vector<int64_t>(v, {n}));
}

ir::Value* GradCtx::shape_of(ir::Value* v) {
  auto it = state.shapes.find(v);
  if (it != state.shapes.end()) return it->second;
  ir::Value* s = op(OpKind::Shape, {v});
  state.shapes[v] = s;
  return s;
}

ir::Value* GradCtx::zeros_like(ir::Value* v) {
  Attrs a;
  a["value"] = ir::Attribute::of_tensor(Tensor::zeros(dtype(v), {1}));
  return op(OpKind::ConstantOfShape, {shape_of(v)}, std::move(a));
}

ir::Value* GradCtx::sum_to(ir::Value* g, const ir::Value* g_like, ir::Value* target) {
  if (ValueFacts::same_shape(facts(g_like), facts(target))) return g;
  return op(OpKind::SumToShape, {g, shape_of(target)});
}

}  // namespace condense
