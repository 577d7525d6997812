// The checker itself: it must catch a wrong gradient (a test that cannot fail proves nothing).
#include <gtest/gtest.h>

#include "grad_check.h"

namespace condense::test {
namespace {

// f(p) = sum(p^3): gradient 3 p^2.
Result<double> cubes(const std::vector<Tensor>& p) {
  double s = 0;
  for (int64_t i = 0; i < p[0].numel(); ++i) s += std::pow(p[0].get_f64(i), 3);
  return s;
}

TEST(GradChecker, AcceptsTheRightGradientAndCatchesAWrongOne) {
  std::mt19937 rng(1);
  Tensor p = uniform({10}, rng);
  Tensor good = Tensor::empty(DType::F64, {10});
  for (int64_t i = 0; i < 10; ++i) good.data<double>()[i] = 3 * std::pow(p.get_f64(i), 2);
  EXPECT_EQ(compare_with_finite_differences(cubes, {p}, {good}, 1e-6, 48, rng).mismatches, 0);
  Tensor bad = good.clone();
  bad.data<double>()[7] *= 1.001;
  const FdResult r = compare_with_finite_differences(cubes, {p}, {bad}, 1e-6, 48, rng);
  EXPECT_EQ(r.mismatches, 1);
  EXPECT_NE(r.first.find("element 7"), std::string::npos) << r.first;
}

TEST(GradChecker, RunsEveryElementThroughTheTrainingGraph) {
  // A case whose analytic side is right must pass, and its projection must reach every output
  // element: Mul by a parameter of zeros has a nonzero gradient for the other operand.
  std::mt19937 rng(2);
  GradCase c("Mul", OpKind::Mul);
  c.inputs = {param(uniform({3, 3}, rng)), param(Tensor::zeros(DType::F64, {3, 3}))};
  EXPECT_EQ(check_gradients(c), 0);
}

}  // namespace
}  // namespace condense::test
