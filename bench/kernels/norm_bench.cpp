// LayerNormalization and LRN: reference vs oneDNN kernels through a one-node
// Session (the per-call overhead counts too). Counter: GB/s of x read plus y written (the
// statistics are negligible), to hold against the machine's DRAM bandwidth.
#include <benchmark/benchmark.h>
#include <condense/session.h>

#include <random>

namespace condense {
namespace {

Tensor random_tensor(Shape shape, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void run_session(benchmark::State& state, ir::Graph g, const Tensor& x, bool fast) {
  auto s = Session::create(std::move(g), {.threads = 0, .optimize = false, .fast_kernels = fast});
  if (!s.is_ok()) {
    state.SkipWithError(s.status().message().c_str());
    return;
  }
  state.SetLabel(std::string((*s)->report()[0].kernel));
  for (auto _ : state) {
    auto y = (*s)->run({x});
    benchmark::DoNotOptimize(y);
  }
  const double bytes = 2.0 * static_cast<double>(x.numel()) * sizeof(float);
  state.counters["GB/s"] = benchmark::Counter(
      bytes * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// args: tokens, hidden, fast. Transformer layout (tokens, hidden), axis -1, scale and bias.
void BM_LayerNorm(benchmark::State& state) {
  const int64_t t = state.range(0), h = state.range(1);
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {t, h});
  auto* s = g.add_constant("scale", random_tensor({h}));
  auto* b = g.add_constant("bias", random_tensor({h}));
  ir::Node* ln = g.add_node(OpKind::LayerNormalization, {x, s, b}, 1, "ln");
  g.outputs.push_back(ln->outputs[0]);
  run_session(state, std::move(g), random_tensor({t, h}), state.range(2) != 0);
}

// args: batch, channels, spatial (square), size, fast. GoogLeNet and AlexNet LRN shapes.
void BM_Lrn(benchmark::State& state) {
  const int64_t n = state.range(0), c = state.range(1), hw = state.range(2);
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {n, c, hw, hw});
  ir::Node* lrn = g.add_node(OpKind::LRN, {x}, 1, "lrn");
  lrn->attrs["size"] = ir::Attribute::of_int(state.range(3));
  lrn->attrs["alpha"] = ir::Attribute::of_float(1e-4f);
  lrn->attrs["beta"] = ir::Attribute::of_float(0.75f);
  g.outputs.push_back(lrn->outputs[0]);
  run_session(state, std::move(g), random_tensor({n, c, hw, hw}), state.range(4) != 0);
}

BENCHMARK(BM_LayerNorm)
    ->ArgNames({"tokens", "hidden", "fast"})
    ->ArgsProduct({{128}, {768}, {0, 1}})
    ->ArgsProduct({{1}, {4096}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Lrn)
    ->ArgNames({"n", "c", "hw", "size", "fast"})
    ->ArgsProduct({{1}, {64}, {56}, {5}, {0, 1}})
    ->ArgsProduct({{1}, {96}, {55}, {5}, {0, 1}})
    ->ArgsProduct({{1}, {64}, {56}, {3}, {0, 1}})  // no oneDNN JIT: both run the reference
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace condense
