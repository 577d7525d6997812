// QDQ -> QOperator lowering for export (the same pass condense runs at load), and the listing of
// float nodes that still compute on dequantized data.
#include <condense/quant.h>

#include "compress/quant/rewrite.h"
#include "passes/pass.h"

namespace condense::quant {

std::vector<std::string> float_nodes_on_dequantized(const ir::Graph& g) {
  std::vector<std::string> names;
  for (const auto& n : g.nodes()) {
    switch (n->op) {
      case OpKind::Conv:
      case OpKind::ConvTranspose:
      case OpKind::Gemm:
      case OpKind::MatMul:
      case OpKind::Add:
      case OpKind::GlobalAveragePool:
      case OpKind::AveragePool:
        break;
      default:
        continue;
    }
    for (const ir::Value* in : n->inputs) {
      if (in && in->producer && in->producer->op == OpKind::DequantizeLinear) {
        names.push_back(n->name);
        break;
      }
    }
  }
  return names;
}

Result<QOperatorResult> to_qoperator(ir::Graph qdq) {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(make_lower_qdq_pass(/*fuse_relu=*/false));
  PassContext ctx;
  ctx.verify_after_each = true;
  CONDENSE_TRY(run_passes(qdq, passes, ctx));
  tidy_for_export(qdq);
  CONDENSE_TRY(qdq.verify().with_context("internal: the QOperator graph is invalid"));
  QOperatorResult r;
  for (const auto& n : qdq.nodes()) {
    switch (n->op) {
      case OpKind::QLinearConv:
      case OpKind::QLinearMatMul:
      case OpKind::QGemm:
      case OpKind::QLinearAdd:
      case OpKind::QLinearGlobalAveragePool:
        r.lowered.push_back(n->name);
        break;
      default:
        break;
    }
  }
  r.left_in_float = float_nodes_on_dequantized(qdq);
  r.graph = std::move(qdq);
  return r;
}

}  // namespace condense::quant
