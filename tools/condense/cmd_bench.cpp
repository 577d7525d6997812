// condense bench model.onnx [--batch 64] [--threads 2] [--warmup 10] [--iterations N | --min-time
// 2s]
// [--input-shape name=1x3x32x32] [--json]: times Session::run on random inputs shaped by the model
// (a symbolic leading dimension becomes --batch) and prints latency and throughput.
#include <condense/session.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "commands.h"
#include "common.h"

namespace condense::cli {

namespace {

struct BenchArgs {
  std::string model;
  int64_t batch = 1;
  int threads = 0;
  int warmup = 10;
  int64_t iterations = 0;
  std::string min_time = "2s";
  std::vector<std::string> input_shapes;
  bool json = false, no_optimize = false, reference = false;
  uint32_t seed = 0;
};

// Uniform [-1, 1) for floats, [0, 4) for integers (safe as indices), random bools.
Tensor random_tensor(DType dt, const Shape& shape, std::mt19937& rng) {
  Tensor t = Tensor::empty(dt, shape);
  const int64_t n = t.numel();
  std::uniform_real_distribution<float> uf(-1.f, 1.f);
  switch (dt) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = uf(rng);
      break;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = uf(rng);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_half(uf(rng));
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_bf16(uf(rng));
      break;
    case DType::Bool:
      for (int64_t i = 0; i < n; ++i) t.data<bool>()[i] = rng() & 1;
      break;
    default: {  // integers: small non-negative values, byte by byte for every width
      std::memset(t.raw(), 0, t.nbytes());
      const size_t esize = std::max(1, dtype_bits(dt) / 8);
      auto* b = static_cast<uint8_t*>(t.raw());
      if (dt == DType::I4 || dt == DType::U4) {
        for (size_t i = 0; i < t.nbytes(); ++i)
          b[i] = static_cast<uint8_t>((rng() & 3) | ((rng() & 3) << 4));
      } else {
        for (int64_t i = 0; i < n; ++i)
          b[i * esize] = static_cast<uint8_t>(rng() & 3);  // little-endian
      }
    }
  }
  return t;
}

// Shapes for every input: --input-shape overrides, else declared dims with a symbolic leading
// dim set to the batch.
Result<std::vector<Shape>> input_shapes(const ir::Graph& g, const BenchArgs& a, std::string* hint) {
  std::map<std::string, Shape> overrides;
  for (const std::string& spec : a.input_shapes) {
    size_t eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    if (eq == std::string::npos) {
      if (g.inputs.size() != 1) {
        *hint = "write --input-shape <name>=1x3x32x32";
        return Status::errorf("--input-shape '{}' has no input name and the model has {} inputs",
                              spec, g.inputs.size());
      }
      name = g.inputs[0]->name;
    }
    bool found = false;
    for (const ir::Value* v : g.inputs) found |= v->name == name;
    if (!found) {
      std::string names;
      for (const ir::Value* v : g.inputs) names += (names.empty() ? "" : ", ") + v->name;
      *hint = fmt::format("the model's inputs are: {}", names);
      return Status::errorf("--input-shape: the model has no input named '{}'", name);
    }
    CONDENSE_ASSIGN_OR_RETURN(overrides[name],
                              parse_shape(spec.substr(eq == std::string::npos ? 0 : eq + 1)));
  }
  std::vector<Shape> shapes;
  for (const ir::Value* v : g.inputs) {
    if (overrides.count(v->name)) {
      shapes.push_back(overrides[v->name]);
      continue;
    }
    if (!v->has_shape) {
      *hint = fmt::format("give it with --input-shape {}=<d0>x<d1>...", v->name);
      return Status::errorf("input '{}' has no declared shape", v->name);
    }
    Shape s;
    for (size_t d = 0; d < v->dims.size(); ++d) {
      if (v->dims[d].is_static()) {
        s.push_back(v->dims[d].value);
      } else if (d == 0) {
        s.push_back(a.batch);
      } else {
        *hint = fmt::format("give its shape with --input-shape {}=...", v->name);
        return Status::errorf("input '{}' dimension {} ('{}') is symbolic and not the batch",
                              v->name, d, v->dims[d].symbol.empty() ? "?" : v->dims[d].symbol);
      }
    }
    shapes.push_back(std::move(s));
  }
  return shapes;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double pos = p * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

int run_bench(const BenchArgs& a) {
  if (a.batch < 1) return fail(Status::errorf("--batch must be at least 1 (got {})", a.batch));
  auto min_time = parse_duration(a.min_time);
  if (!min_time) return fail(min_time.status());
  std::string hint;
  auto g = load_model(a.model, &hint);
  if (!g) return fail(g.status(), hint);
  auto shapes = input_shapes(*g, a, &hint);
  if (!shapes) return fail(shapes.status(), hint);
  std::mt19937 rng(a.seed);
  std::vector<Tensor> inputs;
  std::vector<std::string> names;
  for (size_t i = 0; i < g->inputs.size(); ++i) {
    int64_t numel = 1;
    for (int64_t d : (*shapes)[i]) {
      if (d != 0 && numel > (int64_t{1} << 34) / d)
        return fail(Status::errorf("input '{}' shape {} is too large", g->inputs[i]->name,
                                   shape_str((*shapes)[i])));
      numel *= d;
    }
    inputs.push_back(random_tensor(g->inputs[i]->dtype, (*shapes)[i], rng));
    names.push_back(g->inputs[i]->name);
  }
  {
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < inputs.size(); ++i) feeds[names[i]] = inputs[i];
    if (Status s = check_feeds(*g, feeds); !s)
      return fail(s, "fix the shape given with --input-shape");
  }
  const int64_t items = inputs.empty() || inputs[0].rank() == 0 ? 1 : inputs[0].dim(0);

  SessionOptions opts;
  opts.threads = a.threads;
  opts.optimize = !a.no_optimize;
  opts.fast_kernels = !a.reference;
  auto session = Session::create(std::move(*g), opts);
  if (!session) return fail(session.status());
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < a.warmup; ++i) {
    auto r = (*session)->run(inputs);
    if (!r) return fail(r.status());
  }
  std::vector<double> ms;
  const auto start = clock::now();
  for (int64_t i = 0;; ++i) {
    if (a.iterations > 0
            ? i >= a.iterations
            : (i > 0 && std::chrono::duration<double>(clock::now() - start).count() >= *min_time))
      break;
    auto t0 = clock::now();
    auto r = (*session)->run(inputs);
    auto t1 = clock::now();
    if (!r) return fail(r.status());
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  const double median = percentile(sorted, 0.5), p90 = percentile(sorted, 0.9);
  const double throughput = mean > 0 ? static_cast<double>(items) * 1000.0 / mean : 0;
  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["batch"] = items;
    j["threads"] = a.threads;
    j["iterations"] = ms.size();
    j["warmup"] = a.warmup;
    nlohmann::json in = nlohmann::json::array();
    for (size_t i = 0; i < inputs.size(); ++i)
      in.push_back({{"name", names[i]},
                    {"dtype", dtype_name(inputs[i].dtype())},
                    {"shape", inputs[i].shape()}});
    j["inputs"] = in;
    j["latency_ms"] = {{"min", sorted.front()},
                       {"median", median},
                       {"p90", p90},
                       {"mean", mean},
                       {"max", sorted.back()}};
    j["throughput_items_per_s"] = throughput;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model:      {}\n", a.model);
  for (size_t i = 0; i < inputs.size(); ++i)
    fmt::print("input:      {} {}{}\n", names[i], dtype_name(inputs[i].dtype()),
               shape_str(inputs[i].shape()));
  fmt::print("threads:    {}\n", a.threads == 0 ? std::string("all") : std::to_string(a.threads));
  fmt::print("iterations: {} (after {} warmup)\n", ms.size(), a.warmup);
  fmt::print("latency ms: min {:.3f}  median {:.3f}  p90 {:.3f}  mean {:.3f}\n", sorted.front(),
             median, p90, mean);
  fmt::print("throughput: {:.1f} items/s (batch {})\n", throughput, items);
  return 0;
}

}  // namespace

Command make_bench_command() {
  return {
      "bench", [](CLI::App& app) -> std::function<int()> {
        auto args = std::make_shared<BenchArgs>();
        auto* sub = app.add_subcommand("bench", "time a model on random inputs");
        sub->add_option("model", args->model, "input .onnx")->required();
        sub->add_option("--batch", args->batch, "value of a symbolic leading (batch) dimension");
        sub->add_option("--threads", args->threads, "threads (0: every core)")
            ->check(CLI::NonNegativeNumber);
        sub->add_option("--warmup", args->warmup, "untimed runs first")
            ->check(CLI::NonNegativeNumber);
        auto* it = sub->add_option("--iterations", args->iterations,
                                   "timed runs (default: as many as --min-time allows)")
                       ->check(CLI::PositiveNumber);
        sub->add_option("--min-time", args->min_time, "time to spend on timed runs: 2s, 500ms")
            ->excludes(it);
        sub->add_option("--input-shape", args->input_shapes, "name=1x3x32x32: an input's shape");
        sub->add_option("--seed", args->seed, "random input seed");
        sub->add_flag("--no-optimize", args->no_optimize, "skip the graph passes at load");
        sub->add_flag("--reference", args->reference, "reference kernels only");
        sub->add_flag("--json", args->json, "print the results as JSON");
        return [args] { return run_bench(*args); };
      }};
}

}  // namespace condense::cli
