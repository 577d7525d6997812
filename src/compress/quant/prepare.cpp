// prepare(): the float model as quantization sees it (folded, fused, checked).
#include <cmath>

#include "compress/quant/common.h"
#include "ops/infer.h"
#include "passes/pass.h"

namespace condense::quant {

namespace {
// The first NaN or Inf of a float constant: (index, "NaN" / "Inf"), or index -1.
std::pair<int64_t, const char*> first_non_finite(const Tensor& t) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::F64 && t.dtype() != DType::F16 &&
      t.dtype() != DType::BF16)
    return {-1, ""};
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.get_f64(i);
    if (!std::isfinite(v)) return {i, std::isnan(v) ? "NaN" : "Inf"};
  }
  return {-1, ""};
}
}  // namespace

Result<ir::Graph> prepare(ir::Graph g, const QuantizeOptions& options) {
  CONDENSE_TRY(validate_options(options));
  CONDENSE_TRY(g.verify());
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(make_remove_identity_pass());
  passes.push_back(make_fold_constants_pass());
  passes.push_back(make_remove_identity_pass());
  passes.push_back(make_fold_batchnorm_pass());
  passes.push_back(make_fold_bias_add_pass());
  // Static: a quantized output is the post-activation value, as ONNX Runtime's QLinearConv
  // computes it. Dynamic rewrites MatMul/Gemm into several nodes, so activations stay separate.
  if (options.mode != Mode::Dynamic) passes.push_back(make_fuse_activation_pass());
  PassContext ctx;
  CONDENSE_TRY(run_passes(g, passes, ctx));
  annotate_dtypes(g);
  // Weights and biases of the layers quantization touches must be finite: a NaN would become
  // a scale of NaN (or every value the zero point) and the model garbage without an error.
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::Conv && n->op != OpKind::ConvTranspose && n->op != OpKind::Gemm &&
        n->op != OpKind::MatMul)
      continue;
    for (const ir::Value* v : n->inputs) {
      if (!v || !v->is_constant()) continue;
      auto [index, what] = first_non_finite(*v->constant);
      if (index >= 0)
        return Status::errorf(
            "weight '{}' of node {} has {} at element {} of {}; quantization needs finite "
            "weights (retrain or repair the model)",
            v->name, n->describe(), what, index, shape_str(v->constant->shape()));
    }
  }
  return g;
}

}  // namespace condense::quant
