// Calibration observers: min-max, moving-average min-max (one pass), and the histogram methods
// percentile, entropy and MSE (two passes: the range, then a fixed-range histogram). Each holds
// O(bins) memory whatever the number of batches.
#include <algorithm>
#include <cmath>
#include <limits>

#include "compress/quant/histogram.h"

namespace condense::quant {

namespace {

// Min and max of a batch; error on the first NaN or Inf.
Status batch_min_max(std::span<const float> x, float* lo, float* hi) {
  float a = std::numeric_limits<float>::max(), b = std::numeric_limits<float>::lowest();
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i];
    if (!std::isfinite(v))
      return Status::errorf("{} at element {} of {}", std::isnan(v) ? "NaN" : "Inf", i, x.size());
    a = std::min(a, v);
    b = std::max(b, v);
  }
  *lo = a;
  *hi = b;
  return Status::ok();
}

class MinMaxObserver final : public Observer {
 public:
  int passes() const override { return 1; }
  void begin_pass(int) override {}
  Status observe(std::span<const float> x) override {
    if (x.empty()) return Status::ok();
    float lo, hi;
    CONDENSE_TRY(batch_min_max(x, &lo, &hi));
    min_ = count_ ? std::min(min_, lo) : lo;
    max_ = count_ ? std::max(max_, hi) : hi;
    count_ += static_cast<int64_t>(x.size());
    return Status::ok();
  }
  Result<ObservedRange> finish() const override {
    if (count_ == 0) return Status::error("no values observed");
    return ObservedRange{min_, max_, min_, max_, count_};
  }
  size_t memory_bytes() const override { return sizeof(*this); }

 private:
  float min_ = 0, max_ = 0;
  int64_t count_ = 0;
};

// PyTorch's MovingAverageMinMaxObserver: the first batch sets the range, each later batch moves
// it by c * (batch - current). A batch's min and max gather over its pieces until end_batch().
class EmaObserver final : public Observer {
 public:
  explicit EmaObserver(double c) : c_(static_cast<float>(c)) {}
  int passes() const override { return 1; }
  void begin_pass(int) override {}
  Status observe(std::span<const float> x) override {
    if (x.empty()) return Status::ok();
    float lo, hi;
    CONDENSE_TRY(batch_min_max(x, &lo, &hi));
    batch_lo_ = in_batch_ ? std::min(batch_lo_, lo) : lo;
    batch_hi_ = in_batch_ ? std::max(batch_hi_, hi) : hi;
    in_batch_ = true;
    count_ += static_cast<int64_t>(x.size());
    return Status::ok();
  }
  void end_batch() override {
    if (!in_batch_) return;
    if (batches_ == 0) {
      ema_lo_ = min_ = batch_lo_;
      ema_hi_ = max_ = batch_hi_;
    } else {
      ema_lo_ = ema_lo_ + c_ * (batch_lo_ - ema_lo_);
      ema_hi_ = ema_hi_ + c_ * (batch_hi_ - ema_hi_);
      min_ = std::min(min_, batch_lo_);
      max_ = std::max(max_, batch_hi_);
    }
    ++batches_;
    in_batch_ = false;
  }
  Result<ObservedRange> finish() const override {
    if (count_ == 0) return Status::error("no values observed");
    if (in_batch_) return Status::error("internal: EMA observer finished inside a batch");
    return ObservedRange{min_, max_, ema_lo_, ema_hi_, count_};
  }
  size_t memory_bytes() const override { return sizeof(*this); }

 private:
  float c_;
  float ema_lo_ = 0, ema_hi_ = 0, min_ = 0, max_ = 0, batch_lo_ = 0, batch_hi_ = 0;
  bool in_batch_ = false;
  int64_t count_ = 0, batches_ = 0;
};

// Pass 0: min and max. Pass 1: a histogram of 2 * bins over [-amax, amax], amax = max(|min|,
// |max|), then the method's threshold T and the range [max(min, -T), min(max, T)].
class HistogramObserver final : public Observer {
 public:
  explicit HistogramObserver(const ObserverOptions& o) : o_(o) {}
  int passes() const override { return 2; }
  void begin_pass(int pass) override {
    pass_ = pass;
    if (pass == 1) {
      zeros_ = 0;
      amax_ = std::max(std::abs(min_), std::abs(max_));
      hist_.assign(static_cast<size_t>(2 * o_.bins), 0.0);
    }
  }
  Status observe(std::span<const float> x) override {
    if (x.empty()) return Status::ok();
    if (pass_ == 0) {
      float lo, hi;
      CONDENSE_TRY(batch_min_max(x, &lo, &hi));
      min_ = count_ ? std::min(min_, lo) : lo;
      max_ = count_ ? std::max(max_, hi) : hi;
      count_ += static_cast<int64_t>(x.size());
      return Status::ok();
    }
    if (!(amax_ > 0)) return Status::ok();  // all zero: nothing to bin
    const double bins2 = double(hist_.size());
    const double inv = double(o_.bins) / double(amax_);
    const int64_t last = static_cast<int64_t>(hist_.size()) - 1;
    for (size_t i = 0; i < x.size(); ++i) {
      const float v = x[i];
      if (!std::isfinite(v))
        return Status::errorf("{} at element {} of {}", std::isnan(v) ? "NaN" : "Inf", i, x.size());
      if (v == 0) {  // see zeros_
        ++zeros_;
        continue;
      }
      // Values beyond pass 0's range (a data set that changed between passes) clamp to the end.
      const double t = (double(v) + double(amax_)) * inv;
      const int64_t k = t <= 0 ? 0 : t >= bins2 ? last : static_cast<int64_t>(t);
      hist_[static_cast<size_t>(k)] += 1.0;
    }
    return Status::ok();
  }
  Result<ObservedRange> finish() const override {
    if (count_ == 0) return Status::error("no values observed");
    ObservedRange r{min_, max_, min_, max_, count_};
    if (!(amax_ > 0) || hist_.empty()) return r;
    const double w = double(amax_) / double(o_.bins);
    int64_t i = o_.bins;
    if (o_.method == Method::Percentile) {
      std::vector<double> abs_hist = fold_histogram(hist_);
      abs_hist[0] += double(zeros_);
      i = percentile_threshold_bins(abs_hist, o_.percentile);
    } else if (o_.method == Method::Entropy) {
      // Levels on each side of 0: half the grid for two-sided data or symmetric quantization,
      // the whole grid for non-negative data under an asymmetric scheme (zero point at the end).
      const IntRange q = quant_range(o_.dtype, o_.symmetric, false);
      const int64_t grid = int64_t{q.hi} - q.lo + 1;
      const bool one_sided = min_ >= 0 && !o_.symmetric;
      std::vector<double> abs_hist = fold_histogram(hist_);
      int64_t keep = 0;  // bins the range must keep: up to the last point mass
      for (int64_t k : find_point_masses(abs_hist)) {
        abs_hist[k] = 0;
        keep = k + 1;
      }
      i = std::max(keep, entropy_threshold_bins(abs_hist, one_sided ? grid : (grid + 1) / 2));
    } else if (o_.method == Method::Mse) {
      i = mse_threshold_bins(hist_, amax_, min_, max_, quant_range(o_.dtype, o_.symmetric, false),
                             o_.symmetric);
    }
    const float t = static_cast<float>(double(i) * w);
    r.lo = std::max(min_, -t);
    r.hi = std::min(max_, t);
    // T below the data of a one-sided range (all values > T): the range becomes [T, T], which
    // quantization widens to [0, T].
    r.lo = std::min(r.lo, r.hi);
    return r;
  }
  size_t memory_bytes() const override { return sizeof(*this) + hist_.capacity() * sizeof(double); }

 private:
  ObserverOptions o_;
  int pass_ = 0;
  float min_ = 0, max_ = 0, amax_ = 0;
  int64_t count_ = 0;
  // Exact zeros (half of a ReLU's outputs) are counted apart: every candidate range represents 0
  // exactly, so they say nothing about the clipping threshold, and in the entropy search their
  // spike, spread over the merged first bin, would outweigh everything else (pinning T where the
  // first group is still one bin wide). Percentile counts them; entropy and MSE leave them out.
  int64_t zeros_ = 0;
  std::vector<double> hist_;
};

}  // namespace

std::unique_ptr<Observer> make_observer(const ObserverOptions& options) {
  switch (options.method) {
    case Method::MinMax:
      return std::make_unique<MinMaxObserver>();
    case Method::Ema:
      return std::make_unique<EmaObserver>(options.ema_constant);
    case Method::Percentile:
    case Method::Entropy:
    case Method::Mse:
      break;
  }
  return std::make_unique<HistogramObserver>(options);
}

}  // namespace condense::quant
