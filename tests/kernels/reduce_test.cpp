// Edge cases of the reduce family kernels (reductions, arg, softmax, scans, TopK, Einsum,
// normalizations, losses, attention), run through a Session on one-node graphs.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace condense;

namespace {

struct NodeSpec {
  OpKind op;
  std::map<std::string, ir::Attribute> attrs;
  int outputs = 1;
};

// Builds a graph with one node whose inputs are graph inputs (nullopt: omitted; a constant
// when `constant` is set) and runs it.
Result<std::vector<Tensor>> run_node(const NodeSpec& spec,
                                     const std::vector<std::optional<Tensor>>& ins,
                                     const std::vector<bool>& constant = {}) {
  ir::Graph g;
  std::vector<ir::Value*> vals;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i]) {
      vals.push_back(nullptr);
      continue;
    }
    if (i < constant.size() && constant[i]) {
      vals.push_back(g.add_constant(fmt::format("c{}", i), *ins[i]));
      continue;
    }
    ir::Dims dims;
    for (int64_t d : ins[i]->shape()) dims.push_back(d);
    vals.push_back(g.add_input(fmt::format("x{}", i), ins[i]->dtype(), dims));
    feeds.push_back(*ins[i]);
  }
  ir::Node* n = g.add_node(spec.op, vals, spec.outputs, "n");
  n->attrs = spec.attrs;
  for (ir::Value* o : n->outputs) g.outputs.push_back(o);
  CONDENSE_ASSIGN_OR_RETURN(auto session,
                            Session::create(std::move(g), {.threads = 1, .optimize = false}));
  return session->run(feeds);
}

Tensor f32(std::vector<float> v, Shape s) {
  return Tensor::from_vector<float>(v, std::move(s));
}
Tensor i64(std::vector<int64_t> v, Shape s) {
  return Tensor::from_vector<int64_t>(v, std::move(s));
}

void expect_near(const Tensor& t, const std::vector<float>& want, float tol = 1e-5f) {
  std::vector<float> got = t.to_f32_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
    }
  }
}

ir::Attribute I(int64_t v) {
  return ir::Attribute::of_int(v);
}
ir::Attribute F(float v) {
  return ir::Attribute::of_float(v);
}
ir::Attribute S(std::string v) {
  return ir::Attribute::of_string(std::move(v));
}

const Tensor kX234 = [] {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  return f32(v, {2, 3, 4});
}();

}  // namespace

TEST(Reduce, EmptyAxesReducesAllOrIsNoop) {
  auto all = run_node({OpKind::ReduceSum, {{"keepdims", I(0)}}}, {kX234});
  ASSERT_TRUE(all) << all.status().message();
  EXPECT_EQ((*all)[0].shape(), Shape{});
  expect_near((*all)[0], {276});
  auto empty_input = run_node({OpKind::ReduceSum, {}}, {kX234, i64({}, {0})});
  ASSERT_TRUE(empty_input) << empty_input.status().message();
  EXPECT_EQ((*empty_input)[0].shape(), (Shape{1, 1, 1}));
  auto noop = run_node({OpKind::ReduceMean, {{"noop_with_empty_axes", I(1)}}}, {kX234});
  ASSERT_TRUE(noop) << noop.status().message();
  EXPECT_TRUE((*noop)[0].identical(kX234));
}

TEST(Reduce, NegativeAndNonContiguousAxes) {
  auto r = run_node({OpKind::ReduceSum, {{"keepdims", I(1)}}}, {kX234, i64({-1}, {1})});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 3, 1}));
  expect_near((*r)[0], {6, 22, 38, 54, 70, 86});
  // Axes {0, 2}: not a contiguous block (general path).
  auto g = run_node({OpKind::ReduceMax, {{"keepdims", I(0)}}}, {kX234, i64({2, 0}, {2})});
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ((*g)[0].shape(), Shape{3});
  expect_near((*g)[0], {15, 19, 23});
  auto m = run_node({OpKind::ReduceMean, {{"keepdims", I(0)}}}, {kX234, i64({0, 2}, {2})});
  ASSERT_TRUE(m) << m.status().message();
  expect_near((*m)[0], {7.5f, 11.5f, 15.5f});
}

TEST(Reduce, BadAxesAreErrors) {
  auto dup = run_node({OpKind::ReduceSum, {}}, {kX234, i64({1, -2}, {2})});
  EXPECT_FALSE(dup);
  auto range = run_node({OpKind::ReduceL2, {}}, {kX234, i64({3}, {1})});
  ASSERT_FALSE(range);
  EXPECT_NE(range.status().message().find("out of range"), std::string::npos)
      << range.status().message();
}

TEST(Reduce, MaxMinPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = f32({1, nan, 3, 4, 5, 6}, {2, 3});
  auto mx = run_node({OpKind::ReduceMax, {{"keepdims", I(0)}}}, {x, i64({1}, {1})});
  ASSERT_TRUE(mx);
  expect_near((*mx)[0], {nan, 6});
  auto mn = run_node({OpKind::ReduceMin, {{"keepdims", I(0)}}}, {x, i64({0}, {1})});
  ASSERT_TRUE(mn);
  expect_near((*mn)[0], {1, nan, 3});
}

TEST(Reduce, EmptySetIdentities) {
  Tensor x = f32({}, {2, 0, 3});
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    OpKind op;
    float want;
  };
  for (Case c :
       {Case{OpKind::ReduceSum, 0}, Case{OpKind::ReduceProd, 1}, Case{OpKind::ReduceMax, -inf},
        Case{OpKind::ReduceMin, inf}, Case{OpKind::ReduceL1, 0}, Case{OpKind::ReduceL2, 0},
        Case{OpKind::ReduceSumSquare, 0}, Case{OpKind::ReduceLogSum, -inf},
        Case{OpKind::ReduceLogSumExp, -inf}}) {
    auto r = run_node({c.op, {{"keepdims", I(1)}}}, {x, i64({1}, {1})});
    ASSERT_TRUE(r) << op_name(c.op) << ": " << r.status().message();
    EXPECT_EQ((*r)[0].shape(), (Shape{2, 1, 3}));
    expect_near((*r)[0], std::vector<float>(6, c.want));
  }
  Tensor xi = Tensor::from_vector<int32_t>({}, {0, 2});
  auto r = run_node({OpKind::ReduceMin, {{"keepdims", I(0)}}}, {xi, i64({0}, {1})});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].get_i64(0), std::numeric_limits<int32_t>::max());
}

TEST(Reduce, LogSumExpIsStable) {
  auto r = run_node({OpKind::ReduceLogSumExp, {{"keepdims", I(0)}}}, {f32({1000, 1000}, {2})});
  ASSERT_TRUE(r);
  expect_near((*r)[0], {1000 + std::log(2.0f)}, 1e-3f);
}

TEST(Reduce, IntegerMeanTruncates) {
  auto r = run_node({OpKind::ReduceMean, {{"keepdims", I(0)}}},
                    {Tensor::from_vector<int32_t>({1, 2, -1, -2}, {2, 2}), i64({1}, {1})});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].get_i64(0), 1);
  EXPECT_EQ((*r)[0].get_i64(1), -1);
}

TEST(ArgMax, TiesAndSelectLastIndex) {
  Tensor x = f32({2, 5, 5, 1, 1, 0}, {2, 3});
  auto first = run_node({OpKind::ArgMax, {{"axis", I(1)}}}, {x});
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0].shape(), (Shape{2, 1}));
  EXPECT_EQ((*first)[0].to_i64_vector(), (std::vector<int64_t>{1, 0}));
  auto last = run_node(
      {OpKind::ArgMax, {{"axis", I(-1)}, {"select_last_index", I(1)}, {"keepdims", I(0)}}}, {x});
  ASSERT_TRUE(last);
  EXPECT_EQ((*last)[0].to_i64_vector(), (std::vector<int64_t>{2, 1}));
  auto mn = run_node({OpKind::ArgMin, {{"axis", I(0)}, {"keepdims", I(0)}}}, {x});
  ASSERT_TRUE(mn);
  EXPECT_EQ((*mn)[0].to_i64_vector(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_FALSE(run_node({OpKind::ArgMax, {{"axis", I(2)}}}, {x}));
}

TEST(Softmax, LargeInputsAndAxes) {
  auto r = run_node({OpKind::Softmax, {}}, {f32({1000, 1001, 1002, -1000, -1000, -1000}, {2, 3})});
  ASSERT_TRUE(r);
  expect_near((*r)[0], {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
  auto l = run_node({OpKind::LogSoftmax, {{"axis", I(0)}}}, {f32({0, 0, 0, 0}, {2, 2})});
  ASSERT_TRUE(l);
  expect_near((*l)[0], std::vector<float>(4, -std::log(2.0f)));
  auto h = run_node({OpKind::Hardmax, {{"axis", I(1)}}}, {f32({3, 3, 1, 0, 2, 2}, {2, 3})});
  ASSERT_TRUE(h);
  expect_near((*h)[0], {1, 0, 0, 0, 1, 0});
  EXPECT_FALSE(run_node({OpKind::Softmax, {{"axis", I(2)}}}, {f32({1, 2}, {1, 2})}));
}

TEST(CumSum, ExclusiveReverse) {
  Tensor x = f32({1, 2, 3, 4}, {4});
  auto r = run_node({OpKind::CumSum, {{"exclusive", I(1)}, {"reverse", I(1)}}}, {x, i64({0}, {})});
  ASSERT_TRUE(r);
  expect_near((*r)[0], {9, 7, 4, 0});
  auto p = run_node({OpKind::CumProd, {}}, {x, Tensor::from_vector<int32_t>({-1}, {1})});
  ASSERT_TRUE(p);
  expect_near((*p)[0], {1, 2, 6, 24});
  EXPECT_FALSE(run_node({OpKind::CumSum, {}}, {x, i64({1}, {})}));
}

TEST(TopK, TiesPreferLowerIndex) {
  Tensor x = f32({1, 3, 3, 2, 3}, {5});
  auto r = run_node({OpKind::TopK, {}, 2}, {x, i64({3}, {1})});
  ASSERT_TRUE(r) << r.status().message();
  expect_near((*r)[0], {3, 3, 3});
  EXPECT_EQ((*r)[1].to_i64_vector(), (std::vector<int64_t>{1, 2, 4}));
  auto s = run_node({OpKind::TopK, {{"largest", I(0)}}, 2}, {x, i64({2}, {1})});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)[1].to_i64_vector(), (std::vector<int64_t>{0, 3}));
  EXPECT_FALSE(run_node({OpKind::TopK, {}, 2}, {x, i64({6}, {1})}));
  EXPECT_FALSE(run_node({OpKind::TopK, {}, 2}, {x, i64({-1}, {1})}));
}

TEST(Einsum, DiagonalTraceImplicitEllipsis) {
  Tensor m = f32({1, 2, 3, 4}, {2, 2});
  auto diag = run_node({OpKind::Einsum, {{"equation", S("ii->i")}}}, {m});
  ASSERT_TRUE(diag) << diag.status().message();
  expect_near((*diag)[0], {1, 4});
  auto trace = run_node({OpKind::Einsum, {{"equation", S("ii")}}}, {m});
  ASSERT_TRUE(trace);
  EXPECT_EQ((*trace)[0].shape(), Shape{});
  expect_near((*trace)[0], {5});
  // Implicit output of "ij,jk" is "ik" (a matmul); "ji" implicit is the transpose-free "ij".
  auto mm = run_node({OpKind::Einsum, {{"equation", S("ij,jk")}}}, {m, m});
  ASSERT_TRUE(mm);
  expect_near((*mm)[0], {7, 10, 15, 22});
  auto tr = run_node({OpKind::Einsum, {{"equation", S("ji")}}}, {m});
  ASSERT_TRUE(tr);
  expect_near((*tr)[0], {1, 3, 2, 4});
  // Ellipsis with a broadcast batch dim: (1, 2, 2) x (3, 2, 2).
  std::vector<float> b(12);
  for (int i = 0; i < 12; ++i) b[i] = static_cast<float>(i % 4 == 0 || i % 4 == 3);  // identities
  auto bm = run_node({OpKind::Einsum, {{"equation", S("...ij,...jk->...ik")}}},
                     {f32({1, 2, 3, 4}, {1, 2, 2}), f32(b, {3, 2, 2})});
  ASSERT_TRUE(bm) << bm.status().message();
  EXPECT_EQ((*bm)[0].shape(), (Shape{3, 2, 2}));
  expect_near((*bm)[0], {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4});
  EXPECT_FALSE(
      run_node({OpKind::Einsum, {{"equation", S("ij,jk->ik")}}}, {m, f32({1, 2, 3}, {3, 1})}));
  EXPECT_FALSE(run_node({OpKind::Einsum, {{"equation", S("i->j")}}}, {f32({1, 2}, {2})}));
}

TEST(LayerNorm, StatisticsOutputs) {
  Tensor x = f32({1, 2, 3, 4, 4, 4}, {2, 3});
  auto r = run_node({OpKind::LayerNormalization, {{"epsilon", F(0)}}, 3},
                    {x, f32({1, 1, 1}, {3}), f32({0, 0, 1}, {3})});
  ASSERT_TRUE(r) << r.status().message();
  const float s = std::sqrt(1.5f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_near((*r)[0], {-s, 0, s + 1, nan, nan, nan}, 1e-3f);  // row 2: 0 * (1 / sqrt(0))
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 1}));
  expect_near((*r)[1], {2, 4});
}

TEST(GroupNorm, PerChannelAffine) {
  // N=1, C=4, 2 groups, spatial 2.
  Tensor x = f32({0, 2, 4, 6, 1, 1, 1, 1}, {1, 4, 2});
  auto r = run_node({OpKind::GroupNormalization, {{"num_groups", I(2)}, {"epsilon", F(0)}}},
                    {x, f32({1, 2, 1, 1}, {4}), f32({0, 0, 0, 5}, {4})});
  ASSERT_TRUE(r) << r.status().message();
  const float sd = std::sqrt(5.0f);
  std::vector<float> y = (*r)[0].to_f32_vector();
  EXPECT_NEAR(y[0], -3 / sd, 1e-5);
  EXPECT_NEAR(y[3], 2 * 3 / sd, 1e-5);
  EXPECT_TRUE(std::isnan(y[7]));  // variance 0 with epsilon 0: 0/0
  EXPECT_FALSE(run_node({OpKind::GroupNormalization, {{"num_groups", I(3)}}},
                        {x, f32({1, 1, 1, 1}, {4}), f32({0, 0, 0, 0}, {4})}));
}

TEST(Loss, IgnoreIndexAndBadLabels) {
  Tensor scores = f32({0, 0, 1, 1}, {2, 2});
  auto r = run_node({OpKind::SoftmaxCrossEntropyLoss, {{"ignore_index", I(1)}}, 2},
                    {scores, i64({0, 1}, {2})});
  ASSERT_TRUE(r) << r.status().message();
  expect_near((*r)[0], {std::log(2.0f)});
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 2}));
  auto all_ignored = run_node({OpKind::NegativeLogLikelihoodLoss, {{"ignore_index", I(0)}}},
                              {scores, i64({0, 0}, {2})});
  ASSERT_TRUE(all_ignored);
  EXPECT_TRUE(std::isnan((*all_ignored)[0].get_f64(0)));
  auto none = run_node({OpKind::NegativeLogLikelihoodLoss, {{"reduction", S("none")}}},
                       {scores, i64({1, 0}, {2})});
  ASSERT_TRUE(none);
  expect_near((*none)[0], {0, -1});
  EXPECT_FALSE(run_node({OpKind::NegativeLogLikelihoodLoss, {}}, {scores, i64({2, 0}, {2})}));
  EXPECT_FALSE(run_node({OpKind::NegativeLogLikelihoodLoss, {{"reduction", S("avg")}}},
                        {scores, i64({1, 0}, {2})}));
}

TEST(Attention, CausalSingleHead) {
  // B=1, H=1, S=2, E=1: q = k = [1, 1], v = [10, 20]. Causal: row 0 sees key 0 only.
  Tensor q = f32({1, 1}, {1, 1, 2, 1});
  Tensor v = f32({10, 20}, {1, 1, 2, 1});
  auto r = run_node({OpKind::Attention, {{"is_causal", I(1)}}}, {q, q, v});
  ASSERT_TRUE(r) << r.status().message();
  expect_near((*r)[0], {10, 15});
  EXPECT_FALSE(run_node({OpKind::Attention, {}}, {q, f32({1, 1, 1}, {1, 3, 1, 1}), v}));
}

TEST(RotaryEmbedding, RejectsOutOfRangePositions) {
  Tensor x = f32({1, 0}, {1, 1, 1, 2});
  Tensor c = f32({0}, {1, 1});
  Tensor s = f32({1}, {1, 1});
  auto ok = run_node({OpKind::RotaryEmbedding, {}}, {x, c, s, i64({0}, {1, 1})});
  ASSERT_TRUE(ok) << ok.status().message();
  expect_near((*ok)[0], {0, 1});  // a quarter turn
  EXPECT_FALSE(run_node({OpKind::RotaryEmbedding, {}}, {x, c, s, i64({1}, {1, 1})}));
}
