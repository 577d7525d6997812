// Threshold searches over calibration histograms (the math behind the percentile, entropy and
// MSE observers), exposed for tests.
//
// Histograms: `signed_hist` has 2B bins over [-amax, amax] (bin b covers
// [-amax + b w, -amax + (b + 1) w), w = amax / B); `abs_hist` has B bins over [0, amax], the
// signed one folded at 0 (abs bin j = signed bins B + j and B - 1 - j). Thresholds are returned
// as a count of |x| bins i: the clipping threshold is T = i * w.
#pragma once

#include <condense/quant.h>

#include <span>
#include <vector>

namespace condense::quant {

std::vector<double> fold_histogram(std::span<const double> signed_hist);

// Smallest i such that bins [0, i) hold at least `percentile` % of the count (0 < p <= 100).
int64_t percentile_threshold_bins(std::span<const double> abs_hist, double percentile);

// TensorRT's entropy calibration: for i = levels .. B, P = abs_hist[0, i) with the count beyond
// bin i added to bin i - 1; Q = abs_hist[0, i) merged into `levels` groups of consecutive bins
// and expanded back, each group's count spread evenly over its non-empty bins; returns the i
// minimizing KL(P || Q) (the first one on ties; i where some P > 0 has Q = 0 never wins).
int64_t entropy_threshold_bins(std::span<const double> abs_hist, int64_t levels);

// Point masses: bins holding at least `min_fraction` of the count and at least `ratio` times
// each neighbour (a value repeated over and over, e.g. the background pixel of normalized
// MNIST, -0.4242). The entropy search leaves them out and keeps them inside the range: a spike
// merged with its neighbours outweighs everything else in KL(P || Q) and pins the threshold just
// past it, clipping the rest of the distribution.
std::vector<int64_t> find_point_masses(std::span<const double> abs_hist, double min_fraction = 0.01,
                                       double ratio = 8);

// The i minimizing the squared quantization error sum_b count_b (c_b - dq(q(c_b)))^2 over the
// signed histogram's bin centers c_b, quantizing with the scale and zero point of the range
// [max(min, -T), min(max, T)] into `r`.
int64_t mse_threshold_bins(std::span<const double> signed_hist, float amax, float min, float max,
                           IntRange r, bool symmetric);

// KL(P || Q) of two unnormalized histograms of equal length (normalized here); +inf when some
// P > 0 has Q = 0.
double kl_divergence(std::span<const double> p, std::span<const double> q);

}  // namespace condense::quant
