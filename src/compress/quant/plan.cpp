// The quantization plan: which nodes of a prepared graph are quantized and how.
#include "compress/quant/plan.h"

#include <algorithm>
#include <set>
#include <unordered_set>

#include "passes/pass.h"

namespace condense::quant {

std::string regex_escape(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Result<LayerResolver> LayerResolver::create(const QuantizeOptions& options) {
  LayerResolver r;
  r.options_ = &options;
  for (const std::string& p : options.exclude) {
    CONDENSE_ASSIGN_OR_RETURN(std::regex re, compile_name_regex(p, "--exclude"));
    r.exclude_.push_back(std::move(re));
  }
  for (const LayerOverride& o : options.overrides) {
    CONDENSE_ASSIGN_OR_RETURN(std::regex re, compile_name_regex(o.match, "override match"));
    r.overrides_.push_back(std::move(re));
  }
  r.exclude_used_.assign(r.exclude_.size(), false);
  r.override_used_.assign(r.overrides_.size(), false);
  return r;
}

LayerConfig LayerResolver::resolve(const std::string& name) const {
  LayerConfig c;
  c.weights = options_->weights;
  c.activations = options_->activations;
  for (size_t i = 0; i < exclude_.size(); ++i)
    if (std::regex_match(name, exclude_[i])) {
      c.excluded = true;
      exclude_used_[i] = true;
    }
  for (size_t i = 0; i < overrides_.size(); ++i) {
    if (!std::regex_match(name, overrides_[i])) continue;
    override_used_[i] = true;
    const LayerOverride& o = options_->overrides[i];
    c.excluded = c.excluded || o.exclude;
    if (o.weight_dtype) {
      c.weights.dtype = *o.weight_dtype;
      if (!o.weight_symmetric && (*o.weight_dtype == DType::U8 || *o.weight_dtype == DType::U4))
        c.weights.symmetric = false;
    }
    if (o.weight_symmetric) c.weights.symmetric = *o.weight_symmetric;
    if (o.granularity) c.weights.granularity = *o.granularity;
    if (o.block_size) c.weights.block_size = *o.block_size;
    if (o.reduce_range) c.weights.reduce_range = *o.reduce_range;
    if (o.activation_dtype) c.activations.dtype = *o.activation_dtype;
    if (o.activation_symmetric) c.activations.symmetric = *o.activation_symmetric;
    if (o.method) c.activations.method = *o.method;
    if (o.percentile) c.activations.percentile = *o.percentile;
  }
  return c;
}

std::vector<std::string> LayerResolver::unused_patterns() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < exclude_.size(); ++i)
    if (!exclude_used_[i]) out.push_back(options_->exclude[i]);
  for (size_t i = 0; i < overrides_.size(); ++i)
    if (!override_used_[i]) out.push_back(options_->overrides[i].match);
  return out;
}

const ActivationPlan* QuantPlan::find_activation(const std::string& name) const {
  for (const ActivationPlan& a : activations)
    if (a.name == name) return &a;
  return nullptr;
}

ObserverOptions observer_options(const ActivationScheme& s, const QuantizeOptions& o) {
  ObserverOptions obs;
  obs.method = s.method;
  obs.bins = o.histogram_bins;
  obs.percentile = s.percentile;
  obs.ema_constant = o.ema_constant;
  obs.dtype = s.dtype;
  obs.symmetric = s.symmetric;
  return obs;
}

namespace {

std::vector<std::string> default_op_types(Mode m) {
  if (m == Mode::Dynamic) return {"MatMul", "Gemm"};
  return {"Conv", "Gemm", "MatMul"};
}

std::vector<std::string> supported_op_types(Mode m) {
  if (m == Mode::Dynamic) return {"MatMul", "Gemm"};
  if (m == Mode::WeightOnly) return {"Conv", "Gemm", "MatMul"};
  return {"Conv", "Gemm", "MatMul", "Add", "Mul"};
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// "node 'conv1' (Conv): <what>; hint: --exclude 'conv1' leaves it in float"
Status cannot_quantize(const ir::Node& n, const std::string& what) {
  return Status::errorf("cannot quantize node {}: {}; hint: --exclude '{}' leaves it in float",
                        n.describe(), what, regex_escape(n.name));
}

bool is_float_constant(const ir::Value* v) {
  return v && v->is_constant() && v->constant->dtype() == DType::F32;
}

// The weight input of a Conv/Gemm/MatMul and its channel and block axes; nullopt when the
// weight is not a constant.
std::optional<WeightPlan> weight_of(const ir::Node& n, const LayerConfig& c) {
  const ir::Value* w = n.input(1);
  if (!is_float_constant(w)) return std::nullopt;
  const int64_t rank = w->constant->rank();
  WeightPlan p;
  p.input = 1;
  p.scheme = c.weights;
  if (n.op == OpKind::Conv) {
    p.channel_axis = 0;  // w: (M, C/group, k...)
    p.block_axis = 1;
  } else if (n.op == OpKind::Gemm) {
    const bool tb = n.attr_int("transB", 0) != 0;  // B: (K, N), or (N, K) with transB
    p.channel_axis = tb ? 0 : 1;
    p.block_axis = tb ? 1 : 0;
  } else {  // MatMul B: (..., K, N)
    p.channel_axis = rank - 1;
    p.block_axis = rank - 2;
    if (rank < 2) p.scheme.granularity = Granularity::PerTensor;
  }
  return p;
}

}  // namespace

Result<QuantPlan> make_plan(const ir::Graph& g, const QuantizeOptions& o) {
  CONDENSE_TRY(validate_options(o));
  QuantPlan plan;
  const std::vector<std::string> supported = supported_op_types(o.mode);
  std::vector<std::string> types = o.op_types.empty() ? default_op_types(o.mode) : o.op_types;
  std::set<OpKind> ops;
  for (const std::string& t : types) {
    if (std::find(supported.begin(), supported.end(), t) == supported.end())
      return Status::errorf("op type '{}' cannot be quantized in {} mode (supported: {})", t,
                            mode_name(o.mode), join(supported));
    ops.insert(*op_from_onnx("", t));
  }
  CONDENSE_ASSIGN_OR_RETURN(LayerResolver resolver, LayerResolver::create(o));
  CONDENSE_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topological_order());
  for (const auto& n : g.nodes())
    if (n->op == OpKind::QuantizeLinear || n->op == OpKind::DequantizeLinear ||
        n->op == OpKind::QLinearConv || n->op == OpKind::QLinearMatMul ||
        n->op == OpKind::MatMulInteger || n->op == OpKind::ConvInteger ||
        n->op == OpKind::DynamicQuantizeLinear)
      return Status::errorf(
          "the model is already quantized (node {}); quantize the float model instead",
          n->describe());

  std::unordered_set<std::string> act_seen;
  auto add_activation = [&](const ir::Value* v, const LayerConfig& c, const ir::Node& owner) {
    if (!v || act_seen.count(v->name)) return;
    act_seen.insert(v->name);
    ActivationPlan a;
    a.name = v->name;
    a.scheme = c.activations;
    a.owner = owner.name;
    a.graph_input = std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
    plan.activations.push_back(std::move(a));
  };
  std::vector<std::string> conv_group_fallback;

  for (ir::Node* n : order) {
    if (!ops.count(n->op)) continue;
    LayerConfig c = resolver.resolve(n->name);
    if (c.excluded) {
      plan.excluded.push_back(n->name);
      continue;
    }
    NodePlan np;
    np.node = n;
    np.config = c;
    const ir::Value* x = n->input(0);
    if (!x || x->dtype != DType::F32)
      return cannot_quantize(*n, fmt::format("it computes in {}; quantization takes f32 models",
                                             x ? dtype_name(x->dtype) : "nothing"));
    const bool weight_op =
        n->op == OpKind::Conv || n->op == OpKind::Gemm || n->op == OpKind::MatMul;

    if (o.mode == Mode::Dynamic) {
      const ir::Value* w = n->input(1);
      if (!is_float_constant(w)) continue;  // activation x activation: nothing to quantize
      if (w->constant->rank() != 2)
        return cannot_quantize(*n, fmt::format("weight '{}' is {}; dynamic quantization "
                                               "(MatMulInteger) takes 2-D weights",
                                               w->name, shape_str(w->constant->shape())));
      if (n->op == OpKind::Gemm && n->attr_int("transA", 0) != 0)
        return cannot_quantize(*n, "Gemm with transA = 1 has no MatMulInteger form");
      np.weight = weight_of(*n, c);
      plan.nodes.push_back(std::move(np));
      continue;
    }

    if (o.mode == Mode::WeightOnly) {
      np.weight = weight_of(*n, c);
      if (!np.weight) continue;  // no constant weight: nothing to quantize
    } else if (weight_op) {
      np.weight = weight_of(*n, c);
      np.activation_inputs.push_back(0);
      const ir::Value* w = n->input(1);
      if (!np.weight && w && dtype_is_float(w->dtype)) np.activation_inputs.push_back(1);
      const ir::Value* b = n->input(2);
      if (np.weight && b && is_float_constant(b) && n->op != OpKind::MatMul &&
          c.weights.granularity != Granularity::PerGroup && b->constant->rank() == 1) {
        const Tensor& wt = *n->inputs[1]->constant;
        const int64_t channels = wt.dim(np.weight->channel_axis);
        if (b->constant->numel() == channels) np.bias = 2;
      }
      np.quantize_output = true;
    } else {  // Add, Mul
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        const ir::Value* v = n->inputs[i];
        if (!v || v->dtype != DType::F32) continue;
        if (v->is_constant())
          np.constant_inputs.push_back(i);
        else
          np.activation_inputs.push_back(i);
      }
      np.quantize_output = true;
    }
    if (np.weight && n->op == OpKind::Conv &&
        np.weight->scheme.granularity == Granularity::PerGroup) {
      const Tensor& wt = *n->inputs[1]->constant;
      if (wt.rank() >= 2 && wt.dim(1) < np.weight->scheme.block_size) {
        // Fewer input channels than a block: blocks along C would give one scale per
        // (m, kernel position), more scales than per output channel.
        np.weight->scheme.granularity = Granularity::PerChannel;
        conv_group_fallback.push_back(n->name);
      }
    }
    const ir::Value* out = n->output(0);
    if (np.quantize_output &&
        (!out || out->dtype != DType::F32 || (is_graph_output(g, out) && !o.quantize_outputs)))
      np.quantize_output = false;
    plan.nodes.push_back(std::move(np));
  }

  if (o.mode == Mode::Static) {
    for (const NodePlan& np : plan.nodes) {
      for (size_t i : np.activation_inputs) add_activation(np.node->inputs[i], np.config, *np.node);
      if (np.quantize_output) add_activation(np.node->outputs[0], np.config, *np.node);
    }
    // The rewrite puts Q/DQ after each producer; order the table as the graph computes.
  }
  if (!conv_group_fallback.empty())
    plan.warnings.push_back(fmt::format(
        "{} convolution(s) have fewer input channels than the block size and use per-channel "
        "scales instead: {}",
        conv_group_fallback.size(), join(conv_group_fallback)));
  for (const std::string& p : resolver.unused_patterns())
    plan.warnings.push_back(fmt::format("pattern '{}' matches no node of a quantized op type", p));
  return plan;
}

}  // namespace condense::quant
