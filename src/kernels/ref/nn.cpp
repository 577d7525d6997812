// Reference kernels: MatMul, Gemm. Accumulation in double for floating types (the oracle).
#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {
template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, compute_t<T>>;
}  // namespace

// y[..., m, n] = act(sum_k a[..., m, k] * b[..., k, n]), batch dims broadcast.
Status ref_MatMul(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const FusedActivation act = fused_activation(ctx.node).value_or(FusedActivation{});
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  Shape batch(y.shape().begin(), y.shape().end() - (a.rank() > 1 ? 1 : 0) - (b.rank() > 1 ? 1 : 0));
  // Batch offsets of a and b (in matrices) for each output batch index.
  std::vector<int64_t> off_a, off_b;
  for_each_broadcast<2>(batch, {&batch_a, &batch_b}, [&](int64_t, const std::array<int64_t, 2>& o) {
    off_a.push_back(o[0]);
    off_b.push_back(o[1]);
  });
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("MatMul does not take bool");
    } else {
      using C = acc_t<T>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* py = y.data<T>();
      const int64_t nb = static_cast<int64_t>(off_a.size());
#pragma omp parallel for if (nb * M * N * K > 100000)
      for (int64_t bm = 0; bm < nb * M; ++bm) {
        const int64_t bi = bm / M, m = bm % M;
        const T* ra = pa + off_a[bi] * M * K + m * K;
        const T* mb = pb + off_b[bi] * K * N;
        T* ry = py + bi * M * N + m * N;
        for (int64_t n = 0; n < N; ++n) {
          C acc = 0;
          for (int64_t k = 0; k < K; ++k) acc += convert<C>(ra[k]) * convert<C>(mb[k * N + n]);
          if constexpr (std::is_floating_point_v<C>) acc = apply_fused_activation(act, acc);
          ry[n] = convert<T>(acc);
        }
      }
      return Status::ok();
    }
  });
}

// Y (M, N) = act(alpha * A' * B' + beta * C); A' = A^T when transA (A stored (K, M)), same for B.
Status ref_Gemm(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor* c = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  const FusedActivation act = fused_activation(ctx.node).value_or(FusedActivation{});
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const double alpha = ctx.node.attr_float("alpha", 1.f), beta = ctx.node.attr_float("beta", 1.f);
  const int64_t M = y.dim(0), N = y.dim(1), K = ta ? a.dim(0) : a.dim(1);
  // A'[m, k] = a[m * sam + k * sak]; B'[k, n] = b[k * sbk + n * sbn].
  const int64_t sam = ta ? 1 : K, sak = ta ? M : 1, sbk = tb ? 1 : N, sbn = tb ? K : 1;
  // C broadcast strides over (M, N).
  int64_t scm = 0, scn = 0;
  if (c) {
    const Shape& cs = c->shape();
    const int64_t cr = cs.size() == 2 ? cs[0] : 1, cc = cs.empty() ? 1 : cs.back();
    scm = cr == 1 ? 0 : cc;
    scn = cc == 1 ? 0 : 1;
  }
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int8_t> ||
                  std::is_same_v<T, uint8_t> || std::is_same_v<T, int16_t> ||
                  std::is_same_v<T, uint16_t>) {
      return ctx.fail("Gemm does not take {}", dtype_name(a.dtype()));
    } else {
      using C = acc_t<T>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      const T* pc = c ? c->data<T>() : nullptr;
      T* py = y.data<T>();
#pragma omp parallel for if (M * N * K > 100000)
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
          C acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += convert<C>(pa[m * sam + k * sak]) * convert<C>(pb[k * sbk + n * sbn]);
          double v = alpha * static_cast<double>(acc);
          if (pc) v += beta * static_cast<double>(convert<C>(pc[m * scm + n * scn]));
          if constexpr (std::is_floating_point_v<C>) v = apply_fused_activation(act, v);
          py[m * N + n] = convert<T>(v);
        }
      }
      return Status::ok();
    }
  });
}

}  // namespace condense
