// Fans a runtime DType out to a template: visit_dtype(t, [&]<typename T>() { ... }).
// Sub-byte types (I4/U4) are not visited here: kernels that support them unpack explicitly.
#pragma once

#include <condense/dtype.h>
#include <condense/status.h>

namespace condense {

template <typename F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f.template operator()<float>();
    case DType::F64: return f.template operator()<double>();
    case DType::F16: return f.template operator()<Half>();
    case DType::BF16: return f.template operator()<BFloat16>();
    case DType::I8: return f.template operator()<int8_t>();
    case DType::U8: return f.template operator()<uint8_t>();
    case DType::I16: return f.template operator()<int16_t>();
    case DType::U16: return f.template operator()<uint16_t>();
    case DType::I32: return f.template operator()<int32_t>();
    case DType::U32: return f.template operator()<uint32_t>();
    case DType::I64: return f.template operator()<int64_t>();
    case DType::U64: return f.template operator()<uint64_t>();
    case DType::Bool: return f.template operator()<bool>();
    case DType::I4:
    case DType::U4:
      break;
  }
  CONDENSE_CHECK_MSG(false, "visit_dtype: packed 4-bit types must be handled by the caller");
  __builtin_unreachable();
}

// Numeric conversion that treats Half/BFloat16 as float.
template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

// Compute type for arithmetic on T: float for 16-bit floats, T otherwise.
template <typename T>
using compute_t =
    std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

}  // namespace condense
