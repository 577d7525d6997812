// Quantized models condense writes, run in ONNX Runtime (onnxruntime-node via
// tests/interop/ort_run.js) and in condense (the exported file re-imported), on the same seeded
// input. ORT executes the QDQ graph with its integer kernels (QLinearConv, QGemm, MatMulInteger,
// ...), condense lowers it the same way at load (passes/lower_qdq.cpp) and runs its integer
// kernels (what it cannot lower: Q/DQ reference kernels around float ops); QOperator exports
// (to_qoperator) run as they are in both. The outputs must agree within one
// quantization step of the output (its DequantizeLinear scale) on each element, which holds when
// both round and saturate as ONNX specifies. Skipped (with the reason) without node or
// onnxruntime-node.
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/quant.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "../quant_test_util.h"
#include "ort_util.h"

namespace fs = std::filesystem;
using namespace condense;
using namespace condense::quant;
using namespace condense::quant_test;

namespace {

// The scale of the DequantizeLinear producing graph output 0, or 0 when it is not one.
float output_step(const ir::Graph& g) {
  const ir::Node* p = g.outputs[0]->producer;
  if (!p || p->op != OpKind::DequantizeLinear || !p->inputs[1]->is_constant()) return 0;
  return p->inputs[1]->constant->data<float>()[0];
}

struct Case {
  std::string name;
  std::function<Result<ir::Graph>()> make;  // the quantized (or converted) graph
  // Tolerance: `steps` output quantization steps (QDQ outputs), else rtol on max |output|.
  double steps = 1.0;
  double rtol = 0;
  Shape input{16, 3, 8, 8};
  std::string needs = "";  // a data file the case needs (skipped without it)
};

std::string data_path(const std::string& rel) {
  return (fs::path(CONDENSE_DATA_DIR) / rel).string();
}

Result<ir::Graph> static_model(QuantizeOptions o, ir::Graph model = small_cnn(3),
                               Shape sample = {3, 8, 8}) {
  o.quantize_outputs = true;  // compare in units of the output's quantization step
  o.op_types = {"Conv", "Gemm", "MatMul", "Add"};  // the logits come from the bias Add
  CONDENSE_ASSIGN_OR_RETURN(ir::Graph p, prepare(std::move(model), o));
  auto ds = random_dataset(64, 9, sample);
  CONDENSE_ASSIGN_OR_RETURN(CalibrationTable t,
                            calibrate(p, o, *ds, {.batches = 4, .batch_size = 16, .threads = 1}));
  CONDENSE_ASSIGN_OR_RETURN(QuantizeResult q, quantize(std::move(p), o, &t));
  return std::move(q.graph);
}

Result<ir::Graph> plain_quantize(QuantizeOptions o) {
  CONDENSE_ASSIGN_OR_RETURN(ir::Graph p, prepare(small_cnn(3), o));
  CONDENSE_ASSIGN_OR_RETURN(QuantizeResult q, quantize(std::move(p), o));
  return std::move(q.graph);
}

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"static_u8_per_tensor", [] { return static_model({}); }});
  c.push_back({"static_u8_per_channel_entropy", [] {
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 o.activations.method = Method::Entropy;
                 return static_model(o);
               }});
  c.push_back({"static_s8s8_symmetric", [] {
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 o.activations.dtype = DType::I8;
                 o.activations.symmetric = true;
                 return static_model(o);
               }});
  c.push_back({"static_reduce_range", [] {
                 QuantizeOptions o;
                 o.weights.reduce_range = true;
                 return static_model(o);
               }});
  c.push_back({"static_int4_weights_opset21", [] {
                 QuantizeOptions o;
                 o.weights = {DType::I4, true, Granularity::PerChannel};
                 return static_model(o);
               }});
  c.push_back({"weight_only_int4_block32",
               [] {
                 QuantizeOptions o;
                 o.mode = Mode::WeightOnly;
                 o.weights = {DType::I4, true, Granularity::PerGroup, 32};
                 return plain_quantize(o);
               },
               0, 1e-4});
  c.push_back({"weight_only_uint4_block16",
               [] {
                 QuantizeOptions o;
                 o.mode = Mode::WeightOnly;
                 o.weights = {DType::U4, false, Granularity::PerGroup, 16};
                 return plain_quantize(o);
               },
               0, 1e-4});
  c.push_back({"dynamic_per_channel",
               [] {
                 QuantizeOptions o;
                 o.mode = Mode::Dynamic;
                 o.weights.granularity = Granularity::PerChannel;
                 return plain_quantize(o);
               },
               0, 1e-4});
  c.push_back({"fp16",
               []() -> Result<ir::Graph> {
                 CONDENSE_ASSIGN_OR_RETURN(FloatCastResult r,
                                           convert_float(small_cnn(3), DType::F16));
                 return std::move(r.graph);
               },
               0, 2e-3});
  // A real network: 19 convolutions and 9 residual Adds (quantized too) deep.
  const std::string r20 = data_path("models/resnet20-cifar10/resnet20.onnx");
  c.push_back({"resnet20_static_per_channel",
               [r20]() -> Result<ir::Graph> {
                 CONDENSE_ASSIGN_OR_RETURN(ir::Graph m, onnx::import_file(r20));
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 return static_model(o, std::move(m), {3, 32, 32});
               },
               1.0, 0, Shape{8, 3, 32, 32}, r20});
  // QOperator form (--format qoperator): QLinearConv / QLinearMatMul / com.microsoft QLinearAdd,
  // as condense runs it on its integer kernels; ORT runs the same ops.
  auto qoperator = [](Result<ir::Graph> qdq) -> Result<ir::Graph> {
    if (!qdq) return qdq.status();
    CONDENSE_ASSIGN_OR_RETURN(QOperatorResult r, to_qoperator(std::move(*qdq)));
    if (r.lowered.empty()) return Status::error("nothing was lowered to QOperator form");
    return std::move(r.graph);
  };
  c.push_back({"qoperator_u8_per_channel", [qoperator] {
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 return qoperator(static_model(o));
               }});
  c.push_back({"qoperator_s8s8_symmetric", [qoperator] {
                 QuantizeOptions o;
                 o.activations.dtype = DType::I8;
                 o.activations.symmetric = true;
                 return qoperator(static_model(o));
               }});
  c.push_back({"qoperator_resnet20_per_channel",
               [r20, qoperator]() -> Result<ir::Graph> {
                 CONDENSE_ASSIGN_OR_RETURN(ir::Graph m, onnx::import_file(r20));
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 return qoperator(static_model(o, std::move(m), {3, 32, 32}));
               },
               1.0, 0, Shape{8, 3, 32, 32}, r20});
  // As `condense quantize --per-channel --format qoperator` writes it: float logits from a QGemm
  // with f32 output (its input and weights int8). Tolerance relative to the largest logit: the
  // runtimes may round an intermediate activation one step apart.
  c.push_back({"qoperator_resnet20_float_logits",
               [r20, qoperator]() -> Result<ir::Graph> {
                 CONDENSE_ASSIGN_OR_RETURN(ir::Graph m, onnx::import_file(r20));
                 QuantizeOptions o;
                 o.weights.granularity = Granularity::PerChannel;
                 CONDENSE_ASSIGN_OR_RETURN(ir::Graph p, prepare(std::move(m), o));
                 auto ds = random_dataset(64, 9, {3, 32, 32});
                 CONDENSE_ASSIGN_OR_RETURN(
                     CalibrationTable t,
                     calibrate(p, o, *ds, {.batches = 4, .batch_size = 16, .threads = 1}));
                 CONDENSE_ASSIGN_OR_RETURN(QuantizeResult q, quantize(std::move(p), o, &t));
                 return qoperator(std::move(q.graph));
               },
               0, 0.02, Shape{8, 3, 32, 32}, r20});
  return c;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class QuantOrt : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(QuantOrt, MatchesOnnxRuntimeWithinOneStep) {
  const Case& c = GetParam();
  // ONNX Runtime runs weight-only MatMuls in f32 (MatMulNBits, accuracy_level 0); condense's
  // default weight-only kernel quantizes activations to int8 per block (its error is bounded in
  // tests/quant/lowbit_matmul_test.cpp). Compare like with like: the exact-f32 kernel.
  setenv("CONDENSE_WEIGHT_ONLY_EXACT", "1", 1);
  if (!c.needs.empty() && !fs::exists(c.needs)) GTEST_SKIP() << "test data not found: " << c.needs;
  if (node_executable().empty()) GTEST_SKIP() << "node (Node.js) not found";
  if (!fs::exists(ort_package()))
    GTEST_SKIP() << "onnxruntime-node not installed at " << ort_package().string()
                 << ": run `cd bench/peers && npm install --ignore-scripts`";
  Scratch scratch(c.name);
  auto g = c.make();
  ASSERT_TRUE(g) << g.status().message();
  auto bytes = onnx::export_bytes(*g);
  ASSERT_TRUE(bytes) << bytes.status().message();
  const std::string model = (scratch.dir / "model.onnx").string();
  ASSERT_TRUE(write_file_atomic(model, *bytes));
  auto imported = onnx::import_bytes(*bytes);
  ASSERT_TRUE(imported) << imported.status().message();
  const float step = output_step(*imported);

  Tensor x = random_tensor(c.input, 1.0f, 4242, 0.2f);
  const std::string input = (scratch.dir / "input_0.pb").string();
  ASSERT_TRUE(onnx::write_tensor_pb(input, x, "input"));
  Tensor ours = run1(std::move(*imported), x);
  int code = 0;
  auto ort = run_ort(model, input, scratch.dir / "ort", &code);
  if (code == 77) GTEST_SKIP() << ort.status().message();
  ASSERT_TRUE(ort) << ort.status().message();
  ASSERT_EQ(ort->size(), 1u);
  const Tensor& theirs = (*ort)[0];
  ASSERT_EQ(theirs.shape(), ours.shape());
  double scale = 0, worst = 0;
  int64_t off_by_step = 0;
  for (int64_t i = 0; i < ours.numel(); ++i) scale = std::max(scale, std::abs(theirs.get_f64(i)));
  for (int64_t i = 0; i < ours.numel(); ++i) {
    const double d = std::abs(ours.get_f64(i) - theirs.get_f64(i));
    worst = std::max(worst, d);
    off_by_step += step > 0 && d > 0.5 * step;
  }
  if (c.steps > 0) {
    ASSERT_GT(step, 0) << "the output is not a DequantizeLinear output";
    EXPECT_LE(worst, c.steps * step * 1.001)
        << "max |condense - ORT| = " << worst / step << " steps";
  } else {
    EXPECT_LE(worst, c.rtol * scale)
        << "max |condense - ORT| " << worst << ", output scale " << scale;
  }
  std::printf("%s: max |condense - ORT| %.3g (%s); %lld of %lld outputs differ by a step\n",
              c.name.c_str(), worst,
              step > 0 ? fmt::format("{:.2f} steps of {:.3g}", worst / step, step).c_str()
                       : fmt::format("output scale {:.3g}", scale).c_str(),
              static_cast<long long>(off_by_step), static_cast<long long>(ours.numel()));
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantOrt, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });
