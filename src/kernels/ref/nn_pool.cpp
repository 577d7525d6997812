// Reference kernels: MaxPool (with Indices), AveragePool, LpPool, the global pools, MaxUnpool.
// x: (N, C, D1..Dn); each (n, c) plane is pooled independently.
#include <cmath>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/nn_window.h"

namespace condense {

namespace {
enum class PoolKind { Max, Avg, Lp };

template <typename T>
void pool_typed(KernelCtx& ctx, const WindowGeom& g, PoolKind kind) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  Tensor* idx = ctx.outputs.size() > 1 && ctx.out(1).defined() ? &ctx.out(1) : nullptr;
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const bool col_major = ctx.node.attr_int("storage_order", 0) != 0;
  const A p = static_cast<A>(ctx.node.attr_int("p", 2));
  const std::vector<int64_t> table = window_table(g, g.out, g.in);
  // storage_order = 1: Indices count the spatial dims column-major (first dim fastest).
  std::vector<int64_t> col_offset;
  if (idx && col_major) {
    col_offset.resize(Isz);
    std::vector<int64_t> strides(g.rank, 1);
    for (int64_t d = 1; d < g.rank; ++d) strides[d] = strides[d - 1] * g.in[d - 1];
    for (int64_t i = 0; i < Isz; ++i) {
      int64_t rem = i, off = 0;
      for (int64_t d = g.rank; d-- > 0;) {
        off += (rem % g.in[d]) * strides[d];
        rem /= g.in[d];
      }
      col_offset[i] = off;
    }
  }
  const T* px = x.data<T>();
  T* py = y.data<T>();
  int64_t* pi = idx ? idx->data<int64_t>() : nullptr;
#pragma omp parallel for if (planes * Osz * Ksz > 50000)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = px + pl * Isz;
    for (int64_t o = 0; o < Osz; ++o) {
      if (kind == PoolKind::Max) {
        A best = std::numeric_limits<A>::lowest();
        int64_t arg = -1;
        for (int64_t kk = 0; kk < Ksz; ++kk) {
          const int64_t off = table[kk * Osz + o];
          if (off < 0) continue;
          const A v = convert<A>(xp[off]);
          if (arg < 0 || v > best) best = v, arg = off;
        }
        py[pl * Osz + o] = convert<T>(best);
        if (pi) pi[pl * Osz + o] = arg < 0 ? -1 : pl * Isz + (col_major ? col_offset[arg] : arg);
      } else {
        A sum = 0;
        int64_t count = 0;
        for (int64_t kk = 0; kk < Ksz; ++kk) {
          const int64_t off = table[kk * Osz + o];
          if (off == kWindowPad && include_pad) ++count;
          if (off < 0) continue;
          const A v = convert<A>(xp[off]);
          sum += kind == PoolKind::Avg ? v : std::pow(std::abs(v), p);
          ++count;
        }
        A r = kind == PoolKind::Avg ? (count ? sum / static_cast<A>(count) : A(0))
                                    : std::pow(sum, A(1) / p);
        py[pl * Osz + o] = convert<T>(r);
      }
    }
  }
}

template <typename T>
void pool_max_int(KernelCtx& ctx, const WindowGeom& g) {
  // 8-bit MaxPool: same as the float path, exact in int.
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  Tensor* idx = ctx.outputs.size() > 1 && ctx.out(1).defined() ? &ctx.out(1) : nullptr;
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t Isz = g.in_size(), Osz = g.out_size(), Ksz = g.kernel_size();
  const std::vector<int64_t> table = window_table(g, g.out, g.in);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t o = 0; o < Osz; ++o) {
      T best = std::numeric_limits<T>::lowest();
      int64_t arg = -1;
      for (int64_t kk = 0; kk < Ksz; ++kk) {
        const int64_t off = table[kk * Osz + o];
        if (off >= 0 && (arg < 0 || px[pl * Isz + off] > best))
          best = px[pl * Isz + off], arg = off;
      }
      py[pl * Osz + o] = best;
      if (idx) idx->data<int64_t>()[pl * Osz + o] = arg < 0 ? -1 : pl * Isz + arg;
    }
  }
}

Status pool_common(KernelCtx& ctx, PoolKind kind) {
  const Tensor& x = ctx.in(0);
  const Shape kernel = ctx.node.attr_ints("kernel_shape");
  const bool ceil_mode = ctx.node.attr_int("ceil_mode", 0) != 0;
  auto g = window_geometry(ctx.node, x.shape(), kernel, ceil_mode);
  if (!g) return ctx.fail("{}", g.status().message());
  switch (x.dtype()) {
    case DType::F32:
      pool_typed<float>(ctx, *g, kind);
      break;
    case DType::F64:
      pool_typed<double>(ctx, *g, kind);
      break;
    case DType::F16:
      pool_typed<Half>(ctx, *g, kind);
      break;
    case DType::BF16:
      pool_typed<BFloat16>(ctx, *g, kind);
      break;
    case DType::I8:
      if (kind != PoolKind::Max) return ctx.fail("int8 input is only valid for MaxPool");
      if (ctx.node.attr_int("storage_order", 0) != 0)
        return ctx.fail("storage_order=1 is not supported for 8-bit inputs");
      pool_max_int<int8_t>(ctx, *g);
      break;
    case DType::U8:
      if (kind != PoolKind::Max) return ctx.fail("uint8 input is only valid for MaxPool");
      if (ctx.node.attr_int("storage_order", 0) != 0)
        return ctx.fail("storage_order=1 is not supported for 8-bit inputs");
      pool_max_int<uint8_t>(ctx, *g);
      break;
    default:
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
  }
  return Status::ok();
}

Status global_pool(KernelCtx& ctx, PoolKind kind) {
  const Tensor& x = ctx.in(0);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t sp = planes ? x.numel() / planes : 0;
  const double p = static_cast<double>(ctx.node.attr_int("p", 2));
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("unsupported dtype {}", dtype_name(x.dtype()));
    } else {
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (x.numel() > 100000)
      for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = px + pl * sp;
        double r = kind == PoolKind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t i = 0; i < sp; ++i) {
          const double v = convert<double>(xp[i]);
          if (kind == PoolKind::Max)
            r = v > r ? v : r;
          else if (kind == PoolKind::Avg)
            r += v;
          else
            r += std::pow(std::abs(v), p);
        }
        if (kind == PoolKind::Avg) r = sp ? r / static_cast<double>(sp) : 0.0;
        if (kind == PoolKind::Lp) r = std::pow(r, 1.0 / p);
        py[pl] = convert<T>(r);
      }
      return Status::ok();
    }
  });
}
}  // namespace

Status ref_MaxPool(KernelCtx& ctx) {
  return pool_common(ctx, PoolKind::Max);
}
Status ref_AveragePool(KernelCtx& ctx) {
  return pool_common(ctx, PoolKind::Avg);
}
Status ref_LpPool(KernelCtx& ctx) {
  return pool_common(ctx, PoolKind::Lp);
}
Status ref_GlobalAveragePool(KernelCtx& ctx) {
  return global_pool(ctx, PoolKind::Avg);
}
Status ref_GlobalMaxPool(KernelCtx& ctx) {
  return global_pool(ctx, PoolKind::Max);
}
Status ref_GlobalLpPool(KernelCtx& ctx) {
  return global_pool(ctx, PoolKind::Lp);
}

// y = zeros(output shape); y[unravel(indices[j])] = x.flat[j]. Indices are flat offsets into the
// default output (N, C, (in - 1) * stride + kernel - pads), as MaxPool's Indices output gives
// them; an explicit larger output_shape keeps each element at the same (n, c, d...) position.
Status ref_MaxUnpool(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  std::memset(y.raw(), 0, y.nbytes());
  const size_t rank = static_cast<size_t>(x.rank()) - 2;
  const Shape k = ctx.node.attr_ints("kernel_shape");
  const Shape strides = ctx.node.attr_ints("strides", Shape(rank, 1));
  const Shape pads = ctx.node.attr_ints("pads", Shape(2 * rank, 0));
  Shape def = {x.dim(0), x.dim(1)};
  for (size_t i = 0; i < rank; ++i)
    def.push_back((x.dim(2 + i) - 1) * strides[i] + k[i] - pads[i] - pads[i + rank]);
  const int64_t total = shape_numel(def);
  const int64_t* pi = ind.data<int64_t>();
  std::vector<int64_t> dst(static_cast<size_t>(x.numel()));
  for (int64_t j = 0; j < x.numel(); ++j) {
    if (pi[j] < 0 || pi[j] >= total)
      return ctx.fail("index {} at position {} is outside the unpooled tensor {}", pi[j], j,
                      shape_str(def));
    int64_t rem = pi[j], off = 0, stride = 1;
    bool inside = true;
    for (size_t d = def.size(); d-- > 0;) {
      const int64_t c = rem % def[d];
      rem /= def[d];
      inside = inside && c < y.dim(static_cast<int64_t>(d));
      off += c * stride;
      stride *= y.dim(static_cast<int64_t>(d));
    }
    dst[j] = inside ? off : -1;  // outside a smaller explicit output: dropped
  }
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t j = 0; j < x.numel(); ++j)
      if (dst[j] >= 0) py[dst[j]] = px[j];
    return Status::ok();
  });
}

}  // namespace condense
