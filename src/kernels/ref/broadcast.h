// Numpy broadcasting for reference kernels: maps an output flat index to input flat indices.
#pragma once

#include <condense/tensor.h>

#include <vector>

namespace condense {

// Strides of `in_shape` viewed in an output of rank out_rank (0 where the input broadcasts).
std::vector<int64_t> broadcast_strides(const Shape& in_shape, size_t out_rank, const Shape& out_shape);

// Iterates the output index space, calling f(out_index, in_offsets...) for a list of inputs.
// Offsets are element offsets into each input (already accounting for broadcasting).
template <size_t N, typename F>
void for_each_broadcast(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes, F&& f) {
  const size_t rank = out_shape.size();
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(*in_shapes[k], rank, out_shape);
  const int64_t total = shape_numel(out_shape);
  if (total == 0) return;
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, N> off{};
  for (int64_t i = 0; i < total; ++i) {
    f(i, off);
    for (size_t d = rank; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < out_shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

}  // namespace condense
