// condense info model.onnx [--json] [--graph] [--kernels]: what a model is (opset, producer,
// inputs and outputs, op histogram, parameters) and what it costs (MACs per Conv/ConvTranspose/
// Gemm/MatMul, from shapes inferred with every symbolic dimension bound to 1). --kernels lists
// the kernel that runs each node and flags nodes that compute in float on dequantized inputs.
#include <condense/quant.h>
#include <condense/session.h>

#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "commands.h"
#include "common.h"
#include "kernels/kernel.h"
#include "ops/infer.h"

namespace condense::cli {

namespace {

struct InfoArgs {
  std::string model;
  bool json = false, graph = false, kernels = false;
};

// What static analysis knows about a value.
struct Known {
  TensorInfo info;
  std::optional<Tensor> value;
};

struct LayerMacs {
  std::string node, op;
  std::optional<int64_t> macs;  // nullopt: shapes unknown
};

// Small shape computations (Shape -> Gather -> Concat -> Reshape) are evaluated so later shapes
// are known; bigger results are only shaped.
constexpr int64_t kMaxEvalElements = 1 << 16;

bool reads_only_shapes(OpKind op) {
  std::string_view n = op_name(op);
  return n == "Shape" || n == "Size";
}

// Infers every value's shape with symbolic dims bound to 1. Errors are not fatal: values a node
// fails on stay unknown (info must describe models the runtime cannot run).
std::unordered_map<const ir::Value*, Known> infer_shapes(const ir::Graph& g) {
  std::unordered_map<const ir::Value*, Known> known;
  for (const auto& v : g.values()) {
    if (!v->is_constant()) continue;
    Known k;
    k.info.dtype = v->constant->dtype();
    k.info.shape = v->constant->shape();
    k.value = *v->constant;
    known[v.get()] = std::move(k);
  }
  for (const ir::Value* v : g.inputs) {
    Known k;
    k.info.dtype = v->dtype;
    k.info.shape_known = v->has_shape;
    for (const ir::Dim& d : v->dims) k.info.shape.push_back(d.is_static() ? d.value : 1);
    known[v] = std::move(k);
  }
  auto order = g.topological_order();
  if (!order) return known;
  for (ir::Node* n : *order) {
    std::vector<TensorInfo> ins(n->inputs.size());
    bool all_values = true, shapes_known = true;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (!v) {
        ins[i].present = false;
        continue;
      }
      auto it = known.find(v);
      if (it == known.end()) {
        ins[i].dtype = v->dtype;
        ins[i].shape_known = false;
        all_values = shapes_known = false;
        continue;
      }
      ins[i] = it->second.info;
      ins[i].value = it->second.value ? &*it->second.value : nullptr;
      all_values &= it->second.value.has_value();
      shapes_known &= ins[i].shape_known;
    }
    std::vector<TensorInfo> outs(n->outputs.size());
    InferCtx ictx{*n, ins, outs};
    if (!infer_fn(n->op)(ictx)) continue;
    for (size_t i = 0; i < n->outputs.size() && i < outs.size(); ++i)
      if (n->outputs[i] && outs[i].present) known[n->outputs[i]].info = outs[i];
    // Evaluate small computations: all inputs known by value (or only their shapes matter).
    bool shape_only = reads_only_shapes(n->op) && shapes_known;
    if (!all_values && !shape_only) continue;
    bool small = true;
    for (const TensorInfo& o : outs)
      small &= !o.present || (o.shape_known && shape_numel(o.shape) <= kMaxEvalElements);
    if (!small) continue;
    std::vector<Tensor> zeros(n->inputs.size());
    std::vector<const Tensor*> ptrs(n->inputs.size(), nullptr);
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (!n->inputs[i]) continue;
      if (ins[i].value) {
        ptrs[i] = ins[i].value;
      } else {  // shape-only op: contents do not matter
        if (shape_numel(ins[i].shape) > (int64_t{1} << 26)) {
          small = false;
          break;
        }
        zeros[i] = Tensor::zeros(ins[i].dtype, ins[i].shape);
        ptrs[i] = &zeros[i];
      }
    }
    if (!small) continue;
    std::vector<Tensor> results(outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!outs[i].present) continue;
      results[i] = outs[i].allocate ? Tensor::zeros(outs[i].dtype, outs[i].shape)
                                    : Tensor::placeholder(outs[i].dtype, outs[i].shape);
    }
    KernelCtx kctx{*n, ptrs, results, 1};
    if (!ref_kernel_fn(n->op)(kctx)) continue;
    for (size_t i = 0; i < n->outputs.size() && i < results.size(); ++i)
      if (n->outputs[i] && results[i].defined()) known[n->outputs[i]].value = results[i];
  }
  return known;
}

std::optional<int64_t> layer_macs(const ir::Node& n,
                                  const std::unordered_map<const ir::Value*, Known>& known) {
  auto shape_of = [&](const ir::Value* v) -> const Shape* {
    if (!v) return nullptr;
    auto it = known.find(v);
    return it != known.end() && it->second.info.shape_known ? &it->second.info.shape : nullptr;
  };
  const std::string_view op = op_name(n.op);
  const Shape* a = shape_of(n.input(0));
  // QLinearConv / QLinearMatMul: the weight (B) is input 3.
  const bool qlinear = op == "QLinearConv" || op == "QLinearMatMul" || op == "QGemm";
  const Shape* b = shape_of(n.input(qlinear ? 3 : 1));
  const Shape* y = shape_of(n.output(0));
  if (!a || !b || !y) return std::nullopt;
  if (op == "Conv" || op == "QLinearConv" ||
      op == "ConvInteger") {  // x: (N, C, ...), w: (M, C/g, k...), y: (N, M, ...)
    if (b->empty() || (*b)[0] == 0) return std::nullopt;
    return shape_numel(*y) * (shape_numel(*b) / (*b)[0]);
  }
  if (op == "ConvTranspose") {  // x: (N, C, ...), w: (C, M/g, k...)
    if (b->empty() || (*b)[0] == 0) return std::nullopt;
    return shape_numel(*a) * (shape_numel(*b) / (*b)[0]);
  }
  if (op == "Gemm" || op == "QGemm") {  // y: (M, N), K from A (transposed or not)
    if (a->size() != 2) return std::nullopt;
    int64_t k = n.attr_int("transA", 0) ? (*a)[0] : (*a)[1];
    return shape_numel(*y) * k;
  }
  if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    if (a->empty()) return std::nullopt;
    return shape_numel(*y) * a->back();
  }
  return std::nullopt;
}

bool counts_macs(OpKind op) {
  std::string_view n = op_name(op);
  return n == "Conv" || n == "ConvTranspose" || n == "Gemm" || n == "MatMul" ||
         n == "MatMulInteger" || n == "QLinearConv" || n == "QLinearMatMul" || n == "ConvInteger" ||
         n == "QGemm";
}

nlohmann::json dims_json(const ir::Value& v) {
  if (!v.has_shape) return nullptr;
  nlohmann::json dims = nlohmann::json::array();
  for (const ir::Dim& d : v.dims) {
    if (d.is_static())
      dims.push_back(d.value);
    else
      dims.push_back(d.symbol.empty() ? "?" : d.symbol);
  }
  return dims;
}

std::string human(double v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}{}", v, units[u]);
}

int run_info(const InfoArgs& a) {
  std::string hint;
  auto g = load_model(a.model, &hint);
  if (!g) return fail(g.status(), hint);

  // Parameters: every constant (initializer) of the graph.
  int64_t params = 0, param_bytes = 0;
  for (const auto& v : g->values())
    if (v->is_constant()) {
      params += v->constant->numel();
      param_bytes += static_cast<int64_t>(v->constant->nbytes());
    }
  std::map<std::string, int64_t> histogram;
  for (const auto& n : g->nodes()) histogram[std::string(op_name(n->op))]++;
  auto known = infer_shapes(*g);
  std::vector<LayerMacs> layers;
  int64_t total_macs = 0;
  bool macs_complete = true;
  for (const auto& n : g->nodes()) {
    if (!counts_macs(n->op)) continue;
    LayerMacs l{n->name, std::string(op_name(n->op)), layer_macs(*n, known)};
    if (l.macs)
      total_macs += *l.macs;
    else
      macs_complete = false;
    layers.push_back(std::move(l));
  }

  std::vector<NodeReport> kernels;
  std::string kernels_error;
  // Nodes that compute in float on dequantized inputs (QDQ patterns the load pass could not
  // lower to integer kernels): flagged so that a float fallback is never silent.
  std::unordered_set<std::string> float_on_dq;
  std::string graph_text = a.graph ? ir::print_graph(*g) : "";
  nlohmann::json j;
  if (a.json) {
    j["model"] = a.model;
    j["producer"] = g->producer_name;
    nlohmann::json opsets = nlohmann::json::object();
    for (const auto& [d, v] : g->opset_imports) opsets[d.empty() ? "ai.onnx" : d] = v;
    j["opset_imports"] = opsets;
    j["opset"] = g->opset_imports.count("") ? g->opset_imports.at("") : 0;
    auto io = [](const std::vector<ir::Value*>& vs) {
      nlohmann::json arr = nlohmann::json::array();
      for (const ir::Value* v : vs)
        arr.push_back(
            {{"name", v->name}, {"dtype", dtype_name(v->dtype)}, {"shape", dims_json(*v)}});
      return arr;
    };
    j["inputs"] = io(g->inputs);
    j["outputs"] = io(g->outputs);
    j["nodes"] = g->nodes().size();
    j["op_histogram"] = histogram;
    j["parameters"] = params;
    j["parameter_bytes"] = param_bytes;
    nlohmann::json lj = nlohmann::json::array();
    for (const LayerMacs& l : layers)
      lj.push_back({{"node", l.node},
                    {"op", l.op},
                    {"macs", l.macs ? nlohmann::json(*l.macs) : nlohmann::json()}});
    j["layers"] = lj;
    j["total_macs"] = total_macs;
    j["total_macs_complete"] = macs_complete;
    j["macs_batch"] = 1;
    for (const auto& [k, v] : g->metadata) j["metadata"][k] = v;
  }
  if (a.json || a.kernels) {
    // The Session consumes its graph: load a second copy for it.
    auto again = load_model(a.model, nullptr);
    if (!again) return fail(again.status());
    auto session = Session::create(std::move(*again));
    if (session) {
      kernels = (*session)->report();
      for (std::string& name : quant::float_nodes_on_dequantized((*session)->graph()))
        float_on_dq.insert(std::move(name));
    } else
      kernels_error = session.status().message();
    if (!session && !a.json) return fail(session.status().with_context("cannot plan the model"));
  }
  if (a.json) {
    if (kernels_error.empty()) {
      nlohmann::json kj = nlohmann::json::array();
      for (const NodeReport& r : kernels)
        kj.push_back({{"node", r.name},
                      {"op", r.op},
                      {"kernel", r.kernel},
                      {"float_on_dequantized", float_on_dq.count(r.name) != 0}});
      j["kernels"] = kj;
    } else {
      j["kernels"] = nullptr;
      j["kernels_error"] = kernels_error;
    }
    if (a.graph) j["graph"] = graph_text;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }

  fmt::print("model:      {}\n", a.model);
  fmt::print("producer:   {}\n", g->producer_name.empty() ? "(none)" : g->producer_name);
  std::string opsets;
  for (const auto& [d, v] : g->opset_imports)
    opsets += fmt::format("{}{} {}", opsets.empty() ? "" : ", ", d.empty() ? "ai.onnx" : d, v);
  fmt::print("opset:      {}\n", opsets);
  fmt::print("inputs:\n");
  for (const ir::Value* v : g->inputs) fmt::print("  {:<24} {}\n", v->name, value_type_str(*v));
  fmt::print("outputs:\n");
  for (const ir::Value* v : g->outputs) fmt::print("  {:<24} {}\n", v->name, value_type_str(*v));
  fmt::print("parameters: {} ({}), {} bytes\n", params, human(static_cast<double>(params)),
             param_bytes);
  fmt::print("nodes:      {}\n", g->nodes().size());
  for (const auto& [op, count] : histogram) fmt::print("  {:<24} {}\n", op, count);
  if (!layers.empty()) {
    fmt::print("MACs (batch 1):\n");
    for (const LayerMacs& l : layers)
      fmt::print("  {:<32} {:<14} {}\n", l.node, l.op,
                 l.macs ? fmt::format("{}", *l.macs) : "unknown");
  }
  fmt::print("total MACs: {} ({}){}\n", total_macs, human(static_cast<double>(total_macs)),
             macs_complete ? "" : " (some layers have unknown shapes)");
  if (a.kernels) {
    fmt::print("kernels:\n");
    int64_t integer = 0, lowbit = 0;
    for (const NodeReport& r : kernels) {
      const bool fake = float_on_dq.count(r.name) != 0;
      integer += r.op.rfind("QLinear", 0) == 0 || r.op == "QGemm" || r.op == "ConvInteger" ||
                 r.op == "MatMulInteger";
      // The dynamic int8 and weight-only patterns, fused at load (packed low-bit weights).
      lowbit += r.op == "DynamicQuantMatMul" || r.op == "WeightOnlyMatMul";
      fmt::print("  {:<32} {:<14} {}{}\n", r.name, r.op, r.kernel,
                 fake ? "  (float compute on dequantized inputs)" : "");
    }
    if (integer > 0 || lowbit > 0 || !float_on_dq.empty())
      fmt::print(
          "quantized: {} node(s) on integer kernels, {} fused low-bit MatMul(s), {} in float on "
          "dequantized inputs\n",
          integer, lowbit, float_on_dq.size());
  }
  if (a.graph) fmt::print("\n{}", graph_text);
  return 0;
}

}  // namespace

Command make_info_command() {
  return {"info", [](CLI::App& app) -> std::function<int()> {
            auto args = std::make_shared<InfoArgs>();
            auto* sub = app.add_subcommand(
                "info", "describe a model: inputs, outputs, ops, parameters, MACs");
            sub->add_option("model", args->model, "input .onnx")->required();
            sub->add_flag("--json", args->json, "print everything as JSON (kernels included)");
            sub->add_flag("--graph", args->graph, "print the graph in condense's text form");
            sub->add_flag("--kernels", args->kernels, "list the kernel that runs each node");
            return [args] { return run_info(*args); };
          }};
}

}  // namespace condense::cli
