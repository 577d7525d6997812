// Per-channel normalization tables built once from a Preprocess and shared by every dataset:
// 8-bit pixels go through a 256-entry table per channel, float values through (x - mean) / std.
#pragma once

#include <condense/data.h>

#include <vector>

namespace condense::io_internal {

struct ChannelTable {
  int64_t channels = 0;
  std::vector<float> u8;    // u8[c * 256 + v]: (v / divisor - mean[c]) / std[c]
  std::vector<float> mean;  // per channel
  std::vector<float> std;   // per channel

  float from_u8(int64_t c, uint8_t v) const { return u8[c * 256 + v]; }
  float from_f32(int64_t c, float v) const { return (v - mean[c]) / std[c]; }
};

// Error when mean/std have neither 1 nor `channels` values, or a value is not finite, or a std
// or the divisor is not positive.
Result<ChannelTable> make_channel_table(const data::Preprocess& p, int64_t channels);

}  // namespace condense::io_internal
