// tidy_for_export (src/compress/quant/tidy.cpp): equal constants merged, default Conv attributes
// dropped, graph inputs / outputs untouched, and the graph computes the same.
#include <condense/ir_clone.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include "compress/quant/rewrite.h"

namespace condense {
namespace {

TEST(QuantTidy, MergesEqualConstantsAndDropsDefaultConvAttributes) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {1, 2, 5, 5});
  auto ints = [](std::vector<int64_t> v) {
    return Tensor::from_vector<int64_t>(v, {int64_t(v.size())});
  };
  // Two Slices whose starts / ends / axes are equal but separately named (as PyTorch exports).
  ir::Value* s1 =
      g.add_node(OpKind::Slice,
                 {x, g.add_constant("starts_a", ints({1})), g.add_constant("ends_a", ints({4})),
                  g.add_constant("axes_a", ints({2}))},
                 1, "slice_a")
          ->outputs[0];
  ir::Value* s2 =
      g.add_node(OpKind::Slice,
                 {x, g.add_constant("starts_b", ints({1})), g.add_constant("ends_b", ints({4})),
                  g.add_constant("axes_b", ints({3}))},
                 1, "slice_b")
          ->outputs[0];
  Tensor w = Tensor::empty(DType::F32, {3, 2, 3, 3});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 0.01f * float(i % 17) - 0.05f;
  ir::Node* conv = g.add_node(OpKind::Conv, {x, g.add_constant("w", w)}, 1, "conv");
  conv->attrs["dilations"] = ir::Attribute::of_ints({1, 1});
  conv->attrs["strides"] = ir::Attribute::of_ints({1, 1});
  conv->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});  // not the default: kept
  conv->attrs["group"] = ir::Attribute::of_int(1);
  conv->attrs["kernel_shape"] = ir::Attribute::of_ints({3, 3});
  g.outputs = {s1, s2, conv->outputs[0]};

  ir::Graph tidy = ir::clone_graph(g);
  quant::tidy_for_export(tidy);
  ASSERT_TRUE(tidy.verify());
  int constants = 0;
  for (const auto& v : tidy.values()) constants += v->is_constant();
  EXPECT_EQ(constants, 5);  // starts, ends, axes_a, axes_b, w
  EXPECT_TRUE(tidy.find_value("starts_a") && !tidy.find_value("starts_b"));
  EXPECT_TRUE(tidy.find_value("axes_b"));  // different values stay apart
  for (const auto& n : tidy.nodes()) {
    if (n->op != OpKind::Conv) continue;
    EXPECT_FALSE(n->has_attr("dilations"));
    EXPECT_FALSE(n->has_attr("strides"));
    EXPECT_FALSE(n->has_attr("group"));
    EXPECT_TRUE(n->has_attr("pads"));
    EXPECT_TRUE(n->has_attr("kernel_shape"));
  }

  Tensor in = Tensor::empty(DType::F32, {1, 2, 5, 5});
  for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = float(i) * 0.1f;
  auto a = Session::create(std::move(g));
  auto b = Session::create(std::move(tidy));
  ASSERT_TRUE(a && b);
  auto ya = (*a)->run({in});
  auto yb = (*b)->run({in});
  ASSERT_TRUE(ya && yb);
  for (size_t o = 0; o < ya->size(); ++o) EXPECT_TRUE((*ya)[o].identical((*yb)[o])) << o;
}

}  // namespace
}  // namespace condense
