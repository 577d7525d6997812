// NumPy .npz: a zip archive of .npy members. Read: stored (method 0) and deflated (method 8)
// members, zip64 sizes and offsets (numpy writes zip64 local headers), CRC-32 checked. Write:
// stored members, with zip64 records only where a size or offset needs them.
//
// Sizes and offsets come from the central directory (local headers may hold 0xFFFFFFFF or zero
// when numpy streams a member); the local header is read only to skip its name and extra field.
#include <condense/file.h>
#include <condense/npy.h>
#include <zlib.h>

#include <cstring>
#include <set>

namespace condense::npy {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint64_t kMax32 = 0xffffffffu;
// Deflate cannot expand more than ~1032:1; a larger claimed ratio is a corrupt (or hostile) file.
constexpr uint64_t kMaxDeflateRatio = 1100;

uint64_t le(std::string_view b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct Member {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, local_offset = 0;
};

// Reads the zip64 extended-information extra field, replacing the 32-bit fields that are
// 0xFFFFFFFF, in the order the zip spec fixes (usize, csize, offset).
Status apply_zip64_extra(std::string_view extra, Member& m, bool u64, bool c64, bool o64) {
  size_t p = 0;
  while (p + 4 <= extra.size()) {
    uint64_t id = le(extra, p, 2), len = le(extra, p + 2, 2);
    if (p + 4 + len > extra.size()) return Status::error("truncated extra field");
    if (id == 0x0001) {
      std::string_view f = extra.substr(p + 4, len);
      size_t q = 0;
      auto take = [&](uint64_t& dst) -> Status {
        if (q + 8 > f.size()) return Status::error("truncated zip64 extra field");
        dst = le(f, q, 8);
        q += 8;
        return Status::ok();
      };
      if (u64) CONDENSE_TRY(take(m.usize));
      if (c64) CONDENSE_TRY(take(m.csize));
      if (o64) CONDENSE_TRY(take(m.local_offset));
      return Status::ok();
    }
    p += 4 + len;
  }
  if (u64 || c64 || o64)
    return Status::error("sizes are 0xFFFFFFFF but there is no zip64 extra field");
  return Status::ok();
}

Result<std::vector<Member>> read_central_directory(std::string_view b) {
  if (b.size() < 22) return Status::error("not a zip archive (too short)");
  // The end record is in the last 22 + 65535 (max comment) bytes.
  size_t end = std::string_view::npos;
  size_t lowest = b.size() > 22 + 0xffff ? b.size() - 22 - 0xffff : 0;
  for (size_t p = b.size() - 22 + 1; p-- > lowest;) {
    if (le(b, p, 4) == kEndSig) {
      end = p;
      break;
    }
  }
  if (end == std::string_view::npos)
    return Status::error("not a zip archive (no end of central directory)");
  uint64_t count = le(b, end + 10, 2);
  uint64_t cd_size = le(b, end + 12, 4);
  uint64_t cd_offset = le(b, end + 16, 4);
  if (count == 0xffff || cd_size == kMax32 || cd_offset == kMax32) {
    if (end < 20 || le(b, end - 20, 4) != kEnd64LocatorSig)
      return Status::error("zip64 archive without a zip64 end locator");
    uint64_t rec = le(b, end - 20 + 8, 8);
    if (rec > b.size() || b.size() - rec < 56 || le(b, rec, 4) != kEnd64Sig)
      return Status::error("corrupt zip64 end of central directory");
    count = le(b, rec + 32, 8);
    cd_size = le(b, rec + 40, 8);
    cd_offset = le(b, rec + 48, 8);
  }
  if (cd_offset > b.size() || cd_size > b.size() - cd_offset)
    return Status::error("corrupt zip archive (central directory outside the file; truncated?)");
  if (count > cd_size / 46 + 1) return Status::error("corrupt zip archive (member count)");
  std::vector<Member> members;
  size_t p = cd_offset;
  const size_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + 46 > cd_end || le(b, p, 4) != kCentralSig)
      return Status::error("corrupt zip archive (bad central directory entry)");
    Member m;
    m.flags = static_cast<uint16_t>(le(b, p + 8, 2));
    m.method = static_cast<uint16_t>(le(b, p + 10, 2));
    m.crc = static_cast<uint32_t>(le(b, p + 16, 4));
    m.csize = le(b, p + 20, 4);
    m.usize = le(b, p + 24, 4);
    size_t name_len = le(b, p + 28, 2), extra_len = le(b, p + 30, 2),
           comment_len = le(b, p + 32, 2);
    m.local_offset = le(b, p + 42, 4);
    if (p + 46 + name_len + extra_len + comment_len > cd_end)
      return Status::error("corrupt zip archive (central directory entry overruns)");
    m.name = std::string(b.substr(p + 46, name_len));
    CONDENSE_TRY(apply_zip64_extra(b.substr(p + 46 + name_len, extra_len), m, m.usize == kMax32,
                                   m.csize == kMax32, m.local_offset == kMax32)
                     .with_context(fmt::format("zip member '{}'", m.name)));
    members.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

Result<std::string> member_bytes(std::string_view b, const Member& m) {
  if (m.flags & 1) return Status::error("encrypted members are not supported");
  if (m.local_offset > b.size() || b.size() - m.local_offset < 30 ||
      le(b, m.local_offset, 4) != kLocalSig)
    return Status::error("bad local header (truncated archive?)");
  uint64_t start =
      m.local_offset + 30 + le(b, m.local_offset + 26, 2) + le(b, m.local_offset + 28, 2);
  if (start > b.size() || m.csize > b.size() - start)
    return Status::errorf("truncated archive: member data needs {} bytes", m.csize);
  std::string_view comp = b.substr(start, m.csize);
  std::string out;
  if (m.method == 0) {
    if (m.csize != m.usize) return Status::error("stored member with differing sizes");
    out.assign(comp);
  } else if (m.method == 8) {
    if (m.usize > m.csize * kMaxDeflateRatio + 1024)
      return Status::errorf("claims {} bytes from {} compressed bytes: corrupt archive", m.usize,
                            m.csize);
    out.resize(m.usize);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return Status::error("zlib initialization failed");
    // Feed in chunks: avail_in / avail_out are 32-bit.
    size_t in_pos = 0, out_pos = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
      size_t in_chunk = std::min<size_t>(comp.size() - in_pos, 1u << 30);
      size_t out_chunk = std::min<size_t>(out.size() - out_pos, 1u << 30);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(comp.data() + in_pos));
      zs.avail_in = static_cast<uInt>(in_chunk);
      // One spare byte of output space detects a member longer than it claims.
      char spare = 0;
      zs.next_out = out_chunk ? reinterpret_cast<Bytef*>(out.data() + out_pos)
                              : reinterpret_cast<Bytef*>(&spare);
      zs.avail_out = out_chunk ? static_cast<uInt>(out_chunk) : 1u;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_pos += in_chunk - zs.avail_in;
      if (out_chunk) {
        out_pos += out_chunk - zs.avail_out;
      } else if (zs.avail_out == 0) {
        rc = Z_DATA_ERROR;
        break;
      }
      if (rc == Z_BUF_ERROR && in_pos == comp.size()) break;  // input ended early
      if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || out_pos != out.size())
      return Status::errorf("deflated data is corrupt or truncated ({} of {} bytes decoded)",
                            out_pos, out.size());
  } else {
    return Status::errorf("compression method {} is not supported (stored and deflate are)",
                          m.method);
  }
  uint32_t crc = 0;
  for (size_t off = 0; off < out.size(); off += 1u << 30) {
    size_t n = std::min<size_t>(out.size() - off, 1u << 30);
    crc = static_cast<uint32_t>(
        crc32(crc, reinterpret_cast<const Bytef*>(out.data() + off), static_cast<uInt>(n)));
  }
  if (crc != m.crc) return Status::error("CRC-32 mismatch (corrupt archive)");
  return out;
}

}  // namespace

Result<std::vector<NamedArray>> parse_npz(std::string_view bytes) {
  auto members = read_central_directory(bytes);
  if (!members) return members.status().with_context(".npz");
  std::vector<NamedArray> arrays;
  std::set<std::string> seen;
  for (const Member& m : *members) {
    if (!m.name.empty() && m.name.back() == '/') continue;  // a directory entry
    auto data = member_bytes(bytes, m);
    if (!data) return data.status().with_context(fmt::format(".npz member '{}'", m.name));
    auto t = parse(*data);
    if (!t) return t.status().with_context(fmt::format(".npz member '{}'", m.name));
    std::string name = m.name;
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
      name.resize(name.size() - 4);
    if (!seen.insert(name).second) return Status::errorf(".npz has two members named '{}'", name);
    arrays.push_back({std::move(name), std::move(*t)});
  }
  return arrays;
}

std::string serialize_npz(const std::vector<NamedArray>& arrays) {
  std::string out, central;
  for (const NamedArray& a : arrays) {
    const std::string name = a.name + ".npy";
    const std::string data = serialize(a.tensor);
    const uint64_t offset = out.size();
    uint32_t crc = 0;
    for (size_t off = 0; off < data.size(); off += 1u << 30) {
      size_t n = std::min<size_t>(data.size() - off, 1u << 30);
      crc = static_cast<uint32_t>(
          crc32(crc, reinterpret_cast<const Bytef*>(data.data() + off), static_cast<uInt>(n)));
    }
    const bool big = data.size() >= kMax32;
    const bool far = offset >= kMax32;
    const uint16_t version = (big || far) ? 45 : 20;
    // Local header (its zip64 extra holds both sizes when they do not fit).
    put(out, kLocalSig, 4);
    put(out, version, 2);
    put(out, 0, 2);  // flags
    put(out, 0, 2);  // stored
    put(out, 0, 4);  // time, date
    put(out, crc, 4);
    put(out, big ? kMax32 : data.size(), 4);
    put(out, big ? kMax32 : data.size(), 4);
    put(out, name.size(), 2);
    put(out, big ? 20 : 0, 2);
    out += name;
    if (big) {
      put(out, 1, 2);
      put(out, 16, 2);
      put(out, data.size(), 8);
      put(out, data.size(), 8);
    }
    out += data;
    // Central directory entry.
    std::string extra;
    if (big || far) {
      std::string f;
      if (big) {
        put(f, data.size(), 8);
        put(f, data.size(), 8);
      }
      if (far) put(f, offset, 8);
      put(extra, 1, 2);
      put(extra, f.size(), 2);
      extra += f;
    }
    put(central, kCentralSig, 4);
    put(central, version, 2);  // made by
    put(central, version, 2);  // needed
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 4);
    put(central, crc, 4);
    put(central, big ? kMax32 : data.size(), 4);
    put(central, big ? kMax32 : data.size(), 4);
    put(central, name.size(), 2);
    put(central, extra.size(), 2);
    put(central, 0, 2);  // comment
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, 0, 4);  // external attributes
    put(central, far ? kMax32 : offset, 4);
    central += name;
    central += extra;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  const uint64_t count = arrays.size();
  const bool zip64 = count >= 0xffff || central.size() >= kMax32 || cd_offset >= kMax32;
  if (zip64) {
    const uint64_t rec = out.size();
    put(out, kEnd64Sig, 4);
    put(out, 44, 8);  // size of the rest of this record
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, count, 8);
    put(out, count, 8);
    put(out, central.size(), 8);
    put(out, cd_offset, 8);
    put(out, kEnd64LocatorSig, 4);
    put(out, 0, 4);
    put(out, rec, 8);
    put(out, 1, 4);
  }
  put(out, kEndSig, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, zip64 ? 0xffff : count, 2);
  put(out, zip64 ? 0xffff : count, 2);
  put(out, zip64 ? kMax32 : central.size(), 4);
  put(out, zip64 ? kMax32 : cd_offset, 4);
  put(out, 0, 2);
  return out;
}

Result<std::vector<NamedArray>> read_npz(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  auto a = parse_npz(bytes);
  if (!a) return a.status().with_context(fmt::format("'{}'", path));
  return a;
}

Status write_npz(const std::string& path, const std::vector<NamedArray>& arrays) {
  return write_file_atomic(path, serialize_npz(arrays));
}

}  // namespace condense::npy
