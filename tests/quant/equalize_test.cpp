// The pre-passes of static quantization: cross-layer equalization keeps the float model's outputs
// while balancing the channel ranges of each layer pair (and so rescues per-tensor quantization of
// a model whose channels differ by orders of magnitude); empirical bias correction removes the
// mean output shift that weight quantization causes.
#include <condense/quant.h>
#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.h"

using namespace condense;
using namespace condense::quant;
using namespace condense::quant_test;

namespace {

// sqrt(mean (a - b)^2) / sqrt(mean b^2)
double rms_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    num += (a.get_f64(i) - b.get_f64(i)) * (a.get_f64(i) - b.get_f64(i));
    den += b.get_f64(i) * b.get_f64(i);
  }
  return std::sqrt(num / den);
}

// small_cnn with conv1's output channel k scaled by 100^(k/7) and conv2's input channel k by the
// inverse: the same function (ReLU is positively homogeneous), but conv1's weight ranges span
// four orders of magnitude, which per-tensor int8 cannot represent.
ir::Graph unbalanced_cnn() {
  ir::Graph g = small_cnn();
  Tensor& w1 = *g.find_value("conv1.weight")->constant;  // (8, 3, 3, 3)
  Tensor& b1 = *g.find_value("conv1.bias")->constant;    // (8)
  Tensor& w2 = *g.find_value("conv2.weight")->constant;  // (8, 8, 3, 3)
  for (int64_t k = 0; k < 8; ++k) {
    const float s = std::pow(100.0f, float(k) / 7.0f);
    for (int64_t i = 0; i < 27; ++i) w1.data<float>()[k * 27 + i] *= s;
    b1.data<float>()[k] *= s;
    for (int64_t o = 0; o < 8; ++o)
      for (int64_t i = 0; i < 9; ++i) w2.data<float>()[(o * 8 + k) * 9 + i] /= s;
  }
  return g;
}

double max_abs_channel(const Tensor& w, int64_t axis, int64_t c) {
  double m = 0;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  for (int64_t i = 0; i < w.numel(); ++i)
    if ((i / inner) % w.dim(axis) == c) m = std::max(m, std::abs(w.get_f64(i)));
  return m;
}

}  // namespace

TEST(Equalize, KeepsTheFloatOutputsAndBalancesChannelRanges) {
  QuantizeOptions o;
  auto prepared = prepare(unbalanced_cnn(), o);
  ASSERT_TRUE(prepared) << prepared.status().message();
  Tensor x = random_tensor({4, 3, 8, 8}, 1.0f, 9, 0.2f);
  Tensor before = run1(ir::clone_graph(*prepared), x);
  ir::Graph eq = ir::clone_graph(*prepared);
  auto pairs = equalize(eq);
  ASSERT_TRUE(pairs) << pairs.status().message();
  EXPECT_EQ(*pairs, 1);  // conv1 -> conv2 (conv2 -> Flatten -> fc1 is not a direct pair; fc2 is a
                         // MatMul, which equalization does not rescale)
  Tensor after = run1(ir::clone_graph(eq), x);
  EXPECT_LT(rms_error(after, before), 1e-5);
  // conv1's output channel k and conv2's input channel k now have the same range.
  const Tensor& w1 = *eq.find_value("conv1.weight")->constant;
  const Tensor& w2 = *eq.find_value("conv2.weight")->constant;
  for (int64_t k = 0; k < 8; ++k)
    EXPECT_NEAR(max_abs_channel(w1, 0, k), max_abs_channel(w2, 1, k),
                1e-3 * max_abs_channel(w1, 0, k))
        << "channel " << k;
  // The prepared graph it was cloned from is untouched (constants are copied before rescaling).
  EXPECT_TRUE(run1(ir::clone_graph(*prepared), x).identical(before));
}

TEST(Equalize, RescuesPerTensorQuantization) {
  const ir::Graph model = unbalanced_cnn();
  QuantizeOptions o;  // per-tensor int8 weights, uint8 activations, min-max
  Tensor x = random_tensor({16, 3, 8, 8}, 1.0f, 10, 0.2f);
  Tensor ref = run1(ir::clone_graph(model), x);
  auto ds = random_dataset(64);
  auto error_with = [&](bool eq) {
    auto prepared = prepare(ir::clone_graph(model), o);
    CONDENSE_CHECK(prepared.is_ok());
    if (eq) CONDENSE_CHECK(equalize(*prepared).is_ok());
    auto table = calibrate(*prepared, o, *ds, {.batches = 4, .batch_size = 16, .threads = 1});
    CONDENSE_CHECK(table.is_ok());
    auto q = quantize(std::move(*prepared), o, &*table);
    CONDENSE_CHECK(q.is_ok());
    return rms_error(run1(std::move(q->graph), x), ref);
  };
  const double plain = error_with(false), equalized = error_with(true);
  std::printf("per-tensor int8 output error: %.4f plain, %.4f equalized\n", plain, equalized);
  EXPECT_LT(equalized, 0.5 * plain);
}

TEST(BiasCorrect, RemovesTheMeanShiftOfQuantizedWeights) {
  // One Conv (no activation): output = conv(x, W) + b. After correction, with W quantized as
  // quantize() will, the mean output over the calibration data equals the float one per channel.
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* in = g.add_input("input", DType::F32, {ir::Dim::sym("N"), 3, 8, 8});
  ir::Value* w = g.add_constant("conv.weight", random_tensor({6, 3, 3, 3}, 0.3f, 21));
  ir::Value* b = g.add_constant("conv.bias", random_tensor({6}, 0.1f, 22));
  ir::Node* conv = g.add_node(OpKind::Conv, {in, w, b}, 1, "conv");
  conv->attrs["kernel_shape"] = ir::Attribute::of_ints({3, 3});
  g.outputs.push_back(conv->outputs[0]);
  QuantizeOptions o;
  o.weights.dtype = DType::I4;  // coarse: a visible shift
  auto ds = random_dataset(32);
  CalibrationOptions c{.batches = 2, .batch_size = 16, .threads = 1};
  auto prepared = prepare(ir::clone_graph(g), o);
  ASSERT_TRUE(prepared);
  ir::Graph corrected = ir::clone_graph(*prepared);
  auto n = bias_correct(corrected, o, *ds, c);
  ASSERT_TRUE(n) << n.status().message();
  EXPECT_EQ(*n, 1);

  // Fake-quantized weights: the weight-only rewrite of each graph.
  auto weight_quantized = [&](const ir::Graph& m) {
    QuantizeOptions wo = o;
    wo.mode = Mode::WeightOnly;
    auto q = quantize(ir::clone_graph(m), wo);
    CONDENSE_CHECK(q.is_ok());
    return std::move(q->graph);
  };
  auto batch = ds->batch(0, 32);
  ASSERT_TRUE(batch);
  Tensor ref = run1(ir::clone_graph(g), batch->x);  // (32, 6, 6, 6)
  Tensor plain = run1(weight_quantized(*prepared), batch->x);
  Tensor fixed = run1(weight_quantized(corrected), batch->x);
  auto channel_mean_shift = [&](const Tensor& y) {
    double worst = 0;
    for (int64_t k = 0; k < 6; ++k) {
      double sum = 0;
      int64_t cnt = 0;
      for (int64_t i = 0; i < y.numel(); ++i)
        if ((i / 36) % 6 == k) {
          sum += y.get_f64(i) - ref.get_f64(i);
          ++cnt;
        }
      worst = std::max(worst, std::abs(sum / double(cnt)));
    }
    return worst;
  };
  std::printf("int4 per-tensor: worst channel mean shift %.5f plain, %.7f corrected\n",
              channel_mean_shift(plain), channel_mean_shift(fixed));
  EXPECT_GT(channel_mean_shift(plain), 1e-3);
  EXPECT_LT(channel_mean_shift(fixed), 1e-5);
}
