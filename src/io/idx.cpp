// IDX files (the MNIST format): magic 0x00 0x00 <type> <rank>, then rank big-endian u32 dims,
// then the elements, big-endian, row-major.
#include <condense/data.h>

#include <cstring>

namespace condense::data {

namespace {

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

Result<Tensor> parse_idx(std::string_view raw) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, gunzip(raw, "IDX data"));
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4 || p[0] != 0 || p[1] != 0)
    return Status::error("not an IDX file (the first two bytes must be zero)");
  DType dtype;
  switch (p[2]) {
    case 0x08:
      dtype = DType::U8;
      break;
    case 0x09:
      dtype = DType::I8;
      break;
    case 0x0B:
      dtype = DType::I16;
      break;
    case 0x0C:
      dtype = DType::I32;
      break;
    case 0x0D:
      dtype = DType::F32;
      break;
    case 0x0E:
      dtype = DType::F64;
      break;
    default:
      return Status::errorf("IDX file has unknown element type code 0x{:02x}", p[2]);
  }
  int rank = p[3];
  if (rank < 1 || rank > 8) return Status::errorf("IDX file has unsupported rank {}", rank);
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header)
    return Status::errorf("IDX file is truncated: {} bytes, the header alone needs {}",
                          bytes.size(), header);
  Shape shape;
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    uint32_t d = be32(p + 4 + 4 * i);
    shape.push_back(d);
    numel *= d;
    if (numel > (uint64_t{1} << 40)) return Status::error("IDX dimensions are implausibly large");
  }
  size_t elem = static_cast<size_t>(dtype_bits(dtype) / 8);
  uint64_t need = numel * elem;
  if (bytes.size() - header != need)
    return Status::errorf("IDX file {} has {} data bytes, its shape {} needs {}",
                          bytes.size() - header < need ? "is truncated: it" : "is malformed: it",
                          bytes.size() - header, shape_str(shape), need);
  Tensor t = Tensor::empty(dtype, shape);
  auto* dst = static_cast<unsigned char*>(t.raw());
  const unsigned char* src = p + header;
  if (elem == 1) {
    std::memcpy(dst, src, need);
  } else {
    for (uint64_t i = 0; i < numel; ++i)  // big-endian to the host's little-endian
      for (size_t b = 0; b < elem; ++b) dst[i * elem + b] = src[i * elem + (elem - 1 - b)];
  }
  return t;
}

Result<Tensor> read_idx(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_maybe_gzip_file(path));
  auto t = parse_idx(bytes);
  if (!t) return t.status().with_context(fmt::format("'{}'", path));
  return t;
}

}  // namespace condense::data
