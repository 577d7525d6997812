// Shape family reference kernels, part 1: views and region copies. All of them move bytes by
// element size (see shape_copy.h); none looks at what the bytes mean, except Pad's constant.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/shape_copy.h"
#include "ops/infer.h"
#include "ops/shape_common.h"

namespace condense {

using shape_kernels::contiguous_strides;
using shape_kernels::elem_bytes;
using shape_kernels::strided_copy;

namespace {
Status view_of_input(KernelCtx& ctx) {
  ctx.out(0) = ctx.in(0).reshaped(ctx.out(0).shape());
  return Status::ok();
}

const uint8_t* bytes_of(const Tensor& t) {
  return static_cast<const uint8_t*>(t.raw());
}
uint8_t* bytes_of(Tensor& t) {
  return static_cast<uint8_t*>(t.raw());
}
}  // namespace

// The runtime passes the inferred shape through the pre-set output shape; these are views.
Status ref_Reshape(KernelCtx& ctx) {
  return view_of_input(ctx);
}
Status ref_Flatten(KernelCtx& ctx) {
  return view_of_input(ctx);
}
Status ref_Squeeze(KernelCtx& ctx) {
  return view_of_input(ctx);
}
Status ref_Unsqueeze(KernelCtx& ctx) {
  return view_of_input(ctx);
}

// Inference Dropout: output = input (a view), mask = all true.
Status ref_Dropout(KernelCtx& ctx) {
  ctx.out(0) = ctx.in(0);
  if (ctx.outputs.size() > 1 && ctx.out(1).defined() && ctx.out(1).nbytes())
    std::memset(ctx.out(1).raw(), 1, ctx.out(1).nbytes());
  return Status::ok();
}

Status ref_Transpose(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t r = x.rank();
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (!ctx.node.has_attr("perm"))
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  const Shape xs = contiguous_strides(x.shape());
  Shape src(r);
  for (int64_t i = 0; i < r; ++i) src[i] = xs[perm[i]];
  strided_copy(x.raw(), src, y.raw(), contiguous_strides(y.shape()), y.shape(),
               elem_bytes(x.dtype()));
  return Status::ok();
}

// Each input lands in its own band of the output along `axis`.
Status ref_Concat(KernelCtx& ctx) {
  Tensor& y = ctx.out(0);
  const int64_t r = y.rank();
  const int64_t axis = ctx.node.attr_int("axis", 0) < 0 ? ctx.node.attr_int("axis", 0) + r
                                                        : ctx.node.attr_int("axis", 0);
  const int elem = elem_bytes(y.dtype());
  const Shape ys = contiguous_strides(y.shape());
  int64_t offset = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Tensor& x = ctx.in(i);
    strided_copy(x.raw(), contiguous_strides(x.shape()), bytes_of(y) + offset * ys[axis] * elem, ys,
                 x.shape(), elem);
    offset += x.dim(axis);
  }
  return Status::ok();
}

Status ref_Split(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = ctx.node.attr_int("axis", 0) < 0 ? ctx.node.attr_int("axis", 0) + x.rank()
                                                        : ctx.node.attr_int("axis", 0);
  const int elem = elem_bytes(x.dtype());
  const Shape xs = contiguous_strides(x.shape());
  auto sizes =
      shape_ops::split_sizes(ctx.node, x.dim(axis), ctx.has_input(1) ? &ctx.in(1) : nullptr,
                             static_cast<int64_t>(ctx.outputs.size()));
  if (!sizes) return ctx.fail("{}", sizes.status().message());
  int64_t offset = 0;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    Tensor& y = ctx.out(i);
    if (y.defined())  // omitted outputs are skipped
      strided_copy(bytes_of(x) + offset * xs[axis] * elem, xs, y.raw(),
                   contiguous_strides(y.shape()), y.shape(), elem);
    offset += (*sizes)[i];
  }
  return Status::ok();
}

Status ref_Slice(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  auto plan = shape_ops::slice_plan(x.shape(), ctx.in(1), ctx.in(2),
                                    ctx.has_input(3) ? &ctx.in(3) : nullptr,
                                    ctx.has_input(4) ? &ctx.in(4) : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  Tensor& y = ctx.out(0);
  if (y.numel() == 0) return Status::ok();
  const Shape xs = contiguous_strides(x.shape());
  Shape src(x.rank());
  int64_t base = 0;
  for (int64_t d = 0; d < x.rank(); ++d) {
    src[d] = xs[d] * (*plan)[d].step;
    base += (*plan)[d].start * xs[d];
  }
  const int elem = elem_bytes(x.dtype());
  strided_copy(bytes_of(x) + base * elem, src, y.raw(), contiguous_strides(y.shape()), y.shape(),
               elem);
  return Status::ok();
}

// Broadcast dims read with stride 0.
Status ref_Expand(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t r = y.rank(), lead = r - x.rank();
  const Shape xs = contiguous_strides(x.shape());
  Shape src(r, 0);
  for (int64_t d = lead; d < r; ++d) src[d] = x.dim(d - lead) == 1 ? 0 : xs[d - lead];
  strided_copy(x.raw(), src, y.raw(), contiguous_strides(y.shape()), y.shape(),
               elem_bytes(x.dtype()));
  return Status::ok();
}

// The output, viewed as (rep0, d0, rep1, d1, ...), reads x with stride 0 over the repeats.
Status ref_Tile(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const std::vector<int64_t> reps = ctx.in(1).to_i64_vector();
  const Shape xs = contiguous_strides(x.shape());
  Shape shape, src;
  for (int64_t d = 0; d < x.rank(); ++d) {
    shape.insert(shape.end(), {reps[d], x.dim(d)});
    src.insert(src.end(), {0, xs[d]});
  }
  strided_copy(x.raw(), src, y.raw(), contiguous_strides(shape), shape, elem_bytes(x.dtype()));
  return Status::ok();
}

namespace {
// The constant of Pad as bytes of data's dtype (constant_value may come in another dtype from
// older opsets' float attribute).
std::vector<uint8_t> pad_constant(const KernelCtx& ctx, DType t) {
  std::vector<uint8_t> bytes(elem_bytes(t), 0);
  if (!ctx.has_input(2) || ctx.in(2).numel() == 0) return bytes;
  const Tensor& cv = ctx.in(2);
  if (cv.dtype() == t) {
    std::memcpy(bytes.data(), cv.raw(), bytes.size());
    return bytes;
  }
  const double v = cv.get_f64(0);
  visit_dtype(t, [&]<typename T>() {
    T tv = convert<T>(v);
    std::memcpy(bytes.data(), &tv, sizeof(T));
  });
  return bytes;
}

// Source index for output position o on one axis of a non-constant pad. The kept input range is
// [lo, lo + n), placed at output position `at`.
int64_t pad_source(const std::string& mode, int64_t o, int64_t at, int64_t lo, int64_t n) {
  int64_t rel = o - at;
  if (rel < 0 || rel >= n) {
    if (mode == "edge") {
      rel = std::clamp<int64_t>(rel, 0, n - 1);
    } else if (mode == "wrap") {
      rel = ((rel % n) + n) % n;
    } else if (n == 1) {  // reflect of a single element repeats it
      rel = 0;
    } else {
      const int64_t period = 2 * (n - 1);
      rel = ((rel % period) + period) % period;
      if (rel >= n) rel = period - rel;
    }
  }
  return lo + rel;
}
}  // namespace

Status ref_Pad(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  auto plan =
      shape_ops::pad_plan(ctx.node, x.shape(), ctx.in(1), ctx.has_input(3) ? &ctx.in(3) : nullptr);
  if (!plan) return ctx.fail("{}", plan.status().message());
  const int elem = elem_bytes(x.dtype());
  const int64_t r = x.rank();
  if (y.numel() == 0) return Status::ok();
  const Shape xs = contiguous_strides(x.shape()), ys = contiguous_strides(y.shape());
  // Per axis: kept input range [lo, lo + n) and where it lands in the output.
  std::vector<int64_t> lo(r), n(r), at(r);
  for (int64_t d = 0; d < r; ++d) {
    lo[d] = std::max<int64_t>(0, -plan->before[d]);
    n[d] = x.dim(d) - lo[d] - std::max<int64_t>(0, -plan->after[d]);
    at[d] = std::max<int64_t>(0, plan->before[d]);
  }
  if (plan->mode == "constant") {
    std::vector<uint8_t> value = pad_constant(ctx, x.dtype());
    shape_kernels::fill_pattern(y.raw(), y.numel(), value.data(), elem);
    int64_t src = 0, dst = 0;
    Shape box(r);
    for (int64_t d = 0; d < r; ++d) {
      box[d] = std::max<int64_t>(n[d], 0);
      src += lo[d] * xs[d];
      dst += at[d] * ys[d];
    }
    if (shape_numel(box) > 0)
      strided_copy(bytes_of(x) + src * elem, xs, bytes_of(y) + dst * elem, ys, box, elem);
    return Status::ok();
  }
  // reflect / edge / wrap: every output element maps to one input element, axis by axis.
  std::vector<std::vector<int64_t>> map(r);
  for (int64_t d = 0; d < r; ++d) {
    map[d].resize(y.dim(d));
    for (int64_t o = 0; o < y.dim(d); ++o)
      map[d][o] = pad_source(plan->mode, o, at[d], lo[d], n[d]) * xs[d];
  }
  if (r == 0) {
    std::memcpy(y.raw(), x.raw(), elem);
    return Status::ok();
  }
  const int64_t inner = y.dim(r - 1), rows = y.numel() / inner;
  shape_kernels::visit_elem(elem, [&]<typename U>() {
    const U* xp = x.data<U>();
    U* yp = y.data<U>();
    const std::vector<int64_t>& last = map[r - 1];
#pragma omp parallel for if (y.numel() > (1 << 16))
    for (int64_t row = 0; row < rows; ++row) {
      int64_t src = 0, rem = row;
      for (int64_t d = r - 2; d >= 0; --d) {
        src += map[d][rem % y.dim(d)];
        rem /= y.dim(d);
      }
      U* out = yp + row * inner;
      for (int64_t j = 0; j < inner; ++j) out[j] = xp[src + last[j]];
    }
  });
  return Status::ok();
}

// Crops (centred window, floor of the excess before) or zero-pads (floor of the padding before).
Status ref_CenterCropPad(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int elem = elem_bytes(x.dtype());
  const int64_t r = x.rank();
  if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
  const Shape xs = contiguous_strides(x.shape()), ys = contiguous_strides(y.shape());
  Shape box(r);
  int64_t src = 0, dst = 0;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t in = x.dim(d), out = y.dim(d);
    box[d] = std::min(in, out);
    if (in >= out)
      src += (in - out) / 2 * xs[d];
    else
      dst += (out - in) / 2 * ys[d];
  }
  if (shape_numel(box) > 0)
    strided_copy(bytes_of(x) + src * elem, xs, bytes_of(y) + dst * elem, ys, box, elem);
  return Status::ok();
}

// DCR: x viewed (N, b1, b2, C', H, W); CRD: (N, C', b1, b2, H, W); y is (N, C', H, b1, W, b2).
Status ref_DepthToSpace(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Co = C / (b * b);
  const bool crd = ctx.node.attr_string("mode", "DCR") == "CRD";
  const int64_t sc = crd ? b * b * H * W : H * W;
  const int64_t sb1 = crd ? b * H * W : b * Co * H * W;
  const int64_t sb2 = crd ? H * W : Co * H * W;
  const Shape shape{N, Co, H, b, W, b};
  const Shape src{C * H * W, sc, W, sb1, 1, sb2};
  strided_copy(x.raw(), src, y.raw(), contiguous_strides(shape), shape, elem_bytes(x.dtype()));
  return Status::ok();
}

// x viewed (N, C, H', b1, W', b2) -> y (N, b1, b2, C, H', W').
Status ref_SpaceToDepth(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t b = ctx.node.attr_int("blocksize", 1);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const Shape shape{N, b, b, C, H / b, W / b};
  const Shape src{C * H * W, W, 1, H * W, b * W, b};
  strided_copy(x.raw(), src, y.raw(), contiguous_strides(shape), shape, elem_bytes(x.dtype()));
  return Status::ok();
}

Status ref_ReverseSequence(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t ba = ctx.node.attr_int("batch_axis", 1), ta = 1 - ba;
  const int64_t B = x.dim(ba), T = x.dim(ta);
  const int64_t inner = x.numel() / std::max<int64_t>(B * T, 1);
  const size_t row = static_cast<size_t>(inner) * elem_bytes(x.dtype());
  const Tensor& lens = ctx.in(1);
  if (lens.numel() != B)
    return ctx.fail("sequence_lens has {} entries for batch size {}", lens.numel(), B);
  for (int64_t bi = 0; bi < B; ++bi) {
    const int64_t len = lens.get_i64(bi);
    if (len < 0 || len > T)
      return ctx.fail("sequence_lens[{}] = {} is outside [0, {}]", bi, len, T);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      auto off = [&](int64_t tt) { return ta == 0 ? tt * B + bi : bi * T + tt; };
      std::memcpy(bytes_of(y) + off(t) * row, bytes_of(x) + off(from) * row, row);
    }
  }
  return Status::ok();
}

// Keeps j >= i + k (upper) or j <= i + k (lower) of each trailing (N, M) matrix; zero elsewhere.
Status ref_Trilu(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t N = x.dim(-2), M = x.dim(-1);
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  int64_t k = ctx.has_input(1) && ctx.in(1).numel() > 0 ? ctx.in(1).get_i64(0) : 0;
  k = std::clamp<int64_t>(k, -(N + M), N + M);
  const size_t elem = elem_bytes(x.dtype());
  const int64_t mats = N * M == 0 ? 0 : x.numel() / (N * M);
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < N; ++i) {
      const uint8_t* src = bytes_of(x) + ((m * N + i) * M) * elem;
      uint8_t* dst = bytes_of(y) + ((m * N + i) * M) * elem;
      const int64_t a = upper ? std::clamp<int64_t>(i + k, 0, M) : 0;
      const int64_t b = upper ? M : std::clamp<int64_t>(i + k + 1, 0, M);
      std::memset(dst, 0, M * elem);
      if (b > a) std::memcpy(dst + a * elem, src + a * elem, (b - a) * elem);
    }
  return Status::ok();
}

}  // namespace condense
