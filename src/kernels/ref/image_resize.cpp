// Reference kernel for Resize / Upsample. Each axis gets, per output coordinate, a short list of
// (input index, weight) taps (nearest: one; linear/cubic: the kernel's support, stretched by
// 1/scale when antialiasing a downscale); an output element is the weighted sum over the
// product of its axes' taps. Weights with value 0 are dropped, so unresized axes cost nothing.
#include "ops/image_resize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/dispatch.h"
#include "kernels/kernel.h"

namespace condense {

namespace {

struct Tap {
  int64_t index;
  double weight;
};

struct AxisTaps {
  std::vector<int64_t> begin;  // out coord -> first tap in `taps` (size out+1)
  std::vector<Tap> taps;
  std::vector<char> outside;  // tf_crop_and_resize: coordinate outside the input
};

double original_coord(const ResizePlan& p, int64_t d, double xo, int64_t in_len, int64_t out_len) {
  const double s = p.scale[d];
  const std::string& m = p.coord_mode;
  if (m == "half_pixel") return (xo + 0.5) / s - 0.5;
  if (m == "half_pixel_symmetric") {
    const double adj = out_len / (s * in_len);
    const double center = in_len / 2.0;
    return center * (1 - adj) + (xo + 0.5) / s - 0.5;
  }
  if (m == "pytorch_half_pixel") return out_len > 1 ? (xo + 0.5) / s - 0.5 : 0.0;
  if (m == "align_corners") {
    // The unrounded output length in_len * scale, as the ONNX reference uses it.
    const double out_f = in_len * s;
    return out_f == 1 ? 0.0 : xo * (in_len - 1) / (out_f - 1);
  }
  if (m == "asymmetric") return xo / s;
  if (m == "tf_half_pixel_for_nn") return (xo + 0.5) / s;
  // tf_crop_and_resize
  const double a = p.roi_start[d], b = p.roi_end[d];
  return out_len > 1 ? a * (in_len - 1) + xo * (b - a) * (in_len - 1) / (out_len - 1)
                     : 0.5 * (a + b) * (in_len - 1);
}

double cubic_kernel(double x, double A) {
  x = std::abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

AxisTaps axis_taps(const ResizePlan& p, int64_t d, int64_t in_len, int64_t out_len) {
  AxisTaps t;
  t.begin.push_back(0);
  t.outside.assign(out_len, 0);
  const bool crop = p.coord_mode == "tf_crop_and_resize";
  for (int64_t o = 0; o < out_len; ++o) {
    const double x = original_coord(p, d, static_cast<double>(o), in_len, out_len);
    if (crop && (x < 0 || x > in_len - 1)) t.outside[o] = 1;
    if (p.mode == "nearest") {
      double fl = std::floor(x);
      double r;
      if (p.nearest_mode == "floor")
        r = fl;
      else if (p.nearest_mode == "ceil")
        r = std::ceil(x);
      else if (x - fl == 0.5)
        r = p.nearest_mode == "round_prefer_floor" ? fl : fl + 1;
      else
        r = std::round(x);
      const int64_t i = std::clamp<int64_t>(static_cast<int64_t>(r), 0, in_len - 1);
      t.taps.push_back({i, 1.0});
    } else {
      const bool linear = p.mode == "linear";
      const double ks = p.antialias ? std::min(p.scale[d], 1.0) : 1.0;
      const double radius = (linear ? 1.0 : 2.0) / ks;
      const int64_t start = static_cast<int64_t>(std::floor(-radius)) + 1;
      const int64_t end = 1 - start;  // inclusive
      const double base = std::floor(x), ratio = x - base;
      std::vector<Tap> taps;
      double sum = 0;
      for (int64_t i = start; i <= end; ++i) {
        const double dist = (static_cast<double>(i) - ratio) * ks;
        double w = linear ? std::max(0.0, 1.0 - std::abs(dist)) : cubic_kernel(dist, p.cubic_a);
        const int64_t idx = static_cast<int64_t>(base) + i;
        if (p.exclude_outside && (idx < 0 || idx >= in_len)) w = 0;
        taps.push_back({std::clamp<int64_t>(idx, 0, in_len - 1), w});
        sum += w;
      }
      const bool normalize = p.antialias || p.exclude_outside;
      for (const Tap& tp : taps)
        if (tp.weight != 0)
          t.taps.push_back({tp.index, normalize && sum != 0 ? tp.weight / sum : tp.weight});
    }
    t.begin.push_back(static_cast<int64_t>(t.taps.size()));
  }
  return t;
}

template <typename T>
void resize_typed(const Tensor& X, Tensor& Y, const std::vector<AxisTaps>& axes, double extrap) {
  const Shape& xs = X.shape();
  const Shape& ys = Y.shape();
  const int64_t rank = static_cast<int64_t>(xs.size());
  std::vector<int64_t> xstride(rank, 1);
  for (int64_t d = rank - 1; d > 0; --d) xstride[d - 1] = xstride[d] * xs[d];
  const T* px = X.data<T>();
  T* py = Y.data<T>();
  const int64_t total = Y.numel();
#pragma omp parallel for if (total > 16384)
  for (int64_t i = 0; i < total; ++i) {
    std::vector<int64_t> oc(rank), cur(rank);
    int64_t r = i;
    bool outside = false;
    for (int64_t d = rank - 1; d >= 0; --d) {
      oc[d] = r % ys[d];
      r /= ys[d];
      outside = outside || axes[d].outside[oc[d]];
    }
    if (outside) {
      py[i] = convert<T>(extrap);
      continue;
    }
    // Iterate the product of taps (an odometer over each axis' tap range).
    for (int64_t d = 0; d < rank; ++d) cur[d] = axes[d].begin[oc[d]];
    double acc = 0;
    while (true) {
      double w = 1;
      int64_t off = 0;
      for (int64_t d = 0; d < rank; ++d) {
        const Tap& t = axes[d].taps[cur[d]];
        w *= t.weight;
        off += t.index * xstride[d];
      }
      acc += w * convert<double>(px[off]);
      int64_t d = rank - 1;
      for (; d >= 0; --d) {
        if (++cur[d] < axes[d].begin[oc[d] + 1]) break;
        cur[d] = axes[d].begin[oc[d]];
      }
      if (d < 0) break;
    }
    if constexpr (std::is_integral_v<T>) {
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      py[i] = static_cast<T>(std::clamp(std::nearbyint(acc), lo, hi));
    } else {
      py[i] = convert<T>(acc);
    }
  }
}

const Tensor* nonempty(const KernelCtx& ctx, size_t i) {
  return ctx.has_input(i) && ctx.in(i).numel() > 0 ? &ctx.in(i) : nullptr;
}

Status run_resize(KernelCtx& ctx, const Tensor* roi, const Tensor* scales, const Tensor* sizes) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  bool known = true;
  CONDENSE_ASSIGN_OR_RETURN(ResizePlan p,
                            plan_resize(ctx.node, X.shape(), roi, scales, sizes, &known));
  if (!known) return ctx.fail("one of scales or sizes must be given");
  if (p.out != Y.shape())
    return ctx.fail("output shape {} differs from {}", shape_str(Y.shape()), shape_str(p.out));
  if (Y.numel() == 0) return Status::ok();
  std::vector<AxisTaps> axes;
  for (int64_t d = 0; d < X.rank(); ++d) axes.push_back(axis_taps(p, d, X.dim(d), Y.dim(d)));
  return visit_dtype(X.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("bool is not supported");
    } else {
      resize_typed<T>(X, Y, axes, p.extrapolation_value);
      return Status::ok();
    }
  });
}

}  // namespace

Status ref_Resize(KernelCtx& ctx) {
  return run_resize(ctx, nonempty(ctx, 1), nonempty(ctx, 2), nonempty(ctx, 3));
}

Status ref_Upsample(KernelCtx& ctx) {
  std::optional<Tensor> attr_scales;
  const Tensor* scales = nonempty(ctx, 1);
  if (!scales) {
    std::vector<float> s = ctx.node.attr_floats("scales");
    attr_scales = Tensor::from_vector<float>(s, {static_cast<int64_t>(s.size())});
    scales = &*attr_scales;
  }
  return run_resize(ctx, nullptr, scales, nullptr);
}

}  // namespace condense
