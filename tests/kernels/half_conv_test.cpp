// Half-precision convolutional models against the reference kernels, through
// quant::convert_float as `condense quantize --dtype fp16|bf16` runs it (f32 in, Cast to the half
// type, the model in it, Cast back): Conv / ConvTranspose (grouped, strided, padded, fused Relu)
// on oneDNN (bf16 natively, fp16 in f32 between conversions), pooling, residual Add and Softmax
// through the half-on-f32 wrapper, Casts on the AVX-512 converters. Checks which kernel runs each
// node, that activations stay channels-last between the convolutions, and the outputs.
#include <condense/quant.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace condense {
namespace {

struct ConvCase {
  DType dt;
  int64_t batch, channels, size;  // input (batch, channels, size, size)
  int64_t width;                  // channels of the convolutions
  int64_t group;                  // of the second convolution
  bool transpose;                 // a ConvTranspose (stride 2) after the residual block
};

// x -> Conv 3x3 (+bias, Relu) -> Conv 3x3 group g -> Add(residual) -> MaxPool 2x2
//   [-> ConvTranspose 2x2 stride 2] -> GlobalAveragePool -> Flatten -> Softmax
// Weights scaled by 1/sqrt(fan_in) so that activations stay near [-1, 1].
ir::Graph float_model(const ConvCase& c) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  auto rand = [&](Shape s, float scale) {
    Tensor t = Tensor::empty(DType::F32, std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng) * scale;
    return t;
  };
  const int64_t W = c.width;
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), c.channels, c.size, c.size});
  auto conv = [&](ir::Value* in, int64_t cin, int64_t group, const std::string& name) {
    const float scale = 1.f / std::sqrt(static_cast<float>(cin / group * 9));
    ir::Node* n = g.add_node(OpKind::Conv,
                             {in, g.add_constant(name + ".w", rand({W, cin / group, 3, 3}, scale)),
                              g.add_constant(name + ".b", rand({W}, 0.1f))},
                             1, name);
    n->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
    n->attrs["group"] = ir::Attribute::of_int(group);
    return n->outputs[0];
  };
  ir::Value* h = conv(x, c.channels, 1, "conv1");
  h = g.add_node(OpKind::Relu, {h}, 1, "relu1")->outputs[0];
  ir::Value* h2 = conv(h, W, c.group, "conv2");
  h = g.add_node(OpKind::Add, {h, h2}, 1, "add")->outputs[0];
  ir::Node* pool = g.add_node(OpKind::MaxPool, {h}, 1, "maxpool");
  pool->attrs["kernel_shape"] = ir::Attribute::of_ints({2, 2});
  pool->attrs["strides"] = ir::Attribute::of_ints({2, 2});
  h = pool->outputs[0];
  if (c.transpose) {
    ir::Node* t =
        g.add_node(OpKind::ConvTranspose,
                   {h, g.add_constant("deconv.w", rand({W, W, 2, 2}, 1.f / std::sqrt(float(W))))},
                   1, "deconv");
    t->attrs["strides"] = ir::Attribute::of_ints({2, 2});
    h = t->outputs[0];
  }
  h = g.add_node(OpKind::GlobalAveragePool, {h}, 1, "gap")->outputs[0];
  h = g.add_node(OpKind::Flatten, {h}, 1, "flatten")->outputs[0];
  h = g.add_node(OpKind::Softmax, {h}, 1, "softmax")->outputs[0];
  g.outputs.push_back(h);
  return g;
}

const NodeReport* report_of(const std::vector<NodeReport>& r, std::string_view node) {
  for (const NodeReport& n : r)
    if (n.name == node) return &n;
  return nullptr;
}

class HalfConvTest : public ::testing::TestWithParam<ConvCase> {};

// Both sides round every node's output to the half type once; they accumulate in different
// orders (f32 here, double in the reference), so one node's result may round to the neighbouring
// half value and the next node sees that. Over the model's seven rounded steps the softmax
// probabilities (around 1 / width) differ by at most a few steps of the half type: allowed
// 8 * 2^-8 relative for bf16 (8-bit significand) and 8 * 2^-11 for fp16 (11 bits).
TEST_P(HalfConvTest, MatchesReferenceOnFastKernels) {
  const ConvCase& c = GetParam();
  const bool bf16 = c.dt == DType::BF16;
  SCOPED_TRACE(fmt::format("{} batch {} channels {} size {} width {} group {} transpose {}",
                           dtype_name(c.dt), c.batch, c.channels, c.size, c.width, c.group,
                           c.transpose));
  auto half = [&] {
    auto r = quant::convert_float(float_model(c), c.dt);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return std::move(r->graph);
  };
  auto fast = Session::create(half(), {.threads = 2});
  auto ref = Session::create(half(), {.threads = 2, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  Tensor x = Tensor::empty(DType::F32, {c.batch, c.channels, c.size, c.size});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng);
  for (int rep = 0; rep < 2; ++rep) {  // the second run goes through the primitive caches
    auto yf = (*fast)->run({x});
    auto yr = (*ref)->run({x});
    ASSERT_TRUE(yf.is_ok()) << yf.status().message();
    ASSERT_TRUE(yr.is_ok()) << yr.status().message();
    const double tol = 8 * std::ldexp(1.0, bf16 ? -8 : -11);
    for (int64_t i = 0; i < (*yr)[0].numel(); ++i) {
      const float a = (*yf)[0].data<float>()[i], b = (*yr)[0].data<float>()[i];
      ASSERT_NEAR(a, b, tol * std::abs(b)) << "element " << i;
    }
  }
  // Kernels (names from `condense info --kernels`).
  const std::vector<NodeReport> r = (*fast)->report();
  const std::string conv = bf16 ? "dnnl_conv_bf16" : "dnnl_conv_f16_f32";
  const std::string pool = bf16 ? "dnnl_pool_bf16" : "dnnl_pool_f16_f32";
  const std::string wrap = bf16 ? "bf16_via_ref" : "f16_via_ref";
  const std::vector<std::pair<std::string, std::string>> want = {
      {"conv1", conv},   {"conv2", conv}, {"add", wrap},
      {"maxpool", pool}, {"gap", pool},   {"softmax", wrap}};
  for (const auto& [node, kernel] : want) {
    const NodeReport* n = report_of(r, node);
    ASSERT_NE(n, nullptr) << node;
    EXPECT_EQ(n->kernel, kernel) << node;
  }
  if (c.transpose) {
    const NodeReport* n = report_of(r, "deconv");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->kernel, bf16 ? "dnnl_deconv_bf16" : "dnnl_deconv_f16_f32");
  }
  // conv1's output (Relu fused) feeds conv2 and the Add; conv2's feeds the Add, and the Add's
  // the pooling: all read channels-last, so none is converted back to plain in between.
  for (const char* node : {"conv1", "conv2", "add"}) {
    const NodeReport* n = report_of(r, node);
    ASSERT_NE(n, nullptr) << node;
    EXPECT_EQ(n->layout, "blocked") << node;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, HalfConvTest,
                         ::testing::Values(ConvCase{DType::BF16, 2, 3, 16, 16, 1, false},
                                           ConvCase{DType::BF16, 1, 10, 9, 24, 24,
                                                    true},  // depthwise, odd size
                                           ConvCase{DType::BF16, 4, 16, 8, 32, 4, true},
                                           ConvCase{DType::F16, 2, 3, 16, 16, 1, false},
                                           ConvCase{DType::F16, 1, 10, 9, 24, 24, true},
                                           ConvCase{DType::F16, 4, 16, 8, 32, 4, true}),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace condense
