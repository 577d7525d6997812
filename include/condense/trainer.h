// Training and evaluating a classifier: what `condense train` and `condense eval` run, as a
// library. A Trainer owns the training graph (model + loss + backward, autograd.h), its Session,
// the optimizer and the learning-rate schedule; fit() runs epochs of it over a dataset with
// per-epoch validation, checkpoints, resume and interruption; evaluate() scores any model.
//
//   using namespace condense;
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph model, onnx::import_file("lenet5.onnx"));
//   train::TrainerOptions topts;                       // ce loss, SGD; see the fields
//   topts.optimizer = {.kind = train::OptimizerKind::Sgd, .lr = 0.1, .momentum = 0.9};
//   CONDENSE_ASSIGN_OR_RETURN(topts.schedule, train::parse_schedule("cosine"));
//   train::FitOptions fopts{.epochs = 10, .batch_size = 128, .seed = 1};
//   fopts.checkpoint = "lenet5.ckpt.npz";
//   CONDENSE_ASSIGN_OR_RETURN(auto trainer, train::Trainer::create(std::move(model), topts));
//   CONDENSE_ASSIGN_OR_RETURN(train::FitResult r, train::fit(*trainer, *train_set, test_set.get(),
//                                                             fopts, {}));
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph trained, trainer->model());   // export it
//
// Determinism: with the same seed, options, data and thread count a run is bit-identical, and a
// run resumed from a checkpoint (written at an epoch's end or on interruption mid-epoch) ends with
// the same bytes as an uninterrupted one: batch order and augmentation are functions of (seed,
// epoch), dropout masks of (seed, step), the schedule of the step, and the checkpoint holds the
// weights, batch-norm statistics and optimizer state.
#pragma once

#include <condense/data.h>
#include <condense/ir.h>
#include <condense/loss.h>
#include <condense/npy.h>
#include <condense/optim.h>
#include <condense/session.h>
#include <condense/status.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace condense::train {

struct TrainerOptions {
  LossSpec loss{};          // against the class labels
  ParamSelection params{};  // which float initializers train (regexes)
  OptimizerOptions optimizer{};
  ScheduleSpec schedule{};  // created by set_schedule() / fit() once steps are known
  double clip_norm = 0;     // > 0: clip_grad_norm to this before every step
  double clip_value = 0;    // > 0: clip_grad_value
  // Parameters whose name matches this regex (searched) are clamped to >= clamp_min after every
  // optimizer step (projected gradient descent); empty: none. QAT keeps its learned
  // quantization scales positive this way ("_fq_scale$").
  std::string clamp_params;
  float clamp_min = 0;
  bool batchnorm_training = true;  // false: running statistics frozen (--freeze-bn)
  bool dropout_training = true;
  int threads = 0;     // the Session's; 0: every core
  std::string input;   // the model's data input; empty: its only input
  std::string output;  // the model's logits (N, C); empty: its first output
};

// The result of one optimizer step.
struct StepStats {
  double loss = 0;      // the batch's mean loss (as the loss spec reduces it)
  int64_t correct = 0;  // samples whose top-1 class is the label
  int64_t count = 0;    // samples in the batch
  double lr = 0;        // the learning rate used for this step
  bool finite = true;   // false: the loss or a gradient was NaN/Inf; nothing was updated
};

class Trainer {
 public:
  // Builds the training graph for `model` and its Session. Errors: a model without exactly one
  // float input (or `input` not found), logits that are not (N, C), no trainable parameters, a
  // loss that does not fit the logits, an op without a gradient rule on the path to the loss.
  static Result<std::unique_ptr<Trainer>> create(ir::Graph model, const TrainerOptions& options);
  ~Trainer();

  // Sets the learning-rate schedule for a run of `epochs` x `steps_per_epoch` (fit() calls it).
  Status set_schedule(int64_t steps_per_epoch, int64_t epochs);

  // One step at global step `step` (0-based; sets the scheduled learning rate, seeds dropout
  // with (seed, step)). batch.x must fit the input (the batch dimension is free); labels in
  // [0, num_classes()). A non-finite loss or gradient returns finite = false and leaves weights,
  // statistics and optimizer state as they were.
  Result<StepStats> step(const data::Batch& batch, int64_t step, uint64_t seed = 0);

  // The model with the current weights and batch-norm statistics (a deep copy of the input
  // model, same nodes and names).
  Result<ir::Graph> model() const;

  // Weights ("param/<name>"), batch-norm statistics ("state/<name>") and optimizer state
  // ("optimizer/..."), copies; load_state() restores them (every name must match this trainer's).
  std::vector<npy::NamedArray> state() const;
  Status load_state(const std::vector<npy::NamedArray>& arrays);

  const std::string& input_name() const;
  // The input's dims with -1 for the (free) batch dimension and any other symbolic dimension.
  const std::vector<int64_t>& input_dims() const;
  int64_t num_classes() const;      // C of the logits
  int64_t parameter_count() const;  // elements of the trainable parameters
  const std::vector<std::string>& parameter_names() const;
  const TrainerOptions& options() const;
  double lr(int64_t step) const;  // the scheduled learning rate at `step`

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- evaluation ---------------------------------------------------------------------------------

struct EvalOptions {
  int64_t batch_size = 256;
  int threads = 0;
  std::string input{};   // empty: the model's only input
  std::string output{};  // empty: its first output
  // Called after every batch with (samples done, total).
  std::function<void(int64_t, int64_t)> on_batch{};
};

struct EvalResult {
  int64_t count = 0;
  int64_t num_classes = 0;
  int64_t top1 = 0;                // correct top-1 predictions
  int64_t top5 = 0;                // label among the 5 highest logits (all of them when C <= 5)
  double loss = 0;                 // mean cross-entropy of softmax(logits) against the labels
  std::vector<int64_t> confusion;  // (C, C) row-major: [label][prediction] counts
  double seconds = 0;
  double accuracy() const { return count ? double(top1) / double(count) : 0.0; }
  double top5_accuracy() const { return count ? double(top5) / double(count) : 0.0; }
  // Per class: correct / samples of that class (NaN-free: 0 for a class with no samples).
  std::vector<double> class_accuracy() const;
};

// Scores `model` (logits (N, C)) on every sample of `dataset`. A model whose input has a fixed
// batch size b is run b samples at a time (the last batch padded, the padding not scored).
// Errors: samples that do not fit the input, labels >= C, a model without (N, C) logits.
Result<EvalResult> evaluate(ir::Graph model, const data::Dataset& dataset,
                            const EvalOptions& options = {});

// ---- the training loop --------------------------------------------------------------------------

struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 128;
  uint64_t seed = 0;
  bool shuffle = true;
  data::Augment augment{};
  int64_t eval_batch_size = 256;
  // Checkpoint file (npz) written atomically at every epoch's end and on interruption; empty:
  // none. A non-finite loss stops the run without touching it (the last good one stays).
  std::string checkpoint;
  std::string resume;  // a checkpoint to start from; empty: from the start
  // Polled after every step; when it turns true the run saves a checkpoint and returns with
  // FitResult::interrupted (what Ctrl-C sets).
  const std::atomic<bool>* interrupt = nullptr;
  // Test hook: behave as if interrupted after this many steps of this run (< 0: never).
  int64_t interrupt_after_steps = -1;
  // Free-form text stored in the checkpoint, compared on resume (e.g. the data spec).
  std::string run_description;
};

struct StepProgress {
  int64_t epoch = 0;  // 0-based
  int64_t epochs = 0;
  int64_t batch = 0;        // batches done in this epoch (1-based after the step)
  int64_t batches = 0;      // per epoch
  double loss = 0;          // running mean over the epoch so far
  double accuracy = 0;      // running top-1 over the epoch so far
  double images_per_s = 0;  // over the epoch so far (this run's steps only)
  double lr = 0;
  double eta_s = 0;  // estimated seconds to the end of the run (training only)
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t epochs = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double lr = 0;            // at the epoch's last step
  double images_per_s = 0;  // training steps of this epoch (optimizer step included)
  double seconds = 0;       // the epoch's wall time, validation included
  std::optional<EvalResult> val;
};

struct FitCallbacks {
  std::function<void(const StepProgress&)> on_step{};
  std::function<void(const EpochMetrics&)> on_epoch{};
  std::function<void(const std::string&)> on_message{};  // notes: resume position, warnings
};

struct FitResult {
  std::vector<EpochMetrics> epochs;  // the epochs this run completed
  bool interrupted = false;
  int64_t epochs_done = 0;     // completed epochs overall (resumed ones included)
  int64_t batch_in_epoch = 0;  // when interrupted: batches done in the unfinished epoch
};

// Trains `trainer` for options.epochs over `train_set` (shuffled, augmented, in a background
// loader), validating on `val_set` (when given) after every epoch. A non-finite loss is an error
// naming the epoch and step (weights stay at the last good step; the checkpoint is not
// rewritten). Resuming checks that the checkpoint belongs to this model and optimizer and notes
// (on_message) options that differ from the checkpoint's (seed, batch size, data).
Result<FitResult> fit(Trainer& trainer, const data::Dataset& train_set,
                      const data::Dataset* val_set, const FitOptions& options,
                      const FitCallbacks& callbacks);

}  // namespace condense::train
