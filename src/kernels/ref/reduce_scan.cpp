// Reference kernels for CumSum, CumProd, TopK and Einsum.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "ops/reduce_einsum.h"

namespace condense {

namespace {

// Integer arithmetic wraps (through unsigned) instead of overflowing into UB.
template <typename C>
C wrapping(C a, C b, bool mul) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    return static_cast<C>(mul ? static_cast<U>(a) * static_cast<U>(b)
                              : static_cast<U>(a) + static_cast<U>(b));
  } else {
    return mul ? a * b : a + b;
  }
}

// y[i] = x[0] (+|*) ... x[i] along `axis` (input 1); exclusive shifts by one, reverse runs from the
// end.
Status ref_cumulative(KernelCtx& ctx, bool mul) {
  const Tensor& x = ctx.in(0);
  const Tensor& at = ctx.in(1);
  if (at.numel() != 1) return ctx.fail("axis must be a scalar");
  const int64_t rank = x.rank();
  int64_t axis = at.get_i64(0);
  if (rank == 0 || axis < -rank || axis >= rank)
    return ctx.fail("axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  const bool exclusive = ctx.node.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.node.attr_int("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  const int64_t n = x.dim(axis);
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(d);
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      using C = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, T>;
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          C acc = mul ? C(1) : C(0);
          for (int64_t s = 0; s < n; ++s) {
            const int64_t r = reverse ? n - 1 - s : s;
            const int64_t off = (o * n + r) * inner + j;
            const C v = convert<C>(px[off]);
            if (exclusive) {
              py[off] = convert<T>(acc);
              acc = wrapping(acc, v, mul);
            } else {
              acc = wrapping(acc, v, mul);
              py[off] = convert<T>(acc);
            }
          }
        }
      return Status::ok();
    }
  });
}

}  // namespace

Status ref_CumSum(KernelCtx& ctx) {
  return ref_cumulative(ctx, false);
}
Status ref_CumProd(KernelCtx& ctx) {
  return ref_cumulative(ctx, true);
}

// TopK: the k largest (or smallest) along `axis`, sorted; equal values keep the lower index first.
// NaN ranks above every number (as the largest value), so the comparison stays a strict weak order.
Status ref_TopK(KernelCtx& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& kt = ctx.in(1);
  if (kt.numel() != 1) return ctx.fail("K must hold a single value");
  const int64_t rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (rank == 0 || axis < -rank || axis >= rank)
    return ctx.fail("axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  const int64_t n = x.dim(axis), k = kt.get_i64(0);
  if (k < 0 || k > n) return ctx.fail("K = {} is out of range for axis size {}", k, n);
  const bool largest = ctx.node.attr_int("largest", 1) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(d);
  int64_t* pi = ctx.out(1).data<int64_t>();
  return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      using C = compute_t<T>;
      const T* px = x.data<T>();
      T* pv = ctx.out(0).data<T>();
#pragma omp parallel for if (outer * inner * n > 65536)
      for (int64_t oi = 0; oi < outer * inner; ++oi) {
        const int64_t o = oi / inner, j = oi % inner;
        const T* row = px + o * n * inner + j;
        std::vector<C> v(n);
        for (int64_t r = 0; r < n; ++r) v[r] = convert<C>(row[r * inner]);
        std::vector<int64_t> idx(n);
        std::iota(idx.begin(), idx.end(), 0);
        auto before = [&v, largest](int64_t a, int64_t b) {
          const C va = v[a], vb = v[b];
          if constexpr (std::is_floating_point_v<C>) {
            const bool na = std::isnan(va), nb = std::isnan(vb);
            if (na || nb) {
              if (na && nb) return a < b;
              return largest ? na : nb;
            }
          }
          if (va != vb) return largest ? va > vb : va < vb;
          return a < b;
        };
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
        for (int64_t r = 0; r < k; ++r) {
          const int64_t off = (o * k + r) * inner + j;
          pv[off] = row[idx[r] * inner];
          pi[off] = idx[r];
        }
      }
      return Status::ok();
    }
  });
}

// Einsum by index loops: for each output position, sum over every contracted label of the
// product of the operands. A repeated label within one operand adds its strides (a diagonal);
// an ellipsis dim of size 1 broadcasts (stride 0).
Status ref_Einsum(KernelCtx& ctx) {
  const std::string eq = ctx.node.attr_string("equation", "");
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input {} is missing", i);
    shapes.push_back(ctx.in(i).shape());
  }
  auto plan_r = plan_einsum(eq, shapes);
  if (!plan_r) return ctx.fail("{}", plan_r.status().message());
  const EinsumPlan& plan = *plan_r;
  const size_t nops = shapes.size();
  std::vector<bool> in_out(plan.num_labels, false);
  for (int l : plan.output_labels) in_out[l] = true;
  std::vector<int> red_labels;
  for (int l = 0; l < plan.num_labels; ++l) {
    if (in_out[l]) continue;
    bool used = false;
    for (const auto& ls : plan.operand_labels)
      used = used || std::find(ls.begin(), ls.end(), l) != ls.end();
    if (used) red_labels.push_back(l);
  }
  // stride[k][l]: element stride of label l in operand k.
  std::vector<std::vector<int64_t>> stride(nops, std::vector<int64_t>(plan.num_labels, 0));
  for (size_t k = 0; k < nops; ++k) {
    int64_t s = 1;
    for (size_t d = shapes[k].size(); d-- > 0;) {
      const int l = plan.operand_labels[k][d];
      if (shapes[k][d] != 1 || plan.label_size[l] == 1) stride[k][l] += s;
      s *= shapes[k][d];
    }
  }
  auto sizes_of = [&](const std::vector<int>& ls) {
    Shape s;
    for (int l : ls) s.push_back(plan.label_size[l]);
    return s;
  };
  const Shape out_sizes = sizes_of(plan.output_labels), red_sizes = sizes_of(red_labels);
  const int64_t n_out = shape_numel(out_sizes), n_red = shape_numel(red_sizes);
  if (n_out != ctx.out(0).numel()) return ctx.fail("internal: output size mismatch");
  return visit_dtype(ctx.in(0).dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      using C = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double,
                                   std::conditional_t<std::is_unsigned_v<T>, uint64_t, int64_t>>;
      std::vector<const T*> src(nops);
      for (size_t k = 0; k < nops; ++k) src[k] = ctx.in(k).data<T>();
      T* py = ctx.out(0).data<T>();
#pragma omp parallel for if (n_out * n_red > 65536)
      for (int64_t oi = 0; oi < n_out; ++oi) {
        std::vector<int64_t> base(nops, 0);
        int64_t rem = oi;
        for (size_t p = out_sizes.size(); p-- > 0;) {
          const int64_t id = rem % out_sizes[p];
          rem /= out_sizes[p];
          for (size_t k = 0; k < nops; ++k) base[k] += id * stride[k][plan.output_labels[p]];
        }
        C acc = 0;
        std::vector<int64_t> ridx(red_sizes.size(), 0), off = base;
        for (int64_t ri = 0; ri < n_red; ++ri) {
          C prod = 1;
          for (size_t k = 0; k < nops; ++k) prod = wrapping(prod, convert<C>(src[k][off[k]]), true);
          acc = wrapping(acc, prod, false);
          for (size_t q = red_sizes.size(); q-- > 0;) {
            const int l = red_labels[q];
            ++ridx[q];
            for (size_t k = 0; k < nops; ++k) off[k] += stride[k][l];
            if (ridx[q] < red_sizes[q]) break;
            for (size_t k = 0; k < nops; ++k) off[k] -= stride[k][l] * ridx[q];
            ridx[q] = 0;
          }
        }
        py[oi] = convert<T>(acc);
      }
      return Status::ok();
    }
  });
}

}  // namespace condense
