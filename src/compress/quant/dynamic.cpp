// Dynamic quantization, as ONNX Runtime's dynamic quantizer emits it: for y = MatMul(x, W) or
// Gemm(x, W, C) with a constant weight,
//   x_q, x_scale, x_zp = DynamicQuantizeLinear(x)           u8, per tensor, at run time
//   y_i32 = MatMulInteger(x_q, W_q, x_zp, W_zp)             W_q: int8 (K, N)
//   y = Cast(y_i32, f32) * (x_scale * W_scale)              W_scale: () or (N), times alpha
//   y = y + beta * C                                         Gemm only
#include <map>

#include "compress/quant/rewrite.h"

namespace condense::quant {

namespace {

struct DynamicInput {
  ir::Value* q = nullptr;
  ir::Value* scale = nullptr;
  ir::Value* zero_point = nullptr;
};

ir::Value* new_value(ir::Graph& g, const std::string& base, DType dtype) {
  return g.add_value(unique_name(g, base), dtype);
}

// W as (K, N): Gemm's transB weight (N, K) is transposed.
Tensor as_k_by_n(const Tensor& w, bool trans) {
  if (!trans) return w;
  const int64_t n = w.dim(0), k = w.dim(1);
  Tensor t = Tensor::empty(DType::F32, {k, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) t.data<float>()[j * n + i] = w.data<float>()[i * k + j];
  return t;
}

}  // namespace

Status rewrite_dynamic(ir::Graph& g, const QuantPlan& plan, QdqBuilder& b) {
  std::map<const ir::Value*, DynamicInput> dynamic_inputs;
  for (const NodePlan& np : plan.nodes) {
    ir::Node* n = np.node;
    const std::string name = n->name;
    ir::Value* x = n->inputs[0];
    ir::Value* out = n->outputs[0];
    const bool gemm = n->op == OpKind::Gemm;
    const ir::Value* wv = n->inputs[1];
    const Tensor w = as_k_by_n(*wv->constant, gemm && n->attr_int("transB", 0) != 0);
    const float alpha = gemm ? n->attr_float("alpha", 1.0f) : 1.0f;
    const float beta = gemm ? n->attr_float("beta", 1.0f) : 1.0f;
    ir::Value* c = gemm ? n->input(2) : nullptr;

    WeightScheme scheme = np.weight->scheme;
    auto q = quantize_weight(w, scheme, 1, 0, wv->name);
    if (!q) return q.status().with_context(fmt::format("node {}", n->describe()));

    auto [it, fresh] = dynamic_inputs.try_emplace(x);
    DynamicInput& in = it->second;
    if (fresh) {
      in.q = new_value(g, x->name + "_q", DType::U8);
      in.scale = new_value(g, x->name + "_scale", DType::F32);
      in.zero_point = new_value(g, x->name + "_zp", DType::U8);
      g.add_node_with_outputs(OpKind::DynamicQuantizeLinear, {x}, {in.q, in.scale, in.zero_point},
                              unique_name(g, x->name + "_DynamicQuantizeLinear"));
    }
    g.remove_node(n);  // `out` stays: the last new node produces it

    ir::Value* wq = g.add_constant(unique_name(g, wv->name + "_q"), q->q);
    ir::Value* wzp = g.add_constant(unique_name(g, wv->name + "_zp"), q->zero_point);
    Tensor scale = q->scale.clone();  // x alpha: y = alpha * A B
    for (int64_t k = 0; k < scale.numel(); ++k) scale.data<float>()[k] *= alpha;
    ir::Value* wscale = g.add_constant(unique_name(g, wv->name + "_scale"), std::move(scale));

    ir::Value* acc = new_value(g, name + "_MatMulInteger_out", DType::I32);
    g.add_node_with_outputs(OpKind::MatMulInteger, {in.q, wq, in.zero_point, wzp}, {acc},
                            unique_name(g, name + "_MatMulInteger"));
    ir::Value* accf = new_value(g, name + "_cast_out", DType::F32);
    ir::Node* cast =
        g.add_node_with_outputs(OpKind::Cast, {acc}, {accf}, unique_name(g, name + "_Cast"));
    cast->attrs["to"] = ir::Attribute::of_int(dtype_onnx(DType::F32));
    ir::Value* s = new_value(g, name + "_scales_mul", DType::F32);
    g.add_node_with_outputs(OpKind::Mul, {in.scale, wscale}, {s},
                            unique_name(g, name + "_scales_Mul"));
    if (!c) {
      g.add_node_with_outputs(OpKind::Mul, {accf, s}, {out}, unique_name(g, name + "_output_Mul"));
      continue;
    }
    ir::Value* y = new_value(g, name + "_output_mul", DType::F32);
    g.add_node_with_outputs(OpKind::Mul, {accf, s}, {y}, unique_name(g, name + "_output_Mul"));
    ir::Value* bias = c;
    if (beta != 1.0f) {
      if (c->is_constant() && c->constant->dtype() == DType::F32) {
        Tensor t = c->constant->clone();
        for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] *= beta;
        bias = g.add_constant(unique_name(g, c->name + "_beta"), std::move(t));
      } else {
        bias = new_value(g, name + "_bias_beta", DType::F32);
        g.add_node_with_outputs(OpKind::Mul, {c, b.scalar_f32(name + "_beta", beta)}, {bias},
                                unique_name(g, name + "_bias_Mul"));
      }
    }
    g.add_node_with_outputs(OpKind::Add, {y, bias}, {out}, unique_name(g, name + "_bias_Add"));
  }
  return Status::ok();
}

}  // namespace condense::quant
