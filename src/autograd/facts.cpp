#include "autograd/facts.h"

#include <optional>

#include "kernels/kernel.h"
#include "ops/infer.h"

namespace condense::autograd_internal {

namespace {
constexpr int64_t kMaxEvalElements = 4096;

struct Known {
  TensorInfo info;
  std::optional<Tensor> value;
};
using KnownMap = std::unordered_map<const ir::Value*, Known>;

// Ops evaluated from their inputs' shapes alone.
bool reads_only_shapes(OpKind op) {
  return op == OpKind::Shape || op == OpKind::Size;
}

// Ops whose outputs are not a function of their input values.
bool evaluable(OpKind op) {
  return op != OpKind::Dropout && op != OpKind::DropoutTrain;
}

void evaluate(const ir::Node& n, const std::vector<TensorInfo>& ins,
              const std::vector<TensorInfo>& outs, KnownMap& known) {
  if (!evaluable(n.op)) return;
  bool all_values = true, shapes_known = true;
  for (const TensorInfo& t : ins) {
    if (!t.present) continue;
    all_values &= t.value != nullptr;
    shapes_known &= t.shape_known;
  }
  if (!all_values && !(reads_only_shapes(n.op) && shapes_known)) return;
  for (const TensorInfo& o : outs)
    if (o.present && (!o.shape_known || shape_numel(o.shape) > kMaxEvalElements)) return;
  std::vector<Tensor> zeros(ins.size());
  std::vector<const Tensor*> ptrs(ins.size(), nullptr);
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i].present) continue;
    if (ins[i].value) {
      ptrs[i] = ins[i].value;
    } else {  // a shape-only op: an empty placeholder carries the shape
      zeros[i] = Tensor::placeholder(ins[i].dtype, ins[i].shape);
      ptrs[i] = &zeros[i];
    }
  }
  std::vector<Tensor> results(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].present) continue;
    results[i] = outs[i].allocate ? Tensor::zeros(outs[i].dtype, outs[i].shape)
                                  : Tensor::placeholder(outs[i].dtype, outs[i].shape);
  }
  KernelCtx kctx{n, ptrs, results, 1};
  if (!ref_kernel_fn(n.op)(kctx)) return;
  for (size_t i = 0; i < n.outputs.size() && i < results.size(); ++i)
    if (n.outputs[i] && results[i].defined()) known[n.outputs[i]].value = results[i];
}

KnownMap run_probe(const ir::Graph& g, const std::vector<ir::Node*>& order, int64_t sym) {
  KnownMap known;
  for (const ir::Value* v : g.inputs) {
    Known k;
    k.info.dtype = v->dtype;
    k.info.shape_known = v->has_shape;
    for (const ir::Dim& d : v->dims) k.info.shape.push_back(d.is_static() ? d.value : sym);
    known[v] = std::move(k);
  }
  for (const auto& v : g.values()) {
    if (!v->is_constant()) continue;
    Known k;
    k.info.dtype = v->constant->dtype();
    k.info.shape = v->constant->shape();
    k.value = *v->constant;
    known[v.get()] = std::move(k);
  }
  for (const ir::Node* n : order) {
    std::vector<TensorInfo> ins(n->inputs.size());
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (!v) {
        ins[i].present = false;
        continue;
      }
      auto it = known.find(v);
      if (it == known.end()) {
        ins[i].dtype = v->dtype;
        ins[i].shape_known = false;
        continue;
      }
      ins[i] = it->second.info;
      ins[i].value = it->second.value ? &*it->second.value : nullptr;
    }
    std::vector<TensorInfo> outs(n->outputs.size());
    InferCtx ictx{*n, ins, outs};
    if (!infer_fn(n->op)(ictx)) {
      // A probe size this node rejects (a batch baked into a Reshape, say): keep the dtype of
      // its first input flowing, shapes unknown, so later nodes still get typed.
      for (const ir::Value* o : n->outputs) {
        if (!o) continue;
        Known k;
        k.info.dtype = ins.empty() || !ins[0].present ? o->dtype : ins[0].dtype;
        k.info.shape_known = false;
        known[o] = std::move(k);
      }
      continue;
    }
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      if (!n->outputs[i] || !outs[i].present) continue;
      known[n->outputs[i]].info = outs[i];
      known[n->outputs[i]].info.value = nullptr;
    }
    evaluate(*n, ins, outs, known);
  }
  return known;
}
}  // namespace

FactsMap compute_facts(const ir::Graph& g) {
  FactsMap facts;
  auto order = g.topological_order();
  if (!order) return facts;
  const KnownMap a = run_probe(g, *order, 2), b = run_probe(g, *order, 3);
  for (const auto& [v, k] : a) {
    ValueFacts f;
    f.dtype = k.info.dtype;
    f.dtype_known = true;
    auto it = b.find(v);
    if (k.info.shape_known && it != b.end() && it->second.info.shape_known &&
        it->second.info.shape.size() == k.info.shape.size()) {
      f.shape_known = true;
      f.probe = {k.info.shape, it->second.info.shape};
    }
    facts[v] = std::move(f);
  }
  return facts;
}

}  // namespace condense::autograd_internal
