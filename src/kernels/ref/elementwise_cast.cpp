// Cast and CastLike: every condense dtype to every other.
//   float -> integer: truncate toward zero, saturate at the target range, NaN -> 0 (ONNX leaves
//                     out-of-range values undefined; saturating keeps it defined);
//   integer -> narrower integer: wraps (two's complement, as numpy's astype);
//   x -> bool: x != 0 (NaN -> true); bool -> x: 0 or 1;
//   x -> int4/uint4: truncate toward zero, then wrap modulo 16 (the onnx 1.22 reference: 8 -> -8,
//                    -9 -> 7 for int4); NaN and infinities -> 0;
//   int4/uint4 are packed two per byte, element 0 in the low nibble.
#include <cmath>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/ref/elementwise_loop.h"

namespace condense {

namespace {

bool is_4bit(DType t) {
  return t == DType::I4 || t == DType::U4;
}

// Unpacks a 4-bit tensor into I8 (from I4) or U8 (from U4).
Tensor unpack_4bit(const Tensor& x) {
  const bool sign = x.dtype() == DType::I4;
  Tensor out = Tensor::empty(sign ? DType::I8 : DType::U8, x.shape());
  const auto* p = x.data<uint8_t>();
  auto* q = out.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int v = (p[i / 2] >> (4 * (i & 1))) & 0xF;
    if (sign && v >= 8) v -= 16;
    q[i] = static_cast<uint8_t>(v);
  }
  return out;
}

// Writes x (any non-4-bit dtype) into the packed 4-bit tensor y: truncate, wrap modulo 16.
void pack_4bit(const Tensor& x, Tensor& y) {
  auto* q = y.data<uint8_t>();
  std::memset(q, 0, y.nbytes());
  visit_dtype(x.dtype(), [&]<typename T>() {
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      int v;
      if constexpr (std::is_integral_v<T>) {
        v = static_cast<int>(p[i] & 0xF);
      } else {
        const double d = std::trunc(convert<double>(p[i]));
        v = std::isfinite(d) ? static_cast<int>(std::fmod(d, 16.0) + 16.0) & 0xF : 0;
      }
      q[i / 2] = static_cast<uint8_t>(q[i / 2] | (v << (4 * (i & 1))));
    }
  });
}

Status cast_into(const Tensor& in, Tensor& y) {
  if (in.dtype() == y.dtype()) {
    if (y.nbytes() > 0) std::memcpy(y.raw(), in.raw(), y.nbytes());
    return Status::ok();
  }
  const Tensor x = is_4bit(in.dtype()) ? unpack_4bit(in) : in;
  if (is_4bit(y.dtype())) {
    pack_4bit(x, y);
    return Status::ok();
  }
  visit_dtype(x.dtype(), [&]<typename TI>() {
    visit_dtype(y.dtype(), [&]<typename TO>() {
      ew::unary_map<TI, TO>(x, y, ew::kGrainCheap, [](TI v) { return ew::sat_cast<TO>(v); });
    });
  });
  return Status::ok();
}

}  // namespace

Status ref_Cast(KernelCtx& ctx) {
  return cast_into(ctx.in(0), ctx.out(0));
}
Status ref_CastLike(KernelCtx& ctx) {
  return cast_into(ctx.in(0), ctx.out(0));
}

}  // namespace condense
