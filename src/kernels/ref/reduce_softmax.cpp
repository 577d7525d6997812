// Reference kernels for Softmax, LogSoftmax and Hardmax (opset 13 semantics: one axis).
// The tensor is viewed as [outer, n, inner] around the axis. Softmax subtracts the row maximum
// before exp so large inputs do not overflow. The last-axis f32 case (transformers) is a
// contiguous-row loop parallel over rows.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/kernel.h"

namespace condense {

namespace {

enum class Sm { Softmax, LogSoftmax, Hardmax };

// One row of n elements at stride `step`; C is the compute type.
template <typename T, typename C>
void softmax_row(Sm kind, const T* x, T* y, int64_t n, int64_t step) {
  C m = convert<C>(x[0]);
  int64_t arg = 0;
  for (int64_t r = 1; r < n; ++r) {
    const C v = convert<C>(x[r * step]);
    if (v > m || (std::isnan(v) && !std::isnan(m))) {
      m = v;
      arg = r;
    }
  }
  if (kind == Sm::Hardmax) {
    for (int64_t r = 0; r < n; ++r) y[r * step] = convert<T>(C(r == arg ? 1 : 0));
    return;
  }
  C sum = 0;
  for (int64_t r = 0; r < n; ++r) sum += std::exp(convert<C>(x[r * step]) - m);
  if (kind == Sm::Softmax) {
    const C inv = C(1) / sum;
    for (int64_t r = 0; r < n; ++r)
      y[r * step] = convert<T>(std::exp(convert<C>(x[r * step]) - m) * inv);
  } else {
    const C lse = m + std::log(sum);
    for (int64_t r = 0; r < n; ++r) y[r * step] = convert<T>(convert<C>(x[r * step]) - lse);
  }
}

// Contiguous f32 rows: keeps exp(x - m) in y between the two passes.
void softmax_rows_f32(Sm kind, const float* x, float* y, int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n > 16384)
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * n;
    float* yr = y + i * n;
    float m = xr[0];
    for (int64_t r = 1; r < n; ++r) m = xr[r] > m ? xr[r] : m;
    float sum = 0;
    if (kind == Sm::Softmax) {
      for (int64_t r = 0; r < n; ++r) {
        yr[r] = std::exp(xr[r] - m);
        sum += yr[r];
      }
      const float inv = 1.0f / sum;
      for (int64_t r = 0; r < n; ++r) yr[r] *= inv;
    } else {
      for (int64_t r = 0; r < n; ++r) sum += std::exp(xr[r] - m);
      const float lse = m + std::log(sum);
      for (int64_t r = 0; r < n; ++r) yr[r] = xr[r] - lse;
    }
  }
}

Status ref_softmax(KernelCtx& ctx, Sm kind) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (rank == 0) {  // a scalar is a row of one element
    axis = 0;
  } else {
    if (axis < -rank || axis >= rank)
      return ctx.fail("axis {} is out of range for rank {}", axis, rank);
    if (axis < 0) axis += rank;
  }
  int64_t outer = 1, inner = 1;
  const int64_t n = rank == 0 ? 1 : x.dim(axis);
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(d);
  if (n == 0 || x.numel() == 0) return Status::ok();
  if (x.dtype() == DType::F32 && inner == 1 && kind != Sm::Hardmax) {
    softmax_rows_f32(kind, x.data<float>(), y.data<float>(), outer, n);
    return Status::ok();
  }
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("{} takes floating-point input", op_name(ctx.node.op));
    } else {
      using C = compute_t<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
#pragma omp parallel for if (outer * inner * n > 16384)
      for (int64_t oi = 0; oi < outer * inner; ++oi) {
        const int64_t o = oi / inner, j = oi % inner;
        softmax_row<T, C>(kind, px + o * n * inner + j, py + o * n * inner + j, n, inner);
      }
      return Status::ok();
    }
  });
}

}  // namespace

Status ref_Softmax(KernelCtx& ctx) {
  return ref_softmax(ctx, Sm::Softmax);
}
Status ref_LogSoftmax(KernelCtx& ctx) {
  return ref_softmax(ctx, Sm::LogSoftmax);
}
Status ref_Hardmax(KernelCtx& ctx) {
  return ref_softmax(ctx, Sm::Hardmax);
}

}  // namespace condense
