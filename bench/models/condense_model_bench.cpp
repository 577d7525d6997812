// condense_model_bench MODEL.onnx [--batch N] [--threads T] [--min-time S] [--warmup W]
//
// Times one model in condense's runtime the way bench/peers/{ort_bench.js,torch_bench.py} time it
// in the peers: Session::create once, `warmup` untimed runs, then timed runs until at least
// `min-time` seconds and 10 runs have passed (warmup: `warmup` runs and min-time / 4 seconds);
// prints one JSON object on stdout:
//   {"runtime": "condense", "median_ms": 1.23, "min_ms": ..., "iters": ..., "load_ms": ...}
// or {"runtime": "condense", "error": "..."} with exit code 1. Inputs are uniform [0, 1) floats
// from a fixed seed; a symbolic dimension takes the value of --batch (the first one) or 1 (others).
#include <condense/onnx.h>
#include <condense/session.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

int print_error(const std::string& message) {
  nlohmann::json j = {{"runtime", "condense"}, {"error", message}};
  std::printf("%s\n", j.dump().c_str());
  return 1;
}

// One input tensor per graph input: symbolic dims become `batch` for dim 0 and 1 elsewhere; a
// static dim 0 that differs from a requested batch > 1 is an error (the model's batch is fixed).
condense::Result<std::vector<condense::Tensor>> make_inputs(const condense::ir::Graph& g,
                                                            int64_t batch) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<condense::Tensor> inputs;
  for (const condense::ir::Value* v : g.inputs) {
    if (v->dtype != condense::DType::F32)
      return condense::Status::errorf("input '{}' is not float32", v->name);
    if (!v->has_shape) return condense::Status::errorf("input '{}' has no shape", v->name);
    condense::Shape shape;
    for (size_t i = 0; i < v->dims.size(); ++i) {
      const condense::ir::Dim& d = v->dims[i];
      if (d.is_static()) {
        if (i == 0 && batch > 1 && d.value != batch)
          return condense::Status::errorf("input '{}' has a fixed batch of {} (asked for {})",
                                          v->name, d.value, batch);
        shape.push_back(d.value);
      } else {
        shape.push_back(i == 0 ? batch : 1);
      }
    }
    condense::Tensor t = condense::Tensor::empty(condense::DType::F32, shape);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = uni(rng);
    inputs.push_back(std::move(t));
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int64_t batch = 1;
  int threads = 1;
  double min_time_s = 1.0;
  int warmup = 5;
  CLI::App app{"time one ONNX model in condense's runtime; prints JSON"};
  app.add_option("model", model, "model .onnx")->required();
  app.add_option("--batch", batch, "value of the symbolic batch dimension")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "runtime threads")->check(CLI::PositiveNumber);
  app.add_option("--min-time", min_time_s, "seconds of timed runs (at least 10 runs)");
  app.add_option("--warmup", warmup, "untimed runs first");
  CLI11_PARSE(app, argc, argv);

  auto t_load = Clock::now();
  auto graph = condense::onnx::import_file(model);
  if (!graph) return print_error(graph.status().message());
  auto inputs = make_inputs(*graph, batch);
  if (!inputs) return print_error(inputs.status().message());
  condense::SessionOptions options;
  options.threads = threads;
  auto session = condense::Session::create(std::move(*graph), options);
  if (!session) return print_error(session.status().message());
  double load_ms = ms_since(t_load);

  // Untimed: `warmup` runs and a quarter of min-time, as the peers' scripts do.
  auto t_warm = Clock::now();
  for (int i = 0; i < warmup || ms_since(t_warm) < 250.0 * min_time_s; ++i) {
    auto out = (*session)->run(*inputs);
    if (!out) return print_error(out.status().message());
  }
  std::vector<double> times_ms;
  auto t_all = Clock::now();
  while (times_ms.size() < 10 || ms_since(t_all) < min_time_s * 1000.0) {
    auto t0 = Clock::now();
    auto out = (*session)->run(*inputs);
    times_ms.push_back(ms_since(t0));
    if (!out) return print_error(out.status().message());
  }
  std::vector<double> sorted = times_ms;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  nlohmann::json j = {
      {"runtime", "condense"}, {"median_ms", median}, {"min_ms", sorted.front()}, {"iters", n},
      {"load_ms", load_ms},    {"batch", batch},      {"threads", threads}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
