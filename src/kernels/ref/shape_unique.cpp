// Unique(X; axis?, sorted = 1) -> (Y, indices, inverse_indices, counts). Without axis the
// elements of the flattened X are the items; with axis the slices X[.., i, ..] are, compared
// lexicographically. Equality follows numpy's unique: -0.0 == 0.0 and NaN == NaN (NaN sorts
// last).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/shape_copy.h"

namespace condense {

using shape_kernels::contiguous_strides;
using shape_kernels::elem_bytes;
using shape_kernels::strided_copy;

namespace {
// Three-way comparison of rows a and b of `len` elements.
template <typename T>
int compare_rows(const T* a, const T* b, int64_t len) {
  using C = compute_t<T>;
  for (int64_t i = 0; i < len; ++i) {
    const C x = convert<C>(a[i]), y = convert<C>(b[i]);
    if constexpr (std::is_floating_point_v<C>) {
      const bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny) {
        if (nx && ny) continue;
        return nx ? 1 : -1;
      }
    }
    if (x < y) return -1;
    if (y < x) return 1;
  }
  return 0;
}
}  // namespace

Status ref_Unique(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const bool sorted = ctx.node.attr_int("sorted", 1) != 0;
  const bool has_axis = ctx.node.has_attr("axis");
  const int elem = elem_bytes(x.dtype());
  // Items as contiguous rows: (items, len).
  int64_t outer = 1, items, inner = 1, axis = 0;
  if (has_axis) {
    axis = ctx.node.attr_int("axis", 0);
    if (axis < 0) axis += x.rank();
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    items = x.dim(axis);
  } else {
    items = x.numel();
  }
  const int64_t len = outer * inner;
  // rows: (items, outer, inner) from x viewed (outer, items, inner).
  Tensor rows = Tensor::empty(x.dtype(), {items, outer, inner});
  {
    const Shape shape{items, outer, inner};
    const Shape src{inner, items * inner, 1};
    if (rows.numel())
      strided_copy(x.raw(), src, rows.raw(), contiguous_strides(shape), shape, elem);
  }
  std::vector<int64_t> order(items);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> group_of(items);  // item -> group id (in sorted order)
  std::vector<int64_t> first;            // group -> first item
  std::vector<int64_t> counts;
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* p = rows.data<T>();
    auto cmp = [&](int64_t a, int64_t b) { return compare_rows(p + a * len, p + b * len, len); };
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    for (int64_t k = 0; k < items; ++k) {
      const int64_t it = order[k];
      if (k == 0 || cmp(order[k - 1], it) != 0) {
        first.push_back(it);
        counts.push_back(0);
      }
      group_of[it] = static_cast<int64_t>(first.size()) - 1;
      ++counts.back();
    }
  });
  const int64_t groups = static_cast<int64_t>(first.size());
  // Output position of each group: sorted order, or order of first occurrence.
  std::vector<int64_t> pos(groups);
  std::iota(pos.begin(), pos.end(), 0);
  if (!sorted) {
    std::vector<int64_t> by_first(groups);
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(),
              [&](int64_t a, int64_t b) { return first[a] < first[b]; });
    for (int64_t k = 0; k < groups; ++k) pos[by_first[k]] = k;
  }
  // Y rows (groups, outer, inner), then back to x's layout with `groups` at axis.
  Tensor yrows = Tensor::empty(x.dtype(), {groups, outer, inner});
  const size_t row_bytes = static_cast<size_t>(len) * elem;
  for (int64_t g = 0; g < groups; ++g)
    std::memcpy(static_cast<uint8_t*>(yrows.raw()) + pos[g] * row_bytes,
                static_cast<const uint8_t*>(rows.raw()) + first[g] * row_bytes, row_bytes);
  Shape yshape = has_axis ? x.shape() : Shape{groups};
  if (has_axis) yshape[axis] = groups;
  Tensor y = Tensor::empty(x.dtype(), yshape);
  {
    const Shape shape{outer, groups, inner};
    const Shape src{inner, len, 1};
    if (y.numel()) strided_copy(yrows.raw(), src, y.raw(), contiguous_strides(shape), shape, elem);
  }
  Tensor indices = Tensor::empty(DType::I64, {groups});
  Tensor inverse = Tensor::empty(DType::I64, {items});
  Tensor count_t = Tensor::empty(DType::I64, {groups});
  for (int64_t g = 0; g < groups; ++g) {
    indices.data<int64_t>()[pos[g]] = first[g];
    count_t.data<int64_t>()[pos[g]] = counts[g];
  }
  for (int64_t i = 0; i < items; ++i) inverse.data<int64_t>()[i] = pos[group_of[i]];
  Tensor outs[4] = {y, indices, inverse, count_t};
  for (size_t i = 0; i < ctx.outputs.size() && i < 4; ++i) ctx.out(i) = outs[i];
  return Status::ok();
}

}  // namespace condense
