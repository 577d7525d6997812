// Reference kernels for LayerNormalization, GroupNormalization, RMSNormalization,
// MeanVarianceNormalization and LpNormalization. Statistics accumulate in double; rows (the
// normalized blocks, contiguous in memory) run in parallel.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"

namespace condense {

namespace {

// `t` (broadcastable to `shape`) expanded to numel(shape) doubles.
std::vector<double> expand_to(const Tensor& t, const Shape& shape) {
  std::vector<double> out(shape_numel(shape));
  for_each_broadcast<1>(shape, {&t.shape()}, [&](int64_t i, const std::array<int64_t, 1>& o) {
    out[i] = t.get_f64(o[0]);
  });
  return out;
}

// Writes doubles into a float tensor of any float dtype.
Status store(KernelCtx& ctx, Tensor& t, const std::vector<double>& v) {
  return visit_dtype(t.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("statistics output must be a float type");
    } else {
      T* p = t.data<T>();
      for (size_t i = 0; i < v.size(); ++i) p[i] = convert<T>(v[i]);
      return Status::ok();
    }
  });
}

Result<int64_t> axis_attr(const KernelCtx& ctx, int64_t rank, int64_t fallback) {
  int64_t axis = ctx.node.attr_int("axis", fallback);
  if (rank == 0 || axis < -rank || axis >= rank)
    return ctx.fail("axis {} is out of range for rank {}", axis, rank);
  return axis < 0 ? axis + rank : axis;
}

}  // namespace

// Y = (X - mean) / sqrt(var + epsilon) * Scale + B over dims [axis, rank); Mean and InvStdDev
// keep the leading dims with ones after.
Status ref_LayerNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  CONDENSE_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, x.rank(), -1));
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.dim(d);
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const int64_t n = shape_numel(norm);
  const std::vector<double> scale = expand_to(ctx.in(1), norm);
  const std::vector<double> bias =
      ctx.has_input(2) ? expand_to(ctx.in(2), norm) : std::vector<double>(n, 0.0);
  std::vector<double> mean(rows), inv(rows);
  Status st = visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("X must be a float type");
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (rows * n > 16384)
      for (int64_t r = 0; r < rows; ++r) {
        const T* xr = px + r * n;
        T* yr = py + r * n;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += convert<double>(xr[i]);
        const double m = n ? s / static_cast<double>(n) : 0.0;
        double v = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double dlt = convert<double>(xr[i]) - m;
          v += dlt * dlt;
        }
        const double is = 1.0 / std::sqrt((n ? v / static_cast<double>(n) : 0.0) + eps);
        for (int64_t i = 0; i < n; ++i)
          yr[i] = convert<T>((convert<double>(xr[i]) - m) * is * scale[i] + bias[i]);
        mean[r] = m;
        inv[r] = is;
      }
      return Status::ok();
    }
  });
  CONDENSE_TRY(st);
  if (ctx.outputs.size() > 1 && ctx.out(1).defined()) CONDENSE_TRY(store(ctx, ctx.out(1), mean));
  if (ctx.outputs.size() > 2 && ctx.out(2).defined()) CONDENSE_TRY(store(ctx, ctx.out(2), inv));
  return Status::ok();
}

// X (N, C, ...): statistics per (n, group) over C/G channels and all spatial positions; scale
// and bias per channel (or per group with `_per_group_affine`, imported from opset 18).
Status ref_GroupNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) return ctx.fail("input must have rank >= 2");
  const int64_t g = ctx.node.attr_int("num_groups", 0);
  const int64_t N = x.dim(0), C = x.dim(1);
  if (g <= 0 || C % g) return ctx.fail("num_groups {} does not divide channels {}", g, C);
  const bool per_group = ctx.node.attr_int("_per_group_affine", 0) != 0;
  const int64_t want = per_group ? g : C;
  if (ctx.in(1).numel() != want || ctx.in(2).numel() != want)
    return ctx.fail("scale and bias must have {} elements", want);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  int64_t spatial = 1;
  for (int64_t d = 2; d < x.rank(); ++d) spatial *= x.dim(d);
  const int64_t cpg = C / g, block = cpg * spatial;
  std::vector<double> scale(C), bias(C);
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = ctx.in(1).get_f64(per_group ? c / cpg : c);
    bias[c] = ctx.in(2).get_f64(per_group ? c / cpg : c);
  }
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("X must be a float type");
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (N * C * spatial > 16384)
      for (int64_t ng = 0; ng < N * g; ++ng) {
        const T* xb = px + ng * block;
        T* yb = py + ng * block;
        double s = 0;
        for (int64_t i = 0; i < block; ++i) s += convert<double>(xb[i]);
        const double m = block ? s / static_cast<double>(block) : 0.0;
        double v = 0;
        for (int64_t i = 0; i < block; ++i)
          v += (convert<double>(xb[i]) - m) * (convert<double>(xb[i]) - m);
        const double is = 1.0 / std::sqrt((block ? v / static_cast<double>(block) : 0.0) + eps);
        const int64_t c0 = (ng % g) * cpg;
        for (int64_t i = 0; i < block; ++i) {
          const int64_t c = c0 + i / spatial;
          yb[i] = convert<T>((convert<double>(xb[i]) - m) * is * scale[c] + bias[c]);
        }
      }
      return Status::ok();
    }
  });
}

// Y = X / sqrt(mean(X^2) + epsilon) * scale over dims [axis, rank).
Status ref_RMSNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  CONDENSE_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, x.rank(), -1));
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.dim(d);
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const int64_t n = shape_numel(norm);
  const std::vector<double> scale = expand_to(ctx.in(1), norm);
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("X must be a float type");
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (rows * n > 16384)
      for (int64_t r = 0; r < rows; ++r) {
        const T* xr = px + r * n;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += convert<double>(xr[i]) * convert<double>(xr[i]);
        const double is = 1.0 / std::sqrt((n ? s / static_cast<double>(n) : 0.0) + eps);
        for (int64_t i = 0; i < n; ++i)
          py[r * n + i] = convert<T>(convert<double>(xr[i]) * is * scale[i]);
      }
      return Status::ok();
    }
  });
}

// Y = (X - mean) / (sqrt(var) + 1e-9) over `axes` (default [0, 2, 3]), as the ONNX function
// body defines it.
Status ref_MeanVarianceNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t rank = x.rank();
  Shape kept = x.shape();
  int64_t count = 1;
  std::vector<bool> seen(rank, false);
  for (int64_t a : ctx.node.attr_ints("axes", {0, 2, 3})) {
    if (a < -rank || a >= rank) return ctx.fail("axis {} is out of range for rank {}", a, rank);
    if (a < 0) a += rank;
    if (seen[a]) continue;
    seen[a] = true;
    count *= kept[a];
    kept[a] = 1;
  }
  const int64_t n_stat = shape_numel(kept);
  std::vector<double> sum(n_stat, 0.0), sq(n_stat, 0.0);
  std::vector<double> xv(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) xv[i] = x.get_f64(i);
  for_each_broadcast<1>(x.shape(), {&kept}, [&](int64_t i, const std::array<int64_t, 1>& o) {
    sum[o[0]] += xv[i];
    sq[o[0]] += xv[i] * xv[i];
  });
  for (int64_t j = 0; j < n_stat; ++j) {
    const double m = sum[j] / static_cast<double>(count);
    const double var = std::max(sq[j] / static_cast<double>(count) - m * m, 0.0);
    sum[j] = m;
    sq[j] = std::sqrt(var) + 1e-9;
  }
  std::vector<double> y(x.numel());
  for_each_broadcast<1>(x.shape(), {&kept}, [&](int64_t i, const std::array<int64_t, 1>& o) {
    y[i] = (xv[i] - sum[o[0]]) / sq[o[0]];
  });
  return store(ctx, ctx.out(0), y);
}

// Y = X / ||X||_p along `axis` (p = 1 or 2).
Status ref_LpNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  CONDENSE_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, x.rank(), -1));
  const int64_t p = ctx.node.attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.fail("p must be 1 or 2, got {}", p);
  int64_t outer = 1, inner = 1;
  const int64_t n = x.dim(axis);
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("X must be a float type");
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          const int64_t base = o * n * inner + j;
          double s = 0;
          for (int64_t r = 0; r < n; ++r) {
            const double v = convert<double>(px[base + r * inner]);
            s += p == 1 ? std::abs(v) : v * v;
          }
          // A zero vector stays zero (ONNX reference: x / norm with norm 0 taken as 0).
          const double norm = p == 1 ? s : std::sqrt(s);
          for (int64_t r = 0; r < n; ++r)
            py[base + r * inner] =
                convert<T>(norm == 0 ? 0.0 : convert<double>(px[base + r * inner]) / norm);
        }
      return Status::ok();
    }
  });
}

}  // namespace condense
