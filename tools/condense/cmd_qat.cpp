// condense qat MODEL --data SPEC -o OUT [--bits 8|4] [--activation-bits 8] [--activations
// uint8|int8] [--symmetric-activations] [--per-tensor] [--method M] [--calib-batches N]
// [--exclude REGEX] [every `condense train` option but --freeze-bn]
//
// Quantization-aware training: prepares the float model as static quantization does (batch
// norms folded into the convolutions, activations fused), calibrates the activation ranges on
// the training data, inserts FakeQuantize on the weights (per output channel, symmetric), the
// activations (per tensor) and the biases (int32), trains weights and scales (straight-through
// estimator, LSQ) with the training loop of `condense train` (checkpoints, --resume, Ctrl-C), and
// writes a QDQ model with integer weights and the learned scales, atomically.
#include <condense/file.h>
#include <condense/ir_clone.h>
#include <condense/onnx.h>
#include <condense/qat.h>
#include <condense/trainer.h>
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "common.h"
#include "quant_common.h"
#include "train_cli.h"

namespace condense::cli {

namespace {

struct QatArgs : TrainCliArgs {
  int bits = 8, activation_bits = 8;
  std::string activations = "uint8", method = "minmax";
  bool symmetric_activations = false, per_tensor = false;
  int64_t calib_batches = 16;
  std::vector<std::string> exclude;
};

Result<quant::QuantizeOptions> qat_options(const QatArgs& a) {
  if (a.bits != 8 && a.bits != 4)
    return Status::errorf("--bits {}: QAT trains 8-bit or 4-bit weights (int8, int4)", a.bits);
  if (a.activation_bits != 8)
    return Status::errorf(
        "--activation-bits {}: activations are quantized to 8 bits (uint8 or int8); ONNX "
        "runtimes have no 4-bit activation kernels",
        a.activation_bits);
  quant::QuantizeOptions q;
  q.mode = quant::Mode::Static;
  q.weights.dtype = a.bits == 4 ? DType::I4 : DType::I8;
  q.weights.symmetric = true;
  q.weights.granularity =
      a.per_tensor ? quant::Granularity::PerTensor : quant::Granularity::PerChannel;
  auto act = quant::parse_quant_dtype(a.activations);
  if (!act) return act.status().with_context("--activations");
  if (*act != DType::U8 && *act != DType::I8)
    return Status::errorf("--activations {}: activations are uint8 or int8", a.activations);
  q.activations.dtype = *act;
  q.activations.symmetric = a.symmetric_activations;
  auto method = quant::parse_method(a.method);
  if (!method) return method.status().with_context("--method");
  q.activations.method = *method;
  q.exclude = a.exclude;
  CONDENSE_TRY(quant::validate_options(q));
  return q;
}

// Serializes, re-imports, runs the ONNX checker where the opset allows, writes atomically.
Result<size_t> write_checked(const ir::Graph& g, const std::string& path,
                             const std::string& input) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, onnx::export_bytes(g));
  auto again = onnx::import_bytes(bytes, ".");
  if (!again) return again.status().with_context("internal: the QAT model does not re-import");
  if (again->opset_imports[""] <= onnx::checker_max_opset())
    CONDENSE_TRY(onnx::check_model_bytes(bytes).with_context("internal: the QAT model"));
  CONDENSE_TRY(write_file_atomic(path, bytes, input));
  return bytes.size();
}

int run_qat(const QatArgs& a) {
  auto qopts = qat_options(a);
  if (!qopts) return fail_with_hint(qopts.status());
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  auto checkpoint = check_train_paths(a);
  if (!checkpoint) return fail(checkpoint.status());
  auto topts = build_trainer_options(a);
  if (!topts) return fail(topts.status());
  auto data = open_train_data(a, *model);
  if (!data) return fail(data.status());

  auto prepared = quant::prepare(std::move(*model), *qopts);
  if (!prepared) return fail_with_hint(prepared.status());
  quant::CalibrationOptions copts;
  copts.batches = a.calib_batches;
  copts.batch_size = 32;
  copts.seed = a.seed;
  copts.threads = a.threads;
  ProgressLine progress(stderr);
  copts.on_batch = [&](int pass, int64_t done, int64_t total, int passes) {
    progress.update(
        passes > 1 ? fmt::format("calibrate pass {}/{}: batch {}/{}", pass + 1, passes, done, total)
                   : fmt::format("calibrate: batch {}/{}", done, total),
        done == total);
  };
  auto table = quant::calibrate(*prepared, *qopts, *data->train.dataset, copts);
  progress.finish();
  if (!table) return fail_with_hint(table.status());
  print_warnings(table->warnings);
  auto qat = quant::insert_fake_quant(std::move(*prepared), *qopts, *table);
  if (!qat) return fail_with_hint(qat.status());
  print_warnings(qat->warnings);

  std::FILE* log = a.json ? stderr : stdout;
  const std::string scheme = describe_scheme(*qopts, "initial ranges " + a.method);
  fmt::print(log,
             "qat {}: {}; batch norms folded; {} node(s) quantized, {} excluded; FakeQuantize on "
             "{} weight(s), {} activation(s), {} bias(es)\n",
             a.model, scheme, qat->quantized.size(), qat->excluded.size(), qat->weights,
             qat->activations, qat->biases);
  if (data->val && a.resume.empty()) {
    // What post-training quantization with the initial scales gives: the baseline QAT improves.
    ir::Graph initial = ir::clone_graph(qat->graph);
    train::EvalOptions eopts;
    eopts.threads = a.threads;
    eopts.input = a.input;
    eopts.output = a.logits;
    auto before = train::evaluate(std::move(initial), *data->val, eopts);
    if (!before) return fail(before.status());
    fmt::print(log, "before training (the initial scales, as PTQ): val loss {:.4f} top-1 {}\n",
               before->loss, percent(before->accuracy()));
  }
  std::fflush(log);

  // The learned scales stay positive: projected onto [kMinScale, inf) after every step (a tiny
  // per-channel scale can otherwise cross zero in one step).
  topts->clamp_params = "_fq_scale$";
  topts->clamp_min = quant::kMinScale;
  auto trainer = train::Trainer::create(std::move(qat->graph), *topts);
  if (!trainer) return fail(trainer.status());
  train::Trainer& t = **trainer;
  fmt::print(log,
             "train: {} trainable parameters in {} tensors; data {} ({} samples, normalize {})\n",
             t.parameter_count(), t.parameter_names().size(), data->train.dataset->description(),
             data->train.dataset->size(), data->train.normalize);
  std::fflush(log);
  if (auto code = run_fit(t, a, *data, *checkpoint)) return *code;

  auto trained = t.model();
  if (!trained) return fail(trained.status());
  auto exported = quant::export_qat(std::move(*trained));
  if (!exported) return fail_with_hint(exported.status());
  exported->graph.metadata[kNormalizeKey] = data->train.normalize;
  exported->graph.metadata["condense.quantization"] = describe_scheme(*qopts, "QAT");
  auto written = write_checked(exported->graph, a.output, a.model);
  if (!written) return fail(written.status());
  const double before = static_cast<double>(std::filesystem::file_size(a.model));
  fmt::print(log,
             "wrote {}: QDQ, {} node(s) quantized; {:.1f} kB -> {:.1f} kB ({:.2f}x smaller), "
             "opset {}{}\n",
             a.output, exported->quantized.size(), before / 1e3, double(*written) / 1e3,
             before / double(*written), exported->opset,
             checkpoint->empty() ? "" : fmt::format(" (checkpoint {})", *checkpoint));
  return 0;
}

}  // namespace

Command make_qat_command() {
  return {"qat", [](CLI::App& app) {
            auto a = std::make_shared<QatArgs>();
            auto* c = app.add_subcommand(
                "qat",
                "quantization-aware training: fake-quant fine-tuning, exports int8/int4 QDQ");
            add_train_options(c, *a, false);
            c->add_option("--bits", a->bits, "weight bits: 8 (int8) or 4 (int4, W4A8)");
            c->add_option("--activation-bits", a->activation_bits, "activation bits: 8");
            c->add_option("--activations", a->activations, "uint8 (default) or int8");
            c->add_flag("--symmetric-activations", a->symmetric_activations,
                        "activation zero point 0 (int8) / 128 (uint8)");
            c->add_flag("--per-tensor", a->per_tensor,
                        "one weight scale per tensor (default: per output channel)");
            c->add_option("--method", a->method,
                          "initial activation ranges: minmax, ema, percentile, entropy, mse");
            c->add_option("--calib-batches", a->calib_batches,
                          "batches of 32 training samples for the initial ranges")
                ->check(CLI::Range(int64_t{1}, int64_t{100000}));
            c->add_option("--exclude", a->exclude, "node names left in float (regex, repeatable)");
            return [a] { return run_qat(*a); };
          }};
}

}  // namespace condense::cli
