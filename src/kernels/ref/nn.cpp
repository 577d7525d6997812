#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"

namespace condense {

// y[..., m, n] = sum_k a[..., m, k] * b[..., k, n], batch dims broadcast.
Status ref_MatMul(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  Shape batch(y.shape().begin(), y.shape().end() - (a.rank() > 1 ? 1 : 0) - (b.rank() > 1 ? 1 : 0));
  // Batch offsets of a and b (in matrices) for each output batch index.
  std::vector<int64_t> off_a, off_b;
  for_each_broadcast<2>(batch, {&batch_a, &batch_b},
                        [&](int64_t, const std::array<int64_t, 2>& o) {
                          off_a.push_back(o[0]);
                          off_b.push_back(o[1]);
                        });
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("MatMul does not take bool");
    } else {
      using C = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, compute_t<T>>;
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
          ry[n] = convert<T>(acc);
        }
      }
      return Status::ok();
    }
  });
}

}  // namespace condense
