// Lowers QDQ-form quantized graphs (QuantizeLinear / DequantizeLinear around float ops, as
// condense's and ONNX Runtime's static quantizers write them) to QOperator ops that run on integer
// kernels:
//
//   DQ(x) + DQ(W const) [+ DQ(int32 bias const)] -> Conv [-> Relu] -> Q   =>  QLinearConv
//   DQ(a) + DQ(B const) -> MatMul [-> Relu] -> Q                          =>  QLinearMatMul
//   DQ(a) + DQ(B const) [+ DQ(int32 C)] -> Gemm [-> Relu] [-> Q]          =>  QGemm (com.microsoft;
//        f32 output when the Gemm's output is not quantized)
//   DQ(a) + DQ(b) -> Add [-> Relu] -> Q    =>  QLinearAdd (com.microsoft)
//   DQ(x) -> GlobalAveragePool -> Q        =>  QLinearGlobalAveragePool (com.microsoft)
//   DQ(x) -> Reshape / Flatten / Transpose / Squeeze / Unsqueeze / Slice / MaxPool / Pad(0)
//        =>  the same op on the integer tensor, then DQ (Pad pads with the zero point)
//   Q(DQ(x)) with the same scale, zero point and dtype                    =>  x
//
// Activations must be quantized per tensor with constant scales and zero points. A Relu between
// the op and its Q disappears where the Q's saturation implies it (zero point at the bottom of
// the range: uint8 with zero point 0, int8 with -128); otherwise, at load, it becomes the lowered
// node's fused activation ("_activation" = Relu: the output is clamped at its zero point), and
// for export (fuse_relu = false; ONNX's QLinear ops have no activation) the pattern stays QDQ.
// The QLinearConv bias is requantized to x_scale * w_scale when the QDQ bias scale differs.
// Results agree with the QDQ graph's float computation within one quantization step of the
// output (integer accumulation, one rounding instead of several).
#include <cmath>
#include <unordered_set>

#include "passes/pass.h"

namespace condense {

namespace {

// A per-tensor quantization (scale, zero point constant scalars) of an 8-bit tensor.
struct QParams {
  ir::Value* scale = nullptr;
  ir::Value* zp = nullptr;
  float s = 0;
  int32_t z = 0;
  DType dtype = DType::U8;
};

bool is_scalar_const(const ir::Value* v) {
  return v && v->is_constant() && v->constant->numel() == 1;
}

// Q / DQ node's per-tensor parameters, when they are constant scalars with an 8-bit zero point.
std::optional<QParams> per_tensor_params(const ir::Node& n) {
  ir::Value* s = n.input(1);
  ir::Value* z = n.input(2);
  if (!is_scalar_const(s) || !is_scalar_const(z) || s->constant->dtype() != DType::F32)
    return std::nullopt;
  const DType t = z->constant->dtype();
  if (t != DType::U8 && t != DType::I8) return std::nullopt;
  if (n.has_attr("block_size") && n.attr_int("block_size", 0) != 0) return std::nullopt;
  QParams p;
  p.scale = s;
  p.zp = z;
  p.s = s->constant->data<float>()[0];
  p.z = static_cast<int32_t>(z->constant->get_f64(0));
  p.dtype = t;
  return p;
}

bool same_params(const QParams& a, const QParams& b) {
  return a.s == b.s && a.z == b.z && a.dtype == b.dtype;
}

// The DequantizeLinear producing v, when per tensor; its parameters in *p.
ir::Node* dq_producer(const ir::Value* v, QParams* p) {
  if (!v || !v->producer || v->producer->op != OpKind::DequantizeLinear) return nullptr;
  auto q = per_tensor_params(*v->producer);
  if (!q) return nullptr;
  *p = *q;
  return v->producer;
}

int32_t qmin(DType t) {
  return t == DType::U8 ? 0 : -128;
}

// The float op's output chain: op -> [Relu] -> Q. Returns the Q (and the Relu, if any) when every
// intermediate value has this one reader and is not a graph output, and a Relu is implied by the
// Q's saturation or `fuse_relu` allows keeping it as the lowered node's fused activation.
struct OutChain {
  bool has_relu = false;
  bool relu_implied = false;  // by the Q's saturation (zero point at the bottom of the range)
  ir::Node* relu = nullptr;   // the Relu node, when not fused into the op
  ir::Node* q = nullptr;
  QParams p;
};
std::optional<OutChain> out_chain(ir::Graph& g,
                                  const std::unordered_map<const ir::Value*, int>& uses,
                                  const std::unordered_map<const ir::Value*, ir::Node*>& reader,
                                  ir::Node* op, bool fuse_relu) {
  auto only_reader = [&](const ir::Value* v) -> ir::Node* {
    auto u = uses.find(v);
    if (u == uses.end() || u->second != 1 || is_graph_output(g, v)) return nullptr;
    auto r = reader.find(v);
    return r == reader.end() ? nullptr : r->second;
  };
  OutChain c;
  // A Relu fused into the op (fuse_activation's "_activation", as quantize() leaves it) counts
  // as a Relu node; other fused activations are not lowered.
  const bool fused_relu = op->attr_string("_activation", "") == "Relu";
  if (op->has_attr("_activation") && !fused_relu) return std::nullopt;
  ir::Node* next = only_reader(op->outputs[0]);
  if (fused_relu) {
    c.has_relu = true;
  } else if (next && next->op == OpKind::Relu) {
    c.has_relu = true;
    c.relu = next;
    next = only_reader(next->outputs[0]);
  }
  if (!next || next->op != OpKind::QuantizeLinear || next->input(0) == nullptr) return std::nullopt;
  auto p = per_tensor_params(*next);
  if (!p) return std::nullopt;
  c.relu_implied = c.has_relu && p->z == qmin(p->dtype);
  if (c.has_relu && !c.relu_implied && !fuse_relu) return std::nullopt;
  c.q = next;
  c.p = *p;
  return c;
}

// A constant weight DequantizeLinear: integer tensor, constant scale (scalar or 1-D along
// `axis`), constant zero point (or none).
struct WeightDQ {
  ir::Value* q = nullptr;
  ir::Value* scale = nullptr;
  ir::Value* zp = nullptr;  // may be null
  int64_t axis = 1;
};
std::optional<WeightDQ> weight_dq(const ir::Value* v) {
  if (!v || !v->producer || v->producer->op != OpKind::DequantizeLinear) return std::nullopt;
  const ir::Node& d = *v->producer;
  WeightDQ w;
  w.q = d.input(0);
  w.scale = d.input(1);
  w.zp = d.input(2);
  if (!w.q || !w.q->is_constant() || !w.scale || !w.scale->is_constant() ||
      w.scale->constant->dtype() != DType::F32 || (w.zp && !w.zp->is_constant()))
    return std::nullopt;
  if (d.attr_int("block_size", 0) != 0 || w.scale->constant->rank() > 1) return std::nullopt;
  w.axis = d.attr_int("axis", 1);
  if (w.axis < 0) w.axis += w.q->constant->rank();
  return w;
}

class LowerQdqPass final : public Pass {
 public:
  explicit LowerQdqPass(bool fuse_relu) : fuse_relu_(fuse_relu) {}
  std::string_view name() const override { return "lower_qdq"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    bool any_dq = false;
    for (const auto& n : g.nodes()) any_dq |= n->op == OpKind::DequantizeLinear;
    if (!any_dq) return false;
    CONDENSE_TRY(g.sort());
    bool changed = hoist_dq(g);
    changed |= cancel_q_dq(g);
    changed |= lower_ops(g, fuse_relu_);
    if (changed) {
      g.remove_dead();
      CONDENSE_TRY(g.sort());
    }
    return changed;
  }

 private:
  // Data-movement ops on a dequantized tensor run on the integer tensor instead: DQ moves after
  // them (in graph order, so chains move step by step).
  static bool hoist_dq(ir::Graph& g) {
    bool changed = false;
    std::vector<ir::Node*> order;
    for (const auto& n : g.nodes()) order.push_back(n.get());
    for (ir::Node* n : order) {
      switch (n->op) {
        case OpKind::Reshape:
        case OpKind::Flatten:
        case OpKind::Transpose:
        case OpKind::Squeeze:
        case OpKind::Unsqueeze:
        case OpKind::Slice:
        case OpKind::MaxPool:
        case OpKind::Pad:
          break;
        default:
          continue;
      }
      QParams p;
      ir::Node* dq = dq_producer(n->input(0), &p);
      if (!dq || n->outputs.empty() || !n->outputs[0]) continue;
      if (n->op == OpKind::MaxPool && (n->outputs.size() > 1 && n->outputs[1])) continue;
      ir::Value* pad_value = nullptr;
      if (n->op == OpKind::Pad) {
        if (n->attr_string("mode", "constant") != "constant") continue;
        const ir::Value* cv = n->input(2);
        if (cv && (!is_scalar_const(cv) || cv->constant->get_f64(0) != 0.0)) continue;
        Tensor zp = Tensor::empty(p.dtype, {});
        if (p.dtype == DType::U8)
          zp.data<uint8_t>()[0] = static_cast<uint8_t>(p.z);
        else
          zp.data<int8_t>()[0] = static_cast<int8_t>(p.z);
        pad_value = g.add_constant(g.fresh_name(n->name + "_pad_zp"), zp);
      }
      ir::Value* out = n->outputs[0];
      ir::Value* q_out = g.add_value(g.fresh_name(out->name + "_q"), p.dtype);
      n->inputs[0] = dq->inputs[0];
      if (pad_value) {
        if (n->inputs.size() < 3) n->inputs.resize(3, nullptr);
        n->inputs[2] = pad_value;
      }
      n->outputs[0] = q_out;
      q_out->producer = n;
      out->producer = nullptr;
      ir::Node* new_dq = g.add_node_with_outputs(OpKind::DequantizeLinear, {q_out, p.scale, p.zp},
                                                 {out}, g.fresh_name(n->name + "_DQ"));
      (void)new_dq;
      changed = true;
    }
    return changed;
  }

  // Q(DQ(x)) with identical parameters is x.
  static bool cancel_q_dq(ir::Graph& g) {
    bool changed = false;
    std::vector<ir::Node*> qs;
    for (const auto& n : g.nodes())
      if (n->op == OpKind::QuantizeLinear) qs.push_back(n.get());
    for (ir::Node* q : qs) {
      QParams pd;
      ir::Node* dq = dq_producer(q->input(0), &pd);
      auto pq = per_tensor_params(*q);
      if (!dq || !pq || !same_params(pd, *pq) || is_graph_output(g, q->outputs[0])) continue;
      g.replace_uses(q->outputs[0], dq->inputs[0]);
      changed = true;
    }
    return changed;
  }

  static bool lower_ops(ir::Graph& g, bool fuse_relu) {
    bool changed = false;
    auto uses = value_use_counts(g);
    std::unordered_map<const ir::Value*, ir::Node*> reader;
    for (const auto& n : g.nodes())
      for (const ir::Value* in : n->inputs)
        if (in) reader[in] = n.get();
    std::vector<ir::Node*> order;
    for (const auto& n : g.nodes()) order.push_back(n.get());
    std::unordered_set<const ir::Node*> removed;
    for (ir::Node* n : order) {
      if (removed.count(n)) continue;
      if (n->op != OpKind::Conv && n->op != OpKind::MatMul && n->op != OpKind::Gemm &&
          n->op != OpKind::Add && n->op != OpKind::GlobalAveragePool)
        continue;
      if (n->outputs.empty() || !n->outputs[0]) continue;
      auto chain = out_chain(g, uses, reader, n, fuse_relu);
      if (!chain && n->op == OpKind::Gemm) {
        // A Gemm whose output stays float (a classifier's logits): QGemm with f32 output.
        ir::Node* lowered = lower_gemm(g, n, nullptr, fuse_relu);
        if (!lowered) continue;
        ir::Value* y = n->outputs[0];
        removed.insert(n);
        g.remove_node(n);
        lowered->outputs[0] = y;
        y->producer = lowered;
        changed = true;
        continue;
      }
      if (!chain) continue;
      ir::Node* lowered = nullptr;
      switch (n->op) {
        case OpKind::Conv:
          lowered = lower_conv(g, n, *chain);
          break;
        case OpKind::MatMul:
          lowered = lower_matmul(g, n, *chain);
          break;
        case OpKind::Gemm:
          lowered = lower_gemm(g, n, &*chain, fuse_relu);
          break;
        case OpKind::Add:
          lowered = lower_add(g, n, *chain);
          break;
        case OpKind::GlobalAveragePool:
          lowered = lower_gap(g, n, *chain);
          break;
        default:
          break;
      }
      if (!lowered) continue;
      // The lowered node takes over the Q's output value (its name and readers).
      ir::Value* y = chain->q->outputs[0];
      for (ir::Node* r : {chain->q, chain->relu, n}) {
        if (!r) continue;
        removed.insert(r);
        g.remove_node(r);
      }
      // A Relu the output's saturation does not imply stays as a fused activation (condense's
      // integer kernels clamp at the output zero point).
      if (chain->has_relu && !chain->relu_implied)
        lowered->attrs["_activation"] = ir::Attribute::of_string("Relu");
      lowered->outputs[0] = y;
      y->producer = lowered;
      y->dtype = chain->p.dtype;
      changed = true;
    }
    return changed;
  }

  // A new node with one placeholder output (replaced by the caller).
  static ir::Node* make(ir::Graph& g, OpKind op, std::vector<ir::Value*> inputs,
                        const std::string& name) {
    return g.add_node(op, std::move(inputs), 1, g.fresh_name(name + "_lowered"));
  }

  static ir::Value* zero_zp(ir::Graph& g, const WeightDQ& w, const std::string& name) {
    if (w.zp) return w.zp;
    return g.add_constant(g.fresh_name(name + "_zp"),
                          Tensor::zeros(w.q->constant->dtype(), w.scale->constant->shape()));
  }

  // The int32 bias of a QLinear node from DQ(int32 const) `v`: rescaled to x_scale * w_scale[m]
  // (ONNX's QLinearConv / ORT's QGemm bias scale) when the QDQ scale differs. Null when `v` is
  // not such a DQ, has not M elements, or does not fit int32.
  static ir::Value* requantized_bias(ir::Graph& g, ir::Value* v, float x_scale,
                                     const Tensor& w_scale, int64_t M, const std::string& name) {
    auto b = weight_dq(v);
    if (!b || b->q->constant->dtype() != DType::I32 || b->q->constant->rank() != 1 ||
        b->q->constant->numel() != M)
      return nullptr;
    const Tensor& bs = *b->scale->constant;
    if (bs.numel() != 1 && bs.numel() != M) return nullptr;
    const int64_t ns = w_scale.numel();
    Tensor nb = Tensor::empty(DType::I32, {M});
    bool same = true;
    for (int64_t m = 0; m < M; ++m) {
      const float target = x_scale * w_scale.data<float>()[ns == 1 ? 0 : m];
      const float have = bs.data<float>()[bs.numel() == 1 ? 0 : m];
      const double zb = b->zp ? b->zp->constant->get_f64(b->zp->constant->numel() == 1 ? 0 : m) : 0;
      const double q = (b->q->constant->get_f64(m) - zb) * static_cast<double>(have) / target;
      if (!std::isfinite(q) || std::fabs(q) > 2147483647.0) return nullptr;
      nb.data<int32_t>()[m] = static_cast<int32_t>(std::nearbyint(q));
      same &= have == target && zb == 0;
    }
    return same ? b->q : g.add_constant(g.fresh_name(name + "_bias_q"), nb);
  }

  static ir::Node* lower_conv(ir::Graph& g, ir::Node* conv, const OutChain& c) {
    QParams px;
    if (!dq_producer(conv->input(0), &px)) return nullptr;
    auto w = weight_dq(conv->input(1));
    if (!w) return nullptr;
    const Tensor& wq = *w->q->constant;
    if ((wq.dtype() != DType::I8 && wq.dtype() != DType::U8) || wq.rank() < 3) return nullptr;
    const int64_t M = wq.dim(0);
    const int64_t ns = w->scale->constant->numel();
    if (ns != 1 && (ns != M || w->axis != 0)) return nullptr;
    if (w->zp && w->zp->constant->numel() != ns) return nullptr;
    ir::Value* bias = nullptr;
    if (conv->input(2)) {
      bias = requantized_bias(g, conv->input(2), px.s, *w->scale->constant, M, conv->name);
      if (!bias) return nullptr;
    }
    std::vector<ir::Value*> ins = {
        conv->input(0)->producer->inputs[0], px.scale,  px.zp, w->q, w->scale,
        zero_zp(g, *w, conv->name + "_w"),   c.p.scale, c.p.zp};
    if (bias) ins.push_back(bias);
    ir::Node* q = make(g, OpKind::QLinearConv, ins, conv->name);
    for (const auto& [k, a] : conv->attrs)
      if (k.empty() || k[0] != '_') q->attrs[k] = a;
    q->name = conv->name;
    return q;
  }

  // Gemm (transA 0, alpha 1, beta 1) on DQ(a) and DQ(B const) [+ DQ(int32 C const)] -> QGemm
  // (com.microsoft): quantized output when `c` (its Q) is given, else f32 output.
  static ir::Node* lower_gemm(ir::Graph& g, ir::Node* gemm, const OutChain* c, bool fuse_relu) {
    if (gemm->attr_int("transA", 0) != 0 || gemm->attr_float("alpha", 1.f) != 1.f ||
        gemm->attr_float("beta", 1.f) != 1.f)
      return nullptr;
    const std::string act = gemm->attr_string("_activation", "");
    if (!c && !act.empty() && (act != "Relu" || !fuse_relu)) return nullptr;
    QParams pa;
    if (!dq_producer(gemm->input(0), &pa)) return nullptr;
    auto b = weight_dq(gemm->input(1));
    if (!b) return nullptr;
    const Tensor& bq = *b->q->constant;
    if ((bq.dtype() != DType::I8 && bq.dtype() != DType::U8) || bq.rank() != 2) return nullptr;
    const bool trans_b = gemm->attr_int("transB", 0) != 0;
    const int64_t N = trans_b ? bq.dim(0) : bq.dim(1);
    const int64_t ns = b->scale->constant->numel();
    if (ns != 1 && (ns != N || b->axis != (trans_b ? 0 : 1))) return nullptr;
    if (b->zp && b->zp->constant->numel() != ns) return nullptr;
    ir::Value* bias = nullptr;
    if (gemm->input(2)) {
      bias = requantized_bias(g, gemm->input(2), pa.s, *b->scale->constant, N, gemm->name);
      if (!bias) return nullptr;
    }
    std::vector<ir::Value*> ins = {
        gemm->input(0)->producer->inputs[0], pa.scale, pa.zp, b->q, b->scale,
        zero_zp(g, *b, gemm->name + "_b"),   bias};
    if (c) {
      ins.push_back(c->p.scale);
      ins.push_back(c->p.zp);
    }
    ir::Node* q = make(g, OpKind::QGemm, ins, gemm->name);
    q->attrs["transA"] = ir::Attribute::of_int(0);
    q->attrs["transB"] = ir::Attribute::of_int(trans_b ? 1 : 0);
    q->attrs["alpha"] = ir::Attribute::of_float(1.f);
    if (!c && act == "Relu") q->attrs["_activation"] = ir::Attribute::of_string("Relu");
    q->name = gemm->name;
    return q;
  }

  static ir::Node* lower_matmul(ir::Graph& g, ir::Node* mm, const OutChain& c) {
    QParams pa;
    if (!dq_producer(mm->input(0), &pa)) return nullptr;
    auto b = weight_dq(mm->input(1));
    if (!b) return nullptr;
    const Tensor& bq = *b->q->constant;
    if ((bq.dtype() != DType::I8 && bq.dtype() != DType::U8) || bq.rank() != 2) return nullptr;
    const int64_t ns = b->scale->constant->numel();
    if (ns != 1 && (ns != bq.dim(1) || b->axis != 1)) return nullptr;
    std::vector<ir::Value*> ins = {
        mm->input(0)->producer->inputs[0], pa.scale,  pa.zp, b->q, b->scale,
        zero_zp(g, *b, mm->name + "_b"),   c.p.scale, c.p.zp};
    ir::Node* q = make(g, OpKind::QLinearMatMul, ins, mm->name);
    q->name = mm->name;
    return q;
  }

  static ir::Node* lower_add(ir::Graph& g, ir::Node* add, const OutChain& c) {
    QParams pa, pb;
    ir::Node* da = dq_producer(add->input(0), &pa);
    ir::Node* db = dq_producer(add->input(1), &pb);
    if (!da || !db || pa.dtype != c.p.dtype || pb.dtype != c.p.dtype) return nullptr;
    ir::Node* q =
        make(g, OpKind::QLinearAdd,
             {da->inputs[0], pa.scale, pa.zp, db->inputs[0], pb.scale, pb.zp, c.p.scale, c.p.zp},
             add->name);
    q->name = add->name;
    return q;
  }

  static ir::Node* lower_gap(ir::Graph& g, ir::Node* gap, const OutChain& c) {
    QParams px;
    ir::Node* dx = dq_producer(gap->input(0), &px);
    if (!dx || px.dtype != c.p.dtype) return nullptr;
    ir::Node* q = make(g, OpKind::QLinearGlobalAveragePool,
                       {dx->inputs[0], px.scale, px.zp, c.p.scale, c.p.zp}, gap->name);
    q->attrs["channels_last"] = ir::Attribute::of_int(0);
    q->name = gap->name;
    return q;
  }

 private:
  bool fuse_relu_;
};

}  // namespace

std::unique_ptr<Pass> make_lower_qdq_pass(bool fuse_relu) {
  return std::make_unique<LowerQdqPass>(fuse_relu);
}

}  // namespace condense
