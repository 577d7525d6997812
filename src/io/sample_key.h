// Keys of the loader's random streams: one per (seed, epoch) for the shuffle and one per
// (seed, epoch, sample index) for augmentation, so neither depends on batch size or timing.
#pragma once

#include <cstdint>

namespace condense::io_internal {

// splitmix64's output function: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline uint64_t epoch_key(uint64_t seed, int64_t epoch) {
  return mix64(mix64(seed ^ 0x53687566666c6521ull) + static_cast<uint64_t>(epoch));
}

inline uint64_t sample_key(uint64_t seed, int64_t epoch, int64_t index) {
  return mix64(mix64(epoch_key(seed, epoch) ^ 0x4175676d656e7421ull) +
               static_cast<uint64_t>(index));
}

}  // namespace condense::io_internal
