// calibrate(): runs the float model over calibration batches with every activation that static
// quantization will quantize exposed as an extra graph output, and streams each into its
// observer. Only one batch's activations are alive at a time.
#include <condense/ir_clone.h>
#include <condense/session.h>

#include <algorithm>

#include "compress/quant/plan.h"

namespace condense::quant {

namespace {

// The model's one float input and its dims (-1 where symbolic).
struct ModelInput {
  const ir::Value* value = nullptr;
  std::vector<int64_t> dims;
  int64_t fixed_batch = 0;  // > 0: the input's batch dimension is this static size
};

Result<ModelInput> model_input(const ir::Graph& g) {
  if (g.inputs.size() != 1) {
    std::string names;
    for (const ir::Value* v : g.inputs) names += (names.empty() ? "" : ", ") + v->name;
    return Status::errorf(
        "calibration feeds one input from the dataset, but the model has {} inputs ({})",
        g.inputs.size(), names);
  }
  ModelInput in;
  in.value = g.inputs[0];
  if (in.value->dtype != DType::F32)
    return Status::errorf("model input '{}' is {}; calibration data is f32", in.value->name,
                          dtype_name(in.value->dtype));
  if (!in.value->has_shape || in.value->dims.empty())
    return Status::errorf(
        "model input '{}' has no declared shape (rank >= 1 needed to batch "
        "calibration samples)",
        in.value->name);
  in.dims = sample_dims(*in.value, &in.fixed_batch);
  return in;
}

}  // namespace

Result<CalibrationTable> calibrate(const ir::Graph& prepared, const QuantizeOptions& options,
                                   const data::Dataset& dataset, const CalibrationOptions& c) {
  QuantizeOptions so = options;
  so.mode = Mode::Static;
  CONDENSE_ASSIGN_OR_RETURN(QuantPlan plan, make_plan(prepared, so));
  if (plan.activations.empty())
    return Status::error(
        "nothing to calibrate: no node is quantized (no Conv, Gemm or MatMul left after "
        "exclusions)");
  CONDENSE_ASSIGN_OR_RETURN(ModelInput in, model_input(prepared));
  if (dataset.size() == 0)
    return Status::errorf("calibration set '{}' is empty", dataset.description());
  CONDENSE_TRY(data::check_sample_shape(dataset, in.dims, in.value->name));
  if (c.batches < 1 || c.batch_size < 1)
    return Status::errorf("calibration needs at least one batch of one sample (got {} x {})",
                          c.batches, c.batch_size);
  const int64_t batch = in.fixed_batch > 0 ? in.fixed_batch : c.batch_size;
  const int64_t available =
      in.fixed_batch > 0 ? dataset.size() / batch : (dataset.size() + batch - 1) / batch;
  if (available == 0)
    return Status::errorf(
        "calibration set '{}' has {} samples, fewer than the model's fixed batch size {}",
        dataset.description(), dataset.size(), batch);
  const int64_t batches = std::min(c.batches, available);
  CalibrationTable table;
  table.data = dataset.description();
  table.batches = batches;
  if (batches < c.batches)
    table.warnings.push_back(fmt::format(
        "calibration set '{}' has {} samples: {} batches of {} instead of the {} asked for",
        dataset.description(), dataset.size(), batches, batch, c.batches));
  const bool flatten = in.dims.size() == 2;
  // A fixed batch dimension runs whole batches.
  const int64_t micro = in.fixed_batch > 0 || c.micro_batch <= 0 ? batch : c.micro_batch;

  // The calibration graph: the prepared model plus every activation as a graph output.
  ir::Graph cg = ir::clone_graph(prepared);
  std::vector<int> out_index(plan.activations.size(), -1);  // -1: the input, from the feed
  for (size_t k = 0; k < plan.activations.size(); ++k) {
    const ActivationPlan& a = plan.activations[k];
    if (a.graph_input) continue;
    ir::Value* v = cg.find_value(a.name);
    if (!v || !v->producer)
      return Status::errorf("internal: activation '{}' is not computed by the graph", a.name);
    auto it = std::find(cg.outputs.begin(), cg.outputs.end(), v);
    if (it == cg.outputs.end()) {
      cg.outputs.push_back(v);
      it = cg.outputs.end() - 1;
    }
    out_index[k] = static_cast<int>(it - cg.outputs.begin());
  }
  SessionOptions sopts;
  sopts.threads = c.threads;
  sopts.optimize = false;  // prepared already; passes must not rename what is observed
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                            Session::create(std::move(cg), sopts));

  std::vector<std::unique_ptr<Observer>> observers;
  int passes = 1;
  for (const ActivationPlan& a : plan.activations) {
    observers.push_back(make_observer(observer_options(a.scheme, so)));
    passes = std::max(passes, observers.back()->passes());
  }

  data::LoaderOptions lopts;
  lopts.batch_size = batch;
  lopts.shuffle = true;  // image folders are sorted by class: take a seeded sample of all
  lopts.seed = c.seed;
  lopts.drop_last = in.fixed_batch > 0;
  lopts.prefetch = 2;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader,
                            data::Loader::create(dataset, lopts));
  for (int pass = 0; pass < passes; ++pass) {
    for (auto& o : observers)
      if (o->passes() > pass) o->begin_pass(pass);
    CONDENSE_TRY(loader->start_epoch(0));
    for (int64_t k = 0; k < batches; ++k) {
      CONDENSE_ASSIGN_OR_RETURN(std::optional<data::Batch> b, loader->next());
      if (!b) return Status::errorf("internal: calibration batch {} missing", k);
      Tensor x = b->x;
      if (flatten && x.rank() != 2) x = x.reshaped({x.dim(0), x.numel() / x.dim(0)});
      if (pass == 0) table.samples += x.dim(0);
      // Runs of `micro` samples: a view of rows [start, start + n) of the batch.
      const int64_t rows = x.dim(0), row_bytes = static_cast<int64_t>(x.nbytes()) / rows;
      for (int64_t start = 0; start < rows; start += micro) {
        const int64_t n = std::min(micro, rows - start);
        Shape shape = x.shape();
        shape[0] = n;
        std::vector<Tensor> feeds{Tensor::with_storage(x.dtype(), shape, x.storage(),
                                                       static_cast<size_t>(start * row_bytes))};
        auto outs = session->run(feeds);
        if (!outs)
          return outs.status().with_context(fmt::format("running calibration batch {}", k + 1));
        for (size_t t = 0; t < observers.size(); ++t) {
          if (observers[t]->passes() <= pass) continue;
          const Tensor& v = out_index[t] < 0 ? feeds[0] : (*outs)[out_index[t]];
          if (v.dtype() != DType::F32)
            return Status::errorf("activation '{}' is {}; only f32 activations are calibrated",
                                  plan.activations[t].name, dtype_name(v.dtype()));
          Status s = observers[t]->observe(std::span<const float>(v.data<float>(), v.numel()));
          if (!s)
            return s.with_context(fmt::format("activation '{}' in calibration batch {}",
                                              plan.activations[t].name, k + 1));
        }
      }
      for (size_t t = 0; t < observers.size(); ++t)
        if (observers[t]->passes() > pass) observers[t]->end_batch();
      if (c.on_batch) c.on_batch(pass, k + 1, batches, passes);
    }
  }

  for (size_t t = 0; t < observers.size(); ++t) {
    const ActivationPlan& a = plan.activations[t];
    CONDENSE_ASSIGN_OR_RETURN(ObservedRange r, observers[t]->finish());
    TensorCalibration e;
    e.name = a.name;
    e.method = a.scheme.method;
    e.range = r;
    e.dtype = a.scheme.dtype;
    e.symmetric = a.scheme.symmetric;
    e.qparams = compute_scale_zp(r.lo, r.hi, quant_range(e.dtype, e.symmetric, false), e.symmetric);
    if (r.min == r.max)
      table.warnings.push_back(
          r.min == 0
              ? fmt::format("activation '{}' is 0 on every calibration sample: scale 1 chosen "
                            "so that later non-zero values are not all saturated",
                            a.name)
              : fmt::format("activation '{}' is the constant {} on every calibration sample: "
                            "quantized over [{}, {}]",
                            a.name, r.min, std::min(r.min, 0.0f), std::max(r.max, 0.0f)));
    table.tensors.push_back(std::move(e));
  }
  return table;
}

}  // namespace condense::quant
