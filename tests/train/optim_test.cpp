// Optimizers: trajectories against torch.optim (fixture), the state round trip, the parallel
// path, and bad input.
#include <condense/npy.h>
#include <condense/optim.h>
#include <omp.h>

#include <filesystem>

#include "fixture.h"

using namespace condense;
using condense::test::Arrays;

namespace {

train::OptimizerOptions options_from(const nlohmann::json& c) {
  train::OptimizerOptions o;
  o.kind = *train::parse_optimizer_kind(c.at("kind").get<std::string>());
  o.lr = c.at("lr");
  o.momentum = c.value("momentum", 0.0);
  o.dampening = c.value("dampening", 0.0);
  o.nesterov = c.value("nesterov", false);
  o.beta1 = c.value("beta1", 0.9);
  o.beta2 = c.value("beta2", 0.999);
  o.eps = c.value("eps", 1e-8);
  o.amsgrad = c.value("amsgrad", false);
  if (c.contains("weight_decay")) o.weight_decay = c.at("weight_decay").get<double>();
  return o;
}

// One fixture case: its parameters (fresh copies of the initial values), per-step gradients,
// learning rates, momenta and expected parameters.
struct Case {
  std::string name;
  nlohmann::json json;
  std::vector<train::Parameter> params;
  int64_t steps = 0;

  Case(const Arrays& a, const nlohmann::json& c) : name(c.at("name")), json(c) {
    steps = c.at("steps");
    std::vector<int> no_decay = c.value("no_decay", std::vector<int>{});
    for (int i = 0; i < c.at("params").get<int>(); ++i) {
      bool decay = std::find(no_decay.begin(), no_decay.end(), i) == no_decay.end();
      params.push_back({fmt::format("p{}", i), a.at(key(i, "init")).clone(), decay});
    }
  }
  std::string key(size_t i, const char* what) const {
    return fmt::format("{}.p{}.{}", name, i, what);
  }
  std::vector<Tensor> grads(const Arrays& a, int64_t step) const {
    std::vector<Tensor> g;
    const Tensor& skip = a.at(name + ".skip");
    for (size_t i = 0; i < params.size(); ++i)
      g.push_back(skip.get_i64(step * static_cast<int64_t>(params.size()) + i) != 0
                      ? Tensor()
                      : test::slice0(a.at(key(i, "grad")), step));
    return g;
  }
  // Sets the step's lr and momentum, then steps.
  Status step(const Arrays& a, train::Optimizer& opt, int64_t step) const {
    opt.set_lr(a.at(name + ".lr").get_f64(step));
    if (a.has(name + ".momentum")) opt.set_momentum(a.at(name + ".momentum").get_f64(step));
    return opt.step(grads(a, step));
  }
  ::testing::AssertionResult matches(const Arrays& a, const train::Optimizer& opt,
                                     int64_t step) const {
    for (size_t i = 0; i < params.size(); ++i) {
      auto r =
          test::near(opt.params()[i].value, test::slice0(a.at(key(i, "after")), step), 1e-6, 1e-7);
      if (!r) return r << " (parameter " << i << ", after step " << step + 1 << ")";
    }
    return ::testing::AssertionSuccess();
  }
};

}  // namespace

TEST(Optimizer, MatchesPyTorchTrajectories) {
  Arrays a("optimizers.npz");
  const nlohmann::json cases = test::fixture_cases("optimizers");
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    Case k(a, c);
    SCOPED_TRACE(k.name);
    auto opt = train::Optimizer::create(options_from(c), k.params);
    ASSERT_TRUE(opt) << opt.status().message();
    for (int64_t s = 0; s < k.steps; ++s) {
      ASSERT_TRUE(k.step(a, **opt, s));
      ASSERT_TRUE(k.matches(a, **opt, s));
    }
  }
}

// The parameters are updated in place: the caller's tensors (and so the graph's initializers)
// see the new values.
TEST(Optimizer, UpdatesInPlace) {
  Tensor p = Tensor::from_vector<float>({1, 2, 3}, {3});
  auto opt = train::Optimizer::create({.lr = 0.5}, {{"w", p}});
  ASSERT_TRUE(opt);
  ASSERT_TRUE((*opt)->step({Tensor::from_vector<float>({1, 1, -2}, {3})}));
  EXPECT_EQ(p.to_f32_vector(), (std::vector<float>{0.5f, 1.5f, 4.0f}));
}

// Parameters large enough for the OpenMP path: the fixture's values tiled, so every tile must
// follow PyTorch's trajectory, with one thread and with two, bit-identically.
TEST(Optimizer, ParallelPathMatchesPyTorch) {
  Arrays a("optimizers.npz");
  const int64_t tiles = 9000;  // 12-element parameter -> 108,000 elements
  for (const auto& c : test::fixture_cases("optimizers")) {
    const std::string name = c.at("name");
    if (name != "sgd_nesterov" && name != "adam_amsgrad" && name != "adamw") continue;
    SCOPED_TRACE(name);
    auto tile = [&](const Tensor& t) {
      Tensor out = Tensor::empty(DType::F32, {tiles, t.numel()});
      for (int64_t k = 0; k < tiles; ++k)
        std::memcpy(out.data<float>() + k * t.numel(), t.data<float>(), t.nbytes());
      return out;
    };
    std::vector<Tensor> results;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      Tensor p = tile(a.at(name + ".p0.init"));
      auto opt = train::Optimizer::create(options_from(c), {{"p0", p}});
      ASSERT_TRUE(opt);
      const int64_t steps = c.at("steps");
      for (int64_t s = 0; s < steps; ++s) {
        (*opt)->set_lr(a.at(name + ".lr").get_f64(s));
        ASSERT_TRUE((*opt)->step({tile(test::slice0(a.at(name + ".p0.grad"), s))}));
      }
      EXPECT_TRUE(
          test::near(p, tile(test::slice0(a.at(name + ".p0.after"), steps - 1)), 1e-6, 1e-7));
      results.push_back(p);
    }
    EXPECT_TRUE(results[0].identical(results[1]));
  }
  omp_set_num_threads(omp_get_num_procs());
}

// Checkpoint/resume: the state saved after 2 steps (through an npz file), loaded into a fresh
// optimizer over the saved parameters, continues bit-identically to the uninterrupted run.
TEST(Optimizer, StateRoundTripsThroughNpz) {
  Arrays a("optimizers.npz");
  const std::string dir = ::testing::TempDir();
  for (const auto& c : test::fixture_cases("optimizers")) {
    Case k(a, c);
    SCOPED_TRACE(k.name);
    auto full = train::Optimizer::create(options_from(c), k.params);
    ASSERT_TRUE(full);
    Case k2(a, c);
    auto first = train::Optimizer::create(options_from(c), k2.params);
    ASSERT_TRUE(first);
    for (int64_t s = 0; s < 3; ++s) {
      ASSERT_TRUE(k.step(a, **full, s));
      ASSERT_TRUE(k2.step(a, **first, s));
    }
    std::vector<npy::NamedArray> saved = (*first)->state();
    for (const train::Parameter& p : k2.params) saved.push_back({p.name, p.value});
    const std::string path = dir + "/optim_state_" + k.name + ".npz";
    ASSERT_TRUE(npy::write_npz(path, saved));
    auto loaded = npy::read_npz(path);
    ASSERT_TRUE(loaded) << loaded.status().message();
    std::filesystem::remove(path);

    std::vector<train::Parameter> resumed_params;
    for (const train::Parameter& p : k2.params)
      for (const npy::NamedArray& arr : *loaded)
        if (arr.name == p.name) resumed_params.push_back({p.name, arr.tensor, p.weight_decay});
    ASSERT_EQ(resumed_params.size(), k2.params.size());
    auto resumed = train::Optimizer::create(options_from(c), resumed_params);
    ASSERT_TRUE(resumed);
    ASSERT_TRUE((*resumed)->load_state(*loaded)) << (*resumed)->load_state(*loaded).message();
    for (int64_t s = 3; s < k.steps; ++s) {
      ASSERT_TRUE(k.step(a, **full, s));
      ASSERT_TRUE(k.step(a, **resumed, s));
    }
    for (size_t i = 0; i < k.params.size(); ++i)
      EXPECT_TRUE((*resumed)->params()[i].value.identical((*full)->params()[i].value)) << i;
    EXPECT_TRUE(k.matches(a, **resumed, k.steps - 1));
  }
}

TEST(Optimizer, StateNames) {
  Tensor p = Tensor::from_vector<float>({1, 2}, {2});
  auto adam = train::Optimizer::create({.kind = train::OptimizerKind::Adam, .amsgrad = true},
                                       {{"fc.weight", p}});
  ASSERT_TRUE(adam);
  ASSERT_TRUE((*adam)->step({Tensor::from_vector<float>({1, 1}, {2})}));
  std::vector<std::string> names;
  for (const auto& s : (*adam)->state()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "optimizer/fc.weight/step", "optimizer/fc.weight/exp_avg",
                       "optimizer/fc.weight/exp_avg_sq", "optimizer/fc.weight/max_exp_avg_sq"}));
  EXPECT_EQ((*adam)->state()[0].tensor.get_i64(0), 1);
}

TEST(Optimizer, LoadStateRejectsMismatches) {
  Tensor p = Tensor::from_vector<float>({1, 2}, {2});
  Tensor g = Tensor::from_vector<float>({1, 1}, {2});
  auto sgd = train::Optimizer::create({.momentum = 0.9}, {{"w", p.clone()}});
  auto adam = train::Optimizer::create({.kind = train::OptimizerKind::Adam}, {{"w", p.clone()}});
  ASSERT_TRUE(sgd && adam);
  ASSERT_TRUE((*sgd)->step({g}));
  ASSERT_TRUE((*adam)->step({g}));
  const std::vector<npy::NamedArray> adam_state = (*adam)->state();
  auto expect_error = [](train::Optimizer& opt, const std::vector<npy::NamedArray>& state,
                         const std::string& fragment) {
    Status s = opt.load_state(state);
    ASSERT_FALSE(s) << fragment;
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  };
  expect_error(**adam, (*sgd)->state(), "'optimizer/w/momentum_buffer' is not used by this adam");
  expect_error(**sgd, (*adam)->state(), "'optimizer/w/step' is not used by this sgd");
  auto other = train::Optimizer::create({.momentum = 0.9}, {{"v", p.clone()}});
  ASSERT_TRUE(other);
  expect_error(**other, (*sgd)->state(), "names no parameter of this run");
  std::vector<npy::NamedArray> wrong_shape = {
      {"optimizer/w/momentum_buffer", Tensor::zeros(DType::F32, {3})}};
  expect_error(**sgd, wrong_shape, "is f32[3], expected f32[2]");
  std::vector<npy::NamedArray> no_moments = {{"optimizer/w/step", Tensor::scalar<int64_t>(4)}};
  expect_error(**adam, no_moments, "'optimizer/w/exp_avg_sq' is missing at step 4");
  expect_error(**adam, {}, "has no 'optimizer/w/step'");
  // A failed load keeps the state it had.
  const std::vector<npy::NamedArray> after = (*adam)->state();
  ASSERT_EQ(after.size(), adam_state.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].name, adam_state[i].name);
    EXPECT_TRUE(after[i].tensor.identical(adam_state[i].tensor)) << after[i].name;
  }
  // Names outside "optimizer/" are ignored (a checkpoint holds the weights too).
  std::vector<npy::NamedArray> with_weights = adam_state;
  with_weights.push_back({"w", p});
  EXPECT_TRUE((*adam)->load_state(with_weights));
}

TEST(Optimizer, BadOptionsAndGradientsAreErrors) {
  Tensor p = Tensor::from_vector<float>({1, 2}, {2});
  auto expect_error = [&](const train::OptimizerOptions& o, const std::string& fragment) {
    auto opt = train::Optimizer::create(o, {{"w", p}});
    ASSERT_FALSE(opt) << fragment;
    EXPECT_NE(opt.status().message().find(fragment), std::string::npos) << opt.status().message();
  };
  expect_error({.nesterov = true}, "nesterov needs momentum > 0 and dampening 0");
  expect_error({.momentum = 0.9, .dampening = 0.1, .nesterov = true}, "nesterov needs");
  expect_error({.lr = -1}, "lr must be >= 0 (got -1)");
  expect_error({.kind = train::OptimizerKind::Adam, .beta1 = 1}, "beta1 must be in [0, 1)");
  expect_error({.kind = train::OptimizerKind::AdamW, .beta2 = -0.1}, "beta2 must be in [0, 1)");
  expect_error({.weight_decay = -1}, "weight decay must be >= 0");

  auto dup = train::Optimizer::create({}, {{"w", p}, {"w", p.clone()}});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.status().message().find("'w' is listed twice"), std::string::npos);
  auto f16 = train::Optimizer::create({}, {{"h", Tensor::zeros(DType::F16, {2})}});
  ASSERT_FALSE(f16);
  EXPECT_NE(f16.status().message().find("must be a defined f32 tensor (got f16)"),
            std::string::npos);

  Tensor q = Tensor::from_vector<float>({5, 6, 7}, {3});
  auto opt = train::Optimizer::create({.lr = 1}, {{"w", p}, {"q", q}});
  ASSERT_TRUE(opt);
  Status s = (*opt)->step({Tensor::zeros(DType::F32, {2})});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("got 1 gradients for 2 parameters"), std::string::npos);
  // A bad gradient for the second parameter leaves the first one untouched too.
  s = (*opt)->step({Tensor::from_vector<float>({1, 1}, {2}), Tensor::zeros(DType::F32, {2})});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("gradient of 'q' is f32[2], the parameter is f32[3]"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(p.to_f32_vector(), (std::vector<float>{1, 2}));
  (*opt)->set_lr(std::nan(""));
  s = (*opt)->step({Tensor::zeros(DType::F32, {2}), Tensor::zeros(DType::F32, {3})});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("lr must be >= 0"), std::string::npos) << s.message();
}

TEST(Optimizer, DefaultsFollowPyTorch) {
  Tensor p = Tensor::zeros(DType::F32, {1});
  auto adamw = train::Optimizer::create({.kind = train::OptimizerKind::AdamW}, {{"w", p}});
  auto adam = train::Optimizer::create({.kind = train::OptimizerKind::Adam}, {{"w", p}});
  ASSERT_TRUE(adamw && adam);
  EXPECT_EQ((*adamw)->options().weight_decay, 0.01);
  EXPECT_EQ((*adam)->options().weight_decay, 0.0);
  EXPECT_EQ(train::parse_optimizer_kind("adamw").value(), train::OptimizerKind::AdamW);
  EXPECT_FALSE(train::parse_optimizer_kind("rmsprop"));
}
