// condense calibrate MODEL --calib SPEC -o calib.json [--calib-batches N] [--batch B]
// [--method minmax|ema|percentile|entropy|mse] [--percentile P] [scheme options]
//
// Runs the float model over calibration batches and writes the calibration table: per
// activation that static quantization will quantize, the observed min and max, the range the
// method chose, and the scale and zero point it gives. Edit it and pass it to
// `condense quantize --calib-table`.
#include <condense/file.h>
#include <condense/quant.h>
#include <fmt/format.h>

#include "commands.h"
#include "common.h"
#include "quant_common.h"

namespace condense::cli {

namespace {

int run_calibrate(const QuantArgs& a) {
  std::string hint;
  auto model = load_model(a.model, &hint);
  if (!model) return fail(model.status(), hint);
  if (same_file(a.output, a.model))
    return fail(Status::errorf("-o '{}' is the input model; write the table elsewhere", a.output));
  auto options = build_quantize_options(a);
  if (!options) return fail_with_hint(options.status());
  if (options->mode != quant::Mode::Static)
    return fail(Status::errorf("calibration is for static quantization, not --mode {}",
                               quant::mode_name(options->mode)),
                "dynamic and weight-only quantization need no calibration");
  ir::Graph original_meta;  // the model's metadata (recorded normalization) for open_data
  original_meta.metadata = model->metadata;
  auto prepared = quant::prepare(std::move(*model), *options);
  if (!prepared) return fail_with_hint(prepared.status());
  Status pre = run_prepasses(a, original_meta, *prepared, *options);
  if (!pre) return fail_with_hint(pre);
  std::string normalize;
  auto table = run_calibration(a, original_meta, *prepared, *options, &normalize);
  if (!table) return fail_with_hint(table.status());
  table->model = a.model;
  print_warnings(table->warnings);
  Status w = write_file_atomic(a.output, quant::calibration_table_to_json(*table), a.model);
  if (!w) return fail(w);
  fmt::print(
      "wrote {}: {} activations calibrated on {} samples ({} batches, method {}, "
      "normalize {})\n",
      a.output, table->tensors.size(), table->samples, table->batches,
      quant::method_name(options->activations.method), normalize);
  return 0;
}

}  // namespace

Command make_calibrate_command() {
  return {"calibrate", [](CLI::App& app) {
            auto a = std::make_shared<QuantArgs>();
            auto* c = app.add_subcommand(
                "calibrate", "observe activation ranges on calibration data (a JSON table)");
            c->add_option("model", a->model, "float model (.onnx)")->required();
            c->add_option("-o,--output", a->output, "calibration table (.json)")->required();
            add_calibration_options(c, *a, true);
            add_scheme_options(c, *a);
            return [a] { return run_calibrate(*a); };
          }};
}

}  // namespace condense::cli
