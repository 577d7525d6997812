// condense eval MODEL --data SPEC [--split test|train] [--normalize N] [--batch B] [--threads T]
// [--limit N] [--json] [--input NAME] [--logits NAME]
//
// Scores a classifier on a dataset: top-1, top-5, mean cross-entropy, per-class accuracy and the
// confusion matrix (rows: label, columns: prediction).
#include <condense/trainer.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "train_common.h"

namespace condense::cli {

namespace {

struct EvalArgs {
  std::string model, data, split = "test", normalize, input, logits;
  int64_t batch = 256, limit = 0;
  int threads = 0;
  bool json = false;
};

int run_eval(const EvalArgs& a) {
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  auto split = data::parse_split(a.split);
  if (!split) return fail(split.status().with_context("--split"));
  auto d = open_data(a.data, *split, a.normalize, *model, a.limit);
  if (!d) return fail(d.status().with_context("--data"));
  const data::Dataset& ds = *d->dataset;
  std::vector<std::string> names = ds.class_names();

  train::EvalOptions opts;
  opts.batch_size = a.batch;
  opts.threads = a.threads;
  opts.input = a.input;
  opts.output = a.logits;
  ProgressLine progress(stderr);
  if (progress.is_terminal())
    opts.on_batch = [&](int64_t done, int64_t total) {
      progress.update(fmt::format("eval {}/{}", done, total), done == total);
    };
  auto r = train::evaluate(std::move(*model), ds, opts);
  progress.finish();
  if (!r) return fail(r.status());
  const int64_t c = r->num_classes;
  std::vector<double> per_class = r->class_accuracy();
  auto class_name = [&](int64_t k) {
    return k < static_cast<int64_t>(names.size()) ? names[k] : std::to_string(k);
  };

  if (a.json) {
    nlohmann::json classes = nlohmann::json::array();
    for (int64_t k = 0; k < c; ++k) {
      int64_t total = 0;
      for (int64_t p = 0; p < c; ++p) total += r->confusion[k * c + p];
      classes.push_back(
          {{"class", k}, {"name", class_name(k)}, {"count", total}, {"accuracy", per_class[k]}});
    }
    nlohmann::json confusion = nlohmann::json::array();
    for (int64_t k = 0; k < c; ++k)
      confusion.push_back(
          std::vector<int64_t>(r->confusion.begin() + k * c, r->confusion.begin() + (k + 1) * c));
    nlohmann::json j = {
        {"model", a.model},       {"data", ds.description()}, {"normalize", d->normalize},
        {"count", r->count},      {"top1", r->accuracy()},    {"top5", r->top5_accuracy()},
        {"loss", r->loss},        {"correct", r->top1},       {"classes", classes},
        {"confusion", confusion}, {"seconds", r->seconds}};
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("{} on {} ({} samples, normalize {}):\n", a.model, ds.description(), r->count,
             d->normalize);
  fmt::print("  top-1 {:.2f}% ({}/{}), top-5 {:.2f}%, loss {:.4f}, error {:.2f}%  [{:.1f} s]\n",
             100.0 * r->accuracy(), r->top1, r->count, 100.0 * r->top5_accuracy(), r->loss,
             100.0 * (1.0 - r->accuracy()), r->seconds);
  fmt::print("  per class:");
  for (int64_t k = 0; k < c; ++k)
    fmt::print("{}{} {:.1f}%", k % 5 == 0 ? "\n    " : "   ", class_name(k), 100.0 * per_class[k]);
  fmt::print("\n");
  if (c <= 20) {
    fmt::print("  confusion (rows: label, columns: prediction):\n");
    for (int64_t k = 0; k < c; ++k) {
      fmt::print("    {:>3}", k);
      for (int64_t p = 0; p < c; ++p) fmt::print(" {:>5}", r->confusion[k * c + p]);
      fmt::print("\n");
    }
  } else {
    fmt::print("  ({} classes: the confusion matrix is in --json)\n", c);
  }
  return 0;
}

}  // namespace

Command make_eval_command() {
  return {"eval", [](CLI::App& app) {
            auto a = std::make_shared<EvalArgs>();
            auto* c = app.add_subcommand("eval", "accuracy of a classifier on a dataset");
            c->add_option("model", a->model, "model (.onnx)")->required();
            c->add_option("--data", a->data,
                          "mnist:DIR, fashion-mnist[:DIR], cifar10:PATH, imagefolder:PATH[:SUB], "
                          "npz:PATH")
                ->required();
            c->add_option("--split", a->split, "test (default) or train");
            c->add_option("--normalize", a->normalize,
                          "imagenet, cifar10, mnist, unit, raw, or MEAN/STD (default: the "
                          "model's recorded one, else by data)");
            c->add_option("--batch", a->batch, "batch size")
                ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
            c->add_option("--threads", a->threads, "threads (0: all cores)")
                ->check(CLI::Range(0, 1024));
            c->add_option("--limit", a->limit, "only the first N samples")
                ->check(CLI::NonNegativeNumber);
            c->add_flag("--json", a->json, "one JSON object");
            c->add_option("--input", a->input, "the model's data input (default: its only input)");
            c->add_option("--logits", a->logits, "the output holding logits (default: first)");
            return [a] { return run_eval(*a); };
          }};
}

}  // namespace condense::cli
