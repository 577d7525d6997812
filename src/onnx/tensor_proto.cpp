#include <condense/file.h>
#include <condense/onnx.h>

#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/dispatch.h"
#include "onnx/proto.h"

namespace condense::onnx_internal {

std::string onnx_dtype_name(int onnx_type) {
  if (::onnx::TensorProto_DataType_IsValid(onnx_type))
    return ::onnx::TensorProto_DataType_Name(static_cast<::onnx::TensorProto_DataType>(onnx_type));
  return fmt::format("unknown({})", onnx_type);
}

namespace {

Result<std::string> read_external(const ::onnx::TensorProto& p, const std::string& base_dir,
                                  size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  auto parse_int = [&](const std::string& key, const std::string& text, int64_t& out) -> Status {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || end != text.data() + text.size() || out < 0)
      return Status::errorf("tensor '{}': external data {} '{}' is not a non-negative integer", p.name(), key, text);
    return Status::ok();
  };
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") CONDENSE_TRY(parse_int("offset", kv.value(), offset));
    else if (kv.key() == "length") CONDENSE_TRY(parse_int("length", kv.value(), length));
  }
  if (location.empty()) return Status::errorf("tensor '{}': external data without a location", p.name());
  if (base_dir.empty())
    return Status::errorf("tensor '{}': external data '{}' cannot be resolved here", p.name(), location);
  std::filesystem::path rel(location);
  if (rel.is_absolute() || location.find("..") != std::string::npos)
    return Status::errorf("tensor '{}': external data location '{}' must be a relative path inside the model's folder",
                          p.name(), location);
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file((std::filesystem::path(base_dir) / rel).string()));
  if (offset < 0 || static_cast<size_t>(offset) > bytes.size())
    return Status::errorf("tensor '{}': external data offset {} is past the end of '{}'", p.name(), offset, location);
  size_t len = length < 0 ? bytes.size() - offset : static_cast<size_t>(length);
  if (offset + len > bytes.size() || len != expected)
    return Status::errorf("tensor '{}': external data '{}' has {} bytes at offset {}, expected {}", p.name(),
                          location, std::min(len, bytes.size() - offset), offset, expected);
  return bytes.substr(offset, len);
}

template <typename T, typename Field>
Status copy_field(const Field& field, Tensor& t, const std::string& name) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    return Status::errorf("tensor '{}' has {} values but its shape {} needs {}", name, field.size(),
                          shape_str(t.shape()), t.numel());
  T* dst = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  return Status::ok();
}

}  // namespace

Result<Tensor> tensor_from_proto(const ::onnx::TensorProto& p, const std::string& base_dir) {
  auto dtype = dtype_from_onnx(p.data_type());
  if (!dtype)
    return Status::errorf("tensor '{}' has unsupported dtype {}", p.name(), onnx_dtype_name(p.data_type()));
  Shape shape;
  for (int64_t d : p.dims()) {
    if (d < 0) return Status::errorf("tensor '{}' has a negative dimension {}", p.name(), d);
    shape.push_back(d);
  }
  // Guard against absurd sizes from corrupt files before allocating.
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > (int64_t{1} << 40) / d)
      return Status::errorf("tensor '{}' is too large ({})", p.name(), shape_str(shape));
    numel *= d;
  }
  const size_t nbytes = dtype_storage_bytes(*dtype, numel);
  if (p.has_segment())
    return Status::errorf("tensor '{}' uses segments, which are not supported", p.name());
  if (p.data_location() == ::onnx::TensorProto_DataLocation_EXTERNAL) {
    CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_external(p, base_dir, nbytes));
    Tensor t = Tensor::empty(*dtype, shape);
    if (nbytes) std::memcpy(t.raw(), bytes.data(), nbytes);
    return t;
  }
  if (p.has_raw_data()) {
    if (p.raw_data().size() != nbytes)
      return Status::errorf("tensor '{}' has {} bytes of raw data but {} {} needs {}", p.name(),
                            p.raw_data().size(), dtype_name(*dtype), shape_str(shape), nbytes);
    Tensor t = Tensor::empty(*dtype, shape);
    if (nbytes) std::memcpy(t.raw(), p.raw_data().data(), nbytes);
    return t;
  }
  // Typed fields: check the value count before allocating (a corrupt file may claim any shape).
  int64_t field_count = 0;
  switch (*dtype) {
    case DType::F32: field_count = p.float_data_size(); break;
    case DType::F64: field_count = p.double_data_size(); break;
    case DType::I64: field_count = p.int64_data_size(); break;
    case DType::U32:
    case DType::U64: field_count = p.uint64_data_size(); break;
    default: field_count = p.int32_data_size(); break;
  }
  // 4-bit types may hold two values per int32_data entry (one byte, low nibble first).
  const bool packed4 = *dtype == DType::I4 || *dtype == DType::U4;
  if (field_count != numel && !(packed4 && field_count == (numel + 1) / 2))
    return Status::errorf("tensor '{}' has {} values but its shape {} needs {}", p.name(), field_count,
                          shape_str(shape), numel);
  Tensor t = Tensor::zeros(*dtype, shape);
  const std::string& name = p.name();
  switch (*dtype) {
    case DType::F32: CONDENSE_TRY(copy_field<float>(p.float_data(), t, name)); break;
    case DType::F64: CONDENSE_TRY(copy_field<double>(p.double_data(), t, name)); break;
    case DType::I64: CONDENSE_TRY(copy_field<int64_t>(p.int64_data(), t, name)); break;
    case DType::U32: CONDENSE_TRY(copy_field<uint32_t>(p.uint64_data(), t, name)); break;
    case DType::U64: CONDENSE_TRY(copy_field<uint64_t>(p.uint64_data(), t, name)); break;
    case DType::I32: CONDENSE_TRY(copy_field<int32_t>(p.int32_data(), t, name)); break;
    case DType::I16: CONDENSE_TRY(copy_field<int16_t>(p.int32_data(), t, name)); break;
    case DType::U16: CONDENSE_TRY(copy_field<uint16_t>(p.int32_data(), t, name)); break;
    case DType::I8: CONDENSE_TRY(copy_field<int8_t>(p.int32_data(), t, name)); break;
    case DType::U8: CONDENSE_TRY(copy_field<uint8_t>(p.int32_data(), t, name)); break;
    case DType::Bool: CONDENSE_TRY(copy_field<bool>(p.int32_data(), t, name)); break;
    case DType::F16:  // bit patterns in int32_data
    case DType::BF16: CONDENSE_TRY(copy_field<uint16_t>(p.int32_data(), t, name)); break;
    case DType::I4:
    case DType::U4: {
      // ONNX packs two 4-bit values per int32_data entry (one byte, low nibble first), as
      // onnx.helper.make_tensor writes them; one value per entry is accepted too.
      uint8_t* dst = t.data<uint8_t>();
      if (static_cast<int64_t>(p.int32_data_size()) == (numel + 1) / 2) {
        for (int64_t i = 0; i < (numel + 1) / 2; ++i)
          dst[i] = static_cast<uint8_t>(p.int32_data(static_cast<int>(i)) & 0xff);
        if (numel % 2) dst[numel / 2] &= 0x0f;
        break;
      }
      if (static_cast<int64_t>(p.int32_data_size()) != numel)
        return Status::errorf("tensor '{}' has {} values but its shape needs {}", name, p.int32_data_size(), numel);
      for (int64_t i = 0; i < numel; ++i) {
        uint8_t nib = static_cast<uint8_t>(p.int32_data(static_cast<int>(i)) & 0xf);
        dst[i / 2] |= (i % 2 == 0) ? nib : static_cast<uint8_t>(nib << 4);
      }
      break;
    }
  }
  return t;
}

Result<Tensor> tensor_from_sparse_proto(const ::onnx::SparseTensorProto& p, const std::string& base_dir) {
  CONDENSE_ASSIGN_OR_RETURN(Tensor values, tensor_from_proto(p.values(), base_dir));
  CONDENSE_ASSIGN_OR_RETURN(Tensor indices, tensor_from_proto(p.indices(), base_dir));
  Shape shape(p.dims().begin(), p.dims().end());
  const std::string& name = p.values().name();
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::errorf("sparse tensor '{}' has a negative dimension {}", name, d);
    if (d != 0 && numel > (int64_t{1} << 31) / d)
      return Status::errorf("sparse tensor '{}' is too large to densify ({})", name, shape_str(shape));
    numel *= d;
  }
  Tensor dense = Tensor::zeros(values.dtype(), shape);
  const int64_t nnz = values.numel();
  const int64_t rank = static_cast<int64_t>(shape.size());
  const size_t esize = dtype_bits(values.dtype()) / 8;
  if (esize == 0) return Status::errorf("sparse tensor '{}': 4-bit values are not supported", name);
  auto flat_index = [&](int64_t k) -> Result<int64_t> {
    if (indices.rank() == 1) return indices.get_i64(k);
    int64_t flat = 0;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t i = indices.get_i64(k * rank + d);
      if (i < 0 || i >= shape[d])
        return Status::errorf("sparse tensor '{}': index {} out of range for dimension {} ({})", name, i, d,
                              shape[d]);
      flat = flat * shape[d] + i;
    }
    return flat;
  };
  if (!(indices.rank() == 1 && indices.numel() == nnz) && !(indices.rank() == 2 && indices.numel() == nnz * rank))
    return Status::errorf("sparse tensor '{}': indices shape {} does not fit {} values", name,
                          shape_str(indices.shape()), nnz);
  for (int64_t k = 0; k < nnz; ++k) {
    CONDENSE_ASSIGN_OR_RETURN(int64_t at, flat_index(k));
    if (at < 0 || at >= dense.numel()) return Status::errorf("sparse tensor '{}': index {} out of range", name, at);
    std::memcpy(static_cast<char*>(dense.raw()) + at * esize, static_cast<const char*>(values.raw()) + k * esize, esize);
  }
  return dense;
}

void tensor_to_proto(const Tensor& t, const std::string& name, ::onnx::TensorProto* p) {
  p->Clear();
  p->set_name(name);
  p->set_data_type(dtype_onnx(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DType::I4 || t.dtype() == DType::U4 || t.numel() == 0 || !t.defined()) {
    if (t.numel() > 0 && t.defined()) p->set_raw_data(t.raw(), t.nbytes());
    else if (t.numel() == 0) p->set_raw_data("");
    return;
  }
  p->set_raw_data(t.raw(), t.nbytes());
}

}  // namespace condense::onnx_internal

namespace condense::onnx {

Result<Tensor> parse_tensor_pb(std::string_view bytes, std::string* name) {
  ::onnx::TensorProto p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::error("not a valid ONNX TensorProto");
  if (name) *name = p.name();
  return onnx_internal::tensor_from_proto(p, "");
}

Result<Tensor> read_tensor_pb(const std::string& path) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  auto t = parse_tensor_pb(bytes);
  if (!t) return t.status().with_context(fmt::format("'{}'", path));
  return t;
}

Result<std::string> serialize_tensor_pb(const Tensor& t, const std::string& name) {
  ::onnx::TensorProto p;
  onnx_internal::tensor_to_proto(t, name, &p);
  std::string out;
  if (!p.SerializeToString(&out)) return Status::error("failed to serialize TensorProto");
  return out;
}

Status write_tensor_pb(const std::string& path, const Tensor& t, const std::string& name) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, serialize_tensor_pb(t, name));
  return write_file_atomic(path, bytes);
}

}  // namespace condense::onnx
