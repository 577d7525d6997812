// Quantization ops: rounding (half to even), saturation, per-axis / blocked scales, 4-bit
// packing, integer matmul / conv, and rejection of bad input.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include "node_runner.h"

using namespace condense;

namespace {

using test::run_node;

std::vector<int64_t> ints(const Tensor& t) {
  return t.to_i64_vector();
}

}  // namespace

TEST(QuantizeLinear, RoundsHalfToEven) {
  Tensor x = Tensor::from_vector<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1.49f, 2.6f}, {8});
  auto r =
      run_node(OpKind::QuantizeLinear, {x, Tensor::scalar<float>(1.f), Tensor::scalar<int8_t>(0)});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{0, 2, 2, 0, -2, -2, 1, 3}));
  // Ties after division: 5 / 2 = 2.5 -> 2, 7 / 2 = 3.5 -> 4.
  Tensor x2 = Tensor::from_vector<float>({5.f, 7.f}, {2});
  auto r2 = run_node(OpKind::QuantizeLinear,
                     {x2, Tensor::scalar<float>(2.f), Tensor::scalar<uint8_t>(0)});
  ASSERT_TRUE(r2) << r2.status().message();
  EXPECT_EQ(ints((*r2)[0]), (std::vector<int64_t>{2, 4}));
}

TEST(QuantizeLinear, Saturates) {
  Tensor x = Tensor::from_vector<float>({-10.f, 300.f, 1000.f, 5.f}, {4});
  auto r = run_node(OpKind::QuantizeLinear,
                    {x, Tensor::scalar<float>(1.f), Tensor::scalar<uint8_t>(10)});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{0, 255, 255, 15}));
  auto r16 =
      run_node(OpKind::QuantizeLinear, {Tensor::from_vector<float>({-1e9f, 1e9f}, {2}),
                                        Tensor::scalar<float>(1.f), Tensor::scalar<int16_t>(0)});
  ASSERT_TRUE(r16) << r16.status().message();
  EXPECT_EQ(ints((*r16)[0]), (std::vector<int64_t>{-32768, 32767}));
}

TEST(QuantizeLinear, Int4PackedAndSaturated) {
  Tensor x = Tensor::from_vector<float>({-100.f, 100.f, 3.f}, {3});
  auto r = run_node(OpKind::QuantizeLinear, {x, Tensor::scalar<float>(1.f), std::nullopt},
                    {{"output_dtype", ir::Attribute::of_int(22)}});  // INT4
  ASSERT_TRUE(r) << r.status().message();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dtype(), DType::I4);
  EXPECT_EQ(ints(y), (std::vector<int64_t>{-8, 7, 3}));
  EXPECT_EQ(y.data<uint8_t>()[0], 0x78);  // element 0 in the low nibble
  // Round trip through DequantizeLinear.
  auto d = run_node(OpKind::DequantizeLinear, {y, Tensor::scalar<float>(0.5f)});
  ASSERT_TRUE(d) << d.status().message();
  EXPECT_EQ((*d)[0].to_f32_vector(), (std::vector<float>{-4.f, 3.5f, 1.5f}));
}

TEST(QuantizeLinear, PerAxis) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = Tensor::from_vector<float>({1, 2, 4}, {3});
  Tensor z = Tensor::from_vector<uint8_t>({0, 10, 20}, {3});
  auto r = run_node(OpKind::QuantizeLinear, {x, s, z}, {{"axis", ir::Attribute::of_int(1)}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{1, 11, 21, 4, 12, 22}));
  // A scale that does not fit the axis is an error naming the node.
  auto bad = run_node(
      OpKind::QuantizeLinear,
      {x, Tensor::from_vector<float>({1, 2}, {2}), Tensor::from_vector<uint8_t>({0, 0}, {2})},
      {{"axis", ir::Attribute::of_int(1)}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("'n'"), std::string::npos) << bad.status().message();
  auto bad_axis = run_node(OpKind::QuantizeLinear, {x, s, z}, {{"axis", ir::Attribute::of_int(5)}});
  EXPECT_FALSE(bad_axis);
}

TEST(QuantizeLinear, Blocked) {
  // x (2, 4), blocks of 2 along axis 1 -> scale (2, 2).
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  Tensor s = Tensor::from_vector<float>({1, 2, 4, 8}, {2, 2});
  auto r = run_node(OpKind::QuantizeLinear, {x, s, std::nullopt},
                    {{"axis", ir::Attribute::of_int(1)}, {"block_size", ir::Attribute::of_int(2)}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{1, 2, 2, 2, 1, 2, 1, 1}));
  // Blocked with a ragged last block: D=3, block 2 -> 2 scales along the axis.
  Tensor x3 = Tensor::from_vector<float>({2, 4, 6}, {1, 3});
  auto r3 = run_node(
      OpKind::QuantizeLinear, {x3, Tensor::from_vector<float>({2, 3}, {1, 2}), std::nullopt},
      {{"axis", ir::Attribute::of_int(1)}, {"block_size", ir::Attribute::of_int(2)}});
  ASSERT_TRUE(r3) << r3.status().message();
  EXPECT_EQ(ints((*r3)[0]), (std::vector<int64_t>{1, 2, 2}));
  auto bad =
      run_node(OpKind::QuantizeLinear,
               {x, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}), std::nullopt},
               {{"axis", ir::Attribute::of_int(1)}, {"block_size", ir::Attribute::of_int(2)}});
  EXPECT_FALSE(bad);
}

TEST(DequantizeLinear, RejectsZeroPointDtypeMismatch) {
  Tensor x = Tensor::from_vector<int8_t>({1, 2}, {2});
  auto bad = run_node(OpKind::DequantizeLinear,
                      {x, Tensor::scalar<float>(1.f), Tensor::scalar<uint8_t>(0)});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("zero point"), std::string::npos);
  auto bad_shape = run_node(OpKind::DequantizeLinear,
                            {x, Tensor::from_vector<float>({1, 2}, {2}), Tensor::scalar<int8_t>(0)},
                            {{"axis", ir::Attribute::of_int(0)}});
  EXPECT_FALSE(bad_shape);
}

TEST(DequantizeLinear, PerAxisInt32) {
  Tensor x = Tensor::from_vector<int32_t>({100, -100, 7, 8}, {2, 2});
  auto r = run_node(OpKind::DequantizeLinear, {x, Tensor::from_vector<float>({0.5f, 2.f}, {2})},
                    {{"axis", ir::Attribute::of_int(0)}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)[0].to_f32_vector(), (std::vector<float>{50, -50, 14, 16}));
}

TEST(DynamicQuantizeLinear, IncludesZeroInRange) {
  Tensor x = Tensor::from_vector<float>({1.f, 2.f, 2.55f}, {3});  // all positive: min is 0
  auto r = run_node(OpKind::DynamicQuantizeLinear, {x}, {}, 3);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_FLOAT_EQ((*r)[1].data<float>()[0], 0.01f);
  EXPECT_EQ((*r)[2].data<uint8_t>()[0], 0);
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{100, 200, 255}));
  // All zeros: scale 0, everything 0, no division by zero.
  auto z = run_node(OpKind::DynamicQuantizeLinear, {Tensor::zeros(DType::F32, {2})}, {}, 3);
  ASSERT_TRUE(z) << z.status().message();
  EXPECT_EQ(ints((*z)[0]), (std::vector<int64_t>{0, 0}));
}

TEST(MatMulInteger, PerRowAndPerColumnZeroPoints) {
  Tensor a = Tensor::from_vector<uint8_t>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector<int8_t>({1, -1, 2, 0}, {2, 2});
  Tensor za = Tensor::from_vector<uint8_t>({1, 3}, {2});  // per row of a
  Tensor zb = Tensor::from_vector<int8_t>({0, -1}, {2});  // per column of b
  auto r = run_node(OpKind::MatMulInteger, {a, b, za, zb});
  ASSERT_TRUE(r) << r.status().message();
  // a - za = [[0, 1], [0, 1]]; b - zb = [[1, 0], [2, 1]].
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{2, 1, 2, 1}));
  auto bad = run_node(OpKind::MatMulInteger, {a, b, Tensor::from_vector<uint8_t>({1, 2, 3}, {3})});
  EXPECT_FALSE(bad);
}

TEST(ConvInteger, PaddingContributesZero) {
  // x (1, 1, 2, 2) with zero point 1, 3x3 kernel of ones, pads 1: every output sums x - 1.
  Tensor x = Tensor::from_vector<uint8_t>({2, 3, 4, 5}, {1, 1, 2, 2});
  Tensor w = Tensor::from_vector<uint8_t>(std::vector<uint8_t>(9, 1), {1, 1, 3, 3});
  auto r = run_node(OpKind::ConvInteger, {x, w, Tensor::scalar<uint8_t>(1)},
                    {{"pads", ir::Attribute::of_ints({1, 1, 1, 1})}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{10, 10, 10, 10}));
  auto bad = run_node(OpKind::ConvInteger, {x, w}, {{"group", ir::Attribute::of_int(2)}});
  EXPECT_FALSE(bad);
}

TEST(QLinearConv, RequantizesWithBias) {
  Tensor x = Tensor::from_vector<uint8_t>({10, 20}, {1, 2, 1, 1});
  Tensor w = Tensor::from_vector<int8_t>({1, 1, 2, -1}, {2, 2, 1, 1});
  auto r = run_node(OpKind::QLinearConv,
                    {x, Tensor::scalar<float>(0.5f), Tensor::scalar<uint8_t>(0), w,
                     Tensor::from_vector<float>({1.f, 0.25f}, {2}),
                     Tensor::from_vector<int8_t>({0, 0}, {2}), Tensor::scalar<float>(1.f),
                     Tensor::scalar<uint8_t>(100), Tensor::from_vector<int32_t>({2, 4}, {2})});
  ASSERT_TRUE(r) << r.status().message();
  // ch0: (10 + 20 + 2) * 0.5 = 16 -> 116; ch1: (20 - 20 + 4) * 0.125 = 0.5 -> 0 (even) -> 100.
  EXPECT_EQ(ints((*r)[0]), (std::vector<int64_t>{116, 100}));
}
