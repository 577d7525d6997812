// Percentile, entropy (KL divergence) and MSE threshold searches over calibration histograms.
#include "compress/quant/histogram.h"

#include <cmath>
#include <limits>
#include <numeric>

namespace condense::quant {

std::vector<double> fold_histogram(std::span<const double> signed_hist) {
  const size_t b = signed_hist.size() / 2;
  std::vector<double> abs_hist(b);
  for (size_t j = 0; j < b; ++j) abs_hist[j] = signed_hist[b + j] + signed_hist[b - 1 - j];
  return abs_hist;
}

int64_t percentile_threshold_bins(std::span<const double> abs_hist, double percentile) {
  const double total = std::accumulate(abs_hist.begin(), abs_hist.end(), 0.0);
  const int64_t n = static_cast<int64_t>(abs_hist.size());
  if (total <= 0) return n;
  const double target = percentile / 100.0 * total;
  double cum = 0;
  for (int64_t k = 0; k < n; ++k) {
    cum += abs_hist[k];
    // A relative slack so that p = 100 lands on the last non-empty bin despite rounding.
    if (cum >= target * (1 - 1e-12)) return k + 1;
  }
  return n;
}

double kl_divergence(std::span<const double> p, std::span<const double> q) {
  const double sp = std::accumulate(p.begin(), p.end(), 0.0);
  const double sq = std::accumulate(q.begin(), q.end(), 0.0);
  if (sp <= 0 || sq <= 0) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    if (p[k] <= 0) continue;
    if (q[k] <= 0) return std::numeric_limits<double>::infinity();
    const double pk = p[k] / sp, qk = q[k] / sq;
    kl += pk * std::log(pk / qk);
  }
  return kl;
}

int64_t entropy_threshold_bins(std::span<const double> abs_hist, int64_t levels) {
  const int64_t n = static_cast<int64_t>(abs_hist.size());
  if (n <= levels) return n;
  // suffix[i] = count in bins [i, n): the outliers clipped into bin i - 1.
  std::vector<double> suffix(n + 1, 0.0);
  for (int64_t k = n - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + abs_hist[k];
  std::vector<double> p, q;
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  for (int64_t i = levels; i <= n; ++i) {
    p.assign(abs_hist.begin(), abs_hist.begin() + i);
    p[i - 1] += suffix[i];
    q.assign(i, 0.0);
    for (int64_t j = 0; j < levels; ++j) {
      // Group j: bins [i j / levels, i (j + 1) / levels), at least one bin since i >= levels.
      const int64_t start = i * j / levels, stop = i * (j + 1) / levels;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t k = start; k < stop; ++k) {
        sum += abs_hist[k];
        nonzero += abs_hist[k] != 0;
      }
      if (nonzero == 0) continue;
      for (int64_t k = start; k < stop; ++k)
        if (abs_hist[k] != 0) q[k] = sum / double(nonzero);
    }
    const double kl = kl_divergence(p, q);
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return best_i;
}

std::vector<int64_t> find_point_masses(std::span<const double> abs_hist, double min_fraction,
                                       double ratio) {
  const double total = std::accumulate(abs_hist.begin(), abs_hist.end(), 0.0);
  std::vector<int64_t> out;
  const int64_t n = static_cast<int64_t>(abs_hist.size());
  for (int64_t k = 0; k < n; ++k) {
    const double left = k > 0 ? abs_hist[k - 1] : 0, right = k + 1 < n ? abs_hist[k + 1] : 0;
    if (abs_hist[k] > 0 && abs_hist[k] >= min_fraction * total &&
        abs_hist[k] >= ratio * std::max(left, right))
      out.push_back(k);
  }
  return out;
}

int64_t mse_threshold_bins(std::span<const double> signed_hist, float amax, float min, float max,
                           IntRange r, bool symmetric) {
  const int64_t b = static_cast<int64_t>(signed_hist.size() / 2);
  if (b == 0 || !(amax > 0)) return b;
  const double w = double(amax) / double(b);
  std::vector<std::pair<float, double>> occupied;  // (bin center, count)
  for (int64_t k = 0; k < 2 * b; ++k)
    if (signed_hist[k] > 0)
      occupied.push_back(
          {static_cast<float>(-double(amax) + (double(k) + 0.5) * w), signed_hist[k]});
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = b;
  for (int64_t i = 1; i <= b; ++i) {
    const float t = static_cast<float>(double(i) * w);
    const float lo = std::max(min, -t), hi = std::min(max, t);
    const ScaleZp sz = compute_scale_zp(std::min(lo, hi), std::max(lo, hi), r, symmetric);
    double err = 0;
    for (const auto& [c, count] : occupied) {
      const int32_t q = quantize_value(c, sz.scale, sz.zero_point, r);
      const double d = double(c) - double(q - sz.zero_point) * double(sz.scale);
      err += count * d * d;
    }
    if (err < best) {
      best = err;
      best_i = i;
    }
  }
  return best_i;
}

}  // namespace condense::quant
