// Folds an inference BatchNormalization into the Conv / ConvTranspose / Gemm that feeds it:
//   y = (p(x) - mean) * s + B with s = scale / sqrt(var + eps) per output channel
// becomes p with weights scaled by s along the output-channel axis and bias b * s + B - mean * s.
// Needs constant weights, bias and statistics, f32 or f64, a producer output nothing else reads
// (and not a graph output), and no fused activation on the producer yet. A BN elsewhere stays.
#include <cmath>

#include "passes/pass.h"

namespace condense {

namespace {
template <typename T>
void fold_typed(ir::Graph& g, ir::Node* p, const std::vector<double>& mul,
                const std::vector<double>& add) {
  const Tensor& w0 = *p->inputs[1]->constant;
  Tensor w = w0.clone();
  T* pw = w.data<T>();
  const int64_t M = static_cast<int64_t>(mul.size());
  std::vector<double> bias(M, 0.0);
  if (p->op == OpKind::Conv) {
    // w: (M, C/group, k...): scale each output-channel slab.
    const int64_t per = w.numel() / M;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < per; ++i) pw[m * per + i] = static_cast<T>(pw[m * per + i] * mul[m]);
  } else if (p->op == OpKind::ConvTranspose) {
    // w: (C, M/group, k...); output channel of w[c, j] is (c / (C/group)) * (M/group) + j.
    const int64_t group = p->attr_int("group", 1);
    const int64_t C = w.dim(0), Mg = w.dim(1), K = w.numel() / (C * Mg), Cg = C / group;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < Mg; ++j) {
        const double s = mul[(c / Cg) * Mg + j];
        for (int64_t k = 0; k < K; ++k)
          pw[(c * Mg + j) * K + k] = static_cast<T>(pw[(c * Mg + j) * K + k] * s);
      }
  } else {  // Gemm: output columns n; B is (K, N), or (N, K) with transB.
    const bool tb = p->attr_int("transB", 0) != 0;
    const int64_t rows = w.dim(0), cols = w.dim(1);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        pw[r * cols + c] = static_cast<T>(pw[r * cols + c] * mul[tb ? r : c]);
  }
  p->inputs[1] = g.add_constant(g.fresh_name(p->inputs[1]->name + "_bnfold"), std::move(w));

  if (p->op == OpKind::Gemm) {
    // New C = beta * C * s + (B - mean * s), stored with beta = 1 as (N) or (M, N).
    const double beta = p->attr_float("beta", 1.f);
    const Tensor* c = p->input(2) ? &*p->inputs[2]->constant : nullptr;
    Tensor nc;
    if (c && c->rank() == 2 && c->dim(0) > 1) {
      const int64_t rows = c->dim(0), cols = c->dim(1);
      nc = Tensor::empty(dtype_of<T>(), {rows, M});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t n = 0; n < M; ++n)
          nc.data<T>()[r * M + n] =
              static_cast<T>(beta * c->get_f64(r * cols + (cols == 1 ? 0 : n)) * mul[n] + add[n]);
    } else {
      nc = Tensor::empty(dtype_of<T>(), {M});
      for (int64_t n = 0; n < M; ++n) {
        const double cv = c ? c->get_f64(c->numel() == 1 ? 0 : n) : 0.0;
        nc.data<T>()[n] = static_cast<T>(beta * cv * mul[n] + add[n]);
      }
    }
    p->attrs["beta"] = ir::Attribute::of_float(1.f);
    if (p->inputs.size() < 3) p->inputs.resize(3, nullptr);
    p->inputs[2] = g.add_constant(g.fresh_name(p->name + "_bnfold_c"), std::move(nc));
  } else {
    Tensor nb = Tensor::empty(dtype_of<T>(), {M});
    const Tensor* b = p->input(2) ? &*p->inputs[2]->constant : nullptr;
    for (int64_t m = 0; m < M; ++m)
      nb.data<T>()[m] = static_cast<T>((b ? b->get_f64(m) : 0.0) * mul[m] + add[m]);
    if (p->inputs.size() < 3) p->inputs.resize(3, nullptr);
    p->inputs[2] = g.add_constant(g.fresh_name(p->name + "_bnfold_b"), std::move(nb));
  }
}

class FoldBatchNormPass final : public Pass {
 public:
  std::string_view name() const override { return "fold_batchnorm"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool changed = false;
    auto uses = value_use_counts(g);
    std::vector<ir::Node*> bns;
    for (const auto& n : g.nodes())
      if (n->op == OpKind::BatchNormalization) bns.push_back(n.get());
    for (ir::Node* bn : bns) {
      ir::Value* x = bn->inputs[0];
      ir::Node* p = x->producer;
      if (!p || (p->op != OpKind::Conv && p->op != OpKind::ConvTranspose && p->op != OpKind::Gemm))
        continue;
      if (bn->attr_int("training_mode", 0) != 0 || bn->outputs.size() != 1) continue;
      if (uses[x] != 1 || is_graph_output(g, x) || p->has_attr("_activation")) continue;
      if (x->dtype != DType::F32 && x->dtype != DType::F64) continue;
      bool all_const = p->inputs.size() >= 2 && p->inputs[1]->is_constant() &&
                       p->inputs[1]->dtype == x->dtype &&
                       (!p->input(2) || p->inputs[2]->is_constant());
      for (size_t i = 1; i < 5; ++i) all_const = all_const && bn->inputs[i]->is_constant();
      if (!all_const) continue;
      const Tensor& w = *p->inputs[1]->constant;
      const int64_t M = bn->inputs[1]->constant->numel();
      // Channel count must match the producer's output channels.
      int64_t pm = -1;
      if (p->op == OpKind::Conv && w.rank() >= 3) pm = w.dim(0);
      if (p->op == OpKind::ConvTranspose && w.rank() >= 3) pm = w.dim(1) * p->attr_int("group", 1);
      if (p->op == OpKind::Gemm && w.rank() == 2)
        pm = p->attr_int("transB", 0) ? w.dim(0) : w.dim(1);
      if (pm != M || pm < 1) continue;
      if (p->op == OpKind::ConvTranspose && w.dim(0) % p->attr_int("group", 1) != 0) continue;
      if (p->input(2) && p->op != OpKind::Gemm && p->inputs[2]->constant->numel() != M) continue;
      if (p->op == OpKind::Gemm && p->input(2)) {
        const Tensor& c = *p->inputs[2]->constant;
        if (c.rank() > 2 || (c.rank() >= 1 && c.dim(-1) != 1 && c.dim(-1) != M)) continue;
      }
      bool stats_ok = true;
      for (size_t i = 1; i < 5; ++i) stats_ok = stats_ok && bn->inputs[i]->constant->numel() == M;
      if (!stats_ok) continue;
      const double eps = bn->attr_float("epsilon", 1e-5f);
      const Tensor& sc = *bn->inputs[1]->constant;
      const Tensor& bb = *bn->inputs[2]->constant;
      const Tensor& mean = *bn->inputs[3]->constant;
      const Tensor& var = *bn->inputs[4]->constant;
      std::vector<double> mul(M), add(M);
      for (int64_t m = 0; m < M; ++m) {
        mul[m] = sc.get_f64(m) / std::sqrt(var.get_f64(m) + eps);
        add[m] = bb.get_f64(m) - mean.get_f64(m) * mul[m];
      }
      if (x->dtype == DType::F32)
        fold_typed<float>(g, p, mul, add);
      else
        fold_typed<double>(g, p, mul, add);
      absorb_consumer(g, p, bn);
      changed = true;
    }
    if (changed) g.remove_dead();
    return changed;
  }
};
}  // namespace

std::unique_ptr<Pass> make_fold_batchnorm_pass() {
  return std::make_unique<FoldBatchNormPass>();
}

}  // namespace condense
