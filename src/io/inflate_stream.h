// A pull stream of decompressed bytes from a gzip (or plain, passed through) file or memory
// buffer, read in exact-size pieces: what the tar reader streams through.
#pragma once

#include <condense/status.h>
#include <zlib.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace condense::io_internal {

class InflateStream {
 public:
  // Reads a file; `what` (the path) names the source in errors.
  static Result<std::unique_ptr<InflateStream>> open_file(const std::string& path);
  // Reads bytes the caller keeps alive for the stream's lifetime.
  static Result<std::unique_ptr<InflateStream>> open_bytes(std::string_view bytes,
                                                           std::string what);
  ~InflateStream();
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;

  // Reads up to n bytes into dst; fewer only at the end of the data. Corrupt or truncated
  // compressed data is an error.
  Result<size_t> read(char* dst, size_t n);
  // Appends up to n bytes to `out` in bounded chunks (so a bogus huge n fails at the true end of
  // the data instead of allocating n bytes up front); returns the count appended.
  Result<size_t> read_append(std::string& out, size_t n);
  const std::string& what() const { return what_; }
  bool gzip() const { return gzip_; }

 private:
  InflateStream() = default;
  Status start();
  // Makes compressed/raw input available in zs_.next_in/avail_in; false at the end of the source.
  Result<bool> fill();

  std::string what_;
  FILE* file_ = nullptr;
  std::string_view mem_;
  size_t mem_pos_ = 0;
  std::vector<unsigned char> inbuf_;
  z_stream zs_{};
  bool zs_ready_ = false;
  bool gzip_ = false;
  bool done_ = false;  // no more decompressed bytes
};

}  // namespace condense::io_internal
