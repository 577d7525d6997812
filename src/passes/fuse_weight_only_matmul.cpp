// Fuses weight-only quantization, as `condense quantize --mode weight-only` writes it, into one
// WeightOnlyMatMul (include/condense/ops/lowbit.inc):
//   W = DequantizeLinear(W_q, W_scale, [W_zp])   W_q constant int4/uint4/int8/uint8, 2-D;
//                                                 per tensor, per column or blocked along K
//   y = MatMul(x, W)  or  y = Gemm(x, W, [C])     (transA = 0; C constant per column)
// -> y = WeightOnlyMatMul(x, W_q, W_scale, [W_zp], [C]) with DequantizeLinear's axis and
// block_size and Gemm's transB, alpha and beta: the kernel reads the packed low-bit weights (at
// batch 1 the weights' bytes are the time). It runs before constant folding, which would
// otherwise turn the DequantizeLinear of a constant into a float weight.
// Left alone: a MatMul whose x comes from a DequantizeLinear (static QDQ, lowered to integer
// kernels elsewhere) and batched (3-D) weights. A fused activation ("_activation") moves along.
#include <map>

#include "passes/pass.h"

namespace condense {

namespace {

bool is_low_bit(DType t) {
  return t == DType::I4 || t == DType::U4 || t == DType::I8 || t == DType::U8;
}

// Gemm's C must add one value per output column: (), (1), (N) or (1, N).
bool per_column_bias(const ir::Value* c, int64_t n) {
  if (!c->is_constant() || c->constant->dtype() != DType::F32) return false;
  const Tensor& t = *c->constant;
  if (t.rank() == 2) return t.dim(0) == 1 && t.dim(1) == n;
  return t.rank() <= 1 && (t.numel() == 1 || t.numel() == n);
}

class FuseWeightOnlyMatMulPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse_weight_only_matmul"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    std::vector<ir::Node*> candidates;
    for (const auto& n : g.nodes())
      if (n->op == OpKind::MatMul || n->op == OpKind::Gemm) candidates.push_back(n.get());
    bool changed = false;
    for (ir::Node* mm : candidates) changed |= try_fuse(g, mm);
    if (changed) {
      g.remove_dead();
      CONDENSE_TRY(g.sort());
    }
    return changed;
  }

 private:
  static bool try_fuse(ir::Graph& g, ir::Node* mm) {
    const bool gemm = mm->op == OpKind::Gemm;
    ir::Value* x = mm->input(0);
    ir::Value* wd = mm->input(1);
    if (!x || !wd || !wd->producer || wd->producer->op != OpKind::DequantizeLinear) return false;
    if (x->producer && x->producer->op == OpKind::DequantizeLinear) return false;
    if (gemm && mm->attr_int("transA", 0) != 0) return false;
    const ir::Node* dq = wd->producer;
    const ir::Value* wq = dq->input(0);
    const ir::Value* scale = dq->input(1);
    const ir::Value* zp = dq->input(2);
    if (!wq || !wq->is_constant() || wq->constant->rank() != 2) return false;
    if (!is_low_bit(wq->constant->dtype())) return false;
    if (!scale || !scale->is_constant() || scale->constant->dtype() != DType::F32) return false;
    if (zp && (!zp->is_constant() || zp->constant->dtype() != wq->constant->dtype())) return false;
    const bool tb = gemm && mm->attr_int("transB", 0) != 0;
    const int64_t n = tb ? wq->constant->dim(0) : wq->constant->dim(1);
    ir::Value* c = gemm ? mm->input(2) : nullptr;
    if (c && !per_column_bias(c, n)) return false;

    std::vector<ir::Value*> ins = {x, wd->producer->inputs[0], wd->producer->inputs[1]};
    if (zp || c) ins.push_back(const_cast<ir::Value*>(zp));
    if (c) ins.push_back(c);
    ir::Value* out = mm->outputs[0];
    const std::string name = mm->name;
    std::map<std::string, ir::Attribute> attrs;
    for (const char* a : {"axis", "block_size"})
      if (const ir::Attribute* at = dq->attr(a)) attrs[a] = *at;
    // An activation fused by quant::prepare (ops/nn_activation.h) stays fused.
    for (const char* a : {"_activation", "_activation_alpha", "_activation_beta"})
      if (const ir::Attribute* at = mm->attr(a)) attrs[a] = *at;
    attrs["transB"] = ir::Attribute::of_int(tb ? 1 : 0);
    attrs["alpha"] = ir::Attribute::of_float(gemm ? mm->attr_float("alpha", 1.f) : 1.f);
    attrs["beta"] = ir::Attribute::of_float(gemm ? mm->attr_float("beta", 1.f) : 1.f);
    g.remove_node(mm);
    ir::Node* f = g.add_node_with_outputs(OpKind::WeightOnlyMatMul, std::move(ins), {out}, name);
    for (auto& [k, v] : attrs) f->attrs[k] = v;
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_weight_only_matmul_pass() {
  return std::make_unique<FuseWeightOnlyMatMulPass>();
}

}  // namespace condense
