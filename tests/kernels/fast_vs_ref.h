// Test helper for fast kernels: builds a one-node graph, runs it with fast kernels and with
// reference kernels only, and compares every output, printing the case's configuration on a
// mismatch.
#pragma once

#include <condense/session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace condense::test {

inline Tensor random_tensor(Shape shape, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Runs both sessions twice on `feeds` (the second run goes through the primitive caches) and
// expects every output to agree to 1e-4 relative; `worst` (optional) gets the largest |diff|.
inline void run_and_compare(Session& fast, Session& ref, const std::vector<Tensor>& feeds,
                            double* worst = nullptr) {
  for (int rep = 0; rep < 2; ++rep) {
    auto yf = fast.run(feeds);
    auto yr = ref.run(feeds);
    ASSERT_TRUE(yf.is_ok()) << yf.status().message();
    ASSERT_TRUE(yr.is_ok()) << yr.status().message();
    ASSERT_EQ(yf->size(), yr->size());
    for (size_t o = 0; o < yf->size(); ++o) {
      const Tensor& a = (*yf)[o];
      const Tensor& b = (*yr)[o];
      ASSERT_EQ(a.shape(), b.shape()) << "output " << o;
      ASSERT_EQ(a.dtype(), b.dtype()) << "output " << o;
      for (int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.get_f64(i), y = b.get_f64(i);
        ASSERT_NEAR(x, y, 1e-4 + 1e-4 * std::abs(y)) << "output " << o << " element " << i;
        if (worst) *worst = std::max(*worst, std::abs(x - y));
      }
    }
  }
}

struct Case {
  OpKind op;
  std::string config;                          // printed on failure
  std::vector<std::pair<Shape, bool>> inputs;  // shape, constant
  std::map<std::string, ir::Attribute> attrs;
  int outputs = 1;
  std::vector<int> absent_outputs = {};  // output slots left empty (optional outputs not asked for)
  // Inputs whose values must be positive (variances): drawn from [0.1, 2] instead of [-1, 1].
  std::vector<size_t> positive_inputs = {};
};

// Runs the case with both kernel sets; expects the fast session's kernel to be a non-reference one
// when `expect_fast`, and exactly `kernel` when given ("ref" for nodes a factory must decline),
// and the outputs to agree to 1e-4 relative.
// `max_diff`, when given, receives the largest |fast - reference| over all outputs: a fast kernel
// that silently fell back to the reference at run time gives exactly 0.
inline void check(const Case& c, bool expect_fast = true, std::string_view kernel = {},
                  double* max_diff = nullptr) {
  SCOPED_TRACE(c.config);
  auto positive = [&](size_t i) {
    return std::find(c.positive_inputs.begin(), c.positive_inputs.end(), i) !=
           c.positive_inputs.end();
  };
  std::mt19937 rng(42);
  std::vector<Tensor> feeds;
  auto build = [&]() {
    ir::Graph g;
    std::vector<ir::Value*> ins;
    std::mt19937 r2(7);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const auto& [shape, is_const] = c.inputs[i];
      if (is_const) {
        Tensor t = positive(i) ? random_tensor(shape, r2, 0.1f, 2.f) : random_tensor(shape, r2);
        ins.push_back(g.add_constant(fmt::format("c{}", i), t));
      } else {
        ir::Dims d(shape.begin(), shape.end());
        ins.push_back(g.add_input(fmt::format("x{}", i), DType::F32, d));
      }
    }
    ir::Node* n = g.add_node(c.op, ins, c.outputs, "node");
    n->attrs = c.attrs;
    for (int o : c.absent_outputs) n->outputs[o] = nullptr;
    for (ir::Value* o : n->outputs)
      if (o) g.outputs.push_back(o);
    return g;
  };
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& [shape, is_const] = c.inputs[i];
    if (!is_const)
      feeds.push_back(positive(i) ? random_tensor(shape, rng, 0.1f, 2.f)
                                  : random_tensor(shape, rng));
  }
  auto fast = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = true});
  auto ref = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  if (expect_fast) {
    EXPECT_NE((*fast)->report()[0].kernel, "ref") << "expected a fast kernel";
  }
  if (!kernel.empty()) {
    EXPECT_EQ((*fast)->report()[0].kernel, kernel);
  }
  double worst = 0;
  run_and_compare(**fast, **ref, feeds, &worst);
  if (max_diff) *max_diff = worst;
}

inline ir::Attribute ints(std::vector<int64_t> v) {
  return ir::Attribute::of_ints(std::move(v));
}

}  // namespace condense::test
