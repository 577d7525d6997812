// Sets the dtype of every value a node produces from the op's inference, in topological order.
// An ONNX file declares the dtypes of its inputs, outputs and initializers but rarely of the
// values in between, which the importer leaves at f32; kernel factories choose by declared dtype
// (a bf16 pooling kernel for a bf16 input), so a half-precision or integer model would otherwise
// get f32 kernels that fall back to the reference at run time while `condense info --kernels`
// named the fast one. Shapes are not changed (symbolic dimensions stay symbolic); a node whose
// inference fails without shapes keeps its declared output dtypes.
#include "ops/infer.h"
#include "passes/pass.h"

namespace condense {

namespace {

TensorInfo info_of(const ir::Value* v) {
  TensorInfo t;
  if (!v) {
    t.present = false;
    return t;
  }
  t.dtype = v->dtype;
  t.value = v->is_constant() ? &*v->constant : nullptr;
  t.shape_known = v->has_shape;
  for (const ir::Dim& d : v->dims) {
    t.shape_known &= d.is_static();
    t.shape.push_back(d.is_static() ? d.value : 1);
  }
  if (!t.shape_known) t.shape.clear();
  return t;
}

class InferDtypesPass final : public Pass {
 public:
  std::string_view name() const override { return "infer_dtypes"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    CONDENSE_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topological_order());
    bool changed = false;
    std::vector<TensorInfo> ins, outs;
    for (ir::Node* n : order) {
      ins.clear();
      for (const ir::Value* v : n->inputs) ins.push_back(info_of(v));
      outs.assign(n->outputs.size(), TensorInfo{});
      for (TensorInfo& o : outs) o.present = false;
      InferCtx ictx{*n, ins, outs};
      if (!infer_fn(n->op)(ictx)) continue;
      for (size_t i = 0; i < n->outputs.size() && i < outs.size(); ++i) {
        ir::Value* v = n->outputs[i];
        if (!v || !outs[i].present || v->dtype == outs[i].dtype) continue;
        v->dtype = outs[i].dtype;
        changed = true;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_infer_dtypes_pass() {
  return std::make_unique<InferDtypesPass>();
}

}  // namespace condense
