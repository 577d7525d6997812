// ONNX opset hooks for the nn family (see onnx/hooks.h).
#include <algorithm>

#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {
// BatchNormalization before opset 9 carried `spatial` (always 1 in practice; per-activation
// statistics are not supported), before opset 7 `is_test` and `consumed_inputs`. `momentum` only
// matters in training mode (and to training graphs); the canonical form keeps epsilon, momentum
// and training_mode.
Status upgrade_batchnorm(UpgradeCtx& u) {
  if (u.opset < 9 && u.node.attr_int("spatial", 1) != 1)
    return Status::errorf("node {}: BatchNormalization with spatial=0 is not supported",
                          u.node.describe());
  for (const char* a : {"spatial", "is_test", "consumed_inputs"}) u.node.attrs.erase(a);
  // Before opset 9, inference graphs often declared the training outputs (running and saved
  // statistics) too; trailing ones that are not graph outputs are dropped. (From opset 14 they
  // exist only with training_mode=1.)
  if (u.opset < 9) {
    auto is_graph_output = [&](const ir::Value* v) {
      return std::find(u.graph.outputs.begin(), u.graph.outputs.end(), v) != u.graph.outputs.end();
    };
    while (u.node.outputs.size() > 1 &&
           (!u.node.outputs.back() || !is_graph_output(u.node.outputs.back())))
      u.node.outputs.pop_back();
  }
  return Status::ok();
}

// Opset < 10 pools had no ceil_mode / dilations: nothing to do. MaxPool's storage_order stays.
}  // namespace

void register_onnx_hooks_nn(HookTable& t) {
  t[OpKind::BatchNormalization].upgrade = upgrade_batchnorm;
}

}  // namespace condense::onnx_internal
