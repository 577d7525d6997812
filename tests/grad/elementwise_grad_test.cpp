// Finite-difference checks of the elementwise gradient rules (f64).
#include <condense/session.h>
#include <gtest/gtest.h>

#include "grad_check.h"

namespace condense::test {
namespace {

using A = ir::Attribute;

TEST(GradElementwise, BinaryWithBroadcasting) {
  std::mt19937 rng(1);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{5}, {}}, {{1, 3}, {2, 1}}};
  for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div}) {
    for (const auto& [sa, sb] : shapes) {
      GradCase c{fmt::format("{} {} x {}", op_name(op), shape_str(sa), shape_str(sb)), op};
      Tensor b = op == OpKind::Div ? away_from(sb, rng, 0.0, 0.5) : uniform(sb, rng);
      c.inputs = {param(uniform(sa, rng)), param(b)};
      check_gradients(c);
    }
  }
}

TEST(GradElementwise, OneSideFrozen) {
  std::mt19937 rng(2);
  GradCase c{"Mul with a constant second operand", OpKind::Mul};
  c.inputs = {param(uniform({2, 3}, rng)), konst(uniform({3}, rng))};
  check_gradients(c);
  GradCase d{"Sub with a constant first operand", OpKind::Sub};
  d.inputs = {konst(uniform({2, 3}, rng)), param(uniform({2, 3}, rng))};
  check_gradients(d);
}

TEST(GradElementwise, Pow) {
  std::mt19937 rng(3);
  GradCase c{"Pow base (2, 3) > 0, exponent (3)", OpKind::Pow};
  c.inputs = {param(uniform({2, 3}, rng, 0.5, 2.0)), param(uniform({3}, rng, -2.0, 2.0))};
  check_gradients(c);
  GradCase d{"Pow base with a constant integer exponent 3", OpKind::Pow};
  d.inputs = {param(uniform({4}, rng)), konst(Tensor::scalar<int64_t>(3))};
  check_gradients(d);
}

struct UnaryCase {
  OpKind op;
  std::map<std::string, A> attrs;
  double kink;    // a point to keep away from
  double lo, hi;  // input range (when no kink)
  bool has_kink;
};

TEST(GradElementwise, Unary) {
  const std::vector<UnaryCase> cases = {
      {OpKind::Neg, {}, 0, -1, 1, false},
      {OpKind::Abs, {}, 0, 0, 0, true},
      {OpKind::Exp, {}, 0, -1, 1, false},
      {OpKind::Log, {}, 0, 0.2, 2, false},
      {OpKind::Sqrt, {}, 0, 0.2, 2, false},
      {OpKind::Reciprocal, {}, 0, 0.5, 2, false},
      {OpKind::Relu, {}, 0, 0, 0, true},
      {OpKind::LeakyRelu, {{"alpha", A::of_float(0.1f)}}, 0, 0, 0, true},
      {OpKind::Sigmoid, {}, 0, -3, 3, false},
      {OpKind::Tanh, {}, 0, -2, 2, false},
      {OpKind::Gelu, {}, 0, -3, 3, false},
      {OpKind::Gelu, {{"approximate", A::of_string("tanh")}}, 0, -3, 3, false},
      {OpKind::Erf, {}, 0, -2, 2, false},
      {OpKind::HardSigmoid,
       {{"alpha", A::of_float(0.25f)}, {"beta", A::of_float(0.4f)}},
       0,
       -1,
       1,
       false},
      {OpKind::HardSwish, {}, 0, -2.5, 2.5, false},
      {OpKind::Softplus, {}, 0, -3, 3, false},
      {OpKind::Elu, {{"alpha", A::of_float(0.7f)}}, 0, 0, 0, true},
      {OpKind::Identity, {}, 0, -1, 1, false},
      {OpKind::Selu, {}, 0, 0, 0, true},
      {OpKind::Selu, {{"alpha", A::of_float(1.2f)}, {"gamma", A::of_float(0.8f)}}, 0, 0, 0, true},
      {OpKind::Celu, {{"alpha", A::of_float(0.6f)}}, 0, 0, 0, true},
      {OpKind::Softsign, {}, 0, 0, 0, true},
      {OpKind::Mish, {}, 0, -3, 3, false},
      {OpKind::Swish, {}, 0, -3, 3, false},
      {OpKind::Swish, {{"alpha", A::of_float(1.7f)}}, 0, -3, 3, false},
      {OpKind::ThresholdedRelu, {{"alpha", A::of_float(0.3f)}}, 0.3, 0, 0, true},
      {OpKind::Sin, {}, 0, -3, 3, false},
      {OpKind::Cos, {}, 0, -3, 3, false},
  };
  std::mt19937 rng(4);
  for (const UnaryCase& u : cases) {
    for (const Shape& s : {Shape{7}, Shape{2, 3, 4}}) {
      GradCase c{fmt::format("{} {}", op_name(u.op), shape_str(s)), u.op};
      c.attrs = u.attrs;
      c.inputs = {param(u.has_kink ? away_from(s, rng, u.kink) : uniform(s, rng, u.lo, u.hi))};
      check_gradients(c);
    }
  }
}

TEST(GradElementwise, PRelu) {
  std::mt19937 rng(9);
  for (const Shape& slope : {Shape{3, 1, 1}, Shape{1}, Shape{2, 3, 4, 5}}) {
    GradCase c("PRelu x (2, 3, 4, 5), slope " + shape_str(slope), OpKind::PRelu);
    c.inputs = {param(away_from({2, 3, 4, 5}, rng)), param(uniform(slope, rng))};
    check_gradients(c);
  }
}

TEST(GradElementwise, Clip) {
  std::mt19937 rng(5);
  // Relu6-like bounds as constants; values kept away from both bounds.
  Tensor x = Tensor::empty(DType::F64, {3, 5});
  std::uniform_real_distribution<double> d(0.0, 1.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double band[] = {-0.5 + 0.4 * d(rng), 0.05 + 0.4 * d(rng), 0.55 + 0.4 * d(rng)};
    x.data<double>()[i] = band[i % 3];
  }
  GradCase c{"Clip(0, 0.5) constant bounds", OpKind::Clip};
  c.inputs = {param(x), konst(Tensor::scalar<double>(0.0)), konst(Tensor::scalar<double>(0.5))};
  check_gradients(c);
  GradCase lo{"Clip with only min", OpKind::Clip};
  lo.inputs = {param(x), konst(Tensor::scalar<double>(0.5))};
  check_gradients(lo);
  GradCase none{"Clip without bounds", OpKind::Clip};
  none.inputs = {param(x)};
  check_gradients(none);
}

TEST(GradElementwise, VariadicAndSelection) {
  std::mt19937 rng(6);
  for (OpKind op : {OpKind::Max, OpKind::Min, OpKind::Sum, OpKind::Mean}) {
    // Distinct values across inputs: no ties in Max / Min.
    Tensor all = distinct({3, 2, 4}, rng);
    Tensor a = all.reshaped({3, 2, 4}).clone();
    GradCase c{fmt::format("{} of (2, 4), (4), (2, 1)", op_name(op)), op};
    std::vector<double> v(all.data<double>(), all.data<double>() + 24);
    c.inputs = {param(f64s({v.begin(), v.begin() + 8}, {2, 4})),
                param(f64s({v.begin() + 8, v.begin() + 12}, {4})),
                param(f64s({v.begin() + 12, v.begin() + 14}, {2, 1}))};
    check_gradients(c);
    GradCase one{fmt::format("{} of one input", op_name(op)), op};
    one.inputs = {param(uniform({3}, rng))};
    check_gradients(one);
  }
}

TEST(GradElementwise, Where) {
  std::mt19937 rng(7);
  Tensor cond = Tensor::from_vector<bool>({true, false, false, true, true, false}, {2, 3});
  GradCase c{"Where with broadcast branches", OpKind::Where};
  c.inputs = {konst(cond), param(uniform({2, 3}, rng)), param(uniform({3}, rng))};
  check_gradients(c);
}

TEST(GradElementwise, CastFloatToFloat) {
  std::mt19937 rng(8);
  GradCase c("Cast f64 -> f64", OpKind::Cast);
  c.attrs["to"] = A::of_int(11);
  c.inputs = {param(uniform({4}, rng))};
  check_gradients(c);
  // f64 -> f32 -> f64: the gradient is cast back at each step (loss = sum(w * cast(cast(p)))).
  ir::Graph g;
  ir::Value* p = g.add_constant("p", uniform({5}, rng));
  ir::Node* down = g.add_node(OpKind::Cast, {p}, 1, "down");
  down->attrs["to"] = A::of_int(1);
  ir::Node* up = g.add_node(OpKind::Cast, {down->outputs[0]}, 1, "up");
  up->attrs["to"] = A::of_int(11);
  const Tensor w = uniform({5}, rng);
  ir::Value* prod =
      g.add_node(OpKind::Mul, {up->outputs[0], g.add_constant("w", w)}, 1, "mul")->outputs[0];
  ir::Node* sum = g.add_node(OpKind::ReduceSum, {prod}, 1, "loss");
  sum->attrs["keepdims"] = A::of_int(0);
  g.outputs = {sum->outputs[0]};
  autograd::TrainingOptions opts;
  opts.parameters = {"p"};
  auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  auto s = Session::create(std::move(tg->graph), {.threads = 1, .optimize = false});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  auto out = (*s)->run(std::map<std::string, Tensor>{{"p", uniform({5}, rng)}});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  ASSERT_EQ((*out)[1].dtype(), DType::F64);
  for (int64_t i = 0; i < 5; ++i) EXPECT_NEAR((*out)[1].get_f64(i), w.get_f64(i), 1e-6);
}

}  // namespace
}  // namespace condense::test
