// gzip decompression with zlib: a streaming reader (InflateStream) and whole-buffer helpers.
#include <condense/data.h>
#include <condense/file.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "io/inflate_stream.h"

namespace condense::io_internal {

namespace {
constexpr size_t kChunk = 1 << 16;
bool has_gzip_magic(const unsigned char* p, size_t n) {
  return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}
}  // namespace

Result<std::unique_ptr<InflateStream>> InflateStream::open_file(const std::string& path) {
  std::unique_ptr<InflateStream> s(new InflateStream());
  s->what_ = path;
  s->file_ = std::fopen(path.c_str(), "rb");
  if (!s->file_) return Status::errorf("cannot open '{}': {}", path, std::strerror(errno));
  CONDENSE_TRY(s->start());
  return s;
}

Result<std::unique_ptr<InflateStream>> InflateStream::open_bytes(std::string_view bytes,
                                                                 std::string what) {
  std::unique_ptr<InflateStream> s(new InflateStream());
  s->what_ = std::move(what);
  s->mem_ = bytes;
  CONDENSE_TRY(s->start());
  return s;
}

InflateStream::~InflateStream() {
  if (zs_ready_) inflateEnd(&zs_);
  if (file_) std::fclose(file_);
}

Result<bool> InflateStream::fill() {
  if (zs_.avail_in > 0) return true;
  if (file_) {
    inbuf_.resize(kChunk);
    size_t n = std::fread(inbuf_.data(), 1, inbuf_.size(), file_);
    if (n == 0) {
      if (std::ferror(file_)) return Status::errorf("error reading '{}'", what_);
      return false;
    }
    zs_.next_in = inbuf_.data();
    zs_.avail_in = static_cast<uInt>(n);
    return true;
  }
  if (mem_pos_ >= mem_.size()) return false;
  size_t n = std::min<size_t>(mem_.size() - mem_pos_, UINT_MAX / 2);
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(mem_.data() + mem_pos_));
  zs_.avail_in = static_cast<uInt>(n);
  mem_pos_ += n;
  return true;
}

Status InflateStream::start() {
  CONDENSE_ASSIGN_OR_RETURN(bool any, fill());
  gzip_ = any && has_gzip_magic(zs_.next_in, zs_.avail_in);
  if (!any) done_ = true;
  if (gzip_) {
    // 15 + 16: a gzip wrapper only (zlib or raw deflate here would be a different format).
    if (inflateInit2(&zs_, 15 + 16) != Z_OK)
      return Status::errorf("'{}': cannot initialize zlib", what_);
    zs_ready_ = true;
  }
  return Status::ok();
}

Result<size_t> InflateStream::read(char* dst, size_t n) {
  size_t got = 0;
  while (got < n && !done_) {
    CONDENSE_ASSIGN_OR_RETURN(bool any, fill());
    if (!gzip_) {
      if (!any) {
        done_ = true;
        break;
      }
      size_t k = std::min<size_t>(n - got, zs_.avail_in);
      std::memcpy(dst + got, zs_.next_in, k);
      zs_.next_in += k;
      zs_.avail_in -= static_cast<uInt>(k);
      got += k;
      continue;
    }
    // With no input left inflate may still flush output it holds; only no progress at all means
    // the stream was cut short.
    size_t want = std::min<size_t>(n - got, UINT_MAX / 2);
    uInt in_before = zs_.avail_in;
    zs_.next_out = reinterpret_cast<Bytef*>(dst + got);
    zs_.avail_out = static_cast<uInt>(want);
    int rc = inflate(&zs_, Z_NO_FLUSH);
    size_t produced = want - zs_.avail_out;
    got += produced;
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (concatenated .gz); anything else after the end is ignored,
      // as gzip(1) does with trailing padding.
      CONDENSE_ASSIGN_OR_RETURN(bool more, fill());
      if (more && zs_.next_in[0] == 0x1f) {
        if (inflateReset(&zs_) != Z_OK) return Status::errorf("'{}': zlib reset failed", what_);
      } else {
        done_ = true;
      }
    } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      return Status::errorf("'{}' is corrupt: gzip data error ({})", what_,
                            zs_.msg ? zs_.msg : "invalid deflate stream");
    } else if (rc == Z_MEM_ERROR) {
      return Status::errorf("'{}': out of memory while decompressing", what_);
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::errorf("'{}': zlib error {}", what_, rc);
    } else if (!any && produced == 0 && zs_.avail_in == in_before) {
      return Status::errorf("'{}' is truncated: the gzip stream ends before its end marker", what_);
    }
  }
  return got;
}

Result<size_t> InflateStream::read_append(std::string& out, size_t n) {
  size_t total = 0;
  while (total < n) {
    size_t k = std::min<size_t>(n - total, size_t{1} << 22);
    size_t old = out.size();
    out.resize(old + k);
    CONDENSE_ASSIGN_OR_RETURN(size_t got, read(out.data() + old, k));
    out.resize(old + got);
    total += got;
    if (got < k) break;
  }
  return total;
}

}  // namespace condense::io_internal

namespace condense::data {

Result<std::string> gunzip(std::string_view bytes, std::string_view what) {
  CONDENSE_ASSIGN_OR_RETURN(auto stream,
                            io_internal::InflateStream::open_bytes(bytes, std::string(what)));
  if (!stream->gzip()) return std::string(bytes);
  std::string out;
  CONDENSE_ASSIGN_OR_RETURN(size_t n, stream->read_append(out, SIZE_MAX));
  (void)n;
  return out;
}

Result<std::string> read_maybe_gzip_file(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  return gunzip(bytes, path);
}

}  // namespace condense::data
