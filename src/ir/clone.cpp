#include <condense/ir_clone.h>

#include <unordered_map>

namespace condense::ir {

Graph clone_graph(const Graph& g) {
  Graph out;
  out.name = g.name;
  out.opset_imports = g.opset_imports;
  out.producer_name = g.producer_name;
  out.metadata = g.metadata;
  std::unordered_map<const Value*, Value*> map;
  map.reserve(g.values().size());
  for (const auto& v : g.values()) {
    Value* c = out.add_value(v->name, v->dtype);
    c->has_shape = v->has_shape;
    c->dims = v->dims;
    if (v->constant) c->constant = v->constant->clone();
    map[v.get()] = c;
  }
  auto lookup = [&](Value* v) -> Value* { return v ? map.at(v) : nullptr; };
  for (const auto& n : g.nodes()) {
    std::vector<Value*> ins, outs;
    for (Value* v : n->inputs) ins.push_back(lookup(v));
    for (Value* v : n->outputs) outs.push_back(lookup(v));
    Node* c = out.add_node_with_outputs(n->op, std::move(ins), std::move(outs), n->name);
    c->attrs = n->attrs;
  }
  for (Value* v : g.inputs) out.inputs.push_back(map.at(v));
  for (Value* v : g.outputs) out.outputs.push_back(map.at(v));
  return out;
}

}  // namespace condense::ir
