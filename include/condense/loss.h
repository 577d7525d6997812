// Training losses as graph builders: each appends ordinary nodes (LogSoftmax, Sub, ReduceMean,
// ...) to an ir::Graph and returns the loss Value, so the autograd differentiates a loss like any
// other part of the model and one Session runs model, loss and backward together. Every formula
// is PyTorch's, so a loss value here equals torch.nn.functional's for the same inputs.
//
//   ir::Value* logits = ...;                                      // model output (N, 10), f32
//   ir::Value* labels = g.add_input("labels", DType::I64, {ir::Dim::sym("N")});
//   auto loss = condense::train::build_loss(g, {.kind = condense::train::LossKind::CrossEntropy,
//                                               .label_smoothing = 0.1}, logits, labels);
//   if (!loss) return loss.status();   // e.g. labels of the wrong shape
//   g.outputs.push_back(*loss);        // f32 scalar named "loss_cross_entropy"
//
// Shapes. `output` must have a known rank (symbolic dimensions are fine). Element-wise losses
// (mse, l1, smooth_l1, kl_div, cosine) need `target` of the output's shape; cross_entropy and
// nll take class labels (N, d1, ...) of an integer type for an output (N, C, d1, ...), and
// cross_entropy also takes class probabilities of the output's shape (soft targets). Static
// dimensions that differ are an error naming both shapes.
//
// Per-element formulas (d = output - target; the class axis is 1):
//   cross_entropy  (1 - eps) * (-logp[y]) + eps * mean_c(-logp[c]), logp = log_softmax(x);
//                  soft targets t: (1 - eps) * (-sum_c t[c] logp[c]) + eps * mean_c(-logp[c])
//   nll            -x[y] (x already log-probabilities)
//   mse            d^2
//   l1             |d|
//   smooth_l1      0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: |d|)
//   kl_div         T^2 * p_t * (log p_t - log p_s), p = softmax(logits / T) over the class axis
//                  (Hinton et al. 2015: the T^2 keeps gradient magnitudes independent of T)
//   cosine         1 - x.y / (max(|x|, eps) * max(|y|, eps)) along `axis`
// then the reduction: Mean averages every element of that per-element loss (for cross_entropy
// and nll, that is every sample), Sum adds them, BatchMean divides the sum by the size of
// dimension 0 (PyTorch's "batchmean", the mathematically correct KL), None keeps them.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace condense::train {

enum class Reduction { Mean, Sum, BatchMean, None };

enum class LossKind { CrossEntropy, Nll, Mse, L1, SmoothL1, KlDiv, Cosine };

struct LossSpec {
  LossKind kind = LossKind::CrossEntropy;
  // Default (unset): BatchMean for kl_div, Mean for the others.
  std::optional<Reduction> reduction{};
  double label_smoothing = 0;  // cross_entropy: eps in [0, 1]
  double beta = 1;             // smooth_l1: >= 0
  double temperature = 1;      // kl_div: T > 0
  int64_t axis = 1;            // cosine: the feature axis (may be negative)
  double eps = 1e-8;           // cosine: norms are clamped to at least eps
  // Prefix of the new nodes and name of the loss value; empty: "loss_<kind>" (made unique).
  std::string name{};
};

std::string_view loss_kind_name(LossKind kind);  // "cross_entropy", "nll", "mse", ...
std::string_view reduction_name(Reduction r);    // "mean", "sum", "batchmean", "none"

// Parses a CLI loss string: a kind, then ':'-separated positional or key=value arguments.
//   ce | cross_entropy[:LABEL_SMOOTHING]   nll   mse   l1
//   smooth_l1[:BETA]   kl | kl_div[:TEMPERATURE]   cosine[:AXIS]
// and for any kind reduction=mean|sum|batchmean|none, e.g. "ce:0.1", "kl:4", "mse:reduction=sum".
Result<LossSpec> parse_loss(std::string_view text);

// Appends the loss of `output` against `target` to `g` and returns it: a scalar of the output's
// float dtype (f32 or f64), or the per-element loss for Reduction::None. Neither `output` nor
// `target` is modified; graph outputs are left to the caller.
Result<ir::Value*> build_loss(ir::Graph& g, const LossSpec& spec, ir::Value* output,
                              ir::Value* target);

}  // namespace condense::train
