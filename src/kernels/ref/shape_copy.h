// Byte-moving helpers shared by the shape-family reference kernels. Everything here works on
// element SIZES (1, 2, 4, 8 bytes), not dtypes: data movement does not care what the bits mean.
#pragma once

#include <condense/tensor.h>

#include <cstdint>
#include <cstring>
#include <span>

namespace condense::shape_kernels {

// Bytes per element; 0 for packed 4-bit types (which the byte movers refuse).
inline int elem_bytes(DType t) {
  int bits = dtype_bits(t);
  return bits % 8 == 0 ? bits / 8 : 0;
}

// Copies a box of `shape` elements: element (i0, .., ik) is read at src + sum(i * src_strides)
// and written at dst + sum(i * dst_strides). Strides are in elements and may be 0 (broadcast) or
// negative (reversal). Dims of size 1 are dropped, dims that are contiguous in both are merged,
// and innermost runs contiguous in both are memcpy'd; big copies are split over OpenMP threads.
void strided_copy(const void* src, std::span<const int64_t> src_strides, void* dst,
                  std::span<const int64_t> dst_strides, std::span<const int64_t> shape, int elem);

// Row-major strides (in elements) of `shape`.
Shape contiguous_strides(std::span<const int64_t> shape);

// Fills `count` elements of `elem` bytes at dst with the pattern at `value`.
void fill_pattern(void* dst, int64_t count, const void* value, int elem);

// Calls f.template operator()<U>() with U an unsigned integer of `elem` bytes (1, 2, 4 or 8).
template <typename F>
decltype(auto) visit_elem(int elem, F&& f) {
  switch (elem) {
    case 1:
      return f.template operator()<uint8_t>();
    case 2:
      return f.template operator()<uint16_t>();
    case 4:
      return f.template operator()<uint32_t>();
    default:
      return f.template operator()<uint64_t>();
  }
}

// Reads index i of an I32 or I64 index tensor.
inline int64_t index_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::I32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
}

}  // namespace condense::shape_kernels
