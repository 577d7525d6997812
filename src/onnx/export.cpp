// ir::Graph -> ONNX ModelProto.
#include <condense/file.h>
#include <condense/onnx.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <map>
#include <unordered_set>

#include "onnx/hooks.h"
#include "onnx/proto.h"

namespace condense::onnx {

using namespace condense::onnx_internal;

namespace {

int64_t ir_version_for(int64_t opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

void set_type(const ir::Value* v, ::onnx::ValueInfoProto* vi) {
  vi->set_name(v->name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_onnx(v->dtype));
  if (v->has_shape) {
    auto* shape = tt->mutable_shape();
    for (const ir::Dim& d : v->dims) {
      auto* dim = shape->add_dim();
      if (d.is_static())
        dim->set_dim_value(d.value);
      else if (!d.symbol.empty())
        dim->set_dim_param(d.symbol);
    }
  }
}

Status export_graph(const ir::Graph& g, int64_t opset, ::onnx::GraphProto* gp);

Status export_attr(const std::string& name, const ir::Attribute& a, int64_t opset,
                   ::onnx::AttributeProto* ap) {
  using A = ::onnx::AttributeProto;
  ap->set_name(name);
  switch (a.kind) {
    case ir::Attribute::Kind::Int:
      ap->set_type(A::INT);
      ap->set_i(a.i);
      break;
    case ir::Attribute::Kind::Float:
      ap->set_type(A::FLOAT);
      ap->set_f(a.f);
      break;
    case ir::Attribute::Kind::String:
      ap->set_type(A::STRING);
      ap->set_s(a.s);
      break;
    case ir::Attribute::Kind::Ints:
      ap->set_type(A::INTS);
      for (int64_t v : a.ints) ap->add_ints(v);
      break;
    case ir::Attribute::Kind::Floats:
      ap->set_type(A::FLOATS);
      for (float v : a.floats) ap->add_floats(v);
      break;
    case ir::Attribute::Kind::Strings:
      ap->set_type(A::STRINGS);
      for (const auto& v : a.strings) ap->add_strings(v);
      break;
    case ir::Attribute::Kind::Tensor:
      ap->set_type(A::TENSOR);
      tensor_to_proto(a.t, "", ap->mutable_t());
      break;
    case ir::Attribute::Kind::Graph:
      ap->set_type(A::GRAPH);
      CONDENSE_TRY(export_graph(*a.g, opset, ap->mutable_g()));
      break;
  }
  return Status::ok();
}

// A node carrying a fused activation ("_activation", see src/ops/nn_activation.h) is written as
// the node itself, producing "<out>_preact", then a standard activation node producing <out>.
Status export_fused_activation(const ir::Graph& g, const ir::Node& n, ::onnx::NodeProto* np,
                               ::onnx::GraphProto* gp) {
  const std::string act = n.attr_string("_activation", "");
  const float alpha = n.attr_float("_activation_alpha", 0.f);
  const float beta = n.attr_float("_activation_beta", 0.f);
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int i = 1; g.find_value(name); ++i) name = fmt::format("{}_{}", base, i);
    return name;
  };
  const std::string out = np->output(0);
  const std::string pre = fresh(out + "_preact");
  np->set_output(0, pre);
  ::onnx::NodeProto* ap = gp->add_node();
  ap->set_name(fresh(n.name + "_" + act));
  ap->add_input(pre);
  ap->add_output(out);
  auto add_float = [&](const char* key, float v) {
    auto* a = ap->add_attribute();
    a->set_name(key);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(v);
  };
  if (act == "Relu" || act == "Sigmoid" || act == "Tanh") {
    ap->set_op_type(act);
  } else if (act == "LeakyRelu") {
    ap->set_op_type(act);
    add_float("alpha", alpha);
  } else if (act == "HardSigmoid") {
    ap->set_op_type(act);
    add_float("alpha", alpha);
    add_float("beta", beta);
  } else if (act == "Gelu" || act == "GeluTanh") {
    ap->set_op_type("Gelu");
    if (act == "GeluTanh") {
      auto* a = ap->add_attribute();
      a->set_name("approximate");
      a->set_type(::onnx::AttributeProto::STRING);
      a->set_s("tanh");
    }
  } else if (act == "Clip") {
    ap->set_op_type("Clip");
    const DType dt = n.outputs[0] ? n.outputs[0]->dtype : DType::F32;
    for (int i = 0; i < 2; ++i) {
      const float v = i == 0 ? alpha : beta;
      const std::string name = fresh(fmt::format("{}_{}", ap->name(), i == 0 ? "min" : "max"));
      Tensor t = Tensor::empty(dt, {});
      if (dt == DType::F64)
        t.data<double>()[0] = v;
      else if (dt == DType::F16)
        t.data<Half>()[0] = Half(v);
      else if (dt == DType::BF16)
        t.data<BFloat16>()[0] = BFloat16(v);
      else
        t.data<float>()[0] = v;
      tensor_to_proto(t, name, gp->add_initializer());
      ap->add_input(name);
    }
  } else {
    return Status::errorf("node {}: unknown fused activation '{}'", n.describe(), act);
  }
  return Status::ok();
}

Status export_graph(const ir::Graph& g, int64_t opset, ::onnx::GraphProto* gp) {
  gp->set_name(g.name.empty() ? "main" : g.name);
  std::unordered_set<const ir::Value*> written;
  for (const ir::Value* v : g.inputs) set_type(v, gp->add_input());
  for (const auto& v : g.values()) {
    if (!v->is_constant()) continue;
    tensor_to_proto(*v->constant, v->name, gp->add_initializer());
  }
  const auto& hooks = op_hooks();
  for (const auto& n : g.nodes()) {
    if (is_internal_training_op(n->op))
      return Status::errorf(
          "node {} is an internal op of condense training graphs (domain '{}'): a training graph "
          "is not exported; export the forward model with the trained parameters instead",
          n->describe(), op_schema(n->op).domain);
    ::onnx::NodeProto* np = gp->add_node();
    np->set_name(n->name);
    np->set_op_type(std::string(op_name(n->op)));
    std::string_view domain = op_schema(n->op).domain;
    if (!domain.empty()) np->set_domain(std::string(domain));
    for (const ir::Value* in : n->inputs) np->add_input(in ? in->name : "");
    for (const ir::Value* out : n->outputs) np->add_output(out ? out->name : "");
    for (const auto& [key, a] : n->attrs) {
      if (!key.empty() && key[0] == '_') continue;  // condense-internal annotations
      CONDENSE_TRY(export_attr(key, a, opset, np->add_attribute()));
    }
    auto h = hooks.find(n->op);
    if (h != hooks.end() && h->second.downgrade) {
      DowngradeCtx dctx{*n, *np, opset, g, gp};
      Status s = h->second.downgrade(dctx);
      if (!s)
        return s.with_context(fmt::format("exporting node {} at opset {}", n->describe(), opset));
    }
    if (n->has_attr("_activation")) CONDENSE_TRY(export_fused_activation(g, *n, np, gp));
  }
  for (const ir::Value* v : g.outputs) set_type(v, gp->add_output());
  for (const auto& v : g.values()) {
    if (v->is_constant() || !v->producer || !v->has_shape) continue;
    if (std::find(g.outputs.begin(), g.outputs.end(), v.get()) != g.outputs.end()) continue;
    set_type(v.get(), gp->add_value_info());
  }
  return Status::ok();
}

int64_t required_opset(const ir::Graph& g) {
  int64_t need = 0;
  const auto& hooks = op_hooks();
  for (const auto& n : g.nodes()) {
    auto h = hooks.find(n->op);
    if (h != hooks.end()) need = std::max(need, h->second.min_opset);
    const std::string act = n->attr_string("_activation", "");
    if (act == "Gelu" || act == "GeluTanh") need = std::max<int64_t>(need, 20);  // fused Gelu
    for (const auto& [k, a] : n->attrs)
      if (a.kind == ir::Attribute::Kind::Graph) need = std::max(need, required_opset(*a.g));
  }
  for (const auto& v : g.values())
    if (v->dtype == DType::I4 || v->dtype == DType::U4) need = std::max<int64_t>(need, 21);
  return need;
}

}  // namespace

Result<std::string> export_bytes(const ir::Graph& g, const ExportOptions& options) {
  int64_t model_opset = g.opset_imports.count("") ? g.opset_imports.at("") : 0;
  int64_t need = required_opset(g);
  int64_t opset = options.opset ? options.opset : std::max({model_opset, int64_t{13}, need});
  if (opset < need)
    return Status::errorf("the graph needs opset {} or newer (asked for {})", need, opset);
  ::onnx::ModelProto model;
  model.set_ir_version(ir_version_for(opset));
  model.set_producer_name("condense");
  model.set_producer_version("0.1.0");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  std::map<std::string, int64_t> domains;
  for (const auto& [domain, version] : g.opset_imports)
    if (!domain.empty()) domains[domain] = version;
  // Contrib ops (com.microsoft's QLinearAdd, ...) need their domain imported; version 1 is the
  // only one ONNX Runtime's contrib domain has.
  for (const auto& n : g.nodes()) {
    const std::string_view d = op_schema(n->op).domain;
    if (!d.empty() && !is_internal_training_op(n->op)) domains.emplace(std::string(d), 1);
  }
  for (const auto& [domain, version] : domains) {
    auto* o = model.add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
  }
  for (const auto& [k, v] : g.metadata) {
    auto* kv = model.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  CONDENSE_TRY(export_graph(g, opset, model.mutable_graph()));
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    return Status::error("the model is too large to serialize (over 2 GiB)");
  return bytes;
}

Status export_file(const ir::Graph& g, const std::string& path, const ExportOptions& options) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, export_bytes(g, options));
  return write_file_atomic(path, bytes);
}

int64_t checker_max_opset() {
  return ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance()
      .Map()
      .at(::onnx::ONNX_DOMAIN)
      .second;
}

Status check_model_bytes(std::string_view bytes) {
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::error("not a valid ONNX model");
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status::errorf("ONNX checker: {}", msg);
  }
  return Status::ok();
}

}  // namespace condense::onnx
