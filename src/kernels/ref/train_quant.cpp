// Reference kernels for quantization-aware training: FakeQuantize (forward) and FakeQuantizeGrad
// (straight-through estimator for X, LSQ for the scale). Every weight and activation of a QAT
// model passes through them each step, so they are one pass over the data, vectorizable and
// OpenMP-parallel; the scale gradient sums fixed pieces in a fixed order, so it does not depend
// on the thread count.
//
// Numerics (f32): v = x / scale in f32, exactly as QuantizeLinear divides; q = round half to even
// of v (1.5 * 2^23 added and subtracted: exact for |v| <= 2^22, and v is first clamped to one
// step beyond the integer range, which changes no saturated result) plus the zero point,
// saturated to [qmin, qmax]; y = float(q - zero_point) * scale as DequantizeLinear multiplies.
// Integer ranges wider than 2^20 (int32 biases) take a scalar path with std::nearbyint.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/qparam_index.h"
#include "kernels/ref/quant_util.h"
#include "kernels/ref/train_common.h"

namespace condense {

namespace {

// How elements map to scales: rows of `inner` contiguous elements that share one scale index
// (per tensor: fixed chunks; per axis: (outer, axis) rows), or element-wise (blocked).
struct FqLayout {
  QParamIndex index;
  int64_t numel = 0, nscale = 1;
  int64_t row_len = 1, rows = 0;  // rows x row_len == numel (not blocked)
  bool blocked = false;
  int64_t row_scale(int64_t r) const {
    return index.mode == 0 ? 0 : r % index.axis_len;  // per axis: row = (outer, axis)
  }
};

constexpr int64_t kChunk = 4096;  // per-tensor rows: fixed, so sums do not depend on threads

Result<FqLayout> fq_layout(const KernelCtx& ctx, const Tensor& x, const Tensor& scale) {
  FqLayout l;
  l.numel = x.numel();
  l.nscale = scale.numel();
  const int64_t block = ctx.node.attr_int("block_size", 0);
  if (l.nscale == 1 && scale.rank() <= 1 && block == 0) {
    l.row_len = kChunk;
    l.rows = (l.numel + kChunk - 1) / kChunk;
    return l;
  }
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return ctx.fail("axis out of range for rank {}", x.rank());
  l.index.axis_len = x.dim(axis);
  for (int64_t d = axis + 1; d < x.rank(); ++d) l.index.inner *= x.dim(d);
  if (block == 0) {
    if (scale.rank() != 1 || scale.dim(0) != l.index.axis_len)
      return ctx.fail("per-axis scale {} does not fit input {}", shape_str(scale.shape()),
                      shape_str(x.shape()));
    l.index.mode = 1;
    l.row_len = l.index.inner;
    l.rows = l.row_len ? l.numel / l.row_len : 0;
    return l;
  }
  l.index.mode = 2;
  l.index.block = block;
  l.index.scale_axis_len = scale.rank() == x.rank() ? scale.dim(axis) : 0;
  if (l.index.scale_axis_len != (l.index.axis_len + block - 1) / block)
    return ctx.fail("blocked scale {} does not fit input {}", shape_str(scale.shape()),
                    shape_str(x.shape()));
  l.blocked = true;
  return l;
}

// Per-scale quantization constants.
struct FqParams {
  std::vector<int32_t> zp;
  int64_t qmin = 0, qmax = 0;
  bool wide = false;  // range wider than 2^20: the scalar path
};

Result<FqParams> fq_params(const KernelCtx& ctx, size_t zp_input, int64_t nscale) {
  FqParams p;
  const Tensor& z = ctx.in(zp_input);
  p.zp = widen_to_i32(z);
  if (static_cast<int64_t>(p.zp.size()) != nscale)
    return ctx.fail("zero point has {} elements, scale {}", p.zp.size(), nscale);
  const QRange r = qrange(z.dtype());
  p.qmin = ctx.node.attr_int("qmin", r.lo);
  p.qmax = ctx.node.attr_int("qmax", r.hi);
  if (p.qmin > p.qmax) return ctx.fail("qmin {} > qmax {}", p.qmin, p.qmax);
  p.wide = p.qmax - p.qmin > (int64_t{1} << 20);
  for (int32_t zp : p.zp)
    if (zp < p.qmin || zp > p.qmax)
      return ctx.fail("zero point {} is outside [{}, {}]", zp, p.qmin, p.qmax);
  return p;
}

// Round half to even of a float with |v| <= 2^22 (the default rounding mode does the tie).
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// One element, the exact scalar form (wide ranges and f64): returns y; *inside: not saturated;
// *qz: the saturated q - zero_point; *v_out: x / scale.
template <typename T>
inline T fq_scalar(T x, T s, int32_t zp, int64_t qmin, int64_t qmax, bool* inside, double* qz,
                   double* v_out) {
  const T v = x / s;
  const double r = std::isnan(v) ? 0.0 : std::nearbyint(static_cast<double>(v));
  const double q = r + zp;
  *inside = q >= static_cast<double>(qmin) && q <= static_cast<double>(qmax);
  const double qs = std::clamp(q, static_cast<double>(qmin), static_cast<double>(qmax));
  *qz = qs - zp;
  *v_out = std::isnan(v) ? 0.0 : static_cast<double>(v);
  return static_cast<T>(static_cast<int64_t>(qs) - zp) * s;
}

// y[0, n) = FakeQuantize of x[0, n) with one scale (f32, narrow range): the vectorizable loop.
void fq_row_f32(const float* x, float* y, int64_t n, float s, int32_t zp, int64_t qmin,
                int64_t qmax) {
  const float zpf = static_cast<float>(zp);
  const float lo = static_cast<float>(qmin - zp - 1), hi = static_cast<float>(qmax - zp + 1);
  const float qlo = static_cast<float>(qmin), qhi = static_cast<float>(qmax);
  for (int64_t j = 0; j < n; ++j) {
    float v = x[j] / s;
    v = v == v ? v : 0.0f;  // NaN quantizes to the zero point
    v = std::min(std::max(v, lo), hi);
    const float q = std::min(std::max(round_small(v) + zpf, qlo), qhi);
    y[j] = (q - zpf) * s;
  }
}

// dx[0, n) = dy where not saturated, else 0; returns sum(dy * d(y)/d(scale)) with LSQ's
// d(y)/d(scale) = round(v) - v inside the range, (q - zero_point) where saturated.
double fq_grad_row_f32(const float* dy, const float* x, float* dx, int64_t n, float s, int32_t zp,
                       int64_t qmin, int64_t qmax) {
  const float zpf = static_cast<float>(zp);
  const float lo = static_cast<float>(qmin - zp - 1), hi = static_cast<float>(qmax - zp + 1);
  const float qlo = static_cast<float>(qmin), qhi = static_cast<float>(qmax);
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t j = 0;
  auto one = [&](int64_t k) -> float {
    float v = x[k] / s;
    v = v == v ? v : 0.0f;
    v = std::min(std::max(v, lo), hi);
    const float r = round_small(v);
    const float q = r + zpf;
    const bool inside = q >= qlo && q <= qhi;
    const float qs = std::min(std::max(q, qlo), qhi);
    dx[k] = inside ? dy[k] : 0.0f;
    return dy[k] * (inside ? r - v : qs - zpf);
  };
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += one(j + l);
  double sum = 0;
  for (; j < n; ++j) sum += one(j);
  for (int l = 0; l < kLanes; ++l) sum += acc[l];
  return sum;
}

// LSQ's gradient scale 1 / sqrt(N * Qp) (Esser et al. 2019): N elements share the scale, Qp
// the larger side of the integer grid around the zero point.
double lsq_grad_scale(int64_t n_per_scale, int32_t zp, int64_t qmin, int64_t qmax) {
  const double qp = std::max<double>({double(qmax - zp), double(zp - qmin), 1.0});
  return 1.0 / std::sqrt(std::max<double>(double(n_per_scale), 1.0) * qp);
}

}  // namespace

Status ref_FakeQuantize(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  CONDENSE_ASSIGN_OR_RETURN(FqLayout l, fq_layout(ctx, x, scale));
  CONDENSE_ASSIGN_OR_RETURN(FqParams p, fq_params(ctx, 2, l.nscale));
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* px = x.data<T>();
    const T* ps = scale.data<T>();
    T* py = ctx.out(0).data<T>();
    for (int64_t k = 0; k < l.nscale; ++k)
      if (!(ps[k] > T(0)) || !std::isfinite(static_cast<double>(ps[k])))
        return ctx.fail("scale {} is {}: scales must be positive and finite", k, ps[k]);
    if (l.blocked || p.wide || !std::is_same_v<T, float>) {
      const int64_t n = l.numel;
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = l.blocked ? l.index(i) : (l.index.mode == 0 ? 0 : l.index(i));
        bool inside;
        double qz, v;
        py[i] = fq_scalar<T>(px[i], ps[k], p.zp[k], p.qmin, p.qmax, &inside, &qz, &v);
      }
      return Status::ok();
    }
    if constexpr (std::is_same_v<T, float>) {
#pragma omp parallel for schedule(static) if (l.numel > 32768)
      for (int64_t r = 0; r < l.rows; ++r) {
        const int64_t begin = r * l.row_len, n = std::min(l.row_len, l.numel - begin);
        const int64_t k = l.row_scale(r);
        fq_row_f32(px + begin, py + begin, n, ps[k], p.zp[k], p.qmin, p.qmax);
      }
    }
    return Status::ok();
  });
}

Status ref_FakeQuantizeGrad(KernelCtx& ctx) {
  const Tensor& dy = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& scale = ctx.in(2);
  if (dy.shape() != x.shape())
    return ctx.fail("dY {} and X {} differ in shape", shape_str(dy.shape()), shape_str(x.shape()));
  CONDENSE_ASSIGN_OR_RETURN(FqLayout l, fq_layout(ctx, x, scale));
  CONDENSE_ASSIGN_OR_RETURN(FqParams p, fq_params(ctx, 3, l.nscale));
  const bool want_scale = ctx.outputs.size() > 1 && ctx.node.output(1) != nullptr;
  return visit_train_float(ctx, x.dtype(), [&]<typename T>() -> Status {
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    const T* ps = scale.data<T>();
    T* pdx = ctx.out(0).data<T>();
    std::vector<double> sums(l.nscale, 0.0);
    if (l.blocked || p.wide || !std::is_same_v<T, float>) {
      // Scalar path: serial, in element order (blocked scales, int32 biases, f64 checks).
      for (int64_t i = 0; i < l.numel; ++i) {
        const int64_t k = l.index.mode == 0 ? 0 : l.index(i);
        bool inside;
        double qz, v;
        fq_scalar<T>(px[i], ps[k], p.zp[k], p.qmin, p.qmax, &inside, &qz, &v);
        pdx[i] = inside ? pdy[i] : T(0);
        const double r = qz;  // inside: round(v) (q - zp, not saturated)
        sums[k] += static_cast<double>(pdy[i]) * (inside ? r - v : qz);
      }
    } else if constexpr (std::is_same_v<T, float>) {
      std::vector<double> row_sums(l.rows);
#pragma omp parallel for schedule(static) if (l.numel > 32768)
      for (int64_t r = 0; r < l.rows; ++r) {
        const int64_t begin = r * l.row_len, n = std::min(l.row_len, l.numel - begin);
        const int64_t k = l.row_scale(r);
        row_sums[r] = fq_grad_row_f32(pdy + begin, px + begin, pdx + begin, n, ps[k], p.zp[k],
                                      p.qmin, p.qmax);
      }
      for (int64_t r = 0; r < l.rows; ++r) sums[l.row_scale(r)] += row_sums[r];
    }
    if (want_scale) {
      T* pds = ctx.out(1).data<T>();
      const int64_t per = l.nscale ? l.numel / l.nscale : 0;
      for (int64_t k = 0; k < l.nscale; ++k)
        pds[k] = static_cast<T>(sums[k] * lsq_grad_scale(per, p.zp[k], p.qmin, p.qmax));
    }
    return Status::ok();
  });
}

}  // namespace condense
