// Quantization-parameter math: integer ranges, scale and zero point (hand-computed and
// PyTorch's), ONNX rounding, weight quantization per tensor / channel / block and its agreement
// with condense's reference QuantizeLinear / DequantizeLinear kernels.
#include <condense/quant.h>
#include <gtest/gtest.h>

#include <cmath>

#include "../unit/node_runner.h"
#include "quant_test_util.h"

using namespace condense;
using namespace condense::quant;
using quant_test::Fixture;

TEST(QuantRange, SymmetricRestrictedReducedAndFourBit) {
  auto eq = [](IntRange r, int32_t lo, int32_t hi) { return r.lo == lo && r.hi == hi; };
  EXPECT_TRUE(eq(quant_range(DType::I8, false, false), -128, 127));
  EXPECT_TRUE(eq(quant_range(DType::I8, true, false), -127, 127));
  EXPECT_TRUE(eq(quant_range(DType::I8, false, true), -64, 63));
  EXPECT_TRUE(eq(quant_range(DType::I8, true, true), -63, 63));
  EXPECT_TRUE(eq(quant_range(DType::U8, false, false), 0, 255));
  EXPECT_TRUE(eq(quant_range(DType::U8, false, true), 0, 127));
  EXPECT_TRUE(eq(quant_range(DType::I4, true, false), -7, 7));
  EXPECT_TRUE(eq(quant_range(DType::I4, false, false), -8, 7));
  EXPECT_TRUE(eq(quant_range(DType::U4, false, true), 0, 15));  // no 7-bit for 4-bit types
}

TEST(ScaleZp, HandComputed) {
  // uint8 asymmetric [-1, 3]: scale 4/255, zero point 0 - round(-1 / (4/255)) = round(63.75) = 64.
  ScaleZp a = compute_scale_zp(-1.0f, 3.0f, {0, 255}, false);
  EXPECT_FLOAT_EQ(a.scale, 4.0f / 255.0f);
  EXPECT_EQ(a.zero_point, 64);
  // The range widens to include 0: [2, 5] quantizes as [0, 5].
  ScaleZp b = compute_scale_zp(2.0f, 5.0f, {0, 255}, false);
  EXPECT_FLOAT_EQ(b.scale, 5.0f / 255.0f);
  EXPECT_EQ(b.zero_point, 0);
  // int8 symmetric (restricted): a = 2.54 -> scale 2.54 / 127 = 0.02, zero point 0.
  ScaleZp c = compute_scale_zp(-2.54f, 1.0f, {-127, 127}, true);
  EXPECT_FLOAT_EQ(c.scale, 2.54f * 2 / 254.0f);
  EXPECT_EQ(c.zero_point, 0);
  // uint8 symmetric: zero point in the middle, 128.
  EXPECT_EQ(compute_scale_zp(-1.0f, 1.0f, {0, 255}, true).zero_point, 128);
  // uint4 symmetric: 8.
  EXPECT_EQ(compute_scale_zp(-1.0f, 1.0f, {0, 15}, true).zero_point, 8);
  // All zero: scale 1, zero point at the range's low end (asymmetric) or middle (symmetric).
  ScaleZp z = compute_scale_zp(0.0f, 0.0f, {0, 255}, false);
  EXPECT_EQ(z.scale, 1.0f);
  EXPECT_EQ(z.zero_point, 0);
  EXPECT_EQ(compute_scale_zp(0.0f, 0.0f, {-127, 127}, true).zero_point, 0);
  // Tiny ranges are floored at f32 epsilon (PyTorch's eps).
  EXPECT_EQ(compute_scale_zp(0.0f, 1e-12f, {0, 255}, false).scale, kMinScale);
}

TEST(ScaleZp, MatchesPyTorchObservers) {
  Fixture f("observers.npz");
  for (std::string kind : {"signed", "relu"}) {
    SCOPED_TRACE(kind);
    const Tensor& mm = f.at(kind + ".minmax");
    const float lo = mm.data<float>()[0], hi = mm.data<float>()[1];
    // quint8 per_tensor_affine: [0, 255], asymmetric.
    const Tensor& affine = f.at(kind + ".affine_u8");
    ScaleZp a = compute_scale_zp(lo, hi, {0, 255}, false);
    EXPECT_EQ(a.scale, static_cast<float>(affine.get_f64(0)));
    EXPECT_EQ(a.zero_point, affine.get_i64(1));
    // qint8 per_tensor_symmetric: PyTorch's full range [-128, 127] with scale a / 127.5.
    const Tensor& sym = f.at(kind + ".symmetric_i8");
    ScaleZp s = compute_scale_zp(lo, hi, {-128, 127}, true);
    EXPECT_EQ(s.scale, static_cast<float>(sym.get_f64(0)));
    EXPECT_EQ(s.zero_point, sym.get_i64(1));
  }
}

TEST(QuantizeValue, RoundHalfToEvenAndSaturation) {
  const IntRange r{0, 255};
  EXPECT_EQ(quantize_value(0.5f, 1.0f, 0, r), 0);  // 0.5 -> 0 (even)
  EXPECT_EQ(quantize_value(1.5f, 1.0f, 0, r), 2);  // 1.5 -> 2
  EXPECT_EQ(quantize_value(2.5f, 1.0f, 0, r), 2);  // 2.5 -> 2
  EXPECT_EQ(quantize_value(-0.5f, 1.0f, 10, r), 10);
  EXPECT_EQ(quantize_value(1000.0f, 1.0f, 0, r), 255);
  EXPECT_EQ(quantize_value(-1000.0f, 1.0f, 3, r), 0);
  EXPECT_EQ(quantize_value(NAN, 1.0f, 7, r), 7);
  EXPECT_EQ(quantize_value(INFINITY, 0.5f, 0, {-127, 127}), 127);
}

namespace {
// Runs DequantizeLinear(q, scale, zero point) on condense's reference kernel.
Tensor reference_dequantize(const QuantizedTensor& q) {
  std::map<std::string, ir::Attribute> attrs;
  if (q.axis >= 0) attrs["axis"] = ir::Attribute::of_int(q.axis);
  if (q.block_size > 0) attrs["block_size"] = ir::Attribute::of_int(q.block_size);
  auto out = test::run_node(OpKind::DequantizeLinear, {q.q, q.scale, q.zero_point}, attrs);
  CONDENSE_CHECK_MSG(out.is_ok(), out.status().message().c_str());
  return (*out)[0];
}
// QuantizeLinear(w, scale, zero point) on the reference kernel.
Tensor reference_quantize(const Tensor& w, const QuantizedTensor& q) {
  std::map<std::string, ir::Attribute> attrs;
  if (q.axis >= 0) attrs["axis"] = ir::Attribute::of_int(q.axis);
  if (q.block_size > 0) attrs["block_size"] = ir::Attribute::of_int(q.block_size);
  auto out = test::run_node(OpKind::QuantizeLinear, {w, q.scale, q.zero_point}, attrs);
  CONDENSE_CHECK_MSG(out.is_ok(), out.status().message().c_str());
  return (*out)[0];
}
}  // namespace

TEST(QuantizeWeight, AgreesWithReferenceKernelsForEveryScheme) {
  const Tensor w = quant_test::random_tensor({12, 10, 3, 3}, 0.5f, 3);
  struct Case {
    const char* name;
    WeightScheme s;
    int64_t channel_axis, block_axis;
  };
  std::vector<Case> cases = {
      {"i8 per-tensor", {DType::I8, true, Granularity::PerTensor}, 0, 1},
      {"i8 per-channel", {DType::I8, true, Granularity::PerChannel}, 0, 1},
      {"i8 per-channel asym", {DType::I8, false, Granularity::PerChannel}, 0, 1},
      {"i8 reduce-range", {DType::I8, true, Granularity::PerChannel, 128, true}, 0, 1},
      {"u8 asym per-channel axis 1", {DType::U8, false, Granularity::PerChannel}, 1, 0},
      {"i4 blocked 4 on axis 1", {DType::I4, true, Granularity::PerGroup, 4}, 0, 1},
      {"u4 blocked 3 on axis 0", {DType::U4, false, Granularity::PerGroup, 5}, 1, 0},
      {"i4 per-channel", {DType::I4, true, Granularity::PerChannel}, 0, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto q = quantize_weight(w, c.s, c.channel_axis, c.block_axis, "w");
    ASSERT_TRUE(q) << q.status().message();
    EXPECT_EQ(q->q.dtype(), c.s.dtype);
    EXPECT_EQ(q->q.shape(), w.shape());
    // What QuantizeLinear computes from these parameters is exactly q.
    EXPECT_TRUE(reference_quantize(w, *q).identical(q->q));
    // The DequantizeLinear kernel and dequantize() agree, and every value is within half a
    // step of the original (no clipping: the range is each slot's min/max).
    Tensor ref = reference_dequantize(*q);
    Tensor mine = dequantize(*q);
    ASSERT_TRUE(ref.identical(mine));
    const IntRange r = quant_range(c.s.dtype, c.s.symmetric, c.s.reduce_range);
    float worst = 0, max_scale = 0;
    for (int64_t k = 0; k < q->scale.numel(); ++k)
      max_scale = std::max(max_scale, q->scale.data<float>()[k]);
    for (int64_t i = 0; i < w.numel(); ++i)
      worst = std::max(worst, std::abs(w.data<float>()[i] - mine.data<float>()[i]));
    EXPECT_LE(worst, 0.5f * max_scale * 1.0001f);
    std::vector<int64_t> ints = q->q.to_i64_vector();
    for (int64_t v : ints) {
      EXPECT_GE(v, r.lo);
      EXPECT_LE(v, r.hi);
    }
  }
}

TEST(QuantizeWeight, BlockedScaleShapeAndPartialBlock) {
  // (6, 10) with blocks of 4 along axis 1: scale (6, 3); the last block holds 2 columns.
  const Tensor w = quant_test::random_tensor({6, 10}, 1.0f, 9);
  auto q = quantize_weight(w, {DType::I4, true, Granularity::PerGroup, 4}, 0, 1, "w");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->scale.shape(), (Shape{6, 3}));
  EXPECT_EQ(q->axis, 1);
  EXPECT_EQ(q->block_size, 4);
  // The scale of block (r, b) is max |w| over its columns / 7.
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t b = 0; b < 3; ++b) {
      float a = 0;
      for (int64_t c = b * 4; c < std::min<int64_t>(10, b * 4 + 4); ++c)
        a = std::max(a, std::abs(w.data<float>()[r * 10 + c]));
      EXPECT_FLOAT_EQ(q->scale.data<float>()[r * 3 + b], 2 * a / 14.0f);
    }
}

TEST(QuantizeWeight, MatchesPyTorchPerChannel) {
  Fixture f("observers.npz");
  const Tensor& w = f.at("weights.w");
  const Tensor& scale = f.at("weights.scale");
  const Tensor& zp = f.at("weights.zero_point");
  const Tensor& q = f.at("weights.q");
  const int64_t per = w.numel() / w.dim(0);
  int64_t ties = 0;
  for (int64_t c = 0; c < w.dim(0); ++c) {
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < per; ++i) {
      lo = std::min(lo, w.data<float>()[c * per + i]);
      hi = std::max(hi, w.data<float>()[c * per + i]);
    }
    // PyTorch's qint8 symmetric uses the full range [-128, 127].
    ScaleZp s = compute_scale_zp(lo, hi, {-128, 127}, true);
    EXPECT_EQ(s.scale, scale.data<float>()[c]) << "channel " << c;
    EXPECT_EQ(s.zero_point, zp.get_i64(c)) << "channel " << c;
    for (int64_t i = 0; i < per; ++i) {
      const float x = w.data<float>()[c * per + i];
      const int32_t mine = quantize_value(x, s.scale, s.zero_point, {-128, 127});
      if (mine == q.get_i64(c * per + i)) continue;
      // PyTorch multiplies by 1 / scale where ONNX divides: the two may round an exact tie
      // (the channel's extreme, a / (a / 127.5) = 127.5) differently, by one step.
      const float v = x / s.scale;
      EXPECT_NEAR(std::abs(v - std::trunc(v)), 0.5f, 1e-4f) << "channel " << c << " element " << i;
      EXPECT_EQ(std::abs(mine - q.get_i64(c * per + i)), 1);
      ++ties;
    }
  }
  EXPECT_LE(ties, w.dim(0));  // at most the one extreme per channel
}

TEST(QuantizeWeight, RejectsNonFiniteAndBadAxis) {
  Tensor w = quant_test::random_tensor({4, 4}, 1.0f, 2);
  w.data<float>()[6] = NAN;
  auto q = quantize_weight(w, {}, 0, 1, "fc.weight");
  ASSERT_FALSE(q);
  EXPECT_NE(q.status().message().find("'fc.weight' has NaN at element 6"), std::string::npos)
      << q.status().message();
  w.data<float>()[6] = INFINITY;
  EXPECT_NE(quantize_weight(w, {}, 0, 1, "w").status().message().find("Inf"), std::string::npos);
  Tensor ok = quant_test::random_tensor({4, 4}, 1.0f, 2);
  auto bad = quantize_weight(ok, {DType::I8, true, Granularity::PerChannel}, 2, 0, "w");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("axis 2 is out of range"), std::string::npos);
}
