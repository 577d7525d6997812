// Reference kernels: convolution and pooling backward (train family). Window tables map each
// output position and kernel tap to an input offset, as the forward reference kernels do;
// sums accumulate in double.
#include <limits>
#include <vector>

#include "kernels/ref/nn_window.h"
#include "kernels/ref/train_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
Result<WindowGeom> conv_geom(const KernelCtx& ctx, const Shape& x, const Shape& w) {
  auto g = window_geometry(ctx.node, x, std::span<const int64_t>(w).subspan(2), false);
  if (!g) return ctx.fail("{}", g.status().message());
  return g;
}

Result<WindowGeom> pool_geom(const KernelCtx& ctx, const Shape& x) {
  auto g = window_geometry(ctx.node, x, ctx.node.attr_ints("kernel_shape"),
                           ctx.node.attr_int("ceil_mode", 0) != 0);
  if (!g) return ctx.fail("{}", g.status().message());
  return g;
}
}  // namespace

namespace {
// dX[n, c, i] = sum over m in c's group, taps k and outputs o with o * s - pb + k * d = i of
//   dY[n, m, o] * W[m, c % Cg, k].   dY: (N, M, out...), W: (M, Cg, k...), dX: (N, C, in...).
Status conv_grad_data(const KernelCtx& ctx, const Tensor& dy, const Tensor& w, Tensor& dx) {
  CONDENSE_ASSIGN_OR_RETURN(WindowGeom g, conv_geom(ctx, dx.shape(), w.shape()));
  const int64_t group = ctx.node.attr_int("group", 1);
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const int64_t N = dx.dim(0), C = dx.dim(1), M = dy.dim(1), Cg = C / group, Mg = M / group;
    const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
    const std::vector<int64_t> table = window_table(g, g.out, g.in);
    const T* pdy = dy.data<T>();
    const T* pw = w.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (N * C * Mg * Ksz * Osz > 50000)
    for (int64_t nc = 0; nc < N * C; ++nc) {
      const int64_t n = nc / C, ci = nc % C, gi = ci / Cg, c = ci % Cg;
      std::vector<double> acc(static_cast<size_t>(Isz), 0.0);
      for (int64_t m = gi * Mg; m < (gi + 1) * Mg; ++m) {
        const T* dym = pdy + (n * M + m) * Osz;
        const T* wm = pw + (m * Cg + c) * Ksz;
        for (int64_t kk = 0; kk < Ksz; ++kk) {
          const double wv = wm[kk];
          const int64_t* t = table.data() + kk * Osz;
          for (int64_t o = 0; o < Osz; ++o)
            if (t[o] >= 0) acc[t[o]] += wv * static_cast<double>(dym[o]);
        }
      }
      for (int64_t i = 0; i < Isz; ++i) pdx[nc * Isz + i] = static_cast<T>(acc[i]);
    }
    return Status::ok();
  });
}
}  // namespace

Status ref_ConvGradData(KernelCtx& ctx) {
  return conv_grad_data(ctx, ctx.in(0), ctx.in(1), ctx.out(0));
}

// dW[m, c, k] = sum_{n, o} dY[n, m, o] * X[n, gi * Cg + c, o * s - pb + k * d];
// dB[m] = sum_{n, o} dY[n, m, o]; dX as ConvGradData.
Status ref_ConvGradWeight(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& w = ctx.in(2);
  CONDENSE_ASSIGN_OR_RETURN(WindowGeom g, conv_geom(ctx, x.shape(), w.shape()));
  const int64_t group = ctx.node.attr_int("group", 1);
  Tensor* db = ctx.outputs.size() > 1 && ctx.out(1).defined() ? &ctx.out(1) : nullptr;
  if (ctx.outputs.size() > 2 && ctx.out(2).defined())
    CONDENSE_TRY(conv_grad_data(ctx, dy, w, ctx.out(2)));
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const int64_t N = x.dim(0), C = x.dim(1), M = dy.dim(1), Cg = C / group, Mg = M / group;
    const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
    const std::vector<int64_t> table = window_table(g, g.out, g.in);
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    T* pdw = ctx.out(0).data<T>();
#pragma omp parallel for if (M * Cg * Ksz * N * Osz > 50000)
    for (int64_t mc = 0; mc < M * Cg; ++mc) {
      const int64_t m = mc / Cg, c = mc % Cg, ci = (m / Mg) * Cg + c;
      for (int64_t kk = 0; kk < Ksz; ++kk) {
        const int64_t* t = table.data() + kk * Osz;
        double acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* dym = pdy + (n * M + m) * Osz;
          const T* xc = px + (n * C + ci) * Isz;
          for (int64_t o = 0; o < Osz; ++o)
            if (t[o] >= 0) acc += static_cast<double>(dym[o]) * static_cast<double>(xc[t[o]]);
        }
        pdw[mc * Ksz + kk] = static_cast<T>(acc);
      }
    }
    if (db) {
      T* pdb = db->data<T>();
      for (int64_t m = 0; m < M; ++m) {
        double acc = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t o = 0; o < Osz; ++o) acc += static_cast<double>(pdy[(n * M + m) * Osz + o]);
        pdb[m] = static_cast<T>(acc);
      }
    }
    return Status::ok();
  });
}

// dX = dY routed to the first maximum of each window (the element the forward pass picked).
Status ref_MaxPoolGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& x = ctx.in(1);
  Tensor& dx = ctx.out(0);
  CONDENSE_ASSIGN_OR_RETURN(WindowGeom g, pool_geom(ctx, x.shape()));
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
    const std::vector<int64_t> table = window_table(g, g.out, g.in);
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (planes * Osz * Ksz > 50000)
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xp = px + pl * Isz;
      T* dxp = pdx + pl * Isz;
      std::fill(dxp, dxp + Isz, T(0));
      for (int64_t o = 0; o < Osz; ++o) {
        int64_t arg = -1;
        for (int64_t kk = 0; kk < Ksz; ++kk) {
          const int64_t off = table[kk * Osz + o];
          if (off >= 0 && (arg < 0 || xp[off] > xp[arg])) arg = off;
        }
        if (arg >= 0) dxp[arg] += pdy[pl * Osz + o];
      }
    }
    return Status::ok();
  });
}

// dX[i] = sum over windows containing i of dY[o] / count(o), count as the forward pass counts
// (with or without the padding, count_include_pad).
Status ref_AveragePoolGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  CONDENSE_ASSIGN_OR_RETURN(WindowGeom g, pool_geom(ctx, dx.shape()));
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  return visit_train_float(ctx, dy.dtype(), [&]<typename T>() -> Status {
    const int64_t planes = dx.dim(0) * dx.dim(1);
    const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
    const std::vector<int64_t> table = window_table(g, g.out, g.in);
    std::vector<double> inv_count(static_cast<size_t>(Osz));
    for (int64_t o = 0; o < Osz; ++o) {
      int64_t count = 0;
      for (int64_t kk = 0; kk < Ksz; ++kk) {
        const int64_t off = table[kk * Osz + o];
        count += off >= 0 || (off == kWindowPad && include_pad);
      }
      inv_count[o] = count ? 1.0 / static_cast<double>(count) : 0.0;
    }
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
#pragma omp parallel for if (planes * Osz * Ksz > 50000)
    for (int64_t pl = 0; pl < planes; ++pl) {
      std::vector<double> acc(static_cast<size_t>(Isz), 0.0);
      for (int64_t kk = 0; kk < Ksz; ++kk)
        for (int64_t o = 0; o < Osz; ++o) {
          const int64_t off = table[kk * Osz + o];
          if (off >= 0) acc[off] += static_cast<double>(pdy[pl * Osz + o]) * inv_count[o];
        }
      for (int64_t i = 0; i < Isz; ++i) pdx[pl * Isz + i] = static_cast<T>(acc[i]);
    }
    return Status::ok();
  });
}

}  // namespace condense
