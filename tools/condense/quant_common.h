// What `condense calibrate` and `condense quantize` share: the quantization scheme options, the
// calibration-data options, running calibration with progress, and error/hint splitting.
#pragma once

#include <condense/quant.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace condense::cli {

struct QuantArgs {
  std::string model, output;
  // Scheme (empty / 0 / false: not given; the recipe's or the default value stands).
  std::string mode, method, weights, activations, recipe;
  std::optional<double> percentile;
  int bits = 0;
  int64_t group = 0;
  bool per_channel = false, reduce_range = false, symmetric_activations = false;
  bool quantize_outputs = false;
  bool equalize = false, bias_correct = false;  // pre-passes (need --calib for bias correction)
  std::vector<std::string> exclude, op_types;
  // Calibration data.
  std::string calib, calib_split = "train", normalize;
  int64_t calib_batches = 32, batch = 32;
  uint64_t seed = 0;
  int threads = 0;
};

// Adds the scheme options (--method, --per-channel, --bits, --group, --weights, --activations,
// --symmetric-activations, --reduce-range, --exclude, --op-types, --recipe, --quantize-outputs)
// and the calibration options (--calib, --calib-batches, --batch, --calib-split, --normalize,
// --seed, --threads).
void add_scheme_options(CLI::App* c, QuantArgs& a);
void add_calibration_options(CLI::App* c, QuantArgs& a, bool calib_required);

// Defaults, then the recipe (--recipe), then the flags given.
Result<quant::QuantizeOptions> build_quantize_options(const QuantArgs& a);

// Opens --calib (train split by default) and runs calibration with a progress line on stderr.
Result<quant::CalibrationTable> run_calibration(const QuantArgs& a, const ir::Graph& model,
                                                const ir::Graph& prepared,
                                                const quant::QuantizeOptions& options,
                                                std::string* normalize_used);

// --equalize and --bias-correct on the prepared model, before calibration, with a note on stderr.
// Bias correction needs --calib (calibration data).
Status run_prepasses(const QuantArgs& a, const ir::Graph& model, ir::Graph& prepared,
                     const quant::QuantizeOptions& options);

// Prints "warning: <text>" lines to stderr.
void print_warnings(const std::vector<std::string>& warnings);

// fail() for library errors that carry "...; hint: <hint>": the hint goes on its own line.
int fail_with_hint(const Status& s, std::string hint = "");

// "static, int8 per-channel weights, uint8 activations (entropy)"; `ranges_from` replaces the
// method in parentheses (e.g. "ranges from calib.json").
std::string describe_scheme(const quant::QuantizeOptions& o, const std::string& ranges_from = "");

}  // namespace condense::cli
