// The fused low-bit MatMuls: the load passes turn the patterns `condense quantize` writes
// (dynamic: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add]; weight-only:
// DequantizeLinear -> MatMul/Gemm) into DynamicQuantMatMul / WeightOnlyMatMul, whose AVX-512
// VNNI kernels must agree with the unfused graph on reference kernels (optimize = false), on
// odd shapes: K not a multiple of the block, N not a multiple of 16, batch 1 and 64.
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

#include "kernels/lowbit/lowbit_packed.h"
#include "kernels/ref/quant_util.h"

namespace condense {
namespace {

Tensor random_f32(Shape shape, std::mt19937& rng, float lo, float hi) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Tensor random_codes(DType dt, Shape shape, std::mt19937& rng) {
  const QRange r = qrange(dt);
  std::uniform_int_distribution<int> d(static_cast<int>(r.lo), static_cast<int>(r.hi));
  Tensor t = Tensor::empty(dt, std::move(shape));
  std::vector<int32_t> v(t.numel());
  for (auto& x : v) x = d(rng);
  store_from_i32(t, v);
  return t;
}

// Session report entry of the node running `op`.
std::string kernel_of(const Session& s, std::string_view op) {
  for (const NodeReport& r : s.report())
    if (r.op == op) return r.kernel;
  return "(no " + std::string(op) + " node)";
}

bool have_vnni() {
  return lowbit::cpu_has_avx512_vnni();
}

// ---- dynamic int8 ----------------------------------------------------------------------------

struct DynCase {
  Shape x;  // (..., K)
  int64_t N;
  DType wt;
  bool per_column, bias;
  std::string str() const {
    return fmt::format("x {} N {} w {} {} bias {}", shape_str(x), N, dtype_name(wt),
                       per_column ? "per-column" : "per-tensor", bias);
  }
};

ir::Graph dynamic_graph(const DynCase& c) {
  std::mt19937 rng(11);
  const int64_t K = c.x.back(), n_params = c.per_column ? c.N : 1;
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, ir::Dims(c.x.begin(), c.x.end()));
  ir::Node* dql = g.add_node(OpKind::DynamicQuantizeLinear, {x}, 3, "dql");
  ir::Value* w = g.add_constant("w", random_codes(c.wt, {K, c.N}, rng));
  // Zero points near the middle of the type, different per column.
  Tensor zp = Tensor::empty(c.wt, c.per_column ? Shape{c.N} : Shape{});
  std::vector<int32_t> zv(zp.numel());
  std::uniform_int_distribution<int> zd(-9, 9);
  for (auto& z : zv) z = zd(rng) + (c.wt == DType::U8 ? 128 : 0);
  store_from_i32(zp, zv);
  ir::Value* wzp = g.add_constant("w_zp", zp);
  ir::Node* mi =
      g.add_node(OpKind::MatMulInteger, {dql->outputs[0], w, dql->outputs[2], wzp}, 1, "mm");
  ir::Node* cast = g.add_node(OpKind::Cast, {mi->outputs[0]}, 1, "cast");
  cast->attrs["to"] = ir::Attribute::of_int(dtype_onnx(DType::F32));
  ir::Value* ws = g.add_constant(
      "w_scale", random_f32(c.per_column ? Shape{n_params} : Shape{}, rng, 1e-3f, 1e-2f));
  ir::Node* s = g.add_node(OpKind::Mul, {dql->outputs[1], ws}, 1, "scales");
  // The product first here: the pass accepts either operand order.
  ir::Node* y = g.add_node(OpKind::Mul, {s->outputs[0], cast->outputs[0]}, 1, "out");
  ir::Value* out = y->outputs[0];
  if (c.bias) {
    ir::Value* b = g.add_constant("bias", random_f32({c.N}, rng, -1.f, 1.f));
    out = g.add_node(OpKind::Add, {out, b}, 1, "bias")->outputs[0];
  }
  g.outputs.push_back(out);
  return g;
}

class DynamicInt8Test : public ::testing::TestWithParam<DynCase> {};

// The fused kernel quantizes x as DynamicQuantizeLinear does and sums integers exactly, then
// applies the same two f32 Muls and the Add in the same order: the outputs equal the unfused
// graph's. The tolerance (1 ulp-level) only covers the reference Add's double rounding.
TEST_P(DynamicInt8Test, MatchesUnfusedGraph) {
  const DynCase& c = GetParam();
  SCOPED_TRACE(c.str());
  if (!have_vnni())
    GTEST_SKIP() << "CPU lacks AVX-512 VNNI: the fused op runs its reference kernel";
  auto fast = Session::create(dynamic_graph(c), {.threads = 2});
  auto fused_ref = Session::create(dynamic_graph(c), {.threads = 2, .fast_kernels = false});
  auto unfused = Session::create(dynamic_graph(c), {.threads = 2, .optimize = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(fused_ref.is_ok()) << fused_ref.status().message();
  ASSERT_TRUE(unfused.is_ok()) << unfused.status().message();
  EXPECT_EQ((*fast)->report().size(), 1u) << "the pattern should fuse into one node";
  EXPECT_EQ(kernel_of(**fast, "DynamicQuantMatMul"), "matmul_dynamic_u8s8_avx512vnni_dnnl");
  EXPECT_EQ(kernel_of(**fused_ref, "DynamicQuantMatMul"), "ref");
  std::mt19937 rng(5);
  for (int rep = 0; rep < 2; ++rep) {
    // Second round: negative-only inputs (zero point 255) and a different range.
    Tensor x = rep == 0 ? random_f32(c.x, rng, -1.f, 3.f) : random_f32(c.x, rng, -2.f, -0.5f);
    auto yf = (*fast)->run({x});
    auto yr = (*fused_ref)->run({x});
    auto yu = (*unfused)->run({x});
    ASSERT_TRUE(yf.is_ok() && yr.is_ok() && yu.is_ok());
    const Tensor &a = (*yf)[0], &b = (*yr)[0], &u = (*yu)[0];
    ASSERT_EQ(a.shape(), u.shape());
    for (int64_t i = 0; i < a.numel(); ++i) {
      const float e = u.data<float>()[i];
      ASSERT_NEAR(a.data<float>()[i], e, 1e-6f * std::abs(e) + 1e-7f) << "element " << i;
      ASSERT_NEAR(b.data<float>()[i], e, 1e-6f * std::abs(e) + 1e-7f) << "element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DynamicInt8Test,
    ::testing::Values(
        DynCase{{1, 4096}, 256, DType::I8, true, true}, DynCase{{1, 1}, 1, DType::I8, false, false},
        DynCase{{1, 7}, 17, DType::I8, true, false}, DynCase{{3, 100}, 50, DType::U8, true, true},
        DynCase{{64, 130}, 100, DType::I8, false, true},
        DynCase{{64, 256}, 64, DType::U8, false, false},
        DynCase{{5, 33}, 129, DType::I8, true, true},
        DynCase{{2, 3, 40}, 20, DType::U8, true, true},
        // 15 rows: the own VNNI kernel; 16: oneDNN's int8 matmul.
        DynCase{{15, 70}, 33, DType::U8, true, true}, DynCase{{16, 70}, 33, DType::U8, true, true}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

// ---- weight-only -----------------------------------------------------------------------------

struct WoCase {
  int64_t M, K, N;
  DType wt;
  int64_t block;  // 0: per column
  bool gemm, trans_b, bias, zero_point;
  std::string str() const {
    return fmt::format("M {} K {} N {} w {} block {} {}{} bias {} zp {}", M, K, N, dtype_name(wt),
                       block, gemm ? "Gemm" : "MatMul", trans_b ? " transB" : "", bias, zero_point);
  }
};

struct WoGraph {
  ir::Graph g;
  Tensor w_float;  // the dequantized weight as (K, N), for the error bound
};

WoGraph weight_only_graph(const WoCase& c) {
  std::mt19937 rng(3);
  WoGraph r;
  ir::Graph& g = r.g;
  ir::Value* x = g.add_input("x", DType::F32, {c.M, c.K});
  const Shape ws = c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N};
  const int64_t k_axis = c.trans_b ? 1 : 0, n_axis = 1 - k_axis;
  Shape ss;
  if (c.block > 0) {
    ss = ws;
    ss[k_axis] = (c.K + c.block - 1) / c.block;
  } else {
    ss = {c.N};
  }
  Tensor codes = random_codes(c.wt, ws, rng);
  Tensor scale = random_f32(ss, rng, 0.01f, 0.05f);
  std::vector<ir::Value*> dq_in = {g.add_constant("w", codes), g.add_constant("w_scale", scale)};
  if (c.zero_point) dq_in.push_back(g.add_constant("w_zp", random_codes(c.wt, ss, rng)));
  ir::Node* dq = g.add_node(OpKind::DequantizeLinear, dq_in, 1, "dq");
  dq->attrs["axis"] = ir::Attribute::of_int(c.block > 0 ? k_axis : n_axis);
  if (c.block > 0) dq->attrs["block_size"] = ir::Attribute::of_int(c.block);
  std::vector<ir::Value*> mm_in = {x, dq->outputs[0]};
  if (c.bias) mm_in.push_back(g.add_constant("bias", random_f32({c.N}, rng, -1.f, 1.f)));
  ir::Node* mm = g.add_node(c.gemm ? OpKind::Gemm : OpKind::MatMul, mm_in, 1, "mm");
  if (c.gemm) {
    mm->attrs["transB"] = ir::Attribute::of_int(c.trans_b ? 1 : 0);
    mm->attrs["alpha"] = ir::Attribute::of_float(0.5f);
    mm->attrs["beta"] = ir::Attribute::of_float(2.f);
  }
  g.outputs.push_back(mm->outputs[0]);
  // W as (K, N) floats, times alpha.
  std::vector<int32_t> q = widen_to_i32(codes);
  std::vector<int32_t> z =
      c.zero_point ? widen_to_i32(*dq_in[2]->constant) : std::vector<int32_t>(scale.numel(), 0);
  r.w_float = Tensor::empty(DType::F32, {c.K, c.N});
  for (int64_t k = 0; k < c.K; ++k)
    for (int64_t n = 0; n < c.N; ++n) {
      const int64_t i = c.trans_b ? n * c.K + k : k * c.N + n;
      int64_t si = n;
      if (c.block > 0) si = c.trans_b ? n * ss[1] + k / c.block : (k / c.block) * c.N + n;
      r.w_float.data<float>()[k * c.N + n] =
          static_cast<float>(q[i] - z[si]) * scale.data<float>()[si] * (c.gemm ? 0.5f : 1.f);
    }
  return r;
}

class WeightOnlyTest : public ::testing::TestWithParam<WoCase> {};

// Default kernel: x quantized to int8 per row and block of K (scale amax / 127). Each code is
// off by at most half a step, so |y_fast - y| <= sum over k of (step_b(k) / 2) * |W[k, n]|: the
// bound is computed per output from the same x and W, plus f32 summation slack.
TEST_P(WeightOnlyTest, MatchesUnfusedGraphWithinActivationRounding) {
  const WoCase& c = GetParam();
  SCOPED_TRACE(c.str());
  if (!have_vnni())
    GTEST_SKIP() << "CPU lacks AVX-512 VNNI: the fused op runs its reference kernel";
  for (int exact = 0; exact < 2; ++exact) {
    SCOPED_TRACE(exact ? "CONDENSE_WEIGHT_ONLY_EXACT=1" : "int8 activations");
    if (exact)
      setenv("CONDENSE_WEIGHT_ONLY_EXACT", "1", 1);
    else
      unsetenv("CONDENSE_WEIGHT_ONLY_EXACT");
    WoGraph wg = weight_only_graph(c);
    auto fast = Session::create(weight_only_graph(c).g, {.threads = 2});
    unsetenv("CONDENSE_WEIGHT_ONLY_EXACT");
    auto fused_ref = Session::create(weight_only_graph(c).g, {.threads = 2, .fast_kernels = false});
    auto unfused = Session::create(weight_only_graph(c).g, {.threads = 2, .optimize = false});
    ASSERT_TRUE(fast.is_ok()) << fast.status().message();
    ASSERT_TRUE(fused_ref.is_ok()) << fused_ref.status().message();
    ASSERT_TRUE(unfused.is_ok()) << unfused.status().message();
    const bool four = c.wt == DType::I4 || c.wt == DType::U4;
    const std::string want = exact ? (four ? "matmul_w4_f32_avx512" : "matmul_w8_f32_avx512")
                                   : (four ? "matmul_w4a8_avx512vnni" : "matmul_w8a8_avx512vnni");
    EXPECT_EQ((*fast)->report().size(), 1u) << "the pattern should fuse into one node";
    EXPECT_EQ(kernel_of(**fast, "WeightOnlyMatMul"), want);
    std::mt19937 rng(9);
    const Tensor x = random_f32({c.M, c.K}, rng, -2.f, 2.f);
    auto yf = (*fast)->run({x});
    auto yr = (*fused_ref)->run({x});
    auto yu = (*unfused)->run({x});
    ASSERT_TRUE(yf.is_ok() && yr.is_ok() && yu.is_ok());
    const int64_t B = c.block > 0 ? c.block : 128;
    const float* px = x.data<float>();
    const float* pw = wg.w_float.data<float>();
    double worst = 0;
    for (int64_t m = 0; m < c.M; ++m) {
      // Half a quantization step of x per k: amax of its block / 127 / 2.
      std::vector<double> half_step(c.K);
      for (int64_t k0 = 0; k0 < c.K; k0 += B) {
        double amax = 0;
        for (int64_t k = k0; k < std::min(c.K, k0 + B); ++k)
          amax = std::max(amax, std::abs(static_cast<double>(px[m * c.K + k])));
        for (int64_t k = k0; k < std::min(c.K, k0 + B); ++k) half_step[k] = amax / 127 / 2;
      }
      for (int64_t n = 0; n < c.N; ++n) {
        double bound = 0, mag = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          bound += half_step[k] * std::abs(pw[k * c.N + n]);
          mag += std::abs(px[m * c.K + k] * pw[k * c.N + n]);
        }
        if (exact) bound = 0;
        const double slack = 1e-5 * mag + 1e-5;  // f32 sums in another order
        const double e = (*yu)[0].data<float>()[m * c.N + n];
        const double d = std::abs((*yf)[0].data<float>()[m * c.N + n] - e);
        worst = std::max(worst, d);
        ASSERT_LE(d, bound + slack) << "row " << m << " column " << n;
        ASSERT_NEAR((*yr)[0].data<float>()[m * c.N + n], e, slack)
            << "row " << m << " column " << n;
      }
    }
    // The kernel really ran (a silent reference fallback would agree exactly).
    if (!exact) {
      EXPECT_GT(worst, 0.0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, WeightOnlyTest,
    ::testing::Values(WoCase{1, 4096, 256, DType::I4, 128, false, false, false, false},
                      WoCase{1, 300, 17, DType::I4, 128, false, false, false, false},
                      WoCase{64, 300, 100, DType::I4, 32, true, true, true, false},
                      WoCase{3, 64, 1, DType::U4, 16, false, false, false, true},
                      WoCase{64, 200, 48, DType::U4, 0, true, false, true, true},
                      WoCase{1, 7, 33, DType::I4, 0, false, false, false, false},
                      WoCase{1, 256, 130, DType::I8, 64, true, false, true, false},
                      WoCase{5, 130, 64, DType::U8, 0, true, true, false, true},
                      WoCase{64, 512, 80, DType::I8, 0, false, false, false, false}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

// A NaN in x reaches every output of its row, as in f32 (the int8 codes alone would hide it).
TEST(WeightOnlyNaN, PropagatesToTheRow) {
  if (!have_vnni()) GTEST_SKIP() << "CPU lacks AVX-512 VNNI";
  WoCase c{2, 256, 20, DType::I4, 128, false, false, false, false};
  auto s = Session::create(weight_only_graph(c).g, {.threads = 2});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  ASSERT_EQ(kernel_of(**s, "WeightOnlyMatMul"), "matmul_w4a8_avx512vnni");
  Tensor x = Tensor::empty(DType::F32, {2, 256});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.5f;
  x.data<float>()[300] = std::numeric_limits<float>::quiet_NaN();  // row 1, block 0
  auto y = (*s)->run({x});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  for (int64_t n = 0; n < c.N; ++n) {
    EXPECT_FALSE(std::isnan((*y)[0].data<float>()[n])) << "row 0 column " << n;
    EXPECT_TRUE(std::isnan((*y)[0].data<float>()[c.N + n])) << "row 1 column " << n;
  }
}

// Blocks that are not a multiple of 8 are left to the reference kernel, still fused.
TEST(WeightOnlyFallback, OddBlockRunsReference) {
  WoCase c{2, 30, 10, DType::I4, 6, false, false, false, false};
  auto s = Session::create(weight_only_graph(c).g, {.threads = 2});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(kernel_of(**s, "WeightOnlyMatMul"), "ref");
}

// A MatMul whose input comes from a DequantizeLinear is static QDQ: not fused here.
TEST(WeightOnlyFallback, StaticQdqIsNotFused) {
  std::mt19937 rng(1);
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::U8, {2, 8});
  ir::Node* dqx = g.add_node(OpKind::DequantizeLinear,
                             {x, g.add_constant("xs", random_f32({}, rng, 0.1f, 0.2f))}, 1, "dqx");
  ir::Node* dqw = g.add_node(OpKind::DequantizeLinear,
                             {g.add_constant("w", random_codes(DType::I8, {8, 4}, rng)),
                              g.add_constant("ws", random_f32({}, rng, 0.1f, 0.2f))},
                             1, "dqw");
  ir::Node* mm = g.add_node(OpKind::MatMul, {dqx->outputs[0], dqw->outputs[0]}, 1, "mm");
  g.outputs.push_back(mm->outputs[0]);
  auto s = Session::create(std::move(g), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(kernel_of(**s, "WeightOnlyMatMul"), "(no WeightOnlyMatMul node)");
}

}  // namespace
}  // namespace condense
