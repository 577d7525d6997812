// Reference kernels for Reduce* and ArgMax/ArgMin.
//
// A reduction over a contiguous block of axes views the input as [outer, R, inner] (R = product
// of the reduced dims) and runs rows in parallel; other axis sets go through a general pass that
// maps every input element to its output slot with broadcast strides.
#include <cmath>
#include <limits>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/ref/broadcast.h"

namespace condense {

namespace {

enum class Red { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Accumulator: double for floating types, 64-bit for integers (wrapping, as the storage type
// would), int64 for bool (Max/Min only).
template <typename T>
using acc_t = std::conditional_t<
    std::is_floating_point_v<compute_t<T>>, double,
    std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>, uint64_t, int64_t>>;

template <typename A>
A wrap_add(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else
    return a + b;
}
template <typename A>
A wrap_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else
    return a * b;
}

template <typename T>
acc_t<T> red_init(Red op) {
  using A = acc_t<T>;
  switch (op) {
    case Red::Prod:
      return A(1);
    case Red::Max:
      if constexpr (std::is_floating_point_v<A>)
        return -std::numeric_limits<A>::infinity();
      else if constexpr (std::is_same_v<T, bool>)
        return A(0);
      else
        return static_cast<A>(std::numeric_limits<T>::lowest());
    case Red::Min:
      if constexpr (std::is_floating_point_v<A>)
        return std::numeric_limits<A>::infinity();
      else if constexpr (std::is_same_v<T, bool>)
        return A(1);
      else
        return static_cast<A>(std::numeric_limits<T>::max());
    default:
      return A(0);
  }
}

// Folds one element into an accumulator. `shift` is the row maximum for LogSumExp.
template <typename T>
inline acc_t<T> red_step(Red op, acc_t<T> acc, T raw, acc_t<T> shift) {
  using A = acc_t<T>;
  const A x = convert<A>(raw);
  switch (op) {
    case Red::Max:
      if constexpr (std::is_floating_point_v<A>)
        return (x > acc || std::isnan(x)) && !std::isnan(acc) ? x : acc;
      else
        return x > acc ? x : acc;
    case Red::Min:
      if constexpr (std::is_floating_point_v<A>)
        return (x < acc || std::isnan(x)) && !std::isnan(acc) ? x : acc;
      else
        return x < acc ? x : acc;
    case Red::Prod:
      return wrap_mul(acc, x);
    case Red::L1:
      if constexpr (std::is_signed_v<A>)
        return wrap_add(acc, x < 0 ? A(0) - x : x);
      else
        return wrap_add(acc, x);
    case Red::L2:
    case Red::SumSquare:
      return wrap_add(acc, wrap_mul(x, x));
    case Red::LogSumExp:
      if constexpr (std::is_floating_point_v<A>)
        return acc + std::exp(x - shift);
      else
        return acc + static_cast<A>(std::exp(static_cast<double>(x - shift)));
    default:
      return wrap_add(acc, x);
  }
}

// double -> T; for integer T a NaN becomes 0 and out-of-range values saturate (a plain cast
// would be undefined, e.g. ReduceLogSum of an all-zero integer row is log(0) = -inf).
template <typename T>
T from_double(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return convert<T>(v);
  }
}

template <typename T>
inline T red_final(Red op, acc_t<T> acc, int64_t count, acc_t<T> shift) {
  using A = acc_t<T>;
  switch (op) {
    case Red::Mean:
      if constexpr (std::is_integral_v<A>)
        return count == 0 ? T(0) : convert<T>(A(acc / static_cast<A>(count)));
      else
        return convert<T>(acc / static_cast<double>(count));
    case Red::L2:
      return from_double<T>(std::sqrt(static_cast<double>(acc)));
    case Red::LogSum:
      return from_double<T>(std::log(static_cast<double>(acc)));
    default:
      return convert<T>(acc);
  }
}

Red red_of(OpKind k) {
  switch (k) {
    case OpKind::ReduceSum:
      return Red::Sum;
    case OpKind::ReduceMean:
      return Red::Mean;
    case OpKind::ReduceMax:
      return Red::Max;
    case OpKind::ReduceMin:
      return Red::Min;
    case OpKind::ReduceProd:
      return Red::Prod;
    case OpKind::ReduceL1:
      return Red::L1;
    case OpKind::ReduceL2:
      return Red::L2;
    case OpKind::ReduceLogSum:
      return Red::LogSum;
    case OpKind::ReduceLogSumExp:
      return Red::LogSumExp;
    default:
      return Red::SumSquare;
  }
}

// [outer, R, inner] reduction. LogSumExp runs a Max pass first, then the shifted sum.
template <typename T>
void reduce_block(Red op, const T* x, T* y, int64_t outer, int64_t R, int64_t inner) {
  using A = acc_t<T>;
  const bool lse = op == Red::LogSumExp;
  if (inner == 1) {  // contiguous rows (e.g. the last axis): no per-row buffers
#pragma omp parallel for if (outer * R > 32768)
    for (int64_t o = 0; o < outer; ++o) {
      const T* xo = x + o * R;
      A shift = A(0);
      if (lse) {
        shift = red_init<T>(Red::Max);
        for (int64_t r = 0; r < R; ++r) shift = red_step<T>(Red::Max, shift, xo[r], A(0));
        if constexpr (std::is_floating_point_v<A>)
          if (!std::isfinite(shift)) shift = 0;
      }
      A a = red_init<T>(op);
      for (int64_t r = 0; r < R; ++r) a = red_step<T>(op, a, xo[r], shift);
      y[o] = lse ? convert<T>(std::log(static_cast<double>(a)) + static_cast<double>(shift))
                 : red_final<T>(op, a, R, shift);
    }
    return;
  }
#pragma omp parallel for if (outer * R * inner > 32768)
  for (int64_t o = 0; o < outer; ++o) {
    std::vector<A> acc(inner), shift(inner, A(0));
    const T* xo = x + o * R * inner;
    if (lse) {
      std::fill(shift.begin(), shift.end(), red_init<T>(Red::Max));
      for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < inner; ++j)
          shift[j] = red_step<T>(Red::Max, shift[j], xo[r * inner + j], A(0));
      for (A& s : shift)
        if constexpr (std::is_floating_point_v<A>)
          if (!std::isfinite(s)) s = 0;  // all -inf (or empty): log(0) = -inf; NaN stays NaN
    }
    std::fill(acc.begin(), acc.end(), red_init<T>(op));
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < inner; ++j)
        acc[j] = red_step<T>(op, acc[j], xo[r * inner + j], shift[j]);
    for (int64_t j = 0; j < inner; ++j) {
      if (lse) {
        y[o * inner + j] =
            convert<T>(std::log(static_cast<double>(acc[j])) + static_cast<double>(shift[j]));
      } else {
        y[o * inner + j] = red_final<T>(op, acc[j], R, shift[j]);
      }
    }
  }
}

// Any axis set: out_offset(i) comes from strides of the keepdims output shape (0 on reduced dims).
template <typename T>
void reduce_general(Red op, const Tensor& xt, T* y, const Shape& kept, int64_t R) {
  using A = acc_t<T>;
  const T* x = xt.data<T>();
  const int64_t n_out = shape_numel(kept);
  std::vector<A> acc(n_out, red_init<T>(op)), shift(n_out, A(0));
  if (op == Red::LogSumExp) {
    std::fill(shift.begin(), shift.end(), red_init<T>(Red::Max));
    for_each_broadcast<1>(xt.shape(), {&kept}, [&](int64_t i, const std::array<int64_t, 1>& o) {
      shift[o[0]] = red_step<T>(Red::Max, shift[o[0]], x[i], A(0));
    });
    for (A& s : shift)
      if constexpr (std::is_floating_point_v<A>)
        if (!std::isfinite(s)) s = 0;
  }
  for_each_broadcast<1>(xt.shape(), {&kept}, [&](int64_t i, const std::array<int64_t, 1>& o) {
    acc[o[0]] = red_step<T>(op, acc[o[0]], x[i], shift[o[0]]);
  });
  for (int64_t j = 0; j < n_out; ++j) {
    if (op == Red::LogSumExp)
      y[j] = convert<T>(std::log(static_cast<double>(acc[j])) + static_cast<double>(shift[j]));
    else
      y[j] = red_final<T>(op, acc[j], R, shift[j]);
  }
}

Status ref_reduce(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const Red op = red_of(ctx.node.op);
  const int64_t rank = x.rank();
  std::vector<bool> reduced(rank, false);
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) axes = ctx.in(1).to_i64_vector();
  if (axes.empty()) {
    if (ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
      if (y.nbytes() != x.nbytes()) return ctx.fail("internal: output size mismatch");
      if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
      return Status::ok();
    }
    std::fill(reduced.begin(), reduced.end(), true);
  }
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return ctx.fail("axis {} is out of range for rank {}", a, rank);
    reduced[a < 0 ? a + rank : a] = true;
  }
  Shape kept = x.shape();
  int64_t R = 1, first = -1, last = -1;
  for (int64_t d = 0; d < rank; ++d)
    if (reduced[d]) {
      R *= kept[d];
      kept[d] = 1;
      if (first < 0) first = d;
      last = d;
    }
  bool contiguous = true;
  for (int64_t d = first; d >= 0 && d <= last; ++d) contiguous = contiguous && reduced[d];
  if (shape_numel(kept) != y.numel()) return ctx.fail("internal: output size mismatch");
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if (first < 0) {  // rank 0: a copy
      std::memcpy(y.raw(), x.raw(), x.nbytes());
      return Status::ok();
    }
    if (contiguous) {
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < first; ++d) outer *= x.dim(d);
      for (int64_t d = last + 1; d < rank; ++d) inner *= x.dim(d);
      reduce_block<T>(op, x.data<T>(), y.data<T>(), outer, R, inner);
    } else {
      reduce_general<T>(op, x, y.data<T>(), kept, R);
    }
    return Status::ok();
  });
}

// ArgMax/ArgMin over [outer, n, inner]; ties pick the first index (last with
// select_last_index); a NaN counts as the extreme value, as in numpy.
template <bool kMax>
Status ref_arg(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < -rank || axis >= rank)
    return ctx.fail("axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  const int64_t n = x.dim(axis);
  if (n == 0) return ctx.fail("cannot take the arg of an empty axis");
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(d);
  int64_t* y = ctx.out(0).data<int64_t>();
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    using C = compute_t<T>;
    const T* px = x.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        const T* p = px + o * n * inner + j;
        C best = convert<C>(p[0]);
        int64_t bi = 0;
        for (int64_t r = 1; r < n; ++r) {
          const C v = convert<C>(p[r * inner]);
          bool take;
          if constexpr (std::is_floating_point_v<C>) {
            if (std::isnan(best))
              take = last && std::isnan(v);
            else if (std::isnan(v))
              take = true;
            else
              take = kMax ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
          } else {
            take = kMax ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
          }
          if (take) {
            best = v;
            bi = r;
          }
        }
        y[o * inner + j] = bi;
      }
    return Status::ok();
  });
}

}  // namespace

Status ref_ReduceSum(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceMean(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceMax(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceMin(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceProd(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceL1(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceL2(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceLogSum(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceLogSumExp(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ReduceSumSquare(KernelCtx& ctx) {
  return ref_reduce(ctx);
}
Status ref_ArgMax(KernelCtx& ctx) {
  return ref_arg<true>(ctx);
}
Status ref_ArgMin(KernelCtx& ctx) {
  return ref_arg<false>(ctx);
}

}  // namespace condense
