// Finite-difference checks of the reduce and shape gradient rules (f64): reductions, softmax,
// layer norm, losses, views, copies, indexing and dropout.
#include <gtest/gtest.h>

#include "grad_check.h"

namespace condense::test {
namespace {

using A = ir::Attribute;

TEST(GradReduce, ReduceSumAndMean) {
  std::mt19937 rng(1);
  for (OpKind op : {OpKind::ReduceSum, OpKind::ReduceMean}) {
    for (int keep = 0; keep < 2; ++keep) {
      for (const std::vector<int64_t>& axes : {std::vector<int64_t>{1}, std::vector<int64_t>{0, 2},
                                               std::vector<int64_t>{-1}, std::vector<int64_t>{}}) {
        GradCase c(fmt::format("{} axes {} keepdims {}", op_name(op), shape_str(axes), keep), op);
        c.inputs = {param(uniform({2, 3, 4}, rng))};
        if (!axes.empty()) c.inputs.push_back(konst(i64s(axes)));
        c.attrs["keepdims"] = A::of_int(keep);
        check_gradients(c);
      }
    }
    GradCase noop(fmt::format("{} noop_with_empty_axes", op_name(op)), op);
    noop.inputs = {param(uniform({2, 3}, rng))};
    noop.attrs["noop_with_empty_axes"] = A::of_int(1);
    check_gradients(noop);
  }
}

TEST(GradReduce, SoftmaxAndLogSoftmax) {
  std::mt19937 rng(2);
  for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax})
    for (int64_t axis : {-1, 0, 1}) {
      GradCase c(fmt::format("{} axis {}", op_name(op), axis), op);
      c.inputs = {param(uniform({3, 4, 2}, rng, -2, 2))};
      c.attrs["axis"] = A::of_int(axis);
      check_gradients(c);
    }
}

TEST(GradReduce, LayerNormalization) {
  std::mt19937 rng(3);
  for (int64_t axis : {-1, 1}) {
    GradCase c(fmt::format("LayerNormalization (2, 3, 4) axis {}", axis),
               OpKind::LayerNormalization);
    const Shape norm = axis == -1 ? Shape{4} : Shape{3, 4};
    c.inputs = {param(uniform({2, 3, 4}, rng)), param(uniform(norm, rng, 0.5, 1.5)),
                param(uniform(norm, rng))};
    c.attrs = {{"axis", A::of_int(axis)}, {"epsilon", A::of_float(1e-3f)}};
    check_gradients(c);
  }
  GradCase b("LayerNormalization broadcast scale (1, 4), no bias", OpKind::LayerNormalization);
  b.inputs = {param(uniform({3, 2, 4}, rng)), param(uniform({1, 4}, rng)), absent()};
  b.attrs = {{"axis", A::of_int(1)}};
  check_gradients(b);
}

TEST(GradReduce, Losses) {
  std::mt19937 rng(4);
  for (const std::string red : {"mean", "sum", "none"}) {
    GradCase c("SoftmaxCrossEntropyLoss reduction " + red, OpKind::SoftmaxCrossEntropyLoss);
    c.inputs = {param(uniform({4, 5}, rng, -2, 2)), konst(i64s({1, 0, 4, 2}, {4}))};
    c.attrs["reduction"] = A::of_string(red);
    check_gradients(c);
    GradCase w("SoftmaxCrossEntropyLoss weights, ignore_index, (N, C, D) " + red,
               OpKind::SoftmaxCrossEntropyLoss);
    w.inputs = {param(uniform({2, 3, 2}, rng, -2, 2)), konst(i64s({0, 2, 1, 1}, {2, 2})),
                konst(f64s({0.5, 2.0, 1.0}, {3}))};
    w.attrs = {{"reduction", A::of_string(red)}, {"ignore_index", A::of_int(2)}};
    check_gradients(w);
    GradCase n("NegativeLogLikelihoodLoss " + red, OpKind::NegativeLogLikelihoodLoss);
    n.inputs = {param(uniform({3, 4}, rng)), konst(i64s({3, 0, 1}, {3})),
                konst(f64s({1.0, 0.5, 2.0, 1.5}, {4}))};
    n.attrs["reduction"] = A::of_string(red);
    check_gradients(n);
  }
  GradCase lp("SoftmaxCrossEntropyLoss with the log_prob output in the projection",
              OpKind::SoftmaxCrossEntropyLoss);
  lp.inputs = {param(uniform({3, 4}, rng, -2, 2)), konst(i64s({1, 3, 0}, {3}))};
  lp.outputs = 2;
  check_gradients(lp);
}

TEST(GradShape, Views) {
  std::mt19937 rng(5);
  GradCase r("Reshape (2, 3, 4) -> (6, -1)", OpKind::Reshape);
  r.inputs = {param(uniform({2, 3, 4}, rng)), konst(i64s({6, -1}))};
  check_gradients(r);
  GradCase f("Flatten axis 2", OpKind::Flatten);
  f.inputs = {param(uniform({2, 3, 4}, rng))};
  f.attrs["axis"] = A::of_int(2);
  check_gradients(f);
  GradCase s("Squeeze axes 1", OpKind::Squeeze);
  s.inputs = {param(uniform({2, 1, 4}, rng)), konst(i64s({1}))};
  check_gradients(s);
  GradCase u("Unsqueeze axes 0, 3", OpKind::Unsqueeze);
  u.inputs = {param(uniform({2, 4}, rng)), konst(i64s({0, 3}))};
  check_gradients(u);
  GradCase t("Transpose perm (2, 0, 1)", OpKind::Transpose);
  t.inputs = {param(uniform({2, 3, 4}, rng))};
  t.attrs["perm"] = A::of_ints({2, 0, 1});
  check_gradients(t);
  GradCase td("Transpose default perm", OpKind::Transpose);
  td.inputs = {param(uniform({2, 3, 4}, rng))};
  check_gradients(td);
  GradCase e("Expand (3, 1) -> (2, 3, 4)", OpKind::Expand);
  e.inputs = {param(uniform({3, 1}, rng)), konst(i64s({2, 3, 4}))};
  check_gradients(e);
  GradCase id("Identity", OpKind::Identity);
  id.inputs = {param(uniform({5}, rng))};
  check_gradients(id);
}

TEST(GradShape, ConcatSplitSlicePad) {
  std::mt19937 rng(6);
  for (int64_t axis : {1, -1}) {
    GradCase c(fmt::format("Concat axis {}", axis), OpKind::Concat);
    c.inputs = {param(uniform({2, 3, 2}, rng)), konst(uniform({2, 3, 1}, rng)),
                param(uniform({2, 3, 3}, rng))};
    c.attrs["axis"] = A::of_int(axis == 1 ? 2 : -1);
    check_gradients(c);
  }
  GradCase s("Split (2, 5) into 2 + 3 on axis 1", OpKind::Split);
  s.inputs = {param(uniform({2, 5}, rng)), konst(i64s({2, 3}))};
  s.attrs["axis"] = A::of_int(1);
  s.outputs = 2;
  check_gradients(s);
  GradCase s1("Split, only the second output used", OpKind::Split);
  s1.inputs = {param(uniform({4, 3}, rng))};
  s1.outputs = 2;
  s1.checked_outputs = {1};
  check_gradients(s1);
  GradCase sl("Slice with negative step and axes", OpKind::Slice);
  sl.inputs = {param(uniform({4, 5, 3}, rng)), konst(i64s({-1, 1})), konst(i64s({0, 5})),
               konst(i64s({0, 1})), konst(i64s({-2, 2}))};
  check_gradients(sl);
  GradCase sl2("Slice with steps on the last axis (negative) and the one before", OpKind::Slice);
  sl2.inputs = {param(uniform({2, 5, 7}, rng)), konst(i64s({1, 6})), konst(i64s({5, 0})),
                konst(i64s({1, 2})), konst(i64s({2, -3}))};
  check_gradients(sl2);
  GradCase p("Pad constant (1, 0, 2, 1)", OpKind::Pad);
  p.inputs = {param(uniform({2, 3}, rng)), konst(i64s({1, 0, 2, 1})),
              konst(Tensor::scalar<double>(0.5))};
  check_gradients(p);
  GradCase pn("Pad with a negative pad (crop) and axes", OpKind::Pad);
  pn.inputs = {param(uniform({2, 3, 4}, rng)), konst(i64s({-1, 2, 1, -1})), absent(),
               konst(i64s({1, 2}))};
  check_gradients(pn);
}

TEST(GradShape, Gather) {
  std::mt19937 rng(7);
  GradCase g("Gather axis 0 with repeated and negative indices", OpKind::Gather);
  g.inputs = {param(uniform({5, 3}, rng)), konst(i64s({0, 4, -1, 2, 0}, {5}))};
  check_gradients(g);
  GradCase g1("Gather axis 1, 2-D indices", OpKind::Gather);
  g1.inputs = {param(uniform({2, 4, 3}, rng)), konst(i64s({3, 1, 1, 0}, {2, 2}))};
  g1.attrs["axis"] = A::of_int(1);
  check_gradients(g1);
}

TEST(GradShape, Dropout) {
  std::mt19937 rng(8);
  GradCase d("Dropout training ratio 0.3", OpKind::Dropout);
  d.inputs = {param(uniform({4, 6}, rng)), konst(Tensor::scalar<double>(0.3))};
  check_gradients(d);
  GradCase i("Dropout as identity (dropout_training = false)", OpKind::Dropout);
  i.inputs = {param(uniform({4, 6}, rng))};
  i.options.dropout_training = false;
  check_gradients(i);
}

}  // namespace
}  // namespace condense::test
