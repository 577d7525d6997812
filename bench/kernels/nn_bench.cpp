// Conv (ResNet-20 CIFAR layer shapes) and Gemm (4096 x 4096, M = 1 and 64): reference vs oneDNN
// kernels, through a one-node Session (the per-call overhead counts too). Counter: GFLOP/s
// (2 flops per multiply-add).
#include <benchmark/benchmark.h>
#include <condense/session.h>

#include <random>

namespace condense {
namespace {

Tensor random_tensor(Shape shape) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void run_session(benchmark::State& state, ir::Graph g, const Tensor& x, double flops, bool fast) {
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
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// args: batch, channels in, channels out, spatial, stride, fast
void BM_Conv3x3(benchmark::State& state) {
  const int64_t n = state.range(0), c = state.range(1), m = state.range(2), hw = state.range(3),
                s = state.range(4);
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {n, c, hw, hw});
  auto* w = g.add_constant("w", random_tensor({m, c, 3, 3}));
  auto* b = g.add_constant("b", random_tensor({m}));
  ir::Node* conv = g.add_node(OpKind::Conv, {x, w, b}, 1, "conv");
  conv->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  conv->attrs["strides"] = ir::Attribute::of_ints({s, s});
  conv->attrs["_activation"] = ir::Attribute::of_string("Relu");
  g.outputs.push_back(conv->outputs[0]);
  const int64_t oh = (hw - 1) / s + 1;
  const double flops = 2.0 * n * m * oh * oh * c * 9;
  run_session(state, std::move(g), random_tensor({n, c, hw, hw}), flops, state.range(5) != 0);
}

// args: M, fast. Y (M, 4096) = X (M, 4096) * W^T + b (PyTorch Linear as Gemm, transB = 1).
void BM_Gemm4096(benchmark::State& state) {
  const int64_t M = state.range(0), K = 4096, N = 4096;
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {M, K});
  auto* w = g.add_constant("w", random_tensor({N, K}));
  auto* b = g.add_constant("b", random_tensor({N}));
  ir::Node* gemm = g.add_node(OpKind::Gemm, {x, w, b}, 1, "gemm");
  gemm->attrs["transB"] = ir::Attribute::of_int(1);
  g.outputs.push_back(gemm->outputs[0]);
  run_session(state, std::move(g), random_tensor({M, K}), 2.0 * M * N * K, state.range(1) != 0);
}

void conv_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "c", "m", "hw", "s", "fast"});
  for (int64_t fast : {0, 1})
    for (int64_t n : {1, 64}) {
      if (!fast && n == 64) continue;  // the reference at batch 64 takes seconds
      b->Args({n, 16, 16, 32, 1, fast});
      b->Args({n, 16, 32, 32, 2, fast});
      b->Args({n, 32, 32, 16, 1, fast});
      b->Args({n, 32, 64, 16, 2, fast});
      b->Args({n, 64, 64, 8, 1, fast});
    }
}

BENCHMARK(BM_Conv3x3)->Apply(conv_args)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Gemm4096)
    ->ArgNames({"M", "fast"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({64, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace condense
