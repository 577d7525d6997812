// condense sensitivity MODEL --calib SPEC --data SPEC [--budget POINTS] [--eval-limit N]
// [--json] [scheme and calibration options of quantize]
//
// Calibrates once, then quantizes one layer at a time (static QDQ, the others left in float) and
// reports, ranked, the top-1 points lost and the output SQNR for each; then suggests the
// --exclude list that keeps the whole model's drop within --budget, verified by quantizing with
// it. The evaluation uses the whole test split unless --eval-limit (a seeded random sample).
#include <condense/quant.h>
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "compress/quant/common.h"
#include "quant_common.h"
#include "train_common.h"

namespace condense::cli {

namespace {

struct SensitivityArgs : QuantArgs {
  std::string data, split = "test";
  double budget = 1.0;
  int64_t eval_limit = 0, eval_batch = 256;
  bool json = false;
};

std::string db_str(double db) {
  return std::isinf(db) ? "inf" : fmt::format("{:.1f}", db);
}

int run_sensitivity(const SensitivityArgs& a) {
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  auto options = build_quantize_options(a);
  if (!options) return fail_with_hint(options.status());
  if (options->mode != quant::Mode::Static)
    return fail(Status::errorf("sensitivity analysis is for static quantization, not --mode {}",
                               quant::mode_name(options->mode)));
  ir::Graph original_meta;
  original_meta.metadata = model->metadata;
  auto prepared = quant::prepare(std::move(*model), *options);
  if (!prepared) return fail_with_hint(prepared.status());
  // Evaluation data first: a misfit fails before the calibration runs. It is normalized by the
  // same rule as the calibration data (--normalize, else the model's recorded one, else by kind).
  auto split = data::parse_split(a.split);
  if (!split) return fail(split.status().with_context("--split"));
  auto d = open_data(a.data, *split, a.normalize, original_meta, 0);
  if (!d) return fail(d.status().with_context("--data"));
  if (prepared->inputs.size() != 1)
    return fail(Status::errorf("sensitivity feeds one input from the dataset, but the model has {}",
                               prepared->inputs.size()));
  const std::vector<int64_t> dims = quant::sample_dims(*prepared->inputs.at(0));
  Status fits = data::check_sample_shape(*d->dataset, dims, prepared->inputs.at(0)->name);
  if (!fits) return fail(fits.with_context("--data"));
  Status pre = run_prepasses(a, original_meta, *prepared, *options);
  if (!pre) return fail_with_hint(pre);
  std::string normalize;
  auto table = run_calibration(a, original_meta, *prepared, *options, &normalize);
  if (!table) return fail_with_hint(table.status());
  print_warnings(table->warnings);

  quant::SensitivityOptions so;
  so.batch_size = a.eval_batch;
  so.threads = a.threads;
  so.budget = a.budget;
  so.limit = a.eval_limit;
  so.seed = a.seed;
  ProgressLine progress(stderr);
  if (progress.is_terminal())
    so.on_step = [&](const std::string& what) { progress.update(what, false); };
  auto r = quant::sensitivity(*prepared, *options, *table, *d->dataset, so);
  progress.finish();
  if (!r) return fail_with_hint(r.status());

  std::vector<std::string> exclude_args;
  for (const std::string& n : r->suggested_exclude)
    exclude_args.push_back(fmt::format("--exclude '{}'", n));
  std::string exclude_line;
  for (const std::string& e : exclude_args) exclude_line += (exclude_line.empty() ? "" : " ") + e;

  if (a.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : r->layers)
      layers.push_back({{"node", l.node},
                        {"op", l.op},
                        {"top1", l.accuracy},
                        {"drop_points", l.drop},
                        {"sqnr_db", std::isinf(l.sqnr_db) ? nlohmann::json(nullptr)
                                                          : nlohmann::json(l.sqnr_db)}});
    nlohmann::json j = {{"model", a.model},
                        {"data", d->dataset->description()},
                        {"samples", r->samples},
                        {"scheme", describe_scheme(*options)},
                        {"float_top1", r->float_accuracy},
                        {"quantized_top1", r->full_accuracy},
                        {"quantized_sqnr_db", r->full_sqnr_db},
                        {"budget_points", a.budget},
                        {"layers", layers},
                        {"suggested_exclude", r->suggested_exclude},
                        {"suggested_top1", r->suggested_accuracy}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} on {} ({} samples), {}:\n", a.model, d->dataset->description(), r->samples,
             describe_scheme(*options));
  fmt::print(
      "  float top-1 {:.2f}%, every layer quantized {:.2f}% (drop {:.2f} points, output "
      "SQNR {} dB)\n",
      100 * r->float_accuracy, 100 * r->full_accuracy, 100 * (r->float_accuracy - r->full_accuracy),
      db_str(r->full_sqnr_db));
  size_t width = 4;
  for (const auto& l : r->layers) width = std::max(width, l.node.size());
  fmt::print("  only this layer quantized, most sensitive first:\n");
  fmt::print("    {:>4}  {:<{}}  {:<8}  {:>8}  {:>8}  {:>9}\n", "rank", "node", width, "op",
             "top-1", "drop", "SQNR dB");
  for (size_t k = 0; k < r->layers.size(); ++k) {
    const auto& l = r->layers[k];
    fmt::print("    {:>4}  {:<{}}  {:<8}  {:>7.2f}%  {:>8.2f}  {:>9}\n", k + 1, l.node, width, l.op,
               100 * l.accuracy, l.drop, db_str(l.sqnr_db));
  }
  if (r->suggested_exclude.empty())
    fmt::print(
        "  within the budget of {:.2f} points with every layer quantized: nothing to "
        "exclude\n",
        a.budget);
  else
    fmt::print(
        "  suggested for a budget of {:.2f} points: {} (verified: top-1 {:.2f}%, drop "
        "{:.2f} points)\n",
        a.budget, exclude_line, 100 * r->suggested_accuracy,
        100 * (r->float_accuracy - r->suggested_accuracy));
  return 0;
}

}  // namespace

Command make_sensitivity_command() {
  return {
      "sensitivity", [](CLI::App& app) {
        auto a = std::make_shared<SensitivityArgs>();
        auto* c = app.add_subcommand(
            "sensitivity",
            "per-layer accuracy and SQNR lost by static quantization; what to exclude");
        c->add_option("model", a->model, "float model (.onnx)")->required();
        c->add_option("--data", a->data, "evaluation data (the test split by default)")->required();
        c->add_option("--split", a->split, "evaluation split: test (default) or train");
        c->add_option("--budget", a->budget,
                      "top-1 points the quantized model may lose (default 1.0)")
            ->check(CLI::Range(0.0, 100.0));
        c->add_option("--eval-limit", a->eval_limit,
                      "evaluate on the first N samples only (default: all)")
            ->check(CLI::NonNegativeNumber);
        c->add_option("--eval-batch", a->eval_batch, "evaluation batch size (default 256)")
            ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
        c->add_flag("--json", a->json, "one JSON object");
        add_calibration_options(c, *a, true);
        add_scheme_options(c, *a);
        return [a] { return run_sensitivity(*a); };
      }};
}

}  // namespace condense::cli
