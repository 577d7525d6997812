// JPEG (libjpeg-turbo) and PNG (libpng's simplified API) decoding to 8-bit RGB, HWC.
//
// libjpeg's default error handler calls exit(); ours formats the message and longjmps back to
// the decode call, which returns it as a Status. libjpeg's warnings (premature end of data,
// corrupt entropy data) are errors too: a silently grey-filled image would skew an evaluation.
#include <condense/data.h>

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
// clang-format on
#include <png.h>

#include <csetjmp>
#include <cstring>

namespace condense::data {

namespace {

// Larger images are refused rather than allocated (about 805 MB of RGB).
constexpr int64_t kMaxPixels = int64_t{1} << 28;

struct JpegError {
  jpeg_error_mgr pub;  // first member: libjpeg hands back a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_error_exit(cinfo);  // a warning: corrupt or truncated data
}

// Decodes into `out` (resized here). Only C calls and plain data live in this frame, so the
// longjmp from libjpeg skips no C++ destructor. Returns false with err->message set on failure.
bool jpeg_decode_into(jpeg_decompress_struct* cinfo, JpegError* err, const unsigned char* data,
                      size_t size, Image* out) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_calc_output_dimensions(cinfo);
  int64_t w = cinfo->output_width, h = cinfo->output_height;
  if (w <= 0 || h <= 0 || w * h > kMaxPixels) {
    std::snprintf(err->message, sizeof(err->message), "image size %lldx%lld is out of range",
                  static_cast<long long>(w), static_cast<long long>(h));
    return false;
  }
  jpeg_start_decompress(cinfo);
  int comps = cinfo->output_components;
  if (comps != (cmyk ? 4 : 3)) {
    std::snprintf(err->message, sizeof(err->message), "unexpected %d output components", comps);
    return false;
  }
  out->width = w;
  out->height = h;
  // CMYK rows are decoded into a scratch area at the end of a w*h*4 buffer, then packed to RGB.
  out->pixels.resize(static_cast<size_t>(w * h * comps));
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out->pixels.data() + static_cast<size_t>(cinfo->output_scanline) * w * comps;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  if (cmyk) {
    // Adobe writes inverted CMYK (the common case for JPEG): R = C * K / 255 on stored values.
    uint8_t* p = out->pixels.data();
    for (int64_t i = 0; i < w * h; ++i) {
      unsigned k = p[i * 4 + 3];
      for (int c = 0; c < 3; ++c)
        p[i * 3 + c] = static_cast<uint8_t>((p[i * 4 + c] * k + 127) / 255);
    }
    out->pixels.resize(static_cast<size_t>(w * h * 3));
  }
  return true;
}

}  // namespace

Result<Image> decode_jpeg(std::string_view bytes) {
  if (bytes.size() < 3 || static_cast<unsigned char>(bytes[0]) != 0xFF ||
      static_cast<unsigned char>(bytes[1]) != 0xD8)
    return Status::error("not a JPEG file (missing the FF D8 start-of-image marker)");
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof(cinfo));
  JpegError err;
  std::memset(&err, 0, sizeof(err));
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  err.pub.emit_message = jpeg_emit_message;
  Image img;
  bool ok = jpeg_decode_into(&cinfo, &err, reinterpret_cast<const unsigned char*>(bytes.data()),
                             bytes.size(), &img);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) return Status::errorf("corrupt or truncated JPEG: {}", err.message);
  return img;
}

Result<Image> decode_png(std::string_view bytes) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    std::string msg = image.message;
    png_image_free(&image);
    return Status::errorf("corrupt or truncated PNG: {}", msg);
  }
  // libpng stops once the image data is read, so a file cut inside or before its IEND chunk
  // would decode; a missing end chunk still means an incomplete file.
  std::string_view tail = bytes.substr(bytes.size() >= 64 ? bytes.size() - 64 : 0);
  size_t iend = tail.rfind("IEND");
  if (iend == std::string_view::npos || iend < 4 || iend + 8 > tail.size()) {
    png_image_free(&image);
    return Status::error("corrupt or truncated PNG: the IEND end chunk is missing");
  }
  int64_t w = image.width, h = image.height;
  if (w <= 0 || h <= 0 || w * h > kMaxPixels) {
    png_image_free(&image);
    return Status::errorf("PNG image size {}x{} is out of range", w, h);
  }
  image.format = PNG_FORMAT_RGB;
  Image img;
  img.width = w;
  img.height = h;
  // Zero-filled: with no background given, libpng composites any alpha onto the buffer (black).
  img.pixels.assign(static_cast<size_t>(w * h * 3), 0);
  if (!png_image_finish_read(&image, nullptr, img.pixels.data(), 0, nullptr)) {
    std::string msg = image.message;
    png_image_free(&image);
    return Status::errorf("corrupt or truncated PNG: {}", msg);
  }
  // A warning (e.g. a bad ancillary-chunk CRC) leaves the pixels intact; an error would have
  // failed above.
  png_image_free(&image);
  return img;
}

Result<Image> decode_image(std::string_view bytes) {
  auto u = [&](size_t i) { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u; };
  if (u(0) == 0xFF && u(1) == 0xD8) return decode_jpeg(bytes);
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0)
    return decode_png(bytes);
  if (bytes.empty()) return Status::error("empty image file");
  return Status::errorf("not a JPEG or PNG file (first bytes {:02x} {:02x} {:02x} {:02x})", u(0),
                        u(1), u(2), u(3));
}

}  // namespace condense::data
