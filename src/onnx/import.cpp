// ONNX ModelProto -> ir::Graph.
#include <condense/file.h>
#include <condense/onnx.h>

#include <filesystem>
#include <unordered_map>

#include "onnx/hooks.h"
#include "onnx/legacy.h"
#include "onnx/proto.h"

namespace condense::onnx {

using namespace condense::onnx_internal;

namespace {

struct ImportCtx {
  std::string base_dir;
  std::map<std::string, int64_t> opsets;
};

Result<ir::Graph> import_graph(const ::onnx::GraphProto& gp, ImportCtx& ctx, bool is_subgraph);

Result<ir::Attribute> import_attr(const ::onnx::AttributeProto& a, ImportCtx& ctx) {
  using A = ::onnx::AttributeProto;
  if (!a.ref_attr_name().empty())
    return Status::errorf("attribute '{}' refers to a function attribute, which is not supported", a.name());
  switch (a.type()) {
    case A::INT: return ir::Attribute::of_int(a.i());
    case A::FLOAT: return ir::Attribute::of_float(a.f());
    case A::STRING: return ir::Attribute::of_string(a.s());
    case A::INTS: return ir::Attribute::of_ints({a.ints().begin(), a.ints().end()});
    case A::FLOATS: return ir::Attribute::of_floats({a.floats().begin(), a.floats().end()});
    case A::STRINGS: return ir::Attribute::of_strings({a.strings().begin(), a.strings().end()});
    case A::TENSOR: {
      CONDENSE_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(a.t(), ctx.base_dir));
      return ir::Attribute::of_tensor(std::move(t));
    }
    case A::SPARSE_TENSOR: {
      CONDENSE_ASSIGN_OR_RETURN(Tensor t, tensor_from_sparse_proto(a.sparse_tensor(), ctx.base_dir));
      return ir::Attribute::of_tensor(std::move(t));
    }
    case A::GRAPH: {
      CONDENSE_ASSIGN_OR_RETURN(ir::Graph g, import_graph(a.g(), ctx, true));
      return ir::Attribute::of_graph(std::make_shared<ir::Graph>(std::move(g)));
    }
    default:
      return Status::errorf("attribute '{}' has type {}, which is not supported", a.name(),
                            A::AttributeType_Name(a.type()));
  }
}

Status set_value_type(ir::Value* v, const ::onnx::TypeProto& tp, bool required) {
  if (!tp.has_tensor_type()) {
    if (!required) return Status::ok();
    return Status::errorf("'{}' is not a tensor (sequence, map and optional types are not supported)", v->name);
  }
  const auto& tt = tp.tensor_type();
  if (tt.elem_type() != 0) {
    auto dt = dtype_from_onnx(tt.elem_type());
    if (!dt) return Status::errorf("'{}' has unsupported dtype {}", v->name, onnx_dtype_name(tt.elem_type()));
    v->dtype = *dt;
  }
  if (tt.has_shape()) {
    v->has_shape = true;
    v->dims.clear();
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) return Status::errorf("'{}' declares a negative dimension {}", v->name, d.dim_value());
        v->dims.emplace_back(d.dim_value());
      } else {
        v->dims.push_back(ir::Dim::sym(d.dim_param()));
      }
    }
  }
  return Status::ok();
}

Result<ir::Graph> import_graph(const ::onnx::GraphProto& gp, ImportCtx& ctx, bool is_subgraph) {
  ir::Graph g;
  g.name = gp.name();
  g.opset_imports = ctx.opsets;
  std::unordered_map<std::string, ir::Value*> by_name;
  auto lookup = [&](const std::string& name) -> ir::Value* {
    auto it = by_name.find(name);
    if (it != by_name.end()) return it->second;
    ir::Value* v = g.add_value(name);
    by_name[name] = v;
    return v;
  };

  for (const auto& init : gp.initializer()) {
    auto t = tensor_from_proto(init, ctx.base_dir);
    if (!t) return t.status().with_context(fmt::format("initializer '{}'", init.name()));
    if (by_name.count(init.name())) return Status::errorf("initializer '{}' is defined twice", init.name());
    by_name[init.name()] = g.add_constant(init.name(), std::move(*t));
  }
  for (const auto& sp : gp.sparse_initializer()) {
    auto t = tensor_from_sparse_proto(sp, ctx.base_dir);
    if (!t) return t.status().with_context(fmt::format("sparse initializer '{}'", sp.values().name()));
    by_name[sp.values().name()] = g.add_constant(sp.values().name(), std::move(*t));
  }
  for (const auto& in : gp.input()) {
    auto it = by_name.find(in.name());
    if (it != by_name.end() && it->second->is_constant()) {
      // Older models list initializers as inputs too; the declared shape must fit the weights.
      ir::Value probe;
      probe.name = in.name();
      CONDENSE_TRY(set_value_type(&probe, in.type(), false));
      const Tensor& c = *it->second->constant;
      if (probe.has_shape) {
        bool ok = probe.dims.size() == c.shape().size();
        for (size_t d = 0; ok && d < probe.dims.size(); ++d)
          ok = !probe.dims[d].is_static() || probe.dims[d].value == c.shape()[d];
        if (!ok)
          return Status::errorf("input '{}' is declared {} but its initializer has shape {}", in.name(),
                                ir::dims_str(probe.dims), shape_str(c.shape()));
      }
      if (probe.dtype != c.dtype() && in.type().tensor_type().elem_type() != 0)
        return Status::errorf("input '{}' is declared {} but its initializer is {}", in.name(),
                              dtype_name(probe.dtype), dtype_name(c.dtype()));
      continue;
    }
    if (in.name().empty()) return Status::error("a graph input has no name");
    if (by_name.count(in.name())) return Status::errorf("graph input '{}' is declared twice", in.name());
    ir::Value* v = g.add_value(in.name());
    CONDENSE_TRY(set_value_type(v, in.type(), true).with_context("graph input"));
    by_name[in.name()] = v;
    g.inputs.push_back(v);
  }

  // Declared intermediate types first, so upgrades of old models can see ranks.
  for (const auto& vi : gp.value_info()) {
    if (vi.name().empty()) continue;
    ir::Value* v = lookup(vi.name());
    if (!v->is_constant()) CONDENSE_TRY(set_value_type(v, vi.type(), false));
  }
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    std::string name = np.name().empty() ? fmt::format("{}_{}", np.op_type(), i) : np.name();
    std::string domain = np.domain() == "ai.onnx" ? "" : np.domain();
    int64_t opset = ctx.opsets.count(domain) ? ctx.opsets[domain] : 0;
    auto op = op_from_onnx(domain, np.op_type());
    if (op && is_internal_training_op(*op))
      return Status::errorf(
          "node '{}': '{}' (domain '{}') is an internal op of condense training graphs and is not "
          "read from files",
          name, np.op_type(), domain);
    if (!op)
      return Status::errorf("unsupported op '{}' (domain '{}', opset {}) at node '{}'", np.op_type(),
                            domain.empty() ? "ai.onnx" : domain, opset, name);
    std::vector<ir::Value*> ins, outs;
    for (const auto& s : np.input()) ins.push_back(s.empty() ? nullptr : lookup(s));
    for (const auto& s : np.output()) {
      if (s.empty()) {
        outs.push_back(nullptr);
        continue;
      }
      ir::Value* v = lookup(s);
      if (v->producer || v->is_constant() ||
          std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end())
        return Status::errorf("node '{}' ({}): output '{}' is already defined elsewhere", name, np.op_type(), s);
      outs.push_back(v);
    }
    ir::Node* n = g.add_node_with_outputs(*op, std::move(ins), std::move(outs), name);
    for (const auto& a : np.attribute()) {
      auto attr = import_attr(a, ctx);
      if (!attr) return attr.status().with_context(fmt::format("node '{}' ({})", name, np.op_type()));
      n->attrs[a.name()] = std::move(*attr);
    }
    UpgradeCtx uctx{g, *n, opset};
    Status legacy = upgrade_legacy_attributes(uctx);
    if (!legacy) return legacy.with_context(fmt::format("node '{}' ({}, opset {})", name, np.op_type(), opset));
    auto hooks = op_hooks().find(*op);
    if (hooks != op_hooks().end() && hooks->second.upgrade) {
      Status s = hooks->second.upgrade(uctx);
      if (!s) return s.with_context(fmt::format("node '{}' ({}, opset {})", name, np.op_type(), opset));
    }
  }

  for (const auto& out : gp.output()) {
    auto it = by_name.find(out.name());
    if (it == by_name.end()) return Status::errorf("graph output '{}' is not produced by any node", out.name());
    ir::Value* v = it->second;
    if (!v->is_constant()) CONDENSE_TRY(set_value_type(v, out.type(), false));
    g.outputs.push_back(v);
  }
  if (!is_subgraph) {
    // Every consumed value must be defined: an input, an initializer or a node output.
    for (const auto& n : g.nodes())
      for (ir::Value* in : n->inputs)
        if (in && !in->producer && !in->is_constant() &&
            std::find(g.inputs.begin(), g.inputs.end(), in) == g.inputs.end())
          return Status::errorf("node {} reads '{}', which no input, initializer or node defines",
                                n->describe(), in->name);
    CONDENSE_TRY(g.sort());
    CONDENSE_TRY(g.verify());
  }
  return g;
}

}  // namespace

Result<ir::Graph> import_bytes(std::string_view bytes, const std::string& base_dir) {
  if (bytes.empty()) return Status::error("the model file is empty");
  ::onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    return Status::error("models over 2 GiB must keep their weights in external data files");
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::error("not a valid ONNX model (protobuf parse failed: truncated or not an .onnx file)");
  if (!model.has_graph()) return Status::error("not a valid ONNX model (no graph)");
  ImportCtx ctx;
  ctx.base_dir = base_dir;
  for (const auto& op : model.opset_import()) {
    std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
    ctx.opsets[domain] = op.version();
  }
  if (model.opset_import_size() == 0) {
    // Before IR version 3 there was no opset_import and the opset was 1; since then a model
    // must declare it (a missing one usually means a truncated file).
    if (model.ir_version() >= 3)
      return Status::error("the model declares no opset (opset_import is missing: truncated or not an .onnx file?)");
    ctx.opsets[""] = 1;
  }
  // A model may import only other domains (ai.onnx.ml, ...); its ai.onnx ops are then unknown.
  if (ctx.opsets.count("")) {
    int64_t opset = ctx.opsets[""];
    if (opset < 1 || opset > 27)
      return Status::errorf("ai.onnx opset {} is not supported (condense imports opsets 1 to 27)", opset);
  }
  auto g = import_graph(model.graph(), ctx, false);
  if (!g) return g.status();
  g->producer_name = model.producer_name();
  for (const auto& kv : model.metadata_props()) g->metadata[kv.key()] = kv.value();
  return g;
}

Result<ir::Graph> import_file(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  auto g = import_bytes(bytes, dir.empty() ? "." : dir);
  if (!g) return g.status().with_context(fmt::format("'{}'", path));
  return g;
}

}  // namespace condense::onnx
