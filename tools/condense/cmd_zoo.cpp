// condense zoo NAME -o out.onnx [--seed S] [--batch-dim N|dynamic] [--widths 300,100]
// [--shortcut A|B] [--width W] [--bn | --no-bn]: builds a reference architecture with seeded
// He-uniform weights (include/condense/zoo.h) and writes it as ONNX (opset 17), checked by the
// ONNX checker.
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/zoo.h>
#include <fmt/ranges.h>

#include <charconv>

#include "commands.h"

namespace condense::cli {

namespace {
struct ZooArgs {
  std::string name, output, batch_dim = "dynamic", shortcut = "A", width;
  uint64_t seed = 0;
  std::vector<int64_t> widths;
  int bn = 0;  // +1 --bn, -1 --no-bn, 0 not given (the model's default)
  bool list = false;
};

Result<double> parse_width(const std::string& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !(v > 0.0) || v > 4.0)
    return Status::errorf("--width must be a number in (0, 4], e.g. 0.5 (got '{}')", s);
  return v;
}

Result<int64_t> parse_batch_dim(const std::string& s) {
  if (s == "dynamic") return int64_t{-1};
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1)
    return Status::errorf("--batch-dim must be a positive integer or 'dynamic' (got '{}')", s);
  return v;
}

int run_zoo(const ZooArgs& a) {
  if (a.list) {
    for (const std::string& n : zoo::model_names()) fmt::print("{}\n", n);
    return 0;
  }
  if (a.name.empty() || a.output.empty())
    return fail(Status::error("zoo needs a model name and -o OUTPUT"),
                fmt::format("models: {}", fmt::join(zoo::model_names(), ", ")));
  auto batch = parse_batch_dim(a.batch_dim);
  if (!batch) return fail(batch.status());
  zoo::ZooOptions opts;
  opts.seed = a.seed;
  opts.batch = *batch;
  opts.widths = a.widths;
  opts.shortcut = a.shortcut;
  if (!a.width.empty()) {
    if (a.name != "mobilenetv2")
      return fail(Status::errorf("--width applies to mobilenetv2 only, not {}", a.name),
                  "mlp hidden layers are set with --widths (plural)");
    auto width = parse_width(a.width);
    if (!width) return fail(width.status());
    opts.width = *width;
  }
  if (a.bn != 0) {
    if (!zoo::uses_batchnorm(a.name))
      return fail(Status::errorf("--bn/--no-bn apply to models with batch norm, not {}", a.name),
                  "models with batch norm: resnet20, resnet32, resnet56, mobilenetv2, vgg-small");
    opts.batchnorm = a.bn > 0;
  }
  auto g = zoo::build(a.name, opts);
  if (!g) return fail(g.status());
  auto bytes = onnx::export_bytes(*g, {.opset = zoo::kOpset});
  if (!bytes) return fail(bytes.status());
  Status ok = onnx::check_model_bytes(*bytes);
  if (!ok) return fail(ok.with_context("internal: the zoo model fails the ONNX checker"));
  Status w = write_file_atomic(a.output, *bytes);
  if (!w) return fail(w);
  fmt::print("wrote {} ({}: {} parameters, {} nodes, {} bytes, opset {}, seed {})\n", a.output,
             a.name, zoo::parameter_count(*g), g->nodes().size(), bytes->size(), zoo::kOpset,
             a.seed);
  return 0;
}
}  // namespace

Command make_zoo_command() {
  return {
      "zoo", [](CLI::App& app) -> std::function<int()> {
        auto args = std::make_shared<ZooArgs>();
        auto* sub = app.add_subcommand(
            "zoo",
            "build a reference model (mlp, lenet5, gemm4096, resnet20/32/56, mobilenetv2, "
            "vgg-small, tiny-transformer) with random weights");
        sub->add_option("name", args->name, "model name (see --list)");
        sub->add_option("-o,--output", args->output, "output .onnx");
        sub->add_option("--seed", args->seed, "weight seed (same seed, same bytes)");
        sub->add_option("--batch-dim", args->batch_dim,
                        "input batch dimension: an integer, or 'dynamic' (symbol N)");
        sub->add_option("--widths", args->widths, "mlp hidden widths, e.g. 300,100")
            ->delimiter(',');
        sub->add_option("--shortcut", args->shortcut,
                        "resnet downsampling shortcut: A (subsample + zero pad) or B (1x1 conv)");
        sub->add_option("--width", args->width,
                        "mobilenetv2 width multiplier in (0, 4], e.g. 0.5 (default 1)");
        sub->add_flag_callback(
            "--bn", [args] { args->bn = 1; },
            "resnet*/mobilenetv2/vgg-small: BatchNormalization nodes, trainable (the default)");
        sub->add_flag_callback(
            "--no-bn", [args] { args->bn = -1; },
            "resnet*/mobilenetv2/vgg-small: batch norm folded into conv biases (inference form)");
        sub->add_flag("--list", args->list, "print the model names");
        return [args] { return run_zoo(*args); };
      }};
}

}  // namespace condense::cli
