// Test helpers: the PyTorch reference values written by make_loss_fixture.py (committed under
// tests/train/data), and tolerant comparisons that print the failing element.
#pragma once

#include <condense/npy.h>
#include <condense/tensor.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace condense::test {

inline std::string fixture_path(const std::string& file) {
  return std::string(CONDENSE_TRAIN_FIXTURES) + "/" + file;
}

// fixtures.json: the cases; fails the calling test when it is missing (it is committed).
inline nlohmann::json fixture_cases(const std::string& section) {
  std::ifstream in(fixture_path("fixtures.json"));
  EXPECT_TRUE(in.good()) << "missing " << fixture_path("fixtures.json")
                         << ": run tests/train/make_loss_fixture.py";
  if (!in.good()) return nlohmann::json::array();
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str()).at(section);
}

class Arrays {
 public:
  explicit Arrays(const std::string& file) {
    auto arrays = npy::read_npz(fixture_path(file));
    EXPECT_TRUE(arrays) << arrays.status().message();
    if (!arrays) return;
    for (npy::NamedArray& a : *arrays) map_[a.name] = a.tensor;
  }
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  const Tensor& at(const std::string& name) const {
    auto it = map_.find(name);
    CONDENSE_CHECK_MSG(it != map_.end(), name.c_str());
    return it->second;
  }
  size_t size() const { return map_.size(); }

 private:
  std::map<std::string, Tensor> map_;
};

// Element i of a (steps, ...) array as a tensor of the trailing shape (a copy).
inline Tensor slice0(const Tensor& t, int64_t i) {
  Shape inner(t.shape().begin() + 1, t.shape().end());
  Tensor out = Tensor::empty(t.dtype(), inner);
  const size_t bytes = out.nbytes();
  std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + i * bytes, bytes);
  return out;
}

// |got - want| <= rel * |want| + abs for every element, same shape.
inline ::testing::AssertionResult near(const Tensor& got, const Tensor& want, double rel,
                                       double abs = 0) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure()
           << "shape " << shape_str(got.shape()) << ", expected " << shape_str(want.shape());
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.get_f64(i), w = want.get_f64(i);
    if (!(std::fabs(g - w) <= rel * std::fabs(w) + abs))
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << g << ", expected " << w << " (relative error "
             << std::fabs(g - w) / std::fabs(w) << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace condense::test
