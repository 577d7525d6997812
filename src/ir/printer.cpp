#include <condense/ir.h>

namespace condense::ir {

namespace {
std::string value_type(const Value* v) {
  return fmt::format("{}{}", dtype_name(v->dtype), v->has_shape ? dims_str(v->dims) : "[?]");
}

std::string attr_text(const Attribute& a) {
  switch (a.kind) {
    case Attribute::Kind::Int: return std::to_string(a.i);
    case Attribute::Kind::Float: return fmt::format("{}", a.f);
    case Attribute::Kind::String: return fmt::format("\"{}\"", a.s);
    case Attribute::Kind::Ints: return fmt::format("[{}]", fmt::join(a.ints, ", "));
    case Attribute::Kind::Floats: return fmt::format("[{}]", fmt::join(a.floats, ", "));
    case Attribute::Kind::Strings: return fmt::format("[\"{}\"]", fmt::join(a.strings, "\", \""));
    case Attribute::Kind::Tensor:
      return fmt::format("tensor<{}{}>", dtype_name(a.t.dtype()), shape_str(a.t.shape()));
    case Attribute::Kind::Graph: return "graph";
  }
  return "?";
}
}  // namespace

std::string print_graph(const Graph& g) {
  std::string out = fmt::format("graph {} (", g.name.empty() ? "main" : g.name);
  for (size_t i = 0; i < g.inputs.size(); ++i)
    out += fmt::format("{}%{}: {}", i ? ", " : "", g.inputs[i]->name, value_type(g.inputs[i]));
  out += ") -> (";
  for (size_t i = 0; i < g.outputs.size(); ++i)
    out += fmt::format("{}%{}: {}", i ? ", " : "", g.outputs[i]->name, value_type(g.outputs[i]));
  out += ")\n";
  for (const auto& v : g.values())
    if (v->is_constant())
      out += fmt::format("  const %{}: {}\n", v->name, value_type(v.get()));
  for (const auto& n : g.nodes()) {
    std::vector<std::string> outs, ins, attrs;
    for (const Value* o : n->outputs) outs.push_back(o ? "%" + o->name : "_");
    for (const Value* i : n->inputs) ins.push_back(i ? "%" + i->name : "_");
    for (const auto& [k, a] : n->attrs) attrs.push_back(k + "=" + attr_text(a));
    out += fmt::format("  {} = {}({}){}  # {}\n", fmt::join(outs, ", "), op_name(n->op),
                       fmt::join(ins, ", "),
                       attrs.empty() ? "" : fmt::format(" {{{}}}", fmt::join(attrs, ", ")),
                       n->name);
  }
  return out;
}

}  // namespace condense::ir
