// The training options and loop that `condense train` and `condense qat` share: the option
// flags, TrainerOptions from them, opening --data / --val, and train::fit with a progress line,
// per-epoch summaries (or JSON lines), checkpoints and Ctrl-C handling.
#pragma once

#include <condense/data.h>
#include <condense/trainer.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "train_common.h"

namespace condense::cli {

struct TrainCliArgs {
  std::string model, data, val, output, opt = "sgd", schedule = "constant", loss = "ce";
  std::string train_regex, freeze_regex, augment, normalize, checkpoint, resume, input, logits;
  int64_t epochs = 1, batch = 128, limit = 0, val_limit = 0;
  double lr = 0.01, momentum = 0, clip_norm = 0, clip_value = 0;
  std::optional<double> weight_decay;
  bool nesterov = false, freeze_bn = false, json = false;
  uint64_t seed = 0;
  int threads = 0;
};

// Adds model, --data, -o and every training option (--epochs ... --logits) to `c`.
void add_train_options(CLI::App* c, TrainCliArgs& a, bool with_freeze_bn);

// Checks -o (not the input, its folder exists), --resume and the checkpoint path; returns the
// checkpoint path ("" for none).
Result<std::string> check_train_paths(const TrainCliArgs& a);

Result<train::TrainerOptions> build_trainer_options(const TrainCliArgs& a);

struct TrainData {
  OpenedData train;
  std::unique_ptr<data::Dataset> val;  // null: no validation
  data::Augment augment;
};
// Opens --data (train split) and --val (default: the test split of --data; image folders need
// --val), with the normalization of --normalize, the model's record or the data kind.
Result<TrainData> open_train_data(const TrainCliArgs& a, const ir::Graph& model);

// Runs train::fit on `trainer` with progress on stderr and one summary line (or JSON object) per
// epoch on stdout, Ctrl-C writing the checkpoint. Returns the exit code to use when the run did
// not finish (1 on error, 130 when interrupted), or nullopt when it finished.
std::optional<int> run_fit(train::Trainer& trainer, const TrainCliArgs& a, TrainData& data,
                           const std::string& checkpoint);

std::string percent(double x);

}  // namespace condense::cli
