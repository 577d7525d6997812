// Fast 8-bit integer kernels against the reference kernels: oneDNN QLinearConv (u8/s8
// activations, per-tensor and per-channel weight scales, bias, zero points at padded borders,
// groups, strides, dilations, 1-D to 3-D), AVX-512 QLinearAdd and QLinearGlobalAveragePool, and
// chains of them that pass channels-last int8 activations from kernel to kernel.
//
// QLinearAdd and QLinearGlobalAveragePool must be bit-identical. QLinearConv may differ by one
// quantization step where oneDNN's f32 requantization (the reference multiplies in double) lands
// on the other side of a rounding tie; the tests require |diff| <= 1 everywhere and at most 1% of
// the elements off by one.
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace condense {
namespace {

Tensor random_int8(DType t, Shape shape, std::mt19937& rng) {
  Tensor x = Tensor::empty(t, std::move(shape));
  std::uniform_int_distribution<int> d(t == DType::U8 ? 0 : -128, t == DType::U8 ? 255 : 127);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::U8)
      x.data<uint8_t>()[i] = static_cast<uint8_t>(d(rng));
    else
      x.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  }
  return x;
}
Tensor f32_scalar(float v) {
  return Tensor::scalar<float>(v);
}
Tensor zp_scalar(DType t, int v) {
  Tensor z = Tensor::empty(t, {});
  if (t == DType::U8)
    z.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  else
    z.data<int8_t>()[0] = static_cast<int8_t>(v);
  return z;
}

struct ConvCase {
  std::string config = {};
  DType xt = DType::U8, yt = DType::U8;
  Shape x = {};              // (N, C, D...)
  int64_t M = 8, group = 1;  // output channels
  Shape kernel = {3, 3};
  Shape strides = {}, pads = {}, dilations = {};
  bool per_channel = true, bias = true;
  int x_zp = 7, y_zp = 3;
  bool relu = false;  // fused Relu ("_activation", as the QDQ lowering sets it)
};

// Adds QLinearConv(x, ...) to g; weights random s8 with scales around 0.01.
ir::Value* add_conv(ir::Graph& g, ir::Value* x, const ConvCase& c, int64_t C, std::mt19937& rng,
                    const std::string& name) {
  Shape ws = {c.M, C / c.group};
  ws.insert(ws.end(), c.kernel.begin(), c.kernel.end());
  Tensor w = random_int8(DType::I8, ws, rng);
  const int64_t ns = c.per_channel ? c.M : 1;
  Tensor sw = Tensor::empty(DType::F32, c.per_channel ? Shape{c.M} : Shape{});
  std::uniform_real_distribution<float> sd(0.002f, 0.02f);
  for (int64_t m = 0; m < ns; ++m) sw.data<float>()[m] = sd(rng);
  Tensor wzp = Tensor::zeros(DType::I8, sw.shape());
  std::vector<ir::Value*> ins = {x,
                                 g.add_constant(name + "_xs", f32_scalar(0.05f)),
                                 g.add_constant(name + "_xz", zp_scalar(c.xt, c.x_zp)),
                                 g.add_constant(name + "_w", w),
                                 g.add_constant(name + "_ws", sw),
                                 g.add_constant(name + "_wz", wzp),
                                 g.add_constant(name + "_ys", f32_scalar(0.9f)),
                                 g.add_constant(name + "_yz", zp_scalar(c.yt, c.y_zp))};
  if (c.bias) {
    Tensor b = Tensor::empty(DType::I32, {c.M});
    std::uniform_int_distribution<int> bd(-3000, 3000);
    for (int64_t m = 0; m < c.M; ++m) b.data<int32_t>()[m] = bd(rng);
    ins.push_back(g.add_constant(name + "_b", b));
  }
  ir::Node* n = g.add_node(OpKind::QLinearConv, ins, 1, name);
  n->attrs["group"] = ir::Attribute::of_int(c.group);
  if (!c.strides.empty()) n->attrs["strides"] = ir::Attribute::of_ints(c.strides);
  if (!c.pads.empty()) n->attrs["pads"] = ir::Attribute::of_ints(c.pads);
  if (!c.dilations.empty()) n->attrs["dilations"] = ir::Attribute::of_ints(c.dilations);
  if (c.relu) n->attrs["_activation"] = ir::Attribute::of_string("Relu");
  n->outputs[0]->dtype = c.yt;
  return n->outputs[0];
}

// Runs g with fast and with reference kernels; returns (max |diff|, count of differing elements,
// total elements) over all outputs, and the kernel name of node 0 in the fast session.
struct Diff {
  double max_diff = 0;
  int64_t differing = 0, total = 0;
  std::vector<std::string> kernels;
};
Diff run_both(const std::function<ir::Graph()>& build, const std::vector<Tensor>& feeds) {
  Diff d;
  auto fast = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = true});
  auto ref = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = false});
  EXPECT_TRUE(fast.is_ok()) << fast.status().message();
  EXPECT_TRUE(ref.is_ok()) << ref.status().message();
  if (!fast.is_ok() || !ref.is_ok()) return d;
  for (const NodeReport& r : (*fast)->report()) d.kernels.push_back(r.kernel);
  for (int rep = 0; rep < 2; ++rep) {  // the second run goes through the primitive caches
    auto yf = (*fast)->run(feeds);
    auto yr = (*ref)->run(feeds);
    EXPECT_TRUE(yf.is_ok()) << yf.status().message();
    EXPECT_TRUE(yr.is_ok()) << yr.status().message();
    if (!yf.is_ok() || !yr.is_ok()) return d;
    for (size_t o = 0; o < yf->size(); ++o) {
      const Tensor& a = (*yf)[o];
      const Tensor& b = (*yr)[o];
      EXPECT_EQ(a.shape(), b.shape());
      EXPECT_EQ(a.dtype(), b.dtype());
      if (a.shape() != b.shape()) return d;
      for (int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.get_f64(i), y = b.get_f64(i);
        const double diff = x == y ? 0.0 : std::abs(x - y);  // integers: quantization steps
        d.max_diff = std::max(d.max_diff, std::isnan(diff) ? 1e30 : diff);
        d.differing += diff != 0;
        ++d.total;
      }
    }
  }
  return d;
}

void check_conv(const ConvCase& c, int chain = 1) {
  SCOPED_TRACE(c.config);
  std::mt19937 rng(3);
  Tensor x = random_int8(c.xt, c.x, rng);
  auto build = [&] {
    std::mt19937 wrng(11);
    ir::Graph g;
    ir::Dims dims(c.x.begin(), c.x.end());
    ir::Value* v = g.add_input("x", c.xt, dims);
    ConvCase cc = c;
    int64_t C = c.x[1];
    for (int i = 0; i < chain; ++i) {
      v = add_conv(g, v, cc, C, wrng, "conv" + std::to_string(i));
      C = cc.M;
      cc.xt = cc.yt;
      cc.x_zp = cc.y_zp;
    }
    g.outputs.push_back(v);
    return g;
  };
  Diff d = run_both(build, {x});
  ASSERT_GT(d.total, 0);
  for (const std::string& k : d.kernels) EXPECT_NE(k, "ref") << "expected the oneDNN kernel";
  EXPECT_LE(d.max_diff, 1);
  EXPECT_LE(d.differing * 100, d.total) << d.differing << " of " << d.total << " differ";
}

TEST(QLinearConvInt8, U8PerChannelPaddedBorders) {
  check_conv({.config = "u8 3x3 pad 1 x_zp 7", .x = {2, 16, 9, 7}, .pads = {1, 1, 1, 1}});
}
TEST(QLinearConvInt8, U8PerTensorNoBias) {
  check_conv({.config = "u8 per-tensor, no bias",
              .x = {1, 5, 8, 8},
              .M = 3,
              .pads = {1, 0, 2, 1},
              .per_channel = false,
              .bias = false});
}
TEST(QLinearConvInt8, S8ActivationsS8Output) {
  check_conv({.config = "s8 in/out, zero points -5/-128",
              .xt = DType::I8,
              .yt = DType::I8,
              .x = {2, 16, 6, 6},
              .M = 17,
              .pads = {1, 1, 1, 1},
              .x_zp = -5,
              .y_zp = -128});
}
TEST(QLinearConvInt8, StrideDilationFirstLayer) {
  check_conv({.config = "3 input channels, stride 2, dilation 2",
              .x = {3, 3, 15, 15},
              .M = 16,
              .strides = {2, 2},
              .pads = {2, 2, 2, 2},
              .dilations = {2, 2}});
}
TEST(QLinearConvInt8, DepthwiseAndGrouped) {
  check_conv(
      {.config = "depthwise 32", .x = {2, 32, 8, 8}, .M = 32, .group = 32, .pads = {1, 1, 1, 1}});
  check_conv({.config = "groups 2", .x = {2, 16, 8, 8}, .M = 16, .group = 2, .pads = {1, 1, 1, 1}});
}
TEST(QLinearConvInt8, PointwiseAnd1dAnd3d) {
  check_conv({.config = "1x1", .x = {4, 64, 5, 5}, .M = 128, .kernel = {1, 1}});
  check_conv({.config = "1-D", .x = {2, 8, 13}, .M = 8, .kernel = {3}, .pads = {1, 1}});
  check_conv({.config = "3-D",
              .x = {1, 8, 4, 5, 6},
              .M = 8,
              .kernel = {3, 3, 3},
              .pads = {1, 1, 1, 1, 1, 1}});
}
TEST(QLinearConvInt8, FusedReluClampsAtTheZeroPoint) {
  check_conv({.config = "s8 zero point 0, fused relu",
              .xt = DType::I8,
              .yt = DType::I8,
              .x = {2, 8, 7, 7},
              .pads = {1, 1, 1, 1},
              .x_zp = 0,
              .y_zp = 0,
              .relu = true});
  check_conv({.config = "u8 zero point 100, fused relu",
              .x = {2, 8, 7, 7},
              .pads = {1, 1, 1, 1},
              .y_zp = 100,
              .relu = true});
}
TEST(QLinearConvInt8, ChainKeepsChannelsLastBetweenKernels) {
  check_conv({.config = "3 convs, u8 zero point 0 (implied relu)",
              .x = {2, 16, 10, 10},
              .M = 16,
              .pads = {1, 1, 1, 1},
              .x_zp = 0,
              .y_zp = 0},
             3);
}

// QLinearMatMul(a (.., M, K), B (K, N) constant s8) with per-tensor or per-column B scales.
void check_matmul(DType t, Shape as, int64_t N, bool per_column, int a_zp, int y_zp) {
  SCOPED_TRACE(fmt::format("{} a {} N {} per_column {} zp {}/{}", dtype_name(t), shape_str(as), N,
                           per_column, a_zp, y_zp));
  std::mt19937 rng(7);
  Tensor a = random_int8(t, as, rng);
  const int64_t K = as.back();
  auto build = [&] {
    std::mt19937 wrng(19);
    ir::Graph g;
    ir::Value* va = g.add_input("a", t, ir::Dims(as.begin(), as.end()));
    Tensor bs = Tensor::empty(DType::F32, per_column ? Shape{N} : Shape{});
    std::uniform_real_distribution<float> sd(0.002f, 0.02f);
    for (int64_t n = 0; n < bs.numel(); ++n) bs.data<float>()[n] = sd(wrng);
    ir::Node* n = g.add_node(
        OpKind::QLinearMatMul,
        {va, g.add_constant("sa", f32_scalar(0.05f)), g.add_constant("za", zp_scalar(t, a_zp)),
         g.add_constant("b", random_int8(DType::I8, {K, N}, wrng)), g.add_constant("sb", bs),
         g.add_constant("zb", Tensor::zeros(DType::I8, bs.shape())),
         g.add_constant("sy", f32_scalar(0.6f)), g.add_constant("zy", zp_scalar(t, y_zp))},
        1, "matmul");
    n->outputs[0]->dtype = t;
    g.outputs.push_back(n->outputs[0]);
    return g;
  };
  Diff d = run_both(build, {a});
  ASSERT_GT(d.total, 0);
  for (const std::string& k : d.kernels) EXPECT_NE(k, "ref");
  EXPECT_LE(d.max_diff, 1);
  EXPECT_LE(d.differing * 100, d.total) << d.differing << " of " << d.total << " differ";
}

TEST(QLinearMatMulInt8, WithinOneStep) {
  check_matmul(DType::U8, {1, 16}, 16, false, 0, 0);
  check_matmul(DType::U8, {5, 37}, 19, true, 131, 7);
  check_matmul(DType::I8, {64, 64}, 10, true, -3, -128);
  check_matmul(DType::U8, {2, 3, 33}, 65, false, 12, 250);  // leading dims folded into M
}

// QLinearAdd(a, b) with different scales and zero points; optionally fed by two convolutions so
// that its inputs arrive channels-last.
void check_add(DType t, Shape shape, bool after_conv, bool relu = false) {
  SCOPED_TRACE(fmt::format("{} {} after_conv={} relu={}", dtype_name(t), shape_str(shape),
                           after_conv, relu));
  std::mt19937 rng(5);
  Tensor a = random_int8(t, shape, rng), b = random_int8(t, shape, rng);
  const int zpa = t == DType::U8 ? 3 : -7, zpb = t == DType::U8 ? 200 : 9, zpy = 0;
  auto build = [&] {
    std::mt19937 wrng(13);
    ir::Graph g;
    ir::Dims dims(shape.begin(), shape.end());
    ir::Value* va = g.add_input("a", t, dims);
    ir::Value* vb = g.add_input("b", t, dims);
    if (after_conv) {
      ConvCase c{.xt = t, .yt = t, .M = shape[1], .pads = {1, 1, 1, 1}, .x_zp = zpa, .y_zp = zpa};
      va = add_conv(g, va, c, shape[1], wrng, "ca");
      c.x_zp = c.y_zp = zpb;
      vb = add_conv(g, vb, c, shape[1], wrng, "cb");
    }
    ir::Node* n = g.add_node(
        OpKind::QLinearAdd,
        {va, g.add_constant("sa", f32_scalar(0.031f)), g.add_constant("za", zp_scalar(t, zpa)), vb,
         g.add_constant("sb", f32_scalar(0.017f)), g.add_constant("zb", zp_scalar(t, zpb)),
         g.add_constant("sy", f32_scalar(0.043f)), g.add_constant("zy", zp_scalar(t, zpy))},
        1, "add");
    n->outputs[0]->dtype = t;
    g.outputs.push_back(n->outputs[0]);
    return g;
  };
  Diff d = run_both(build, {a, b});
  ASSERT_GT(d.total, 0);
  for (const std::string& k : d.kernels) EXPECT_NE(k, "ref");
  if (after_conv)
    EXPECT_LE(d.max_diff, 1);  // the convolutions may differ by one step
  else
    EXPECT_EQ(d.max_diff, 0) << d.differing << " of " << d.total << " differ";
}

TEST(QLinearAddInt8, BitExactU8AndS8) {
  for (DType t : {DType::U8, DType::I8}) {
    check_add(t, {1, 1, 1, 1}, false);
    check_add(t, {2, 3, 5, 7}, false);     // tail of 210 elements: 13 vectors + 2
    check_add(t, {4, 64, 16, 16}, false);  // several chunks, two threads
    check_add(t, {2, 3, 5, 7}, false, true);
  }
}
TEST(QLinearAddInt8, ChannelsLastInputsFromConvolutions) {
  check_add(DType::U8, {2, 16, 8, 8}, true);
  check_add(DType::I8, {2, 16, 8, 8}, true);
}

TEST(QLinearAddInt8, BroadcastFallsBackToReference) {
  std::mt19937 rng(9);
  Tensor a = random_int8(DType::U8, {2, 4, 3}, rng), b = random_int8(DType::U8, {4, 1}, rng);
  auto build = [&] {
    ir::Graph g;
    ir::Value* va = g.add_input("a", DType::U8, {2, 4, 3});
    ir::Value* vb = g.add_input("b", DType::U8, {4, 1});
    ir::Node* n = g.add_node(
        OpKind::QLinearAdd,
        {va, g.add_constant("sa", f32_scalar(0.1f)), g.add_constant("za", zp_scalar(DType::U8, 1)),
         vb, g.add_constant("sb", f32_scalar(0.2f)), g.add_constant("zb", zp_scalar(DType::U8, 2)),
         g.add_constant("sy", f32_scalar(0.3f)), g.add_constant("zy", zp_scalar(DType::U8, 3))},
        1, "add");
    g.outputs.push_back(n->outputs[0]);
    return g;
  };
  Diff d = run_both(build, {a, b});
  EXPECT_EQ(d.total, 2 * 24);
  EXPECT_EQ(d.max_diff, 0);
}

// QLinearGlobalAveragePool on channels-last input (after a convolution) and with
// channels_last = 1 on a plain (N, H, W, C) tensor.
TEST(QLinearGlobalAveragePoolInt8, BitExact) {
  for (DType t : {DType::U8, DType::I8}) {
    for (bool after_conv : {true, false}) {
      SCOPED_TRACE(fmt::format("{} after_conv={}", dtype_name(t), after_conv));
      const Shape xs = after_conv ? Shape{3, 24, 7, 5} : Shape{3, 7, 5, 24};
      std::mt19937 rng(21);
      Tensor x = random_int8(t, xs, rng);
      const int zp = t == DType::U8 ? 17 : -3;
      auto build = [&] {
        std::mt19937 wrng(4);
        ir::Graph g;
        ir::Value* v = g.add_input("x", t, ir::Dims(xs.begin(), xs.end()));
        if (after_conv) {
          ConvCase c{.xt = t, .yt = t, .M = 24, .pads = {1, 1, 1, 1}, .x_zp = zp, .y_zp = zp};
          v = add_conv(g, v, c, 24, wrng, "conv");
        }
        ir::Node* n = g.add_node(
            OpKind::QLinearGlobalAveragePool,
            {v, g.add_constant("sx", f32_scalar(0.07f)), g.add_constant("zx", zp_scalar(t, zp)),
             g.add_constant("sy", f32_scalar(0.02f)), g.add_constant("zy", zp_scalar(t, zp + 1))},
            1, "gap");
        n->attrs["channels_last"] = ir::Attribute::of_int(after_conv ? 0 : 1);
        g.outputs.push_back(n->outputs[0]);
        return g;
      };
      Diff d = run_both(build, {x});
      ASSERT_EQ(d.total, 2 * 3 * 24);
      for (const std::string& k : d.kernels) EXPECT_NE(k, "ref");
      if (after_conv)
        EXPECT_LE(d.max_diff, 1);
      else
        EXPECT_EQ(d.max_diff, 0);
    }
  }
}

}  // namespace
}  // namespace condense

namespace condense {
namespace {

// QuantizeLinear f32 -> u8/s8 (ties, NaN, infinities, out of range) and DequantizeLinear back,
// per tensor: bit-identical to the reference kernels.
TEST(QuantizeLinearInt8, BitExactWithTiesNaNAndSaturation) {
  for (DType t : {DType::U8, DType::I8}) {
    SCOPED_TRACE(dtype_name(t));
    const float scale = 0.25f;
    const int zp = t == DType::U8 ? 10 : -3;
    Tensor x = Tensor::empty(DType::F32, {3, 7, 11});
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> d(-80.f, 80.f);
    for (int64_t i = 0; i < x.numel(); ++i) {
      float v = d(rng);
      if (i % 3 == 0) v = (std::floor(v / scale) + 0.5f) * scale;  // exact ties
      x.data<float>()[i] = v;
    }
    x.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    x.data<float>()[6] = std::numeric_limits<float>::infinity();
    x.data<float>()[7] = -std::numeric_limits<float>::infinity();
    x.data<float>()[8] = 1e30f;
    auto build = [&] {
      ir::Graph g;
      ir::Value* vx = g.add_input("x", DType::F32, {3, 7, 11});
      ir::Value* s = g.add_constant("s", f32_scalar(scale));
      ir::Value* z = g.add_constant("z", zp_scalar(t, zp));
      ir::Node* q = g.add_node(OpKind::QuantizeLinear, {vx, s, z}, 1, "q");
      q->outputs[0]->dtype = t;
      ir::Node* dq = g.add_node(OpKind::DequantizeLinear, {q->outputs[0], s, z}, 1, "dq");
      g.outputs.push_back(q->outputs[0]);
      g.outputs.push_back(dq->outputs[0]);
      return g;
    };
    Diff d2 = run_both(build, {x});
    ASSERT_EQ(d2.total, 2 * 2 * x.numel());
    ASSERT_EQ(d2.kernels.size(), 2u);
    EXPECT_EQ(d2.kernels[0], "quantize_f32_int8_avx512");
    EXPECT_EQ(d2.kernels[1], "dequantize_int8_f32_avx512");
    EXPECT_EQ(d2.max_diff, 0) << d2.differing << " differ";
  }
}

}  // namespace
}  // namespace condense

namespace condense {
namespace {

// QGemm (com.microsoft): B constant s8 (transB or not), per-tensor or per-column scales, int32
// bias, quantized (within one step) or f32 output (the reference's f32 operations: within 1e-5
// relative), optional fused Relu.
struct QGemmCase {
  DType at = DType::U8;
  int64_t M = 4, K = 32, N = 10;
  bool trans_b = true, per_column = true, bias = true, quantized = true, relu = false;
  int a_zp = 5, y_zp = 3;
};

void check_qgemm(const QGemmCase& c) {
  SCOPED_TRACE(fmt::format("{} M {} K {} N {} transB {} per_column {} bias {} quantized {} relu {}",
                           dtype_name(c.at), c.M, c.K, c.N, c.trans_b, c.per_column, c.bias,
                           c.quantized, c.relu));
  std::mt19937 rng(23);
  Tensor a = random_int8(c.at, {c.M, c.K}, rng);
  auto build = [&] {
    std::mt19937 wrng(29);
    ir::Graph g;
    ir::Value* va = g.add_input("a", c.at, {c.M, c.K});
    Tensor bs = Tensor::empty(DType::F32, c.per_column ? Shape{c.N} : Shape{});
    std::uniform_real_distribution<float> sd(0.002f, 0.02f);
    for (int64_t n = 0; n < bs.numel(); ++n) bs.data<float>()[n] = sd(wrng);
    std::vector<ir::Value*> ins = {
        va,
        g.add_constant("sa", f32_scalar(0.05f)),
        g.add_constant("za", zp_scalar(c.at, c.a_zp)),
        g.add_constant("b",
                       random_int8(DType::I8, c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N}, wrng)),
        g.add_constant("sb", bs),
        g.add_constant("zb", Tensor::zeros(DType::I8, bs.shape())),
        nullptr};
    if (c.bias) {
      Tensor bias = Tensor::empty(DType::I32, {c.N});
      std::uniform_int_distribution<int> bd(-5000, 5000);
      for (int64_t n = 0; n < c.N; ++n) bias.data<int32_t>()[n] = bd(wrng);
      ins[6] = g.add_constant("c", bias);
    }
    if (c.quantized) {
      ins.push_back(g.add_constant("sy", f32_scalar(0.3f)));
      ins.push_back(g.add_constant("zy", zp_scalar(c.at, c.y_zp)));
    }
    ir::Node* n = g.add_node(OpKind::QGemm, ins, 1, "qgemm");
    n->attrs["transB"] = ir::Attribute::of_int(c.trans_b ? 1 : 0);
    if (c.relu) n->attrs["_activation"] = ir::Attribute::of_string("Relu");
    n->outputs[0]->dtype = c.quantized ? c.at : DType::F32;
    g.outputs.push_back(n->outputs[0]);
    return g;
  };
  auto fast = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = true});
  auto ref = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  EXPECT_NE((*fast)->report()[0].kernel, "ref");
  auto yf = (*fast)->run(std::vector<Tensor>{a});
  auto yr = (*ref)->run(std::vector<Tensor>{a});
  ASSERT_TRUE(yf.is_ok()) << yf.status().message();
  ASSERT_TRUE(yr.is_ok()) << yr.status().message();
  const Tensor& f = (*yf)[0];
  const Tensor& r = (*yr)[0];
  ASSERT_EQ(f.shape(), r.shape());
  ASSERT_EQ(f.dtype(), r.dtype());
  int64_t differing = 0;
  for (int64_t i = 0; i < f.numel(); ++i) {
    const double x = f.get_f64(i), y = r.get_f64(i);
    if (c.quantized) {
      ASSERT_LE(std::abs(x - y), 1.0) << "element " << i;
      differing += x != y;
    } else {
      ASSERT_NEAR(x, y, 1e-5 * std::max(1.0, std::abs(y))) << "element " << i;
    }
    if (c.relu) {
      ASSERT_GE(x, c.quantized ? c.y_zp : 0.0) << "element " << i;
    }
  }
  EXPECT_LE(differing * 100, f.numel()) << differing << " of " << f.numel() << " differ";
}

TEST(QGemmInt8, QuantizedAndFloatOutputs) {
  check_qgemm({});
  check_qgemm({.at = DType::I8, .trans_b = false, .per_column = false, .a_zp = -4, .y_zp = -128});
  check_qgemm({.M = 64, .K = 64, .N = 10, .quantized = false});  // resnet20's classifier
  check_qgemm({.M = 3, .K = 17, .N = 33, .bias = false, .quantized = false, .relu = true});
  check_qgemm({.M = 7, .K = 40, .N = 24, .relu = true, .y_zp = 100});
}

}  // namespace
}  // namespace condense

namespace condense {
namespace {

// ConvInteger (imported QOperator / dynamic models): int32 output, bit-identical.
TEST(ConvIntegerInt8, BitExact) {
  for (DType t : {DType::U8, DType::I8}) {
    for (bool with_zp : {true, false}) {
      SCOPED_TRACE(fmt::format("{} zero point {}", dtype_name(t), with_zp));
      std::mt19937 rng(31);
      Tensor x = random_int8(t, {2, 6, 9, 8}, rng);
      auto build = [&] {
        std::mt19937 wrng(37);
        ir::Graph g;
        ir::Value* vx = g.add_input("x", t, {2, 6, 9, 8});
        std::vector<ir::Value*> ins = {
            vx, g.add_constant("w", random_int8(DType::I8, {10, 3, 3, 3}, wrng))};
        if (with_zp) {
          ins.push_back(g.add_constant("xz", zp_scalar(t, t == DType::U8 ? 120 : -9)));
          ins.push_back(g.add_constant("wz", Tensor::zeros(DType::I8, {})));
        }
        ir::Node* n = g.add_node(OpKind::ConvInteger, ins, 1, "convinteger");
        n->attrs["group"] = ir::Attribute::of_int(2);
        n->attrs["pads"] = ir::Attribute::of_ints({1, 0, 1, 2});
        n->attrs["strides"] = ir::Attribute::of_ints({2, 1});
        n->outputs[0]->dtype = DType::I32;
        g.outputs.push_back(n->outputs[0]);
        return g;
      };
      Diff d = run_both(build, {x});
      ASSERT_GT(d.total, 0);
      ASSERT_EQ(d.kernels.size(), 1u);
      EXPECT_EQ(d.kernels[0], t == DType::U8 ? "dnnl_convinteger_u8s8" : "dnnl_convinteger_s8s8");
      EXPECT_EQ(d.max_diff, 0) << d.differing << " of " << d.total << " differ";
    }
  }
}

}  // namespace
}  // namespace condense
