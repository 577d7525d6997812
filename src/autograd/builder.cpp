// The training-graph builder: forward rewrites (rewrite.cpp), then reverse-mode differentiation
// over the forward nodes in reverse topological order, each node's gradient rule
// (src/ops/grad.h) appending its backward nodes.
#include <condense/autograd.h>

#include <unordered_set>

#include "autograd/facts.h"
#include "autograd/rewrite.h"
#include "ops/grad.h"

namespace condense::autograd {

using namespace autograd_internal;

namespace {

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}

struct Backward {
  ir::Graph& g;
  const FactsMap& facts;
  GradBuildState state;
  // Gradient contributions per forward value, summed on first use.
  std::unordered_map<const ir::Value*, std::vector<ir::Value*>> contributions;

  Backward(ir::Graph& graph, const FactsMap& f) : g(graph), facts(f), state{graph, f, {}, {}} {
    for (const auto& v : g.values()) state.names.insert(v->name);
    for (const auto& n : g.nodes()) state.names.insert(n->name);
  }

  DType dtype(const ir::Value* v) const {
    auto it = facts.find(v);
    return it != facts.end() && it->second.dtype_known ? it->second.dtype : v->dtype;
  }

  // The summed gradient of v, or nullptr when nothing flows into it.
  ir::Value* total(const ir::Value* v) {
    auto it = contributions.find(v);
    if (it == contributions.end() || it->second.empty()) return nullptr;
    std::vector<ir::Value*>& c = it->second;
    if (c.size() > 1) {
      ir::Value* sum = g.add_value(state.fresh(v->name + "/grad_sum"));
      g.add_node_with_outputs(c.size() == 2 ? OpKind::Add : OpKind::Sum, c, {sum},
                              state.fresh(v->name + "/grad_sum"));
      c = {sum};
    }
    return c[0];
  }

  // ConstantOfShape(Shape(v)) filled with `fill` in v's dtype.
  ir::Value* filled_like(ir::Value* v, double fill, const std::string& name) {
    ir::Value* shape = g.add_value(state.fresh(name + "/shape"));
    g.add_node_with_outputs(OpKind::Shape, {v}, {shape}, shape->name);
    ir::Value* out = g.add_value(state.fresh(name));
    ir::Node* n = g.add_node_with_outputs(OpKind::ConstantOfShape, {shape}, {out}, out->name);
    Tensor t = dtype(v) == DType::F64 ? Tensor::from_vector<double>({fill}, {1})
                                      : Tensor::from_vector<float>({static_cast<float>(fill)}, {1});
    n->attrs["value"] = ir::Attribute::of_tensor(std::move(t));
    return out;
  }
};

// Values that depend on a parameter through differentiable slots (float values only). Nodes
// without a rule propagate from any input, so that reaching the loss through them is an error
// rather than a silently missing gradient.
std::unordered_set<const ir::Value*> values_needing_grad(const std::vector<ir::Node*>& order,
                                                         const TrainingGraph& tg,
                                                         const ir::Graph& g, const Backward& b) {
  std::unordered_set<const ir::Value*> req;
  for (const Parameter& p : tg.params) req.insert(g.inputs[p.input]);
  for (const ir::Node* n : order) {
    const GradRule* rule = grad_rule(n->op);
    bool any = false;
    for (size_t i = 0; i < n->inputs.size(); ++i)
      any |= n->inputs[i] && req.count(n->inputs[i]) && (!rule || rule->differentiates(i));
    if (!any) continue;
    for (const ir::Value* o : n->outputs)
      if (o && is_float(b.dtype(o))) req.insert(o);
  }
  return req;
}

// Values the loss depends on.
std::unordered_set<const ir::Value*> values_reaching(const std::vector<ir::Node*>& order,
                                                     const ir::Value* loss) {
  std::unordered_set<const ir::Value*> live = {loss};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    bool any = false;
    for (const ir::Value* o : (*it)->outputs) any |= o && live.count(o);
    if (!any) continue;
    for (const ir::Value* in : (*it)->inputs)
      if (in) live.insert(in);
  }
  return live;
}

Status check_loss(const ir::Value* loss, const FactsMap& facts, std::string_view name) {
  auto it = facts.find(loss);
  if (it == facts.end() || !it->second.dtype_known)
    return Status::errorf("the type of loss '{}' could not be inferred", name);
  const ValueFacts& f = it->second;
  if (f.dtype != DType::F32 && f.dtype != DType::F64)
    return Status::errorf("loss '{}' has dtype {}; it must be f32 or f64", name,
                          dtype_name(f.dtype));
  if (f.shape_known && (shape_numel(f.probe[0]) != 1 || shape_numel(f.probe[1]) != 1))
    return Status::errorf("loss '{}' has shape {}; it must have one element", name,
                          shape_str(f.probe[0]));
  return Status::ok();
}

// Every non-constant value takes the inferred dtype (kernel factories read declared dtypes).
void assign_dtypes(ir::Graph& g) {
  const FactsMap facts = compute_facts(g);
  for (const auto& v : g.values())
    if (!v->is_constant())
      if (auto it = facts.find(v.get()); it != facts.end() && it->second.dtype_known)
        v->dtype = it->second.dtype;
}

}  // namespace

Result<TrainingGraph> build_training_graph(ir::Graph g, std::string_view loss_name,
                                           const TrainingOptions& options) {
  CONDENSE_TRY(g.verify());
  TrainingGraph tg;
  for (const ir::Value* v : g.inputs) tg.data_inputs.push_back(v->name);
  ir::Value* loss = g.find_value(std::string(loss_name));
  if (!loss) return Status::errorf("loss '{}' is not a value of the graph", loss_name);
  CONDENSE_TRY(unfuse_activations(g));
  CONDENSE_TRY(parameters_to_inputs(g, options.parameters, tg));
  std::vector<ir::Value*> state_values;
  CONDENSE_TRY(convert_training_modes(g, options, tg, state_values));
  std::vector<ir::Value*> extras;
  for (const std::string& name : options.extra_outputs) {
    ir::Value* v = g.find_value(name);
    if (!v) return Status::errorf("extra output '{}' is not a value of the graph", name);
    extras.push_back(v);
  }
  CONDENSE_TRY(g.sort());
  CONDENSE_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topological_order());
  const FactsMap facts = compute_facts(g);
  CONDENSE_TRY(check_loss(loss, facts, loss_name));

  Backward b(g, facts);
  const auto req = values_needing_grad(order, tg, g, b);
  const auto live = values_reaching(order, loss);
  if (!req.count(loss))
    return Status::errorf("loss '{}' does not depend on any of the {} parameters", loss_name,
                          tg.params.size());
  b.contributions[loss].push_back(b.filled_like(loss, 1.0, loss->name + "/grad_seed"));

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    ir::Node* n = *it;
    std::vector<ir::Value*> grads(n->outputs.size(), nullptr);
    bool any_grad = false;
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      const ir::Value* o = n->outputs[i];
      if (o && req.count(o) && live.count(o)) grads[i] = b.total(o);
      any_grad |= grads[i] != nullptr;
    }
    if (!any_grad) continue;
    const GradRule* rule = grad_rule(n->op);
    if (!rule)
      return Status::errorf(
          "node {} lies between a parameter and the loss, but {} has no gradient rule (see "
          "docs/autograd.md); freeze the parameters before it or remove the node",
          n->describe(), op_name(n->op));
    std::unique_ptr<bool[]> needed(new bool[n->inputs.size() + 1]());
    bool any_needed = false;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* in = n->inputs[i];
      needed[i] = in && req.count(in) && rule->differentiates(i) && is_float(b.dtype(in));
      any_needed |= needed[i];
    }
    if (!any_needed) continue;
    std::vector<ir::Value*> dx(n->inputs.size(), nullptr);
    GradCtx ctx{b.state, *n, grads, std::span<const bool>(needed.get(), n->inputs.size()), dx};
    CONDENSE_TRY(rule->fn(ctx));
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (!needed[i]) continue;
      if (!dx[i])
        return Status::errorf("internal: the gradient rule of {} gave no gradient for input {}",
                              n->describe(), i);
      b.contributions[n->inputs[i]].push_back(dx[i]);
    }
  }

  // Outputs: loss, one gradient per parameter, state updates, extras.
  g.outputs = {loss};
  tg.loss_output = 0;
  for (Parameter& p : tg.params) {
    ir::Value* v = g.inputs[p.input];
    ir::Value* grad = b.total(v);
    const std::string name = b.state.fresh(p.name + "_grad");
    if (!grad) {  // the loss does not depend on it
      grad = b.filled_like(v, 0.0, name);
    } else {
      ir::Value* named = g.add_value(name);
      g.add_node_with_outputs(OpKind::Identity, {grad}, {named}, name);
      grad = named;
    }
    p.grad_output = static_cast<int>(g.outputs.size());
    g.outputs.push_back(grad);
  }
  for (size_t i = 0; i < tg.states.size(); ++i) {
    tg.states[i].output = static_cast<int>(g.outputs.size());
    g.outputs.push_back(state_values[i]);
  }
  for (ir::Value* v : extras) {
    tg.extra_outputs.push_back(static_cast<int>(g.outputs.size()));
    g.outputs.push_back(v);
  }
  g.remove_dead();
  CONDENSE_TRY(g.sort());
  assign_dtypes(g);
  CONDENSE_TRY(g.verify().with_context("internal: the training graph is invalid"));
  tg.graph = std::move(g);
  return tg;
}

}  // namespace condense::autograd
