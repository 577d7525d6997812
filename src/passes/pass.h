// Graph passes: each rewrites the IR and says whether it changed anything. One pass per file,
// named by its effect. The verifier runs after every pass in debug builds and tests.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace condense {

struct PassContext {
  bool verify_after_each = false;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view name() const = 0;
  virtual Result<bool> run(ir::Graph& g, PassContext& ctx) = 0;
};

// The passes applied when a Session loads a graph with optimize = true, in order.
std::vector<std::unique_ptr<Pass>> default_load_passes();
// Runs passes in order; with verify_after_each, a verifier failure names the pass.
Status run_passes(ir::Graph& g, std::vector<std::unique_ptr<Pass>>& passes, PassContext& ctx);

// Individual passes (one file each).
std::unique_ptr<Pass> make_fold_constants_pass();
std::unique_ptr<Pass> make_remove_identity_pass();
std::unique_ptr<Pass> make_fold_batchnorm_pass();
std::unique_ptr<Pass> make_fold_bias_add_pass();
std::unique_ptr<Pass> make_fuse_activation_pass();
std::unique_ptr<Pass> make_fuse_activation_grad_sum_pass();
std::unique_ptr<Pass> make_fuse_weight_only_matmul_pass();
std::unique_ptr<Pass> make_fuse_dynamic_quant_matmul_pass();
// Output dtypes from each op's inference, so kernel factories see the real ones.
std::unique_ptr<Pass> make_infer_dtypes_pass();

// fuse_relu: keep a Relu that the output's saturation does not imply as the lowered node's
// "_activation" (condense's kernels apply it; ONNX's QLinear ops cannot express it).
std::unique_ptr<Pass> make_lower_qdq_pass(bool fuse_relu = true);

// --- helpers for rewriting passes ---

// Uses of each value: node inputs, graph outputs (one use each), and a use for every value whose
// name a subgraph (If/Loop body) mentions, since bodies may capture outer values by name.
std::unordered_map<const ir::Value*, int> value_use_counts(const ir::Graph& g);
// Whether v is one of the graph's outputs.
bool is_graph_output(const ir::Graph& g, const ir::Value* v);
// Makes `producer` produce `consumer`'s output 0 in place of its own output 0 and removes
// `consumer` (whose only data input was producer's output): the value keeps its name and uses.
void absorb_consumer(ir::Graph& g, ir::Node* producer, ir::Node* consumer);

}  // namespace condense
