#include <algorithm>
#include <unordered_set>

#include "passes/pass.h"

namespace condense {

std::vector<std::unique_ptr<Pass>> default_load_passes() {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(make_remove_identity_pass());
  // Before constant folding, which would turn DequantizeLinear of constant weights into floats.
  // Static QDQ patterns first: a DQ(W) -> MatMul whose input is dequantized too becomes an
  // integer QLinearMatMul, not a weight-only MatMul on float activations.
  passes.push_back(make_lower_qdq_pass());
  passes.push_back(make_fuse_weight_only_matmul_pass());
  passes.push_back(make_fold_constants_pass());
  passes.push_back(make_fuse_dynamic_quant_matmul_pass());
  // Again: folding turns Constant nodes into the constant pads / modes it looks at.
  passes.push_back(make_remove_identity_pass());
  passes.push_back(make_fold_batchnorm_pass());
  passes.push_back(make_fold_bias_add_pass());
  passes.push_back(make_fuse_activation_pass());
  passes.push_back(make_fuse_activation_grad_sum_pass());
  // Last: kernels are chosen right after, by the dtypes this leaves.
  passes.push_back(make_infer_dtypes_pass());
  return passes;
}

Status run_passes(ir::Graph& g, std::vector<std::unique_ptr<Pass>>& passes, PassContext& ctx) {
  for (auto& p : passes) {
    auto changed = p->run(g, ctx);
    if (!changed) return changed.status().with_context(fmt::format("pass {}", p->name()));
    if (ctx.verify_after_each) {
      Status s = g.verify();
      if (!s) return s.with_context(fmt::format("graph invalid after pass {}", p->name()));
    }
  }
  return Status::ok();
}

namespace {
void collect_subgraph_names(const ir::Graph& g, std::unordered_set<std::string>& names) {
  for (const auto& n : g.nodes()) {
    for (const ir::Value* in : n->inputs)
      if (in) names.insert(in->name);
    for (const auto& [k, a] : n->attrs)
      if (a.kind == ir::Attribute::Kind::Graph && a.g) collect_subgraph_names(*a.g, names);
  }
  for (const ir::Value* o : g.outputs) names.insert(o->name);
}
}  // namespace

std::unordered_map<const ir::Value*, int> value_use_counts(const ir::Graph& g) {
  std::unordered_map<const ir::Value*, int> uses;
  std::unordered_set<std::string> captured;
  for (const auto& n : g.nodes()) {
    for (const ir::Value* in : n->inputs)
      if (in) ++uses[in];
    for (const auto& [k, a] : n->attrs)
      if (a.kind == ir::Attribute::Kind::Graph && a.g) collect_subgraph_names(*a.g, captured);
  }
  for (const ir::Value* o : g.outputs) ++uses[o];
  if (!captured.empty())
    for (const auto& v : g.values())
      if (captured.count(v->name)) ++uses[v.get()];
  return uses;
}

bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

void absorb_consumer(ir::Graph& g, ir::Node* producer, ir::Node* consumer) {
  ir::Value* out = consumer->outputs[0];
  g.remove_node(consumer);
  producer->outputs[0] = out;
  out->producer = producer;
}

}  // namespace condense
