// Trainable-parameter selection and the TrainingGraph feed helpers.
#include <condense/autograd.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> at -O2 with sanitizers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <unordered_set>

#include "ops/grad.h"

namespace condense::autograd {

Result<std::vector<std::string>> select_parameters(const ir::Graph& g, std::string_view pattern) {
  std::regex re;
  try {
    re = std::regex(std::string(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Status::errorf("invalid parameter pattern '{}': {}", pattern, e.what());
  }
  // Float initializers some node differentiates through (weights, biases, norm scales).
  std::unordered_set<const ir::Value*> differentiable;
  for (const auto& n : g.nodes()) {
    const GradRule* rule = grad_rule(n->op);
    if (!rule) continue;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (v && v->is_constant() && rule->differentiates(i)) differentiable.insert(v);
    }
  }
  std::vector<std::string> names;
  for (const auto& v : g.values()) {
    if (!differentiable.count(v.get())) continue;
    const DType t = v->constant->dtype();
    if (t != DType::F32 && t != DType::F64) continue;
    if (std::regex_match(v->name, re)) names.push_back(v->name);
  }
  return names;
}

std::vector<Tensor> TrainingGraph::initial_inputs() const {
  std::vector<Tensor> out;
  for (const Parameter& p : params) out.push_back(p.initial);
  for (const State& s : states) out.push_back(s.initial);
  return out;
}

std::map<std::string, Tensor> TrainingGraph::feeds(const std::vector<Tensor>& values) const {
  std::map<std::string, Tensor> f;
  for (size_t i = 0; i < params.size() && i < values.size(); ++i) f[params[i].name] = values[i];
  for (size_t i = 0; i < states.size() && params.size() + i < values.size(); ++i)
    f[states[i].name] = values[params.size() + i];
  return f;
}

}  // namespace condense::autograd
