// Reference kernels for SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss.
//
// Layout: scores/input (N, C, d1, ..., dk) viewed as [N, C, D] (D = prod d_i); labels (N, D).
// Per element loss = -logp[n, label, d] * w[label], 0 where label == ignore_index. Reduction
// "none" keeps (N, d1..dk), "sum" adds, "mean" divides the sum by the total weight of the
// non-ignored elements (their count without weights).
#include <cmath>

#include "core/dispatch.h"
#include "kernels/kernel.h"

namespace condense {

namespace {

// logp: (N, C, D) log-probabilities in double.
Status nll_from_logp(KernelCtx& ctx, const std::vector<double>& logp, int64_t N, int64_t C,
                     int64_t D) {
  const Tensor& labels = ctx.in(1);
  const bool weighted = ctx.has_input(2);
  const Tensor* w = weighted ? &ctx.in(2) : nullptr;
  if (weighted && w->numel() != C) return ctx.fail("weights must have C = {} elements", C);
  const ir::Attribute* ii = ctx.node.attr("ignore_index");
  const bool has_ignore = ii != nullptr;
  const int64_t ignore = has_ignore ? ii->i : 0;
  const std::string red = ctx.node.attr_string("reduction", "mean");
  std::vector<double> loss(N * D);
  double wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t t = labels.get_i64(n * D + d);
      if (has_ignore && t == ignore) {
        loss[n * D + d] = 0;
        continue;
      }
      if (t < 0 || t >= C) return ctx.fail("label {} is out of range [0, {})", t, C);
      const double wt = weighted ? w->get_f64(t) : 1.0;
      loss[n * D + d] = -logp[(n * C + t) * D + d] * wt;
      wsum += wt;
    }
  Tensor& y = ctx.out(0);
  if (red == "none") {
    return visit_dtype(y.dtype(), [&]<typename T>() -> Status {
      if constexpr (!std::is_floating_point_v<compute_t<T>>) {
        return ctx.fail("output must be a float type");
      } else {
        for (int64_t i = 0; i < N * D; ++i) y.data<T>()[i] = convert<T>(loss[i]);
        return Status::ok();
      }
    });
  }
  double total = 0;
  for (double l : loss) total += l;
  if (red == "mean") total /= wsum;
  return visit_dtype(y.dtype(), [&]<typename T>() -> Status {
    if constexpr (!std::is_floating_point_v<compute_t<T>>) {
      return ctx.fail("output must be a float type");
    } else {
      y.data<T>()[0] = convert<T>(total);
      return Status::ok();
    }
  });
}

Status loss_dims(KernelCtx& ctx, int64_t& N, int64_t& C, int64_t& D) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) return ctx.fail("input must have rank >= 2");
  N = x.dim(0), C = x.dim(1);
  D = 1;
  for (int64_t k = 2; k < x.rank(); ++k) D *= x.dim(k);
  if (ctx.in(1).numel() != N * D) return ctx.fail("labels must have N*D = {} elements", N * D);
  return Status::ok();
}

}  // namespace

Status ref_NegativeLogLikelihoodLoss(KernelCtx& ctx) {
  int64_t N, C, D;
  CONDENSE_TRY(loss_dims(ctx, N, C, D));
  const Tensor& x = ctx.in(0);
  std::vector<double> logp(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) logp[i] = x.get_f64(i);
  return nll_from_logp(ctx, logp, N, C, D);
}

// log_prob = LogSoftmax(scores, axis 1), computed with max subtraction.
Status ref_SoftmaxCrossEntropyLoss(KernelCtx& ctx) {
  int64_t N, C, D;
  CONDENSE_TRY(loss_dims(ctx, N, C, D));
  const Tensor& x = ctx.in(0);
  std::vector<double> logp(x.numel());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      double m = -INFINITY;
      for (int64_t c = 0; c < C; ++c) m = std::max(m, x.get_f64((n * C + c) * D + d));
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(x.get_f64((n * C + c) * D + d) - m);
      const double lse = m + std::log(s);
      for (int64_t c = 0; c < C; ++c)
        logp[(n * C + c) * D + d] = x.get_f64((n * C + c) * D + d) - lse;
    }
  if (ctx.outputs.size() > 1 && ctx.out(1).defined()) {
    Tensor& lp = ctx.out(1);
    CONDENSE_TRY(visit_dtype(lp.dtype(), [&]<typename T>() -> Status {
      if constexpr (!std::is_floating_point_v<compute_t<T>>) {
        return ctx.fail("log_prob must be a float type");
      } else {
        for (int64_t i = 0; i < lp.numel(); ++i) lp.data<T>()[i] = convert<T>(logp[i]);
        return Status::ok();
      }
    }));
  }
  return nll_from_logp(ctx, logp, N, C, D);
}

}  // namespace condense
