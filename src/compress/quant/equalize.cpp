// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", section 4.1): for two layers y = f(W1 x + b1), z = W2 y + b2
// with f positively homogeneous (ReLU, LeakyReLU, none), scaling output channel i of layer 1 by
// 1 / s_i and input channel i of layer 2 by s_i leaves z unchanged. With r1_i = max |W1[i, ...]|
// and r2_i = max |W2[:, i, ...]|, s_i = sqrt(r1_i / r2_i) makes both ranges sqrt(r1_i r2_i), the
// choice that maximizes the product of the per-channel precisions under per-tensor quantization.
// Repeated over every pair until no scale moves by more than 1e-4 (chains of layers settle
// within a few sweeps).
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "compress/quant/common.h"

namespace condense::quant {

namespace {

// A layer whose weight is a float constant owned by it alone, and how its channels lie.
struct Layer {
  ir::Node* node = nullptr;
  Tensor* w = nullptr;
  Tensor* b = nullptr;   // per-output-channel bias, or null
  int64_t out_axis = 0;  // weight axis of output channels
  int64_t in_axis = 1;   // weight axis of input channels (within a group)
  int64_t groups = 1;    // Conv groups
  int64_t out_channels = 0;
  int64_t in_channels = 0;  // of the layer's input (all groups)
};

bool homogeneous(const ir::Node& n) {
  const std::string act = n.attr_string("_activation", "");
  return act.empty() || act == "Relu" || act == "LeakyRelu";
}

std::optional<Layer> as_layer(ir::Node* n, const std::map<const ir::Value*, int>& uses) {
  if (n->op != OpKind::Conv && n->op != OpKind::Gemm) return std::nullopt;
  if (n->inputs.size() < 2 || !n->inputs[1] || !n->inputs[1]->is_constant()) return std::nullopt;
  ir::Value* wv = n->inputs[1];
  if (wv->constant->dtype() != DType::F32 || uses.at(wv) != 1) return std::nullopt;
  Layer l;
  l.node = n;
  l.w = &*wv->constant;
  if (n->op == OpKind::Gemm) {
    if (l.w->rank() != 2 || n->attr_int("transA", 0) != 0) return std::nullopt;
    const bool tb = n->attr_int("transB", 0) != 0;  // B (N, K) when transposed, else (K, N)
    l.out_axis = tb ? 0 : 1;
    l.in_axis = tb ? 1 : 0;
  } else {
    if (l.w->rank() < 3) return std::nullopt;
    l.groups = n->attr_int("group", 1);
  }
  l.out_channels = l.w->dim(l.out_axis);
  l.in_channels = l.w->dim(l.in_axis) * l.groups;
  if (n->inputs.size() > 2 && n->inputs[2]) {
    ir::Value* bv = n->inputs[2];
    if (!bv->is_constant() || bv->constant->dtype() != DType::F32 || uses.at(bv) != 1 ||
        bv->constant->numel() != l.out_channels)
      return std::nullopt;
    if (n->op == OpKind::Gemm && n->attr_float("beta", 1.0f) == 0.0f) return std::nullopt;
    l.b = &*bv->constant;
  }
  return l;
}

// Visits every element of `w` with its index along `axis`.
template <typename F>
void for_axis(Tensor& w, int64_t axis, F&& f) {
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  const int64_t n = w.dim(axis);
  float* p = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) f((i / inner) % n, p[i]);
}

// Input channel c of layer 2 (all groups) -> the weight slices it multiplies:
// for Conv with groups g and C/g input channels per group, channel c is input index c % (C/g)
// of the output channels of group c / (C/g).
void scale_input_channels(Layer& l2, const std::vector<double>& s) {
  if (l2.node->op == OpKind::Gemm || l2.groups == 1) {
    for_axis(*l2.w, l2.in_axis, [&](int64_t c, float& v) { v = float(v * s[c]); });
    return;
  }
  const int64_t per_group_in = l2.w->dim(1), per_group_out = l2.out_channels / l2.groups;
  int64_t inner = 1;
  for (int64_t d = 2; d < l2.w->rank(); ++d) inner *= l2.w->dim(d);
  float* p = l2.w->data<float>();
  for (int64_t o = 0; o < l2.out_channels; ++o)
    for (int64_t i = 0; i < per_group_in; ++i) {
      const int64_t c = (o / per_group_out) * per_group_in + i;
      for (int64_t k = 0; k < inner; ++k) {
        float& v = p[(o * per_group_in + i) * inner + k];
        v = float(v * s[c]);
      }
    }
}

std::vector<double> input_channel_ranges(Layer& l2) {
  std::vector<double> r(l2.in_channels, 0.0);
  if (l2.node->op == OpKind::Gemm || l2.groups == 1) {
    for_axis(*l2.w, l2.in_axis,
             [&](int64_t c, float& v) { r[c] = std::max(r[c], double(std::fabs(v))); });
    return r;
  }
  const int64_t per_group_in = l2.w->dim(1), per_group_out = l2.out_channels / l2.groups;
  int64_t inner = 1;
  for (int64_t d = 2; d < l2.w->rank(); ++d) inner *= l2.w->dim(d);
  const float* p = l2.w->data<float>();
  for (int64_t o = 0; o < l2.out_channels; ++o)
    for (int64_t i = 0; i < per_group_in; ++i) {
      const int64_t c = (o / per_group_out) * per_group_in + i;
      for (int64_t k = 0; k < inner; ++k)
        r[c] = std::max(r[c], double(std::fabs(p[(o * per_group_in + i) * inner + k])));
    }
  return r;
}

}  // namespace

Result<int64_t> equalize(ir::Graph& g, int max_sweeps) {
  std::map<const ir::Value*, int> uses;
  for (const auto& v : g.values()) uses[v.get()] = 0;
  for (const auto& n : g.nodes())
    for (const ir::Value* in : n->inputs)
      if (in) ++uses[in];
  for (const ir::Value* o : g.outputs) ++uses[o];
  // Pairs: layer 1's output read once, by layer 2's data input, through a homogeneous activation.
  std::vector<std::pair<ir::Node*, ir::Node*>> nodes;
  for (const auto& n : g.nodes()) {
    auto l2 = as_layer(n.get(), uses);
    if (!l2) continue;
    ir::Value* x = n->inputs[0];
    if (!x || !x->producer || uses[x] != 1) continue;
    auto l1 = as_layer(x->producer, uses);
    if (!l1 || !homogeneous(*l1->node) || l1->out_channels != l2->in_channels) continue;
    nodes.emplace_back(l1->node, n.get());
  }
  // Weights and biases are rewritten in place: own copies first (a constant's storage may be
  // shared with the graph it was cloned from).
  std::set<ir::Value*> owned;
  for (auto [n1, n2] : nodes)
    for (ir::Node* n : {n1, n2})
      for (size_t i = 1; i < n->inputs.size() && i < 3; ++i)
        if (n->inputs[i] && n->inputs[i]->is_constant() && owned.insert(n->inputs[i]).second)
          *n->inputs[i]->constant = n->inputs[i]->constant->clone();
  std::vector<std::pair<Layer, Layer>> pairs;
  for (auto [n1, n2] : nodes) pairs.emplace_back(*as_layer(n1, uses), *as_layer(n2, uses));
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    double moved = 0;
    for (auto& [l1, l2] : pairs) {
      std::vector<double> r1(l1.out_channels, 0.0);
      for_axis(*l1.w, l1.out_axis,
               [&](int64_t c, float& v) { r1[c] = std::max(r1[c], double(std::fabs(v))); });
      const std::vector<double> r2 = input_channel_ranges(l2);
      std::vector<double> s(r1.size(), 1.0);
      for (size_t c = 0; c < s.size(); ++c)
        if (r1[c] > 0 && r2[c] > 0) s[c] = std::sqrt(r1[c] / r2[c]);  // dead channels stay
      for (double v : s) moved = std::max(moved, std::fabs(std::log(v)));
      for_axis(*l1.w, l1.out_axis, [&](int64_t c, float& v) { v = float(v / s[c]); });
      if (l1.b)
        for (int64_t c = 0; c < l1.out_channels; ++c)
          l1.b->data<float>()[c] = float(l1.b->data<float>()[c] / s[c]);
      scale_input_channels(l2, s);
    }
    if (moved < 1e-4) break;
  }
  return static_cast<int64_t>(pairs.size());
}

}  // namespace condense::quant
