// Quantization-aware training: FakeQuantize insertion (from the static quantization plan, so QAT
// quantizes exactly the tensors `condense quantize` would) and the export of a trained QAT graph
// to QDQ with integer weights and the learned scales.
#include <condense/qat.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "compress/quant/plan.h"
#include "compress/quant/rewrite.h"
#include "core/qparam_index.h"
#include "kernels/ref/quant_util.h"

namespace condense::quant {

namespace {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

ir::Value* new_value(ir::Graph& g, const std::string& base, DType t, const ir::Value* like) {
  ir::Value* v = g.add_value(unique_name(g, base), t);
  v->has_shape = like->has_shape;
  v->dims = like->dims;
  return v;
}

ir::Value* new_value_of(ir::Graph& g, const std::string& base, DType t, const Shape& shape) {
  ir::Value* v = g.add_value(unique_name(g, base), t);
  v->has_shape = true;
  v->dims = ir::Dims(shape.begin(), shape.end());
  return v;
}

// The element -> scale index of a per-tensor (axis < 0) or per-axis quantization of `shape`.
QParamIndex channel_index(const Shape& shape, int64_t axis) {
  QParamIndex q;
  if (axis < 0) return q;
  q.mode = 1;
  q.axis_len = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) q.inner *= shape[d];
  return q;
}

// FakeQuantize's integer step for one element: saturate(round_half_even(x / s) + zp) with the
// quotient in f32, as QuantizeLinear and the FakeQuantize kernel compute it.
int32_t fake_quant_int(float x, float s, int32_t zp, int64_t qmin, int64_t qmax) {
  const float v = x / s;
  const double r = std::isnan(v) ? 0.0 : std::nearbyint(static_cast<double>(v));
  return static_cast<int32_t>(
      std::clamp(r + zp, static_cast<double>(qmin), static_cast<double>(qmax)));
}

// Per channel (axis >= 0) or per tensor: the scale a / qmax, with a from {max|w| (1 - j / 100),
// j = 0..80}, that minimizes the squared error of symmetric fake quantization into
// [-qmax, qmax]. A channel of zeros gets scale 1.
Tensor init_weight_scales(const Tensor& w, int64_t axis, int64_t qmax) {
  const Shape& shape = w.shape();
  const int64_t channels = axis < 0 ? 1 : shape[axis];
  const QParamIndex idx = channel_index(shape, axis);
  std::vector<std::vector<float>> per(channels);
  const float* pw = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) per[idx(i)].push_back(pw[i]);
  Tensor scales = Tensor::empty(DType::F32, {channels});
  float* ps = scales.data<float>();
#pragma omp parallel for schedule(dynamic) if (w.numel() > 65536)
  for (int64_t c = 0; c < channels; ++c) {
    const std::vector<float>& v = per[c];
    float amax = 0;
    for (float x : v) amax = std::max(amax, std::abs(x));
    if (amax == 0) {
      ps[c] = 1.0f;
      continue;
    }
    float best_s = std::max(amax / static_cast<float>(qmax), kMinScale);
    double best_err = std::numeric_limits<double>::infinity();
    for (int j = 0; j <= 80; ++j) {
      const float s = std::max(amax * (1.0f - 0.01f * j) / static_cast<float>(qmax), kMinScale);
      double err = 0;
      for (float x : v) {
        const float y = static_cast<float>(fake_quant_int(x, s, 0, -qmax, qmax)) * s;
        err += double(y - x) * double(y - x);
      }
      if (err < best_err) {
        best_err = err;
        best_s = s;
      }
    }
    ps[c] = best_s;
  }
  return scales;
}

Tensor int_tensor(DType t, const Shape& shape, int32_t v) {
  Tensor z = Tensor::empty(t, shape);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  store_from_i32(z, std::vector<int32_t>(n, v));
  return z;
}

ir::Node* add_fake_quant(ir::Graph& g, ir::Value* x, ir::Value* scale, ir::Value* zp,
                         ir::Value* out, int64_t axis, int64_t qmin, int64_t qmax,
                         bool learn_scale) {
  ir::Node* n = g.add_node_with_outputs(OpKind::FakeQuantize, {x, scale, zp}, {out},
                                        unique_name(g, x->name + "_FQ"));
  if (axis >= 0) n->attrs["axis"] = ir::Attribute::of_int(axis);
  n->attrs["qmin"] = ir::Attribute::of_int(qmin);
  n->attrs["qmax"] = ir::Attribute::of_int(qmax);
  if (!learn_scale) n->attrs["learn_scale"] = ir::Attribute::of_int(0);
  return n;
}

struct ActScale {
  ir::Value* scale = nullptr;  // (1) f32, trainable
};

}  // namespace

Result<QatModel> insert_fake_quant(ir::Graph g, const QuantizeOptions& options,
                                   const CalibrationTable& table) {
  if (options.mode != Mode::Static)
    return Status::errorf("QAT simulates static quantization; mode {} is not supported",
                          mode_name(options.mode));
  CONDENSE_ASSIGN_OR_RETURN(QuantPlan plan, make_plan(g, options));
  QatModel res;
  res.warnings = plan.warnings;
  res.excluded = plan.excluded;
  for (const NodePlan& np : plan.nodes) {
    if (!np.constant_inputs.empty())
      return Status::errorf(
          "node {}: QAT quantizes Conv, Gemm and MatMul; quantized Add/Mul constants are not "
          "supported",
          np.node->describe());
    if (np.weight) {
      const WeightScheme& s = np.weight->scheme;
      if (!(s.dtype == DType::I8 || s.dtype == DType::I4) || !s.symmetric)
        return Status::errorf(
            "node {}: QAT trains symmetric int8 or int4 weights (zero point 0), not {}{}",
            np.node->describe(), s.symmetric ? "" : "asymmetric ", quant_dtype_name(s.dtype));
      if (s.granularity == Granularity::PerGroup)
        return Status::errorf(
            "node {}: QAT trains per-tensor or per-channel weight scales, not blocks",
            np.node->describe());
    }
  }
  if (plan.nodes.empty())
    return Status::errorf(
        "nothing to quantize: the model has no {} node with a constant weight{}",
        options.op_types.empty() ? std::string("Conv, Gemm or MatMul")
                                 : fmt::format("{}", fmt::join(options.op_types, ", ")),
        plan.excluded.empty()
            ? std::string()
            : fmt::format(" that is not excluded ({} excluded)", plan.excluded.size()));

  // Activations: scale (1) and zero point (1) from the calibrated range; the full integer range
  // of the dtype, as QuantizeLinear saturates.
  std::map<std::string, ir::Value*> act_scale;
  struct ActInsert {
    ir::Value* v;
    ir::Value* scale;
    ir::Value* zp;
    DType dtype;
  };
  std::vector<ActInsert> acts;
  for (const ActivationPlan& a : plan.activations) {
    const TensorCalibration* e = table.find(a.name);
    if (!e)
      return Status::errorf(
          "the calibration has no entry for activation '{}' (quantized for node '{}')", a.name,
          a.owner);
    const ScaleZp qp = compute_scale_zp(e->range.lo, e->range.hi,
                                        quant_range(a.scheme.dtype, a.scheme.symmetric, false),
                                        a.scheme.symmetric);
    ir::Value* v = g.find_value(a.name);
    if (!v) return Status::errorf("internal: activation '{}' is not in the graph", a.name);
    ir::Value* s = g.add_constant(unique_name(g, a.name + "_fq_scale"),
                                  Tensor::from_vector<float>({qp.scale}, {1}));
    ir::Value* z = g.add_constant(unique_name(g, a.name + "_fq_zp"),
                                  int_tensor(a.scheme.dtype, {1}, qp.zero_point));
    act_scale[a.name] = s;
    acts.push_back({v, s, z, a.scheme.dtype});
  }

  // Weights and biases.
  std::map<std::string, std::pair<ir::Value*, ir::Value*>> weight_fq;  // weight -> (out, scale)
  for (const NodePlan& np : plan.nodes) {
    ir::Node* n = np.node;
    res.quantized.push_back(n->name);
    if (!np.weight) continue;
    const WeightPlan& wp = *np.weight;
    ir::Value* w = n->inputs[wp.input];
    const int64_t axis =
        wp.scheme.granularity == Granularity::PerChannel ? wp.channel_axis : int64_t{-1};
    const std::string key = fmt::format("{}|{}|{}", w->name, axis, dtype_name(wp.scheme.dtype));
    auto it = weight_fq.find(key);
    if (it == weight_fq.end()) {
      const Tensor& wt = *w->constant;
      for (int64_t i = 0; i < wt.numel(); ++i)
        if (!std::isfinite(wt.data<float>()[i]))
          return Status::errorf("weight '{}' of node {} has {} at element {} of {}", w->name,
                                n->describe(), wt.data<float>()[i], i, shape_str(wt.shape()));
      const IntRange r = quant_range(wp.scheme.dtype, true, wp.scheme.reduce_range);
      Tensor scales = init_weight_scales(wt, axis, r.hi);
      ir::Value* s = g.add_constant(unique_name(g, w->name + "_fq_scale"), scales);
      ir::Value* z = g.add_constant(unique_name(g, w->name + "_fq_zp"),
                                    int_tensor(wp.scheme.dtype, scales.shape(), 0));
      ir::Value* out = new_value(g, w->name + "_fq", DType::F32, w);
      add_fake_quant(g, w, s, z, out, axis, r.lo, r.hi, true);
      it = weight_fq.emplace(key, std::make_pair(out, s)).first;
      ++res.weights;
    }
    n->inputs[wp.input] = it->second.first;
    if (np.bias) {
      ir::Value* b = n->inputs[*np.bias];
      ir::Value* x = n->inputs[0];
      auto as = act_scale.find(x->name);
      if (as == act_scale.end())
        return Status::errorf(
            "internal: node {} has a quantized bias but its input '{}' is not "
            "quantized",
            n->describe(), x->name);
      ir::Value* ws = it->second.second;
      const Shape bs_shape = ws->constant->shape();
      ir::Value* bscale = new_value_of(g, b->name + "_fq_scale", DType::F32, bs_shape);
      g.add_node_with_outputs(OpKind::Mul, {as->second, ws}, {bscale},
                              unique_name(g, b->name + "_fq_scale_Mul"));
      ir::Value* bz =
          g.add_constant(unique_name(g, b->name + "_fq_zp"), int_tensor(DType::I32, bs_shape, 0));
      ir::Value* out = new_value(g, b->name + "_fq", DType::F32, b);
      add_fake_quant(g, b, bscale, bz, out, bs_shape[0] > 1 ? 0 : -1, kInt32Min, kInt32Max, false);
      n->inputs[*np.bias] = out;
      ++res.biases;
    }
  }

  // Activations last: every reader of v (the quantized node, and any other) reads the
  // fake-quantized value; graph outputs keep the float value unless they are quantized.
  for (const ActInsert& a : acts) {
    const std::vector<ir::Value*> outputs = g.outputs;
    const bool is_output = std::find(outputs.begin(), outputs.end(), a.v) != outputs.end();
    ir::Value* out = new_value(g, a.v->name + "_fq", DType::F32, a.v);
    g.replace_uses(a.v, out);
    const IntRange r = quant_range(a.dtype, false, false);
    add_fake_quant(g, a.v, a.scale, a.zp, out, -1, r.lo, r.hi, true);
    if (is_output && !options.quantize_outputs) {
      g.outputs = outputs;
    } else if (is_output) {
      const std::string name = a.v->name;
      a.v->name = unique_name(g, name + "_float");
      out->name = name;
    }
    ++res.activations;
  }
  CONDENSE_TRY(g.sort());
  CONDENSE_TRY(g.verify().with_context("internal: the QAT graph is invalid"));
  res.graph = std::move(g);
  return res;
}

Result<QuantizeResult> export_qat(ir::Graph g) {
  QuantizeResult res;
  std::vector<ir::Node*> fqs;
  for (const auto& n : g.nodes())
    if (n->op == OpKind::FakeQuantize) fqs.push_back(n.get());
  if (fqs.empty()) return Status::error("the model has no FakeQuantize node: not a QAT model");
  for (ir::Node* n : fqs) {
    ir::Value* x = n->inputs[0];
    ir::Value* s = n->inputs[1];
    ir::Value* z = n->inputs[2];
    ir::Value* y = n->outputs[0];
    if (!z->is_constant())
      return Status::errorf("node {}: the zero point is not a constant", n->describe());
    // The scale: a constant, or (biases) the product of two constants.
    Tensor scale;
    if (s->is_constant()) {
      scale = s->constant->clone();
    } else if (s->producer && s->producer->op == OpKind::Mul &&
               s->producer->inputs[0]->is_constant() && s->producer->inputs[1]->is_constant()) {
      const Tensor& a = *s->producer->inputs[0]->constant;
      const Tensor& b = *s->producer->inputs[1]->constant;
      const int64_t len = std::max(a.numel(), b.numel());
      if ((a.numel() != 1 && a.numel() != len) || (b.numel() != 1 && b.numel() != len))
        return Status::errorf("node {}: scale factors {} and {} do not broadcast", n->describe(),
                              shape_str(a.shape()), shape_str(b.shape()));
      scale = Tensor::empty(DType::F32, {len});
      for (int64_t k = 0; k < len; ++k)
        scale.data<float>()[k] =
            a.data<float>()[a.numel() == 1 ? 0 : k] * b.data<float>()[b.numel() == 1 ? 0 : k];
    } else {
      return Status::errorf("node {}: the scale is neither a constant nor a product of two",
                            n->describe());
    }
    if (scale.dtype() != DType::F32)
      return Status::errorf("node {}: scale is {}, not f32", n->describe(),
                            dtype_name(scale.dtype()));
    for (int64_t k = 0; k < scale.numel(); ++k)
      if (!(scale.data<float>()[k] > 0) || !std::isfinite(scale.data<float>()[k]))
        return Status::errorf(
            "node {}: learned scale {} is {}; scales must be positive and finite (a lower "
            "learning rate, or --freeze '_fq_scale$', keeps them so)",
            n->describe(), k, scale.data<float>()[k]);
    const DType qt = z->constant->dtype();
    const std::vector<int32_t> zp = widen_to_i32(*z->constant);
    const QRange full = qrange(qt);
    const int64_t qmin = n->attr_int("qmin", full.lo), qmax = n->attr_int("qmax", full.hi);
    const bool per_tensor = scale.numel() == 1;
    const int64_t axis = per_tensor ? -1 : n->attr_int("axis", 1);
    if (n->attr_int("block_size", 0) != 0)
      return Status::errorf("node {}: blocked FakeQuantize has no export", n->describe());
    // DequantizeLinear takes a scalar per-tensor scale / zero point, 1-D per axis.
    const Shape qshape = per_tensor ? Shape{} : Shape{scale.numel()};
    Tensor scale_q = scale.reshaped(qshape);
    Tensor zp_q = int_tensor(qt, qshape, 0);
    store_from_i32(zp_q, zp);
    const std::string base = x->name;
    ir::Value* dq_out = nullptr;
    if (x->is_constant()) {
      const Tensor& xt = *x->constant;
      if (xt.dtype() != DType::F32)
        return Status::errorf("node {}: constant input is {}, not f32", n->describe(),
                              dtype_name(xt.dtype()));
      int64_t ax = axis;
      if (ax < 0 && !per_tensor) ax += xt.rank();
      const QParamIndex idx = channel_index(xt.shape(), per_tensor ? -1 : ax);
      std::vector<int32_t> q(xt.numel());
      const float* px = xt.data<float>();
      const float* ps = scale.data<float>();
      for (int64_t i = 0; i < xt.numel(); ++i) {
        const int64_t k = idx(i);
        q[i] = fake_quant_int(px[i], ps[k], zp[k], qmin, qmax);
      }
      QuantizedTensor qt_out;
      qt_out.q = Tensor::empty(qt, xt.shape());
      store_from_i32(qt_out.q, q);
      qt_out.scale = scale_q;
      qt_out.zero_point = zp_q;
      qt_out.axis = per_tensor ? -1 : ax;
      // Short names as the PTQ rewrite gives them ("w3.q", "b3.q"): names are file bytes.
      QdqBuilder b(g);
      dq_out = b.dequantize_constant(qt_out, qt == DType::I32 ? "b" : "w", qt != DType::I32);
      for (const auto& m : g.nodes())
        for (ir::Value* in : m->inputs)
          if (in == y && m->op != OpKind::FakeQuantize &&
              std::find(res.quantized.begin(), res.quantized.end(), m->name) ==
                  res.quantized.end() &&
              qt != DType::I32)
            res.quantized.push_back(m->name);
    } else {
      if (!per_tensor)
        return Status::errorf("node {}: activations are quantized per tensor", n->describe());
      if (qmin != full.lo || qmax != full.hi)
        return Status::errorf(
            "node {}: an activation range [{}, {}] narrower than {}'s cannot be expressed by "
            "QuantizeLinear",
            n->describe(), qmin, qmax, quant_dtype_name(qt));
      ir::Value* sv = g.add_constant(unique_name(g, base + "_scale"), scale_q);
      ir::Value* zv = g.add_constant(unique_name(g, base + "_zp"), zp_q);
      ir::Value* q = new_value(g, base + "_q", qt, y);
      dq_out = new_value(g, base + "_dq", DType::F32, y);
      g.add_node_with_outputs(OpKind::QuantizeLinear, {x, sv, zv}, {q},
                              unique_name(g, base + "_Q"));
      g.add_node_with_outputs(OpKind::DequantizeLinear, {q, sv, zv}, {dq_out},
                              unique_name(g, base + "_DQ"));
    }
    // The dequantized value replaces the FakeQuantize output (a graph output keeps its name).
    const std::string yname = y->name;
    const bool is_output = std::find(g.outputs.begin(), g.outputs.end(), y) != g.outputs.end();
    g.replace_uses(y, dq_out);
    g.remove_node(n);
    if (is_output) {
      y->name = unique_name(g, yname + "_fq_removed");
      dq_out->name = yname;
    }
  }
  g.remove_dead();
  CONDENSE_TRY(g.sort());
  int64_t opset = std::max<int64_t>(13, g.opset_imports.count("") ? g.opset_imports.at("") : 0);
  for (const auto& v : g.values())
    if (v->dtype == DType::I4 || v->dtype == DType::U4) opset = std::max<int64_t>(opset, 21);
  g.opset_imports[""] = opset;
  g.opset_imports.erase("com.condense.train");
  res.opset = opset;
  CONDENSE_TRY(g.verify().with_context("internal: the exported QAT graph is invalid"));
  res.graph = std::move(g);
  return res;
}

}  // namespace condense::quant
