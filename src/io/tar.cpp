// tar archives (POSIX ustar, GNU long names 'L', pax 'x' path records), streamed through
// InflateStream so a .tar.gz is never held in memory whole.
//
// Header block (512 bytes): name[0,100) mode uid gid size[124,136) mtime chksum[148,156)
// typeflag[156] linkname[157,257) magic[257,263) ... prefix[345,500) (ustar only).
#include <condense/data.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "io/inflate_stream.h"

namespace condense::data {

namespace {

constexpr size_t kBlock = 512;
using Block = std::array<unsigned char, kBlock>;

std::string field_string(const Block& b, size_t off, size_t len) {
  const char* p = reinterpret_cast<const char*>(b.data() + off);
  return std::string(p, strnlen(p, len));
}

// Octal digits (leading spaces, trailing NUL/space), or GNU base-256 when the top bit is set.
Result<uint64_t> parse_number(const Block& b, size_t off, size_t len, std::string_view field) {
  const unsigned char* p = b.data() + off;
  if (p[0] & 0x80) {
    if (p[0] & 0x40) return Status::errorf("negative {} field", field);
    uint64_t v = p[0] & 0x3f;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return Status::errorf("{} field overflows 64 bits", field);
      v = (v << 8) | p[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return Status::errorf("{} field overflows 64 bits", field);
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != 0) return Status::errorf("{} field is not an octal number", field);
  }
  if (!any) return uint64_t{0};
  return v;
}

bool all_zero(const Block& b) {
  return std::all_of(b.begin(), b.end(), [](unsigned char c) { return c == 0; });
}

// Unsigned sum with the checksum field read as spaces; old tars used a signed sum, accept both.
bool checksum_ok(const Block& b, uint64_t stored) {
  uint64_t usum = 0;
  int64_t ssum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
    usum += c;
    ssum += static_cast<signed char>(c);
  }
  return usum == stored || static_cast<uint64_t>(ssum) == stored;
}

// The value of `path=` in pax extended-header records "<len> <key>=<value>\n", if present.
std::string pax_path(std::string_view records) {
  std::string path;
  size_t pos = 0;
  while (pos < records.size()) {
    size_t sp = records.find(' ', pos);
    if (sp == std::string_view::npos) break;
    size_t len = 0;
    for (size_t i = pos; i < sp; ++i) {
      if (records[i] < '0' || records[i] > '9') return path;
      len = len * 10 + (records[i] - '0');
      if (len > records.size()) return path;
    }
    if (len == 0 || pos + len > records.size()) break;
    std::string_view rec = records.substr(sp + 1, pos + len - sp - 1);
    if (!rec.empty() && rec.back() == '\n') rec.remove_suffix(1);
    if (rec.substr(0, 5) == "path=") path = std::string(rec.substr(5));
    pos += len;
  }
  return path;
}

Status walk(io_internal::InflateStream& in, const TarVisitor& on_file) {
  const std::string& what = in.what();
  Block b;
  std::string long_name;  // from a preceding GNU 'L' or pax 'x' entry
  std::string contents;
  uint64_t offset = 0;
  for (;;) {
    CONDENSE_ASSIGN_OR_RETURN(size_t got, in.read(reinterpret_cast<char*>(b.data()), kBlock));
    if (got == 0) return Status::ok();  // end without the zero blocks: accepted, as GNU tar does
    if (got < kBlock)
      return Status::errorf("'{}' is truncated: partial tar header at byte {}", what, offset);
    if (all_zero(b)) return Status::ok();  // end-of-archive marker
    auto stored = parse_number(b, 148, 8, "checksum");
    if (!stored || !checksum_ok(b, *stored))
      return Status::errorf("'{}' is not a valid tar archive: bad header checksum at byte {}", what,
                            offset);
    auto size = parse_number(b, 124, 12, "size");
    if (!size)
      return Status::errorf("'{}': tar header at byte {}: {}", what, offset,
                            size.status().message());
    char type = static_cast<char>(b[156]);
    std::string name = field_string(b, 0, 100);
    if (std::memcmp(b.data() + 257, "ustar", 5) == 0 && b[345] != 0 &&
        std::memcmp(b.data() + 257, "ustar  ", 7) != 0) {  // POSIX prefix (not in GNU's format)
      name = field_string(b, 345, 155) + "/" + name;
    }
    offset += kBlock;

    uint64_t padded = (*size + kBlock - 1) / kBlock * kBlock;
    bool regular = type == '0' || type == '\0' || type == '7';
    bool keep = regular || type == 'L' || type == 'x';
    contents.clear();
    uint64_t consumed = 0;
    if (keep) {
      CONDENSE_ASSIGN_OR_RETURN(size_t n, in.read_append(contents, *size));
      consumed = n;
      if (n < *size)
        return Status::errorf("'{}' is truncated: member '{}' declares {} bytes, only {} present",
                              what, long_name.empty() ? name : long_name, *size, n);
    }
    // Skip the rest (unused member data and padding to the next block).
    char skip[4096];
    while (consumed < padded) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(padded - consumed, sizeof(skip)));
      CONDENSE_ASSIGN_OR_RETURN(size_t n, in.read(skip, k));
      consumed += n;
      if (n < k) {
        if (consumed >= *size) break;  // only padding missing at the very end: harmless
        return Status::errorf("'{}' is truncated inside member '{}'", what, name);
      }
    }
    offset += padded;

    if (type == 'L') {
      long_name = std::string(contents.c_str());  // NUL-terminated inside the data
      continue;
    }
    if (type == 'x') {
      long_name = pax_path(contents);
      continue;
    }
    if (!long_name.empty()) name = std::move(long_name);
    long_name.clear();
    if (!regular) continue;
    Status s = on_file(TarEntry{name, *size}, contents);
    if (!s.is_ok()) return s.with_context(fmt::format("'{}', member '{}'", what, name));
  }
}

}  // namespace

Status for_each_tar_file(const std::string& path, const TarVisitor& on_file) {
  CONDENSE_ASSIGN_OR_RETURN(auto in, io_internal::InflateStream::open_file(path));
  return walk(*in, on_file);
}

Status for_each_tar_file_in_bytes(std::string_view bytes, const TarVisitor& on_file,
                                  std::string_view what) {
  CONDENSE_ASSIGN_OR_RETURN(auto in,
                            io_internal::InflateStream::open_bytes(bytes, std::string(what)));
  return walk(*in, on_file);
}

}  // namespace condense::data
