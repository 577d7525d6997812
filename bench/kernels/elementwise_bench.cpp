// Elementwise f32 kernels through the runtime (infer + kernel, as in a model), next to the plain
// per-element broadcast iterator they replaced. Counter: bytes moved (inputs + output) per second.
#include <benchmark/benchmark.h>
#include <condense/ir.h>
#include <condense/session.h>

#include "kernels/ref/broadcast.h"

using namespace condense;

namespace {

struct OneNode {
  std::unique_ptr<Session> session;
  std::vector<Tensor> inputs;
};

OneNode make(OpKind op, const std::vector<Shape>& shapes, int threads) {
  ir::Graph g;
  OneNode r;
  std::vector<ir::Value*> vs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor t = Tensor::empty(DType::F32, shapes[i]);
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = static_cast<float>(k % 97) - 48.f;
    r.inputs.push_back(t);
    vs.push_back(g.add_input(fmt::format("x{}", i), DType::F32,
                             ir::Dims(shapes[i].begin(), shapes[i].end())));
  }
  g.outputs.push_back(g.add_node(op, vs, 1, "n")->outputs[0]);
  r.session = std::move(*Session::create(std::move(g), {.threads = threads}));
  return r;
}

void run(benchmark::State& state, OpKind op, std::vector<Shape> shapes) {
  OneNode n = make(op, shapes, static_cast<int>(state.range(0)));
  int64_t bytes = 0;
  for (const Tensor& t : n.inputs) bytes += static_cast<int64_t>(t.nbytes());
  bytes += static_cast<int64_t>(n.inputs[0].nbytes());  // output
  for (auto _ : state) benchmark::DoNotOptimize(n.session->run(n.inputs));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * state.iterations(),
                                              benchmark::Counter::kIsRate);
}

const Shape kAct = {8, 64, 56, 56};  // 1.6 M floats: a ResNet stage activation at batch 8

void BM_Add_SameShape(benchmark::State& s) {
  run(s, OpKind::Add, {kAct, kAct});
}
void BM_Add_ChannelBias(benchmark::State& s) {
  run(s, OpKind::Add, {kAct, {64, 1, 1}});
}
void BM_Mul_Scalar(benchmark::State& s) {
  run(s, OpKind::Mul, {kAct, {}});
}
void BM_Relu(benchmark::State& s) {
  run(s, OpKind::Relu, {kAct});
}
void BM_Sigmoid(benchmark::State& s) {
  run(s, OpKind::Sigmoid, {kAct});
}

// The generic per-element broadcast iterator (what Add used before), single thread.
void BM_Add_ChannelBias_GenericIterator(benchmark::State& state) {
  Tensor a = Tensor::zeros(DType::F32, kAct), b = Tensor::zeros(DType::F32, {64, 1, 1});
  Tensor y = Tensor::empty(DType::F32, kAct);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y.data<float>();
  for (auto _ : state) {
    for_each_broadcast<2>(
        kAct, {&a.shape(), &b.shape()},
        [&](int64_t i, const std::array<int64_t, 2>& o) { py[i] = pa[o[0]] + pb[o[1]]; });
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(
      2.0 * static_cast<double>(a.nbytes()) * state.iterations(), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Add_SameShape)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Add_ChannelBias)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Mul_Scalar)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Relu)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sigmoid)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Add_ChannelBias_GenericIterator)->Unit(benchmark::kMicrosecond);
