// quantize(): the static (QDQ) and weight-only rewrites, and the QdqBuilder they share with the
// dynamic rewrite.
#include <algorithm>
#include <cmath>
#include <limits>

#include "compress/quant/rewrite.h"
#include "kernels/ref/quant_util.h"

namespace condense::quant {

std::string unique_name(ir::Graph& g, const std::string& base) {
  bool used = g.find_value(base) != nullptr;
  for (const auto& n : g.nodes()) used = used || n->name == base;
  return used ? g.fresh_name(base) : base;
}

namespace {
ir::Value* add_const(ir::Graph& g, const std::string& base, Tensor t) {
  return g.add_constant(unique_name(g, base), std::move(t));
}
}  // namespace

ir::Value* QdqBuilder::scalar_f32(const std::string& name, float v) {
  return add_const(g_, name, Tensor::scalar<float>(v));
}

ir::Value* QdqBuilder::scalar_int(const std::string& name, DType dtype, int32_t v) {
  Tensor t = Tensor::empty(dtype, {});
  store_from_i32(t, {v});
  return add_const(g_, name, std::move(t));
}

ir::Value* QdqBuilder::shared_constant(const std::string& name, Tensor t) {
  std::string key = fmt::format("{}|{}|", dtype_name(t.dtype()), shape_str(t.shape()));
  key.append(static_cast<const char*>(t.raw()), t.nbytes());
  auto [it, fresh] = shared_.try_emplace(std::move(key), nullptr);
  if (fresh) it->second = g_.add_constant(unique_name(g_, name), std::move(t));
  return it->second;
}

std::string QdqBuilder::short_name(const std::string& prefix) {
  std::string name;
  do name = fmt::format("{}{}", prefix, counters_[prefix]++);
  while (g_.find_value(name) || g_.find_value(name + ".q") || g_.find_value(name + ".s") ||
         g_.find_value(name + ".z") || g_.find_value(name + ".f"));
  return unique_name(g_, name);
}

ir::Value* QdqBuilder::dequantize_constant(const QuantizedTensor& q, const std::string& prefix,
                                           bool with_zero_point) {
  const std::string id = short_name(prefix);
  ir::Value* qv = g_.add_constant(id + ".q", q.q);
  ir::Value* sv = g_.add_constant(id + ".s", q.scale);
  std::vector<ir::Value*> ins{qv, sv};
  if (with_zero_point) ins.push_back(shared_constant(id + ".z", q.zero_point));
  // No declared shape: it would be written as value_info, bytes that say what the initializer's
  // dims already say.
  ir::Value* out = g_.add_value(id, DType::F32);
  ir::Node* dq = g_.add_node_with_outputs(OpKind::DequantizeLinear, ins, {out}, id);
  if (q.axis >= 0) dq->attrs["axis"] = ir::Attribute::of_int(q.axis);
  if (q.block_size > 0) dq->attrs["block_size"] = ir::Attribute::of_int(q.block_size);
  return out;
}

Result<ir::Value*> QdqBuilder::weight(const ir::Node& node, const WeightPlan& p) {
  const ir::Value* w = node.inputs[p.input];
  const WeightScheme& s = p.scheme;
  const std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", w->name, dtype_name(s.dtype),
                                      s.symmetric, granularity_name(s.granularity), s.block_size,
                                      s.reduce_range, p.channel_axis, p.block_axis);
  if (auto it = weights_.find(key); it != weights_.end()) return it->second;
  auto q = quantize_weight(*w->constant, s, p.channel_axis, p.block_axis, w->name);
  if (!q) return q.status().with_context(fmt::format("node {}", node.describe()));
  ir::Value* out = dequantize_constant(*q, "w");
  weights_[key] = out;
  return out;
}

void QdqBuilder::quantize_activation(ir::Value* v, ScaleZp qp, DType dtype, bool quantize_output) {
  const std::string name = v->name;
  const bool is_output = std::find(g_.outputs.begin(), g_.outputs.end(), v) != g_.outputs.end();
  const std::vector<ir::Value*> outputs = g_.outputs;
  const std::string id = short_name("a");
  ir::Value* scale = g_.add_constant(id + ".s", Tensor::scalar<float>(qp.scale));
  Tensor zp_t = Tensor::empty(dtype, {});
  store_from_i32(zp_t, {qp.zero_point});
  ir::Value* zp = shared_constant(id + ".z", std::move(zp_t));
  ir::Value* q = g_.add_value(id + ".q", dtype);
  q->has_shape = v->has_shape;
  q->dims = v->dims;
  ir::Value* dq = g_.add_value(id, DType::F32);
  dq->has_shape = v->has_shape;
  dq->dims = v->dims;
  g_.replace_uses(v, dq);
  g_.add_node_with_outputs(OpKind::QuantizeLinear, {v, scale, zp}, {q}, id + ".q");
  g_.add_node_with_outputs(OpKind::DequantizeLinear, {q, scale, zp}, {dq}, id);
  const bool is_input = std::find(g_.inputs.begin(), g_.inputs.end(), v) != g_.inputs.end();
  if (is_output && !quantize_output) g_.outputs = outputs;  // graph outputs keep the float value
  if (is_input || (is_output && !quantize_output)) return;  // and their names
  // The dequantized value takes the float value's name (what its readers, the graph output and
  // `condense compare` know it by); the value before quantization gets the short one.
  v->name = id + ".f";
  dq->name = name;
}

namespace {

// An int32 bias DequantizeLinear: scale = input_scale * weight_scale (per output channel when
// the weight is), zero point 0, values round_half_to_even(b / scale) saturated to int32.
ir::Value* quantize_bias(QdqBuilder& b, const ir::Value* bias, float input_scale,
                         const Tensor& weight_scale, std::vector<std::string>& warnings,
                         const ir::Node& node) {
  const Tensor& bt = *bias->constant;
  const int64_t n = bt.numel();
  const bool per_channel = weight_scale.numel() > 1;
  QuantizedTensor q;
  q.scale = Tensor::empty(DType::F32, per_channel ? Shape{n} : Shape{});
  q.zero_point = Tensor::zeros(DType::I32, q.scale.shape());
  q.q = Tensor::empty(DType::I32, bt.shape());
  q.axis = per_channel ? 0 : -1;
  const IntRange r{std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
  int64_t saturated = 0;
  for (int64_t k = 0; k < (per_channel ? n : 1); ++k)
    q.scale.data<float>()[k] = input_scale * weight_scale.data<float>()[k];
  for (int64_t i = 0; i < n; ++i) {
    const float s = q.scale.data<float>()[per_channel ? i : 0];
    const float v = bt.data<float>()[i];
    const int32_t qi = quantize_value(v, s, 0, r);
    saturated += std::abs(double(v) / double(s)) > 2147483647.0;
    q.q.data<int32_t>()[i] = qi;
  }
  if (saturated)
    warnings.push_back(
        fmt::format("node {}: {} bias values exceed int32 at scale input x weight "
                    "and were saturated",
                    node.describe(), saturated));
  // No zero point: DequantizeLinear's default is 0 of the input's type (int32 here).
  return b.dequantize_constant(q, "b", /*with_zero_point=*/false);
}

}  // namespace

Result<QuantizeResult> quantize(ir::Graph g, const QuantizeOptions& options,
                                const CalibrationTable* table) {
  CONDENSE_ASSIGN_OR_RETURN(QuantPlan plan, make_plan(g, options));
  QuantizeResult res;
  res.warnings = plan.warnings;
  res.excluded = plan.excluded;
  QdqBuilder b(g);

  if (options.mode == Mode::Dynamic) {
    for (const NodePlan& np : plan.nodes) res.quantized.push_back(np.node->name);
    CONDENSE_TRY(rewrite_dynamic(g, plan, b));  // replaces (deletes) the planned nodes
  } else {
    // Activation quantization parameters: from the table's ranges (static only).
    std::map<std::string, ScaleZp> act_qp;
    if (options.mode == Mode::Static) {
      if (!table)
        return Status::error(
            "static quantization needs a calibration: calibration data (--calib) or a "
            "calibration table (--calib-table); hint: --mode dynamic or --mode weight-only need "
            "none");
      for (const ActivationPlan& a : plan.activations) {
        const TensorCalibration* e = table->find(a.name);
        if (!e)
          return Status::errorf(
              "the calibration table has no entry for activation '{}' (quantized for node "
              "'{}'); hint: run condense calibrate on this model with the same options",
              a.name, a.owner);
        const ScaleZp qp = compute_scale_zp(e->range.lo, e->range.hi,
                                            quant_range(a.scheme.dtype, a.scheme.symmetric, false),
                                            a.scheme.symmetric);
        if (std::isfinite(e->qparams.scale) && e->dtype == a.scheme.dtype &&
            e->symmetric == a.scheme.symmetric &&
            (e->qparams.scale != qp.scale || e->qparams.zero_point != qp.zero_point))
          res.warnings.push_back(fmt::format(
              "calibration table: activation '{}' has scale {} / zero point {}, but its range "
              "[{}, {}] gives {} / {}; the range was used (edit \"range\" to change it)",
              a.name, e->qparams.scale, e->qparams.zero_point, e->range.lo, e->range.hi, qp.scale,
              qp.zero_point));
        act_qp[a.name] = qp;
      }
    }
    for (const NodePlan& np : plan.nodes) {
      ir::Node* n = np.node;
      if (np.weight) {
        // Bias scales need the weight's scales: quantize the weight first.
        CONDENSE_ASSIGN_OR_RETURN(ir::Value * wdq, b.weight(*n, *np.weight));
        if (np.bias) {
          const ir::Value* x = n->inputs[0];
          const Tensor& wscale = *wdq->producer->inputs[1]->constant;
          ir::Value* bias = n->inputs[*np.bias];
          n->inputs[*np.bias] =
              quantize_bias(b, bias, act_qp.at(x->name).scale, wscale, res.warnings, *n);
        }
        n->inputs[np.weight->input] = wdq;
      }
      for (size_t i : np.constant_inputs) {
        // Add/Mul constants: per tensor with the node's activation scheme over their own range.
        const ir::Value* c = n->inputs[i];
        const Tensor& t = *c->constant;
        float lo = 0, hi = 0;
        for (int64_t k = 0; k < t.numel(); ++k) {
          lo = std::min(lo, t.data<float>()[k]);
          hi = std::max(hi, t.data<float>()[k]);
        }
        if (!std::isfinite(lo) || !std::isfinite(hi))
          return Status::errorf(
              "constant '{}' of node {} is not finite; hint: --exclude '{}' "
              "leaves it in float",
              c->name, n->describe(), regex_escape(n->name));
        WeightScheme ws;
        ws.dtype = np.config.activations.dtype;
        ws.symmetric = np.config.activations.symmetric;
        CONDENSE_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_weight(t, ws, 0, 0, c->name));
        n->inputs[i] = b.dequantize_constant(q, "c");
      }
      res.quantized.push_back(n->name);
    }
    if (options.mode == Mode::Static)
      for (const ActivationPlan& a : plan.activations) {
        ir::Value* v = g.find_value(a.name);
        if (!v) return Status::errorf("internal: activation '{}' vanished", a.name);
        b.quantize_activation(v, act_qp.at(a.name), a.scheme.dtype, options.quantize_outputs);
      }
  }

  if (res.quantized.empty())
    res.warnings.push_back(fmt::format(
        "no node was quantized ({} excluded): the model has no{} node that {} mode quantizes",
        res.excluded.size(), res.excluded.empty() ? "" : " other", mode_name(options.mode)));
  g.remove_dead();
  tidy_for_export(g);
  CONDENSE_TRY(g.sort());
  // Opset 21: int4/uint4 tensors and blocked DequantizeLinear.
  int64_t opset = std::max<int64_t>(13, g.opset_imports.count("") ? g.opset_imports.at("") : 0);
  for (const auto& n : g.nodes())
    if (n->has_attr("block_size")) opset = std::max<int64_t>(opset, 21);
  for (const auto& v : g.values())
    if (v->dtype == DType::I4 || v->dtype == DType::U4) opset = std::max<int64_t>(opset, 21);
  g.opset_imports[""] = opset;
  res.opset = opset;
  CONDENSE_TRY(g.verify().with_context("internal: the quantized graph is invalid"));
  res.graph = std::move(g);
  return res;
}

}  // namespace condense::quant
