// Removes Identity nodes (and Dropout in inference form, once that op exists) by rewiring their
// consumers to the input. An Identity that feeds a graph output directly from a graph input is
// kept so the output keeps its own name.
#include <algorithm>

#include "passes/pass.h"

namespace condense {

namespace {
class RemoveIdentityPass final : public Pass {
 public:
  std::string_view name() const override { return "remove_identity"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    std::vector<ir::Node*> dead;
    for (const auto& up : g.nodes()) {
      ir::Node* n = up.get();
      if (n->op != OpKind::Identity) continue;
      ir::Value* in = n->inputs[0];
      ir::Value* out = n->outputs[0];
      bool out_is_graph_output =
          std::find(g.outputs.begin(), g.outputs.end(), out) != g.outputs.end();
      if (out_is_graph_output) continue;  // keep output names stable
      g.replace_uses(out, in);
      dead.push_back(n);
    }
    for (ir::Node* n : dead) g.remove_node(n);
    if (!dead.empty()) g.remove_dead();
    return !dead.empty();
  }
};
}  // namespace

std::unique_ptr<Pass> make_remove_identity_pass() { return std::make_unique<RemoveIdentityPass>(); }

}  // namespace condense
