// The QDQ -> QOperator lowering (passes/lower_qdq.cpp, quant::to_qoperator): which patterns
// become integer ops, which stay in QDQ form, and that the integer graph computes what the QDQ
// graph computes within one quantization step.
#include <condense/quant.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include "quant_test_util.h"

namespace condense {
namespace {

using quant_test::count_op;
using quant_test::random_tensor;

Tensor zp_tensor(DType t, int v) {
  Tensor z = Tensor::empty(t, {});
  if (t == DType::U8)
    z.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  else
    z.data<int8_t>()[0] = static_cast<int8_t>(v);
  return z;
}

// Q -> DQ on v with a fresh per-tensor scale / zero point; returns the DQ output.
ir::Value* qdq(ir::Graph& g, ir::Value* v, float scale, DType t, int zp, const std::string& name) {
  ir::Value* s = g.add_constant(name + "_scale", Tensor::scalar<float>(scale));
  ir::Value* z = g.add_constant(name + "_zp", zp_tensor(t, zp));
  ir::Value* q = g.add_node(OpKind::QuantizeLinear, {v, s, z}, 1, name + "_Q")->outputs[0];
  q->dtype = t;
  return g.add_node(OpKind::DequantizeLinear, {q, s, z}, 1, name + "_DQ")->outputs[0];
}

// DQ of a constant int8 weight (per output channel) and, optionally, of an int32 bias whose
// scale is x_scale * w_scale[m] * bias_scale_factor.
struct ConvWeights {
  ir::Value* w = nullptr;
  ir::Value* b = nullptr;
};
ConvWeights conv_weights(ir::Graph& g, int64_t M, int64_t C, float x_scale, bool bias,
                         float bias_scale_factor = 1.f) {
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> d(-127, 127);
  Tensor wq = Tensor::empty(DType::I8, {M, C, 3, 3});
  for (int64_t i = 0; i < wq.numel(); ++i) wq.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  Tensor ws = Tensor::empty(DType::F32, {M});
  for (int64_t m = 0; m < M; ++m) ws.data<float>()[m] = 0.004f + 0.001f * static_cast<float>(m);
  ConvWeights r;
  ir::Node* dw = g.add_node(OpKind::DequantizeLinear,
                            {g.add_constant("w_q", wq), g.add_constant("w_scale", ws),
                             g.add_constant("w_zp", Tensor::zeros(DType::I8, {M}))},
                            1, "w_DQ");
  dw->attrs["axis"] = ir::Attribute::of_int(0);
  r.w = dw->outputs[0];
  if (bias) {
    Tensor bq = Tensor::empty(DType::I32, {M});
    Tensor bs = Tensor::empty(DType::F32, {M});
    for (int64_t m = 0; m < M; ++m) {
      bq.data<int32_t>()[m] = static_cast<int32_t>(200 * m - 700);
      bs.data<float>()[m] = x_scale * ws.data<float>()[m] * bias_scale_factor;
    }
    ir::Node* db = g.add_node(OpKind::DequantizeLinear,
                              {g.add_constant("b_q", bq), g.add_constant("b_scale", bs),
                               g.add_constant("b_zp", Tensor::zeros(DType::I32, {M}))},
                              1, "b_DQ");
    db->attrs["axis"] = ir::Attribute::of_int(0);
    r.b = db->outputs[0];
  }
  return r;
}

// x (N, 4, 6, 6) -> QDQ -> Conv 3x3 pad 1 (+ bias) -> Relu -> QDQ (dtype t, zero point zp) -> y.
ir::Graph conv_relu_graph(DType t, int zp, float bias_scale_factor = 1.f) {
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4, 6, 6});
  ir::Value* xd = qdq(g, x, 0.02f, DType::U8, 128, "x");
  ConvWeights w = conv_weights(g, 8, 4, 0.02f, true, bias_scale_factor);
  ir::Node* conv = g.add_node(OpKind::Conv, {xd, w.w, w.b}, 1, "conv");
  conv->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  ir::Value* r = g.add_node(OpKind::Relu, {conv->outputs[0]}, 1, "relu")->outputs[0];
  g.outputs.push_back(qdq(g, r, 0.05f, t, zp, "y"));
  return g;
}

// Max |a - b| in units of `step`.
double steps_apart(const Tensor& a, const Tensor& b, double step) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(a.get_f64(i) - b.get_f64(i)) / step);
  return worst;
}

TEST(LowerQdq, ConvReluImpliedByU8ZeroPointBecomesQLinearConv) {
  auto r = quant::to_qoperator(conv_relu_graph(DType::U8, 0));
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(count_op(r->graph, OpKind::QLinearConv), 1);
  EXPECT_EQ(count_op(r->graph, OpKind::Conv), 0);
  EXPECT_EQ(count_op(r->graph, OpKind::Relu), 0);
  EXPECT_TRUE(r->left_in_float.empty());
  ASSERT_EQ(r->lowered.size(), 1u);
  EXPECT_EQ(r->lowered[0], "conv");

  // The integer graph (lowered at load) against the QDQ graph run as it is (no load passes):
  // within one output step.
  Tensor x = random_tensor({2, 4, 6, 6}, 1.0f, 3);
  Tensor lowered = quant_test::run1(conv_relu_graph(DType::U8, 0), x, true);
  Tensor fake = quant_test::run1(conv_relu_graph(DType::U8, 0), x, false);
  EXPECT_LE(steps_apart(lowered, fake, 0.05), 1.0 + 1e-6);
}

TEST(LowerQdq, ReluNotImpliedStaysInQdqForm) {
  // int8 with zero point 0: saturation does not clip at 0, so the Relu cannot be dropped.
  auto r = quant::to_qoperator(conv_relu_graph(DType::I8, 0));
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(count_op(r->graph, OpKind::QLinearConv), 0);
  EXPECT_EQ(count_op(r->graph, OpKind::Conv), 1);
  ASSERT_EQ(r->left_in_float.size(), 1u);
  EXPECT_EQ(r->left_in_float[0], "conv");
  // int8 with zero point -128: implied again.
  auto r2 = quant::to_qoperator(conv_relu_graph(DType::I8, -128));
  ASSERT_TRUE(r2) << r2.status().message();
  EXPECT_EQ(count_op(r2->graph, OpKind::QLinearConv), 1);
}

TEST(LowerQdq, ReluNotImpliedIsFusedAtLoad) {
  // At load (Session), the same pattern runs on the integer kernel with the Relu fused.
  auto s = Session::create(conv_relu_graph(DType::I8, 0), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  int qlinear = 0;
  for (const auto& n : (*s)->graph().nodes()) {
    if (n->op != OpKind::QLinearConv) continue;
    ++qlinear;
    EXPECT_EQ(n->attr_string("_activation", ""), "Relu");
  }
  EXPECT_EQ(qlinear, 1);
  Tensor x = random_tensor({2, 4, 6, 6}, 1.0f, 5);
  Tensor lowered = quant_test::run1(conv_relu_graph(DType::I8, 0), x, true);
  Tensor fake = quant_test::run1(conv_relu_graph(DType::I8, 0), x, false);
  EXPECT_LE(steps_apart(lowered, fake, 0.05), 1.0 + 1e-6);
  for (int64_t i = 0; i < lowered.numel(); ++i) ASSERT_GE(lowered.get_f64(i), 0.0) << i;
}

TEST(LowerQdq, BiasWithAnotherScaleIsRequantized) {
  // The QDQ bias scale is 2x x_scale * w_scale: the QLinearConv bias must be 2x the integers.
  auto r = quant::to_qoperator(conv_relu_graph(DType::U8, 0, 2.f));
  ASSERT_TRUE(r) << r.status().message();
  const ir::Node* qc = nullptr;
  for (const auto& n : r->graph.nodes())
    if (n->op == OpKind::QLinearConv) qc = n.get();
  ASSERT_NE(qc, nullptr);
  ASSERT_NE(qc->input(8), nullptr);
  const Tensor& b = *qc->input(8)->constant;
  ASSERT_EQ(b.numel(), 8);
  for (int64_t m = 0; m < 8; ++m) EXPECT_EQ(b.data<int32_t>()[m], 2 * (200 * m - 700)) << m;
  Tensor x = random_tensor({2, 4, 6, 6}, 1.0f, 4);
  Tensor lowered = quant_test::run1(conv_relu_graph(DType::U8, 0, 2.f), x, true);
  Tensor fake = quant_test::run1(conv_relu_graph(DType::U8, 0, 2.f), x, false);
  EXPECT_LE(steps_apart(lowered, fake, 0.05), 1.0 + 1e-6);
}

// a, b -> QDQ each -> Slice / Pad(0) on b -> Add -> Relu -> QDQ: the data movement runs on the
// uint8 tensor (Pad with the zero point), the Add becomes QLinearAdd.
ir::Graph add_graph() {
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* a = g.add_input("a", DType::F32, {2, 4, 3, 3});
  ir::Value* b = g.add_input("b", DType::F32, {2, 2, 6, 6});
  ir::Value* ad = qdq(g, a, 0.03f, DType::U8, 100, "a");
  ir::Value* bd = qdq(g, b, 0.02f, DType::U8, 30, "b");
  auto i64 = [&](std::vector<int64_t> v, const std::string& n) {
    return g.add_constant(n, Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}));
  };
  ir::Value* s = g.add_node(OpKind::Slice,
                            {bd, i64({0, 0}, "starts"), i64({6, 6}, "ends"), i64({2, 3}, "axes"),
                             i64({2, 2}, "steps")},
                            1, "slice")
                     ->outputs[0];  // (2, 2, 3, 3)
  ir::Value* p = g.add_node(OpKind::Pad,
                            {s, i64({0, 1, 0, 0, 0, 1, 0, 0}, "pads"),
                             g.add_constant("pad_value", Tensor::scalar<float>(0.f))},
                            1, "pad")
                     ->outputs[0];  // (2, 4, 3, 3)
  ir::Value* sum = g.add_node(OpKind::Add, {ad, p}, 1, "add")->outputs[0];
  ir::Value* r = g.add_node(OpKind::Relu, {sum}, 1, "add_relu")->outputs[0];
  g.outputs.push_back(qdq(g, r, 0.04f, DType::U8, 0, "y"));
  return g;
}

TEST(LowerQdq, DataMovementOnIntegersAndQLinearAdd) {
  auto r = quant::to_qoperator(add_graph());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(count_op(r->graph, OpKind::QLinearAdd), 1);
  EXPECT_EQ(count_op(r->graph, OpKind::Add), 0);
  for (const auto& n : r->graph.nodes()) {
    if (n->op == OpKind::Pad) {
      EXPECT_EQ(n->inputs[0]->dtype, DType::U8);
      ASSERT_NE(n->input(2), nullptr);
      EXPECT_EQ(n->input(2)->constant->dtype(), DType::U8);
      EXPECT_EQ(n->input(2)->constant->get_f64(0), 30.0);  // b's zero point: real 0
    }
    if (n->op == OpKind::Slice) {
      ASSERT_NE(n->inputs[0]->producer, nullptr);
      EXPECT_EQ(n->inputs[0]->producer->op, OpKind::QuantizeLinear);
    }
  }
  Tensor a = random_tensor({2, 4, 3, 3}, 1.0f, 8);
  Tensor b = random_tensor({2, 2, 6, 6}, 1.0f, 9);
  auto run = [&](bool optimize) {
    auto s = Session::create(add_graph(), {.threads = 1, .optimize = optimize});
    EXPECT_TRUE(s) << s.status().message();
    auto y = (*s)->run(std::vector<Tensor>{a, b});
    EXPECT_TRUE(y) << y.status().message();
    return (*y)[0];
  };
  EXPECT_LE(steps_apart(run(true), run(false), 0.04), 1.0 + 1e-6);
}

TEST(LowerQdq, QuantizeOfDequantizeWithSameParamsCancels) {
  // x -> Q -> DQ -> Reshape -> Q (same params) -> DQ -> y: the Reshape runs on the uint8 tensor
  // and the inner Q / DQ pair disappears.
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_input("x", DType::F32, {2, 6});
  ir::Value* xd = qdq(g, x, 0.1f, DType::U8, 7, "x");
  ir::Value* shape = g.add_constant("shape", Tensor::from_vector<int64_t>({3, 4}, {2}));
  ir::Value* r = g.add_node(OpKind::Reshape, {xd, shape}, 1, "reshape")->outputs[0];
  g.outputs.push_back(qdq(g, r, 0.1f, DType::U8, 7, "y"));
  auto lowered = quant::to_qoperator(std::move(g));
  ASSERT_TRUE(lowered) << lowered.status().message();
  EXPECT_EQ(count_op(lowered->graph, OpKind::QuantizeLinear), 1);
  EXPECT_EQ(count_op(lowered->graph, OpKind::DequantizeLinear), 1);
  EXPECT_EQ(count_op(lowered->graph, OpKind::Reshape), 1);
}

}  // namespace
}  // namespace condense
