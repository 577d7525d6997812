// tidy_for_export() (rewrite.h): the last step of quantize() and to_qoperator(). A quantized file
// is a quarter of the float one, so what was noise there is not: the shortcut constants a
// PyTorch export repeats per block (Slice starts / axes / steps, each under its own 45-character
// name) and the Conv attributes that restate ONNX's defaults are 1-2 kB of a 280 kB resnet20.
#include <string>
#include <unordered_map>

#include "compress/quant/rewrite.h"

namespace condense::quant {

namespace {

bool all_equal(const ir::Attribute& a, int64_t v) {
  if (a.kind != ir::Attribute::Kind::Ints) return false;
  for (int64_t x : a.ints)
    if (x != v) return false;
  return true;
}

bool has_subgraph(const ir::Graph& g) {
  for (const auto& n : g.nodes())
    for (const auto& [k, a] : n->attrs)
      if (a.kind == ir::Attribute::Kind::Graph) return true;
  return false;
}

}  // namespace

void tidy_for_export(ir::Graph& g) {
  // Equal constants (dtype, shape and bytes) become one, under the name of the first. Graph
  // inputs and outputs keep theirs; a subgraph may name outer values, so then nothing merges.
  if (!has_subgraph(g)) {
    std::unordered_map<const ir::Value*, bool> io;
    for (const ir::Value* v : g.inputs) io[v] = true;
    for (const ir::Value* v : g.outputs) io[v] = true;
    std::unordered_map<std::string, ir::Value*> first;
    std::vector<std::pair<ir::Value*, ir::Value*>> merge;  // (duplicate, kept)
    for (const auto& v : g.values()) {
      if (!v->is_constant() || io.count(v.get())) continue;
      const Tensor& t = *v->constant;
      std::string key = fmt::format("{}|{}|", dtype_name(t.dtype()), shape_str(t.shape()));
      key.append(static_cast<const char*>(t.raw()), t.nbytes());
      auto [it, fresh] = first.try_emplace(std::move(key), v.get());
      if (!fresh) merge.emplace_back(v.get(), it->second);
    }
    for (auto [dup, kept] : merge) g.replace_uses(dup, kept);
    if (!merge.empty()) g.remove_dead();
  }
  // Conv-family attributes equal to the ONNX defaults (the same in every opset).
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::Conv && n->op != OpKind::QLinearConv && n->op != OpKind::ConvInteger)
      continue;
    auto drop_if = [&](const char* name, bool is_default) {
      if (is_default) n->attrs.erase(name);
    };
    auto it = n->attrs.find("dilations");
    drop_if("dilations", it != n->attrs.end() && all_equal(it->second, 1));
    it = n->attrs.find("strides");
    drop_if("strides", it != n->attrs.end() && all_equal(it->second, 1));
    it = n->attrs.find("pads");
    drop_if("pads", it != n->attrs.end() && all_equal(it->second, 0));
    it = n->attrs.find("group");
    drop_if("group", it != n->attrs.end() && it->second.kind == ir::Attribute::Kind::Int &&
                         it->second.i == 1);
    it = n->attrs.find("auto_pad");
    drop_if("auto_pad", it != n->attrs.end() && it->second.kind == ir::Attribute::Kind::String &&
                            it->second.s == "NOTSET");
  }
}

}  // namespace condense::quant
