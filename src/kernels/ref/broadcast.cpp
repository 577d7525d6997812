#include "kernels/ref/broadcast.h"

namespace condense {

std::vector<int64_t> broadcast_strides(const Shape& in_shape, size_t out_rank,
                                       const Shape& out_shape) {
  std::vector<int64_t> strides(out_rank, 0);
  int64_t stride = 1;
  const size_t offset = out_rank - in_shape.size();
  for (size_t d = in_shape.size(); d-- > 0;) {
    strides[d + offset] = (in_shape[d] == 1 && out_shape[d + offset] != 1) ? 0 : stride;
    stride *= in_shape[d];
  }
  return strides;
}

}  // namespace condense
