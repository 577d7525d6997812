#include <condense/onnx.h>
#include <condense/session.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <cmath>

#include "zoo/layers.h"

using namespace condense;

namespace {

bool missing_op(const Status& s) {
  return s.message().find("not in this build's op catalog") != std::string::npos;
}

// Builds a zoo model; skips the test when this build lacks one of its ops (the nn and shape op
// families), fails it on any other error.
#define BUILD_OR_SKIP(var, name, opts)                          \
  auto var##_result = zoo::build(name, opts);                   \
  if (!var##_result && missing_op(var##_result.status()))       \
    GTEST_SKIP() << var##_result.status().message();            \
  ASSERT_TRUE(var##_result) << var##_result.status().message(); \
  ir::Graph& var = *var##_result

const Tensor& constant(const ir::Graph& g, const std::string& name) {
  ir::Value* v = g.find_value(name);
  CONDENSE_CHECK_MSG(v && v->is_constant(), name.c_str());
  return *v->constant;
}

}  // namespace

TEST(Zoo, Names) {
  EXPECT_EQ(zoo::model_names(),
            (std::vector<std::string>{"gemm4096", "lenet5", "mlp", "resnet20"}));
}

TEST(Zoo, UnknownModelListsTheKnownOnes) {
  auto g = zoo::build("vgg19");
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("vgg19"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("lenet5"), std::string::npos) << g.status().message();
}

TEST(Zoo, RejectsBadOptions) {
  zoo::ZooOptions o;
  o.batch = 0;
  EXPECT_FALSE(zoo::build("mlp", o));
  o = {};
  o.widths = {300, 0};
  EXPECT_FALSE(zoo::build("mlp", o));
  o = {};
  o.widths = {10};
  EXPECT_FALSE(zoo::build("lenet5", o));  // widths are for mlp only
  o = {};
  o.shortcut = "C";
  auto g = zoo::build("resnet20", o);
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("shortcut"), std::string::npos) << g.status().message();
}

TEST(Zoo, ParameterCounts) {
  struct Case {
    const char* name;
    std::string shortcut;
    int64_t params;
  };
  // mlp: 784*300+300 + 300*100+100 + 100*10+10. lenet5: 520 + 25,050 + 400,500 + 5,010.
  // resnet20 option A matches the pretrained ../shared/data resnet20.onnx; option B adds the
  // 1x1 projections 16->32 (544) and 32->64 (2,112).
  for (const Case& c : {Case{"mlp", "A", 266610}, Case{"lenet5", "A", 431080},
                        Case{"gemm4096", "A", 4096 * 4096 + 4096}, Case{"resnet20", "A", 269034},
                        Case{"resnet20", "B", 269034 + 544 + 2112}}) {
    zoo::ZooOptions o;
    o.shortcut = c.shortcut;
    BUILD_OR_SKIP(g, c.name, o);
    EXPECT_EQ(zoo::parameter_count(g), c.params) << c.name << " shortcut " << c.shortcut;
  }
}

TEST(Zoo, MlpWidths) {
  zoo::ZooOptions o;
  o.widths = {50};
  BUILD_OR_SKIP(g, "mlp", o);
  EXPECT_EQ(zoo::parameter_count(g), 784 * 50 + 50 + 50 * 10 + 10);
  EXPECT_EQ(constant(g, "fc1.weight").shape(), (Shape{50, 784}));
  EXPECT_EQ(constant(g, "fc2.weight").shape(), (Shape{10, 50}));
}

TEST(Zoo, SameSeedSameWeightsOtherSeedOtherWeights) {
  zoo::ZooOptions o;
  o.seed = 42;
  BUILD_OR_SKIP(a, "lenet5", o);
  BUILD_OR_SKIP(b, "lenet5", o);
  o.seed = 43;
  BUILD_OR_SKIP(c, "lenet5", o);
  for (const char* w : {"conv1.weight", "conv2.bias", "fc1.weight", "fc2.weight"}) {
    EXPECT_TRUE(constant(a, w).identical(constant(b, w))) << w;
    EXPECT_FALSE(constant(a, w).identical(constant(c, w))) << w;
  }
  // The generator is specified (splitmix64), so the bytes are fixed across platforms too.
  zoo::Rng rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafull);
}

TEST(Zoo, HeUniformBounds) {
  BUILD_OR_SKIP(g, "lenet5", zoo::ZooOptions{});
  // conv2: fan_in = 20 * 5 * 5 = 500, bound sqrt(6 / 500); 25,000 draws fill the range.
  const Tensor& w = constant(g, "conv2.weight");
  ASSERT_EQ(w.shape(), (Shape{50, 20, 5, 5}));
  const double bound = std::sqrt(6.0 / 500.0);
  double lo = 0, hi = 0, sum = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    double v = w.data<float>()[i];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.99 * bound);
  EXPECT_GT(hi, 0.99 * bound);
  EXPECT_NEAR(sum / w.numel(), 0.0, 0.01 * bound);
  // Bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const Tensor& b = constant(g, "conv2.bias");
  for (int64_t i = 0; i < b.numel(); ++i)
    EXPECT_LE(std::abs(b.data<float>()[i]), 1.0 / std::sqrt(500.0));
}

TEST(Zoo, BatchDimStaticOrSymbolic) {
  zoo::ZooOptions o;
  o.batch = 8;
  BUILD_OR_SKIP(s, "resnet20", o);
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_EQ(ir::dims_str(s.inputs[0]->dims), "[8, 3, 32, 32]");
  ASSERT_EQ(s.outputs.size(), 1u);
  EXPECT_EQ(s.outputs[0]->name, "logits");
  EXPECT_EQ(ir::dims_str(s.outputs[0]->dims), "[8, 10]");
  BUILD_OR_SKIP(d, "resnet20", zoo::ZooOptions{});
  EXPECT_EQ(ir::dims_str(d.inputs[0]->dims), "[N, 3, 32, 32]");
  EXPECT_EQ(ir::dims_str(d.outputs[0]->dims), "[N, 10]");
}

TEST(Zoo, ExportsValidOnnxThatReimports) {
  for (const std::string& name : zoo::model_names()) {
    BUILD_OR_SKIP(g, name, zoo::ZooOptions{});
    auto bytes = onnx::export_bytes(g, {.opset = zoo::kOpset});
    ASSERT_TRUE(bytes) << name << ": " << bytes.status().message();
    Status ok = onnx::check_model_bytes(*bytes);
    EXPECT_TRUE(ok) << name << ": " << ok.message();
    auto again = onnx::import_bytes(*bytes);
    ASSERT_TRUE(again) << name << ": " << again.status().message();
    EXPECT_EQ(again->nodes().size(), g.nodes().size()) << name;
    EXPECT_EQ(again->opset_imports[""], zoo::kOpset) << name;
    EXPECT_EQ(zoo::parameter_count(*again), zoo::parameter_count(g)) << name;
  }
}

TEST(Zoo, RunsInTheRuntime) {
  for (std::string name : {"mlp", "lenet5", "resnet20"}) {
    BUILD_OR_SKIP(g, name, zoo::ZooOptions{});
    auto s = Session::create(std::move(g), {.threads = 1});
    ASSERT_TRUE(s) << name << ": " << s.status().message();
    Shape shape = name == "resnet20" ? Shape{3, 3, 32, 32} : Shape{3, 1, 28, 28};
    Tensor x = Tensor::zeros(DType::F32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 17) / 17.f;
    auto out = (*s)->run({x});
    ASSERT_TRUE(out) << name << ": " << out.status().message();
    ASSERT_EQ((*out)[0].shape(), (Shape{3, 10})) << name;
    for (float v : (*out)[0].to_f32_vector()) EXPECT_TRUE(std::isfinite(v)) << name;
  }
}

TEST(ZooLayerBuilder, ErrorsNameTheLayer) {
  ir::Graph g;
  zoo::LayerBuilder b(g, 0);
  ir::Value* flat = b.input("x", {ir::Dim::sym("N"), 16});
  auto c = b.conv(flat, 8, 3, 1, 1, "conv_on_2d");
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("conv_on_2d"), std::string::npos) << c.status().message();
  ir::Value* img = b.input("img", {ir::Dim::sym("N"), 3, 4, 4});
  auto big = b.conv(img, 8, 7, 1, 0, "too_big");
  ASSERT_FALSE(big);
  EXPECT_NE(big.status().message().find("does not fit"), std::string::npos)
      << big.status().message();
  auto p = b.max_pool(img, 2, 0, "zero_stride");
  ASSERT_FALSE(p);
  EXPECT_NE(p.status().message().find("zero_stride"), std::string::npos);
  ir::Value* other = b.input("other", {ir::Dim::sym("N"), 3, 4, 5});
  auto sum = b.add(img, other, "mismatch");
  ASSERT_FALSE(sum);
  ir::Value* dyn = b.input("dyn", {ir::Dim::sym("N"), ir::Dim::sym("C"), 4, 4});
  auto f = b.flatten(dyn, "flat_dyn");
  ASSERT_FALSE(f);
  EXPECT_NE(f.status().message().find("static"), std::string::npos) << f.status().message();
}
