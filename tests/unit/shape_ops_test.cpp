// Shape family: bad input is a clean error naming the node; edge cases of the byte movers.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <numeric>

#include "passes/pass.h"

using namespace condense;

namespace {

// Runs one node whose inputs are all graph inputs (so values reach the kernels at run time).
// nullptr-shaped (undefined) tensors become omitted optional inputs.
Result<std::vector<Tensor>> run_node(OpKind op, const std::vector<Tensor>& inputs,
                                     std::map<std::string, ir::Attribute> attrs = {},
                                     int outputs = 1) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Dims dims(inputs[i].shape().begin(), inputs[i].shape().end());
    ins.push_back(g.add_input("in" + std::to_string(i), inputs[i].dtype(), dims));
    feeds.push_back(inputs[i]);
  }
  ir::Node* n = g.add_node(op, ins, outputs, "node_under_test");
  n->attrs = std::move(attrs);
  for (ir::Value* v : n->outputs) g.outputs.push_back(v);
  auto s = Session::create(std::move(g), {.threads = 1});
  if (!s) return s.status();
  return (*s)->run(feeds);
}

Tensor iota_f32(Shape shape) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::iota(t.data<float>(), t.data<float>() + t.numel(), 0.0f);
  return t;
}

Tensor i64(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(v, {n});
}

void expect_error(const Result<std::vector<Tensor>>& r, const std::string& fragment) {
  ASSERT_FALSE(r.is_ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_NE(r.status().message().find("node_under_test"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

}  // namespace

TEST(ShapeOps, GatherRejectsOutOfRangeIndex) {
  expect_error(run_node(OpKind::Gather, {iota_f32({3, 2}), i64({0, 3})}), "out of range");
  expect_error(run_node(OpKind::Gather, {iota_f32({3, 2}), i64({-4})}), "out of range");
  auto ok = run_node(OpKind::Gather, {iota_f32({3, 2}), i64({-1, 0})});
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ((*ok)[0].to_f32_vector(), (std::vector<float>{4, 5, 0, 1}));
}

TEST(ShapeOps, GatherElementsAndScatterRejectOutOfRangeIndex) {
  Tensor idx = Tensor::from_vector<int64_t>({0, 5}, {1, 2});
  expect_error(run_node(OpKind::GatherElements, {iota_f32({2, 2}), idx},
                        {{"axis", ir::Attribute::of_int(1)}}),
               "out of range");
  expect_error(run_node(OpKind::ScatterElements, {iota_f32({2, 2}), idx, iota_f32({1, 2})},
                        {{"axis", ir::Attribute::of_int(1)}}),
               "out of range");
  Tensor nd = Tensor::from_vector<int64_t>({2}, {1, 1});
  expect_error(run_node(OpKind::ScatterND, {iota_f32({2, 2}), nd, iota_f32({1, 2})}),
               "out of range");
  expect_error(run_node(OpKind::GatherND, {iota_f32({2, 2}), nd}), "out of range");
}

TEST(ShapeOps, ScatterElementsReductions) {
  Tensor data = Tensor::from_vector<float>({1, 2, 3, 4}, {1, 4});
  Tensor idx = Tensor::from_vector<int64_t>({1, 1, -1}, {1, 3});
  Tensor upd = Tensor::from_vector<float>({10, 20, 5}, {1, 3});
  auto add = run_node(
      OpKind::ScatterElements, {data, idx, upd},
      {{"axis", ir::Attribute::of_int(1)}, {"reduction", ir::Attribute::of_string("add")}});
  ASSERT_TRUE(add) << add.status().message();
  EXPECT_EQ((*add)[0].to_f32_vector(), (std::vector<float>{1, 32, 3, 9}));
  auto mx = run_node(
      OpKind::ScatterElements, {data, idx, upd},
      {{"axis", ir::Attribute::of_int(1)}, {"reduction", ir::Attribute::of_string("max")}});
  ASSERT_TRUE(mx) << mx.status().message();
  EXPECT_EQ((*mx)[0].to_f32_vector(), (std::vector<float>{1, 20, 3, 5}));
  expect_error(run_node(OpKind::ScatterElements, {data, idx, upd},
                        {{"reduction", ir::Attribute::of_string("avg")}}),
               "reduction");
}

TEST(ShapeOps, TransposeRejectsBadPerm) {
  expect_error(
      run_node(OpKind::Transpose, {iota_f32({2, 3})}, {{"perm", ir::Attribute::of_ints({0, 0})}}),
      "permutation");
  expect_error(
      run_node(OpKind::Transpose, {iota_f32({2, 3})}, {{"perm", ir::Attribute::of_ints({0, 2})}}),
      "permutation");
  expect_error(
      run_node(OpKind::Transpose, {iota_f32({2, 3})}, {{"perm", ir::Attribute::of_ints({1})}}),
      "rank");
}

TEST(ShapeOps, TransposeMatchesNaiveForManyShapes) {
  // (2, 3, 4, 5) under every permutation, against index arithmetic; also a large blocked case.
  std::vector<int64_t> perm = {0, 1, 2, 3};
  const Shape shape{2, 3, 4, 5};
  do {
    auto r =
        run_node(OpKind::Transpose, {iota_f32(shape)}, {{"perm", ir::Attribute::of_ints(perm)}});
    ASSERT_TRUE(r) << r.status().message();
    const Tensor& y = (*r)[0];
    Shape ys(4);
    for (int i = 0; i < 4; ++i) ys[i] = shape[perm[i]];
    ASSERT_EQ(y.shape(), ys);
    const int64_t st[4] = {60, 20, 5, 1};
    int64_t k = 0;
    for (int64_t a = 0; a < ys[0]; ++a)
      for (int64_t b = 0; b < ys[1]; ++b)
        for (int64_t c = 0; c < ys[2]; ++c)
          for (int64_t d = 0; d < ys[3]; ++d, ++k) {
            const int64_t src =
                a * st[perm[0]] + b * st[perm[1]] + c * st[perm[2]] + d * st[perm[3]];
            ASSERT_EQ(y.data<float>()[k], static_cast<float>(src))
                << "perm " << shape_str(perm) << " at " << k;
          }
  } while (std::next_permutation(perm.begin(), perm.end()));
  auto big = run_node(OpKind::Transpose, {iota_f32({3, 130, 70})},
                      {{"perm", ir::Attribute::of_ints({0, 2, 1})}});
  ASSERT_TRUE(big) << big.status().message();
  const float* y = (*big)[0].data<float>();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t j = 0; j < 70; ++j)
      for (int64_t i = 0; i < 130; ++i)
        ASSERT_EQ(y[(n * 70 + j) * 130 + i], static_cast<float>((n * 130 + i) * 70 + j));
}

TEST(ShapeOps, ConcatRejectsIncompatibleShapes) {
  expect_error(run_node(OpKind::Concat, {iota_f32({2, 3}), iota_f32({3, 3})},
                        {{"axis", ir::Attribute::of_int(1)}}),
               "incompatible");
  expect_error(run_node(OpKind::Concat, {iota_f32({2, 3}), iota_f32({2, 3, 1})},
                        {{"axis", ir::Attribute::of_int(0)}}),
               "incompatible");
  expect_error(run_node(OpKind::Concat, {iota_f32({2}), iota_f32({2})},
                        {{"axis", ir::Attribute::of_int(1)}}),
               "out of range");
  auto ok = run_node(OpKind::Concat, {iota_f32({2, 1}), iota_f32({2, 0}), iota_f32({2, 2})},
                     {{"axis", ir::Attribute::of_int(-1)}});
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ((*ok)[0].to_f32_vector(), (std::vector<float>{0, 0, 1, 1, 2, 3}));
}

TEST(ShapeOps, SliceClampsAndReverses) {
  // Negative step over the whole axis with extreme bounds.
  auto r = run_node(OpKind::Slice,
                    {iota_f32({5}), i64({INT64_MAX}), i64({INT64_MIN}), i64({0}), i64({-2})});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)[0].to_f32_vector(), (std::vector<float>{4, 2, 0}));
  auto empty = run_node(OpKind::Slice, {iota_f32({5}), i64({3}), i64({1}), i64({0}), i64({1})});
  ASSERT_TRUE(empty) << empty.status().message();
  EXPECT_EQ((*empty)[0].numel(), 0);
  expect_error(run_node(OpKind::Slice, {iota_f32({5}), i64({0}), i64({5}), i64({0}), i64({0})}),
               "step");
  expect_error(run_node(OpKind::Slice, {iota_f32({5}), i64({0}), i64({5}), i64({1}), i64({1})}),
               "out of range");
}

TEST(ShapeOps, PadModes) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
  auto run = [&](const char* mode, std::vector<int64_t> pads) {
    return run_node(OpKind::Pad, {x, i64(pads)}, {{"mode", ir::Attribute::of_string(mode)}});
  };
  auto reflect = run("reflect", {2, 2});
  ASSERT_TRUE(reflect) << reflect.status().message();
  EXPECT_EQ((*reflect)[0].to_f32_vector(), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  auto edge = run("edge", {1, 2});
  ASSERT_TRUE(edge) << edge.status().message();
  EXPECT_EQ((*edge)[0].to_f32_vector(), (std::vector<float>{1, 1, 2, 3, 3, 3}));
  auto wrap = run("wrap", {2, 1});
  ASSERT_TRUE(wrap) << wrap.status().message();
  EXPECT_EQ((*wrap)[0].to_f32_vector(), (std::vector<float>{2, 3, 1, 2, 3, 1}));
  auto crop = run("constant", {-1, 1});
  ASSERT_TRUE(crop) << crop.status().message();
  EXPECT_EQ((*crop)[0].to_f32_vector(), (std::vector<float>{2, 3, 0}));
  expect_error(run("constant", {-2, -2}), "negative size");
  expect_error(run("mirror", {1, 1}), "mode");
  expect_error(run("constant", {1}), "pads");
}

TEST(ShapeOps, SplitAndSqueezeErrors) {
  expect_error(run_node(OpKind::Split, {iota_f32({5}), i64({2, 2})}, {}, 2), "sums to");
  expect_error(run_node(OpKind::Split, {iota_f32({5})}, {}, 2), "evenly");
  auto uneven =
      run_node(OpKind::Split, {iota_f32({5})}, {{"num_outputs", ir::Attribute::of_int(3)}}, 3);
  ASSERT_TRUE(uneven) << uneven.status().message();
  EXPECT_EQ((*uneven)[2].to_f32_vector(), (std::vector<float>{4}));
  expect_error(run_node(OpKind::Squeeze, {iota_f32({2, 1}), i64({0})}), "cannot squeeze");
  expect_error(run_node(OpKind::Unsqueeze, {iota_f32({2}), i64({0, 0})}), "repeated");
}

TEST(ShapeOps, ViewsShareStorage) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {2, 3});
  ir::Value* y = g.add_node(OpKind::Flatten, {x}, 1, "flat")->outputs[0];
  g.outputs.push_back(y);
  auto s = Session::create(std::move(g), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  Tensor in = iota_f32({2, 3});
  auto out = (*s)->run({in});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 3}));
  EXPECT_EQ((*out)[0].raw(), in.raw());
}

TEST(ShapeOps, OneHotAndExpandAndTile) {
  Tensor ind = Tensor::from_vector<int64_t>({0, -1, 7}, {3});
  Tensor depth = Tensor::from_vector<int64_t>({3}, {1});
  Tensor vals = Tensor::from_vector<float>({0, 1}, {2});
  auto oh = run_node(OpKind::OneHot, {ind, depth, vals});
  ASSERT_TRUE(oh) << oh.status().message();
  EXPECT_EQ((*oh)[0].to_f32_vector(), (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0}));
  expect_error(run_node(OpKind::Expand, {iota_f32({2, 3}), i64({3, 3})}), "cannot expand");
  auto tile = run_node(OpKind::Tile, {iota_f32({2}), i64({3})});
  ASSERT_TRUE(tile) << tile.status().message();
  EXPECT_EQ((*tile)[0].to_f32_vector(), (std::vector<float>{0, 1, 0, 1, 0, 1}));
  expect_error(run_node(OpKind::Tile, {iota_f32({2}), i64({1, 2})}), "repeats");
}

TEST(ShapeOps, PackedTypesAreRefusedByByteMovers) {
  Tensor x4 = Tensor::zeros(DType::I4, {4});
  expect_error(run_node(OpKind::Transpose, {x4}), "packed");
  auto view = run_node(OpKind::Flatten, {x4});  // views work for any dtype
  ASSERT_TRUE(view) << view.status().message();
}

TEST(ShapeOps, DropoutTrainingIsRefusedUnlessRatioZero) {
  Tensor ratio = Tensor::scalar<float>(0.5f);
  Tensor on = Tensor::scalar<bool>(true);
  expect_error(run_node(OpKind::Dropout, {iota_f32({2}), ratio, on}, {}, 2), "training");
  auto zero = run_node(OpKind::Dropout, {iota_f32({2}), Tensor::scalar<float>(0.0f), on}, {}, 2);
  ASSERT_TRUE(zero) << zero.status().message();
  EXPECT_EQ((*zero)[1].dtype(), DType::Bool);
  EXPECT_TRUE((*zero)[1].data<bool>()[0] && (*zero)[1].data<bool>()[1]);
}

TEST(ShapeOps, RemoveIdentityDropsInferenceDropout) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {2});
  ir::Node* d = g.add_node(OpKind::Dropout, {x}, 2, "drop");
  ir::Value* y = g.add_node(OpKind::Relu, {d->outputs[0]}, 1, "relu")->outputs[0];
  g.outputs.push_back(y);
  // A dropout whose mask is read stays.
  ir::Node* d2 = g.add_node(OpKind::Dropout, {x}, 2, "drop_kept");
  g.outputs.push_back(g.add_node(OpKind::Relu, {d2->outputs[1]}, 1, "mask_user")->outputs[0]);
  PassContext ctx;
  auto changed = make_remove_identity_pass()->run(g, ctx);
  ASSERT_TRUE(changed) << changed.status().message();
  EXPECT_TRUE(*changed);
  int dropouts = 0;
  for (const auto& n : g.nodes()) dropouts += n->op == OpKind::Dropout;
  EXPECT_EQ(dropouts, 1);
  EXPECT_TRUE(g.verify().is_ok()) << g.verify().message();
}

TEST(ShapeOps, UniqueAndNonZero) {
  Tensor x = Tensor::from_vector<float>({2, 1, 1, 3, 4, 3}, {6});
  auto u = run_node(OpKind::Unique, {x}, {{"sorted", ir::Attribute::of_int(0)}}, 4);
  ASSERT_TRUE(u) << u.status().message();
  EXPECT_EQ((*u)[0].to_f32_vector(), (std::vector<float>{2, 1, 3, 4}));
  EXPECT_EQ((*u)[1].to_i64_vector(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ((*u)[2].to_i64_vector(), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ((*u)[3].to_i64_vector(), (std::vector<int64_t>{1, 2, 2, 1}));
  auto nz = run_node(OpKind::NonZero, {Tensor::from_vector<float>({0, 1, -0.0f, 2}, {2, 2})});
  ASSERT_TRUE(nz) << nz.status().message();
  EXPECT_EQ((*nz)[0].shape(), (Shape{2, 2}));
  EXPECT_EQ((*nz)[0].to_i64_vector(), (std::vector<int64_t>{0, 1, 1, 1}));
}
