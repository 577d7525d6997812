// Shape family reference kernels, part 3: shape queries, generators and Col2Im.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/shape_copy.h"

namespace condense {

using shape_kernels::elem_bytes;

Status ref_Shape(KernelCtx& ctx) {
  const Shape& s = ctx.in(0).shape();
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = ctx.node.attr_int("start", 0);
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  Tensor& y = ctx.out(0);
  for (int64_t i = 0; i < y.numel(); ++i) y.data<int64_t>()[i] = s[start + i];
  return Status::ok();
}

Status ref_Size(KernelCtx& ctx) {
  ctx.out(0).data<int64_t>()[0] = ctx.in(0).numel();
  return Status::ok();
}

Status ref_ConstantOfShape(KernelCtx& ctx) {
  Tensor& y = ctx.out(0);
  const ir::Attribute* v = ctx.node.attr("value");
  if (!v) {
    if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
    return Status::ok();
  }
  shape_kernels::fill_pattern(y.raw(), y.numel(), v->t.raw(), elem_bytes(y.dtype()));
  return Status::ok();
}

// y[i] = start + i * delta, computed in double for floats and int64 for integers.
Status ref_Range(KernelCtx& ctx) {
  Tensor& y = ctx.out(0);
  const Tensor& start = ctx.in(0);
  const Tensor& delta = ctx.in(2);
  visit_dtype(y.dtype(), [&]<typename T>() {
    T* p = y.data<T>();
    if constexpr (std::is_integral_v<T>) {
      const int64_t s = start.get_i64(0), d = delta.get_i64(0);
      for (int64_t i = 0; i < y.numel(); ++i) p[i] = static_cast<T>(s + i * d);
    } else {
      const double s = start.get_f64(0), d = delta.get_f64(0);
      for (int64_t i = 0; i < y.numel(); ++i) p[i] = convert<T>(s + static_cast<double>(i) * d);
    }
  });
  return Status::ok();
}

Status ref_EyeLike(KernelCtx& ctx) {
  Tensor& y = ctx.out(0);
  if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
  const int64_t rows = y.dim(0), cols = y.dim(1);
  const int64_t k = std::clamp<int64_t>(ctx.node.attr_int("k", 0), -rows - cols, rows + cols);
  visit_dtype(y.dtype(), [&]<typename T>() {
    T* p = y.data<T>();
    const T one = convert<T>(1.0f);
    for (int64_t i = std::max<int64_t>(0, -k); i < rows; ++i) {
      const int64_t j = i + k;
      if (j >= cols) break;
      p[i * cols + j] = one;
    }
  });
  return Status::ok();
}

// x: (N, C*B, L) with B = prod(block), L = prod(blocks per axis); y: (N, C, *image).
// y[n, c, p] += x[n, c*B + kk, l] where p = l_pos * stride - pad_begin + k * dilation.
Status ref_Col2Im(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const std::vector<int64_t> image = ctx.in(1).to_i64_vector();
  const std::vector<int64_t> block = ctx.in(2).to_i64_vector();
  const size_t nd = image.size();
  const std::vector<int64_t> dil = ctx.node.attr_ints("dilations", std::vector<int64_t>(nd, 1));
  const std::vector<int64_t> str = ctx.node.attr_ints("strides", std::vector<int64_t>(nd, 1));
  const std::vector<int64_t> pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
  std::vector<int64_t> grid(nd);
  int64_t B = 1, L = 1, P = 1;
  for (size_t i = 0; i < nd; ++i) {
    grid[i] = (image[i] + pads[i] + pads[i + nd] - dil[i] * (block[i] - 1) - 1) / str[i] + 1;
    B *= block[i];
    L *= grid[i];
    P *= image[i];
  }
  const int64_t N = x.dim(0), C = x.dim(1) / B;
  std::vector<double> acc(static_cast<size_t>(N * C * P), 0.0);
  std::vector<int64_t> kk(nd), ll(nd);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t rem = b, i = static_cast<int64_t>(nd) - 1; i >= 0; --i) {
        kk[i] = rem % block[i];
        rem /= block[i];
      }
      for (int64_t l = 0; l < L; ++l) {
        int64_t p = 0;
        bool inside = true;
        for (int64_t rem = l, i = static_cast<int64_t>(nd) - 1; i >= 0; --i) {
          ll[i] = rem % grid[i];
          rem /= grid[i];
        }
        for (size_t i = 0; i < nd && inside; ++i) {
          const int64_t q = ll[i] * str[i] - pads[i] + kk[i] * dil[i];
          inside = q >= 0 && q < image[i];
          p = p * image[i] + q;
        }
        if (inside) acc[nc * P + p] += x.get_f64((nc * B + b) * L + l);
      }
    }
  visit_dtype(y.dtype(), [&]<typename T>() {
    T* p = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i) p[i] = convert<T>(acc[i]);
  });
  return Status::ok();
}

}  // namespace condense
