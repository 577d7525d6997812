// Shared helpers for the real-model tests: data paths (skip when absent), tolerance comparison,
// running a dataset through a session.
#pragma once

#include <condense/data.h>
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

namespace model_test {

// Path under the shared data folder (CONDENSE_DATA_DIR, see ../shared/data/README.md).
inline std::string data_path(const std::string& rel) {
  return (std::filesystem::path(CONDENSE_DATA_DIR) / rel).string();
}

// Skips the calling test (a macro so GTEST_SKIP returns from the test body) when a file is absent.
#define CONDENSE_REQUIRE_DATA(path)                                                   \
  do {                                                                                \
    if (!std::filesystem::exists(path))                                               \
      GTEST_SKIP() << "test data not found: " << (path)                               \
                   << " (set -DCONDENSE_DATA_DIR=...; see ../shared/data/README.md)"; \
  } while (0)

struct Diff {
  double max_abs = 0;       // largest |actual - expected|
  double worst_excess = 0;  // largest |a - e| - (atol + rtol |e|); > 0 means out of tolerance
  int64_t worst_index = -1;
  int64_t mismatches = 0;
};

// Elementwise |a - e| <= atol + rtol * |e| over f32 tensors of equal shape (NaN must match NaN).
inline Diff compare(const condense::Tensor& actual, const condense::Tensor& expected, double rtol,
                    double atol) {
  Diff d;
  std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  for (size_t i = 0; i < a.size() && i < e.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    double diff = std::abs(double(a[i]) - double(e[i]));
    if (std::isnan(diff)) diff = INFINITY;
    d.max_abs = std::max(d.max_abs, diff);
    double excess = diff - (atol + rtol * std::abs(double(e[i])));
    if (excess > 0) ++d.mismatches;
    if (excess > d.worst_excess || d.worst_index < 0) {
      if (excess > d.worst_excess) d.worst_excess = excess;
      d.worst_index = static_cast<int64_t>(i);
    }
  }
  return d;
}

// Asserts actual ~ expected: same dtype and shape, all within tolerance; reports the worst element.
inline ::testing::AssertionResult all_close(const condense::Tensor& actual,
                                            const condense::Tensor& expected, double rtol,
                                            double atol) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape())
    return ::testing::AssertionFailure()
           << "got " << condense::dtype_name(actual.dtype()) << condense::shape_str(actual.shape())
           << ", expected " << condense::dtype_name(expected.dtype())
           << condense::shape_str(expected.shape());
  Diff d = compare(actual, expected, rtol, atol);
  if (d.mismatches == 0) return ::testing::AssertionSuccess() << "max abs diff " << d.max_abs;
  return ::testing::AssertionFailure()
         << d.mismatches << " of " << actual.numel() << " elements out of tolerance (rtol " << rtol
         << ", atol " << atol << "); max abs diff " << d.max_abs << "; worst at flat index "
         << d.worst_index << ": got " << actual.get_f64(d.worst_index) << ", expected "
         << expected.get_f64(d.worst_index);
}

struct Accuracy {
  int64_t correct = 0;
  int64_t total = 0;
  double percent() const { return total ? 100.0 * double(correct) / double(total) : 0.0; }
};

// Top-1 accuracy of a classifier (one f32 input (N, ...), first output (N, classes)) over a
// dataset, in batches of `batch`. An error is returned as a failed Status.
inline condense::Result<Accuracy> top1(condense::Session& session,
                                       const condense::data::Dataset& ds, int64_t batch) {
  Accuracy acc;
  for (int64_t start = 0; start < ds.size(); start += batch) {
    CONDENSE_ASSIGN_OR_RETURN(condense::data::Batch b, ds.batch(start, batch));
    std::vector<condense::Tensor> in{b.x};
    CONDENSE_ASSIGN_OR_RETURN(std::vector<condense::Tensor> out, session.run(in));
    const condense::Tensor& logits = out.at(0);
    int64_t n = static_cast<int64_t>(b.labels.size());
    if (logits.dtype() != condense::DType::F32 || logits.numel() % n != 0)
      return condense::Status::errorf("unexpected classifier output {} {} for a batch of {}",
                                      condense::dtype_name(logits.dtype()),
                                      condense::shape_str(logits.shape()), n);
    int64_t k = logits.numel() / n;
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = std::max_element(p + i * k, p + (i + 1) * k) - (p + i * k);
      acc.correct += best == b.labels[i];
    }
    acc.total += n;
  }
  return acc;
}

}  // namespace model_test
