// Augmentation of (C, H, W) samples (random crop with padding, horizontal flip) and the seeded
// per-epoch order. All randomness comes from splitmix64 streams keyed by (seed, epoch, sample), so
// results are the same on every machine, thread count and batch size.
#include <condense/data.h>

#include <charconv>

#include "io/sample_key.h"

namespace condense::data {

namespace {

// splitmix64 (the zoo's generator too): a fixed sequence per seed on every platform.
class Stream {
 public:
  explicit Stream(uint64_t seed) : state_(seed) {}
  uint64_t next() { return io_internal::mix64(state_ += 0x9e3779b97f4a7c15ull); }
  // Uniform in [0, n), n >= 1, unbiased (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
      if (static_cast<uint64_t>(m) >= threshold) return static_cast<uint64_t>(m >> 64);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace

Result<Augment> parse_augment(std::string_view text) {
  Augment a;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = std::min(text.find(',', pos), text.size());
    std::string_view item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item == "flip" || item == "hflip") {
      a.hflip = true;
    } else if (item == "none") {
    } else if (item.starts_with("crop")) {
      std::string_view digits = item.substr(4);
      int64_t p = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || p < 1 ||
          p > 64)
        return Status::errorf(
            "augmentation '{}': cropN needs a padding N in 1..64 (e.g. crop4: pad 4, crop back)",
            item);
      a.crop_padding = p;
    } else {
      return Status::errorf("unknown augmentation '{}' in '{}' (known: cropN, flip, none)", item,
                            text);
    }
  }
  return a;
}

void augment_sample(std::span<float> chw, const Shape& shape, const Augment& augment,
                    std::span<const float> fill, uint64_t key, std::vector<float>& scratch) {
  CONDENSE_CHECK(shape.size() == 3);
  const int64_t c_n = shape[0], h = shape[1], w = shape[2];
  CONDENSE_CHECK(static_cast<int64_t>(chw.size()) == c_n * h * w);
  CONDENSE_CHECK(static_cast<int64_t>(fill.size()) == c_n);
  Stream rng(key);
  float* x = chw.data();
  if (augment.crop_padding > 0) {
    const int64_t p = augment.crop_padding;
    // The window's top-left corner in the padded image, in [0, 2p]^2; relative to x: -p..p.
    const int64_t dy = static_cast<int64_t>(rng.below(2 * p + 1)) - p;
    const int64_t dx = static_cast<int64_t>(rng.below(2 * p + 1)) - p;
    scratch.assign(chw.begin(), chw.end());
    for (int64_t c = 0; c < c_n; ++c) {
      const float* src = scratch.data() + c * h * w;
      float* dst = x + c * h * w;
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + dy;
        for (int64_t xx = 0; xx < w; ++xx) {
          const int64_t sx = xx + dx;
          dst[y * w + xx] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx] : fill[c];
        }
      }
    }
  }
  if (augment.hflip && (rng.next() >> 63) != 0) {
    for (int64_t row = 0; row < c_n * h; ++row) std::reverse(x + row * w, x + row * w + w);
  }
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(std::max<int64_t>(n, 0));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  Stream rng(io_internal::epoch_key(seed, epoch));
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[rng.below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

}  // namespace condense::data
