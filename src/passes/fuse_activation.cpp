// Fuses an activation into the Conv / ConvTranspose / Gemm / MatMul / Add that produces its
// input, and a Relu into the BatchNormTraining that produces its input (training graphs; oneDNN
// applies it for free inside the normalization, and the backward reads the Relu's output, never
// the pre-activation): the activation node disappears and the producer carries "_activation" (+
// alpha / beta), see src/ops/nn_activation.h. Add + Relu is every ResNet block's end; fused, the
// sum is never written out and read back. Only when the producer's output has no other
// reader, is not a graph output, and is floating point; Clip needs constant (or absent) bounds.
#include <limits>

#include "ops/nn_activation.h"
#include "passes/pass.h"

namespace condense {

namespace {
// The fused form of activation node `a`, or nullopt when it cannot be fused.
std::optional<FusedActivation> as_fused(const ir::Node& a) {
  const std::string_view op = op_name(a.op);
  FusedActivation f;
  if (op == "Relu") {
    f.kind = FusedAct::Relu;
  } else if (op == "LeakyRelu") {
    f.kind = FusedAct::LeakyRelu;
    f.alpha = a.attr_float("alpha", 0.01f);
  } else if (op == "Sigmoid") {
    f.kind = FusedAct::Sigmoid;
  } else if (op == "Tanh") {
    f.kind = FusedAct::Tanh;
  } else if (op == "HardSigmoid") {
    f.kind = FusedAct::HardSigmoid;
    f.alpha = a.attr_float("alpha", 0.2f);
    f.beta = a.attr_float("beta", 0.5f);
  } else if (op == "Gelu") {
    f.kind = a.attr_string("approximate", "none") == "tanh" ? FusedAct::GeluTanh : FusedAct::Gelu;
  } else if (op == "Clip") {
    f.kind = FusedAct::Clip;
    f.alpha = std::numeric_limits<float>::lowest();
    f.beta = std::numeric_limits<float>::max();
    for (size_t i = 1; i < 3; ++i) {
      const ir::Value* v = a.input(i);
      if (!v) continue;
      if (!v->is_constant() || v->constant->numel() != 1) return std::nullopt;
      (i == 1 ? f.alpha : f.beta) = static_cast<float>(v->constant->get_f64(0));
    }
  } else {
    return std::nullopt;
  }
  return f;
}

std::string_view act_name(FusedAct k) {
  switch (k) {
    case FusedAct::Relu:
      return "Relu";
    case FusedAct::LeakyRelu:
      return "LeakyRelu";
    case FusedAct::Clip:
      return "Clip";
    case FusedAct::Sigmoid:
      return "Sigmoid";
    case FusedAct::Tanh:
      return "Tanh";
    case FusedAct::HardSigmoid:
      return "HardSigmoid";
    case FusedAct::Gelu:
      return "Gelu";
    case FusedAct::GeluTanh:
      return "GeluTanh";
    case FusedAct::None:
      break;
  }
  return "";
}

class FuseActivationPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse_activation"; }
  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool changed = false;
    auto uses = value_use_counts(g);
    std::vector<ir::Node*> acts;
    for (const auto& n : g.nodes())
      if (!n->inputs.empty() && n->inputs[0] && n->inputs[0]->producer) acts.push_back(n.get());
    for (ir::Node* a : acts) {
      auto f = as_fused(*a);
      if (!f || a->outputs.size() != 1 || !a->outputs[0]) continue;
      ir::Value* x = a->inputs[0];
      ir::Node* p = x->producer;
      const bool bn_relu = p->op == OpKind::BatchNormTraining && f->kind == FusedAct::Relu &&
                           !p->outputs.empty() && p->outputs[0] == x;
      if (p->op != OpKind::Conv && p->op != OpKind::ConvTranspose && p->op != OpKind::Gemm &&
          p->op != OpKind::MatMul && p->op != OpKind::Add && !bn_relu)
        continue;
      if (p->has_attr("_activation") || uses[x] != 1 || is_graph_output(g, x)) continue;
      if (!dtype_is_float(x->dtype)) continue;
      p->attrs["_activation"] = ir::Attribute::of_string(std::string(act_name(f->kind)));
      if (f->kind == FusedAct::LeakyRelu || f->kind == FusedAct::Clip ||
          f->kind == FusedAct::HardSigmoid)
        p->attrs["_activation_alpha"] = ir::Attribute::of_float(f->alpha);
      if (f->kind == FusedAct::Clip || f->kind == FusedAct::HardSigmoid)
        p->attrs["_activation_beta"] = ir::Attribute::of_float(f->beta);
      absorb_consumer(g, p, a);
      changed = true;
    }
    if (changed) g.remove_dead();
    return changed;
  }
};
}  // namespace

std::unique_ptr<Pass> make_fuse_activation_pass() {
  return std::make_unique<FuseActivationPass>();
}

}  // namespace condense
