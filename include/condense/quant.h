// Post-training quantization: quantization-parameter math (ONNX QuantizeLinear semantics),
// streaming calibration observers, the calibration table, per-layer recipes, and the passes that
// rewrite a float graph into ONNX QDQ form (static), DynamicQuantizeLinear + MatMulInteger
// (dynamic), weight-only DequantizeLinear (int8 / int4, per-channel or blocked), or fp16 / bf16.
// What `condense calibrate` and `condense quantize` run, as a library.
//
//   using namespace condense;
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph model, onnx::import_file("resnet20.onnx"));
//   quant::QuantizeOptions qopts;                        // static, u8 activations, i8 weights
//   qopts.weights.granularity = quant::Granularity::PerChannel;
//   qopts.activations.method = quant::Method::Entropy;
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph prepared, quant::prepare(std::move(model), qopts));
//   quant::CalibrationOptions copts{.batches = 32, .batch_size = 32};
//   CONDENSE_ASSIGN_OR_RETURN(quant::CalibrationTable table,
//                             quant::calibrate(prepared, qopts, *calib_set, copts));
//   fmt::print("{}", quant::calibration_table_to_json(table));   // readable, editable
//   CONDENSE_ASSIGN_OR_RETURN(quant::QuantizeResult q,
//                             quant::quantize(std::move(prepared), qopts, &table));
//   CONDENSE_TRY(onnx::export_file(q.graph, "resnet20.int8.onnx"));  // QDQ, opset 13
//
// Numerics follow the ONNX specification of QuantizeLinear / DequantizeLinear:
//   q = saturate(round_half_to_even(x / scale) + zero_point),  x' = (q - zero_point) * scale
// with x / scale computed in f32, exactly as condense's reference kernels do, so the fake-quant
// graph that condense runs and an integer runtime agree on every quantized value.
#pragma once

#include <condense/data.h>
#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace condense::quant {

// ---- schemes ------------------------------------------------------------------------------------

enum class Mode { Static, Dynamic, WeightOnly };
// Calibration methods: min-max, moving-average min-max, percentile of |x|, entropy (KL
// divergence, TensorRT's calibrator), MSE-optimal clipping.
enum class Method { MinMax, Ema, Percentile, Entropy, Mse };
// Weight granularity: one scale per tensor, per output channel (the op's channel axis), or per
// block of `block_size` consecutive elements along the reduction axis (ONNX opset 21 blocked
// DequantizeLinear).
enum class Granularity { PerTensor, PerChannel, PerGroup };

Result<Mode> parse_mode(std::string_view text);  // static | dynamic | weight-only
std::string_view mode_name(Mode m);
Result<Method> parse_method(std::string_view text);  // minmax | ema | percentile | entropy | mse
std::string_view method_name(Method m);
Result<Granularity> parse_granularity(
    std::string_view text);  // per-tensor | per-channel | per-group
std::string_view granularity_name(Granularity g);
// int8 | uint8 | int4 | uint4 (also i8, u8, i4, u4).
Result<DType> parse_quant_dtype(std::string_view text);
// "int8", "uint8", "int4", "uint4" (the words the CLI and the JSON files use); other dtypes by
// dtype_name().
std::string_view quant_dtype_name(DType t);

struct WeightScheme {
  DType dtype = DType::I8;  // I8, U8, I4 or U4
  bool symmetric = true;    // zero point 0 (int) / the middle (uint); U4 and U8 default asymmetric
  Granularity granularity = Granularity::PerTensor;
  int64_t block_size = 128;   // PerGroup only
  bool reduce_range = false;  // 7-bit weights: int8 in [-64, 63] ([-63, 63] symmetric)
};

struct ActivationScheme {
  DType dtype = DType::U8;  // U8 or I8, per tensor
  bool symmetric = false;
  Method method = Method::MinMax;
  double percentile = 99.99;  // Method::Percentile: of |x|, in (0, 100]
};

// Per-layer settings, matched against node names (a regex that must match the whole name; a
// plain name matches itself). Later overrides win over earlier ones; unset fields keep the
// global setting. An activation tensor takes the settings of the first node in graph order that
// quantizes it (its producer when the producer is quantized).
struct LayerOverride {
  std::string match;
  bool exclude = false;
  std::optional<DType> weight_dtype;
  std::optional<bool> weight_symmetric;
  std::optional<Granularity> granularity;
  std::optional<int64_t> block_size;
  std::optional<bool> reduce_range;
  std::optional<DType> activation_dtype;
  std::optional<bool> activation_symmetric;
  std::optional<Method> method;
  std::optional<double> percentile;
};

struct QuantizeOptions {
  Mode mode = Mode::Static;
  ActivationScheme activations;
  WeightScheme weights;
  // Op types to quantize; empty: the mode's defaults (static and weight-only: Conv, Gemm,
  // MatMul; dynamic: MatMul, Gemm). Static also takes Add and Mul (inputs and output quantized).
  std::vector<std::string> op_types;
  std::vector<std::string> exclude;  // node-name regexes (whole-name match) left in float
  std::vector<LayerOverride> overrides;
  // Also quantize activations that are graph outputs (the logits). Off by default: a quantized
  // logit grid turns near-ties into wrong top-1 answers and gains nothing.
  bool quantize_outputs = false;
  int64_t histogram_bins = 2048;  // per sign: |x| resolution of histogram methods
  double ema_constant = 0.01;     // Method::Ema: weight of each new batch (PyTorch's default)
};

// Applies a JSON recipe on top of `base` (see docs/quantization.md for the format):
//   {"mode": "static", "method": "entropy", "percentile": 99.99,
//    "activations": {"dtype": "uint8", "symmetric": false},
//    "weights": {"dtype": "int8", "symmetric": true, "granularity": "per-channel",
//                "block_size": 128, "reduce_range": false},
//    "op_types": ["Conv", "Gemm", "MatMul"], "exclude": ["fc", "layer3\\..*"],
//    "quantize_outputs": false,
//    "overrides": [{"match": "conv1", "weights": {"dtype": "int8"},
//                   "activations": {"method": "percentile", "percentile": 99.9}},
//                  {"match": "fc2", "exclude": true}]}
// Unknown keys, wrong types and bad values are errors naming the key.
Result<QuantizeOptions> parse_recipe(std::string_view json, QuantizeOptions base = {});
// Checks option combinations (dtype per mode, block sizes, percentile range, regexes).
Status validate_options(const QuantizeOptions& options);

// ---- quantization parameters --------------------------------------------------------------------

// The integer range [lo, hi] a scheme quantizes into: the dtype's range, restricted to
// [-(2^(b-1) - 1), 2^(b-1) - 1] for symmetric signed types (so -x is representable, as ONNX
// Runtime's quantizer does), and to 7 bits with reduce_range (8-bit types only).
struct IntRange {
  int32_t lo = 0, hi = 0;
};
IntRange quant_range(DType dtype, bool symmetric, bool reduce_range);

struct ScaleZp {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
// The smallest scale compute_scale_zp returns (f32 epsilon, as PyTorch's observers clamp).
inline constexpr float kMinScale = 1.1920929e-07f;
// Scale and zero point for real range [lo, hi], ONNX Runtime's and PyTorch's rule: the range is
// widened to include 0; symmetric uses [-a, a] with a = max(|lo|, |hi|);
//   scale = (hi - lo) / (r.hi - r.lo)   (in f32, at least kMinScale)
//   zero_point = saturate(r.lo - round_half_to_even(lo / scale))
// A range of [0, 0] (an all-zero tensor) gets scale 1. lo <= hi and both finite (asserted).
ScaleZp compute_scale_zp(float lo, float hi, IntRange r, bool symmetric);
// saturate(round_half_to_even(x / scale) + zero_point) into r, x / scale in f32 (NaN -> zp).
int32_t quantize_value(float x, float scale, int32_t zero_point, IntRange r);

// A quantized constant: what a DequantizeLinear node takes.
struct QuantizedTensor {
  Tensor q;           // dtype of the scheme, the float tensor's shape
  Tensor scale;       // f32: () per tensor, (D_axis) per channel, blocked: the input's shape
                      // with ceil(D_axis / block_size) on the axis
  Tensor zero_point;  // same shape as scale, dtype of q
  int64_t axis = -1;  // -1: per tensor
  int64_t block_size = 0;
};
// Quantizes a float weight with `scheme`: per channel along `channel_axis`, per group along
// `block_axis`. Errors: non-float or non-finite values (naming `name` and the element), an axis
// out of range.
Result<QuantizedTensor> quantize_weight(const Tensor& w, const WeightScheme& scheme,
                                        int64_t channel_axis, int64_t block_axis,
                                        std::string_view name);
// (q - zero_point) * scale as f32, the DequantizeLinear of `t`.
Tensor dequantize(const QuantizedTensor& t);

// ---- observers ----------------------------------------------------------------------------------

struct ObserverOptions {
  Method method = Method::MinMax;
  int64_t bins = 2048;  // histogram methods: bins per sign over [-amax, amax] (2 * bins)
  double percentile = 99.99;
  double ema_constant = 0.01;
  // The quantizer the range is for (entropy: its levels; mse: the error it simulates).
  DType dtype = DType::U8;
  bool symmetric = false;
};

struct ObservedRange {
  float min = 0, max = 0;  // observed over every element of every batch
  float lo = 0, hi = 0;    // the range the method chose, within [min, max] widened to 0
  int64_t count = 0;       // elements observed (in the first pass)
};

// Streams activations batch by batch. Memory is O(bins), independent of the number of batches:
// nothing observed is kept. Min-max and EMA need one pass over the data; percentile, entropy and
// MSE need two (the first finds the range, the second fills a histogram over it).
class Observer {
 public:
  virtual ~Observer() = default;
  virtual int passes() const = 0;
  // Call before the first observe() of each pass (0, then 1 for two-pass observers).
  virtual void begin_pass(int pass) = 0;
  // Values of the current batch; a batch may arrive in several pieces (micro-batches). Error on
  // NaN or Inf, naming the first bad element's index.
  virtual Status observe(std::span<const float> x) = 0;
  // Ends the current batch (moving-average min-max updates once per batch; the others ignore it).
  virtual void end_batch() {}
  // The chosen range, after all passes. Error when nothing was observed.
  virtual Result<ObservedRange> finish() const = 0;
  // Bytes held (the bound the calibration-memory test checks).
  virtual size_t memory_bytes() const = 0;
};
std::unique_ptr<Observer> make_observer(const ObserverOptions& options);

// ---- calibration --------------------------------------------------------------------------------

struct TensorCalibration {
  std::string name;  // the activation's value name in the prepared graph
  Method method = Method::MinMax;
  ObservedRange range;
  DType dtype = DType::U8;
  bool symmetric = false;
  ScaleZp qparams;  // of [range.lo, range.hi] with dtype/symmetric
};

struct CalibrationTable {
  std::string model;    // for the reader: what it was made from
  std::string data;     // the dataset's description
  int64_t samples = 0;  // samples observed
  int64_t batches = 0;
  std::vector<TensorCalibration> tensors;  // graph order
  std::vector<std::string> warnings;       // not serialized: constant or all-zero tensors
  const TensorCalibration* find(std::string_view name) const;
};

// JSON, one entry per tensor in graph order:
//   {"format": "condense-calibration", "version": 1, "model": ..., "data": ...,
//    "samples": 1024, "batches": 32,
//    "tensors": {"input": {"method": "entropy", "min": -2.1, "max": 2.6, "range": [-2.1, 2.4],
//                          "dtype": "uint8", "symmetric": false, "scale": 0.0177,
//                          "zero_point": 119}, ...}}
// quantize() reads `range` (edit it to change a tensor's quantization); scale and zero_point are
// what the range gives, for reading.
std::string calibration_table_to_json(const CalibrationTable& table);
Result<CalibrationTable> parse_calibration_table(std::string_view json);

struct CalibrationOptions {
  int64_t batches = 32;     // at most this many batches (fewer when the set is smaller)
  int64_t batch_size = 32;  // a model input with a fixed batch size uses that instead
  // Samples per run of the model (0: the whole batch). Every observed activation of a run is
  // alive at once (they are graph outputs), so runs of 8 keep calibration's peak memory near
  // that of plain inference at batch 32; results do not depend on it (EMA updates per batch).
  int64_t micro_batch = 8;
  uint64_t seed = 0;  // which samples: a seeded shuffle of the set, same seed same samples
  int threads = 0;
  // After every batch: (pass, batches done in this pass, batches per pass, passes).
  std::function<void(int, int64_t, int64_t, int)> on_batch{};
};

// ---- the pipeline -------------------------------------------------------------------------------

// The float model as quantization sees it: Identity/Dropout removed, constants folded, batch
// norms folded into Conv/Gemm, activations fused into their Conv/Gemm/MatMul (so a quantized
// output is the post-activation value). Errors: NaN or Inf in a float initializer, naming it.
Result<ir::Graph> prepare(ir::Graph model, const QuantizeOptions& options);

// Cross-layer equalization (Nagel et al. 2019): for each pair of Conv/Gemm layers where the first
// one's output (through a fused ReLU / LeakyReLU or none) is read only by the second, rescales the
// first one's output channels by 1 / s_i and the second one's input channels by s_i,
// s_i = sqrt(r1_i / r2_i) with r the channels' max |w|, sweeping until no scale moves (at most
// `max_sweeps`). The float model's function is unchanged; per-tensor weight ranges shrink. Run it
// on prepare()'s output, before calibration. Returns the number of layer pairs equalized.
Result<int64_t> equalize(ir::Graph& prepared, int max_sweeps = 100);

// Empirical bias correction (Nagel et al. 2019): for each Conv/Gemm that `options` quantizes,
// subtracts from its bias (adding one when it has none) the per-output-channel mean of
// (W' - W) x over the calibration batches of `dataset` (W' the weight as quantize() will
// quantize it, x the float model's input to the layer). Run it after equalize() and before
// calibration. Returns the number of layers corrected.
Result<int64_t> bias_correct(ir::Graph& prepared, const QuantizeOptions& options,
                             const data::Dataset& dataset, const CalibrationOptions& calibration);

// Runs the float model over `dataset` and observes every activation that static quantization of
// `prepared` with `options` will quantize (graph inputs included). The model needs one float
// input that the samples fit. Errors: an empty set, samples that do not fit, NaN or Inf in an
// activation, an op the options cannot quantize.
Result<CalibrationTable> calibrate(const ir::Graph& prepared, const QuantizeOptions& options,
                                   const data::Dataset& dataset,
                                   const CalibrationOptions& calibration);

struct QuantizeResult {
  ir::Graph graph;
  std::vector<std::string> quantized;  // node names, graph order
  std::vector<std::string> excluded;   // nodes of a quantized op type left in float
  std::vector<std::string> warnings;
  int64_t opset = 13;  // the opset the graph needs (13; 21 for int4 or blocked weights)
};

// Rewrites `prepared` (from prepare()) for options.mode:
//   static:      QuantizeLinear/DequantizeLinear pairs on the activations of Conv/Gemm/MatMul
//                (inputs and outputs), DequantizeLinear of int8/int4 weights, int32 biases
//                with scale = input_scale * weight_scale, zero point 0; `table` required
//   weight-only: DequantizeLinear of quantized weights; activations stay float
//   dynamic:     DynamicQuantizeLinear + MatMulInteger + Cast + Mul for MatMul/Gemm with
//                constant 2-D weights (int8), as ONNX Runtime's dynamic quantizer emits
// Errors name the node and carry a hint to exclude it when the scheme cannot quantize it.
Result<QuantizeResult> quantize(ir::Graph prepared, const QuantizeOptions& options,
                                const CalibrationTable* table = nullptr);

// ---- sensitivity
// ---------------------------------------------------------------------------------

struct SensitivityOptions {
  int64_t batch_size = 256;  // evaluation batch
  int threads = 0;
  // > 0: evaluate on a seeded random sample of this many (0: the whole set, the default).
  int64_t limit = 0;
  uint64_t seed = 0;
  // Top-1 points (0-100) the full quantized model may lose against the float one; the suggested
  // exclusion list is the shortest prefix of the ranking that keeps the drop within it.
  double budget = 1.0;
  // Progress, one line per step ("layer 3/20: conv2").
  std::function<void(const std::string&)> on_step{};
};

struct LayerSensitivity {
  std::string node;     // node name in the prepared graph (what --exclude matches)
  std::string op;       // its op type
  double accuracy = 0;  // top-1 in [0, 1] with only this node quantized
  double drop = 0;      // float top-1 minus that, in points (0-100)
  double sqnr_db = 0;   // output SQNR: 10 log10(sum f^2 / sum (f - q)^2) over all logits
};

struct SensitivityReport {
  int64_t samples = 0;
  double float_accuracy = 0, full_accuracy = 0;  // top-1 in [0, 1]: float, every node quantized
  double full_sqnr_db = 0;
  std::vector<LayerSensitivity> layers;        // ranked: largest drop first, then lowest SQNR
  std::vector<std::string> suggested_exclude;  // node names, in ranking order
  double suggested_accuracy = 0;  // measured: the model quantized with suggested_exclude
};

// Quantizes `prepared` (from prepare()) one node at a time with the ranges of `table` (every
// other node of a quantized op type excluded) and measures, on `eval`, top-1 and the SQNR of the
// first graph output against the float model; then excludes layers in ranking order until the
// full model's drop is within options.budget, measuring each step (the last measurement verifies
// the suggestion). Evaluation samples are decoded once and kept in memory.
Result<SensitivityReport> sensitivity(const ir::Graph& prepared, const QuantizeOptions& options,
                                      const CalibrationTable& table, const data::Dataset& eval,
                                      const SensitivityOptions& sensitivity_options = {});

struct QOperatorResult {
  ir::Graph graph;
  std::vector<std::string> lowered;        // QOperator nodes written (names, graph order)
  std::vector<std::string> left_in_float;  // nodes still computing in float on dequantized inputs
};
// Lowers a static QDQ graph (quantize() output, or ONNX Runtime's QDQ form) to QOperator form,
// exactly as condense does when it loads such a model (passes/lower_qdq.cpp):
//   DQ + DQ(W) [+ DQ(int32 bias)] -> Conv [-> Relu] -> Q  =>  QLinearConv
//   DQ + DQ(B) -> MatMul -> Q                             =>  QLinearMatMul
//   DQ + DQ(B) [+ DQ(int32 C)] -> Gemm [-> Q]             =>  com.microsoft QGemm
//   DQ + DQ -> Add [-> Relu] -> Q                         =>  com.microsoft QLinearAdd
//   DQ -> GlobalAveragePool -> Q                          =>  com.microsoft
//   QLinearGlobalAveragePool
// and Reshape / Flatten / Transpose / Squeeze / Unsqueeze / Slice / MaxPool / Pad on the integer
// tensors. A Relu is lowered where the output's saturation implies it (uint8 zero point 0,
// int8 -128); patterns it cannot lower keep their QDQ form (listed in left_in_float).
Result<QOperatorResult> to_qoperator(ir::Graph qdq);

// Names of the Conv / ConvTranspose / Gemm / MatMul / Add / GlobalAveragePool / AveragePool
// nodes of `g` that read a DequantizeLinear output: quantized data computed in float (fake
// quantization) rather than on integer kernels.
std::vector<std::string> float_nodes_on_dequantized(const ir::Graph& g);

struct FloatCastResult {
  ir::Graph graph;
  std::vector<std::string> kept_f32;  // nodes left in f32 (op not safe in the type, excluded,
                                      // or weights beyond the type's range)
  std::vector<std::string> warnings;
  int64_t opset = 13;  // 13 for fp16; 22 for bf16 (the first opset whose Conv, pooling and
                       // most other ops take bfloat16)
};
// Converts f32 compute to `dtype` (F16 or BF16): weights stored in it, Cast nodes where a value
// crosses between a converted node and an f32 one and at the graph's inputs and outputs (which
// keep f32). `keep_f32`: node-name regexes left in f32, as are ops that are unsafe or unsupported
// in half precision (Resize, TopK, NonMaxSuppression, RoiAlign, Range, CumSum, ...).
Result<FloatCastResult> convert_float(ir::Graph model, DType dtype,
                                      const std::vector<std::string>& keep_f32 = {});

}  // namespace condense::quant
