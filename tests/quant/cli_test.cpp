// `condense calibrate` and `condense quantize` end to end on a small CNN and an npz data set:
// every mode, the calibration table fed back, a recipe, and bad input (one `error:` line, at most
// a `hint:` line, a non-zero exit, no output file).
#include <condense/file.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli_fixture.h"
#include "quant_test_util.h"

namespace fs = std::filesystem;
using namespace condense;
using namespace condense::quant_test;

namespace {

class QuantCli : public CliFixture {
 protected:
  QuantCli() : CliFixture("condense_quant_cli", 40) {}

  // The model at `file` imports and runs on a batch of 2.
  void expect_runs(const std::string& file) const {
    auto g = onnx::import_file(file);
    ASSERT_TRUE(g) << g.status().message();
    Tensor y = run1(std::move(*g), random_tensor({2, 3, 8, 8}, 1.0f, 1));
    EXPECT_EQ(y.shape(), (Shape{2, 10}));
  }
};

// Exit != 0, stderr "error: ..." plus at most "hint: ...", every word in the error line, and
// `output` not written.
void expect_clean_error(const CliRun& r, const std::string& output,
                        std::initializer_list<std::string_view> words, std::string_view hint = "") {
  EXPECT_NE(r.rc, 0) << r.out << r.err;
  EXPECT_LT(r.rc, 128) << "killed by a signal: " << r.err;
  std::vector<std::string> lines;
  std::stringstream ss(r.err);
  for (std::string l; std::getline(ss, l);)
    if (l.rfind("calibrate", 0) != 0) lines.push_back(l);  // progress lines
  ASSERT_GE(lines.size(), 1u) << "no error message";
  EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << r.err;
  EXPECT_LE(lines.size(), 2u) << r.err;
  if (lines.size() == 2) {
    EXPECT_EQ(lines[1].rfind("hint: ", 0), 0u) << r.err;
  }
  for (auto w : words)
    EXPECT_NE(lines[0].find(w), std::string::npos) << "missing '" << w << "' in: " << r.err;
  if (!hint.empty()) {
    ASSERT_EQ(lines.size(), 2u) << r.err;
    EXPECT_NE(lines[1].find(hint), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(output)) << output << " was written";
}

}  // namespace

TEST_F(QuantCli, CalibrateThenQuantizeFromTheTable) {
  CliRun c =
      cli(fmt::format("calibrate '{}' --calib {} --calib-batches 3 --batch 8 --method "
                      "percentile --percentile 99.9 -o '{}'",
                      model, data, path("calib.json")));
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_NE(c.out.find("6 activations calibrated on 24 samples (3 batches, method percentile"),
            std::string::npos)
      << c.out;
  auto table = nlohmann::json::parse(slurp(path("calib.json")));
  EXPECT_EQ(table["format"], "condense-calibration");
  EXPECT_EQ(table["tensors"]["input"]["method"], "percentile");
  CliRun q = cli(fmt::format("quantize '{}' --calib-table '{}' --per-channel -o '{}'", model,
                             path("calib.json"), path("q.onnx")));
  ASSERT_EQ(q.rc, 0) << q.err;
  EXPECT_NE(q.out.find("static, int8 per-channel weights"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("4 node(s) quantized, 0 excluded"), std::string::npos) << q.out;
  expect_runs(path("q.onnx"));
}

TEST_F(QuantCli, EveryMode) {
  struct Mode {
    std::string args, expect;
  };
  const std::vector<Mode> modes = {
      {fmt::format("--calib {} --calib-batches 2 --batch 16 --method entropy --per-channel", data),
       "static, int8 per-channel weights, uint8 activations (entropy)"},
      {fmt::format("--calib {} --calib-batches 2 --method mse --activations int8 "
                   "--symmetric-activations --reduce-range --exclude fc2",
                   data),
       "1 excluded"},
      {"--mode dynamic --per-channel", "dynamic, int8 per-channel weights"},
      {"--mode weight-only --bits 4 --group 32", "weight-only, int4 per-group 32 weights"},
      {"--mode weight-only --weights uint4", "weight-only, uint4 per-channel weights"},
      {"--dtype fp16", "fp16 compute"},
      {"--dtype bf16", "bf16 compute, 0 node(s) kept in f32"},
  };
  for (size_t i = 0; i < modes.size(); ++i) {
    SCOPED_TRACE(modes[i].args);
    const std::string out = path(fmt::format("out{}.onnx", i));
    CliRun r = cli(fmt::format("quantize '{}' {} -o '{}'", model, modes[i].args, out));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find(modes[i].expect), std::string::npos) << r.out;
    expect_runs(out);
  }
}

TEST_F(QuantCli, Recipe) {
  std::ofstream(path("recipe.json")) << R"({"method": "minmax",
      "weights": {"granularity": "per-channel"},
      "overrides": [{"match": "fc1", "weights": {"bits": 4}}, {"match": "fc2", "exclude": true}]})";
  CliRun r = cli(fmt::format("quantize '{}' --calib {} --calib-batches 2 --recipe '{}' -o '{}'",
                             model, data, path("recipe.json"), path("q.onnx")));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("3 node(s) quantized, 1 excluded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("opset 21"), std::string::npos) << r.out;  // int4 fc1
  expect_runs(path("q.onnx"));
}

TEST_F(QuantCli, BadInput) {
  const std::string out = path("out.onnx");
  expect_clean_error(cli(fmt::format("quantize '{}' -o '{}'", model, out)), out,
                     {"static quantization needs calibration"}, "--mode dynamic");
  // Samples that do not fit the model.
  const std::string mnist_like = write_npz_data("mnist", {8, 1, 28, 28});
  expect_clean_error(cli(fmt::format("quantize '{}' --calib {} -o '{}'", model, mnist_like, out)),
                     out, {"has samples (1, 28, 28) but model input 'input' is (N, 3, 8, 8)"});
  // An empty calibration set.
  const std::string empty = write_npz_data("empty", {0, 3, 8, 8});
  expect_clean_error(cli(fmt::format("calibrate '{}' --calib {} -o '{}'", model, empty, out)), out,
                     {"empty"});
  // NaN in a weight.
  ir::Graph nan_model = small_cnn();
  nan_model.find_value("fc1.weight")->constant->data<float>()[3] = NAN;
  const std::string nan_path = write_model("nan.onnx", nan_model);
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic -o '{}'", nan_path, out)), out,
                     {"weight 'fc1.weight' of node 'fc1' (Gemm) has NaN at element 3"});
  // An op the scheme cannot quantize: named, with the --exclude that fixes it.
  ir::Graph ta;
  ir::Value* x = ta.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Node* gemm = ta.add_node(OpKind::Gemm, {x, ta.add_constant("w", random_tensor({4, 3}, 1, 1))},
                               1, "gemm_t");
  gemm->attrs["transA"] = ir::Attribute::of_int(1);
  gemm->outputs[0]->has_shape = true;
  gemm->outputs[0]->dims = {ir::Dim::sym("N"), 3};
  ta.outputs.push_back(gemm->outputs[0]);
  const std::string ta_path = write_model("transa.onnx", ta);
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic -o '{}'", ta_path, out)), out,
                     {"cannot quantize node 'gemm_t' (Gemm)"}, "--exclude 'gemm_t'");
  CliRun excluded = cli(fmt::format("quantize '{}' --mode dynamic --exclude gemm_t -o '{}'",
                                    ta_path, path("ok.onnx")));
  EXPECT_EQ(excluded.rc, 0) << excluded.err;
  // Options that contradict each other, bad files, and never over the input.
  expect_clean_error(cli(fmt::format("quantize '{}' --mode weight-only --per-channel --group 32 "
                                     "-o '{}'",
                                     model, out)),
                     out, {"--per-channel and --group"});
  expect_clean_error(
      cli(fmt::format("quantize '{}' --dtype fp16 --mode static -o '{}'", model, out)), out,
      {"--dtype"});
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic --bits 4 -o '{}'", model, out)),
                     out, {"dynamic quantization needs 8-bit weights"});
  expect_clean_error(cli(fmt::format("calibrate '{}' --calib {} -o '{}'", model, data, model)),
                     path("none"), {"is the input model"});
  std::ofstream(path("bad_recipe.json")) << R"({"weights": {"dtype": "int3"}})";
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic --recipe '{}' -o '{}'", model,
                                     path("bad_recipe.json"), out)),
                     out, {"recipe", "unknown quantized type 'int3'"});
  std::ofstream(path("bad_table.json")) << R"({"format": "condense-calibration", "version": 1,
                                             "tensors": {"input": {"range": [0, 1]}}})";
  expect_clean_error(cli(fmt::format("quantize '{}' --calib-table '{}' -o '{}'", model,
                                     path("bad_table.json"), out)),
                     out, {"no entry for activation 'conv1.relu'"}, "condense calibrate");
  const std::string before = slurp(model);
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic -o '{}'", model, model)),
                     path("none"), {"is the input model"});
  EXPECT_EQ(slurp(model), before);
}

// The rest of issue 4's bad-input list, end to end: Inf in a weight under static quantization,
// NaN in the calibration data, fewer samples than a fixed batch size, an op the scheme cannot
// quantize in static mode, and the documented behaviour for all-zero activations (a warning,
// scale 1, a model that runs).
TEST_F(QuantCli, BadCalibrationDataAndWeights) {
  const std::string out = path("out.onnx");
  ir::Graph inf_model = small_cnn();
  inf_model.find_value("conv2.weight")->constant->data<float>()[5] = INFINITY;
  const std::string inf_path = write_model("inf.onnx", inf_model);
  expect_clean_error(cli(fmt::format("quantize '{}' --calib {} -o '{}'", inf_path, data, out)), out,
                     {"weight 'conv2.weight' of node 'conv2' (Conv) has Inf at element 5"});

  // NaN in a calibration sample: named by tensor and batch.
  fs::create_directories(dir / "nan");
  Tensor x = random_tensor({8, 3, 8, 8}, 1.0f, 3);
  x.data<float>()[100] = NAN;
  std::vector<int64_t> labels(8, 0);
  CONDENSE_CHECK(write_file_atomic((dir / "nan" / "x.npy").string(), npy::serialize(x)).is_ok());
  CONDENSE_CHECK(write_file_atomic((dir / "nan" / "y.npy").string(),
                                   npy::serialize(Tensor::from_vector<int64_t>(labels, {8})))
                     .is_ok());
  expect_clean_error(cli(fmt::format("quantize '{}' --calib npz:{} --calib-batches 1 --batch 8 "
                                     "-o '{}'",
                                     model, (dir / "nan").string(), out)),
                     out, {"NaN", "activation 'input'", "batch 1"});

  // A model with a fixed batch of 16 and a calibration set of 8 samples.
  ir::Graph fixed = small_cnn();
  fixed.inputs[0]->dims[0] = ir::Dim(16);
  const std::string fixed_path = write_model("fixed.onnx", fixed);
  const std::string eight = write_npz_data("eight", {8, 3, 8, 8});
  expect_clean_error(cli(fmt::format("quantize '{}' --calib {} -o '{}'", fixed_path, eight, out)),
                     out, {"8 samples, fewer than the model's fixed batch size 16"});

  // Static quantization of a node that computes in f64: named, with the exclusion that fixes it.
  ir::Graph f64;
  ir::Value* in = f64.add_input("x", DType::F64, {ir::Dim::sym("N"), 4});
  Tensor w = Tensor::empty(DType::F64, {4, 3});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<double>()[i] = 0.1 * double(i);
  ir::Node* mm = f64.add_node(OpKind::MatMul, {in, f64.add_constant("w", w)}, 1, "mm64");
  mm->outputs[0]->dtype = DType::F64;
  f64.outputs.push_back(mm->outputs[0]);
  const std::string f64_path = write_model("f64.onnx", f64);
  const std::string vec = write_npz_data("vec", {8, 4});
  expect_clean_error(cli(fmt::format("quantize '{}' --calib {} -o '{}'", f64_path, vec, out)), out,
                     {"cannot quantize node 'mm64' (MatMul)", "f64"}, "--exclude 'mm64'");

  // conv2 all zero: its (fused Relu) output is 0 on every sample. A warning, scale 1, and a model
  // that runs.
  ir::Graph zero = small_cnn();
  for (const char* name : {"conv2.weight", "conv2.bias"}) {
    Tensor& t = *zero.find_value(name)->constant;
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.f;
  }
  const std::string zero_path = write_model("zero.onnx", zero);
  CliRun z = cli(fmt::format("quantize '{}' --calib {} -o '{}'", zero_path, data, out));
  ASSERT_EQ(z.rc, 0) << z.err;
  EXPECT_NE(z.err.find("warning: activation 'conv2.relu' is 0 on every calibration sample"),
            std::string::npos)
      << z.err;
  expect_runs(out);
}

// sensitivity: one row per quantizable node, ranked, SQNR finite; a budget of 0 points on a model
// whose quantization costs accuracy yields a verified exclusion list; the JSON form parses.
TEST_F(QuantCli, SensitivityRanksEveryLayerAndVerifiesTheSuggestion) {
  const std::string eval = write_npz_data("eval", {64, 3, 8, 8});
  CliRun r = cli(fmt::format("sensitivity '{}' --calib {} --calib-batches 2 --data {} --json",
                             model, data, eval));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 64);
  ASSERT_EQ(j["layers"].size(), 4u);  // conv1, conv2, fc1, fc2
  std::set<std::string> nodes;
  for (const auto& l : j["layers"]) {
    nodes.insert(l["node"].get<std::string>());
    ASSERT_TRUE(l["sqnr_db"].is_number()) << l.dump();
    EXPECT_GT(l["sqnr_db"].get<double>(), 10.0) << l.dump();
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"conv1", "conv2", "fc1", "fc2"}));
  for (size_t k = 1; k < j["layers"].size(); ++k)
    EXPECT_GE(j["layers"][k - 1]["drop_points"].get<double>(),
              j["layers"][k]["drop_points"].get<double>());
  // The suggestion keeps the verified drop within the budget.
  const double float_top1 = j["float_top1"], suggested = j["suggested_top1"];
  EXPECT_LE(100 * (float_top1 - suggested), 1.0 + 1e-9);
  // With a 4-bit, per-tensor scheme and no budget, some layer must go; quantizing with the
  // suggested exclusions gives the accuracy the report claims.
  CliRun t =
      cli(fmt::format("sensitivity '{}' --calib {} --calib-batches 2 --data {} --bits 4 "
                      "--budget 0 --json",
                      model, data, eval));
  ASSERT_EQ(t.rc, 0) << t.err;
  auto k = nlohmann::json::parse(t.out);
  const double drop = 100 * (k["float_top1"].get<double>() - k["quantized_top1"].get<double>());
  if (drop > 0) {
    ASSERT_FALSE(k["suggested_exclude"].empty()) << t.out;
    EXPECT_LE(100 * (k["float_top1"].get<double>() - k["suggested_top1"].get<double>()), 1e-9);
  } else {
    EXPECT_TRUE(k["suggested_exclude"].empty()) << t.out;
  }
  CliRun text =
      cli(fmt::format("sensitivity '{}' --calib {} --calib-batches 2 --data {} "
                      "--eval-limit 16",
                      model, data, eval));
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("(16 samples)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("SQNR dB"), std::string::npos) << text.out;
  expect_clean_error(cli(fmt::format("sensitivity '{}' --calib {} --data {}", model, data,
                                     write_npz_data("misfit", {4, 1, 28, 28}))),
                     path("none"), {"--data", "(1, 28, 28)"});
}

// compare: a model against itself is exact; against its int8 version every shared tensor is
// reported with a finite SQNR, and dequantized values are matched under their float names.
TEST_F(QuantCli, CompareMatchesTensorsByName) {
  const std::string eval = write_npz_data("eval", {40, 3, 8, 8});
  CliRun same = cli(fmt::format("compare '{}' '{}' --data {} --json", model, model, eval));
  ASSERT_EQ(same.rc, 0) << same.err;
  auto s = nlohmann::json::parse(same.out);
  EXPECT_EQ(s["top1_agreement"], 1.0);
  ASSERT_FALSE(s["tensors"].empty());
  for (const auto& t : s["tensors"]) EXPECT_TRUE(t["sqnr_db"].is_null()) << t.dump();  // inf

  const std::string q = path("q.onnx");
  ASSERT_EQ(cli(fmt::format("quantize '{}' --calib {} --per-channel -o '{}'", model, data, q)).rc,
            0);
  CliRun r = cli(fmt::format("compare '{}' '{}' --data {} --json", model, q, eval));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 40);
  EXPECT_GT(j["top1_agreement"].get<double>(), 0.8);
  std::map<std::string, std::string> producer;
  for (const auto& t : j["tensors"]) {
    producer[t["name"]] = t["producer"];
    ASSERT_TRUE(t["sqnr_db"].is_number()) << t.dump();
    EXPECT_GT(t["sqnr_db"].get<double>(), 15.0) << t.dump();
    EXPECT_GT(t["cosine"].get<double>(), 0.98) << t.dump();
  }
  EXPECT_EQ(producer["conv1.relu"], "DequantizeLinear");
  EXPECT_EQ(producer["conv2.relu"], "DequantizeLinear");
  expect_clean_error(cli(fmt::format("compare '{}' '{}' --data {}", model, q,
                                     write_npz_data("misfit", {4, 1, 28, 28}))),
                     path("none"), {"--data", "(1, 28, 28)"});
}

// --format qoperator writes QLinearConv (and friends) that re-import and run; `info --kernels`
// names the integer kernels; bad --format combinations are clean errors.
TEST_F(QuantCli, QOperatorFormat) {
  CliRun r =
      cli(fmt::format("quantize '{}' --calib {} --calib-batches 2 --per-channel "
                      "--format qoperator -o '{}'",
                      model, data, path("qop.onnx")));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("QOperator form: "), std::string::npos) << r.out;
  auto g = onnx::import_file(path("qop.onnx"));
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(count_op(*g, OpKind::QLinearConv), 2);
  EXPECT_EQ(count_op(*g, OpKind::Conv), 0);
  expect_runs(path("qop.onnx"));
  CliRun info = cli(fmt::format("info '{}' --kernels", path("qop.onnx")));
  ASSERT_EQ(info.rc, 0) << info.err;
  EXPECT_NE(info.out.find("QLinearConv    dnnl_qlinearconv_u8s8"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("node(s) on integer kernels"), std::string::npos) << info.out;

  expect_clean_error(cli(fmt::format("quantize '{}' --calib {} --format qlinear -o '{}'", model,
                                     data, path("bad1.onnx"))),
                     path("bad1.onnx"), {"--format", "qlinear", "qdq", "qoperator"});
  expect_clean_error(cli(fmt::format("quantize '{}' --mode dynamic --format qoperator -o '{}'",
                                     model, path("bad2.onnx"))),
                     path("bad2.onnx"), {"--format qoperator", "--mode static", "dynamic"});
  expect_clean_error(cli(fmt::format("quantize '{}' --dtype fp16 --format qoperator -o '{}'", model,
                                     path("bad3.onnx"))),
                     path("bad3.onnx"), {"--format qoperator", "--dtype"});
}

// `info --kernels` counts the fused dynamic int8 MatMuls (fc1's Gemm, fc2's MatMul + Add) as
// quantized nodes.
TEST_F(QuantCli, InfoKernelsCountsFusedLowBitMatMuls) {
  CliRun r = cli(fmt::format("quantize '{}' --mode dynamic -o '{}'", model, path("dyn.onnx")));
  ASSERT_EQ(r.rc, 0) << r.err;
  CliRun info = cli(fmt::format("info '{}' --kernels", path("dyn.onnx")));
  ASSERT_EQ(info.rc, 0) << info.err;
  EXPECT_NE(info.out.find("DynamicQuantMatMul"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("0 node(s) on integer kernels, 2 fused low-bit MatMul(s), 0 in float"),
            std::string::npos)
      << info.out;
}

// --equalize and --bias-correct end to end (quantize and calibrate), and bias correction without
// calibration data refused.
TEST_F(QuantCli, EqualizeAndBiasCorrect) {
  CliRun r =
      cli(fmt::format("quantize '{}' --calib {} --calib-batches 2 --equalize --bias-correct "
                      "-o '{}'",
                      model, data, path("q.onnx")));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("equalize: 1 layer pair(s) rescaled"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bias-correct: 3 layer(s) corrected"), std::string::npos) << r.err;
  expect_runs(path("q.onnx"));
  // A table calibrated on the equalized model quantizes it (same tensor names and ranges).
  ASSERT_EQ(
      cli(fmt::format("calibrate '{}' --calib {} --equalize -o '{}'", model, data, path("t.json")))
          .rc,
      0);
  CliRun t = cli(fmt::format("quantize '{}' --calib-table '{}' --equalize -o '{}'", model,
                             path("t.json"), path("t.onnx")));
  ASSERT_EQ(t.rc, 0) << t.err;
  expect_runs(path("t.onnx"));
  const std::string out = path("out.onnx");
  expect_clean_error(cli(fmt::format("quantize '{}' --calib-table '{}' --bias-correct -o '{}'",
                                     model, path("t.json"), out)),
                     out, {"--bias-correct", "calibration data"}, "--calib");
}
