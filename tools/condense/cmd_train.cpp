// condense train MODEL --data SPEC -o OUT [--epochs N] [--batch B] [--opt sgd|adam|adamw] [--lr X]
// [--momentum M] [--nesterov] [--weight-decay W] [--schedule S] [--loss L] [--train REGEX]
// [--freeze REGEX] [--freeze-bn] [--clip-norm X] [--clip-value X] [--augment A] [--normalize N]
// [--val SPEC|none] [--seed S] [--threads T] [--checkpoint PATH] [--resume PATH] [--json]
// [--limit N] [--val-limit N] [--input NAME] [--logits NAME]
//
// Trains (or fine-tunes) the float initializers of any classifier ONNX model on a dataset and
// writes the trained model atomically. Progress on stderr; one summary per epoch on stdout (JSON
// lines with --json). A checkpoint is written after every epoch and on Ctrl-C (exit 130).
#include <condense/onnx.h>
#include <condense/trainer.h>
#include <fmt/format.h>

#include "commands.h"
#include "common.h"
#include "train_cli.h"

namespace condense::cli {

namespace {

int run_train(const TrainCliArgs& a) {
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  auto checkpoint = check_train_paths(a);
  if (!checkpoint) return fail(checkpoint.status());
  auto topts = build_trainer_options(a);
  if (!topts) return fail(topts.status());
  auto data = open_train_data(a, *model);
  if (!data) return fail(data.status());

  ir::Graph& m = *model;
  auto trainer = train::Trainer::create(std::move(m), *topts);
  if (!trainer) return fail(trainer.status());
  train::Trainer& t = **trainer;

  std::FILE* log = a.json ? stderr : stdout;
  fmt::print(log,
             "train {}: {} trainable parameters in {} tensors; data {} ({} samples, "
             "normalize {}){}\n",
             a.model, t.parameter_count(), t.parameter_names().size(),
             data->train.dataset->description(), data->train.dataset->size(), data->train.normalize,
             data->val ? fmt::format("; validation {} ({} samples)", data->val->description(),
                                     data->val->size())
                       : std::string("; no validation"));
  std::fflush(log);
  if (auto code = run_fit(t, a, *data, *checkpoint)) return *code;

  auto trained = t.model();
  if (!trained) return fail(trained.status());
  trained->metadata[kNormalizeKey] = data->train.normalize;
  if (Status s = onnx::export_file(*trained, a.output); !s) return fail(s);
  fmt::print(log, "wrote {}{}\n", a.output,
             checkpoint->empty() ? "" : fmt::format(" (checkpoint {})", *checkpoint));
  return 0;
}

}  // namespace

Command make_train_command() {
  return {"train", [](CLI::App& app) {
            auto a = std::make_shared<TrainCliArgs>();
            auto* c = app.add_subcommand("train", "train or fine-tune a classifier's weights");
            add_train_options(c, *a, true);
            return [a] { return run_train(*a); };
          }};
}

}  // namespace condense::cli
