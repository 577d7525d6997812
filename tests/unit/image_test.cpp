// Resize / Upsample: nearest and linear on small inputs, and rejection of bad input.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

using namespace condense;

namespace {

Result<std::vector<Tensor>> run_resize(const Tensor& x, std::optional<Tensor> scales,
                                       std::optional<Tensor> sizes,
                                       std::map<std::string, ir::Attribute> attrs) {
  ir::Graph g;
  ir::Value* xv = g.add_input("x", x.dtype(), ir::Dims(x.shape().begin(), x.shape().end()));
  ir::Value* sv = scales ? g.add_constant("scales", *scales) : nullptr;
  ir::Value* zv = sizes ? g.add_constant("sizes", *sizes) : nullptr;
  ir::Node* n = g.add_node(OpKind::Resize, {xv, nullptr, sv, zv}, 1, "resize");
  n->attrs = std::move(attrs);
  g.outputs.push_back(n->outputs[0]);
  auto s = Session::create(std::move(g), {.threads = 1, .optimize = false});
  if (!s) return s.status();
  return (*s)->run(std::vector<Tensor>{x});
}

}  // namespace

TEST(Resize, NearestUpsampleAsymmetricFloor) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  auto r = run_resize(x, Tensor::from_vector<float>({1, 1, 2, 1.5f}, {4}), std::nullopt,
                      {{"coordinate_transformation_mode", ir::Attribute::of_string("asymmetric")},
                       {"nearest_mode", ir::Attribute::of_string("floor")}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 4, 3}));
  EXPECT_EQ((*r)[0].to_f32_vector(), (std::vector<float>{1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4}));
}

TEST(Resize, LinearAlignCornersWithAxes) {
  Tensor x = Tensor::from_vector<float>({0, 10}, {1, 2});
  auto r =
      run_resize(x, std::nullopt, Tensor::from_vector<int64_t>({5}, {1}),
                 {{"mode", ir::Attribute::of_string("linear")},
                  {"axes", ir::Attribute::of_ints({-1})},
                  {"coordinate_transformation_mode", ir::Attribute::of_string("align_corners")}});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)[0].to_f32_vector(), (std::vector<float>{0, 2.5f, 5, 7.5f, 10}));
}

TEST(Resize, RejectsBadInput) {
  Tensor x = Tensor::zeros(DType::F32, {1, 1, 2, 2});
  Tensor scales = Tensor::from_vector<float>({1, 1, 2, 2}, {4});
  Tensor sizes = Tensor::from_vector<int64_t>({1, 1, 4, 4}, {4});
  EXPECT_FALSE(run_resize(x, scales, sizes, {}));
  EXPECT_FALSE(run_resize(x, Tensor::from_vector<float>({1, 2}, {2}), std::nullopt, {}));
  EXPECT_FALSE(run_resize(x, Tensor::from_vector<float>({1, 1, -2, 2}, {4}), std::nullopt, {}));
  EXPECT_FALSE(run_resize(x, scales, std::nullopt, {{"mode", ir::Attribute::of_string("area")}}));
  EXPECT_FALSE(
      run_resize(x, std::nullopt, sizes, {{"axes", ir::Attribute::of_ints({0, 0, 1, 2})}}));
}
