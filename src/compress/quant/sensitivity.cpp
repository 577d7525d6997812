// sensitivity(): per-layer accuracy and output SQNR lost when only that layer is quantized, and
// the exclusion list that keeps the whole model within an accuracy budget.
#include <condense/ir_clone.h>
#include <condense/session.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "compress/quant/common.h"
#include "compress/quant/plan.h"

namespace condense::quant {

namespace {

// The evaluation set, decoded once: batches of model inputs and their labels.
struct EvalSet {
  std::vector<Tensor> x;
  std::vector<std::vector<int64_t>> labels;
  int64_t samples = 0;
};

// `limit` > 0 and below the set's size: a seeded random sample of that many (image folders are
// sorted by class, so the first N would be a few classes only).
Result<EvalSet> load_eval_set(const ir::Graph& g, const data::Dataset& ds, int64_t batch_size,
                              int64_t limit, uint64_t seed) {
  if (g.inputs.size() != 1)
    return Status::errorf("sensitivity feeds one input from the dataset, but the model has {}",
                          g.inputs.size());
  const ir::Value* in = g.inputs[0];
  int64_t fixed = 0;
  const std::vector<int64_t> dims = sample_dims(*in, &fixed);
  if (ds.size() == 0) return Status::errorf("evaluation set '{}' is empty", ds.description());
  CONDENSE_TRY(data::check_sample_shape(ds, dims, in->name));
  std::vector<int64_t> order(ds.size());
  std::iota(order.begin(), order.end(), 0);
  if (limit > 0 && limit < ds.size()) {
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(limit);
    std::sort(order.begin(), order.end());
  }
  const int64_t total = static_cast<int64_t>(order.size());
  const int64_t batch = fixed > 0 ? fixed : batch_size;
  const int64_t per = ds.sample_numel();
  Shape sample = ds.sample_shape();
  EvalSet e;
  for (int64_t start = 0; start + (fixed > 0 ? batch : 1) <= total; start += batch) {
    const int64_t n = std::min(batch, total - start);
    Shape shape{n};
    if (dims.size() == 2)
      shape.push_back(per);
    else
      shape.insert(shape.end(), sample.begin(), sample.end());
    Tensor x = Tensor::empty(DType::F32, shape);
    std::vector<int64_t> labels(n);
    for (int64_t i = 0; i < n; ++i) {
      ds.read_sample(order[start + i], std::span<float>(x.data<float>() + i * per, per));
      labels[i] = ds.label(order[start + i]);
    }
    e.samples += n;
    e.x.push_back(std::move(x));
    e.labels.push_back(std::move(labels));
  }
  if (e.samples == 0)
    return Status::errorf("evaluation set '{}' has {} samples, fewer than the fixed batch {}",
                          ds.description(), total, batch);
  return e;
}

struct Outputs {
  std::vector<float> logits;  // (samples, C) row-major, the first graph output
  int64_t correct = 0;
};

Result<Outputs> run_eval(ir::Graph g, const EvalSet& e, int threads) {
  SessionOptions so;
  so.threads = threads;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(std::move(g), so));
  Outputs o;
  for (size_t k = 0; k < e.x.size(); ++k) {
    CONDENSE_ASSIGN_OR_RETURN(std::vector<Tensor> outs, s->run({e.x[k]}));
    const Tensor& y = outs.at(0);
    const int64_t n = e.x[k].dim(0);
    if (y.dtype() != DType::F32 || y.numel() % n != 0)
      return Status::errorf("the model's first output is {} {}, not (N, classes) f32 logits",
                            dtype_name(y.dtype()), shape_str(y.shape()));
    const int64_t c = y.numel() / n;
    const float* p = y.data<float>();
    o.logits.insert(o.logits.end(), p, p + y.numel());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t best = std::max_element(p + i * c, p + (i + 1) * c) - (p + i * c);
      o.correct += best == e.labels[k][i];
    }
  }
  return o;
}

double sqnr_db(const std::vector<float>& ref, const std::vector<float>& q) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    signal += double(ref[i]) * ref[i];
    noise += (double(ref[i]) - q[i]) * (double(ref[i]) - q[i]);
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace

Result<SensitivityReport> sensitivity(const ir::Graph& prepared, const QuantizeOptions& options,
                                      const CalibrationTable& table, const data::Dataset& eval,
                                      const SensitivityOptions& so) {
  if (options.mode != Mode::Static)
    return Status::error("sensitivity analysis measures static quantization (--mode static)");
  CONDENSE_ASSIGN_OR_RETURN(QuantPlan plan, make_plan(prepared, options));
  if (plan.nodes.empty()) return Status::error("no node would be quantized: nothing to analyse");
  CONDENSE_ASSIGN_OR_RETURN(EvalSet e,
                            load_eval_set(prepared, eval, so.batch_size, so.limit, so.seed));
  auto step = [&](const std::string& what) {
    if (so.on_step) so.on_step(what);
  };
  // The model quantized with these extra node exclusions, evaluated.
  auto measure = [&](const std::vector<std::string>& exclude) -> Result<Outputs> {
    QuantizeOptions o = options;
    for (const std::string& n : exclude) o.exclude.push_back(regex_escape(n));
    CONDENSE_ASSIGN_OR_RETURN(QuantizeResult q, quantize(ir::clone_graph(prepared), o, &table));
    return run_eval(std::move(q.graph), e, so.threads);
  };

  SensitivityReport r;
  r.samples = e.samples;
  const double n = double(e.samples);
  step("float model");
  CONDENSE_ASSIGN_OR_RETURN(Outputs ref, run_eval(ir::clone_graph(prepared), e, so.threads));
  r.float_accuracy = double(ref.correct) / n;
  step("every layer quantized");
  CONDENSE_ASSIGN_OR_RETURN(Outputs full, measure({}));
  r.full_accuracy = double(full.correct) / n;
  r.full_sqnr_db = sqnr_db(ref.logits, full.logits);

  std::vector<std::string> names;
  for (const NodePlan& np : plan.nodes) names.push_back(np.node->name);
  for (size_t k = 0; k < plan.nodes.size(); ++k) {
    step(fmt::format("layer {}/{}: {}", k + 1, names.size(), names[k]));
    std::vector<std::string> others;
    for (size_t j = 0; j < names.size(); ++j)
      if (j != k) others.push_back(names[j]);
    CONDENSE_ASSIGN_OR_RETURN(Outputs q, measure(others));
    LayerSensitivity l;
    l.node = names[k];
    l.op = std::string(op_name(plan.nodes[k].node->op));
    l.accuracy = double(q.correct) / n;
    l.drop = 100.0 * (r.float_accuracy - l.accuracy);
    l.sqnr_db = sqnr_db(ref.logits, q.logits);
    r.layers.push_back(std::move(l));
  }
  std::stable_sort(r.layers.begin(), r.layers.end(), [](const auto& a, const auto& b) {
    if (a.drop != b.drop) return a.drop > b.drop;
    return a.sqnr_db < b.sqnr_db;
  });

  // Exclude in ranking order until the full model is within budget; the last run verifies.
  r.suggested_accuracy = r.full_accuracy;
  auto within = [&](double acc) { return 100.0 * (r.float_accuracy - acc) <= so.budget; };
  for (size_t k = 0; k < r.layers.size() && !within(r.suggested_accuracy); ++k) {
    r.suggested_exclude.push_back(r.layers[k].node);
    if (k + 1 == r.layers.size()) {  // everything excluded: the float model
      r.suggested_accuracy = r.float_accuracy;
      break;
    }
    step(fmt::format("verifying {} exclusion(s)", r.suggested_exclude.size()));
    CONDENSE_ASSIGN_OR_RETURN(Outputs q, measure(r.suggested_exclude));
    r.suggested_accuracy = double(q.correct) / n;
  }
  return r;
}

}  // namespace condense::quant
