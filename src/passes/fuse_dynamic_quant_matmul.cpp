// Fuses dynamic quantization, as `condense quantize --mode dynamic` and ONNX Runtime's dynamic
// quantizer write it, into one DynamicQuantMatMul (include/condense/ops/lowbit.inc):
//   x_q, x_scale, x_zp = DynamicQuantizeLinear(x)
//   acc = MatMulInteger(x_q, W, x_zp, W_zp)          W: constant int8/uint8 (K, N)
//   y = Mul(Cast(acc, to = float), Mul(x_scale, W_scale))   W_scale: constant f32 () or (N)
//   [y = Add(y, bias)]                                bias: constant f32 (), (N) or (1, N)
// -> y = DynamicQuantMatMul(x, W, W_zp, W_scale, [bias]), whose kernel quantizes x once and runs
// an integer GEMM on weights packed at load. Mul and Add operands may come in either order. The
// intermediate values may have no other reader; DynamicQuantizeLinear and the scale Mul stay
// while something else reads them.
#include "passes/pass.h"

namespace condense {

namespace {

bool is_const_f32(const ir::Value* v) {
  return v && v->is_constant() && v->constant->dtype() == DType::F32;
}

// A constant of 1 or n elements, rank <= 1 (one value per output column).
bool per_column(const ir::Value* v, int64_t n) {
  if (!v || !v->is_constant()) return false;
  const Tensor& t = *v->constant;
  return t.rank() <= 1 && (t.numel() == 1 || t.numel() == n);
}

// The only node reading `v`, when v has exactly one use and is not a graph output.
ir::Node* sole_consumer(const ir::Graph& g, const std::unordered_map<const ir::Value*, int>& uses,
                        const ir::Value* v) {
  auto it = uses.find(v);
  if (it == uses.end() || it->second != 1 || is_graph_output(g, v)) return nullptr;
  for (const auto& n : g.nodes())
    for (const ir::Value* in : n->inputs)
      if (in == v) return n.get();
  return nullptr;
}

// The operand of binary node `n` that is not `v` (nullptr when v is neither or both).
ir::Value* other_operand(const ir::Node* n, const ir::Value* v) {
  if (n->inputs.size() != 2) return nullptr;
  if (n->inputs[0] == v && n->inputs[1] != v) return n->inputs[1];
  if (n->inputs[1] == v && n->inputs[0] != v) return n->inputs[0];
  return nullptr;
}

class FuseDynamicQuantMatMulPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse_dynamic_quant_matmul"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool changed = false;
    std::vector<ir::Node*> candidates;
    for (const auto& n : g.nodes())
      if (n->op == OpKind::MatMulInteger) candidates.push_back(n.get());
    for (ir::Node* mi : candidates) {
      auto uses = value_use_counts(g);
      if (try_fuse(g, uses, mi)) changed = true;
    }
    if (changed) {
      g.remove_dead();
      CONDENSE_TRY(g.sort());
    }
    return changed;
  }

 private:
  static bool try_fuse(ir::Graph& g, const std::unordered_map<const ir::Value*, int>& uses,
                       ir::Node* mi) {
    ir::Value* xq = mi->input(0);
    ir::Value* w = mi->input(1);
    ir::Value* xzp = mi->input(2);
    ir::Value* wzp = mi->input(3);
    if (!xq || !xq->producer || xq->producer->op != OpKind::DynamicQuantizeLinear) return false;
    ir::Node* dql = xq->producer;
    if (dql->output(0) != xq || xzp != dql->output(2) || !dql->input(0)) return false;
    if (!w || !w->is_constant() || w->constant->rank() != 2) return false;
    const DType wt = w->constant->dtype();
    if (wt != DType::I8 && wt != DType::U8) return false;
    const int64_t n = w->constant->dim(1);
    if (wzp && (!per_column(wzp, n) || wzp->constant->dtype() != wt)) return false;

    ir::Node* cast = sole_consumer(g, uses, mi->output(0));
    if (!cast || cast->op != OpKind::Cast || cast->attr_int("to", 0) != dtype_onnx(DType::F32))
      return false;
    ir::Node* mul = sole_consumer(g, uses, cast->output(0));
    if (!mul || mul->op != OpKind::Mul) return false;
    ir::Value* s = other_operand(mul, cast->output(0));
    if (!s || !s->producer || s->producer->op != OpKind::Mul) return false;
    ir::Value* w_scale = other_operand(s->producer, dql->output(1));
    if (!is_const_f32(w_scale) || !per_column(w_scale, n)) return false;

    // Optional bias Add.
    ir::Node* add = sole_consumer(g, uses, mul->output(0));
    ir::Value* bias = add && add->op == OpKind::Add ? other_operand(add, mul->output(0)) : nullptr;
    if (bias && !is_const_f32(bias)) bias = nullptr;
    if (bias) {
      // (1, N) keeps y's shape only when y has rank >= 2.
      const ir::Value* x = dql->input(0);
      const Tensor& b = *bias->constant;
      const bool row =
          b.rank() == 2 && b.dim(0) == 1 && b.dim(1) == n && x->has_shape && x->dims.size() >= 2;
      if (!row && !per_column(bias, n)) bias = nullptr;
    }
    ir::Node* last = bias ? add : mul;

    if (!wzp) {  // MatMulInteger's default zero point: 0 of W's type
      Tensor z = Tensor::empty(wt, {});
      if (wt == DType::I8)
        z.data<int8_t>()[0] = 0;
      else
        z.data<uint8_t>()[0] = 0;
      wzp = g.add_constant(g.fresh_name(w->name + "_zero_point"), std::move(z));
    }
    std::vector<ir::Value*> ins = {dql->input(0), w, wzp, w_scale};
    if (bias) ins.push_back(bias);
    ir::Value* out = last->outputs[0];
    const std::string name = mi->name;
    for (ir::Node* dead : {bias ? add : nullptr, mul, cast, mi})
      if (dead) g.remove_node(dead);
    g.add_node_with_outputs(OpKind::DynamicQuantMatMul, std::move(ins), {out}, name);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_dynamic_quant_matmul_pass() {
  return std::make_unique<FuseDynamicQuantMatMulPass>();
}

}  // namespace condense
