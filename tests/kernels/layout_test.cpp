// Blocked activation layouts (kernels/layout.h): a small CNN whose values pass through every
// layout situation the runtime handles runs with fast kernels (blocked where it can) and with
// reference kernels only (all plain), and the outputs must agree. The report must show that
// blocked layouts were really used, so the comparison is not vacuous.
#include "kernels/layout.h"

#include <gtest/gtest.h>

#include "fast_vs_ref.h"

namespace condense {
namespace {

using test::random_tensor;

ir::Value* conv(ir::Graph& g, ir::Value* x, int64_t cin, int64_t cout, std::mt19937& rng,
                const std::string& name) {
  ir::Value* w = g.add_constant(name + ".w", random_tensor({cout, cin, 3, 3}, rng, -0.3f, 0.3f));
  ir::Value* b = g.add_constant(name + ".b", random_tensor({cout}, rng));
  ir::Node* n = g.add_node(OpKind::Conv, {x, w, b}, 1, name);
  n->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
  return n->outputs[0];
}

ir::Value* unary(ir::Graph& g, OpKind op, ir::Value* x, const std::string& name) {
  return g.add_node(op, {x}, 1, name)->outputs[0];
}

ir::Value* binary(ir::Graph& g, OpKind op, ir::Value* a, ir::Value* b, const std::string& name) {
  return g.add_node(op, {a, b}, 1, name)->outputs[0];
}

// x (N, 3, 12, 12) -> conv 3->C (plain in, blocked out) -> Abs (transparent) -> conv C->C ->
// Add with the Abs output (both blocked) -> Sigmoid; a Pad branch (plain) added to a blocked
// tensor (the plain one is converted to blocked); a per-channel constant added with broadcasting
// (converted to plain); MaxPool on blocked data; Shape of a blocked tensor; a conv to 24
// channels (not a multiple of the block: plain); graph outputs that end blocked come back plain.
ir::Graph build(int64_t c) {
  std::mt19937 rng(3);
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 3, 12, 12});
  ir::Value* a = unary(g, OpKind::Abs, conv(g, x, 3, c, rng, "c1"), "abs1");
  ir::Value* s = binary(g, OpKind::Add, a, conv(g, a, c, c, rng, "c2"), "add_same");
  ir::Value* t = unary(g, OpKind::Sigmoid, s, "sig");
  // Pad by zero rows after Slice: a plain tensor of t's shape.
  ir::Value* starts = g.add_constant("starts", Tensor::from_vector<int64_t>({1}, {1}));
  ir::Value* ends = g.add_constant("ends", Tensor::from_vector<int64_t>({12}, {1}));
  ir::Value* axes = g.add_constant("axes", Tensor::from_vector<int64_t>({2}, {1}));
  ir::Value* sl = g.add_node(OpKind::Slice, {t, starts, ends, axes}, 1, "slice")->outputs[0];
  ir::Value* pads =
      g.add_constant("pads", Tensor::from_vector<int64_t>({0, 0, 1, 0, 0, 0, 0, 0}, {8}));
  ir::Value* padded = g.add_node(OpKind::Pad, {sl, pads}, 1, "pad")->outputs[0];
  ir::Value* mixed = binary(g, OpKind::Add, conv(g, t, c, c, rng, "c3"), padded, "add_mixed");
  ir::Value* bias = g.add_constant("bias", random_tensor({1, c, 1, 1}, rng));
  ir::Value* bcast = binary(g, OpKind::Mul, mixed, bias, "mul_bcast");
  ir::Node* pool =
      g.add_node(OpKind::MaxPool,
                 {unary(g, OpKind::Relu, conv(g, bcast, c, c, rng, "c4"), "relu4")}, 1, "pool");
  pool->attrs["kernel_shape"] = ir::Attribute::of_ints({2, 2});
  pool->attrs["strides"] = ir::Attribute::of_ints({2, 2});
  ir::Value* pooled = pool->outputs[0];
  ir::Value* shape = g.add_node(OpKind::Shape, {pooled}, 1, "shape")->outputs[0];
  ir::Value* odd = conv(g, pooled, c, 24, rng, "c5");
  ir::Value* gap =
      g.add_node(OpKind::GlobalAveragePool, {conv(g, pooled, c, c, rng, "c6")}, 1, "gap")
          ->outputs[0];
  g.outputs = {pooled, shape, odd, gap, t};
  return g;
}

TEST(Layout, BlockedActivationsMatchTheReference) {
  const int64_t c = 2 * channel_block();
  std::mt19937 rng(5);
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE(fmt::format("batch {}", batch));
    auto fast = Session::create(build(c), {.threads = 2});
    auto ref = Session::create(build(c), {.threads = 2, .fast_kernels = false});
    ASSERT_TRUE(fast.is_ok()) << fast.status().message();
    ASSERT_TRUE(ref.is_ok()) << ref.status().message();
    std::vector<Tensor> feeds = {random_tensor({batch, 3, 12, 12}, rng)};
    test::run_and_compare(**fast, **ref, feeds);
    if (HasFatalFailure()) return;
    std::map<std::string, std::string> layout;
    for (const NodeReport& r : (*fast)->report()) layout[r.name] = r.layout;
    // Convolutions read by oneDNN kernels or transparent ops only write blocked.
    EXPECT_EQ(layout["c1"], "blocked");
    EXPECT_EQ(layout["abs1"], "blocked");
    EXPECT_EQ(layout["add_same"], "blocked");
    EXPECT_EQ(layout["add_mixed"], "blocked");
    EXPECT_EQ(layout["pool"], "blocked");
    // Broadcasting and channel counts off the block run plain.
    EXPECT_EQ(layout["mul_bcast"], "plain");
    EXPECT_EQ(layout["c5"], "plain");
    for (const NodeReport& r : (*ref)->report()) EXPECT_EQ(r.layout, "plain") << r.name;
  }
}

}  // namespace
}  // namespace condense
