#include <condense/ir.h>
#include <condense/ir_clone.h>
#include <condense/session.h>
#include <gtest/gtest.h>

using namespace condense;

namespace {
ir::Graph make_mlp() {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  Tensor w = Tensor::from_vector<float>({1, 0, 0, 1, 1, 1, -1, 0}, {4, 2});
  ir::Value* wv = g.add_constant("w", w);
  ir::Value* b = g.add_constant("b", Tensor::from_vector<float>({0.5f, -10.f}, {2}));
  ir::Value* h = g.add_node(OpKind::MatMul, {x, wv}, 1, "fc")->outputs[0];
  ir::Value* y = g.add_node(OpKind::Add, {h, b}, 1, "bias")->outputs[0];
  ir::Value* r = g.add_node(OpKind::Relu, {y}, 1, "relu")->outputs[0];
  g.outputs.push_back(r);
  return g;
}
}  // namespace

TEST(Graph, VerifyAndPrint) {
  ir::Graph g = make_mlp();
  ASSERT_TRUE(g.verify().is_ok()) << g.verify().message();
  std::string text = ir::print_graph(g);
  EXPECT_NE(text.find("%fc = MatMul(%x, %w)"), std::string::npos) << text;
  EXPECT_NE(text.find("x: f32[N, 4]"), std::string::npos) << text;
}

TEST(Graph, VerifyRejectsUndefinedInput) {
  ir::Graph g;
  ir::Value* ghost = g.add_value("ghost");
  g.outputs.push_back(g.add_node(OpKind::Relu, {ghost}, 1, "r")->outputs[0]);
  Status s = g.verify();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("ghost"), std::string::npos) << s.message();
}

TEST(Graph, VerifyRejectsCycle) {
  ir::Graph g;
  ir::Value* a = g.add_value("a");
  ir::Value* b = g.add_value("b");
  g.add_node_with_outputs(OpKind::Relu, {b}, {a}, "n1");
  g.add_node_with_outputs(OpKind::Relu, {a}, {b}, "n2");
  g.outputs.push_back(a);
  EXPECT_FALSE(g.verify().is_ok());
}

TEST(Session, RunsMlpAndReusesBuffers) {
  auto s = Session::create(make_mlp(), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 0, 0, 0, 0}, {2, 4});
  for (int rep = 0; rep < 3; ++rep) {
    auto out = (*s)->run({x});
    ASSERT_TRUE(out) << out.status().message();
    ASSERT_EQ((*out)[0].shape(), (Shape{2, 2}));
    const float* y = (*out)[0].data<float>();
    // row 0: [1*1+2*0+3*1+4*-1, 1*0+2*1+3*1+4*0] + [0.5, -10] = [0.5, -5] -> relu [0.5, 0]
    EXPECT_FLOAT_EQ(y[0], 0.5f);
    EXPECT_FLOAT_EQ(y[1], 0.0f);
    EXPECT_FLOAT_EQ(y[2], 0.5f);
    EXPECT_FLOAT_EQ(y[3], 0.0f);
  }
}

TEST(Session, RejectsWrongInput) {
  auto s = Session::create(make_mlp());
  ASSERT_TRUE(s);
  auto bad_shape = (*s)->run({Tensor::zeros(DType::F32, {2, 5})});
  ASSERT_FALSE(bad_shape);
  EXPECT_NE(bad_shape.status().message().find("expected [N, 4]"), std::string::npos)
      << bad_shape.status().message();
  auto bad_dtype = (*s)->run({Tensor::zeros(DType::F64, {2, 4})});
  ASSERT_FALSE(bad_dtype);
  EXPECT_NE(bad_dtype.status().message().find("dtype f64, expected f32"), std::string::npos);
  auto bad_name =
      (*s)->run(std::map<std::string, Tensor>{{"y", Tensor::zeros(DType::F32, {1, 4})}});
  ASSERT_FALSE(bad_name);
}

TEST(DType, HalfRoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1e-5f, 5.96e-8f, 1e-3f})
    EXPECT_NEAR(half_to_float(float_to_half(f)), f, std::abs(f) * 1e-3 + 6e-8) << f;
  EXPECT_EQ(float_to_half(70000.0f), 0x7c00);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
}

// clone_graph: same structure and names, independent values and constants.
TEST(Ir, CloneIsDeepAndIndependent) {
  ir::Graph g;
  g.name = "g";
  g.metadata["k"] = "v";
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 2});
  ir::Value* w = g.add_constant("w", Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}));
  ir::Node* mm = g.add_node(OpKind::MatMul, {x, w}, 1, "mm");
  ir::Node* sm = g.add_node(OpKind::Softmax, {mm->outputs[0]}, 1, "sm");
  sm->attrs["axis"] = ir::Attribute::of_int(-1);
  g.outputs = {sm->outputs[0]};

  ir::Graph c = ir::clone_graph(g);
  ASSERT_TRUE(c.verify().is_ok());
  EXPECT_EQ(ir::print_graph(c), ir::print_graph(g));
  EXPECT_EQ(c.metadata, g.metadata);
  ASSERT_EQ(c.inputs.size(), 1u);
  EXPECT_NE(c.inputs[0], x);
  EXPECT_EQ(c.nodes()[1]->attr_int("axis", 0), -1);
  EXPECT_EQ(c.nodes()[1]->inputs[0], c.nodes()[0]->outputs[0]);
  // Writing the copy's constant leaves the original alone.
  ir::Value* cw = c.find_value("w");
  ASSERT_TRUE(cw && cw->is_constant());
  cw->constant->data<float>()[0] = 42;
  EXPECT_EQ(w->constant->data<float>()[0], 1);
}
