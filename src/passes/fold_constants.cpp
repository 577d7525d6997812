// Evaluates nodes whose inputs are all constant (weight transposes, shape arithmetic on static
// shapes, Constant ops) once at load, with the reference kernels, and turns their outputs into
// constants.
#include "kernels/kernel.h"
#include "ops/infer.h"
#include "passes/pass.h"

namespace condense {

namespace {

// Ops whose outputs depend on more than their inputs' values (randomness) are never folded.
bool foldable(OpKind op) {
  std::string_view n = op_name(op);
  return n.find("Random") == std::string_view::npos && n != "Dropout" && n != "If" &&
         n != "Loop" && n != "Scan";
}

class FoldConstantsPass final : public Pass {
 public:
  std::string_view name() const override { return "fold_constants"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    CONDENSE_TRY(g.sort());
    bool changed = false;
    std::vector<ir::Node*> folded;
    for (const auto& up : g.nodes()) {
      ir::Node& n = *up;
      if (!foldable(n.op)) continue;
      bool all_const = true;
      for (ir::Value* in : n.inputs) all_const &= (in == nullptr || in->is_constant());
      if (!all_const) continue;
      // Evaluate: infer, allocate, run the reference kernel.
      std::vector<TensorInfo> in_info(n.inputs.size());
      std::vector<const Tensor*> in_ptrs(n.inputs.size(), nullptr);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (!n.inputs[i]) {
          in_info[i].present = false;
          continue;
        }
        const Tensor& t = *n.inputs[i]->constant;
        in_info[i].dtype = t.dtype();
        in_info[i].shape = t.shape();
        in_info[i].value = &t;
        in_ptrs[i] = &t;
      }
      std::vector<TensorInfo> out_info(n.outputs.size());
      InferCtx ictx{n, in_info, out_info};
      CONDENSE_TRY(infer_fn(n.op)(ictx));
      std::vector<Tensor> outs(n.outputs.size());
      bool known = true;
      for (size_t i = 0; i < outs.size(); ++i) {
        if (!out_info[i].present || !n.outputs[i]) continue;
        known &= out_info[i].shape_known;
        if (known && out_info[i].allocate) outs[i] = Tensor::empty(out_info[i].dtype, out_info[i].shape);
        else if (known) outs[i] = Tensor::placeholder(out_info[i].dtype, out_info[i].shape);
      }
      if (!known) continue;
      KernelCtx kctx{n, in_ptrs, outs, 1};
      CONDENSE_TRY(ref_kernel_fn(n.op)(kctx));
      for (size_t i = 0; i < outs.size(); ++i) {
        ir::Value* v = n.outputs[i];
        if (!v) continue;
        v->constant = outs[i];
        v->dtype = outs[i].dtype();
        v->has_shape = true;
        v->dims.clear();
        for (int64_t d : outs[i].shape()) v->dims.emplace_back(d);
        v->producer = nullptr;
      }
      folded.push_back(&n);
      changed = true;
    }
    for (ir::Node* n : folded) {
      n->outputs.clear();  // the values stay, now as constants
      g.remove_node(n);
    }
    if (changed) g.remove_dead();
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_constants_pass() { return std::make_unique<FoldConstantsPass>(); }

}  // namespace condense
