// Reference kernels: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/dispatch.h"
#include "core/qparam_index.h"
#include "kernels/kernel.h"
#include "kernels/ref/quant_util.h"

namespace condense {

QRange qrange(DType t) {
  switch (t) {
    case DType::I8:
      return {-128, 127};
    case DType::U8:
      return {0, 255};
    case DType::I16:
      return {-32768, 32767};
    case DType::U16:
      return {0, 65535};
    case DType::I32:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    case DType::I4:
      return {-8, 7};
    case DType::U4:
      return {0, 15};
    default:
      return {0, 0};
  }
}

std::vector<int32_t> widen_to_i32(const Tensor& t) {
  const int64_t n = t.numel();
  std::vector<int32_t> v(n);
  if (t.dtype() == DType::I4 || t.dtype() == DType::U4) {
    const uint8_t* p = t.data<uint8_t>();
    const bool sign = t.dtype() == DType::I4;
    for (int64_t i = 0; i < n; ++i) {
      int x = (i % 2 == 0) ? (p[i / 2] & 0xf) : (p[i / 2] >> 4);
      if (sign && x >= 8) x -= 16;
      v[i] = x;
    }
    return v;
  }
  visit_dtype(t.dtype(), [&]<typename T>() {
    if constexpr (std::is_integral_v<T> && sizeof(T) <= 4 && !std::is_same_v<T, bool> &&
                  !std::is_same_v<T, uint32_t>) {
      const T* p = t.data<T>();
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int32_t>(p[i]);
    } else {
      CONDENSE_CHECK_MSG(false, "widen_to_i32: not a quantized integer dtype");
    }
  });
  return v;
}

void store_from_i32(Tensor& t, const std::vector<int32_t>& v) {
  const int64_t n = t.numel();
  if (t.dtype() == DType::I4 || t.dtype() == DType::U4) {
    uint8_t* p = t.data<uint8_t>();
    std::fill(p, p + (n + 1) / 2, uint8_t{0});
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t nib = static_cast<uint8_t>(v[i]) & 0xf;
      p[i / 2] |= (i % 2 == 0) ? nib : static_cast<uint8_t>(nib << 4);
    }
    return;
  }
  visit_dtype(t.dtype(), [&]<typename T>() {
    if constexpr (std::is_integral_v<T> && sizeof(T) <= 4 && !std::is_same_v<T, bool> &&
                  !std::is_same_v<T, uint32_t>) {
      T* p = t.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(v[i]);
    } else {
      CONDENSE_CHECK_MSG(false, "store_from_i32: not a quantized integer dtype");
    }
  });
}

template <typename C>
static std::vector<C> load_as(const Tensor& t) {
  if (t.dtype() == DType::I4 || t.dtype() == DType::U4) {
    std::vector<int32_t> w = widen_to_i32(t);
    return std::vector<C>(w.begin(), w.end());
  }
  std::vector<C> v(t.numel());
  visit_dtype(t.dtype(), [&]<typename T>() {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = convert<C>(p[i]);
  });
  return v;
}
std::vector<float> load_f32(const Tensor& t) {
  return load_as<float>(t);
}
std::vector<double> load_f64(const Tensor& t) {
  return load_as<double>(t);
}

namespace {

// Shapes were checked by infer.
Result<QParamIndex> qparam_index(const KernelCtx& ctx, const Tensor& x, const Tensor& scale) {
  QParamIndex q;
  const int64_t block = ctx.node.attr_int("block_size", 0);
  if (scale.numel() == 1 && (scale.rank() <= 1 && block == 0)) return q;
  if (scale.rank() == 0) return q;
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return ctx.fail("axis out of range for rank {}", x.rank());
  q.axis_len = x.dim(axis);
  for (int64_t d = axis + 1; d < x.rank(); ++d) q.inner *= x.dim(d);
  if (block == 0) {
    if (scale.rank() != 1 || scale.dim(0) != q.axis_len)
      return ctx.fail("per-axis scale {} does not fit input {} on axis {}",
                      shape_str(scale.shape()), shape_str(x.shape()), axis);
    q.mode = 1;
    return q;
  }
  if (scale.rank() != x.rank()) return ctx.fail("blocked scale must have the input's rank");
  for (int64_t d = 0; d < x.rank(); ++d) {
    const int64_t want = d == axis ? (x.dim(d) + block - 1) / block : x.dim(d);
    if (scale.dim(d) != want)
      return ctx.fail("blocked scale {} does not fit input {} (block_size {})",
                      shape_str(scale.shape()), shape_str(x.shape()), block);
  }
  q.mode = 2;
  q.scale_axis_len = scale.dim(axis);
  q.block = block;
  return q;
}

}  // namespace

// y = saturate(round_half_even(x / y_scale) + y_zero_point). The division runs in the scale's
// precision (f16/bf16 quotients are rounded to that type, as the ONNX reference does).
Status ref_QuantizeLinear(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  Tensor& y = ctx.out(0);
  CONDENSE_ASSIGN_OR_RETURN(QParamIndex qi, qparam_index(ctx, x, scale));
  std::vector<int32_t> zp =
      ctx.has_input(2) ? widen_to_i32(ctx.in(2)) : std::vector<int32_t>(scale.numel(), 0);
  if (static_cast<int64_t>(zp.size()) != scale.numel())
    return ctx.fail("zero point has {} elements, scale {}", zp.size(), scale.numel());
  const QRange r = qrange(y.dtype());
  const int64_t n = x.numel();
  std::vector<int32_t> q(n);
  const DType st = scale.dtype();
  if (st == DType::F64) {
    std::vector<double> xv = load_f64(x), sv = load_f64(scale);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = qi(i);
      q[i] = quantize_value(xv[i] / sv[k], zp[k], r);
    }
  } else {
    std::vector<float> xv = load_f32(x), sv = load_f32(scale);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = qi(i);
      float v = xv[i] / sv[k];
      if (st == DType::F16)
        v = static_cast<float>(Half(v));
      else if (st == DType::BF16)
        v = static_cast<float>(BFloat16(v));
      q[i] = quantize_value(v, zp[k], r);
    }
  }
  store_from_i32(y, q);
  return Status::ok();
}

// y = (x - x_zero_point) * x_scale, in the output's precision (float for f16/bf16 outputs).
Status ref_DequantizeLinear(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  Tensor& y = ctx.out(0);
  CONDENSE_ASSIGN_OR_RETURN(QParamIndex qi, qparam_index(ctx, x, scale));
  std::vector<int32_t> zp =
      ctx.has_input(2) ? widen_to_i32(ctx.in(2)) : std::vector<int32_t>(scale.numel(), 0);
  if (static_cast<int64_t>(zp.size()) != scale.numel())
    return ctx.fail("zero point has {} elements, scale {}", zp.size(), scale.numel());
  std::vector<int32_t> xv = widen_to_i32(x);
  const int64_t n = x.numel();
  return visit_dtype(y.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, double>) {
      std::vector<double> sv = load_f64(scale);
      double* py = y.data<double>();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = qi(i);
        py[i] = (static_cast<double>(xv[i]) - zp[k]) * sv[k];
      }
      return Status::ok();
    } else if constexpr (std::is_same_v<compute_t<T>, float>) {
      std::vector<float> sv = load_f32(scale);
      T* py = y.data<T>();
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = qi(i);
        py[i] = convert<T>(static_cast<float>(static_cast<int64_t>(xv[i]) - zp[k]) * sv[k]);
      }
      return Status::ok();
    } else {
      return ctx.fail("output dtype {} is not a float type", dtype_name(y.dtype()));
    }
  });
}

// uint8 asymmetric quantization with the range widened to include 0:
// scale = (max(x, 0) - min(x, 0)) / 255, zero_point = saturate(round(-min / scale)).
Status ref_DynamicQuantizeLinear(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const float* px = x.data<float>();
  const int64_t n = x.numel();
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(px[i])) continue;
    lo = std::min(lo, px[i]);
    hi = std::max(hi, px[i]);
  }
  const float scale = (hi - lo) / 255.f;
  const QRange r{0, 255};
  const int32_t zp = scale > 0 ? quantize_value(-lo / scale, 0, r) : 0;
  uint8_t* py = ctx.out(0).data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    py[i] = scale > 0 ? static_cast<uint8_t>(quantize_value(px[i] / scale, zp, r))
                      : static_cast<uint8_t>(0);
  ctx.out(1).data<float>()[0] = scale;
  ctx.out(2).data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  return Status::ok();
}

}  // namespace condense
