// evaluate(): top-1, top-5, cross-entropy and the confusion matrix of a classifier on a dataset.
#include <condense/trainer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "train/model_io.h"

namespace condense::train {

std::vector<double> EvalResult::class_accuracy() const {
  std::vector<double> acc(num_classes, 0.0);
  for (int64_t c = 0; c < num_classes; ++c) {
    int64_t total = 0;
    for (int64_t p = 0; p < num_classes; ++p) total += confusion[c * num_classes + p];
    acc[c] = total ? double(confusion[c * num_classes + c]) / double(total) : 0.0;
  }
  return acc;
}

namespace {

// Scores one row of logits against its label into `r`.
void score_row(const float* z, int64_t c, int64_t label, EvalResult& r) {
  int64_t best = 0;
  float zmax = z[0];
  for (int64_t k = 1; k < c; ++k)
    if (z[k] > z[best]) best = k;
  zmax = z[best];
  double sum = 0;
  for (int64_t k = 0; k < c; ++k) sum += std::exp(double(z[k]) - double(zmax));
  // -log softmax(z)[label], in f64.
  r.loss += std::log(sum) - (double(z[label]) - double(zmax));
  r.top1 += best == label;
  // Top-5: the label is among the 5 highest when fewer than 5 logits beat it (ties go to the
  // lower index, as a stable sort would rank them).
  int64_t above = 0;
  for (int64_t k = 0; k < c; ++k) above += z[k] > z[label] || (z[k] == z[label] && k < label);
  r.top5 += above < 5;
  r.confusion[label * c + best] += 1;
}

}  // namespace

Result<EvalResult> evaluate(ir::Graph model, const data::Dataset& dataset,
                            const EvalOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  CONDENSE_ASSIGN_OR_RETURN(ModelIo io, resolve_model_io(model, options.input, options.output));
  CONDENSE_TRY(data::check_sample_shape(dataset, io.input_dims, io.input->name));
  CONDENSE_TRY(data::check_labels(dataset, io.num_classes));
  if (options.batch_size < 1) return Status::errorf("batch size {} < 1", options.batch_size);
  // A model exported with a fixed batch size (mnist-8's is 1) runs at that size.
  const int64_t batch = io.fixed_batch > 0 ? io.fixed_batch : options.batch_size;
  const std::string input = io.input->name;
  int output_index = 0;
  for (size_t i = 0; i < model.outputs.size(); ++i)
    if (model.outputs[i] == io.output) output_index = static_cast<int>(i);
  const bool flatten = io.input_dims.size() == 2;

  SessionOptions sopts;
  sopts.threads = options.threads;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                            Session::create(std::move(model), sopts));
  EvalResult r;
  r.num_classes = io.num_classes;
  r.confusion.assign(io.num_classes * io.num_classes, 0);
  const int64_t n = dataset.size();
  const int64_t c = io.num_classes;
  for (int64_t start = 0; start < n; start += batch) {
    CONDENSE_ASSIGN_OR_RETURN(data::Batch b, dataset.batch(start, batch));
    const int64_t got = b.x.dim(0);
    Tensor x = b.x;
    if (got < batch && io.fixed_batch > 0) {  // pad the last batch with zeros
      Shape shape = x.shape();
      shape[0] = batch;
      Tensor padded = Tensor::zeros(DType::F32, shape);
      std::memcpy(padded.raw(), x.raw(), x.nbytes());
      x = padded;
    }
    if (flatten && x.rank() != 2) x = x.reshaped({x.dim(0), x.numel() / x.dim(0)});
    if (x.dtype() != DType::F32) return Status::error("internal: dataset batch is not f32");
    std::map<std::string, Tensor> feeds{{input, x}};
    CONDENSE_ASSIGN_OR_RETURN(std::vector<Tensor> out, session->run(feeds));
    const Tensor& logits = out[output_index];
    if (logits.dtype() != DType::F32 || logits.rank() != 2 || logits.dim(1) != c ||
        logits.dim(0) != x.dim(0))
      return Status::errorf("model output is {}{} for a batch of {}; expected f32 [{}, {}]",
                            dtype_name(logits.dtype()), shape_str(logits.shape()), x.dim(0),
                            x.dim(0), c);
    for (int64_t i = 0; i < got; ++i) score_row(logits.data<float>() + i * c, c, b.labels[i], r);
    r.count += got;
    if (options.on_batch) options.on_batch(r.count, n);
  }
  if (r.count) r.loss /= double(r.count);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace condense::train
