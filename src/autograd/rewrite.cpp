#include "autograd/rewrite.h"

#include <limits>
#include <unordered_set>

#include "ops/nn_activation.h"

namespace condense::autograd_internal {

using autograd::Parameter;
using autograd::State;

namespace {
// The activation node's op and attributes for a fused activation.
struct Unfused {
  OpKind op = OpKind::Relu;
  std::map<std::string, ir::Attribute> attrs;
  bool clip = false;
};

Unfused unfused_form(const FusedActivation& a) {
  Unfused u;
  switch (a.kind) {
    case FusedAct::None:
    case FusedAct::Relu:
      u.op = OpKind::Relu;
      break;
    case FusedAct::LeakyRelu:
      u.op = OpKind::LeakyRelu;
      u.attrs["alpha"] = ir::Attribute::of_float(a.alpha);
      break;
    case FusedAct::Clip:
      u.op = OpKind::Clip;
      u.clip = true;
      break;
    case FusedAct::Sigmoid:
      u.op = OpKind::Sigmoid;
      break;
    case FusedAct::Tanh:
      u.op = OpKind::Tanh;
      break;
    case FusedAct::HardSigmoid:
      u.op = OpKind::HardSigmoid;
      u.attrs["alpha"] = ir::Attribute::of_float(a.alpha);
      u.attrs["beta"] = ir::Attribute::of_float(a.beta);
      break;
    case FusedAct::Gelu:
      u.op = OpKind::Gelu;
      break;
    case FusedAct::GeluTanh:
      u.op = OpKind::Gelu;
      u.attrs["approximate"] = ir::Attribute::of_string("tanh");
      break;
  }
  return u;
}

Tensor scalar_of(DType t, float v) {
  if (t == DType::F64) return Tensor::scalar<double>(v);
  return Tensor::scalar<float>(v);
}

bool is_float_constant(const ir::Value* v) {
  return v && v->is_constant() && dtype_is_float(v->constant->dtype());
}
}  // namespace

Status unfuse_activations(ir::Graph& g) {
  std::vector<ir::Node*> fused;
  for (const auto& n : g.nodes())
    if (n->has_attr("_activation")) fused.push_back(n.get());
  for (ir::Node* n : fused) {
    auto act = fused_activation(*n);
    if (!act)
      return Status::errorf("node {}: unknown fused activation '{}'", n->describe(),
                            n->attr_string("_activation", ""));
    n->attrs.erase("_activation");
    n->attrs.erase("_activation_alpha");
    n->attrs.erase("_activation_beta");
    if (act->kind == FusedAct::None || n->outputs.empty() || !n->outputs[0]) continue;
    ir::Value* y = n->outputs[0];
    ir::Value* z = g.add_value(g.fresh_name(y->name + "_preact"), y->dtype);
    n->outputs[0] = z;
    z->producer = n;
    const Unfused u = unfused_form(*act);
    std::vector<ir::Value*> ins = {z};
    if (u.clip) {
      // The bounds take the dtype of the weights (the activation's dtype when they are constant).
      const ir::Value* w = n->input(1);
      const DType t = is_float_constant(w) ? w->constant->dtype() : y->dtype;
      ins.push_back(g.add_constant(g.fresh_name(n->name + "_clip_min"), scalar_of(t, act->alpha)));
      ins.push_back(g.add_constant(g.fresh_name(n->name + "_clip_max"), scalar_of(t, act->beta)));
    }
    ir::Node* a = g.add_node_with_outputs(u.op, ins, {y}, g.fresh_name(n->name + "_act"));
    a->attrs = u.attrs;
  }
  return Status::ok();
}

Status parameters_to_inputs(ir::Graph& g, const std::vector<std::string>& names,
                            TrainingGraph& tg) {
  if (names.empty())
    return Status::error(
        "no trainable parameters were given (select float initializers with "
        "autograd::select_parameters)");
  std::unordered_set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) return Status::errorf("parameter '{}' is listed twice", name);
    ir::Value* v = g.find_value(name);
    if (!v) return Status::errorf("parameter '{}' is not a value of the graph", name);
    if (!v->is_constant())
      return Status::errorf("parameter '{}' is not an initializer (a constant tensor)", name);
    if (v->constant->dtype() != DType::F32 && v->constant->dtype() != DType::F64)
      return Status::errorf("parameter '{}' has dtype {}; only f32 and f64 tensors train", name,
                            dtype_name(v->constant->dtype()));
    Parameter p;
    p.name = name;
    p.initial = *v->constant;
    p.input = static_cast<int>(g.inputs.size());
    v->constant.reset();
    v->has_shape = true;
    v->dims.assign(p.initial.shape().begin(), p.initial.shape().end());
    v->dtype = p.initial.dtype();
    g.inputs.push_back(v);
    tg.params.push_back(std::move(p));
  }
  return Status::ok();
}

namespace {
bool is_param(const TrainingGraph& tg, const ir::Value* v) {
  for (const Parameter& p : tg.params)
    if (p.name == v->name) return true;
  return false;
}

// A running statistic of a training-mode batch norm becomes a state input.
Status statistic_to_state(ir::Graph& g, ir::Node* bn, size_t slot, TrainingGraph& tg,
                          std::unordered_set<const ir::Value*>& claimed) {
  ir::Value* v = bn->inputs[slot];
  const char* what = slot == 3 ? "running mean" : "running variance";
  if (!claimed.insert(v).second)
    return Status::errorf("node {}: its {} '{}' is shared with another batch norm", bn->describe(),
                          what, v->name);
  if (is_param(tg, v))
    return Status::errorf("node {}: its {} '{}' cannot be a trained parameter", bn->describe(),
                          what, v->name);
  if (!v->is_constant())
    return Status::errorf("node {}: its {} '{}' must be an initializer to be updated in training",
                          bn->describe(), what, v->name);
  State s;
  s.name = v->name;
  s.initial = *v->constant;
  s.input = static_cast<int>(g.inputs.size());
  v->constant.reset();
  v->has_shape = true;
  v->dims.assign(s.initial.shape().begin(), s.initial.shape().end());
  v->dtype = s.initial.dtype();
  g.inputs.push_back(v);
  tg.states.push_back(std::move(s));
  return Status::ok();
}

bool used_anywhere(const ir::Graph& g, const ir::Value* v) {
  if (!v) return false;
  for (const ir::Value* o : g.outputs)
    if (o == v) return true;
  for (const auto& n : g.nodes())
    for (const ir::Value* in : n->inputs)
      if (in == v) return true;
  return false;
}
}  // namespace

Status convert_training_modes(ir::Graph& g, const TrainingOptions& options, TrainingGraph& tg,
                              std::vector<ir::Value*>& state_values) {
  std::vector<ir::Node*> bns, drops;
  for (const auto& n : g.nodes()) {
    if (n->op == OpKind::BatchNormalization &&
        (options.batchnorm_training || n->attr_int("training_mode", 0) != 0))
      bns.push_back(n.get());
    if (n->op == OpKind::Dropout) drops.push_back(n.get());
  }
  std::unordered_set<const ir::Value*> claimed;
  for (ir::Node* bn : bns) {
    CONDENSE_TRY(statistic_to_state(g, bn, 3, tg, claimed));
    CONDENSE_TRY(statistic_to_state(g, bn, 4, tg, claimed));
    std::vector<ir::Value*> outs = {bn->outputs[0]};
    for (size_t i = 1; i < 3; ++i) {
      ir::Value* o = bn->output(i);
      outs.push_back(
          o ? o
            : g.add_value(g.fresh_name(bn->name + (i == 1 ? "_running_mean" : "_running_var"))));
      state_values.push_back(outs.back());
    }
    outs.push_back(g.add_value(g.fresh_name(bn->name + "_batch_mean")));
    outs.push_back(g.add_value(g.fresh_name(bn->name + "_batch_var")));
    std::map<std::string, ir::Attribute> attrs;
    attrs["epsilon"] = ir::Attribute::of_float(bn->attr_float("epsilon", 1e-5f));
    attrs["momentum"] = ir::Attribute::of_float(bn->attr_float("momentum", 0.9f));
    const std::vector<ir::Value*> ins = bn->inputs;
    const std::string name = bn->name;
    bn->outputs.clear();
    g.remove_node(bn);
    ir::Node* t = g.add_node_with_outputs(OpKind::BatchNormTraining, ins, outs, name);
    t->attrs = std::move(attrs);
  }
  ir::Value* seed = nullptr;
  int64_t salt = 0;
  for (ir::Node* d : drops) {
    if (used_anywhere(g, d->output(1)))
      return Status::errorf("node {}: its mask output is used; training graphs do not support that",
                            d->describe());
    ir::Value* x = d->inputs[0];
    ir::Value* y = d->outputs[0];
    if (!options.dropout_training) {
      const std::string name = d->name;
      g.remove_node(d);
      g.add_node_with_outputs(OpKind::Identity, {x}, {y}, name);
      continue;
    }
    if (!seed) {
      const std::string name =
          g.find_value("dropout_seed") ? g.fresh_name("dropout_seed") : "dropout_seed";
      seed = g.add_input(name, DType::I64, {});
      tg.dropout_seed_input = static_cast<int>(g.inputs.size()) - 1;
    }
    ir::Value* ratio = d->input(1);
    const std::string name = d->name;
    g.remove_node(d);
    ir::Value* mask = g.add_value(g.fresh_name(name + "_mask"));
    ir::Node* t = g.add_node_with_outputs(OpKind::DropoutTrain, {x, ratio, seed}, {y, mask}, name);
    t->attrs["salt"] = ir::Attribute::of_int(salt++);
  }
  return Status::ok();
}

}  // namespace condense::autograd_internal
