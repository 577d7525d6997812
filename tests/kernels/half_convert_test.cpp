// The AVX-512 half <-> f32 conversions (kernels/half/half_convert.h) against the scalar rules of
// condense/dtype.h: every fp16 and bf16 bit pattern widened, and f32 values narrowed (rounding
// ties, overflow to infinity, subnormal results, NaN, random bit patterns), array lengths with
// masked tails.
#include "kernels/half/half_convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace condense {
namespace {

bool same_float(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) ||
         (std::isnan(a) && std::isnan(b));
}

TEST(HalfConvert, WidensEveryBitPattern) {
  if (!half_convert_has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU: the scalar path runs";
  std::vector<uint16_t> bits(65536);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  std::vector<float> h(bits.size()), b(bits.size());
  f16_to_f32_avx512(bits.data(), h.data(), static_cast<int64_t>(bits.size()));
  bf16_to_f32_avx512(bits.data(), b.data(), static_cast<int64_t>(bits.size()));
  for (size_t i = 0; i < bits.size(); ++i) {
    ASSERT_TRUE(same_float(h[i], half_to_float(bits[i]))) << "fp16 0x" << std::hex << i;
    ASSERT_TRUE(same_float(b[i], bf16_to_float(bits[i]))) << "bf16 0x" << std::hex << i;
  }
}

TEST(HalfConvert, NarrowsAsTheScalarRules) {
  if (!half_convert_has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU: the scalar path runs";
  std::vector<float> x = {0.f,
                          -0.f,
                          1.f,
                          -1.f,
                          65504.f,
                          65519.f,
                          65520.f,
                          1e9f,
                          -1e9f,
                          INFINITY,
                          -INFINITY,
                          NAN,
                          -NAN,
                          5.96e-8f,
                          2.98e-8f,
                          2.99e-8f,
                          1e-10f,
                          6.1e-5f,
                          1.f + 1.f / 2048,
                          1.f + 3.f / 2048,
                          1.f + 1.f / 256,
                          1.f + 3.f / 256,
                          3.4e38f,
                          std::bit_cast<float>(0x7f7fffffu),
                          std::bit_cast<float>(0x7fa00001u),
                          std::bit_cast<float>(0x00000001u)};
  std::mt19937 rng(3);
  for (int i = 0; i < 100000; ++i) x.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  for (int64_t n : {int64_t(1), int64_t(15), int64_t(17), static_cast<int64_t>(x.size())}) {
    std::vector<uint16_t> h(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    f32_to_f16_avx512(x.data(), h.data(), n);
    f32_to_bf16_avx512(x.data(), b.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t wh = float_to_half(x[i]), wb = float_to_bf16(x[i]);
      if (std::isnan(x[i])) {  // any quiet NaN of the same sign
        EXPECT_TRUE(std::isnan(half_to_float(h[i])) && (h[i] >> 15) == (wh >> 15)) << x[i];
        EXPECT_EQ(b[i], wb) << "bf16 NaN " << std::hex << std::bit_cast<uint32_t>(x[i]);
        continue;
      }
      ASSERT_EQ(h[i], wh) << "fp16 of " << x[i] << " (0x" << std::hex
                          << std::bit_cast<uint32_t>(x[i]) << ")";
      ASSERT_EQ(b[i], wb) << "bf16 of " << x[i] << " (0x" << std::hex
                          << std::bit_cast<uint32_t>(x[i]) << ")";
    }
  }
}

TEST(HalfConvert, DispatchMatchesOnLongArrays) {
  // Above the parallel grain: the chunks the threads convert join up.
  const int64_t n = (int64_t{1} << 17) + 5;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 4099) * 0.37f - 700.f;
  std::vector<uint16_t> h(x.size());
  std::vector<float> back(x.size());
  f32_to_f16(x.data(), h.data(), n);
  f16_to_f32(h.data(), back.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(h[i], float_to_half(x[i])) << i;
    ASSERT_EQ(back[i], half_to_float(h[i])) << i;
  }
}

}  // namespace
}  // namespace condense
