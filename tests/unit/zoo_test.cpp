#include <condense/onnx.h>
#include <condense/session.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "ops/infer.h"
#include "zoo/models.h"

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
            (std::vector<std::string>{"gemm4096", "lenet5", "mlp", "mobilenetv2", "resnet20",
                                      "resnet32", "resnet56", "tiny-transformer", "vgg-small"}));
  for (const char* bn : {"resnet20", "resnet32", "resnet56", "mobilenetv2", "vgg-small"})
    EXPECT_TRUE(zoo::uses_batchnorm(bn)) << bn;
  for (const char* plain : {"mlp", "lenet5", "gemm4096", "tiny-transformer"})
    EXPECT_FALSE(zoo::uses_batchnorm(plain)) << plain;
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
  for (double w : {0.0, -0.5, 4.5, std::nan("")}) {
    o = {};
    o.width = w;
    auto m = zoo::build("mobilenetv2", o);
    ASSERT_FALSE(m) << w;
    EXPECT_NE(m.status().message().find("width must be in (0, 4]"), std::string::npos)
        << m.status().message();
  }
  o = {};
  o.width = 0.5;
  auto r = zoo::build("resnet20", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("mobilenetv2 only"), std::string::npos)
      << r.status().message();
}

TEST(Zoo, ParameterCounts) {
  struct Case {
    const char* name;
    bool batchnorm;
    std::string shortcut;
    double width;
    int64_t params;
  };
  // mlp: 784*300+300 + 300*100+100 + 100*10+10. lenet5: 520 + 25,050 + 400,500 + 5,010.
  // ResNets: conv weights + fc 650 + per channel either 2 BN parameters or 1 folded bias (BN
  // running statistics are buffers, not parameters). resnet20 folded, option A, matches the
  // pretrained ../shared/data resnet20.onnx; option B adds the 1x1 projections 16->32 and 32->64
  // (2,560 weights) with their BN (192) or bias (96). The BN counts, mobilenetv2's (width 1:
  // torchvision's mobilenet_v2(num_classes=10)) and vgg-small's were counted in PyTorch 1.13
  // (sum of p.numel() over parameters()) on the same architectures.
  const Case cases[] = {
      {"mlp", true, "A", 1.0, 266610},
      {"lenet5", true, "A", 1.0, 431080},
      {"gemm4096", true, "A", 1.0, 4096 * 4096 + 4096},
      {"resnet20", false, "A", 1.0, 269034},
      {"resnet20", true, "A", 1.0, 269722},
      {"resnet20", false, "B", 1.0, 269034 + 2560 + 96},
      {"resnet20", true, "B", 1.0, 269722 + 2560 + 192},
      {"resnet32", true, "A", 1.0, 464154},
      {"resnet32", false, "A", 1.0, 463018},
      {"resnet56", true, "A", 1.0, 853018},
      {"resnet56", false, "A", 1.0, 850986},
      {"mobilenetv2", true, "A", 1.0, 2236682},
      {"mobilenetv2", false, "A", 1.0, 2219626},
      {"mobilenetv2", true, "A", 0.5, 700490},
      {"mobilenetv2", true, "A", 0.75, 1368234},
      {"mobilenetv2", true, "A", 1.4, 4333706},  // the last conv widens to 1792 above width 1
      {"vgg-small", true, "A", 1.0, 4660106},
      {"vgg-small", false, "A", 1.0, 4658314},
      {"tiny-transformer", true, "A", 1.0, 71946},
  };
  for (const Case& c : cases) {
    zoo::ZooOptions o;
    o.batchnorm = c.batchnorm;
    o.shortcut = c.shortcut;
    o.width = c.width;
    BUILD_OR_SKIP(g, c.name, o);
    EXPECT_EQ(zoo::parameter_count(g), c.params)
        << c.name << " bn " << c.batchnorm << " shortcut " << c.shortcut << " width " << c.width;
  }
}

TEST(Zoo, MakeDivisibleIsTorchvisions) {
  // torchvision: max(8, int(v + 4) // 8 * 8), plus 8 when that is below 0.9 v.
  EXPECT_EQ(zoo::make_divisible(32 * 0.5), 16);
  EXPECT_EQ(zoo::make_divisible(24 * 0.5), 16);   // 12 rounds half up
  EXPECT_EQ(zoo::make_divisible(16 * 0.35), 8);   // floor at 8
  EXPECT_EQ(zoo::make_divisible(96 * 0.35), 32);  // 33.6 -> 32
  EXPECT_EQ(zoo::make_divisible(160 * 0.35), 56);
  EXPECT_EQ(zoo::make_divisible(1280 * 1.4), 1792);
  EXPECT_EQ(zoo::make_divisible(20.0), 24);  // 16 < 0.9 * 20 -> 24
}

std::vector<const ir::Node*> consumers(const ir::Graph& g, const std::string& value) {
  const ir::Value* v = g.find_value(value);
  CONDENSE_CHECK_MSG(v, value.c_str());
  std::vector<const ir::Node*> out;
  for (const auto& n : g.nodes())
    if (std::find(n->inputs.begin(), n->inputs.end(), v) != n->inputs.end()) out.push_back(n.get());
  return out;
}

int count_ops(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op == op;
  return n;
}

TEST(Zoo, BatchNormNodesOrFoldedBiases) {
  zoo::ZooOptions bn;
  BUILD_OR_SKIP(r, "resnet20", bn);
  // 19 convs (stem + 18 in blocks), each followed by a BN; no conv carries a bias.
  EXPECT_EQ(count_ops(r, OpKind::Conv), 19);
  EXPECT_EQ(count_ops(r, OpKind::BatchNormalization), 19);
  for (const auto& n : r.nodes()) {
    if (n->op == OpKind::Conv) {
      EXPECT_EQ(n->inputs.size(), 2u) << n->name;
      auto next = consumers(r, n->outputs[0]->name);
      ASSERT_EQ(next.size(), 1u) << n->name;
      EXPECT_EQ(next[0]->op, OpKind::BatchNormalization) << n->name;
    }
  }
  const Tensor& scale = constant(r, "layer2.0.bn1.weight");
  const Tensor& var = constant(r, "layer2.0.bn1.running_var");
  ASSERT_EQ(scale.shape(), (Shape{32}));
  for (int64_t i = 0; i < 32; ++i) {
    EXPECT_EQ(scale.data<float>()[i], 1.0f);
    EXPECT_EQ(var.data<float>()[i], 1.0f);
    EXPECT_EQ(constant(r, "layer2.0.bn1.bias").data<float>()[i], 0.0f);
    EXPECT_EQ(constant(r, "layer2.0.bn1.running_mean").data<float>()[i], 0.0f);
  }
  const ir::Node* bn1 = consumers(r, "layer2.0.bn1.weight").at(0);
  EXPECT_FLOAT_EQ(bn1->attr_float("epsilon", 0), 1e-5f);
  EXPECT_FLOAT_EQ(bn1->attr_float("momentum", 0), 0.9f);
  EXPECT_EQ(r.metadata.at("zoo_batchnorm"), "1");

  zoo::ZooOptions folded;
  folded.batchnorm = false;
  BUILD_OR_SKIP(f, "resnet20", folded);
  EXPECT_EQ(count_ops(f, OpKind::BatchNormalization), 0);
  for (const auto& n : f.nodes()) {
    if (n->op == OpKind::Conv) {
      EXPECT_EQ(n->inputs.size(), 3u) << n->name;
    }
  }
  EXPECT_EQ(f.metadata.at("zoo_batchnorm"), "0");

  for (const char* name : {"mobilenetv2", "vgg-small", "resnet56"}) {
    BUILD_OR_SKIP(g, name, bn);
    EXPECT_EQ(count_ops(g, OpKind::Conv), count_ops(g, OpKind::BatchNormalization)) << name;
  }
}

TEST(Zoo, MobileNetV2Structure) {
  BUILD_OR_SKIP(g, "mobilenetv2", zoo::ZooOptions{});
  // 52 convs: stem, 17 blocks (the first without expansion: 2 convs, the rest 3), last 1x1.
  EXPECT_EQ(count_ops(g, OpKind::Conv), 1 + 2 + 16 * 3 + 1);
  // Identity shortcuts where stride 1 and channels kept: 1 (24) + 2 (32) + 3 (64) + 2 (96) +
  // 2 (160) = 10.
  EXPECT_EQ(count_ops(g, OpKind::Add), 10);
  EXPECT_EQ(count_ops(g, OpKind::Clip), 1 + 1 + 16 * 2 + 1);  // relu6 after all but projections
  const ir::Node* dw = consumers(g, "block1.dw.weight").at(0);
  EXPECT_EQ(dw->attr_int("group", 1), 96);  // 16 channels expanded x6, depthwise
  EXPECT_EQ(constant(g, "block1.dw.weight").shape(), (Shape{96, 1, 3, 3}));
  // The CIFAR variant ends at 4x4 before pooling.
  EXPECT_EQ(ir::dims_str(g.find_value("relu_last")->dims), "[N, 1280, 4, 4]");
  zoo::ZooOptions half;
  half.width = 0.5;
  BUILD_OR_SKIP(h, "mobilenetv2", half);
  EXPECT_EQ(constant(h, "conv1.weight").shape(), (Shape{16, 3, 3, 3}));
  EXPECT_EQ(constant(h, "conv_last.weight").shape(), (Shape{1280, 160, 1, 1}));
  EXPECT_EQ(h.metadata.at("zoo_width"), "0.5");
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

// Every value's declared dims (what the exported ONNX states) equal what the op catalog's shape
// inference computes for a concrete batch.
TEST(Zoo, DeclaredShapesMatchInference) {
  constexpr int64_t kBatch = 3;
  for (const std::string& name : zoo::model_names()) {
    BUILD_OR_SKIP(g, name, zoo::ZooOptions{});
    std::map<const ir::Value*, Shape> shapes;
    auto concrete = [&](const ir::Value* v) {
      Shape s;
      for (const ir::Dim& d : v->dims) s.push_back(d.is_static() ? d.value : kBatch);
      return s;
    };
    for (const ir::Value* in : g.inputs) shapes[in] = concrete(in);
    for (const auto& n : g.nodes()) {
      std::vector<TensorInfo> ins;
      for (const ir::Value* v : n->inputs) {
        TensorInfo t;
        t.dtype = v->dtype;
        if (v->is_constant()) {
          t.shape = v->constant->shape();
          t.value = &*v->constant;
        } else {
          ASSERT_TRUE(shapes.count(v)) << name << ": " << v->name << " used before defined";
          t.shape = shapes[v];
        }
        ins.push_back(t);
      }
      std::vector<TensorInfo> outs(n->outputs.size());
      InferCtx ctx{*n, ins, outs};
      Status st = infer_fn(n->op)(ctx);
      ASSERT_TRUE(st) << name << ": " << st.message();
      ASSERT_TRUE(outs[0].shape_known) << name << ": " << n->name;
      EXPECT_EQ(outs[0].shape, concrete(n->outputs[0]))
          << name << ": node " << n->name << " declares " << ir::dims_str(n->outputs[0]->dims);
      shapes[n->outputs[0]] = outs[0].shape;
    }
  }
}

TEST(Zoo, RunsInTheRuntime) {
  for (const std::string& name : zoo::model_names()) {
    if (name == "gemm4096") continue;
    BUILD_OR_SKIP(g, name, zoo::ZooOptions{});
    auto s = Session::create(std::move(g), {.threads = 1});
    ASSERT_TRUE(s) << name << ": " << s.status().message();
    const bool cifar = name.starts_with("resnet") || name == "mobilenetv2" || name == "vgg-small";
    Shape shape = cifar ? Shape{3, 3, 32, 32} : Shape{3, 1, 28, 28};
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
