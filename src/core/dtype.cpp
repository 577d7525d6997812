#include <condense/dtype.h>

#include <bit>
#include <cmath>

namespace condense {

namespace {
struct DTypeInfo {
  std::string_view name;
  int bits;
  int onnx;
};
constexpr DTypeInfo kInfo[] = {
#define CONDENSE_X(name, type, onnx, bits, text) {text, bits, onnx},
    CONDENSE_DTYPES(CONDENSE_X)
#undef CONDENSE_X
};
static_assert(sizeof(kInfo) / sizeof(kInfo[0]) == kDTypeCount);
}  // namespace

std::string_view dtype_name(DType t) { return kInfo[static_cast<int>(t)].name; }
int dtype_bits(DType t) { return kInfo[static_cast<int>(t)].bits; }
int dtype_onnx(DType t) { return kInfo[static_cast<int>(t)].onnx; }

std::optional<DType> dtype_from_onnx(int onnx_type) {
  for (int i = 0; i < kDTypeCount; ++i)
    if (kInfo[i].onnx == onnx_type) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (int i = 0; i < kDTypeCount; ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

size_t dtype_storage_bytes(DType t, int64_t count) {
  int bits = dtype_bits(t);
  if (bits == 4) return static_cast<size_t>((count + 1) / 2);
  return static_cast<size_t>(count) * (bits / 8);
}

bool dtype_is_float(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16;
}
bool dtype_is_integer(DType t) { return !dtype_is_float(t) && t != DType::Bool; }
bool dtype_is_signed(DType t) {
  switch (t) {
    case DType::I8: case DType::I16: case DType::I32: case DType::I64: case DType::I4:
      return true;
    default:
      return dtype_is_float(t);
  }
}

// IEEE 754 binary16 <-> binary32, round to nearest even, with subnormals, inf and NaN.
float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or NaN
    return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0);
  }
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                        // result is subnormal or zero
    if (absx < 0x33000000u) return sign;           // < 2^-25 rounds to zero
    uint32_t mant = (absx & 0x7fffff) | 0x800000;
    int shift = 126 - static_cast<int>(absx >> 23);  // 14..24
    uint32_t val = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (val & 1))) ++val;
    return sign | static_cast<uint16_t>(val);
  }
  uint32_t val = ((absx >> 13) - (112u << 10));  // rebias exponent 127 -> 15
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (val & 1))) ++val;
  return sign | static_cast<uint16_t>(val);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

Half::Half(float f) : bits(float_to_half(f)) {}
Half::operator float() const { return half_to_float(bits); }
BFloat16::BFloat16(float f) : bits(float_to_bf16(f)) {}
BFloat16::operator float() const { return bf16_to_float(bits); }

}  // namespace condense
