// bf16 MatMul/Gemm (`--dtype bf16` models) on oneDNN (dnnl_matmul_bf16 / dnnl_gemm_bf16) against
// the reference kernels, through quant::convert_float as the CLI runs it: f32 in, Cast to bf16,
// the op in bf16, Cast back.
#include <condense/quant.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace condense {
namespace {

struct HalfCase {
  int64_t M, K, N;
  bool gemm, trans_b, bias, relu;
};

ir::Graph float_model(const HalfCase& c) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  auto rand = [&](Shape s) {
    Tensor t = Tensor::empty(DType::F32, std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  };
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {c.M, c.K});
  std::vector<ir::Value*> in = {
      x, g.add_constant("w", rand(c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N}))};
  if (c.bias) in.push_back(g.add_constant("b", rand({c.N})));
  ir::Node* mm = g.add_node(c.gemm ? OpKind::Gemm : OpKind::MatMul, in, 1, "mm");
  if (c.gemm) mm->attrs["transB"] = ir::Attribute::of_int(c.trans_b ? 1 : 0);
  ir::Value* y = mm->outputs[0];
  if (c.relu) y = g.add_node(OpKind::Relu, {y}, 1, "relu")->outputs[0];
  g.outputs.push_back(y);
  return g;
}

std::string kernel_of(const Session& s, std::string_view op) {
  for (const NodeReport& r : s.report())
    if (r.op == op) return r.kernel;
  return "(none)";
}

class Bf16MatMulTest : public ::testing::TestWithParam<HalfCase> {};

// oneDNN and the reference both accumulate bf16 products (exact in f32) in f32 or wider, in
// different orders, then round once to bf16: the outputs differ by at most one bf16 step
// (2^-8 relative) plus the f32 summation difference, bounded by 1e-5 * sum |x w|.
TEST_P(Bf16MatMulTest, MatchesReference) {
  const HalfCase& c = GetParam();
  SCOPED_TRACE(fmt::format("M {} K {} N {} {}{} bias {} relu {}", c.M, c.K, c.N,
                           c.gemm ? "Gemm" : "MatMul", c.trans_b ? " transB" : "", c.bias, c.relu));
  auto half = [&] {
    auto r = quant::convert_float(float_model(c), DType::BF16);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return std::move(r->graph);
  };
  auto fast = Session::create(half(), {.threads = 2});
  auto ref = Session::create(half(), {.threads = 2, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  const std::string op = c.gemm ? "Gemm" : "MatMul";
  EXPECT_EQ(kernel_of(**fast, op), c.gemm ? "dnnl_gemm_bf16" : "dnnl_matmul_bf16");
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  Tensor x = Tensor::empty(DType::F32, {c.M, c.K});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng);
  auto yf = (*fast)->run({x});
  auto yr = (*ref)->run({x});
  ASSERT_TRUE(yf.is_ok()) << yf.status().message();
  ASSERT_TRUE(yr.is_ok()) << yr.status().message();
  for (int64_t i = 0; i < (*yr)[0].numel(); ++i) {
    const float a = (*yf)[0].data<float>()[i], b = (*yr)[0].data<float>()[i];
    ASSERT_NEAR(a, b, std::ldexp(std::abs(b), -7) + 1e-5 * c.K) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16MatMulTest,
                         ::testing::Values(HalfCase{1, 64, 17, true, true, true, false},
                                           HalfCase{64, 100, 48, true, false, true, true},
                                           HalfCase{3, 33, 1, false, false, false, false},
                                           HalfCase{1, 512, 256, false, false, false, true}),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace condense
