// Window tables for the reference Conv / ConvTranspose / pooling kernels.
#pragma once

#include <algorithm>
#include <vector>

#include "ops/nn_geometry.h"

namespace condense {

inline constexpr int64_t kWindowPad = -1;      // inside the explicit padding
inline constexpr int64_t kWindowOutside = -2;  // past the padded extent (ceil_mode windows)

// table[kk * n_from + f]: the flat spatial offset in the `to` space of kernel tap kk applied at
// position f of the `from` space (p = f * stride - pad_begin + k * dilation per dim), or
// kWindowPad / kWindowOutside. Conv and pools: from = output, to = input. ConvTranspose:
// from = input, to = output (then pads crop the output and both negatives mean "dropped").
inline std::vector<int64_t> window_table(const WindowGeom& g, const Shape& from, const Shape& to) {
  const int64_t n_from = shape_numel(from), n_k = g.kernel_size();
  std::vector<int64_t> table(static_cast<size_t>(n_from * n_k));
  std::vector<int64_t> kidx(g.rank, 0), fidx(g.rank, 0);
  for (int64_t kk = 0; kk < n_k; ++kk) {
    std::fill(fidx.begin(), fidx.end(), 0);
    for (int64_t f = 0; f < n_from; ++f) {
      int64_t off = 0;
      for (int64_t d = 0; d < g.rank; ++d) {
        const int64_t p = fidx[d] * g.strides[d] - g.pad_begin[d] + kidx[d] * g.dilations[d];
        if (p < -std::max<int64_t>(g.pad_begin[d], 0) ||
            p >= to[d] + std::max<int64_t>(g.pad_end[d], 0)) {
          off = kWindowOutside;
          break;
        }
        if (p < 0 || p >= to[d]) off = kWindowPad;
        if (off >= 0) off = off * to[d] + p;
      }
      table[kk * n_from + f] = off;
      for (int64_t d = g.rank; d-- > 0;) {
        if (++fidx[d] < from[d]) break;
        fidx[d] = 0;
      }
    }
    for (int64_t d = g.rank; d-- > 0;) {
      if (++kidx[d] < g.kernel[d]) break;
      kidx[d] = 0;
    }
  }
  return table;
}

}  // namespace condense
