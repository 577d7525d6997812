// Folds an Add of a per-channel constant into the Conv / ConvTranspose / Gemm that feeds it:
//   Add(Conv(x, w, b), c) -> Conv(x, w, b + c)
// Older exporters (the ONNX model zoo's mnist-8, Caffe converters) write a bias this way; folded,
// the bias and any activation after it run inside the producer's kernel. `c` must broadcast over
// the producer's output (N, M, spatial...) as one value per output channel: a scalar, or a shape
// whose only non-1 dimension is the channel dimension M (e.g. (M, 1, 1), (1, M, 1, 1)); for Gemm
// (rows, M): (M) or (1, M). The producer's output may have no other reader and must not be a
// graph output; the Add's output takes its place.
#include <algorithm>

#include "passes/pass.h"

namespace condense {

namespace {
bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

// Output channels of the producer and the rank of its output, from its constant weights.
std::optional<std::pair<int64_t, int64_t>> channels_and_rank(const ir::Node& p) {
  const ir::Value* w = p.input(1);
  if (!w || !w->is_constant()) return std::nullopt;
  const Tensor& t = *w->constant;
  if (p.op == OpKind::Conv && t.rank() >= 3) return std::pair{t.dim(0), t.rank()};
  if (p.op == OpKind::ConvTranspose && t.rank() >= 3)
    return std::pair{t.dim(1) * p.attr_int("group", 1), t.rank()};
  if (p.op == OpKind::Gemm && t.rank() == 2)
    return std::pair{p.attr_int("transB", 0) ? t.dim(0) : t.dim(1), int64_t{2}};
  return std::nullopt;
}

// Whether constant `c` adds one value per output channel to an output of rank `rank` with `m`
// channels at dimension 1 (Gemm: the last dimension, which is dimension 1 of a rank-2 output).
bool per_channel(const Tensor& c, int64_t m, int64_t rank) {
  if (c.numel() == 1) return c.rank() <= rank;
  if (c.rank() > rank || c.rank() < rank - 1 || c.numel() != m) return false;
  const int64_t channel = c.rank() - (rank - 1);  // dimension 1 of the output, aligned right
  for (int64_t d = 0; d < c.rank(); ++d)
    if (d != channel && c.dim(d) != 1) return false;
  return true;
}

class FoldBiasAddPass final : public Pass {
 public:
  std::string_view name() const override { return "fold_bias_add"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool changed = false;
    auto uses = value_use_counts(g);
    std::vector<ir::Node*> adds;
    for (const auto& n : g.nodes())
      if (n->op == OpKind::Add) adds.push_back(n.get());
    for (ir::Node* add : adds) {
      for (int side = 0; side < 2; ++side) {
        ir::Value* y = add->inputs[side];
        ir::Value* cv = add->inputs[1 - side];
        if (!y || !cv || !y->producer || !cv->is_constant()) continue;
        ir::Node* p = y->producer;
        if (p->op != OpKind::Conv && p->op != OpKind::ConvTranspose && p->op != OpKind::Gemm)
          continue;
        if (p->has_attr("_activation") || uses[y] != 1 || is_graph_output(g, y)) continue;
        auto mr = channels_and_rank(*p);
        const Tensor& c = *cv->constant;
        const DType dt = p->inputs[1]->constant->dtype();
        if (!mr || c.dtype() != dt || (dt != DType::F32 && dt != DType::F64)) continue;
        const auto [m, rank] = *mr;
        if (!per_channel(c, m, rank)) continue;
        // Gemm's C is scaled by beta; an existing C must itself be per-column to fold into.
        const ir::Value* old = p->input(2);
        if (old && (!old->is_constant() || old->constant->dtype() != dt)) continue;
        const double beta = p->op == OpKind::Gemm ? p->attr_float("beta", 1.f) : 1.0;
        if (old && p->op == OpKind::Gemm && !per_channel(*old->constant, m, 2)) continue;
        Tensor bias = Tensor::empty(dt, {m});
        for (int64_t i = 0; i < m; ++i) {
          const double b = old ? old->constant->get_f64(old->constant->numel() == 1 ? 0 : i) : 0.0;
          const double v = beta * b + c.get_f64(c.numel() == 1 ? 0 : i);
          if (dt == DType::F32)
            bias.data<float>()[i] = static_cast<float>(v);
          else
            bias.data<double>()[i] = v;
        }
        ir::Value* nb = g.add_constant(g.fresh_name(p->name + "_bias"), std::move(bias));
        if (p->inputs.size() < 3) p->inputs.resize(3, nullptr);
        p->inputs[2] = nb;
        if (p->op == OpKind::Gemm) p->attrs["beta"] = ir::Attribute::of_float(1.f);
        // The producer now writes the Add's output.
        ir::Value* out = add->outputs[0];
        add->outputs[0] = nullptr;
        add->inputs = {};
        g.remove_node(add);
        p->outputs[0] = out;
        out->producer = p;
        changed = true;
        break;
      }
    }
    if (changed) g.remove_dead();
    return changed;
  }
};
}  // namespace

std::unique_ptr<Pass> make_fold_bias_add_pass() {
  return std::make_unique<FoldBiasAddPass>();
}

}  // namespace condense
