#include "quant_common.h"

#include <condense/file.h>
#include <fmt/format.h>

#include "commands.h"
#include "train_common.h"

namespace condense::cli {

void add_scheme_options(CLI::App* c, QuantArgs& a) {
  c->add_option("--method", a.method,
                "calibration: minmax (default), ema, percentile, entropy, mse");
  c->add_option("--percentile", a.percentile, "percentile method: of |x|, default 99.99")
      ->check(CLI::Range(1e-9, 100.0));
  c->add_flag("--per-channel", a.per_channel, "one weight scale per output channel");
  c->add_option("--bits", a.bits, "weight bits: 8 (int8, default) or 4 (int4)")
      ->check(CLI::IsMember({8, 4}));
  c->add_option("--group", a.group,
                "per-group weights: one scale per block of N along the reduction axis "
                "(opset 21 blocked DequantizeLinear)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  c->add_option("--weights", a.weights,
                "weight type: int8, uint8, int4, uint4 (unsigned: asymmetric)");
  c->add_option("--activations", a.activations, "activation type: uint8 (default) or int8");
  c->add_flag("--symmetric-activations", a.symmetric_activations,
              "activation zero point 0 (int8) / 128 (uint8)");
  c->add_flag("--reduce-range", a.reduce_range, "7-bit weights (int8 in [-64, 63])");
  // One value per occurrence, so that `--exclude fc1 model.onnx` leaves the model positional.
  c->add_option("--exclude", a.exclude, "node-name regex (whole name) left in float; repeatable")
      ->allow_extra_args(false);
  c->add_option("--op-types", a.op_types,
                "op types to quantize (default Conv,Gemm,MatMul; static also takes Add,Mul)")
      ->delimiter(',')
      ->allow_extra_args(false);
  c->add_option("--recipe", a.recipe, "JSON recipe: scheme and per-layer overrides")
      ->check(CLI::ExistingFile);
  c->add_flag("--quantize-outputs", a.quantize_outputs,
              "also quantize activations that are graph outputs");
  c->add_flag("--equalize", a.equalize,
              "cross-layer equalization of Conv/Gemm pairs before calibration");
  c->add_flag("--bias-correct", a.bias_correct,
              "empirical bias correction of the weight quantization error (needs --calib)");
}

void add_calibration_options(CLI::App* c, QuantArgs& a, bool calib_required) {
  auto* opt = c->add_option("--calib", a.calib,
                            "calibration data: mnist:DIR, fashion-mnist[:DIR], cifar10:PATH, "
                            "imagefolder:PATH[:SUB], npz:PATH");
  if (calib_required) opt->required();
  c->add_option("--calib-batches", a.calib_batches, "batches to calibrate on (default 32)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  c->add_option("--batch", a.batch, "samples per calibration batch (default 32)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  c->add_option("--calib-split", a.calib_split, "train (default) or test");
  c->add_option("--normalize", a.normalize,
                "imagenet, cifar10, mnist, unit, raw, or MEAN/STD (default: the model's recorded "
                "one, else by data)");
  c->add_option("--seed", a.seed, "which samples: a seeded shuffle of the set (default 0)");
  c->add_option("--threads", a.threads, "threads (0: all cores)")->check(CLI::Range(0, 1024));
}

Result<quant::QuantizeOptions> build_quantize_options(const QuantArgs& a) {
  quant::QuantizeOptions o;
  if (!a.mode.empty()) {
    auto m = quant::parse_mode(a.mode);
    if (!m) return m.status().with_context("--mode");
    o.mode = *m;
  }
  // Weight-only without a granularity: one scale per output channel (per tensor loses too much
  // at 4 bits).
  if (o.mode == quant::Mode::WeightOnly) o.weights.granularity = quant::Granularity::PerChannel;
  if (!a.recipe.empty()) {
    CONDENSE_ASSIGN_OR_RETURN(std::string text, read_file(a.recipe));
    auto r = quant::parse_recipe(text, o);
    if (!r) return r.status().with_context(fmt::format("--recipe '{}'", a.recipe));
    o = *r;
    if (!a.mode.empty()) o.mode = *quant::parse_mode(a.mode);  // the flag wins
  }
  if (!a.method.empty()) {
    auto m = quant::parse_method(a.method);
    if (!m) return m.status().with_context("--method");
    o.activations.method = *m;
  }
  if (a.percentile) o.activations.percentile = *a.percentile;
  if (a.per_channel && a.group > 0)
    return Status::error(
        "--per-channel and --group choose different weight granularities; give "
        "one");
  if (a.per_channel) o.weights.granularity = quant::Granularity::PerChannel;
  if (a.group > 0) {
    o.weights.granularity = quant::Granularity::PerGroup;
    o.weights.block_size = a.group;
  }
  if (a.bits != 0 && !a.weights.empty())
    return Status::error("--bits and --weights both set the weight type; give one");
  if (a.bits != 0) {
    o.weights.dtype = a.bits == 8 ? DType::I8 : DType::I4;
    o.weights.symmetric = true;
  }
  if (!a.weights.empty()) {
    auto t = quant::parse_quant_dtype(a.weights);
    if (!t) return t.status().with_context("--weights");
    o.weights.dtype = *t;
    o.weights.symmetric = *t == DType::I8 || *t == DType::I4;
  }
  if (!a.activations.empty()) {
    auto t = quant::parse_quant_dtype(a.activations);
    if (!t) return t.status().with_context("--activations");
    o.activations.dtype = *t;
  }
  if (a.symmetric_activations) o.activations.symmetric = true;
  if (a.reduce_range) o.weights.reduce_range = true;
  if (a.quantize_outputs) o.quantize_outputs = true;
  o.exclude.insert(o.exclude.end(), a.exclude.begin(), a.exclude.end());
  if (!a.op_types.empty()) o.op_types = a.op_types;
  CONDENSE_TRY(quant::validate_options(o));
  return o;
}

Result<quant::CalibrationTable> run_calibration(const QuantArgs& a, const ir::Graph& model,
                                                const ir::Graph& prepared,
                                                const quant::QuantizeOptions& options,
                                                std::string* normalize_used) {
  auto split = data::parse_split(a.calib_split);
  if (!split) return split.status().with_context("--calib-split");
  auto d = open_data(a.calib, *split, a.normalize, model, 0);
  if (!d) return d.status().with_context("--calib");
  if (normalize_used) *normalize_used = d->normalize;
  quant::CalibrationOptions copts;
  copts.batches = a.calib_batches;
  copts.batch_size = a.batch;
  copts.seed = a.seed;
  copts.threads = a.threads;
  ProgressLine progress(stderr);
  copts.on_batch = [&](int pass, int64_t done, int64_t total, int passes) {
    const std::string text =
        passes > 1 ? fmt::format("calibrate pass {}/{}: batch {}/{}", pass + 1, passes, done, total)
                   : fmt::format("calibrate: batch {}/{}", done, total);
    progress.update(text, done == total);
  };
  auto table = quant::calibrate(prepared, options, *d->dataset, copts);
  progress.finish();
  if (!table) return table.status();
  return table;
}

Status run_prepasses(const QuantArgs& a, const ir::Graph& model, ir::Graph& prepared,
                     const quant::QuantizeOptions& options) {
  if (a.equalize) {
    CONDENSE_ASSIGN_OR_RETURN(int64_t pairs, quant::equalize(prepared));
    fmt::print(stderr, "equalize: {} layer pair(s) rescaled\n", pairs);
  }
  if (!a.bias_correct) return Status::ok();
  if (a.calib.empty())
    return Status::error(
        "--bias-correct measures the weight quantization error on calibration data; hint: give "
        "--calib SPEC");
  if (options.mode == quant::Mode::Dynamic)
    return Status::error("--bias-correct is for static and weight-only quantization");
  auto split = data::parse_split(a.calib_split);
  if (!split) return split.status().with_context("--calib-split");
  auto d = open_data(a.calib, *split, a.normalize, model, 0);
  if (!d) return d.status().with_context("--calib");
  quant::CalibrationOptions copts;
  copts.batches = a.calib_batches;
  copts.batch_size = a.batch;
  copts.seed = a.seed;
  copts.threads = a.threads;
  CONDENSE_ASSIGN_OR_RETURN(int64_t layers,
                            quant::bias_correct(prepared, options, *d->dataset, copts));
  fmt::print(stderr, "bias-correct: {} layer(s) corrected\n", layers);
  return Status::ok();
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) fmt::print(stderr, "warning: {}\n", w);
}

int fail_with_hint(const Status& s, std::string hint) {
  std::string msg = s.message();
  const size_t at = msg.find("; hint: ");
  if (at != std::string::npos) {
    if (hint.empty()) hint = msg.substr(at + 8);
    msg = msg.substr(0, at);
  }
  return fail(Status::error(msg), hint);
}

std::string describe_scheme(const quant::QuantizeOptions& o, const std::string& ranges_from) {
  std::string w = fmt::format("{} {}{} weights", quant::quant_dtype_name(o.weights.dtype),
                              quant::granularity_name(o.weights.granularity),
                              o.weights.granularity == quant::Granularity::PerGroup
                                  ? fmt::format(" {}", o.weights.block_size)
                                  : "");
  if (o.mode == quant::Mode::WeightOnly) return fmt::format("weight-only, {}", w);
  if (o.mode == quant::Mode::Dynamic)
    return fmt::format("dynamic, {}, uint8 activations at run time", w);
  return fmt::format(
      "static, {}, {}{} activations ({})", w, quant::quant_dtype_name(o.activations.dtype),
      o.activations.symmetric ? " symmetric" : "",
      ranges_from.empty() ? std::string(quant::method_name(o.activations.method)) : ranges_from);
}

}  // namespace condense::cli
