// fold_batchnorm and fuse_activation: the graph changes as expected and outputs do not
// (optimized vs optimize = false sessions, reference and fast kernels), and export keeps the
// fused activation as a node.
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <random>

#include "passes/pass.h"

using namespace condense;

namespace {
Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

ir::Value* add_bn(ir::Graph& g, ir::Value* x, int64_t c, uint32_t seed) {
  auto* s = g.add_constant(g.fresh_name("scale"), random_tensor({c}, seed, 0.5f, 1.5f));
  auto* b = g.add_constant(g.fresh_name("bias"), random_tensor({c}, seed + 1));
  auto* m = g.add_constant(g.fresh_name("mean"), random_tensor({c}, seed + 2));
  auto* v = g.add_constant(g.fresh_name("var"), random_tensor({c}, seed + 3, 0.1f, 2.f));
  ir::Node* n = g.add_node(OpKind::BatchNormalization, {x, s, b, m, v}, 1, g.fresh_name("bn"));
  n->attrs["epsilon"] = ir::Attribute::of_float(1e-3f);
  return n->outputs[0];
}

// x (2, 3, 8, 8) -> Conv(3->4, pad 1) -> BN -> Relu -> ConvTranspose(4->6, group 2, stride 2)
// -> BN -> Flatten-free: GlobalAveragePool -> (2, 6, 1, 1)
ir::Graph conv_graph(bool second_reader = false) {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {2, 3, 8, 8});
  auto* w = g.add_constant("w", random_tensor({4, 3, 3, 3}, 1));
  auto* b = g.add_constant("b", random_tensor({4}, 2));
  ir::Node* conv = g.add_node(OpKind::Conv, {x, w, b}, 1, "conv");
  conv->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  ir::Value* y = add_bn(g, conv->outputs[0], 4, 10);
  ir::Value* r = g.add_node(OpKind::Relu, {y}, 1, "relu")->outputs[0];
  auto* wt = g.add_constant("wt", random_tensor({4, 3, 3, 3}, 3));
  ir::Node* ct = g.add_node(OpKind::ConvTranspose, {r, wt}, 1, "deconv");
  ct->attrs["group"] = ir::Attribute::of_int(2);
  ct->attrs["strides"] = ir::Attribute::of_ints({2, 2});
  ir::Value* z = add_bn(g, ct->outputs[0], 6, 20);
  g.outputs.push_back(g.add_node(OpKind::GlobalAveragePool, {z}, 1, "gap")->outputs[0]);
  if (second_reader) g.outputs.push_back(conv->outputs[0]);
  return g;
}

// x (5, 7) -> Gemm(transB, C (1, 9), alpha 0.5, beta 2) -> BN -> Relu -> MatMul (9, 3) -> Relu
ir::Graph gemm_graph() {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 7});
  auto* w = g.add_constant("w", random_tensor({9, 7}, 4));
  auto* c = g.add_constant("c", random_tensor({1, 9}, 5));
  ir::Node* gemm = g.add_node(OpKind::Gemm, {x, w, c}, 1, "gemm");
  gemm->attrs["transB"] = ir::Attribute::of_int(1);
  gemm->attrs["alpha"] = ir::Attribute::of_float(0.5f);
  gemm->attrs["beta"] = ir::Attribute::of_float(2.f);
  ir::Value* y = add_bn(g, gemm->outputs[0], 9, 30);
  ir::Value* r = g.add_node(OpKind::Relu, {y}, 1, "relu1")->outputs[0];
  auto* w2 = g.add_constant("w2", random_tensor({9, 3}, 6));
  ir::Value* m = g.add_node(OpKind::MatMul, {r, w2}, 1, "mm")->outputs[0];
  g.outputs.push_back(g.add_node(OpKind::Relu, {m}, 1, "relu2")->outputs[0]);
  return g;
}

int count_op(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op == op;
  return n;
}

void expect_same_outputs(ir::Graph (*make)(), const Tensor& x) {
  for (bool fast : {false, true}) {
    SCOPED_TRACE(fast ? "fast kernels" : "reference kernels");
    auto opt = Session::create(make(), {.threads = 1, .optimize = true, .fast_kernels = fast});
    auto plain = Session::create(make(), {.threads = 1, .optimize = false, .fast_kernels = false});
    ASSERT_TRUE(opt.is_ok()) << opt.status().message();
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    auto a = (*opt)->run({x});
    auto b = (*plain)->run({x});
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    ASSERT_EQ(a->size(), b->size());
    for (size_t o = 0; o < a->size(); ++o)
      for (int64_t i = 0; i < (*a)[o].numel(); ++i)
        ASSERT_NEAR((*a)[o].get_f64(i), (*b)[o].get_f64(i),
                    1e-4 + 1e-4 * std::abs((*b)[o].get_f64(i)))
            << "output " << o << " element " << i;
  }
}
}  // namespace

TEST(FoldBatchNorm, ConvAndConvTranspose) {
  auto s = Session::create(conv_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  const ir::Graph& g = (*s)->graph();
  EXPECT_EQ(count_op(g, OpKind::BatchNormalization), 0) << ir::print_graph(g);
  EXPECT_EQ(count_op(g, OpKind::Relu), 0) << ir::print_graph(g);
  for (const auto& n : g.nodes())
    if (n->op == OpKind::Conv) {
      EXPECT_EQ(n->attr_string("_activation", ""), "Relu");
    }
  EXPECT_TRUE(g.verify().is_ok());
  expect_same_outputs([] { return conv_graph(); }, random_tensor({2, 3, 8, 8}, 99));
}

TEST(FoldBatchNorm, GemmAndMatMulRelu) {
  auto s = Session::create(gemm_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  const ir::Graph& g = (*s)->graph();
  EXPECT_EQ(count_op(g, OpKind::BatchNormalization), 0) << ir::print_graph(g);
  EXPECT_EQ(count_op(g, OpKind::Relu), 0) << ir::print_graph(g);
  expect_same_outputs(gemm_graph, random_tensor({5, 7}, 98));
}

TEST(FoldBatchNorm, KeepsSharedProducerOutput) {
  // conv's output is also a graph output: neither BN folding nor Relu fusion may touch it.
  auto s = Session::create(conv_graph(true), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  const ir::Graph& g = (*s)->graph();
  EXPECT_EQ(count_op(g, OpKind::BatchNormalization), 1) << ir::print_graph(g);
  EXPECT_EQ(count_op(g, OpKind::Relu), 1) << ir::print_graph(g);
  expect_same_outputs([] { return conv_graph(true); }, random_tensor({2, 3, 8, 8}, 97));
}

TEST(FoldBatchNorm, StandaloneBatchNormStays) {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {1, 3, 4, 4});
  g.outputs.push_back(add_bn(g, x, 3, 40));
  auto passes = default_load_passes();
  PassContext ctx{.verify_after_each = true};
  ASSERT_TRUE(run_passes(g, passes, ctx).is_ok());
  EXPECT_EQ(count_op(g, OpKind::BatchNormalization), 1);
}

TEST(FuseActivation, OptimizeOffKeepsGraph) {
  auto s = Session::create(gemm_graph(), {.threads = 1, .optimize = false});
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(count_op((*s)->graph(), OpKind::BatchNormalization), 1);
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Relu), 2);
}

TEST(FuseActivation, UnknownFusedActivationIsAnError) {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {2, 3});
  auto* w = g.add_constant("w", random_tensor({3, 2}, 7));
  ir::Node* n = g.add_node(OpKind::MatMul, {x, w}, 1, "mm");
  n->attrs["_activation"] = ir::Attribute::of_string("Swish");
  g.outputs.push_back(n->outputs[0]);
  auto s = Session::create(std::move(g), {.threads = 1, .optimize = false, .fast_kernels = false});
  ASSERT_TRUE(s.is_ok());
  auto r = (*s)->run({random_tensor({2, 3}, 8)});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("Swish"), std::string::npos) << r.status().message();
}

// Training graphs: BatchNormTraining (outputs Y, running mean / var, batch mean / var) -> Relu
// fuses; -> Sigmoid does not (only Relu runs inside oneDNN's normalization), nor a Relu whose
// input has a second reader.
ir::Graph bn_training_graph() {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 16, 5, 5});
  auto bn = [&](ir::Value* in, uint32_t seed) {
    std::vector<ir::Value*> ins = {in};
    for (int i = 0; i < 4; ++i)
      ins.push_back(g.add_constant(g.fresh_name("p"), random_tensor({16}, seed + i, 0.5f, 1.5f)));
    return g.add_node(OpKind::BatchNormTraining, ins, 5, g.fresh_name("bnt"))->outputs;
  };
  auto unary = [&](OpKind op, ir::Value* in) { return g.add_node(op, {in}, 1, "")->outputs[0]; };
  auto b1 = bn(x, 1);
  ir::Value* r1 = unary(OpKind::Relu, b1[0]);  // fuses
  auto b2 = bn(r1, 10);
  ir::Value* s2 = unary(OpKind::Sigmoid, b2[0]);  // stays
  auto b3 = bn(s2, 20);
  ir::Value* r3 = unary(OpKind::Relu, b3[0]);  // stays: b3's Y is also an output
  g.outputs = {r3, b3[0], b1[1], b1[4], b2[2]};
  return g;
}

TEST(FuseActivation, ReluFusesIntoBatchNormTraining) {
  auto s = Session::create(bn_training_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Relu), 1) << ir::print_graph((*s)->graph());
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Sigmoid), 1);
  int fused = 0;
  for (const auto& n : (*s)->graph().nodes())
    fused += n->op == OpKind::BatchNormTraining && n->attr_string("_activation", "") == "Relu";
  EXPECT_EQ(fused, 1);
  expect_same_outputs(bn_training_graph, random_tensor({3, 16, 5, 5}, 9));
}

// Add -> Relu (a ResNet block's end) and Add (broadcasting) -> Tanh fuse; an Add whose sum is
// also a graph output keeps its Relu.
ir::Graph add_act_graph() {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 16, 4, 4});
  auto* c = g.add_constant("c", random_tensor({16, 1, 1}, 50));
  auto node = [&](OpKind op, std::vector<ir::Value*> in) {
    return g.add_node(op, std::move(in), 1, "")->outputs[0];
  };
  ir::Value* r = node(OpKind::Relu, {node(OpKind::Add, {x, x})});
  ir::Value* t = node(OpKind::Tanh, {node(OpKind::Add, {r, c})});
  ir::Value* s = node(OpKind::Add, {t, x});
  g.outputs = {node(OpKind::Relu, {s}), s};
  return g;
}

TEST(FuseActivation, AddAndActivation) {
  auto s = Session::create(add_act_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Relu), 1) << ir::print_graph((*s)->graph());
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Tanh), 0);
  expect_same_outputs(add_act_graph, random_tensor({2, 16, 4, 4}, 51));
}

// Training graphs: ActivationGrad(Add(a, b), T) -> ActivationGrad(a, T, b), for equal shapes
// (blocked-able, 16 channels) and for a b that broadcasts; an Add read twice stays.
ir::Graph grad_sum_graph() {
  ir::Graph g;
  const ir::Dims d = {ir::Dim::sym("N"), 16, 3, 3};
  auto* a = g.add_input("a", DType::F32, d);
  auto* t = g.add_input("t", DType::F32, d);
  auto* b = g.add_constant("b", random_tensor({1, 16, 3, 3}, 40));
  auto* c = g.add_constant("c", random_tensor({16, 1, 1}, 41));
  auto grad = [&](ir::Value* dy, const std::string& act) {
    ir::Node* n = g.add_node(OpKind::ActivationGrad, {dy, t}, 1, "");
    n->attrs["activation"] = ir::Attribute::of_string(act);
    return n->outputs[0];
  };
  auto add = [&](ir::Value* x, ir::Value* y) {
    return g.add_node(OpKind::Add, {x, y}, 1, "")->outputs[0];
  };
  ir::Value* r = grad(add(a, t), "Relu");  // fuses
  ir::Value* s = grad(add(r, c), "Tanh");  // fuses, c broadcasts
  ir::Value* shared = add(s, b);           // b broadcasts over N
  ir::Value* u = grad(shared, "Sigmoid");  // stays: `shared` is also an output
  g.outputs = {u, shared, r};
  return g;
}

TEST(FuseActivationGradSum, AddFoldsIntoActivationGrad) {
  auto s = Session::create(grad_sum_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(count_op((*s)->graph(), OpKind::Add), 1) << ir::print_graph((*s)->graph());
  int three = 0;
  for (const auto& n : (*s)->graph().nodes())
    three += n->op == OpKind::ActivationGrad && n->inputs.size() == 3;
  EXPECT_EQ(three, 2);
  for (bool fast : {false, true}) {
    auto opt = Session::create(grad_sum_graph(), {.threads = 2, .fast_kernels = fast});
    auto plain = Session::create(grad_sum_graph(), {.threads = 1, .optimize = false});
    ASSERT_TRUE(opt.is_ok() && plain.is_ok());
    const std::vector<Tensor> x = {random_tensor({2, 16, 3, 3}, 42),
                                   random_tensor({2, 16, 3, 3}, 43, -0.9f, 0.9f)};
    auto ya = (*opt)->run(x);
    auto yb = (*plain)->run(x);
    ASSERT_TRUE(ya.is_ok()) << ya.status().message();
    ASSERT_TRUE(yb.is_ok()) << yb.status().message();
    for (size_t o = 0; o < ya->size(); ++o)
      for (int64_t i = 0; i < (*ya)[o].numel(); ++i)
        ASSERT_NEAR((*ya)[o].get_f64(i), (*yb)[o].get_f64(i), 1e-5) << o << " " << i;
  }
}

TEST(FuseActivation, ExportWritesActivationNode) {
  auto s = Session::create(gemm_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok());
  auto bytes = onnx::export_bytes((*s)->graph());
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().message();
  auto back = onnx::import_bytes(*bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(count_op(*back, OpKind::Relu), 2) << ir::print_graph(*back);
  for (const auto& n : back->nodes()) EXPECT_FALSE(n->has_attr("_activation"));
  const Tensor x = random_tensor({5, 7}, 96);
  auto s2 = Session::create(std::move(*back), {.threads = 1, .optimize = false});
  ASSERT_TRUE(s2.is_ok()) << s2.status().message();
  auto a = (*s2)->run({x});
  auto b = (*s)->run({x});
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  for (int64_t i = 0; i < (*a)[0].numel(); ++i)
    EXPECT_NEAR((*a)[0].get_f64(i), (*b)[0].get_f64(i), 1e-5);
}

// x (N, 3, 6, 6) -> Conv(3->4) -> Add(c1 (1, 4, 1, 1)) -> Relu -> ConvTranspose(4->4, group 2)
// -> Add(c2 (4, 1, 1), on the left) -> Add(c3 (1, 1, 6)): not per channel, stays.
// Then GlobalAveragePool, Flatten, Gemm(beta 0.5, C (4)) -> Add(scalar).
ir::Graph bias_add_graph() {
  ir::Graph g;
  auto* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 3, 6, 6});
  auto* w = g.add_constant("w", random_tensor({4, 3, 3, 3}, 1));
  ir::Node* conv = g.add_node(OpKind::Conv, {x, w}, 1, "conv");
  conv->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  auto* c1 = g.add_constant("c1", random_tensor({1, 4, 1, 1}, 2));
  auto* a1 = g.add_node(OpKind::Add, {conv->outputs[0], c1}, 1, "add1")->outputs[0];
  auto* r = g.add_node(OpKind::Relu, {a1}, 1, "relu")->outputs[0];
  auto* wt = g.add_constant("wt", random_tensor({4, 2, 1, 1}, 3));
  auto* bt = g.add_constant("bt", random_tensor({4}, 4));
  ir::Node* ct = g.add_node(OpKind::ConvTranspose, {r, wt, bt}, 1, "deconv");
  ct->attrs["group"] = ir::Attribute::of_int(2);
  auto* c2 = g.add_constant("c2", random_tensor({4, 1, 1}, 5));
  auto* a2 = g.add_node(OpKind::Add, {c2, ct->outputs[0]}, 1, "add2")->outputs[0];
  auto* c3 = g.add_constant("c3", random_tensor({1, 1, 6}, 6));
  auto* a3 = g.add_node(OpKind::Add, {a2, c3}, 1, "add3")->outputs[0];
  auto* gap = g.add_node(OpKind::GlobalAveragePool, {a3}, 1, "gap")->outputs[0];
  auto* flat = g.add_node(OpKind::Flatten, {gap}, 1, "flat")->outputs[0];
  auto* wg = g.add_constant("wg", random_tensor({4, 4}, 7));
  auto* cg = g.add_constant("cg", random_tensor({4}, 8));
  ir::Node* gemm = g.add_node(OpKind::Gemm, {flat, wg, cg}, 1, "gemm");
  gemm->attrs["beta"] = ir::Attribute::of_float(0.5f);
  auto* s = g.add_constant("s", Tensor::scalar<float>(0.25f));
  g.outputs.push_back(g.add_node(OpKind::Add, {gemm->outputs[0], s}, 1, "add4")->outputs[0]);
  return g;
}

TEST(FoldBiasAdd, PerChannelConstantsFoldIntoTheProducer) {
  auto s = Session::create(bias_add_graph(), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  const ir::Graph& g = (*s)->graph();
  // add1, add2 and add4 fold; add3 (per column) stays; Relu fuses into the conv.
  EXPECT_EQ(count_op(g, OpKind::Add), 1) << ir::print_graph(g);
  EXPECT_EQ(count_op(g, OpKind::Relu), 0) << ir::print_graph(g);
  EXPECT_EQ(g.outputs[0]->name, "add4") << "the graph output keeps its name";
  EXPECT_TRUE(g.verify().is_ok());
  expect_same_outputs(bias_add_graph, random_tensor({2, 3, 6, 6}, 96));
}
