// Gradient clipping against torch.nn.utils (fixture); non-finite norms; thread independence.
#include <condense/optim.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "fixture.h"

using namespace condense;
using condense::test::Arrays;

namespace {

std::vector<Tensor> grads_of(const Arrays& a, const std::string& c) {
  std::vector<Tensor> g;
  for (int i = 0; a.has(fmt::format("{}.grad{}", c, i)); ++i)
    g.push_back(a.at(fmt::format("{}.grad{}", c, i)).clone());
  return g;
}

}  // namespace

TEST(Clip, GradNormMatchesPyTorch) {
  Arrays a("clip.npz");
  for (const std::string c : {"norm_clips", "norm_keeps"}) {
    SCOPED_TRACE(c);
    std::vector<Tensor> g = grads_of(a, c);
    ASSERT_EQ(g.size(), 3u);
    auto norm = train::clip_grad_norm(g, a.at(c + ".max_norm").get_f64(0));
    ASSERT_TRUE(norm) << norm.status().message();
    const double want = a.at(c + ".norm").get_f64(0);
    EXPECT_NEAR(*norm, want, 1e-6 * want);
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_TRUE(test::near(g[i], a.at(fmt::format("{}.clipped{}", c, i)), 1e-6, 1e-8)) << i;
  }
}

TEST(Clip, ValueMatchesPyTorch) {
  Arrays a("clip.npz");
  std::vector<Tensor> g = grads_of(a, "value");
  ASSERT_TRUE(train::clip_grad_value(g, a.at("value.clip_value").get_f64(0)));
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_TRUE(g[i].identical(a.at(fmt::format("value.clipped{}", i)))) << i;
}

TEST(Clip, InfiniteMaxNormOnlyMeasures) {
  std::vector<Tensor> g = {Tensor::from_vector<float>({3, 4}, {2})};
  auto norm = train::clip_grad_norm(g, std::numeric_limits<double>::infinity());
  ASSERT_TRUE(norm);
  EXPECT_DOUBLE_EQ(*norm, 5);
  EXPECT_EQ(g[0].to_f32_vector(), (std::vector<float>{3, 4}));
  // Undefined gradients (parameters without one this step) are skipped.
  std::vector<Tensor> some = {Tensor(), Tensor::from_vector<float>({6, 8}, {2})};
  norm = train::clip_grad_norm(some, 5);
  ASSERT_TRUE(norm);
  EXPECT_DOUBLE_EQ(*norm, 10);
  EXPECT_NEAR(some[1].to_f32_vector()[0], 3, 1e-6);
}

TEST(Clip, NonFiniteNormNamesTheGradient) {
  std::vector<train::Parameter> params = {{"conv1.weight", Tensor::zeros(DType::F32, {2})},
                                          {"fc.bias", Tensor::zeros(DType::F32, {3})}};
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    std::vector<Tensor> g = {Tensor::from_vector<float>({100, 200}, {2}),
                             Tensor::from_vector<float>({1, bad, 2}, {3})};
    auto norm = train::clip_grad_norm(g, 1.0, params);
    ASSERT_FALSE(norm);
    EXPECT_NE(norm.status().message().find("the gradient norm is not finite: the gradient of "
                                           "'fc.bias' holds"),
              std::string::npos)
        << norm.status().message();
    EXPECT_EQ(g[0].to_f32_vector(), (std::vector<float>{100, 200}));  // left as it was
  }
  std::vector<Tensor> g = {Tensor::from_vector<float>({1, std::nanf("")}, {2})};
  auto norm = train::clip_grad_norm(g, 1.0);
  ASSERT_FALSE(norm);
  EXPECT_NE(norm.status().message().find("gradient of #0 holds nan"), std::string::npos)
      << norm.status().message();
}

TEST(Clip, BadArgumentsAreErrors) {
  std::vector<Tensor> g = {Tensor::from_vector<float>({1, 2}, {2})};
  EXPECT_FALSE(train::clip_grad_norm(g, 0));
  EXPECT_FALSE(train::clip_grad_norm(g, std::nan("")));
  EXPECT_FALSE(train::clip_grad_value(g, -1));
  std::vector<Tensor> f64 = {Tensor::zeros(DType::F64, {2})};
  auto r = train::clip_grad_norm(f64, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("gradient #0 is f64, expected f32"), std::string::npos);
}

// The block-wise f64 sum gives the same bits for any thread count.
TEST(Clip, NormDoesNotDependOnThreadCount) {
  std::vector<Tensor> g;
  for (int64_t n : {100003, 7, 40000}) {
    Tensor t = Tensor::empty(DType::F32, {n});
    for (int64_t i = 0; i < n; ++i)
      t.data<float>()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i + n)));
    g.push_back(t);
  }
  std::vector<double> norms;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    auto norm = train::clip_grad_norm(g, std::numeric_limits<double>::infinity());
    ASSERT_TRUE(norm);
    norms.push_back(*norm);
  }
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(norms[0], norms[1]);
  EXPECT_EQ(norms[0], norms[2]);
}
