// Empirical bias correction (Nagel et al. 2019, section 4.2): quantizing a weight W to W' shifts
// the layer's pre-activation output by E[(W' - W) x] per output channel, an error that does not
// average out. It is measured on calibration data, with the float model's inputs, and subtracted
// from the bias. By linearity one extra node per layer computes it: the same Conv/Gemm with weight
// W' - W and no bias, whose output (N, C, ...) is averaged per channel C.
#include <condense/ir_clone.h>
#include <condense/session.h>

#include <algorithm>

#include "compress/quant/common.h"
#include "compress/quant/plan.h"

namespace condense::quant {

Result<int64_t> bias_correct(ir::Graph& g, const QuantizeOptions& options,
                             const data::Dataset& dataset, const CalibrationOptions& c) {
  CONDENSE_ASSIGN_OR_RETURN(QuantPlan plan, make_plan(g, options));
  if (g.inputs.size() != 1 || g.inputs[0]->dtype != DType::F32)
    return Status::error("bias correction feeds one f32 input from the calibration data");
  if (dataset.size() == 0)
    return Status::errorf("calibration set '{}' is empty", dataset.description());
  int64_t fixed = 0;
  const std::vector<int64_t> dims = sample_dims(*g.inputs[0], &fixed);
  if (dims.empty()) return Status::error("bias correction: the model input has no shape");
  CONDENSE_TRY(data::check_sample_shape(dataset, dims, g.inputs[0]->name));

  // The probe: the model plus, per quantized Conv/Gemm, a copy with weight W' - W and no bias or
  // activation, exposed as an output.
  ir::Graph probe = ir::clone_graph(g);
  struct Target {
    std::string node;
    int64_t channels = 0;
    int output = 0;
  };
  std::vector<Target> targets;
  for (const NodePlan& np : plan.nodes) {
    const ir::Node* n = np.node;
    if (!np.weight || (n->op != OpKind::Conv && n->op != OpKind::Gemm)) continue;
    if (n->op == OpKind::Gemm && n->attr_int("transA", 0) != 0) continue;
    const Tensor& w = *n->inputs[np.weight->input]->constant;
    CONDENSE_ASSIGN_OR_RETURN(QuantizedTensor q,
                              quantize_weight(w, np.weight->scheme, np.weight->channel_axis,
                                              np.weight->block_axis, n->inputs[1]->name));
    Tensor delta = dequantize(q);
    for (int64_t i = 0; i < delta.numel(); ++i) delta.data<float>()[i] -= w.data<float>()[i];
    ir::Node* pn = nullptr;
    for (const auto& m : probe.nodes())
      if (m->name == n->name) pn = m.get();
    if (!pn) return Status::errorf("internal: node '{}' missing from the probe graph", n->name);
    ir::Value* dw = probe.add_constant(probe.fresh_name(n->name + ".bias_probe_w"), delta);
    ir::Node* d =
        probe.add_node(n->op, {pn->inputs[0], dw}, 1, probe.fresh_name(n->name + ".bias_probe"));
    for (const auto& [k, a] : n->attrs)
      if (k.rfind("_activation", 0) != 0 && k != "beta") d->attrs[k] = a;
    probe.outputs.push_back(d->outputs[0]);
    const int64_t channels =
        n->op == OpKind::Gemm ? w.dim(n->attr_int("transB", 0) != 0 ? 0 : 1) : w.dim(0);
    targets.push_back({n->name, channels, static_cast<int>(probe.outputs.size() - 1)});
  }
  if (targets.empty()) return int64_t{0};

  SessionOptions so;
  so.threads = c.threads;
  so.optimize = false;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                            Session::create(std::move(probe), so));
  const int64_t batch = fixed > 0 ? fixed : c.batch_size;
  data::LoaderOptions lopts;
  lopts.batch_size = batch;
  lopts.shuffle = true;  // the same seeded sample calibration takes
  lopts.seed = c.seed;
  lopts.drop_last = fixed > 0;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader,
                            data::Loader::create(dataset, lopts));
  CONDENSE_TRY(loader->start_epoch(0));
  std::vector<std::vector<double>> sum(targets.size());
  std::vector<int64_t> count(targets.size(), 0);
  for (size_t t = 0; t < targets.size(); ++t) sum[t].assign(targets[t].channels, 0.0);
  const int64_t micro = fixed > 0 || c.micro_batch <= 0 ? batch : c.micro_batch;
  for (int64_t k = 0; k < c.batches; ++k) {
    CONDENSE_ASSIGN_OR_RETURN(std::optional<data::Batch> b, loader->next());
    if (!b) break;
    Tensor x = b->x;
    if (dims.size() == 2 && x.rank() != 2) x = x.reshaped({x.dim(0), x.numel() / x.dim(0)});
    const int64_t rows = x.dim(0), row_bytes = static_cast<int64_t>(x.nbytes()) / rows;
    for (int64_t start = 0; start < rows; start += micro) {
      const int64_t n = std::min(micro, rows - start);
      Shape shape = x.shape();
      shape[0] = n;
      std::vector<Tensor> feeds{Tensor::with_storage(x.dtype(), shape, x.storage(),
                                                     static_cast<size_t>(start * row_bytes))};
      auto outs = session->run(feeds);
      if (!outs) return outs.status().with_context("bias correction");
      for (size_t t = 0; t < targets.size(); ++t) {
        const Tensor& y = (*outs)[targets[t].output];  // (N, C, ...) or (N, C)
        const int64_t ch = targets[t].channels;
        const int64_t inner = y.numel() / (y.dim(0) * ch);
        const float* p = y.data<float>();
        for (int64_t i = 0; i < y.numel(); ++i) sum[t][(i / inner) % ch] += p[i];
        count[t] += y.dim(0) * inner;
      }
    }
  }

  // bias -= mean shift (Gemm: C -= shift / beta, since the bias enters as beta * C).
  int64_t corrected = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    ir::Node* n = nullptr;
    for (const auto& m : g.nodes())
      if (m->name == targets[t].node) n = m.get();
    if (!n || count[t] == 0) continue;
    const int64_t ch = targets[t].channels;
    const float beta = n->op == OpKind::Gemm ? n->attr_float("beta", 1.0f) : 1.0f;
    ir::Value* bv = n->inputs.size() > 2 ? n->inputs[2] : nullptr;
    if (bv && (!bv->is_constant() || bv->constant->numel() != ch || beta == 0.0f)) continue;
    Tensor bias = bv ? bv->constant->clone() : Tensor::zeros(DType::F32, {ch});
    for (int64_t k = 0; k < ch; ++k)
      bias.data<float>()[k] -= float(sum[t][k] / double(count[t]) / (bv ? beta : 1.0f));
    ir::Value* nb = g.add_constant(g.fresh_name(n->name + ".bias_corrected"), std::move(bias));
    if (n->inputs.size() < 3) n->inputs.resize(3, nullptr);
    n->inputs[2] = nb;
    if (!bv && n->op == OpKind::Gemm) n->attrs["beta"] = ir::Attribute::of_float(1.0f);
    ++corrected;
  }
  g.remove_dead();
  return corrected;
}

}  // namespace condense::quant
