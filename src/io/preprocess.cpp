// Images -> float NCHW batches: x = (pixel / divisor - mean[c]) / std[c], evaluated in that order
// in f32 (as torchvision's ToTensor + Normalize do) through a 256-entry table per channel.
#include <condense/data.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>

#include "io/channel_table.h"

namespace condense::data {

Preprocess Preprocess::imagenet() {
  Preprocess p;
  p.divisor = 255.0f;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  return p;
}

Preprocess Preprocess::cifar10() {
  Preprocess p;
  p.mean = {0.4914f, 0.4822f, 0.4465f};
  p.std = {0.2470f, 0.2435f, 0.2616f};
  return p;
}

Preprocess Preprocess::mnist() {
  Preprocess p;
  p.mean = {0.1307f};
  p.std = {0.3081f};
  return p;
}

Preprocess Preprocess::unit() {
  return Preprocess{};
}

float Preprocess::zero_value(int64_t c) const {
  CONDENSE_CHECK(c >= 0 && (mean.size() == 1 || c < static_cast<int64_t>(mean.size())));
  CONDENSE_CHECK(std.size() == 1 || c < static_cast<int64_t>(std.size()));
  float m = mean.size() == 1 ? mean[0] : mean[c];
  float s = std.size() == 1 ? std[0] : std[c];
  return (0.0f - m) / s;
}

namespace {

Result<std::vector<float>> parse_floats(std::string_view list, std::string_view text) {
  std::vector<float> values;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = std::min(list.find(',', pos), list.size());
    std::string_view item = list.substr(pos, comma - pos);
    float v = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || !std::isfinite(v))
      return Status::errorf("normalization '{}': '{}' is not a number", text, item);
    values.push_back(v);
    pos = comma + 1;
  }
  return values;
}

}  // namespace

Result<Preprocess> parse_normalization(std::string_view text) {
  if (text == "imagenet") return Preprocess::imagenet();
  if (text == "cifar10") return Preprocess::cifar10();
  if (text == "mnist") return Preprocess::mnist();
  if (text == "unit") return Preprocess::unit();
  if (text == "raw" || text == "none") return Preprocess::raw();
  size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    return Status::errorf(
        "unknown normalization '{}' (presets: imagenet, cifar10, mnist, unit, raw, none; or "
        "MEAN/STD such as 0.5,0.5,0.5/0.25,0.25,0.25)",
        text);
  Preprocess p;
  CONDENSE_ASSIGN_OR_RETURN(p.mean, parse_floats(text.substr(0, slash), text));
  CONDENSE_ASSIGN_OR_RETURN(p.std, parse_floats(text.substr(slash + 1), text));
  if (p.mean.size() != p.std.size() && p.mean.size() != 1 && p.std.size() != 1)
    return Status::errorf("normalization '{}': {} means but {} standard deviations", text,
                          p.mean.size(), p.std.size());
  for (float sd : p.std)
    if (!(sd > 0.0f))
      return Status::errorf("normalization '{}': standard deviations must be > 0 (got {})", text,
                            sd);
  return p;
}

Preprocess Preprocess::raw() {
  Preprocess p;
  p.divisor = 1.0f;
  p.mean = {0.0f};
  p.std = {1.0f};
  return p;
}

namespace {

// src: HWC u8 of one image; dst: CHW f32 of one image.
void hwc_to_chw(const uint8_t* src, float* dst, int64_t hw, int64_t channels, const float* lut) {
  for (int64_t c = 0; c < channels; ++c) {
    float* d = dst + c * hw;
    const float* t = lut + c * 256;
    for (int64_t i = 0; i < hw; ++i) d[i] = t[src[i * channels + c]];
  }
}

}  // namespace

Result<Tensor> images_to_nchw(std::span<const Image> images, const Preprocess& preprocess) {
  if (images.empty()) return Status::error("images_to_nchw: no images");
  int64_t h = images[0].height, w = images[0].width;
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& im = images[i];
    if (im.height != h || im.width != w)
      return Status::errorf("image {} is {}x{} but image 0 is {}x{}: a batch needs one size", i,
                            im.width, im.height, w, h);
    if (static_cast<int64_t>(im.pixels.size()) != h * w * 3)
      return Status::errorf("image {} has {} bytes of pixels, {}x{} RGB needs {}", i,
                            im.pixels.size(), w, h, h * w * 3);
  }
  CONDENSE_ASSIGN_OR_RETURN(io_internal::ChannelTable table,
                            io_internal::make_channel_table(preprocess, 3));
  const float* lut = table.u8.data();
  const int64_t n = static_cast<int64_t>(images.size());
  Tensor x = Tensor::empty(DType::F32, {n, 3, h, w});
  float* dst = x.data<float>();
#pragma omp parallel for if (n * h * w > (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    hwc_to_chw(images[i].pixels.data(), dst + i * 3 * h * w, h * w, 3, lut);
  return x;
}

Result<Tensor> u8_images_to_nchw(const Tensor& images, int64_t start, int64_t count,
                                 const Preprocess& preprocess) {
  if (!images.defined() || images.dtype() != DType::U8 ||
      (images.rank() != 3 && images.rank() != 4))
    return Status::errorf(
        "u8_images_to_nchw: expected u8 images (N, H, W) or (N, H, W, C), got {} {}",
        dtype_name(images.dtype()), shape_str(images.shape()));
  int64_t total = images.dim(0);
  if (start < 0 || count < 1 || start >= total)
    return Status::errorf("u8_images_to_nchw: rows [{}, {}+{}) out of range for {} images", start,
                          start, count, total);
  count = std::min(count, total - start);
  int64_t h = images.dim(1), w = images.dim(2), c = images.rank() == 4 ? images.dim(3) : 1;
  CONDENSE_ASSIGN_OR_RETURN(io_internal::ChannelTable table,
                            io_internal::make_channel_table(preprocess, c));
  Tensor x = Tensor::empty(DType::F32, {count, c, h, w});
  const uint8_t* src = images.data<uint8_t>() + start * h * w * c;
  float* dst = x.data<float>();
  for (int64_t i = 0; i < count; ++i)
    hwc_to_chw(src + i * h * w * c, dst + i * c * h * w, h * w, c, table.u8.data());
  return x;
}

}  // namespace condense::data

namespace condense::io_internal {

Result<ChannelTable> make_channel_table(const data::Preprocess& p, int64_t channels) {
  auto pick = [&](const std::vector<float>& v, int64_t c, const char* what) -> Result<float> {
    if (v.size() == 1) return v[0];
    if (static_cast<int64_t>(v.size()) == channels) return v[c];
    return Status::errorf("preprocess {} has {} values, the images have {} channels", what,
                          v.size(), channels);
  };
  if (!(p.divisor > 0.0f) || !std::isfinite(p.divisor))
    return Status::errorf("preprocess divisor must be positive and finite (got {})", p.divisor);
  ChannelTable t;
  t.channels = channels;
  t.u8.resize(channels * 256);
  for (int64_t c = 0; c < channels; ++c) {
    CONDENSE_ASSIGN_OR_RETURN(float mean, pick(p.mean, c, "mean"));
    CONDENSE_ASSIGN_OR_RETURN(float sd, pick(p.std, c, "std"));
    if (!(sd > 0.0f) || !std::isfinite(sd) || !std::isfinite(mean))
      return Status::errorf(
          "preprocess std must be positive and finite (channel {}: mean {}, std {})", c, mean, sd);
    t.mean.push_back(mean);
    t.std.push_back(sd);
    for (int v = 0; v < 256; ++v)
      t.u8[c * 256 + v] = (static_cast<float>(v) / p.divisor - mean) / sd;
  }
  return t;
}

}  // namespace condense::io_internal
