// Optimization for training: which initializers train, optimizers that update them in place,
// learning-rate schedules, and gradient clipping. Update formulas are PyTorch's (torch.optim,
// torch.optim.lr_scheduler, torch.nn.utils.clip_grad_norm_), so a run here follows the same
// trajectory as the same run in PyTorch.
//
//   CONDENSE_ASSIGN_OR_RETURN(auto params, train::select_parameters(graph, {.exclude = "bn"}));
//   CONDENSE_ASSIGN_OR_RETURN(auto opt, train::Optimizer::create(
//       {.kind = train::OptimizerKind::Sgd, .lr = 0.1, .momentum = 0.9}, params));
//   CONDENSE_ASSIGN_OR_RETURN(auto spec, train::parse_schedule("warmup:500,cosine"));
//   CONDENSE_ASSIGN_OR_RETURN(auto sched, train::LrSchedule::create(spec, 0.1, steps, epochs));
//   for (int64_t step = 0; ...; ++step) {
//     std::vector<Tensor> grads = ...;                      // one f32 tensor per parameter
//     CONDENSE_ASSIGN_OR_RETURN(double norm, train::clip_grad_norm(grads, 5.0, params));
//     opt->set_lr(sched.lr(step));
//     if (auto m = sched.momentum(step)) opt->set_momentum(*m);
//     CONDENSE_TRY(opt->step(grads));
//   }
//   std::vector<npy::NamedArray> state = opt->state();      // for a checkpoint; load_state(...)
#pragma once

#include <condense/ir.h>
#include <condense/npy.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace condense::train {

// ---------------------------------------------------------------------------------------------
// Parameters

struct Parameter {
  std::string name;          // the initializer's name
  Tensor value;              // f32; shares storage with the graph's initializer (updated in place)
  bool weight_decay = true;  // false: the optimizer applies no weight decay to it
};

struct ParamSelection {
  // ECMAScript regexes searched anywhere in the initializer's name (std::regex_search): a name
  // trains when it matches `include` (empty: every name) and does not match `exclude` (empty:
  // nothing excluded).
  std::string include{};
  std::string exclude{};
};

// The trainable parameters of `g`, in the graph's value order. Candidates are the f32
// initializers with rank >= 1 that some node reads in a slot that holds weights: not the running
// statistics of BatchNormalization (inputs 3 and 4, which training updates but does not train),
// nor the bounds of Clip, the pad value of Pad, the ratio of Dropout, the roi/scales of Resize.
// Errors: an invalid regex; a selection that is empty ("no trainable parameters: the regex 'xyz'
// matched none of 10 float initializers"); a selected float initializer that is not f32.
Result<std::vector<Parameter>> select_parameters(ir::Graph& g, const ParamSelection& sel = {});

// ---------------------------------------------------------------------------------------------
// Optimizers
//
// With g the gradient, p the parameter, lr the current learning rate, wd the weight decay, and
// every operation element-wise in f32:
//   SGD    g += wd p; with momentum mu: b = g at the first step, else b = mu b + (1 - dampening) g;
//          g = nesterov ? g + mu b : b;  p -= lr g
//   Adam   t += 1; g += wd p (L2, coupled); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//          (amsgrad: vmax = max(vmax, v), used for v below)
//          p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW  p *= 1 - lr wd (decoupled, Loshchilov & Hutter), then Adam with wd = 0.

enum class OptimizerKind { Sgd, Adam, AdamW };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0.01;
  double momentum = 0;    // SGD; >= 0
  double dampening = 0;   // SGD
  bool nesterov = false;  // SGD; needs momentum > 0 and dampening 0 (as PyTorch)
  double beta1 = 0.9;     // Adam, AdamW; in [0, 1)
  double beta2 = 0.999;   // Adam, AdamW; in [0, 1)
  double eps = 1e-8;      // Adam, AdamW; added to the bias-corrected sqrt(v)
  bool amsgrad = false;   // Adam, AdamW
  // Unset: PyTorch's defaults, 0 for SGD and Adam, 0.01 for AdamW.
  std::optional<double> weight_decay{};
};

std::string_view optimizer_kind_name(OptimizerKind kind);  // "sgd", "adam", "adamw"
Result<OptimizerKind> parse_optimizer_kind(std::string_view name);

class Optimizer {
 public:
  // Every parameter must be a defined f32 tensor with a unique name.
  static Result<std::unique_ptr<Optimizer>> create(const OptimizerOptions& options,
                                                   std::vector<Parameter> params);
  ~Optimizer();

  // One update of every parameter. grads[i] is the gradient of params()[i]: f32, the same shape;
  // it is read, not modified. An undefined tensor means "no gradient this step": that parameter
  // and its state are left untouched (as PyTorch skips parameters whose .grad is None).
  Status step(std::span<const Tensor> grads);
  Status step(const std::vector<Tensor>& grads) { return step(std::span<const Tensor>(grads)); }

  // The learning rate of the next step (a schedule sets it before each step).
  double lr() const { return options_.lr; }
  void set_lr(double lr) { options_.lr = lr; }
  // SGD momentum, or Adam/AdamW beta1: what one-cycle's momentum cycling sets.
  void set_momentum(double momentum);
  double momentum() const;

  const OptimizerOptions& options() const { return options_; }
  const std::vector<Parameter>& params() const { return params_; }

  // The state as named tensors, for a checkpoint (npy::write_npz): "optimizer/<param>/<slot>" with
  // slots momentum_buffer (SGD, once created), step (i64 scalar), exp_avg, exp_avg_sq and
  // max_exp_avg_sq (amsgrad) for Adam/AdamW. Copies, not views.
  std::vector<npy::NamedArray> state() const;
  // Restores a state() written by an optimizer of the same kind over the same parameters. Arrays
  // whose names do not start with "optimizer/" are ignored (a checkpoint may hold weights too);
  // an unknown parameter or slot, a missing slot, or a wrong dtype or shape is an error.
  Status load_state(std::span<const npy::NamedArray> arrays);

 private:
  // Per-parameter state; tensors are undefined until first used.
  struct Slots {
    int64_t step = 0;                            // updates applied to this parameter (Adam's t)
    Tensor momentum_buffer;                      // SGD
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // Adam, AdamW
  };
  Optimizer(OptimizerOptions options, std::vector<Parameter> params);
  Status update(size_t i, const Tensor& grad);
  OptimizerOptions options_;
  std::vector<Parameter> params_;
  std::vector<Slots> slots_;
};

// ---------------------------------------------------------------------------------------------
// Gradient clipping

// torch.nn.utils.clip_grad_norm_ with norm_type 2: the total norm is the L2 norm of all gradients
// taken as one vector; when max_norm / (norm + 1e-6) < 1 every gradient is scaled by it. Returns
// the total norm before clipping (max_norm = infinity only measures it). A non-finite norm is an
// error naming the first gradient with a NaN or infinity (its name from `params` when given), and
// the gradients are left as they were. The sum is accumulated in f64 over fixed-size blocks, so
// the result does not depend on the thread count.
Result<double> clip_grad_norm(std::span<Tensor> grads, double max_norm,
                              std::span<const Parameter> params = {});
// torch.nn.utils.clip_grad_value_: clamps every element to [-clip_value, clip_value] (NaN stays
// NaN). clip_value must be > 0.
Status clip_grad_value(std::span<Tensor> grads, double clip_value);

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules
//
// A schedule is a pure function of the global step t = epoch * steps_per_epoch + step_in_epoch
// (0-based), so resuming needs no schedule state. With base = the optimizer's lr, T the total
// steps (epochs * steps_per_epoch), e the epoch:
//   constant   base
//   step       base * gamma^floor(e / step_size)                     (StepLR, stepped per epoch)
//   multistep  base * gamma^(number of milestones <= e)              (MultiStepLR, per epoch)
//   cosine     eta_min + (base - eta_min) (1 + cos(pi t / T)) / 2      (CosineAnnealingLR(T_max=T)
//              stepped per batch; per=epoch: t = e, T = epochs, stepped per epoch); eta_min for t
//              >= T
//   onecycle   OneCycleLR(max_lr=base, total_steps=T), cosine annealing in two phases:
//              base/div_factor -> base over the first pct_start*T - 1 steps, then down to
//              base/(div_factor*final_div_factor) at step T - 1; with cycle_momentum the momentum
//              goes max_momentum -> base_momentum -> max_momentum meanwhile
//   warmup     a linear factor start_factor + (1 - start_factor) t / W for t < W (LinearLR), times
//              the schedule after it (ChainedScheduler); not with onecycle (it warms up itself)

enum class ScheduleKind { Constant, Step, MultiStep, Cosine, OneCycle };

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::Constant;
  int64_t step_size = 30;           // step: epochs between decays
  std::vector<int64_t> milestones;  // multistep: epochs, increasing
  double gamma = 0.1;               // step, multistep
  double eta_min = 0;               // cosine
  bool per_epoch = false;           // cosine
  double pct_start = 0.3;           // onecycle
  double div_factor = 25;           // onecycle
  double final_div_factor = 1e4;    // onecycle
  bool cycle_momentum = true;       // onecycle
  double base_momentum = 0.85;      // onecycle
  double max_momentum = 0.95;       // onecycle
  int64_t warmup_steps = 0;         // 0: no warmup
  double warmup_start_factor = 0.001;
};

// CLI strings, each a kind then ':'-separated positional or key=value arguments:
//   constant
//   step:STEP_SIZE[:GAMMA]                              step:30:0.1
//   multistep:M1,M2,...[:GAMMA]                         multistep:30,60:0.1
//   cosine[:ETA_MIN][:per=step|epoch]                   cosine, cosine:1e-5:per=epoch
//   onecycle[:PCT_START[:DIV_FACTOR[:FINAL_DIV_FACTOR]]] [:cycle_momentum=0|1]
//            [:base_momentum=M][:max_momentum=M]         onecycle, onecycle:0.25
//   warmup:STEPS[:START_FACTOR],<schedule>  or warmup:STEPS alone (then constant)
//                                                       warmup:500,cosine
// GAMMA defaults to 0.1, ETA_MIN to 0, START_FACTOR to 0.001; onecycle's to PyTorch's.
Result<ScheduleSpec> parse_schedule(std::string_view text);
// The canonical CLI string of a spec (parse_schedule(schedule_str(s)) gives s back).
std::string schedule_str(const ScheduleSpec& spec);

class LrSchedule {
 public:
  // Validates `spec` against the run: base_lr > 0, steps_per_epoch >= 1, epochs >= 1, warmup
  // shorter than the run, onecycle's first phase at least one step.
  static Result<LrSchedule> create(const ScheduleSpec& spec, double base_lr,
                                   int64_t steps_per_epoch, int64_t epochs);

  double lr(int64_t step) const;
  double lr(int64_t epoch, int64_t step_in_epoch) const {
    return lr(epoch * steps_per_epoch_ + step_in_epoch);
  }
  // One-cycle's momentum at this step; nullopt for every other schedule (leave momentum alone).
  std::optional<double> momentum(int64_t step) const;

  const ScheduleSpec& spec() const { return spec_; }
  int64_t total_steps() const { return steps_per_epoch_ * epochs_; }

 private:
  LrSchedule() = default;
  double inner_lr(int64_t step) const;
  ScheduleSpec spec_;
  double base_lr_ = 0;
  int64_t steps_per_epoch_ = 1;
  int64_t epochs_ = 1;
};

}  // namespace condense::train
