// Reference kernels: Conv and ConvTranspose over any number of spatial dims (direct loops over
// a precomputed window table; accumulation in float, double for f64).
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/nn_window.h"
#include "ops/nn_activation.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
template <typename T>
void conv_typed(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y, const WindowGeom& g,
                int64_t group, const FusedActivation& act, bool transpose) {
  using A = compute_t<T>;
  const int64_t N = x.dim(0), C = x.dim(1), M = y.dim(1);
  const int64_t Cg = C / group, Mg = M / group;
  const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
  const std::vector<int64_t> table =
      transpose ? window_table(g, g.in, g.out) : window_table(g, g.out, g.in);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pb = b ? b->data<T>() : nullptr;
  T* py = y.data<T>();
#pragma omp parallel for if (N * M * Osz * Cg * Ksz > 50000)
  for (int64_t nm = 0; nm < N * M; ++nm) {
    const int64_t n = nm / M, m = nm % M, gi = m / Mg;
    std::vector<A> acc(static_cast<size_t>(Osz), pb ? convert<A>(pb[m]) : A(0));
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t ci = gi * Cg + c;
      const T* xc = px + (n * C + ci) * Isz;
      // Conv w: (M, Cg, k...); ConvTranspose w: (C, Mg, k...).
      const T* wc = transpose ? pw + (ci * Mg + m % Mg) * Ksz : pw + (m * Cg + c) * Ksz;
      for (int64_t kk = 0; kk < Ksz; ++kk) {
        const A wv = convert<A>(wc[kk]);
        if (wv == A(0)) continue;
        if (transpose) {
          const int64_t* t = table.data() + kk * Isz;
          for (int64_t i = 0; i < Isz; ++i)
            if (t[i] >= 0) acc[t[i]] += wv * convert<A>(xc[i]);
        } else {
          const int64_t* t = table.data() + kk * Osz;
          for (int64_t o = 0; o < Osz; ++o)
            if (t[o] >= 0) acc[o] += wv * convert<A>(xc[t[o]]);
        }
      }
    }
    T* yo = py + nm * Osz;
    for (int64_t o = 0; o < Osz; ++o) yo[o] = convert<T>(apply_fused_activation(act, acc[o]));
  }
}

Status conv_common(KernelCtx& ctx, bool transpose) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  const std::span<const int64_t> kernel = std::span<const int64_t>(w.shape()).subspan(2);
  auto g = transpose ? conv_transpose_geometry(ctx.node, x.shape(), kernel)
                     : window_geometry(ctx.node, x.shape(), kernel, false);
  if (!g) return ctx.fail("{}", g.status().message());
  const int64_t group = ctx.node.attr_int("group", 1);
  const FusedActivation act = fused_activation(ctx.node).value_or(FusedActivation{});
  switch (x.dtype()) {
    case DType::F32:
      conv_typed<float>(x, w, b, ctx.out(0), *g, group, act, transpose);
      break;
    case DType::F64:
      conv_typed<double>(x, w, b, ctx.out(0), *g, group, act, transpose);
      break;
    case DType::F16:
      conv_typed<Half>(x, w, b, ctx.out(0), *g, group, act, transpose);
      break;
    case DType::BF16:
      conv_typed<BFloat16>(x, w, b, ctx.out(0), *g, group, act, transpose);
      break;
    default:
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  }
  return Status::ok();
}
}  // namespace

// y (N, M, out...) = act(b[m] + sum_{c in group, k} w[m, c, k] * x[n, c, o * s - pb + k * d]).
Status ref_Conv(KernelCtx& ctx) {
  return conv_common(ctx, false);
}

// y[n, m, i * s - pb + k * d] += x[n, c, i] * w[c, m % Mg, k], plus bias; pads crop the output.
Status ref_ConvTranspose(KernelCtx& ctx) {
  return conv_common(ctx, true);
}

}  // namespace condense
