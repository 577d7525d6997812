// annotate_dtypes() (ops/infer.h): every value's element type from shape/dtype inference. An
// imported model declares types only for its inputs, outputs, initializers and whatever
// value_info it carries; other values (and constants folded from Constant nodes) may hold the IR's
// default (f32). The quantization rewrites use it to tell float activations from shapes and
// indices, the infer_dtypes load pass so that kernel factories see the real dtypes.
#include <unordered_map>

#include "ops/infer.h"

namespace condense {

void annotate_dtypes(ir::Graph& g) {
  std::unordered_map<const ir::Value*, TensorInfo> known;
  for (const auto& v : g.values()) {
    if (!v->is_constant()) continue;
    v->dtype = v->constant->dtype();
    TensorInfo t;
    t.dtype = v->dtype;
    t.shape = v->constant->shape();
    t.value = &*v->constant;
    known[v.get()] = t;
  }
  for (const ir::Value* v : g.inputs) {
    TensorInfo t;
    t.dtype = v->dtype;
    t.shape_known = v->has_shape;
    for (const ir::Dim& d : v->dims) t.shape.push_back(d.is_static() ? d.value : 1);
    known[v] = t;
  }
  auto order = g.topological_order();
  if (!order) return;
  for (ir::Node* n : *order) {
    std::vector<TensorInfo> ins(n->inputs.size());
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (!v) {
        ins[i].present = false;
        continue;
      }
      auto it = known.find(v);
      if (it != known.end()) {
        ins[i] = it->second;
      } else {
        ins[i].dtype = v->dtype;
        ins[i].shape_known = false;
      }
    }
    std::vector<TensorInfo> outs(n->outputs.size());
    InferCtx ctx{*n, ins, outs};
    if (!infer_fn(n->op)(ctx)) continue;  // keep the declared types
    for (size_t i = 0; i < n->outputs.size() && i < outs.size(); ++i) {
      if (!n->outputs[i] || !outs[i].present) continue;
      outs[i].value = nullptr;
      n->outputs[i]->dtype = outs[i].dtype;
      known[n->outputs[i]] = outs[i];
    }
  }
}

}  // namespace condense
