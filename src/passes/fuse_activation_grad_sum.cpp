// Training graphs: folds the Add that sums two gradient contributions of an activation's output
// into the ActivationGrad that reads the sum, ActivationGrad(Add(a, b), T) ->
// ActivationGrad(a, T, b), so the sum is never written out and read back (a ResNet's shortcut
// gives one such Add per block). Only when the sum has no other reader, is not a graph output and
// is floating point; the Add must carry no fused activation.
#include "passes/pass.h"

namespace condense {

namespace {
class FuseActivationGradSumPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse_activation_grad_sum"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool changed = false;
    auto uses = value_use_counts(g);
    for (const auto& n : g.nodes()) {
      if (n->op != OpKind::ActivationGrad || n->inputs.size() != 2 || !n->inputs[0]) continue;
      ir::Value* sum = n->inputs[0];
      ir::Node* add = sum->producer;
      if (!add || add->op != OpKind::Add || add->inputs.size() != 2 || !add->inputs[0] ||
          !add->inputs[1] || add->has_attr("_activation"))
        continue;
      if (uses[sum] != 1 || is_graph_output(g, sum) || !dtype_is_float(sum->dtype)) continue;
      n->inputs = {add->inputs[0], n->inputs[1], add->inputs[1]};
      changed = true;
    }
    if (changed) g.remove_dead();
    return changed;
  }
};
}  // namespace

std::unique_ptr<Pass> make_fuse_activation_grad_sum_pass() {
  return std::make_unique<FuseActivationGradSumPass>();
}

}  // namespace condense
