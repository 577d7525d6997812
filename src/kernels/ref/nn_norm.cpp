// Reference kernels: BatchNormalization (inference and training_mode), InstanceNormalization, LRN.
// x: (N, C, D...); statistics per channel, computed in double.
#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel.h"

namespace condense {

namespace {
std::vector<double> as_f64(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_f64(i);
  return v;
}

// y[n, c, s] = x[n, c, s] * mul[c] + add[c] (per (n, c) plane of `sp` elements).
Status channel_affine(KernelCtx& ctx, const std::vector<double>& mul,
                      const std::vector<double>& add) {
  const Tensor& x = ctx.in(0);
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t sp = N * C != 0 ? x.numel() / (N * C) : 0;
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
    } else {
      using A = compute_t<T>;
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (x.numel() > 100000)
      for (int64_t nc = 0; nc < N * C; ++nc) {
        const A m = static_cast<A>(mul[nc % C]), a = static_cast<A>(add[nc % C]);
        const T* xp = px + nc * sp;
        T* yp = py + nc * sp;
        for (int64_t i = 0; i < sp; ++i) yp[i] = convert<T>(convert<A>(xp[i]) * m + a);
      }
      return Status::ok();
    }
  });
}
}  // namespace

namespace {
// Per-channel mean and biased variance of x (N, C, D...).
void batch_statistics(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t sp = N * C != 0 ? x.numel() / (N * C) : 0;
  const double count = static_cast<double>(N * sp);
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < sp; ++i) mean[c] += x.get_f64((n * C + c) * sp + i);
    mean[c] = count > 0 ? mean[c] / count : 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < sp; ++i)
        var[c] += std::pow(x.get_f64((n * C + c) * sp + i) - mean[c], 2);
    var[c] = count > 0 ? var[c] / count : 0.0;
  }
}

Status store_f64(KernelCtx& ctx, Tensor& t, const std::vector<double>& v) {
  return visit_dtype(t.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("unsupported dtype {}", dtype_name(t.dtype()));
    } else {
      for (size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = convert<T>(v[i]);
      return Status::ok();
    }
  });
}
}  // namespace

// y = (x - mean) / sqrt(var + epsilon) * scale + B, folded into one multiply-add per channel.
// training_mode = 1: mean and var are the batch's (biased variance), and the optional outputs
// running_mean / running_var are input * momentum + batch * (1 - momentum).
Status ref_BatchNormalization(KernelCtx& ctx) {
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const bool training = ctx.node.attr_int("training_mode", 0) != 0;
  const std::vector<double> scale = as_f64(ctx.in(1)), bias = as_f64(ctx.in(2));
  std::vector<double> mean = as_f64(ctx.in(3)), var = as_f64(ctx.in(4));
  if (training) {
    std::vector<double> bmean, bvar;
    batch_statistics(ctx.in(0), bmean, bvar);
    const double m = ctx.node.attr_float("momentum", 0.9f);
    for (size_t i = 1; i < 3 && i < ctx.outputs.size(); ++i) {
      if (!ctx.out(i).defined()) continue;
      const std::vector<double>& in = i == 1 ? mean : var;
      const std::vector<double>& batch = i == 1 ? bmean : bvar;
      std::vector<double> r(in.size());
      for (size_t c = 0; c < r.size(); ++c) r[c] = in[c] * m + batch[c] * (1 - m);
      CONDENSE_TRY(store_f64(ctx, ctx.out(i), r));
    }
    mean = std::move(bmean);
    var = std::move(bvar);
  }
  std::vector<double> mul(scale.size()), add(scale.size());
  for (size_t c = 0; c < scale.size(); ++c) {
    mul[c] = scale[c] / std::sqrt(var[c] + eps);
    add[c] = bias[c] - mean[c] * mul[c];
  }
  return channel_affine(ctx, mul, add);
}

// Per (n, c): y = scale[c] * (x - mean) / sqrt(var + epsilon) + B[c], mean/var over spatial dims.
Status ref_InstanceNormalization(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const std::vector<double> scale = as_f64(ctx.in(1)), bias = as_f64(ctx.in(2));
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t sp = N * C != 0 ? x.numel() / (N * C) : 0;
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (x.numel() > 100000)
      for (int64_t nc = 0; nc < N * C; ++nc) {
        const T* xp = px + nc * sp;
        T* yp = py + nc * sp;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < sp; ++i) mean += convert<double>(xp[i]);
        mean /= static_cast<double>(sp);
        for (int64_t i = 0; i < sp; ++i) {
          const double d = convert<double>(xp[i]) - mean;
          var += d * d;
        }
        var /= static_cast<double>(sp);
        const double m = scale[nc % C] / std::sqrt(var + eps);
        for (int64_t i = 0; i < sp; ++i)
          yp[i] = convert<T>((convert<double>(xp[i]) - mean) * m + bias[nc % C]);
      }
      return Status::ok();
    }
  });
}

// y = x / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ^ beta, with the channel window
// [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to [0, C).
Status ref_LRN(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t size = ctx.node.attr_int("size", 1);
  const double alpha = ctx.node.attr_float("alpha", 1e-4f),
               beta = ctx.node.attr_float("beta", 0.75f), bias = ctx.node.attr_float("bias", 1.0f);
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t sp = N * C != 0 ? x.numel() / (N * C) : 0;
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (x.numel() > 100000)
      for (int64_t nc = 0; nc < N * C; ++nc) {
        const int64_t n = nc / C, c = nc % C;
        const int64_t c0 = std::max<int64_t>(0, c - lo), c1 = std::min<int64_t>(C - 1, c + hi);
        for (int64_t i = 0; i < sp; ++i) {
          double sq = 0;
          for (int64_t cc = c0; cc <= c1; ++cc) {
            const double v = convert<double>(px[(n * C + cc) * sp + i]);
            sq += v * v;
          }
          const double v = convert<double>(px[nc * sp + i]);
          py[nc * sp + i] =
              convert<T>(v / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
        }
      }
      return Status::ok();
    }
  });
}

}  // namespace condense
