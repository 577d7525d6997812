// Reference kernels: batch normalization with batch statistics and its backward, layer
// normalization backward (train family). Statistics and sums accumulate in double.
#include <cmath>
#include <vector>

#include "kernels/ref/broadcast.h"
#include "kernels/ref/train_common.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {
// X (N, C, ...) viewed as (N, C, S).
struct NCS {
  int64_t N = 0, C = 0, S = 1;
  explicit NCS(const Tensor& x) : N(x.dim(0)), C(x.dim(1)) {
    for (int64_t d = 2; d < x.rank(); ++d) S *= x.dim(d);
  }
};

Tensor* optional_out(KernelCtx& ctx, size_t i) {
  return ctx.outputs.size() > i && ctx.out(i).defined() ? &ctx.out(i) : nullptr;
}
}  // namespace

// Per channel c over the N * S elements: mean, var (biased), Y = (X - mean) / sqrt(var + eps)
// * scale + B; running stats r' = r * momentum + batch * (1 - momentum) (ONNX's definition,
// with the biased batch variance). A fused activation ("_activation", only Relu is fused here by
// the fuse_activation pass) applies to Y.
Status ref_BatchNormTraining(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const NCS d(x);
  const std::optional<FusedActivation> act = fused_activation(ctx.node);
  if (!act) return ctx.fail("unknown fused activation");
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const double momentum = ctx.node.attr_float("momentum", 0.9f);
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* px = x.data<T>();
    const T* scale = ctx.in(1).data<T>();
    const T* bias = ctx.in(2).data<T>();
    const T* rmean = ctx.in(3).data<T>();
    const T* rvar = ctx.in(4).data<T>();
    T* py = ctx.out(0).data<T>();
    T* out_rmean = ctx.out(1).data<T>();
    T* out_rvar = ctx.out(2).data<T>();
    T* bmean = ctx.out(3).data<T>();
    T* bvar = ctx.out(4).data<T>();
    const double count = static_cast<double>(d.N * d.S);
#pragma omp parallel for if (x.numel() > 16384)
    for (int64_t c = 0; c < d.C; ++c) {
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.S; ++i) s += px[(n * d.C + c) * d.S + i];
      const double m = count > 0 ? s / count : 0.0;
      double v = 0;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.S; ++i) {
          const double t = px[(n * d.C + c) * d.S + i] - m;
          v += t * t;
        }
      v = count > 0 ? v / count : 0.0;
      const double a = static_cast<double>(scale[c]) / std::sqrt(v + eps);
      const double b = static_cast<double>(bias[c]) - m * a;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.S; ++i) {
          const int64_t k = (n * d.C + c) * d.S + i;
          py[k] = apply_fused_activation(*act, static_cast<T>(px[k] * a + b));
        }
      out_rmean[c] = static_cast<T>(rmean[c] * momentum + m * (1 - momentum));
      out_rvar[c] = static_cast<T>(rvar[c] * momentum + v * (1 - momentum));
      bmean[c] = static_cast<T>(m);
      bvar[c] = static_cast<T>(v);
    }
    return Status::ok();
  });
}

// xhat = (X - mean) * inv, inv = 1 / sqrt(var + eps); dB = sum dY; dscale = sum dY * xhat;
// training: dX = scale * inv / M * (M * dY - dB - xhat * dscale) (M = N * S, mean and var are
// X's batch statistics); frozen statistics: dX = dY * scale * inv.
Status ref_BatchNormGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const NCS d(x);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const bool training = ctx.node.attr_int("training", 1) != 0;
  Tensor* dscale = optional_out(ctx, 1);
  Tensor* dbias = optional_out(ctx, 2);
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    const T* scale = ctx.in(2).data<T>();
    const T* mean = ctx.in(3).data<T>();
    const T* var = ctx.in(4).data<T>();
    T* pdx = ctx.out(0).data<T>();
    const double count = static_cast<double>(d.N * d.S);
#pragma omp parallel for if (x.numel() > 16384)
    for (int64_t c = 0; c < d.C; ++c) {
      const double m = mean[c], inv = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
      double sdy = 0, sdyx = 0;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.S; ++i) {
          const int64_t k = (n * d.C + c) * d.S + i;
          sdy += pdy[k];
          sdyx += pdy[k] * (px[k] - m) * inv;
        }
      const double a = scale[c] * inv;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.S; ++i) {
          const int64_t k = (n * d.C + c) * d.S + i;
          const double xhat = (px[k] - m) * inv;
          pdx[k] = static_cast<T>(training && count > 0
                                      ? a * (pdy[k] - sdy / count - xhat * sdyx / count)
                                      : a * pdy[k]);
        }
      if (dscale) dscale->data<T>()[c] = static_cast<T>(sdyx);
      if (dbias) dbias->data<T>()[c] = static_cast<T>(sdy);
    }
    return Status::ok();
  });
}

// Per row r (the leading dims) over the normalized block of n elements: g = dY * scale,
// xhat = (X - mean) * inv; dX = inv * (g - mean(g) - xhat * mean(g * xhat)).
// dscale = sum_r dY * xhat, dB = sum_r dY (normalized shape).
Status ref_LayerNormGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& x = ctx.in(1);
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis < 0) axis += x.rank();
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const int64_t n = shape_numel(norm), rows = n ? x.numel() / n : 0;
  std::vector<double> scale(static_cast<size_t>(n));
  for_each_broadcast<1>(
      norm, {&ctx.in(2).shape()},
      [&](int64_t i, const std::array<int64_t, 1>& o) { scale[i] = ctx.in(2).get_f64(o[0]); });
  Tensor* dscale = optional_out(ctx, 1);
  Tensor* dbias = optional_out(ctx, 2);
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    const T* mean = ctx.in(3).data<T>();
    const T* inv = ctx.in(4).data<T>();
    T* pdx = ctx.out(0).data<T>();
#pragma omp parallel for if (x.numel() > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const T* dyr = pdy + r * n;
      const T* xr = px + r * n;
      const double m = mean[r], is = inv[r];
      double sg = 0, sgx = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double g = dyr[i] * scale[i];
        sg += g;
        sgx += g * (xr[i] - m) * is;
      }
      const double mg = sg / static_cast<double>(n), mgx = sgx / static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i) {
        const double xhat = (xr[i] - m) * is;
        pdx[r * n + i] = static_cast<T>(is * (dyr[i] * scale[i] - mg - xhat * mgx));
      }
    }
    if (dscale || dbias) {
      std::vector<double> ds(static_cast<size_t>(n), 0.0), db(static_cast<size_t>(n), 0.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) {
          const double g = pdy[r * n + i];
          ds[i] += g * (px[r * n + i] - static_cast<double>(mean[r])) * static_cast<double>(inv[r]);
          db[i] += g;
        }
      for (int64_t i = 0; i < n; ++i) {
        if (dscale) dscale->data<T>()[i] = static_cast<T>(ds[i]);
        if (dbias) dbias->data<T>()[i] = static_cast<T>(db[i]);
      }
    }
    return Status::ok();
  });
}

}  // namespace condense
