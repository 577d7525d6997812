// condense_train_bench MODEL [--batch N] [--threads T] [--min-time S]
//
// Times one training step the way `condense train` runs it: train::Trainer::step, i.e. forward,
// mean cross-entropy on the logits, backward, the gradient-norm pass, and an SGD update with
// momentum 0.9, on a zoo model. bench/peers/torch_train_bench.py times the same step in PyTorch
// (forward, loss, backward, optimizer.step()). Warmup steps, then timed steps until `min-time`
// seconds and 10 steps have passed. Prints one JSON object:
//   {"runtime": "condense", "model": ..., "batch": ..., "median_ms": ..., "images_per_s": ...}
#include <condense/session.h>
#include <condense/trainer.h>
#include <condense/zoo.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

namespace {

using Clock = std::chrono::steady_clock;

int print_error(const std::string& message) {
  std::printf("%s\n", nlohmann::json({{"runtime", "condense"}, {"error", message}}).dump().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"condense training-step benchmark"};
  std::string model;
  int64_t batch = 128;
  int threads = 2;
  double min_time = 2.0;
  app.add_option("model", model, "zoo model name")->required();
  app.add_option("--batch", batch, "batch size");
  app.add_option("--threads", threads, "threads");
  app.add_option("--min-time", min_time, "seconds of timed steps");
  CLI11_PARSE(app, argc, argv);

  using namespace condense;
  zoo::ZooOptions zopts;
  zopts.seed = 1;
  auto g = zoo::build(model, zopts);
  if (!g) return print_error(g.status().message());
  Shape in_shape = {batch};
  for (size_t i = 1; i < g->inputs[0]->dims.size(); ++i)
    in_shape.push_back(g->inputs[0]->dims[i].value);
  train::TrainerOptions topts;
  topts.optimizer = {.kind = train::OptimizerKind::Sgd, .lr = 1e-4, .momentum = 0.9};
  topts.threads = threads;
  auto trainer = train::Trainer::create(std::move(*g), topts);
  if (!trainer) return print_error(trainer.status().message());
  std::mt19937 rng(7);
  data::Batch b;
  b.x = Tensor::empty(DType::F32, in_shape);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  for (int64_t i = 0; i < b.x.numel(); ++i) b.x.data<float>()[i] = uni(rng);
  b.y = Tensor::empty(DType::I64, {batch});
  for (int64_t i = 0; i < batch; ++i) b.y.data<int64_t>()[i] = i % 10;
  int64_t step = 0;
  auto run_step = [&]() -> Status {
    auto r = (*trainer)->step(b, step++);
    if (!r) return r.status();
    if (!r->finite) return Status::error("non-finite loss");
    return Status::ok();
  };
  for (int i = 0; i < 3; ++i)
    if (Status st = run_step(); !st) return print_error(st.message());
  std::vector<double> times;
  const auto start = Clock::now();
  while (times.size() < 10 ||
         std::chrono::duration<double>(Clock::now() - start).count() < min_time) {
    const auto t0 = Clock::now();
    if (Status st = run_step(); !st) return print_error(st.message());
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  nlohmann::json j = {{"runtime", "condense"}, {"model", model},
                      {"batch", batch},        {"threads", threads},
                      {"median_ms", median},   {"min_ms", times[0]},
                      {"steps", times.size()}, {"images_per_s", 1000.0 * batch / median}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
