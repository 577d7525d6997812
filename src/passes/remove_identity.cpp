// Removes Identity nodes, Dropout nodes in inference form (no training_mode input, or a
// constant false one; the mask output unused) and Pad nodes whose pads are all zero (PyTorch
// exports them, e.g. before a final pooling) by rewiring their consumers to the input. A node
// whose output is a graph output is kept so the output keeps its own name.
#include <algorithm>
#include <unordered_set>

#include "passes/pass.h"

namespace condense {

namespace {

bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

// Values some node reads or the graph outputs.
std::unordered_set<const ir::Value*> used_values(const ir::Graph& g) {
  std::unordered_set<const ir::Value*> used(g.outputs.begin(), g.outputs.end());
  for (const auto& n : g.nodes()) used.insert(n->inputs.begin(), n->inputs.end());
  return used;
}

// Dropout that is the identity at inference: training_mode absent or a constant false, and no
// one reads the mask.
bool is_inference_dropout(const std::unordered_set<const ir::Value*>& used, const ir::Node& n) {
  if (n.op != OpKind::Dropout) return false;
  if (const ir::Value* mode = n.input(2)) {
    if (!mode->is_constant() || mode->constant->numel() != 1 || mode->constant->get_i64(0) != 0)
      return false;
  }
  const ir::Value* mask = n.output(1);
  return !mask || !used.count(mask);
}

// Pad with constant, all-zero pads: the output is the input whatever the mode and value.
bool is_noop_pad(const ir::Node& n) {
  if (n.op != OpKind::Pad) return false;
  const ir::Value* pads = n.input(1);
  if (!pads || !pads->is_constant()) return false;
  for (int64_t i = 0; i < pads->constant->numel(); ++i)
    if (pads->constant->get_i64(i) != 0) return false;
  return true;
}

class RemoveIdentityPass final : public Pass {
 public:
  std::string_view name() const override { return "remove_identity"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    std::vector<ir::Node*> dead;
    const auto used = used_values(g);
    for (const auto& up : g.nodes()) {
      ir::Node* n = up.get();
      if (n->op != OpKind::Identity && !is_inference_dropout(used, *n) && !is_noop_pad(*n))
        continue;
      ir::Value* in = n->inputs[0];
      ir::Value* out = n->outputs[0];
      if (!in || !out || is_graph_output(g, out)) continue;  // keep output names stable
      g.replace_uses(out, in);
      dead.push_back(n);
    }
    for (ir::Node* n : dead) g.remove_node(n);
    if (!dead.empty()) g.remove_dead();
    return !dead.empty();
  }
};
}  // namespace

std::unique_ptr<Pass> make_remove_identity_pass() {
  return std::make_unique<RemoveIdentityPass>();
}

}  // namespace condense
