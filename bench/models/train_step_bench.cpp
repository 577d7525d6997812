// condense_train_bench MODEL [--batch N] [--threads T] [--min-time S] [--reference] [--report]
//
// Times one training step (forward + backward, the graph autograd::build_training_graph makes
// from a zoo model with a mean cross-entropy loss on its logits) the way
// bench/peers/torch_train_bench.py times PyTorch's: warmup steps, then timed steps until
// `min-time` seconds and 10 steps have passed. Prints one JSON object:
//   {"runtime": "condense", "model": ..., "batch": ..., "median_ms": ..., "images_per_s": ...}
// The optimizer update is not included (neither side times one).
#include <condense/autograd.h>
#include <condense/session.h>
#include <condense/zoo.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
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
  bool reference = false, report = false;
  app.add_option("model", model, "zoo model name")->required();
  app.add_option("--batch", batch, "batch size");
  app.add_option("--threads", threads, "threads");
  app.add_option("--min-time", min_time, "seconds of timed steps");
  app.add_flag("--reference", reference, "reference kernels only");
  app.add_flag("--report", report, "print the kernel chosen for each op kind (stderr)");
  CLI11_PARSE(app, argc, argv);

  using namespace condense;
  zoo::ZooOptions zopts;
  zopts.seed = 1;
  auto g = zoo::build(model, zopts);
  if (!g) return print_error(g.status().message());
  ir::Value* logits = g->outputs[0];
  ir::Value* labels = g->add_input("labels", DType::I64, {ir::Dim::sym("N")});
  g->outputs = {
      g->add_node(OpKind::SoftmaxCrossEntropyLoss, {logits, labels}, 1, "loss")->outputs[0]};
  autograd::TrainingOptions opts;
  auto params = autograd::select_parameters(*g, ".*");
  if (!params) return print_error(params.status().message());
  opts.parameters = *params;
  const std::string input_name = g->inputs[0]->name;
  Shape in_shape = {batch};
  for (size_t i = 1; i < g->inputs[0]->dims.size(); ++i)
    in_shape.push_back(g->inputs[0]->dims[i].value);
  auto tg = autograd::build_training_graph(std::move(*g), "loss", opts);
  if (!tg) return print_error(tg.status().message());
  auto feeds = tg->feeds(tg->initial_inputs());
  std::mt19937 rng(7);
  Tensor x = Tensor::empty(DType::F32, in_shape);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = uni(rng);
  Tensor y = Tensor::empty(DType::I64, {batch});
  for (int64_t i = 0; i < batch; ++i) y.data<int64_t>()[i] = i % 10;
  feeds[input_name] = x;
  feeds["labels"] = y;
  auto s = Session::create(std::move(tg->graph), {.threads = threads, .fast_kernels = !reference});
  if (!s) return print_error(s.status().message());
  if (report) {
    std::map<std::string, int> counts;
    for (const NodeReport& r : (*s)->report()) ++counts[r.op + " " + r.kernel];
    for (const auto& [k, n] : counts) std::fprintf(stderr, "%4d  %s\n", n, k.c_str());
  }
  for (int i = 0; i < 3; ++i)
    if (auto r = (*s)->run(feeds); !r) return print_error(r.status().message());
  std::vector<double> times;
  const auto start = Clock::now();
  while (times.size() < 10 ||
         std::chrono::duration<double>(Clock::now() - start).count() < min_time) {
    const auto t0 = Clock::now();
    auto r = (*s)->run(feeds);
    if (!r) return print_error(r.status().message());
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
