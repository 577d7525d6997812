// JPEG/PNG decoding and IDX parsing: round trips through independently encoded files, and
// corrupt/truncated input (always a Status, never a crash or an exit()).
#include <condense/data.h>
#include <gtest/gtest.h>

#include <random>

#include "io_test_util.h"

using namespace condense;
using namespace io_test;

TEST(IoImage, PngRgbRoundTripIsExact) {
  const int w = 13, h = 7;
  std::vector<uint8_t> px(w * h * 3);
  std::mt19937 rng(1);
  for (auto& p : px) p = static_cast<uint8_t>(rng());
  auto img = data::decode_png(encode_png(w, h, px));
  ASSERT_TRUE(img) << img.status().message();
  EXPECT_EQ(img->width, w);
  EXPECT_EQ(img->height, h);
  EXPECT_EQ(img->pixels, px);
  auto via_magic = data::decode_image(encode_png(w, h, px));
  ASSERT_TRUE(via_magic);
  EXPECT_EQ(via_magic->pixels, px);
}

TEST(IoImage, PngGrayAndAlphaBecomeRgb) {
  const int w = 4, h = 3;
  std::vector<uint8_t> gray(w * h);
  for (int i = 0; i < w * h; ++i) gray[i] = static_cast<uint8_t>(i * 20);
  auto g = data::decode_png(encode_png(w, h, gray, PNG_FORMAT_GRAY));
  ASSERT_TRUE(g) << g.status().message();
  ASSERT_EQ(g->pixels.size(), size_t{w * h * 3});
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g->pixels[i * 3 + c], gray[i]) << i;

  // Opaque pixels keep their colour; fully transparent ones composite to black.
  std::vector<uint8_t> rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i) {
    rgba[i * 4 + 0] = 200;
    rgba[i * 4 + 1] = 100;
    rgba[i * 4 + 2] = static_cast<uint8_t>(i);
    rgba[i * 4 + 3] = i % 2 ? 255 : 0;
  }
  auto a = data::decode_png(encode_png(w, h, rgba, PNG_FORMAT_RGBA));
  ASSERT_TRUE(a) << a.status().message();
  for (int i = 0; i < w * h; ++i) {
    if (i % 2) {
      EXPECT_EQ(a->pixels[i * 3 + 0], 200);
      EXPECT_EQ(a->pixels[i * 3 + 1], 100);
      EXPECT_EQ(a->pixels[i * 3 + 2], i);
    } else {
      EXPECT_EQ(a->pixels[i * 3 + 0], 0);
      EXPECT_EQ(a->pixels[i * 3 + 1], 0);
      EXPECT_EQ(a->pixels[i * 3 + 2], 0);
    }
  }
}

TEST(IoImage, JpegRoundTripIsClose) {
  const int w = 32, h = 24;
  std::vector<uint8_t> px(w * h * 3);  // a smooth gradient
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[(y * w + x) * 3 + c] = static_cast<uint8_t>(x * 3 + y * 2 + c * 40);
  // Solid colour blocks survive JPEG almost exactly; the gradient pattern within a few levels.
  auto img = data::decode_jpeg(encode_jpeg(w, h, px, 100));
  ASSERT_TRUE(img) << img.status().message();
  EXPECT_EQ(img->width, w);
  EXPECT_EQ(img->height, h);
  ASSERT_EQ(img->pixels.size(), px.size());
  double sum_abs = 0;
  for (size_t i = 0; i < px.size(); ++i) sum_abs += std::abs(int(img->pixels[i]) - int(px[i]));
  EXPECT_LT(sum_abs / px.size(), 2.0);

  std::vector<uint8_t> flat(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    flat[i * 3] = 30;
    flat[i * 3 + 1] = 140;
    flat[i * 3 + 2] = 220;
  }
  auto f = data::decode_image(encode_jpeg(w, h, flat, 100));
  ASSERT_TRUE(f) << f.status().message();
  for (size_t i = 0; i < flat.size(); ++i) EXPECT_NEAR(f->pixels[i], flat[i], 2) << i;
}

TEST(IoImage, JpegGrayscaleBecomesRgb) {
  const int w = 16, h = 16;
  std::vector<uint8_t> px = pattern(w, h);
  auto img = data::decode_jpeg(encode_jpeg(w, h, px, 100, /*gray=*/true));
  ASSERT_TRUE(img) << img.status().message();
  ASSERT_EQ(img->pixels.size(), size_t{w * h * 3});
  for (int i = 0; i < w * h; ++i) {
    EXPECT_EQ(img->pixels[i * 3], img->pixels[i * 3 + 1]);
    EXPECT_EQ(img->pixels[i * 3], img->pixels[i * 3 + 2]);
    EXPECT_NEAR(img->pixels[i * 3], px[i * 3], 4);
  }
}

TEST(IoImage, TruncatedJpegIsAnErrorNotAnExit) {
  std::string jpg = encode_jpeg(40, 40, pattern(40, 40), 90);
  // Every prefix: a clean error (libjpeg would warn "premature end" and grey-fill, or exit()).
  for (size_t cut = 0; cut < jpg.size(); cut += 7) {
    auto r = data::decode_jpeg(std::string_view(jpg).substr(0, cut));
    EXPECT_FALSE(r) << "prefix of " << cut << " bytes decoded";
  }
  auto r = data::decode_jpeg(std::string_view(jpg).substr(0, jpg.size() / 2));
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("JPEG"), std::string::npos) << r.status().message();
}

TEST(IoImage, TruncatedPngIsAnError) {
  std::string png = encode_png(20, 20, pattern(20, 20));
  for (size_t cut = 0; cut < png.size(); cut += 5) {
    auto r = data::decode_png(std::string_view(png).substr(0, cut));
    EXPECT_FALSE(r) << "prefix of " << cut << " bytes decoded";
  }
}

TEST(IoImage, RandomMutationsNeverCrash) {
  std::string jpg = encode_jpeg(24, 24, pattern(24, 24), 80);
  std::string png = encode_png(24, 24, pattern(24, 24));
  std::mt19937 rng(3);
  int jpeg_errors = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string m = trial % 2 ? jpg : png;
    int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) m[2 + rng() % (m.size() - 2)] = static_cast<char>(rng());
    auto r = data::decode_image(m);
    if (r) {
      EXPECT_EQ(r->pixels.size(), size_t(r->width * r->height * 3));
    } else if (trial % 2) {
      ++jpeg_errors;
    }
  }
  EXPECT_GT(jpeg_errors, 0);  // some mutations must have been caught rather than exiting
}

TEST(IoImage, NotAnImage) {
  auto e = data::decode_image("");
  ASSERT_FALSE(e);
  auto g = data::decode_image("GIF89a........");
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("not a JPEG or PNG"), std::string::npos)
      << g.status().message();
  EXPECT_FALSE(data::decode_jpeg("\x89PNG\r\n\x1a\n"));
  EXPECT_FALSE(data::decode_png(std::string("\xff\xd8\xff\xe0", 4)));
}

// ---- IDX ----------------------------------------------------------------------------------------

namespace {
std::string idx_header(uint8_t type, std::vector<uint32_t> dims) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    h += static_cast<char>(d >> 24);
    h += static_cast<char>(d >> 16);
    h += static_cast<char>(d >> 8);
    h += static_cast<char>(d);
  }
  return h;
}
}  // namespace

TEST(IoIdx, U8PlainAndGzip) {
  std::string data;
  for (int i = 0; i < 12; ++i) data += static_cast<char>(i * 10);
  std::string file = idx_header(0x08, {3, 2, 2}) + data;
  for (const std::string& bytes : {file, gzip(file)}) {
    auto t = data::parse_idx(bytes);
    ASSERT_TRUE(t) << t.status().message();
    EXPECT_EQ(t->dtype(), DType::U8);
    EXPECT_EQ(t->shape(), (Shape{3, 2, 2}));
    for (int i = 0; i < 12; ++i) EXPECT_EQ(t->data<uint8_t>()[i], i * 10);
  }
  TempDir dir;
  auto r = data::read_idx(dir.write("x-idx3-ubyte.gz", gzip(file)));
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->shape(), (Shape{3, 2, 2}));
}

TEST(IoIdx, BigEndianWideTypes) {
  std::string i32 = idx_header(0x0C, {2}) + std::string("\x00\x00\x01\x02\xff\xff\xff\xfe", 8);
  auto t = data::parse_idx(i32);
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::I32);
  EXPECT_EQ(t->data<int32_t>()[0], 258);
  EXPECT_EQ(t->data<int32_t>()[1], -2);
  std::string f32 = idx_header(0x0D, {1}) + std::string("\x3f\x80\x00\x00", 4);  // 1.0f
  auto f = data::parse_idx(f32);
  ASSERT_TRUE(f) << f.status().message();
  EXPECT_EQ(f->data<float>()[0], 1.0f);
}

TEST(IoIdx, MalformedAreErrors) {
  std::string good = idx_header(0x08, {2, 3}) + std::string(6, 'x');
  EXPECT_TRUE(data::parse_idx(good));
  EXPECT_FALSE(data::parse_idx(""));
  EXPECT_FALSE(data::parse_idx(good.substr(0, 3)));
  EXPECT_FALSE(data::parse_idx(good.substr(0, 9)));  // header cut
  auto cut = data::parse_idx(good.substr(0, good.size() - 1));
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos) << cut.status().message();
  EXPECT_FALSE(data::parse_idx(good + "extra"));
  std::string bad_magic = good;
  bad_magic[0] = 1;
  EXPECT_FALSE(data::parse_idx(bad_magic));
  std::string bad_type = good;
  bad_type[2] = 0x0A;
  EXPECT_FALSE(data::parse_idx(bad_type));
  EXPECT_FALSE(data::parse_idx(idx_header(0x08, {})));                          // rank 0
  EXPECT_FALSE(data::parse_idx(idx_header(0x0E, {0xffffffffu, 0xffffffffu})));  // overflow
  std::string gz = gzip(good);
  EXPECT_FALSE(data::parse_idx(gz.substr(0, gz.size() - 3)));
  auto missing = data::read_idx("/nonexistent/t10k-images-idx3-ubyte.gz");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("t10k"), std::string::npos);
}
