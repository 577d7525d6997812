#include <condense/ir.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace condense::ir {

std::string dims_str(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    if (dims[i].is_static())
      s += std::to_string(dims[i].value);
    else
      s += dims[i].symbol.empty() ? "?" : dims[i].symbol;
  }
  return s + "]";
}

Attribute Attribute::of_int(int64_t v) {
  Attribute a;
  a.kind = Kind::Int;
  a.i = v;
  return a;
}
Attribute Attribute::of_float(float v) {
  Attribute a;
  a.kind = Kind::Float;
  a.f = v;
  return a;
}
Attribute Attribute::of_string(std::string v) {
  Attribute a;
  a.kind = Kind::String;
  a.s = std::move(v);
  return a;
}
Attribute Attribute::of_ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Kind::Ints;
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::of_floats(std::vector<float> v) {
  Attribute a;
  a.kind = Kind::Floats;
  a.floats = std::move(v);
  return a;
}
Attribute Attribute::of_strings(std::vector<std::string> v) {
  Attribute a;
  a.kind = Kind::Strings;
  a.strings = std::move(v);
  return a;
}
Attribute Attribute::of_tensor(condense::Tensor v) {
  Attribute a;
  a.kind = Kind::Tensor;
  a.t = std::move(v);
  return a;
}
Attribute Attribute::of_graph(std::shared_ptr<Graph> v) {
  Attribute a;
  a.kind = Kind::Graph;
  a.g = std::move(v);
  return a;
}

const Attribute* Node::attr(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? nullptr : &it->second;
}
int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const Attribute* a = attr(key);
  return a ? a->i : fallback;
}
float Node::attr_float(const std::string& key, float fallback) const {
  const Attribute* a = attr(key);
  return a ? a->f : fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const Attribute* a = attr(key);
  return a ? a->s : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const Attribute* a = attr(key);
  return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  const Attribute* a = attr(key);
  return a ? a->floats : fallback;
}
std::string Node::describe() const {
  return fmt::format("'{}' ({})", name, op_name(op));
}

Value* Graph::add_value(std::string vname, DType dtype) {
  auto v = std::make_unique<Value>();
  v->name = std::move(vname);
  v->dtype = dtype;
  values_.push_back(std::move(v));
  return values_.back().get();
}

Value* Graph::add_input(std::string vname, DType dtype, Dims dims) {
  Value* v = add_value(std::move(vname), dtype);
  v->has_shape = true;
  v->dims = std::move(dims);
  inputs.push_back(v);
  return v;
}

Value* Graph::add_constant(std::string vname, Tensor t) {
  Value* v = add_value(std::move(vname), t.dtype());
  v->has_shape = true;
  for (int64_t d : t.shape()) v->dims.emplace_back(d);
  v->constant = std::move(t);
  return v;
}

Node* Graph::add_node(OpKind op, std::vector<Value*> ins, int num_outputs, std::string nname) {
  if (nname.empty()) nname = fresh_name(std::string(op_name(op)));
  std::vector<Value*> outs;
  for (int i = 0; i < num_outputs; ++i)
    outs.push_back(add_value(num_outputs == 1 ? nname : fmt::format("{}_out{}", nname, i)));
  return add_node_with_outputs(op, std::move(ins), std::move(outs), std::move(nname));
}

Node* Graph::add_node_with_outputs(OpKind op, std::vector<Value*> ins, std::vector<Value*> outs,
                                   std::string nname) {
  auto n = std::make_unique<Node>();
  n->op = op;
  n->name = nname.empty() ? fresh_name(std::string(op_name(op))) : std::move(nname);
  n->inputs = std::move(ins);
  n->outputs = std::move(outs);
  for (Value* o : n->outputs)
    if (o) o->producer = n.get();
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}

Value* Graph::find_value(const std::string& vname) const {
  for (const auto& v : values_)
    if (v->name == vname) return v.get();
  return nullptr;
}

std::string Graph::fresh_name(const std::string& prefix) {
  std::unordered_set<std::string> used;
  for (const auto& v : values_) used.insert(v->name);
  for (const auto& n : nodes_) used.insert(n->name);
  while (true) {
    std::string candidate = fmt::format("{}_{}", prefix, name_counter_++);
    if (!used.count(candidate)) return candidate;
  }
}

Result<std::vector<Node*>> Graph::topological_order() const {
  // Kahn's algorithm, stable with respect to the current node order.
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Value*, std::vector<Node*>> consumers;
  for (const auto& n : nodes_) {
    int count = 0;
    for (Value* in : n->inputs) {
      if (in && in->producer) {
        ++count;
        consumers[in].push_back(n.get());
      }
    }
    pending[n.get()] = count;
  }
  std::vector<Node*> order;
  std::vector<Node*> ready;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if (pending[it->get()] == 0) ready.push_back(it->get());
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    order.push_back(n);
    std::vector<Node*> newly;
    for (Value* out : n->outputs) {
      if (!out) continue;
      auto it = consumers.find(out);
      if (it == consumers.end()) continue;
      for (Node* c : it->second)
        if (--pending[c] == 0) newly.push_back(c);
    }
    // Keep original relative order among newly ready nodes.
    for (auto it = newly.rbegin(); it != newly.rend(); ++it) ready.push_back(*it);
  }
  if (order.size() != nodes_.size())
    return Status::error("graph has a cycle (or a node consumes its own output)");
  return order;
}

Status Graph::sort() {
  CONDENSE_ASSIGN_OR_RETURN(std::vector<Node*> order, topological_order());
  std::unordered_map<Node*, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
  std::sort(nodes_.begin(), nodes_.end(),
            [&](const auto& a, const auto& b) { return pos[a.get()] < pos[b.get()]; });
  return Status::ok();
}

void Graph::replace_uses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (Value*& in : n->inputs)
      if (in == from) in = to;
  for (Value*& o : outputs)
    if (o == from) o = to;
}

void Graph::remove_node(Node* n) {
  for (Value* o : n->outputs)
    if (o && o->producer == n) o->producer = nullptr;
  nodes_.erase(
      std::remove_if(nodes_.begin(), nodes_.end(), [&](const auto& p) { return p.get() == n; }),
      nodes_.end());
}

void Graph::remove_dead() {
  bool changed = true;
  while (changed) {
    changed = false;
    std::unordered_set<const Value*> used(outputs.begin(), outputs.end());
    for (const auto& n : nodes_)
      for (Value* in : n->inputs) used.insert(in);
    for (size_t i = nodes_.size(); i-- > 0;) {
      Node* n = nodes_[i].get();
      bool live = false;
      for (Value* o : n->outputs) live |= o && used.count(o);
      if (!live) {
        remove_node(n);
        changed = true;
      }
    }
  }
  std::unordered_set<const Value*> used(outputs.begin(), outputs.end());
  used.insert(inputs.begin(), inputs.end());
  for (const auto& n : nodes_) {
    used.insert(n->inputs.begin(), n->inputs.end());
    used.insert(n->outputs.begin(), n->outputs.end());
  }
  values_.erase(std::remove_if(values_.begin(), values_.end(),
                               [&](const auto& v) { return !used.count(v.get()); }),
                values_.end());
}

namespace {

// Inputs below an op's min_inputs are required, except the optional zero points com.microsoft's
// QLinearAdd and QGemm take between required inputs (a_zero_point, b_zero_point: slots 2 and 5).
bool input_may_be_absent(OpKind op, int i) {
  return (op == OpKind::QLinearAdd || op == OpKind::QGemm) && (i == 2 || i == 5);
}

}  // namespace

Status Graph::verify() const {
  std::unordered_set<const Value*> owned;
  for (const auto& v : values_) owned.insert(v.get());
  std::unordered_set<const Value*> defined(inputs.begin(), inputs.end());
  for (const auto& v : values_)
    if (v->is_constant()) defined.insert(v.get());
  std::unordered_map<const Value*, const Node*> producer;
  for (const auto& n : nodes_) {
    const OpSchema& s = op_schema(n->op);
    int nin = static_cast<int>(n->inputs.size());
    int nout = static_cast<int>(n->outputs.size());
    if (nin < s.min_inputs || (s.max_inputs >= 0 && nin > s.max_inputs))
      return Status::errorf("node {} has {} inputs; {} takes {} to {}", n->describe(), nin, s.name,
                            s.min_inputs,
                            s.max_inputs < 0 ? std::string("any") : std::to_string(s.max_inputs));
    for (int i = 0; i < std::min(nin, s.min_inputs); ++i)
      if (!n->inputs[static_cast<size_t>(i)] && !input_may_be_absent(n->op, i))
        return Status::errorf("node {}: required input {} of {} is empty", n->describe(), i,
                              s.name);
    if (nout < s.min_outputs || (s.max_outputs >= 0 && nout > s.max_outputs))
      return Status::errorf("node {} has {} outputs; {} gives {} to {}", n->describe(), nout,
                            s.name, s.min_outputs, s.max_outputs);
    for (const Value* o : n->outputs) {
      if (!o) continue;
      if (!owned.count(o))
        return Status::errorf("node {}: output not owned by the graph", n->describe());
      if (producer.count(o) || defined.count(o))
        return Status::errorf("value '{}' is defined more than once", o->name);
      if (o->producer != n.get())
        return Status::errorf("value '{}' has a stale producer link", o->name);
      producer[o] = n.get();
    }
  }
  for (const auto& n : nodes_)
    for (const Value* in : n->inputs)
      if (in && !defined.count(in) && !producer.count(in))
        return Status::errorf("node {} reads '{}', which nothing defines", n->describe(), in->name);
  for (const Value* o : outputs)
    if (!o || (!defined.count(o) && !producer.count(o)))
      return Status::errorf("graph output '{}' is not defined", o ? o->name : "<null>");
  for (const auto& v : values_) {
    if (!v->is_constant() || !v->has_shape) continue;
    const Shape& s = v->constant->shape();
    bool match = s.size() == v->dims.size();
    for (size_t i = 0; match && i < s.size(); ++i)
      match = !v->dims[i].is_static() || v->dims[i].value == s[i];
    if (!match)
      return Status::errorf("constant '{}' has shape {} but is declared {}", v->name, shape_str(s),
                            dims_str(v->dims));
  }
  CONDENSE_ASSIGN_OR_RETURN(auto order, topological_order());
  (void)order;
  return Status::ok();
}

}  // namespace condense::ir
