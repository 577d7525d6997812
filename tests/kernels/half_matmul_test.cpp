// Half-precision MatMul/Gemm against the reference kernels: bf16 (`--dtype bf16`) on oneDNN
// (dnnl_matmul_bf16 / dnnl_gemm_bf16), fp16 on the own AVX-512 kernel (matmul_f16_avx512 /
// gemm_f16_avx512), through quant::convert_float as the CLI runs it: f32 in, Cast to the half
// type, the op in it, Cast back.
#include <condense/quant.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace condense {
namespace {

struct HalfCase {
  DType dt;
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

class HalfMatMulTest : public ::testing::TestWithParam<HalfCase> {};

// The kernels and the reference both accumulate products of half values (exact in f32) in f32
// or wider, in different orders, then round once to the half type: the outputs differ by at most
// one step of it (2^-7 relative for bf16's 8-bit significand, 2^-10 for fp16's 11 bits; 2^-9
// allowed) plus the f32 summation difference, bounded by 1e-5 * K for inputs in [-1, 1].
TEST_P(HalfMatMulTest, MatchesReference) {
  const HalfCase& c = GetParam();
  SCOPED_TRACE(fmt::format("{} M {} K {} N {} {}{} bias {} relu {}", dtype_name(c.dt), c.M, c.K,
                           c.N, c.gemm ? "Gemm" : "MatMul", c.trans_b ? " transB" : "", c.bias,
                           c.relu));
  auto half = [&] {
    auto r = quant::convert_float(float_model(c), c.dt);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return std::move(r->graph);
  };
  auto fast = Session::create(half(), {.threads = 2});
  auto ref = Session::create(half(), {.threads = 2, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  const std::string op = c.gemm ? "Gemm" : "MatMul";
  const std::string want = c.dt == DType::BF16 ? (c.gemm ? "dnnl_gemm_bf16" : "dnnl_matmul_bf16")
                                               : (c.gemm ? "gemm_f16_avx512" : "matmul_f16_avx512");
  EXPECT_EQ(kernel_of(**fast, op), want);
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
    const int ulp = c.dt == DType::BF16 ? -7 : -9;
    ASSERT_NEAR(a, b, std::ldexp(std::abs(b), ulp) + 1e-5 * c.K) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, HalfMatMulTest,
    ::testing::Values(HalfCase{DType::BF16, 1, 64, 17, true, true, true, false},
                      HalfCase{DType::BF16, 64, 100, 48, true, false, true, true},
                      HalfCase{DType::BF16, 3, 33, 1, false, false, false, false},
                      HalfCase{DType::BF16, 1, 512, 256, false, false, false, true},
                      HalfCase{DType::F16, 1, 64, 17, true, true, true, false},
                      HalfCase{DType::F16, 64, 100, 48, true, false, true, true},
                      HalfCase{DType::F16, 3, 33, 1, false, false, false, false},
                      HalfCase{DType::F16, 5, 512, 130, false, false, false, true},
                      // >= 8 rows: K in blocks of 256 (two here, the second partial).
                      HalfCase{DType::F16, 9, 300, 70, true, true, true, false}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace condense
