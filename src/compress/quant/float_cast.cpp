// convert_float(): f32 compute to fp16 or bf16, with Cast nodes where values cross between
// converted and f32 nodes and at the graph's inputs and outputs.
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <set>

#include "compress/quant/common.h"
#include "compress/quant/rewrite.h"
#include "ops/infer.h"

namespace condense::quant {

namespace {

// Ops left in f32: no half-precision kernel in common runtimes (ONNX Runtime's CPU provider) or
// numerically unsafe in half precision (index and coordinate arithmetic, running sums, scores
// compared against thresholds).
bool unsafe_in_half(OpKind op) {
  static const std::set<std::string_view> kOps = {"Resize",
                                                  "Upsample",
                                                  "TopK",
                                                  "NonMaxSuppression",
                                                  "RoiAlign",
                                                  "Range",
                                                  "CumSum",
                                                  "Min",
                                                  "Max",
                                                  "GridSample",
                                                  "NegativeLogLikelihoodLoss",
                                                  "SoftmaxCrossEntropyLoss",
                                                  "Einsum",
                                                  "Det",
                                                  "MaxRoiPool",
                                                  "STFT",
                                                  "DFT",
                                                  "MelWeightMatrix",
                                                  "LpNormalization",
                                                  "Multinomial"};
  return kOps.count(op_name(op)) != 0;
}

// Ops whose float output type comes from an attribute, not from their inputs.
bool dtype_from_attribute(OpKind op) {
  static const std::set<std::string_view> kOps = {
      "Cast",          "Constant",         "ConstantOfShape",   "RandomNormal",
      "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike",
      "Bernoulli",     "Multinomial"};
  return kOps.count(op_name(op)) != 0;
}

bool has_subgraph(const ir::Node& n) {
  for (const auto& [k, a] : n.attrs)
    if (a.kind == ir::Attribute::Kind::Graph) return true;
  return false;
}

Tensor to_half(const Tensor& t, DType dt) {
  Tensor out = Tensor::empty(dt, t.shape());
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::F16)
      out.data<Half>()[i] = Half(p[i]);
    else
      out.data<BFloat16>()[i] = BFloat16(p[i]);
  }
  return out;
}

// Largest finite magnitude of the type (fp16 65504; bf16 about f32's).
float max_finite(DType dt) {
  return dt == DType::F16 ? 65504.0f : 3.38953139e38f;
}

}  // namespace

Result<FloatCastResult> convert_float(ir::Graph g, DType dt, const std::vector<std::string>& keep) {
  if (dt != DType::F16 && dt != DType::BF16)
    return Status::errorf("float conversion targets f16 or bf16, not {}", dtype_name(dt));
  CONDENSE_TRY(g.verify());
  annotate_dtypes(g);
  std::vector<std::regex> keep_re;
  for (const std::string& p : keep) {
    CONDENSE_ASSIGN_OR_RETURN(std::regex re, compile_name_regex(p, "--exclude"));
    keep_re.push_back(std::move(re));
  }
  FloatCastResult res;
  const std::string_view word = dt == DType::F16 ? "fp16" : "bf16";
  const std::string suffix = fmt::format("_{}", word);

  // Which nodes compute in the half type.
  std::set<const ir::Node*> converted;
  std::vector<std::string> too_large;
  for (const auto& n : g.nodes()) {
    bool any_float = false, other_float = false;
    for (const ir::Value* v : n->inputs)
      if (v && dtype_is_float(v->dtype)) (v->dtype == DType::F32 ? any_float : other_float) = true;
    for (const ir::Value* v : n->outputs)
      if (v && dtype_is_float(v->dtype)) (v->dtype == DType::F32 ? any_float : other_float) = true;
    if (!any_float) continue;
    bool keep_node = other_float || unsafe_in_half(n->op) || dtype_from_attribute(n->op) ||
                     has_subgraph(*n) || is_internal_training_op(n->op);
    for (const std::regex& re : keep_re) keep_node = keep_node || std::regex_match(n->name, re);
    if (!keep_node) {
      for (const ir::Value* v : n->inputs) {
        if (!v || !v->is_constant() || v->dtype != DType::F32) continue;
        const float* p = v->constant->data<float>();
        for (int64_t i = 0; i < v->constant->numel(); ++i)
          if (std::isfinite(p[i]) && std::abs(p[i]) > max_finite(dt)) {
            keep_node = true;
            too_large.push_back(n->name);
            break;
          }
        if (keep_node) break;
      }
    }
    if (keep_node)
      res.kept_f32.push_back(n->name);
    else
      converted.insert(n.get());
  }
  if (!too_large.empty())
    res.warnings.push_back(
        fmt::format("{} node(s) have weights beyond {}'s range and stay in f32: {}",
                    too_large.size(), word, fmt::join(too_large, ", ")));

  // Outputs of converted nodes become half.
  std::set<const ir::Value*> half;
  for (const auto& n : g.nodes()) {
    if (!converted.count(n.get())) continue;
    for (ir::Value* v : n->outputs)
      if (v && v->dtype == DType::F32) {
        v->dtype = dt;
        half.insert(v);
      }
  }
  // Rewire edges: f32 -> half for converted readers, half -> f32 for the others. One Cast (or
  // converted constant) per value and direction.
  std::map<const ir::Value*, ir::Value*> to_half_of, to_f32_of;
  auto cast = [&](ir::Value* v, DType to, const std::string& suffix) {
    ir::Value* out = g.add_value(unique_name(g, v->name + suffix), to);
    out->has_shape = v->has_shape;
    out->dims = v->dims;
    ir::Node* c = g.add_node_with_outputs(OpKind::Cast, {v}, {out},
                                          unique_name(g, v->name + suffix + "_Cast"));
    c->attrs["to"] = ir::Attribute::of_int(dtype_onnx(to));
    return out;
  };
  std::vector<ir::Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (ir::Node* n : nodes) {
    const bool conv = converted.count(n) != 0;
    for (ir::Value*& v : n->inputs) {
      if (!v) continue;
      if (conv && v->dtype == DType::F32) {
        auto [it, fresh] = to_half_of.try_emplace(v, nullptr);
        if (fresh)
          it->second = v->is_constant() ? g.add_constant(unique_name(g, v->name + suffix),
                                                         to_half(*v->constant, dt))
                                        : cast(v, dt, suffix);
        v = it->second;
      } else if (!conv && half.count(v)) {
        auto [it, fresh] = to_f32_of.try_emplace(v, nullptr);
        if (fresh) it->second = cast(v, DType::F32, "_f32");
        v = it->second;
      }
    }
  }
  // Graph outputs keep f32 and their names.
  for (ir::Value*& o : g.outputs) {
    if (!half.count(o)) continue;
    const std::string name = o->name;
    o->name = unique_name(g, name + suffix);
    ir::Value* f = g.add_value(name, DType::F32);
    f->has_shape = o->has_shape;
    f->dims = o->dims;
    ir::Node* c = g.add_node_with_outputs(OpKind::Cast, {o}, {f}, unique_name(g, name + "_Cast"));
    c->attrs["to"] = ir::Attribute::of_int(dtype_onnx(DType::F32));
    o = f;
  }
  g.remove_dead();
  CONDENSE_TRY(g.sort());
  const int64_t need = dt == DType::BF16 ? 22 : 13;
  int64_t opset = std::max(need, g.opset_imports.count("") ? g.opset_imports.at("") : 0);
  g.opset_imports[""] = opset;
  res.opset = opset;
  CONDENSE_TRY(g.verify().with_context("internal: the converted graph is invalid"));
  res.graph = std::move(g);
  return res;
}

}  // namespace condense::quant
