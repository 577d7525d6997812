// Recipes (JSON scheme + per-layer overrides), option validation and the calibration table's
// JSON round trip.
#include <condense/quant.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace condense;
using namespace condense::quant;

TEST(Recipe, GlobalSettingsAndOverrides) {
  auto r = parse_recipe(R"({
    "mode": "static", "method": "entropy",
    "activations": {"dtype": "int8", "symmetric": true},
    "weights": {"dtype": "int8", "granularity": "per-channel", "reduce_range": true},
    "op_types": ["Conv", "Gemm", "MatMul", "Add"],
    "exclude": ["fc2", "layer3\\..*"],
    "quantize_outputs": true,
    "overrides": [
      {"match": "conv1", "weights": {"dtype": "uint4", "group": 32},
       "activations": {"method": "percentile", "percentile": 99.9}},
      {"match": "head.*", "exclude": true}
    ]})");
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->mode, Mode::Static);
  EXPECT_EQ(r->activations.method, Method::Entropy);
  EXPECT_EQ(r->activations.dtype, DType::I8);
  EXPECT_TRUE(r->activations.symmetric);
  EXPECT_EQ(r->weights.granularity, Granularity::PerChannel);
  EXPECT_TRUE(r->weights.reduce_range);
  EXPECT_EQ(r->op_types.size(), 4u);
  EXPECT_EQ(r->exclude, (std::vector<std::string>{"fc2", "layer3\\..*"}));
  EXPECT_TRUE(r->quantize_outputs);
  ASSERT_EQ(r->overrides.size(), 2u);
  const LayerOverride& o = r->overrides[0];
  EXPECT_EQ(o.match, "conv1");
  EXPECT_EQ(o.weight_dtype, DType::U4);
  EXPECT_EQ(o.weight_symmetric, false);  // unsigned weights default to asymmetric
  EXPECT_EQ(o.granularity, Granularity::PerGroup);
  EXPECT_EQ(o.block_size, 32);
  EXPECT_EQ(o.method, Method::Percentile);
  EXPECT_EQ(o.percentile, 99.9);
  EXPECT_TRUE(r->overrides[1].exclude);
}

TEST(Recipe, ErrorsNameTheKey) {
  auto err = [](const char* json) {
    auto r = parse_recipe(json);
    EXPECT_FALSE(r) << json;
    return r ? std::string() : r.status().message();
  };
  EXPECT_NE(err("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err(R"({"metod": "minmax"})").find("unknown key 'metod'"), std::string::npos);
  EXPECT_NE(err(R"({"method": "kl"})").find("unknown calibration method 'kl'"), std::string::npos);
  EXPECT_NE(err(R"({"weights": {"dtype": "int3"}})").find("unknown quantized type 'int3'"),
            std::string::npos);
  EXPECT_NE(err(R"({"weights": {"bits": 2}})").find("bits must be 8 or 4"), std::string::npos);
  EXPECT_NE(err(R"({"exclude": ["("]})").find("invalid regex '('"), std::string::npos);
  EXPECT_NE(err(R"({"overrides": [{"exclude": true}]})").find("needs \"match\""),
            std::string::npos);
  EXPECT_NE(err(R"({"activations": {"dtype": "int4"}})").find("activations: type int4"),
            std::string::npos);
  EXPECT_NE(err(R"({"mode": "dynamic", "weights": {"bits": 4}})").find("8-bit weights"),
            std::string::npos);
  EXPECT_NE(err(R"({"percentile": 101})").find("percentile 101"), std::string::npos);
}

TEST(CalibrationTable, JsonRoundTripKeepsEveryFloat) {
  CalibrationTable t;
  t.model = "m.onnx";
  t.data = "random (train)";
  t.samples = 64;
  t.batches = 2;
  TensorCalibration a;
  a.name = "x";
  a.method = Method::Entropy;
  a.range = {-2.117904f, 2.64f, -1.0f / 3.0f, 2.0f / 7.0f, 123};
  a.dtype = DType::U8;
  a.qparams = compute_scale_zp(a.range.lo, a.range.hi, {0, 255}, false);
  TensorCalibration b;
  b.name = "weird \"name\"/0";
  b.range = {0, 6, 0, 5.5f, 1};
  b.qparams = compute_scale_zp(0, 5.5f, {0, 255}, false);
  t.tensors = {a, b};
  const std::string json = calibration_table_to_json(t);
  // One line per tensor.
  EXPECT_NE(json.find("\n    \"x\": {\"method\": \"entropy\", \"min\": -2.117904, \"max\": 2.64, "
                      "\"range\": [-0.33333334, 0.2857143]"),
            std::string::npos)
      << json;
  auto back = parse_calibration_table(json);
  ASSERT_TRUE(back) << back.status().message();
  ASSERT_EQ(back->tensors.size(), 2u);
  EXPECT_EQ(back->samples, 64);
  EXPECT_EQ(back->tensors[0].name, "x");
  EXPECT_EQ(back->tensors[0].range.lo, a.range.lo);
  EXPECT_EQ(back->tensors[0].range.hi, a.range.hi);
  EXPECT_EQ(back->tensors[0].range.min, a.range.min);
  EXPECT_EQ(back->tensors[0].qparams.scale, a.qparams.scale);
  EXPECT_EQ(back->tensors[0].qparams.zero_point, a.qparams.zero_point);
  EXPECT_EQ(back->tensors[0].method, Method::Entropy);
  EXPECT_EQ(back->tensors[1].name, b.name);
  ASSERT_NE(back->find(b.name), nullptr);
}

TEST(CalibrationTable, EditedRangeOnlyAndErrors) {
  // A hand-written entry needs only "range".
  auto t = parse_calibration_table(
      R"({"format": "condense-calibration", "version": 1, "tensors": {"x": {"range": [-1, 2]}}})");
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->tensors[0].range.lo, -1.0f);
  EXPECT_TRUE(std::isnan(t->tensors[0].qparams.scale));  // none given: nothing to compare
  auto err = [](const char* json) {
    auto r = parse_calibration_table(json);
    EXPECT_FALSE(r) << json;
    return r ? std::string() : r.status().message();
  };
  EXPECT_NE(err(R"({"tensors": {}})").find("not a calibration table"), std::string::npos);
  EXPECT_NE(
      err(R"({"format": "condense-calibration", "version": 2, "tensors": {}})").find("version 2"),
      std::string::npos);
  EXPECT_NE(err(R"({"format": "condense-calibration", "version": 1,
                    "tensors": {"x": {"range": [2, 1]}}})")
                .find("tensor 'x': range [2, 1] has lo > hi"),
            std::string::npos);
  EXPECT_NE(err(R"({"format": "condense-calibration", "version": 1,
                    "tensors": {"x": {"range": [0, "a"]}}})")
                .find("range[1] must be a number"),
            std::string::npos);
  EXPECT_NE(err(R"({"format": "condense-calibration", "version": 1,
                    "tensors": {"x": {"range": [0, 1], "rnage": 2}}})")
                .find("unknown key 'rnage'"),
            std::string::npos);
}
