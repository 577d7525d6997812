#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"

namespace condense {

Status ref_Add(KernelCtx& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  return visit_dtype(a.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("Add does not take bool");
    } else {
      using C = compute_t<T>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* py = y.data<T>();
      for_each_broadcast<2>(y.shape(), {&a.shape(), &b.shape()},
                            [&](int64_t i, const std::array<int64_t, 2>& off) {
                              py[i] = convert<T>(static_cast<C>(convert<C>(pa[off[0]]) +
                                                                convert<C>(pb[off[1]])));
                            });
      return Status::ok();
    }
  });
}

Status ref_Relu(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      C v = convert<C>(px[i]);
      py[i] = convert<T>(v > C(0) ? v : C(0));
    }
    return Status::ok();
  });
}

}  // namespace condense
