// Test-side encoders for the io readers' tests: gzip (zlib), tar (ustar / GNU long names / pax),
// JPEG (libjpeg) and PNG (libpng), written independently of the readers under test.
#pragma once

// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace io_test {

inline std::string gzip(const std::string& data, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A 512-byte tar header. `ustar_prefix` goes to the POSIX prefix field.
inline std::string tar_header(const std::string& name, uint64_t size, char type = '0',
                              const std::string& ustar_prefix = "") {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);  // "ustar\0" + version "00"
  h[263] = '0';
  h[264] = '0';
  std::memcpy(h.data() + 345, ustar_prefix.data(), std::min<size_t>(ustar_prefix.size(), 155));
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

inline std::string tar_pad(const std::string& data) {
  std::string d = data;
  d.resize((data.size() + 511) / 512 * 512, '\0');
  return d;
}

// One member; names over 100 bytes get a GNU 'L' record first.
inline std::string tar_member(const std::string& name, const std::string& data, char type = '0') {
  std::string out;
  if (name.size() > 100) {
    std::string long_name = name + '\0';
    out += tar_header("././@LongLink", long_name.size(), 'L') + tar_pad(long_name);
  }
  out += tar_header(name, data.size(), type) + tar_pad(data);
  return out;
}

inline std::string tar_end() {
  return std::string(1024, '\0');
}

// RGB (HWC) -> JPEG bytes. gray: encode channel 0 only as a 1-component JPEG.
inline std::string encode_jpeg(int w, int h, const std::vector<uint8_t>& rgb, int quality = 95,
                               bool gray = false) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = gray ? 1 : 3;
  c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(w) * 3);
  while (c.next_scanline < c.image_height) {
    const uint8_t* src = rgb.data() + static_cast<size_t>(c.next_scanline) * w * 3;
    if (gray) {
      for (int x = 0; x < w; ++x) row[x] = src[x * 3];
    } else {
      std::memcpy(row.data(), src, row.size());
    }
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  free(buf);
  return out;
}

// Pixels in `format` (PNG_FORMAT_RGB, _GRAY, _RGBA, ...) -> PNG bytes.
inline std::string encode_png(int w, int h, const std::vector<uint8_t>& pixels,
                              png_uint_32 format = PNG_FORMAT_RGB) {
  png_image img;
  std::memset(&img, 0, sizeof(img));
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = format;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, pixels.data(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, pixels.data(), 0, nullptr))
      << img.message;
  out.resize(size);
  return out;
}

// A smooth RGB test pattern (JPEG-friendly): HWC.
inline std::vector<uint8_t> pattern(int w, int h, int seed = 0) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        p[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * 7 + y * 5 + c * 60 + seed * 31) % 256);
  return p;
}

// A fresh empty directory, removed with its contents at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("condense-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& rel, const std::string& bytes) const {
    std::filesystem::path p = path / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
};

}  // namespace io_test
