// Helpers shared by the train family's reference kernels (src/kernels/ref/train_*.cpp).
#pragma once

#include "kernels/kernel.h"

namespace condense {

// Runs f.template operator()<T>() with T = float or double for dtype t; any other dtype fails
// (infer rejects them first; this guards direct kernel calls).
template <typename F>
Status visit_train_float(const KernelCtx& ctx, DType t, F&& f) {
  switch (t) {
    case DType::F32:
      return f.template operator()<float>();
    case DType::F64:
      return f.template operator()<double>();
    default:
      return ctx.fail("unsupported dtype {} (f32 and f64 only)", dtype_name(t));
  }
}

}  // namespace condense
