// Blocked layouts in training graphs (kernels/layout.h): a small CNN's training graph (forward,
// loss, backward) runs with fast kernels, which keep activations and their gradients
// channel-blocked from the first convolution to the last, and with reference kernels only (all
// plain); the loss, every parameter gradient and the running statistics must agree. The report
// must show that each training kernel really ran blocked, so the comparison is not vacuous.
#include <condense/autograd.h>
#include <gtest/gtest.h>

#include "fast_vs_ref.h"
#include "kernels/layout.h"

namespace condense {
namespace {

using test::random_tensor;
using A = ir::Attribute;

struct Builder {
  ir::Graph g;
  std::mt19937 rng{3};

  ir::Value* conv(ir::Value* x, int64_t cin, int64_t cout, const std::string& name, bool bias,
                  int64_t stride = 1) {
    std::vector<ir::Value*> in = {
        x, g.add_constant(name + ".w", random_tensor({cout, cin, 3, 3}, rng, -0.3f, 0.3f))};
    if (bias) in.push_back(g.add_constant(name + ".b", random_tensor({cout}, rng)));
    ir::Node* n = g.add_node(OpKind::Conv, in, 1, name);
    n->attrs["pads"] = A::of_ints({1, 1, 1, 1});
    n->attrs["strides"] = A::of_ints({stride, stride});
    return n->outputs[0];
  }
  ir::Value* bn(ir::Value* x, int64_t c, const std::string& name) {
    ir::Node* n =
        g.add_node(OpKind::BatchNormalization,
                   {x, g.add_constant(name + ".scale", random_tensor({c}, rng, 0.5f, 1.5f)),
                    g.add_constant(name + ".bias", random_tensor({c}, rng)),
                    g.add_constant(name + ".mean", random_tensor({c}, rng)),
                    g.add_constant(name + ".var", random_tensor({c}, rng, 0.5f, 2.f))},
                   1, name);
    return n->outputs[0];
  }
  ir::Value* op(OpKind kind, std::vector<ir::Value*> in, const std::string& name,
                std::map<std::string, A> attrs = {}) {
    ir::Node* n = g.add_node(kind, std::move(in), 1, name);
    n->attrs = std::move(attrs);
    return n->outputs[0];
  }
};

// x (N, 3, 8, 8) -> c1 (3 -> C, plain in, blocked out) -> BN -> Relu -> c2 (C -> C, frozen
// weights: the backward is ConvGradData) -> Add with the Relu output -> Relu -> MaxPool 2x2 ->
// c3 (C -> 2C, stride 2, bias) -> BN -> Relu -> AveragePool 2x2 -> Relu -> GlobalAveragePool ->
// Gemm -> cross-entropy loss. (The last Relu's gradient turns the plain gradient of the global
// pooling blocked, so AveragePoolGrad gets it blocked.)
autograd::TrainingGraph build(int64_t c) {
  Builder b;
  ir::Value* x = b.g.add_input("x", DType::F32, {ir::Dim::sym("N"), 3, 8, 8});
  ir::Value* r1 = b.op(OpKind::Relu, {b.bn(b.conv(x, 3, c, "c1", false), c, "bn1")}, "r1");
  ir::Value* s = b.op(OpKind::Add, {b.conv(r1, c, c, "c2", false), r1}, "add");
  ir::Value* r2 = b.op(OpKind::Relu, {s}, "r2");
  ir::Value* p = b.op(OpKind::MaxPool, {r2}, "maxpool",
                      {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}});
  ir::Value* r3 =
      b.op(OpKind::Relu, {b.bn(b.conv(p, c, 2 * c, "c3", true, 2), 2 * c, "bn3")}, "r3");
  ir::Value* a = b.op(OpKind::AveragePool, {r3}, "avgpool",
                      {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}});
  ir::Value* gap = b.op(OpKind::GlobalAveragePool, {b.op(OpKind::Relu, {a}, "r4")}, "gap");
  ir::Value* flat = b.op(OpKind::Flatten, {gap}, "flatten", {{"axis", A::of_int(1)}});
  ir::Value* fc_w = b.g.add_constant("fc.w", random_tensor({10, 2 * c}, b.rng));
  ir::Value* logits = b.op(OpKind::Gemm, {flat, fc_w}, "fc", {{"transB", A::of_int(1)}});
  ir::Value* labels = b.g.add_input("labels", DType::I64, {ir::Dim::sym("N")});
  b.g.outputs = {
      b.g.add_node(OpKind::SoftmaxCrossEntropyLoss, {logits, labels}, 1, "loss")->outputs[0]};
  autograd::TrainingOptions opts;
  opts.parameters = {"c1.w", "bn1.scale", "bn1.bias", "c3.w",
                     "c3.b", "bn3.scale", "bn3.bias", "fc.w"};
  auto tg = autograd::build_training_graph(std::move(b.g), "loss", opts);
  EXPECT_TRUE(tg.is_ok()) << tg.status().message();
  return std::move(*tg);
}

TEST(TrainLayout, BlockedTrainingGraphMatchesTheReference) {
  const int64_t c = channel_block();
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE(fmt::format("batch {}", batch));
    autograd::TrainingGraph fast_tg = build(c), ref_tg = build(c);
    std::mt19937 rng(5);
    std::map<std::string, Tensor> named = fast_tg.feeds(fast_tg.initial_inputs());
    named["x"] = random_tensor({batch, 3, 8, 8}, rng);
    Tensor labels = Tensor::empty(DType::I64, {batch});
    for (int64_t i = 0; i < batch; ++i) labels.data<int64_t>()[i] = (3 * i + 1) % 10;
    named["labels"] = labels;
    std::vector<Tensor> feeds;
    for (const ir::Value* v : fast_tg.graph.inputs) feeds.push_back(named.at(v->name));
    auto fast = Session::create(std::move(fast_tg.graph), {.threads = 2});
    auto ref = Session::create(std::move(ref_tg.graph), {.threads = 2, .fast_kernels = false});
    ASSERT_TRUE(fast.is_ok()) << fast.status().message();
    ASSERT_TRUE(ref.is_ok()) << ref.status().message();
    test::run_and_compare(**fast, **ref, feeds);
    if (HasFatalFailure()) return;

    // Per op kind: the layouts of each output ("" absent) of every node of that kind.
    std::map<std::string, std::vector<std::vector<std::string>>> by_op;
    for (const NodeReport& r : (*fast)->report()) by_op[r.op].push_back(r.output_layouts);
    auto expect_all = [&](const std::string& op, size_t output, const std::string& layout) {
      ASSERT_FALSE(by_op[op].empty()) << op;
      for (const auto& outs : by_op[op]) {
        ASSERT_GT(outs.size(), output) << op;
        EXPECT_EQ(outs[output], layout) << op << " output " << output;
      }
    };
    expect_all("Conv", 0, "blocked");
    expect_all("BatchNormTraining", 0, "blocked");
    expect_all("BatchNormTraining", 1, "plain");  // running mean: a graph output
    expect_all("BatchNormGrad", 0, "blocked");
    expect_all("BatchNormGrad", 1, "plain");  // dscale
    expect_all("ActivationGrad", 0, "blocked");
    expect_all("MaxPoolGrad", 0, "blocked");
    expect_all("AveragePoolGrad", 0, "blocked");
    expect_all("ConvGradData", 0, "blocked");
    // Weight gradients are plain; dX (output 2) is blocked where the node computes it (c3's;
    // c1's input needs no gradient).
    ASSERT_EQ(by_op["ConvGradWeight"].size(), 2u);
    int blocked_dx = 0;
    for (const auto& outs : by_op["ConvGradWeight"]) {
      EXPECT_EQ(outs[0], "plain");
      blocked_dx += outs.size() > 2 && outs[2] == "blocked";
    }
    EXPECT_EQ(blocked_dx, 1);
    for (const NodeReport& r : (*ref)->report())
      for (const std::string& l : r.output_layouts)
        EXPECT_TRUE(l.empty() || l == "plain") << r.name;
  }
}

}  // namespace
}  // namespace condense
