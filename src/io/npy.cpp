// NumPy .npy: a magic string, a version, a header length, a Python-dict header
// ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) and the raw array bytes.
// Versions 1.0 (u16 header length), 2.0 and 3.0 (u32 header length; 3.0 allows UTF-8 in the
// header) are read; 1.0 is written (2.0 when the header does not fit in 64 KiB).
#include <condense/file.h>
#include <condense/npy.h>

#include <algorithm>
#include <cstring>

namespace condense::npy {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// ---- header dict parsing: a tiny tokenizer for the subset numpy writes ----

struct HeaderParser {
  std::string_view s;
  size_t pos = 0;

  void skip_ws() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }
  bool eat(char c) {
    skip_ws();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skip_ws();
    return pos < s.size() && s[pos] == c;
  }
  Result<std::string> string_lit() {
    skip_ws();
    if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"'))
      return Status::errorf("expected a quoted string at offset {}", pos);
    char q = s[pos++];
    size_t start = pos;
    while (pos < s.size() && s[pos] != q) {
      if (s[pos] == '\\')
        return Status::error("escaped characters in header strings are not supported");
      ++pos;
    }
    if (pos >= s.size()) return Status::error("unterminated string");
    std::string out(s.substr(start, pos - start));
    ++pos;
    return out;
  }
  Result<bool> bool_lit() {
    skip_ws();
    if (s.substr(pos, 4) == "True") {
      pos += 4;
      return true;
    }
    if (s.substr(pos, 5) == "False") {
      pos += 5;
      return false;
    }
    return Status::errorf("expected True or False at offset {}", pos);
  }
  Result<int64_t> int_lit() {
    skip_ws();
    size_t start = pos;
    int64_t v = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (v > (INT64_MAX - 9) / 10) return Status::error("dimension is too large");
      v = v * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return Status::errorf("expected a non-negative integer at offset {}", pos);
    if (pos < s.size() && s[pos] == 'L') ++pos;  // Python 2 long suffix
    return v;
  }
  Result<Shape> tuple_lit() {
    if (!eat('(')) return Status::errorf("expected '(' for the shape at offset {}", pos);
    Shape shape;
    while (!eat(')')) {
      CONDENSE_ASSIGN_OR_RETURN(int64_t d, int_lit());
      shape.push_back(d);
      if (shape.size() > 64) return Status::error("shape has more than 64 dimensions");
      if (!eat(',') && !peek(')'))
        return Status::errorf("expected ',' or ')' in the shape at offset {}", pos);
    }
    return shape;
  }
};

struct Header {
  std::string descr;
  bool fortran = false;
  Shape shape;
};

Result<Header> parse_header(std::string_view text) {
  HeaderParser p{text};
  if (!p.eat('{')) return Status::error("header is not a dict (no '{')");
  Header h;
  bool has_descr = false, has_order = false, has_shape = false;
  while (!p.eat('}')) {
    CONDENSE_ASSIGN_OR_RETURN(std::string key, p.string_lit());
    if (!p.eat(':')) return Status::errorf("expected ':' after '{}'", key);
    if (key == "descr") {
      if (p.peek('[')) return Status::error("structured dtypes (a list descr) are not supported");
      CONDENSE_ASSIGN_OR_RETURN(h.descr, p.string_lit());
      has_descr = true;
    } else if (key == "fortran_order") {
      CONDENSE_ASSIGN_OR_RETURN(h.fortran, p.bool_lit());
      has_order = true;
    } else if (key == "shape") {
      CONDENSE_ASSIGN_OR_RETURN(h.shape, p.tuple_lit());
      has_shape = true;
    } else {
      return Status::errorf("unexpected header key '{}'", key);
    }
    if (!p.eat(',') && !p.peek('}'))
      return Status::errorf("expected ',' or '}}' at offset {}", p.pos);
  }
  if (!has_descr || !has_order || !has_shape)
    return Status::error("header lacks one of 'descr', 'fortran_order', 'shape'");
  return h;
}

struct DescrInfo {
  DType dtype;
  bool big_endian;
  int itemsize;
};

Result<DescrInfo> parse_descr(const std::string& d) {
  if (d.size() < 2) return Status::errorf("unsupported dtype '{}'", d);
  char order = d[0];
  std::string_view code(d);
  bool big = false;
  if (order == '<' || order == '|' || order == '=') {
    code.remove_prefix(1);
  } else if (order == '>') {
    big = true;
    code.remove_prefix(1);
  }
  static const struct {
    std::string_view code;
    DType dtype;
    int size;
  } kTable[] = {
      {"b1", DType::Bool, 1}, {"?", DType::Bool, 1}, {"f2", DType::F16, 2}, {"e", DType::F16, 2},
      {"f4", DType::F32, 4},  {"f", DType::F32, 4},  {"f8", DType::F64, 8}, {"d", DType::F64, 8},
      {"i1", DType::I8, 1},   {"b", DType::I8, 1},   {"i2", DType::I16, 2}, {"i4", DType::I32, 4},
      {"i8", DType::I64, 8},  {"u1", DType::U8, 1},  {"B", DType::U8, 1},   {"u2", DType::U16, 2},
      {"u4", DType::U32, 4},  {"u8", DType::U64, 8},
  };
  for (const auto& e : kTable)
    if (e.code == code) return DescrInfo{e.dtype, big && e.size > 1, e.size};
  if (code == "V2" || code == "bfloat16")
    return Status::errorf(
        "dtype '{}' is not a numpy type (bfloat16 arrays from ml_dtypes are raw 2-byte voids); "
        "save "
        "them as float32",
        d);
  if (!code.empty() && (code[0] == 'c'))
    return Status::errorf("complex dtype '{}' is not supported", d);
  if (!code.empty() && (code[0] == 'U' || code[0] == 'S' || code[0] == 'a' || code[0] == 'O'))
    return Status::errorf("dtype '{}' (strings or Python objects) is not supported", d);
  if (!code.empty() && (code[0] == 'M' || code[0] == 'm'))
    return Status::errorf("datetime dtype '{}' is not supported", d);
  if (code == "f16" || code == "g")
    return Status::errorf("long double dtype '{}' is not supported", d);
  return Status::errorf("unsupported dtype '{}'", d);
}

// Copies `numel` elements of `itemsize` bytes from Fortran (column-major) order to C order.
void fortran_to_c(const char* src, char* dst, const Shape& shape, size_t itemsize) {
  const size_t rank = shape.size();
  const int64_t numel = shape_numel(shape);
  if (numel == 0) return;
  // Column-major strides in elements.
  std::vector<int64_t> fstride(rank, 1);
  for (size_t d = 1; d < rank; ++d) fstride[d] = fstride[d - 1] * shape[d - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;  // Fortran offset of idx
  for (int64_t i = 0; i < numel; ++i) {
    std::memcpy(dst + i * itemsize, src + off * itemsize, itemsize);
    for (size_t d = rank; d-- > 0;) {  // C-order increment: last dim fastest
      if (++idx[d] < shape[d]) {
        off += fstride[d];
        break;
      }
      off -= fstride[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

std::string descr_for(DType t) {
  switch (t) {
    case DType::Bool:
      return "|b1";
    case DType::I8:
      return "|i1";
    case DType::U8:
      return "|u1";
    case DType::I16:
      return "<i2";
    case DType::U16:
      return "<u2";
    case DType::I32:
      return "<i4";
    case DType::U32:
      return "<u4";
    case DType::I64:
      return "<i8";
    case DType::U64:
      return "<u8";
    case DType::F16:
      return "<f2";
    case DType::F32:
      return "<f4";
    case DType::F64:
      return "<f8";
    case DType::BF16:
      return "<f4";  // widened: numpy has no bfloat16
    case DType::I4:
      return "|i1";  // unpacked, one value per byte
    case DType::U4:
      return "|u1";
  }
  return "";
}

// BF16 -> F32 and I4/U4 -> I8/U8, value for value; other dtypes unchanged.
Tensor to_numpy_representable(const Tensor& t) {
  if (t.dtype() == DType::BF16) {
    Tensor out = Tensor::empty(DType::F32, t.shape());
    const uint16_t* src = t.data<uint16_t>();
    for (int64_t i = 0; i < t.numel(); ++i) out.data<float>()[i] = bf16_to_float(src[i]);
    return out;
  }
  if (t.dtype() == DType::I4 || t.dtype() == DType::U4) {
    const bool s = t.dtype() == DType::I4;
    Tensor out = Tensor::empty(s ? DType::I8 : DType::U8, t.shape());
    const uint8_t* src = t.data<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      uint8_t nib = (src[i / 2] >> ((i % 2) * 4)) & 0xf;
      out.data<uint8_t>()[i] = s && nib >= 8 ? static_cast<uint8_t>(nib | 0xf0) : nib;
    }
    return out;
  }
  return t;
}

}  // namespace

Result<Tensor> parse(std::string_view bytes) {
  if (bytes.size() < kMagicLen + 2 ||
      bytes.substr(0, kMagicLen) != std::string_view(kMagic, kMagicLen))
    return Status::error("not a .npy file (no \\x93NUMPY magic)");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  const uint8_t minor = static_cast<uint8_t>(bytes[7]);
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    if (bytes.size() < 10) return Status::error("truncated .npy file (no header length)");
    header_len =
        static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Status::error("truncated .npy file (no header length)");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + i]);
    prefix = 12;
  } else {
    return Status::errorf(".npy format version {}.{} is not supported (1.0, 2.0 and 3.0 are)",
                          major, minor);
  }
  if (header_len > bytes.size() - prefix)
    return Status::errorf("truncated .npy file: the header needs {} bytes, {} are left", header_len,
                          bytes.size() - prefix);
  auto header = parse_header(bytes.substr(prefix, header_len));
  if (!header) return header.status().with_context(".npy header");
  CONDENSE_ASSIGN_OR_RETURN(DescrInfo di, parse_descr(header->descr));
  int64_t numel = 1;
  for (int64_t d : header->shape) {
    if (d != 0 && numel > (int64_t{1} << 50) / d)
      return Status::errorf(".npy shape {} is too large", shape_str(header->shape));
    numel *= d;
  }
  const std::string_view data = bytes.substr(prefix + header_len);
  const size_t need = static_cast<size_t>(numel) * di.itemsize;
  if (data.size() < need)
    return Status::errorf("truncated .npy file: {} {} needs {} bytes of data, {} are present",
                          header->descr, shape_str(header->shape), need, data.size());
  Tensor t = Tensor::empty(di.dtype, header->shape);
  char* dst = static_cast<char*>(t.raw());
  if (header->fortran && header->shape.size() > 1)
    fortran_to_c(data.data(), dst, header->shape, di.itemsize);
  else if (need)
    std::memcpy(dst, data.data(), need);
  if (di.big_endian) {
    for (int64_t i = 0; i < numel; ++i)
      std::reverse(dst + i * di.itemsize, dst + (i + 1) * di.itemsize);
  }
  if (di.dtype == DType::Bool) {  // any non-zero byte is True; C++ bool must hold 0 or 1
    uint8_t* b = reinterpret_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < numel; ++i) b[i] = b[i] != 0;
  }
  return t;
}

std::string serialize(const Tensor& tensor) {
  const Tensor t = to_numpy_representable(tensor);
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += fmt::format("{}, ", t.shape()[i]);
  if (t.shape().size() > 1)
    shape.resize(shape.size() - 2);
  else if (t.shape().size() == 1)
    shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   descr_for(t.dtype()), shape);
  // Pad with spaces and end with '\n' so the data starts at a multiple of 64 bytes.
  size_t prefix = 10;
  size_t total = prefix + header.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  bool v2 = padded - prefix > 0xffff;
  if (v2) {
    prefix = 12;
    total = prefix + header.size() + 1;
    padded = (total + 63) / 64 * 64;
  }
  header.append(padded - total, ' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back(0);
  const size_t hl = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    out.push_back(static_cast<char>((hl >> (8 * i)) & 0xff));
  out += header;
  if (t.numel() > 0) out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

Result<Tensor> read(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  auto t = parse(bytes);
  if (!t) return t.status().with_context(fmt::format("'{}'", path));
  return t;
}

Status write(const std::string& path, const Tensor& t) {
  return write_file_atomic(path, serialize(t));
}

}  // namespace condense::npy
