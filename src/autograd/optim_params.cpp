// select_parameters: which initializers train.
#include <condense/optim.h>

#include <regex>
#include <set>

namespace condense::train {

namespace {

// Float input slots that hold configuration or statistics, not weights.
bool is_non_weight_slot(OpKind op, size_t input) {
  switch (op) {
    case OpKind::BatchNormalization:
      return input == 3 || input == 4;  // running mean, var
    case OpKind::Clip:
      return input == 1 || input == 2;  // min, max
    case OpKind::Pad:
      return input == 2;  // constant value
    case OpKind::Dropout:
      return input == 1;  // ratio
    case OpKind::Resize:
      return input == 1 || input == 2;  // roi, scales
    case OpKind::Upsample:
      return input == 1;  // scales
    default:
      return false;
  }
}

Result<std::regex> compile(const std::string& pattern, std::string_view what) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Status::errorf("invalid {} regex '{}': {}", what, pattern, e.what());
  }
}

}  // namespace

Result<std::vector<Parameter>> select_parameters(ir::Graph& g, const ParamSelection& sel) {
  CONDENSE_ASSIGN_OR_RETURN(std::regex include, compile(sel.include, "include"));
  CONDENSE_ASSIGN_OR_RETURN(std::regex exclude, compile(sel.exclude, "exclude"));
  // Constants read as weights by at least one node, and those read otherwise.
  std::set<const ir::Value*> weight_use;
  for (const auto& n : g.nodes())
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (v && v->is_constant() && !is_non_weight_slot(n->op, i)) weight_use.insert(v);
    }
  std::vector<Parameter> out;
  int64_t candidates = 0;
  for (const auto& v : g.values()) {
    if (!v->is_constant() || !dtype_is_float(v->dtype) || v->constant->rank() == 0 ||
        !weight_use.count(v.get()))
      continue;
    ++candidates;
    const bool in = sel.include.empty() || std::regex_search(v->name, include);
    const bool out_ = !sel.exclude.empty() && std::regex_search(v->name, exclude);
    if (!in || out_) continue;
    if (v->dtype != DType::F32)
      return Status::errorf(
          "parameter '{}' is {}: only f32 initializers train (exclude it, or convert the model "
          "to f32)",
          v->name, dtype_name(v->dtype));
    out.push_back({v->name, *v->constant, true});
  }
  if (out.empty()) {
    std::string why;
    if (!sel.include.empty()) why = fmt::format("the regex '{}'", sel.include);
    if (!sel.exclude.empty())
      why += fmt::format("{}the exclude regex '{}'", why.empty() ? "" : " with ", sel.exclude);
    if (candidates == 0)
      return Status::error("no trainable parameters: the model has no float weight initializers");
    if (sel.include.empty())
      return Status::errorf("no trainable parameters: {} excluded all {} float initializers", why,
                            candidates);
    return Status::errorf("no trainable parameters: {} matched none of {} float initializers", why,
                          candidates);
  }
  return out;
}

}  // namespace condense::train
