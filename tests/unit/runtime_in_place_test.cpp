// The runtime lets elementwise kernels write their output over an input that dies at their node
// (Kernel::may_write_in_place). Values still read later, graph inputs and buffers shared with
// another value (Identity) must never be overwritten.
#include <condense/session.h>
#include <gtest/gtest.h>

#include <algorithm>

using namespace condense;

namespace {
ir::Value* node(ir::Graph& g, OpKind op, std::vector<ir::Value*> in) {
  return g.add_node(op, std::move(in), 1, "")->outputs[0];
}

TEST(RuntimeInPlace, ChainsAndValuesReadLaterAgreeWithExpected) {
  ir::Graph g;
  auto* a = g.add_input("a", DType::F32, {2, 3});
  auto* b = g.add_input("b", DType::F32, {2, 3});
  ir::Value* s = node(g, OpKind::Add, {a, b});     // inputs are the caller's: fresh buffer
  ir::Value* id = node(g, OpKind::Identity, {s});  // shares s's buffer
  ir::Value* r = node(g, OpKind::Relu, {s});       // s still shared with id: fresh buffer
  ir::Value* d = node(g, OpKind::Sub, {r, a});     // r dies here: may be overwritten
  ir::Value* m = node(g, OpKind::Mul, {d, d});     // d (twice) dies here
  ir::Value* k = node(g, OpKind::Add, {m, r});     // r was overwritten? it must not be
  g.outputs = {k, id, a};
  auto sess = Session::create(std::move(g), {.threads = 1, .optimize = false});
  ASSERT_TRUE(sess.is_ok()) << sess.status().message();
  const std::vector<float> av = {1, -2, 3, -4, 5, -6}, bv = {-3, 1, 0.5f, 2, -7, 8};
  const Tensor ta = Tensor::from_vector<float>(av, {2, 3});
  const Tensor tb = Tensor::from_vector<float>(bv, {2, 3});
  for (int run = 0; run < 3; ++run) {  // later runs reuse pooled buffers
    auto out = (*sess)->run(std::vector<Tensor>{ta, tb});
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    for (int i = 0; i < 6; ++i) {
      const float sv = av[i] + bv[i], rv = std::max(sv, 0.f), dv = rv - av[i];
      EXPECT_FLOAT_EQ((*out)[0].data<float>()[i], dv * dv + rv) << "run " << run << " i " << i;
      EXPECT_FLOAT_EQ((*out)[1].data<float>()[i], sv) << "run " << run << " i " << i;
      EXPECT_FLOAT_EQ((*out)[2].data<float>()[i], av[i]) << "graph input changed";
    }
  }
  EXPECT_FLOAT_EQ(ta.data<float>()[1], -2.f);
}

}  // namespace
