// Element types. The catalog in dtype.inc is the single list; everything else is generated from it.
//
//   condense::DType t = condense::DType::F32;
//   fmt::print("{} has {} bits\n", condense::dtype_name(t), condense::dtype_bits(t));
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace condense {

// IEEE half precision, stored as bits. Arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  explicit Half(float f);
  explicit operator float() const;
};

// bfloat16: the top 16 bits of an IEEE float, rounded to nearest even.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f);
  explicit operator float() const;
};

float half_to_float(uint16_t bits);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float f);

// X(Name, storage type, ONNX TensorProto::DataType, bits per element, short name)
#define CONDENSE_DTYPES(X)              \
  X(F32, float, 1, 32, "f32")           \
  X(U8, uint8_t, 2, 8, "u8")            \
  X(I8, int8_t, 3, 8, "i8")             \
  X(U16, uint16_t, 4, 16, "u16")        \
  X(I16, int16_t, 5, 16, "i16")         \
  X(I32, int32_t, 6, 32, "i32")         \
  X(I64, int64_t, 7, 64, "i64")         \
  X(Bool, bool, 9, 8, "bool")           \
  X(F16, ::condense::Half, 10, 16, "f16") \
  X(F64, double, 11, 64, "f64")         \
  X(U32, uint32_t, 12, 32, "u32")       \
  X(U64, uint64_t, 13, 64, "u64")       \
  X(BF16, ::condense::BFloat16, 16, 16, "bf16") \
  X(U4, uint8_t, 21, 4, "u4")           \
  X(I4, int8_t, 22, 4, "i4")

enum class DType : uint8_t {
#define CONDENSE_X(name, type, onnx, bits, text) name,
  CONDENSE_DTYPES(CONDENSE_X)
#undef CONDENSE_X
};

inline constexpr int kDTypeCount = 0
#define CONDENSE_X(name, type, onnx, bits, text) +1
    CONDENSE_DTYPES(CONDENSE_X)
#undef CONDENSE_X
    ;

std::string_view dtype_name(DType t);
int dtype_bits(DType t);
int dtype_onnx(DType t);
std::optional<DType> dtype_from_onnx(int onnx_type);
std::optional<DType> dtype_from_name(std::string_view name);
// Bytes needed to hold `count` elements (sub-byte types are packed two per byte, low nibble first).
size_t dtype_storage_bytes(DType t, int64_t count);
bool dtype_is_float(DType t);    // F32, F64, F16, BF16
bool dtype_is_integer(DType t);  // signed or unsigned ints including 4-bit
bool dtype_is_signed(DType t);

template <DType T>
struct DTypeTraits;
#define CONDENSE_X(name, type, onnx, bits, text) \
  template <>                                    \
  struct DTypeTraits<DType::name> {              \
    using Type = type;                           \
  };
CONDENSE_DTYPES(CONDENSE_X)
#undef CONDENSE_X

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<int8_t>() { return DType::I8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::U16; }
template <> constexpr DType dtype_of<int16_t>() { return DType::I16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::U32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::U64; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
template <> constexpr DType dtype_of<Half>() { return DType::F16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::BF16; }

}  // namespace condense
