// Calibration observers: ranges against PyTorch's observers and brute force, the threshold
// searches on hand-made histograms, and the memory bound (independent of the batch count).
#include <condense/quant.h>
#include <gtest/gtest.h>

#include <cmath>

#include "compress/quant/histogram.h"
#include "quant_test_util.h"

using namespace condense;
using namespace condense::quant;
using quant_test::Fixture;
using quant_test::slice0;

namespace {

// Streams every batch of x (batches, ...) through an observer (all of its passes).
ObservedRange observe_all(const Tensor& x, const ObserverOptions& o) {
  auto obs = make_observer(o);
  for (int pass = 0; pass < obs->passes(); ++pass) {
    obs->begin_pass(pass);
    for (int64_t b = 0; b < x.dim(0); ++b) {
      Tensor t = slice0(x, b);
      // In two pieces: a batch may arrive as micro-batches.
      const size_t half = static_cast<size_t>(t.numel() / 2);
      std::span<const float> all(t.data<float>(), t.numel());
      Status s = obs->observe(all.subspan(0, half));
      CONDENSE_CHECK_MSG(s.is_ok(), s.message().c_str());
      s = obs->observe(all.subspan(half));
      CONDENSE_CHECK_MSG(s.is_ok(), s.message().c_str());
      obs->end_batch();
    }
  }
  auto r = obs->finish();
  CONDENSE_CHECK_MSG(r.is_ok(), r.status().message().c_str());
  return *r;
}

// Mean squared error of uint8 fake quantization of every value of x with range [lo, hi].
double fake_quant_mse(const Tensor& x, float lo, float hi) {
  const IntRange r{0, 255};
  const ScaleZp s = compute_scale_zp(lo, hi, r, false);
  double sum = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    const double d =
        double(v) -
        double(quantize_value(v, s.scale, s.zero_point, r) - s.zero_point) * double(s.scale);
    sum += d * d;
  }
  return sum / double(x.numel());
}

}  // namespace

TEST(Observers, MinMaxAndEmaMatchPyTorch) {
  Fixture f("observers.npz");
  for (std::string kind : {"signed", "relu"}) {
    SCOPED_TRACE(kind);
    const Tensor& x = f.at(kind + ".x");
    ObservedRange mm = observe_all(x, {.method = Method::MinMax});
    EXPECT_EQ(mm.lo, f.at(kind + ".minmax").data<float>()[0]);
    EXPECT_EQ(mm.hi, f.at(kind + ".minmax").data<float>()[1]);
    EXPECT_EQ(mm.count, x.numel());
    ObservedRange ema = observe_all(x, {.method = Method::Ema, .ema_constant = 0.01});
    // PyTorch updates in f32 with the same formula: equal up to f32 rounding order.
    EXPECT_NEAR(ema.lo, f.at(kind + ".ema").data<float>()[0], 1e-6);
    EXPECT_NEAR(ema.hi, f.at(kind + ".ema").data<float>()[1], 1e-6);
    EXPECT_EQ(ema.min, mm.min);
    EXPECT_EQ(ema.max, mm.max);
  }
}

TEST(Observers, PercentileWithinOneBinOfTorchQuantile) {
  Fixture f("observers.npz");
  for (std::string kind : {"signed", "relu"}) {
    SCOPED_TRACE(kind);
    const Tensor& x = f.at(kind + ".x");
    ObservedRange r = observe_all(x, {.method = Method::Percentile, .percentile = 99.9});
    const double want = f.at(kind + ".percentile").get_f64(0);
    const double amax = std::max(std::abs(r.min), std::abs(r.max));
    const double bin = amax / 2048;
    EXPECT_NEAR(r.hi, want, bin * 1.01) << "amax " << amax;
    if (r.min < 0) {
      EXPECT_NEAR(r.lo, std::max<double>(r.min, -want), bin * 1.01);
    }
    EXPECT_LT(r.hi, r.max);  // the outlier is clipped
  }
}

TEST(Observers, MseWithinOnePercentOfBruteForce) {
  Fixture f("observers.npz");
  for (std::string kind : {"signed", "relu"}) {
    SCOPED_TRACE(kind);
    const Tensor& x = f.at(kind + ".x");
    ObservedRange r = observe_all(x, {.method = Method::Mse, .dtype = DType::U8});
    const double best_mse = f.at(kind + ".mse_best").get_f64(1);
    const double mine = fake_quant_mse(x, r.lo, r.hi);
    EXPECT_LE(mine, best_mse * 1.01)
        << "T " << r.hi << " vs brute force T " << f.at(kind + ".mse_best").get_f64(0);
    // ... and far better than min-max, which the outliers stretch.
    EXPECT_LT(mine, fake_quant_mse(x, r.min, r.max));
  }
}

TEST(Observers, EntropyMatchesIndependentImplementation) {
  Fixture f("observers.npz");
  const Tensor& h = f.at("entropy.hist");
  std::span<const double> hist(h.data<double>(), h.numel());
  EXPECT_EQ(entropy_threshold_bins(hist, 128), f.at("entropy.bins").get_i64(0));
}

TEST(Observers, EntropyHandComputed) {
  // 4 levels over 8 bins of a flat histogram: with i = 8 the groups are pairs of equal bins, so
  // Q = P and KL = 0; every i < 8 clips mass into bin i - 1 (KL > 0).
  std::vector<double> flat(8, 10.0);
  EXPECT_EQ(entropy_threshold_bins(flat, 4), 8);
  EXPECT_EQ(kl_divergence(flat, flat), 0.0);
  // A far outlier: 4 bins of mass then 3 empty bins and one count at the end. Keeping all 8 bins
  // merges the empty bins with the outlier; clipping at i = 4 keeps Q = P except the last bin.
  std::vector<double> outlier = {100, 80, 60, 40, 0, 0, 0, 1};
  const int64_t i = entropy_threshold_bins(outlier, 4);
  EXPECT_EQ(i, 4);
  // By hand for i = 4: P = (100, 80, 60, 41) / 281, Q = (100, 80, 60, 40) / 280.
  const double kl4 = [] {
    const double p[] = {100 / 281.0, 80 / 281.0, 60 / 281.0, 41 / 281.0};
    const double q[] = {100 / 280.0, 80 / 280.0, 60 / 280.0, 40 / 280.0};
    double s = 0;
    for (int k = 0; k < 4; ++k) s += p[k] * std::log(p[k] / q[k]);
    return s;
  }();
  std::vector<double> p = {100, 80, 60, 41}, q = {100, 80, 60, 40};
  EXPECT_NEAR(kl_divergence(p, q), kl4, 1e-15);
  // P > 0 where Q = 0: infinite.
  EXPECT_TRUE(std::isinf(kl_divergence(std::vector<double>{1, 1}, std::vector<double>{1, 0})));
}

TEST(Observers, PercentileHandComputed) {
  std::vector<double> h = {50, 30, 15, 4, 1};  // 100 values
  EXPECT_EQ(percentile_threshold_bins(h, 50), 1);
  EXPECT_EQ(percentile_threshold_bins(h, 80), 2);
  EXPECT_EQ(percentile_threshold_bins(h, 95), 3);
  EXPECT_EQ(percentile_threshold_bins(h, 99), 4);
  EXPECT_EQ(percentile_threshold_bins(h, 100), 5);
}

TEST(Observers, HistogramFoldsAroundZero) {
  // 2 x 3 bins over [-3, 3]: abs bin j = signed bins 3 + j and 2 - j.
  std::vector<double> s = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(fold_histogram(s), (std::vector<double>{3 + 4, 2 + 5, 1 + 6}));
}

TEST(Observers, ZeroSpikeDoesNotPinTheEntropyThreshold) {
  // ReLU outputs: half exact zeros. The threshold must follow the positive values (a
  // half-normal: about 4 sigma), not the spike.
  Tensor x = quant_test::random_tensor({20, 10000}, 1.0f, 11);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::max(x.data<float>()[i], 0.0f);
  ObservedRange r = observe_all(x, {.method = Method::Entropy, .dtype = DType::U8});
  EXPECT_GT(r.hi, 0.75 * r.max) << "max " << r.max;
  EXPECT_EQ(r.lo, 0.0f);
}

TEST(Observers, RejectNanAndInf) {
  for (Method m : {Method::MinMax, Method::Ema, Method::Entropy}) {
    auto obs = make_observer({.method = m});
    obs->begin_pass(0);
    std::vector<float> v = {1, 2, NAN};
    Status s = obs->observe(v);
    ASSERT_FALSE(s) << method_name(m);
    EXPECT_NE(s.message().find("NaN at element 2"), std::string::npos) << s.message();
  }
  auto obs = make_observer({.method = Method::MinMax});
  EXPECT_FALSE(obs->finish());  // nothing observed
}

TEST(Observers, MemoryDoesNotGrowWithBatches) {
  // The bound the calibration relies on: after 1 batch and after 200 the observer holds the
  // same bytes, at most tensors x bins.
  for (Method m : {Method::MinMax, Method::Ema, Method::Percentile, Method::Entropy, Method::Mse}) {
    SCOPED_TRACE(std::string(method_name(m)));
    ObserverOptions o{.method = m, .bins = 2048};
    auto obs = make_observer(o);
    Tensor batch = quant_test::random_tensor({4096}, 1.0f, 3);
    std::span<const float> v(batch.data<float>(), batch.numel());
    size_t after_one = 0;
    for (int pass = 0; pass < obs->passes(); ++pass) {
      obs->begin_pass(pass);
      for (int k = 0; k < 200; ++k) {
        ASSERT_TRUE(obs->observe(v));
        obs->end_batch();
        if (k == 0) after_one = obs->memory_bytes();
      }
      EXPECT_EQ(obs->memory_bytes(), after_one) << "pass " << pass;
    }
    EXPECT_LE(obs->memory_bytes(), 2 * 2048 * sizeof(double) + 1024);
  }
}

TEST(Observers, PointMassesStayInsideTheEntropyRange) {
  // Hand-made: a spike of 80% in bin 3 (8x both neighbours) is found; a 0.5% bin is not.
  std::vector<double> h = {5, 5, 4, 400, 6, 5, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.5};
  EXPECT_EQ(find_point_masses(h), (std::vector<int64_t>{3}));
  EXPECT_EQ(find_point_masses(h, 0.5), (std::vector<int64_t>{3}));
  EXPECT_TRUE(find_point_masses(h, 0.95).empty());  // 400 of 444
  // Normalized MNIST: 80% background pixels at -0.4242, strokes up to 2.82 (20% white). The
  // background spike must not pin the threshold at 0.4242 (clipping every stroke).
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  Tensor x = Tensor::empty(DType::F32, {20, 784});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float r = u(rng);
    const int pixel = r < 0.8f ? 0 : r < 0.9f ? 255 : static_cast<int>(u(rng) * 255);
    x.data<float>()[i] = (pixel / 255.0f - 0.1307f) / 0.3081f;
  }
  ObservedRange r = observe_all(x, {.method = Method::Entropy, .dtype = DType::U8});
  EXPECT_EQ(r.lo, r.min);
  EXPECT_EQ(r.hi, r.max);
}
