// Elementwise ops through the runtime (infer + reference kernel): broadcasting edges, empty
// tensors, integer corner cases (division by zero, overflow), Cast conversions, bad attributes.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace condense;

namespace {

using Attrs = std::map<std::string, ir::Attribute>;

// Runs one node with every input a graph input; returns its single output.
Result<Tensor> run_op(OpKind op, const std::vector<Tensor>& ins, const Attrs& attrs = {},
                      int threads = 1) {
  ir::Graph g;
  std::vector<ir::Value*> vs;
  for (size_t i = 0; i < ins.size(); ++i) {
    ir::Dims dims(ins[i].shape().begin(), ins[i].shape().end());
    vs.push_back(g.add_input(fmt::format("x{}", i), ins[i].dtype(), dims));
  }
  ir::Node* n = g.add_node(op, vs, 1, "n");
  n->attrs = attrs;
  g.outputs.push_back(n->outputs[0]);
  auto s = Session::create(std::move(g), {.threads = threads});
  if (!s) return s.status();
  auto out = (*s)->run(ins);
  if (!out) return out.status();
  return (*out)[0];
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// Empty tensors go through Tensor::empty: from_vector would memcpy from a null pointer.
Tensor f32(std::vector<float> v, Shape s) {
  if (v.empty()) return Tensor::empty(DType::F32, std::move(s));
  return Tensor::from_vector<float>(v, std::move(s));
}
Tensor i32(std::vector<int32_t> v, Shape s) {
  return Tensor::from_vector<int32_t>(v, std::move(s));
}

}  // namespace

TEST(Elementwise, AddBroadcastsTrailingAndMiddleDims) {
  // [2, 3, 2] + [3, 1]: b varies along the middle dim only.
  std::vector<float> a(12);
  for (int i = 0; i < 12; ++i) a[i] = static_cast<float>(i);
  auto y = run_op(OpKind::Add, {f32(a, {2, 3, 2}), f32({100, 200, 300}, {3, 1})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(y->shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values<float>(*y),
            (std::vector<float>{100, 101, 202, 203, 304, 305, 106, 107, 208, 209, 310, 311}));
}

TEST(Elementwise, ScalarAndOuterBroadcast) {
  auto y = run_op(OpKind::Mul, {f32({2}, {}), f32({1, 2, 3}, {3})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(values<float>(*y), (std::vector<float>{2, 4, 6}));
  // [3, 1] x [1, 2] -> [3, 2] (both inputs broadcast).
  auto z = run_op(OpKind::Sub, {f32({1, 2, 3}, {3, 1}), f32({10, 20}, {1, 2})});
  ASSERT_TRUE(z) << z.status().message();
  EXPECT_EQ(z->shape(), (Shape{3, 2}));
  EXPECT_EQ(values<float>(*z), (std::vector<float>{-9, -19, -8, -18, -7, -17}));
  // Scalar op scalar.
  auto s = run_op(OpKind::Add, {f32({1}, {}), f32({2}, {})});
  ASSERT_TRUE(s) << s.status().message();
  EXPECT_EQ(s->shape(), Shape{});
  EXPECT_EQ(s->data<float>()[0], 3.0f);
}

TEST(Elementwise, EmptyTensors) {
  auto y = run_op(OpKind::Add, {f32({}, {0, 3}), f32({1, 2, 3}, {3})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(y->shape(), (Shape{0, 3}));
  auto r = run_op(OpKind::Relu, {f32({}, {0})});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->numel(), 0);
  auto w =
      run_op(OpKind::Where, {Tensor::empty(DType::Bool, {2, 0}), f32({1}, {1}), f32({}, {0})});
  ASSERT_TRUE(w) << w.status().message();
  EXPECT_EQ(w->shape(), (Shape{2, 0}));
  auto c = run_op(OpKind::Cast, {f32({}, {0})}, {{"to", ir::Attribute::of_int(22)}});  // INT4
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->numel(), 0);
}

TEST(Elementwise, IncompatibleShapesFailNamingTheNode) {
  auto y = run_op(OpKind::Add, {f32({1, 2, 3, 4, 5, 6}, {2, 3}), f32({1, 2, 3, 4}, {4})});
  ASSERT_FALSE(y);
  EXPECT_NE(y.status().message().find("'n' (Add)"), std::string::npos) << y.status().message();
  auto m = run_op(OpKind::Add, {f32({1}, {1}), i32({1}, {1})});
  EXPECT_FALSE(m);  // mixed dtypes
  auto p = run_op(OpKind::PRelu, {f32({1, 2}, {2}), f32({1, 2, 3, 4}, {2, 2})});
  EXPECT_FALSE(p);  // slope must broadcast to X's shape
}

// ONNX leaves integer division by zero undefined; condense returns 0 (see elementwise_binary.cpp).
TEST(Elementwise, IntegerDivisionTruncatesAndDivisionByZeroIsZero) {
  const int32_t mn = std::numeric_limits<int32_t>::min();
  auto y = run_op(OpKind::Div, {i32({-7, 7, 5, mn, 0}, {5}), i32({2, -2, 0, -1, 0}, {5})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(values<int32_t>(*y), (std::vector<int32_t>{-3, -3, 0, mn, 0}));
  auto u = run_op(OpKind::Div, {Tensor::from_vector<uint8_t>({200, 7}, {2}),
                                Tensor::from_vector<uint8_t>({0, 2}, {2})});
  ASSERT_TRUE(u) << u.status().message();
  EXPECT_EQ(values<uint8_t>(*u), (std::vector<uint8_t>{0, 3}));
}

TEST(Elementwise, IntegerOverflowWraps) {
  const int64_t mx = std::numeric_limits<int64_t>::max();
  auto y = run_op(OpKind::Add, {Tensor::from_vector<int64_t>({mx}, {1}),
                                Tensor::from_vector<int64_t>({1}, {1})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(y->data<int64_t>()[0], std::numeric_limits<int64_t>::min());
  auto m = run_op(OpKind::Mul, {Tensor::from_vector<uint16_t>({65535}, {1}),
                                Tensor::from_vector<uint16_t>({65535}, {1})});
  ASSERT_TRUE(m) << m.status().message();
  EXPECT_EQ(m->data<uint16_t>()[0], 1);
  auto n = run_op(OpKind::Neg, {i32({std::numeric_limits<int32_t>::min()}, {1})});
  ASSERT_TRUE(n) << n.status().message();
  EXPECT_EQ(n->data<int32_t>()[0], std::numeric_limits<int32_t>::min());
}

TEST(Elementwise, ModSignConventions) {
  auto floored = run_op(OpKind::Mod, {i32({-7, 7, -7, 7, 5}, {5}), i32({3, -3, -3, 3, 0}, {5})});
  ASSERT_TRUE(floored) << floored.status().message();
  EXPECT_EQ(values<int32_t>(*floored), (std::vector<int32_t>{2, -2, -1, 1, 0}));
  auto trunc = run_op(OpKind::Mod, {i32({-7, 7}, {2}), i32({3, -3}, {2})},
                      {{"fmod", ir::Attribute::of_int(1)}});
  ASSERT_TRUE(trunc) << trunc.status().message();
  EXPECT_EQ(values<int32_t>(*trunc), (std::vector<int32_t>{-1, 1}));
  auto fl =
      run_op(OpKind::Mod, {f32({-7.5f}, {1}), f32({2}, {1})}, {{"fmod", ir::Attribute::of_int(1)}});
  ASSERT_TRUE(fl) << fl.status().message();
  EXPECT_FLOAT_EQ(fl->data<float>()[0], -1.5f);
  // Floats require fmod=1 (ONNX spec).
  EXPECT_FALSE(run_op(OpKind::Mod, {f32({1}, {1}), f32({2}, {1})}));
}

TEST(Elementwise, PowMixedDtypes) {
  auto a = run_op(OpKind::Pow, {i32({2, 2, 1, -1, -1, 3}, {6}),
                                Tensor::from_vector<int64_t>({10, -1, -5, -3, 4, 0}, {6})});
  ASSERT_TRUE(a) << a.status().message();
  EXPECT_EQ(values<int32_t>(*a), (std::vector<int32_t>{1024, 0, 1, -1, 1, 1}));
  auto b = run_op(OpKind::Pow, {f32({4, 2}, {2}), i32({-1, 3}, {2})});
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(values<float>(*b), (std::vector<float>{0.25f, 8}));
  auto c = run_op(OpKind::Pow, {i32({9}, {1}), f32({0.5f}, {1})});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->data<int32_t>()[0], 3);
}

TEST(Elementwise, BitShiftPastWidthIsZero) {
  auto l = run_op(OpKind::BitShift,
                  {Tensor::from_vector<uint8_t>({1, 1, 255}, {3}),
                   Tensor::from_vector<uint8_t>({7, 8, 200}, {3})},
                  {{"direction", ir::Attribute::of_string("LEFT")}});
  ASSERT_TRUE(l) << l.status().message();
  EXPECT_EQ(values<uint8_t>(*l), (std::vector<uint8_t>{128, 0, 0}));
  EXPECT_FALSE(
      run_op(OpKind::BitShift,
             {Tensor::from_vector<uint8_t>({1}, {1}), Tensor::from_vector<uint8_t>({1}, {1})},
             {{"direction", ir::Attribute::of_string("UP")}}));
}

TEST(Elementwise, RoundHalfToEven) {
  auto y = run_op(OpKind::Round, {f32({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f}, {6})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(values<float>(*y), (std::vector<float>{0, 2, 2, -0.0f, -2, 2}));
}

TEST(Elementwise, ClipBoundsAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto none = run_op(OpKind::Clip, {f32({-inf, 1, inf}, {3})});
  ASSERT_TRUE(none) << none.status().message();
  EXPECT_EQ(values<float>(*none), (std::vector<float>{-inf, 1, inf}));
  auto both = run_op(OpKind::Clip, {f32({-5, 0.5f, 5, nan}, {4}), f32({0}, {}), f32({1}, {})});
  ASSERT_TRUE(both) << both.status().message();
  auto v = values<float>(*both);
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 0.5f);
  EXPECT_EQ(v[2], 1);
  EXPECT_TRUE(std::isnan(v[3]));
  // min > max: every value becomes max.
  auto inv = run_op(OpKind::Clip, {f32({-5, 0, 5}, {3}), f32({3}, {}), f32({1}, {})});
  ASSERT_TRUE(inv) << inv.status().message();
  EXPECT_EQ(values<float>(*inv), (std::vector<float>{1, 1, 1}));
  EXPECT_FALSE(run_op(OpKind::Clip, {f32({1}, {1}), f32({0, 1}, {2})}));  // min not a scalar
}

TEST(Elementwise, CastConversions) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto to_i32 = run_op(OpKind::Cast, {f32({-1.7f, 2.9f, nan, 1e10f, -1e10f}, {5})},
                       {{"to", ir::Attribute::of_int(6)}});
  ASSERT_TRUE(to_i32) << to_i32.status().message();
  EXPECT_EQ(values<int32_t>(*to_i32),
            (std::vector<int32_t>{-1, 2, 0, std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min()}));
  auto to_bool =
      run_op(OpKind::Cast, {f32({0, -0.0f, 0.1f, nan}, {4})}, {{"to", ir::Attribute::of_int(9)}});
  ASSERT_TRUE(to_bool) << to_bool.status().message();
  EXPECT_EQ(values<bool>(*to_bool), (std::vector<bool>{false, false, true, true}));
  auto narrow = run_op(OpKind::Cast, {i32({300, -129}, {2})}, {{"to", ir::Attribute::of_int(3)}});
  ASSERT_TRUE(narrow) << narrow.status().message();
  EXPECT_EQ(values<int8_t>(*narrow), (std::vector<int8_t>{44, 127}));  // wraps
  // int4 round trip with an odd count (the last byte is half used); 8 wraps to -8.
  auto i4 =
      run_op(OpKind::Cast, {f32({-8, 7, 3.9f, 8, -9}, {5})}, {{"to", ir::Attribute::of_int(22)}});
  ASSERT_TRUE(i4) << i4.status().message();
  auto back = run_op(OpKind::Cast, {*i4}, {{"to", ir::Attribute::of_int(1)}});
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(values<float>(*back), (std::vector<float>{-8, 7, 3, -8, 7}));
  auto f8 = run_op(OpKind::Cast, {f32({1}, {1})}, {{"to", ir::Attribute::of_int(17)}});
  ASSERT_FALSE(f8);
  EXPECT_NE(f8.status().message().find("FLOAT8E4M3FN"), std::string::npos) << f8.status().message();
  EXPECT_FALSE(run_op(OpKind::Cast, {f32({1}, {1})}));  // no `to`
}

TEST(Elementwise, CastLikeTakesTheSecondInputsDtype) {
  auto y =
      run_op(OpKind::CastLike, {f32({1.5f, -2.5f}, {2}), Tensor::from_vector<int64_t>({0}, {1})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(y->dtype(), DType::I64);
  EXPECT_EQ(values<int64_t>(*y), (std::vector<int64_t>{1, -2}));
}

TEST(Elementwise, VariadicBroadcastAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto s = run_op(OpKind::Sum, {f32({1, 2}, {2, 1}), f32({10, 20, 30}, {3}), f32({100}, {})});
  ASSERT_TRUE(s) << s.status().message();
  EXPECT_EQ(s->shape(), (Shape{2, 3}));
  EXPECT_EQ(values<float>(*s), (std::vector<float>{111, 121, 131, 112, 122, 132}));
  auto m = run_op(OpKind::Mean, {f32({1, 2}, {2}), f32({3, 6}, {2})});
  ASSERT_TRUE(m) << m.status().message();
  EXPECT_EQ(values<float>(*m), (std::vector<float>{2, 4}));
  auto mx = run_op(OpKind::Max, {f32({1, nan, 3}, {3}), f32({2, 0, nan}, {3})});
  ASSERT_TRUE(mx) << mx.status().message();
  auto v = values<float>(*mx);
  EXPECT_EQ(v[0], 2);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_TRUE(std::isnan(v[2]));
  auto one = run_op(OpKind::Min, {i32({4, -2}, {2})});
  ASSERT_TRUE(one) << one.status().message();
  EXPECT_EQ(values<int32_t>(*one), (std::vector<int32_t>{4, -2}));
}

TEST(Elementwise, WhereThreeWayBroadcast) {
  auto y = run_op(OpKind::Where, {Tensor::from_vector<bool>({true, false}, {2, 1}),
                                  i32({1, 2, 3}, {3}), i32({-1}, {})});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_EQ(values<int32_t>(*y), (std::vector<int32_t>{1, 2, 3, -1, -1, -1}));
}

TEST(Elementwise, IsInfDirections) {
  const float inf = std::numeric_limits<float>::infinity();
  auto y = run_op(OpKind::IsInf, {f32({-inf, inf, 0}, {3})},
                  {{"detect_positive", ir::Attribute::of_int(0)}});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ(values<bool>(*y), (std::vector<bool>{true, false, false}));
}

TEST(Elementwise, BadAttributesAndDtypes) {
  EXPECT_FALSE(
      run_op(OpKind::Gelu, {f32({1}, {1})}, {{"approximate", ir::Attribute::of_string("erf")}}));
  EXPECT_FALSE(run_op(OpKind::Exp, {i32({1}, {1})}));  // Exp is float-only
  EXPECT_FALSE(run_op(OpKind::Not, {f32({1}, {1})}));
  EXPECT_FALSE(
      run_op(OpKind::Mod, {i32({1}, {1}), i32({1}, {1})}, {{"fmod", ir::Attribute::of_int(2)}}));
}

// Big enough for the parallel path; compared against a direct computation.
TEST(Elementwise, ParallelChannelBroadcastMatchesDirect) {
  const int64_t N = 4, C = 3, HW = 64 * 64;
  std::vector<float> x(N * C * HW), b(C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 1000) * 0.25f - 100.0f;
  for (int64_t c = 0; c < C; ++c) b[c] = static_cast<float>(c + 1);
  auto y = run_op(OpKind::Add, {f32(x, {N, C, 64, 64}), f32(b, {C, 1, 1})}, {}, 2);
  ASSERT_TRUE(y) << y.status().message();
  const float* p = y->data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (n * C + c) * HW + i;
        ASSERT_EQ(p[k], x[k] + b[c]) << "n=" << n << " c=" << c << " i=" << i;
      }
  auto r = run_op(OpKind::Sigmoid, {f32(x, {N, C, 64, 64})}, {}, 2);
  ASSERT_TRUE(r) << r.status().message();
  for (size_t i = 0; i < x.size(); i += 97)
    ASSERT_NEAR(r->data<float>()[i], 1.0 / (1.0 + std::exp(-static_cast<double>(x[i]))), 1e-6);
}
