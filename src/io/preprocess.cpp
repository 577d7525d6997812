// Images -> float NCHW batches: x = (pixel / divisor - mean[c]) / std[c], evaluated in that order
// in f32 (as torchvision's ToTensor + Normalize do) through a 256-entry table per channel.
#include <condense/data.h>

#include <cmath>

namespace condense::data {

Preprocess Preprocess::imagenet() {
  Preprocess p;
  p.divisor = 255.0f;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
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

// lut[c * 256 + v]: the preprocessed value of pixel value v in channel c.
Status channel_table(const Preprocess& p, int64_t channels, std::vector<float>& lut) {
  auto pick = [&](const std::vector<float>& v, int64_t c, const char* what) -> Result<float> {
    if (v.size() == 1) return v[0];
    if (static_cast<int64_t>(v.size()) == channels) return v[c];
    return Status::errorf("preprocess {} has {} values, the images have {} channels", what,
                          v.size(), channels);
  };
  if (!(p.divisor > 0.0f) || !std::isfinite(p.divisor))
    return Status::errorf("preprocess divisor must be positive and finite (got {})", p.divisor);
  lut.resize(channels * 256);
  for (int64_t c = 0; c < channels; ++c) {
    CONDENSE_ASSIGN_OR_RETURN(float mean, pick(p.mean, c, "mean"));
    CONDENSE_ASSIGN_OR_RETURN(float sd, pick(p.std, c, "std"));
    if (!(sd > 0.0f) || !std::isfinite(sd) || !std::isfinite(mean))
      return Status::errorf(
          "preprocess std must be positive and finite (channel {}: mean {}, std {})", c, mean, sd);
    for (int v = 0; v < 256; ++v)
      lut[c * 256 + v] = (static_cast<float>(v) / p.divisor - mean) / sd;
  }
  return Status::ok();
}

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
  std::vector<float> lut;
  CONDENSE_TRY(channel_table(preprocess, 3, lut));
  const int64_t n = static_cast<int64_t>(images.size());
  Tensor x = Tensor::empty(DType::F32, {n, 3, h, w});
  float* dst = x.data<float>();
#pragma omp parallel for if (n * h * w > (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    hwc_to_chw(images[i].pixels.data(), dst + i * 3 * h * w, h * w, 3, lut.data());
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
  std::vector<float> lut;
  CONDENSE_TRY(channel_table(preprocess, c, lut));
  Tensor x = Tensor::empty(DType::F32, {count, c, h, w});
  const uint8_t* src = images.data<uint8_t>() + start * h * w * c;
  float* dst = x.data<float>();
  for (int64_t i = 0; i < count; ++i)
    hwc_to_chw(src + i * h * w * c, dst + i * c * h * w, h * w, c, lut.data());
  return x;
}

}  // namespace condense::data
