// Shape family reference kernels, part 2: indexing. Every index is checked against its axis
// before any memory is touched: an out-of-range index is an error naming the node.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/shape_copy.h"

namespace condense {

using shape_kernels::contiguous_strides;
using shape_kernels::elem_bytes;
using shape_kernels::index_at;
using shape_kernels::visit_elem;

namespace {
const uint8_t* bytes_of(const Tensor& t) {
  return static_cast<const uint8_t*>(t.raw());
}
uint8_t* bytes_of(Tensor& t) {
  return static_cast<uint8_t*>(t.raw());
}

int64_t axis_attr(const KernelCtx& ctx, const char* name, int64_t fallback, int64_t rank) {
  int64_t a = ctx.node.attr_int(name, fallback);
  return a < 0 ? a + rank : a;
}

// Index value v for an axis of size n, negative counting from the end; error when outside
// [-n, n).
Status check_index(const KernelCtx& ctx, int64_t& v, int64_t n, int64_t position) {
  if (v < -n || v >= n)
    return ctx.fail("index {} at position {} is out of range for an axis of size {}", v, position,
                    n);
  if (v < 0) v += n;
  return Status::ok();
}

// Multi-index odometer over `shape`.
struct Odometer {
  std::span<const int64_t> shape;
  std::vector<int64_t> idx;
  explicit Odometer(std::span<const int64_t> s) : shape(s), idx(s.size(), 0) {}
  void next() {
    for (size_t k = shape.size(); k-- > 0;) {
      if (++idx[k] < shape[k]) return;
      idx[k] = 0;
    }
  }
};

enum class Reduction { None, Add, Mul, Max, Min };
Reduction reduction_of(const ir::Node& n) {
  const std::string r = n.attr_string("reduction", "none");
  if (r == "add") return Reduction::Add;
  if (r == "mul") return Reduction::Mul;
  if (r == "max") return Reduction::Max;
  if (r == "min") return Reduction::Min;
  return Reduction::None;
}

// Applies updates[src_i] into out[dst_i] for every (dst_i, src_i) pair, in order.
template <typename T>
void apply_reduction(Reduction red, T* out, const T* upd,
                     std::span<const std::pair<int64_t, int64_t>> pairs) {
  using C = compute_t<T>;
  for (auto [d, s] : pairs) {
    if (red == Reduction::None) {
      out[d] = upd[s];
      continue;
    }
    if constexpr (std::is_same_v<T, bool>) {
      if (red == Reduction::Add || red == Reduction::Max)
        out[d] = out[d] || upd[s];
      else
        out[d] = out[d] && upd[s];
    } else {
      const C a = convert<C>(out[d]), b = convert<C>(upd[s]);
      C r;
      switch (red) {
        case Reduction::Add:
          r = static_cast<C>(a + b);
          break;
        case Reduction::Mul:
          r = static_cast<C>(a * b);
          break;
        case Reduction::Max:
          r = std::max(a, b);
          break;
        default:
          r = std::min(a, b);
          break;
      }
      out[d] = convert<T>(r);
    }
  }
}

// Copies data into the output, then applies the (dst, src) element pairs with the reduction.
Status scatter_apply(KernelCtx& ctx, std::span<const std::pair<int64_t, int64_t>> pairs,
                     int64_t inner) {
  const Tensor& data = ctx.in(0);
  const Tensor& upd = ctx.in(2);
  Tensor& y = ctx.out(0);
  if (y.nbytes()) std::memcpy(y.raw(), data.raw(), y.nbytes());
  const Reduction red = reduction_of(ctx.node);
  // Expand (dst, src) row pairs into element pairs when rows hold `inner` elements.
  std::vector<std::pair<int64_t, int64_t>> elems;
  std::span<const std::pair<int64_t, int64_t>> use = pairs;
  if (inner != 1) {
    elems.reserve(pairs.size() * inner);
    for (auto [d, s] : pairs)
      for (int64_t j = 0; j < inner; ++j) elems.emplace_back(d * inner + j, s * inner + j);
    use = elems;
  }
  if (red == Reduction::None) {
    visit_elem(elem_bytes(y.dtype()),
               [&]<typename U>() { apply_reduction<U>(red, y.data<U>(), upd.data<U>(), use); });
    return Status::ok();
  }
  visit_dtype(y.dtype(),
              [&]<typename T>() { apply_reduction<T>(red, y.data<T>(), upd.data<T>(), use); });
  return Status::ok();
}
}  // namespace

// y[o, j, i] = x[o, idx[j], i] with o over data[:axis], j over indices, i over data[axis+1:].
Status ref_Gather(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int64_t axis = axis_attr(ctx, "axis", 0, x.rank());
  const int64_t A = x.dim(axis), J = ind.numel();
  std::vector<int64_t> idx(J);
  for (int64_t j = 0; j < J; ++j) {
    idx[j] = index_at(ind, j);
    CONDENSE_TRY(check_index(ctx, idx[j], A, j));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int elem = elem_bytes(x.dtype());
  const uint8_t* xp = bytes_of(x);
  uint8_t* yp = bytes_of(y);
  const int64_t units = outer * J;
  if (inner == 1) {
    visit_elem(elem, [&]<typename U>() {
      const U* xs = reinterpret_cast<const U*>(xp);
      U* ys = reinterpret_cast<U*>(yp);
#pragma omp parallel for if (units > (1 << 16))
      for (int64_t u = 0; u < units; ++u) ys[u] = xs[(u / J) * A + idx[u % J]];
    });
    return Status::ok();
  }
  const size_t row = static_cast<size_t>(inner) * elem;
#pragma omp parallel for if (units * inner > (1 << 16))
  for (int64_t u = 0; u < units; ++u)
    std::memcpy(yp + u * row, xp + ((u / J) * A + idx[u % J]) * row, row);
  return Status::ok();
}

// y[i...] = x[i... with i[axis] replaced by indices[i...]].
Status ref_GatherElements(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int64_t axis = axis_attr(ctx, "axis", 0, x.rank());
  const Shape xs = contiguous_strides(x.shape());
  const int64_t n = ind.numel(), A = x.dim(axis);
  std::vector<int64_t> src(n);
  Odometer od(ind.shape());
  for (int64_t i = 0; i < n; ++i, od.next()) {
    int64_t v = index_at(ind, i);
    CONDENSE_TRY(check_index(ctx, v, A, i));
    int64_t off = 0;
    for (int64_t d = 0; d < x.rank(); ++d) off += (d == axis ? v : od.idx[d]) * xs[d];
    src[i] = off;
  }
  visit_elem(elem_bytes(x.dtype()), [&]<typename U>() {
    const U* xp = x.data<U>();
    U* yp = y.data<U>();
    for (int64_t i = 0; i < n; ++i) yp[i] = xp[src[i]];
  });
  return Status::ok();
}

// For each batch (data[:b]) and each index tuple of length m, copies the slice data[b + m:].
Status ref_GatherND(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int64_t b = ctx.node.attr_int("batch_dims", 0);
  const int64_t m = ind.dim(-1);
  int64_t batches = 1, per_batch_data = 1, slice = 1;
  for (int64_t d = 0; d < b; ++d) batches *= x.dim(d);
  for (int64_t d = b; d < x.rank(); ++d) per_batch_data *= x.dim(d);
  for (int64_t d = b + m; d < x.rank(); ++d) slice *= x.dim(d);
  const int64_t tuples = batches == 0 ? 0 : ind.numel() / m / batches;
  const int elem = elem_bytes(x.dtype());
  const size_t row = static_cast<size_t>(slice) * elem;
  const int64_t* ip = ind.data<int64_t>();
  for (int64_t bi = 0; bi < batches; ++bi)
    for (int64_t t = 0; t < tuples; ++t) {
      const int64_t* tup = ip + (bi * tuples + t) * m;
      int64_t off = 0;
      for (int64_t k = 0; k < m; ++k) {
        int64_t v = tup[k];
        CONDENSE_TRY(check_index(ctx, v, x.dim(b + k), (bi * tuples + t) * m + k));
        off = off * x.dim(b + k) + v;
      }
      std::memcpy(bytes_of(y) + (bi * tuples + t) * row,
                  bytes_of(x) + (bi * per_batch_data + off * slice) * elem, row);
    }
  return Status::ok();
}

Status ref_ScatterElements(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const int64_t axis = axis_attr(ctx, "axis", 0, x.rank());
  const Shape xs = contiguous_strides(x.shape());
  const int64_t n = ind.numel(), A = x.dim(axis);
  std::vector<std::pair<int64_t, int64_t>> pairs(n);
  Odometer od(ind.shape());
  for (int64_t i = 0; i < n; ++i, od.next()) {
    int64_t v = index_at(ind, i);
    CONDENSE_TRY(check_index(ctx, v, A, i));
    int64_t off = 0;
    for (int64_t d = 0; d < x.rank(); ++d) off += (d == axis ? v : od.idx[d]) * xs[d];
    pairs[i] = {off, i};
  }
  return scatter_apply(ctx, pairs, 1);
}

// Scatter (deprecated) is ScatterElements without reduction; the importer renames it anyway.
Status ref_Scatter(KernelCtx& ctx) {
  return ref_ScatterElements(ctx);
}

Status ref_ScatterND(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const int64_t k = ind.dim(-1);
  int64_t slice = 1;
  for (int64_t d = k; d < x.rank(); ++d) slice *= x.dim(d);
  const int64_t tuples = ind.numel() / k;
  const int64_t* ip = ind.data<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> pairs(tuples);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = ip[t * k + j];
      CONDENSE_TRY(check_index(ctx, v, x.dim(j), t * k + j));
      off = off * x.dim(j) + v;
    }
    pairs[t] = {off, t};
  }
  return scatter_apply(ctx, pairs, slice);
}

// y = off everywhere, on at [.., idx, ..] (idx inserted at axis); out-of-range indices
// ([-depth, depth) after the spec's wrap) leave their row off, as the spec says.
Status ref_OneHot(KernelCtx& ctx) {
  const Tensor& ind = ctx.in(0);
  const Tensor& vals = ctx.in(2);
  Tensor& y = ctx.out(0);
  const int64_t r = ind.rank();
  const int64_t axis = axis_attr(ctx, "axis", -1, r + 1);
  const int64_t depth = y.dim(axis);
  const int elem = elem_bytes(y.dtype());
  shape_kernels::fill_pattern(y.raw(), y.numel(), bytes_of(vals), elem);
  int64_t inner = 1;
  for (int64_t d = axis; d < r; ++d) inner *= ind.dim(d);
  const bool is_float = dtype_is_float(ind.dtype());
  for (int64_t i = 0; i < ind.numel(); ++i) {
    int64_t v;
    if (is_float) {
      const double f = ind.get_f64(i);
      if (!std::isfinite(f) || std::abs(f) > 1e15) continue;
      v = static_cast<int64_t>(f);
    } else {
      v = ind.get_i64(i);
    }
    if (v < -depth || v >= depth) continue;
    if (v < 0) v += depth;
    const int64_t o = i / inner, j = i % inner;
    std::memcpy(bytes_of(y) + ((o * depth + v) * inner + j) * elem, bytes_of(vals) + elem, elem);
  }
  return Status::ok();
}

// y: I64 (rank, count) with the coordinates of the non-zero elements in row-major order (a
// scalar counts as rank 1, as numpy does).
Status ref_NonZero(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t n = x.numel();
  std::vector<int64_t> hits;
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* p = x.data<T>();
    for (int64_t i = 0; i < n; ++i)
      if (convert<compute_t<T>>(p[i]) != compute_t<T>(0)) hits.push_back(i);
  });
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  const int64_t r = static_cast<int64_t>(shape.size()), cnt = static_cast<int64_t>(hits.size());
  Tensor y = Tensor::empty(DType::I64, {r, cnt});
  int64_t* yp = y.data<int64_t>();
  for (int64_t c = 0; c < cnt; ++c) {
    int64_t rem = hits[c];
    for (int64_t d = r - 1; d >= 0; --d) {
      yp[d * cnt + c] = rem % shape[d];
      rem /= shape[d];
    }
  }
  ctx.out(0) = std::move(y);
  return Status::ok();
}

Status ref_Compress(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& cond = ctx.in(1);
  Tensor& y = ctx.out(0);
  int64_t outer = 1, dim, inner = 1;
  if (ctx.node.has_attr("axis")) {
    const int64_t axis = axis_attr(ctx, "axis", 0, x.rank());
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    dim = x.dim(axis);
  } else {
    dim = x.numel();
  }
  const bool* c = cond.data<bool>();
  const int64_t len = std::min(dim, cond.numel());
  const int64_t kept = std::count(c, c + len, true);
  if (y.numel() != outer * kept * inner) return ctx.fail("internal: output size mismatch");
  const size_t row = static_cast<size_t>(inner) * elem_bytes(x.dtype());
  uint8_t* out = bytes_of(y);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < len; ++i)
      if (c[i]) {
        std::memcpy(out, bytes_of(x) + (o * dim + i) * row, row);
        out += row;
      }
  return Status::ok();
}

}  // namespace condense
