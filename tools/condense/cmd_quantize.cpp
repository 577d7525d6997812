// condense quantize MODEL -o OUT [--mode static|dynamic|weight-only] [--calib SPEC | --calib-table
// FILE] [--method M] [--per-channel] [--bits 8|4] [--group N] [--reduce-range] [--exclude REGEX]
// [--recipe FILE] [--dtype fp16|bf16] [--format qdq|qoperator] [calibration options]
//
// Writes the quantized model as ONNX: QDQ (QuantizeLinear/DequantizeLinear) at opset 13, or
// opset 21 where int4 or blocked weights need it; static with --format qoperator as QLinearConv /
// QLinearMatMul / com.microsoft QLinearAdd (the graph condense runs on its integer kernels);
// dynamic mode as DynamicQuantizeLinear + MatMulInteger; --dtype as fp16 (opset 13) or bf16 (opset
// 22) with Cast nodes at the edges. The output passes the ONNX checker where its opset allows,
// re-imports, and is written atomically, never over the input.
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/quant.h>
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "common.h"
#include "quant_common.h"
#include "train_common.h"

namespace condense::cli {

namespace {

struct QuantizeArgs : QuantArgs {
  std::string calib_table, dtype, format = "qdq";
};

// Serializes, checks (ONNX checker where its opset allows; condense's own importer always) and
// writes `g` atomically. Returns the bytes written.
Result<size_t> write_model(const ir::Graph& g, const std::string& path, const std::string& input) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, onnx::export_bytes(g));
  auto again = onnx::import_bytes(bytes, ".");
  if (!again)
    return again.status().with_context("internal: the quantized model does not re-import");
  if (again->opset_imports[""] <= onnx::checker_max_opset())
    CONDENSE_TRY(onnx::check_model_bytes(bytes).with_context("internal: the quantized model"));
  CONDENSE_TRY(write_file_atomic(path, bytes, input));
  return bytes.size();
}

std::string size_str(double bytes) {
  if (bytes >= 1e6) return fmt::format("{:.2f} MB", bytes / 1e6);
  return fmt::format("{:.1f} kB", bytes / 1e3);
}

int run_dtype(const QuantizeArgs& a, ir::Graph model) {
  DType dt;
  if (a.dtype == "fp16" || a.dtype == "f16" || a.dtype == "float16")
    dt = DType::F16;
  else if (a.dtype == "bf16" || a.dtype == "bfloat16")
    dt = DType::BF16;
  else
    return fail(Status::errorf("--dtype '{}' is not fp16 or bf16", a.dtype));
  if (!a.mode.empty() || !a.calib.empty() || !a.calib_table.empty() || a.bits || a.group ||
      a.per_channel || !a.weights.empty() || !a.recipe.empty())
    return fail(
        Status::error("--dtype converts to fp16/bf16 and does not combine with integer "
                      "quantization options (--mode, --calib, --calib-table, --bits, "
                      "--group, --per-channel, --weights, --recipe)"));
  auto r = quant::convert_float(std::move(model), dt, a.exclude);
  if (!r) return fail_with_hint(r.status());
  print_warnings(r->warnings);
  auto written = write_model(r->graph, a.output, a.model);
  if (!written) return fail(written.status());
  const double before = static_cast<double>(std::filesystem::file_size(a.model));
  std::string kept;
  for (size_t i = 0; i < r->kept_f32.size() && i < 8; ++i)
    kept += fmt::format("{}{}", i ? ", " : " (", r->kept_f32[i]);
  if (!kept.empty()) kept += r->kept_f32.size() > 8 ? ", ...)" : ")";
  fmt::print(
      "wrote {}: {} compute, {} node(s) kept in f32{}; {} -> {} ({:.2f}x smaller), opset {}\n",
      a.output, a.dtype, r->kept_f32.size(), kept, size_str(before), size_str(double(*written)),
      before / double(*written), r->opset);
  return 0;
}

int run_quantize(const QuantizeArgs& a) {
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  if (same_file(a.output, a.model))
    return fail(Status::errorf("-o '{}' is the input model; write the result elsewhere", a.output));
  if (!a.calib_table.empty() && same_file(a.output, a.calib_table))
    return fail(
        Status::errorf("-o '{}' is the calibration table; write the model elsewhere", a.output));
  if (a.format != "qdq" && a.format != "qoperator")
    return fail(Status::errorf("--format '{}' is not qdq or qoperator", a.format));
  if (!a.dtype.empty() && a.format != "qdq")
    return fail(Status::error("--format qoperator is for static int8 quantization, not --dtype"));
  if (!a.dtype.empty()) return run_dtype(a, std::move(*model));

  auto options = build_quantize_options(a);
  if (!options) return fail_with_hint(options.status());
  const bool is_static = options->mode == quant::Mode::Static;
  if (!is_static && (!a.calib.empty() || !a.calib_table.empty()))
    return fail(
        Status::errorf("--mode {} needs no calibration (--calib / --calib-table are for "
                       "static quantization)",
                       quant::mode_name(options->mode)));
  if (is_static && !a.calib.empty() && !a.calib_table.empty())
    return fail(
        Status::error("give --calib (calibrate now) or --calib-table (a table from "
                      "condense calibrate), not both"));
  if (!is_static && a.format != "qdq")
    return fail(Status::errorf("--format {} needs --mode static (got --mode {})", a.format,
                               quant::mode_name(options->mode)));
  if (is_static && a.calib.empty() && a.calib_table.empty())
    return fail(Status::error("static quantization needs calibration: --calib SPEC (data) or "
                              "--calib-table FILE (from condense calibrate)"),
                "--mode dynamic or --mode weight-only need no calibration data");

  ir::Graph original_meta;  // the model's metadata (recorded normalization) for open_data
  original_meta.metadata = model->metadata;
  auto prepared = quant::prepare(std::move(*model), *options);
  if (!prepared) return fail_with_hint(prepared.status());

  Status pre = run_prepasses(a, original_meta, *prepared, *options);
  if (!pre) return fail_with_hint(pre);
  std::optional<quant::CalibrationTable> table;
  std::string normalize;
  if (!a.calib_table.empty()) {
    auto text = read_file(a.calib_table);
    if (!text) return fail(text.status().with_context("--calib-table"));
    auto t = quant::parse_calibration_table(*text);
    if (!t) return fail(t.status().with_context(fmt::format("--calib-table '{}'", a.calib_table)));
    table = std::move(*t);
  } else if (is_static) {
    auto t = run_calibration(a, original_meta, *prepared, *options, &normalize);
    if (!t) return fail_with_hint(t.status());
    print_warnings(t->warnings);
    table = std::move(*t);
  }

  auto q = quant::quantize(std::move(*prepared), *options, table ? &*table : nullptr);
  if (!q) return fail_with_hint(q.status());
  print_warnings(q->warnings);
  const std::string ranges_from =
      a.calib_table.empty() ? "" : fmt::format("ranges from {}", a.calib_table);
  q->graph.metadata["condense.quantization"] = describe_scheme(*options, ranges_from);
  if (!normalize.empty()) q->graph.metadata[kNormalizeKey] = normalize;
  std::string qoperator_note;
  if (a.format == "qoperator") {
    auto lowered = quant::to_qoperator(std::move(q->graph));
    if (!lowered) return fail(lowered.status().with_context("lowering to QOperator form"));
    q->graph = std::move(lowered->graph);
    qoperator_note = fmt::format("; QOperator form: {} integer node(s)", lowered->lowered.size());
    if (!lowered->left_in_float.empty()) {
      std::string names;
      for (size_t i = 0; i < lowered->left_in_float.size() && i < 6; ++i)
        names += fmt::format("{}{}", i ? ", " : "", lowered->left_in_float[i]);
      if (lowered->left_in_float.size() > 6) names += ", ...";
      qoperator_note += fmt::format(", {} kept in QDQ form with float compute ({})",
                                    lowered->left_in_float.size(), names);
    }
  }
  auto written = write_model(q->graph, a.output, a.model);
  if (!written) return fail(written.status());
  const double before = static_cast<double>(std::filesystem::file_size(a.model));
  fmt::print(
      "wrote {}: {}; {} node(s) quantized, {} excluded; {} -> {} ({:.2f}x smaller), "
      "opset {}{}\n",
      a.output, describe_scheme(*options, ranges_from), q->quantized.size(), q->excluded.size(),
      size_str(before), size_str(double(*written)), before / double(*written), q->opset,
      qoperator_note);
  return 0;
}

}  // namespace

Command make_quantize_command() {
  return {"quantize", [](CLI::App& app) {
            auto a = std::make_shared<QuantizeArgs>();
            auto* c = app.add_subcommand(
                "quantize", "quantize a float model (static QDQ, dynamic, weight-only, fp16/bf16)");
            c->add_option("model", a->model, "float model (.onnx)")->required();
            c->add_option("-o,--output", a->output, "quantized model (.onnx)")->required();
            c->add_option("--mode", a->mode, "static (default), dynamic, weight-only");
            c->add_option("--calib-table", a->calib_table,
                          "calibration table from condense calibrate (static)")
                ->check(CLI::ExistingFile);
            c->add_option("--dtype", a->dtype,
                          "fp16 or bf16: convert weights and compute instead of int quantization");
            c->add_option("--format", a->format,
                          "static: qdq (default; Quantize/DequantizeLinear around float ops) or "
                          "qoperator (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, ...)");
            add_calibration_options(c, *a, false);
            add_scheme_options(c, *a);
            return [a] { return run_quantize(*a); };
          }};
}

}  // namespace condense::cli
