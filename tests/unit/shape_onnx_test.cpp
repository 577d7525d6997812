// Shape family ONNX hooks: export -> import round trips, including the downgrades (Split
// num_outputs, Pad axes) to older opsets, checked against the conformance test data.
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace condense;
namespace fs = std::filesystem;

namespace {

const fs::path kSuite = fs::path(CONDENSE_DATA_DIR) / "onnx-tests-1.22" / "node";

// Runs `g` on test_data_set_0 of `dir` and compares every output exactly (data movement only).
void expect_matches_test_data(ir::Graph g, const fs::path& dir) {
  auto s = Session::create(std::move(g), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  std::vector<Tensor> inputs;
  for (int k = 0; fs::exists(dir / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb"));
       ++k) {
    auto t = onnx::read_tensor_pb(
        (dir / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb")).string());
    ASSERT_TRUE(t) << t.status().message();
    inputs.push_back(*t);
  }
  auto got = (*s)->run(inputs);
  ASSERT_TRUE(got) << got.status().message();
  for (size_t k = 0; k < got->size(); ++k) {
    auto want = onnx::read_tensor_pb(
        (dir / "test_data_set_0" / ("output_" + std::to_string(k) + ".pb")).string());
    ASSERT_TRUE(want) << want.status().message();
    EXPECT_TRUE((*got)[k].identical(*want)) << dir.filename() << " output " << k;
  }
}

void round_trip(const std::string& test, int64_t opset) {
  const fs::path dir = kSuite / test;
  if (!fs::exists(dir / "model.onnx")) GTEST_SKIP() << "conformance data not found at " << dir;
  auto g = onnx::import_file((dir / "model.onnx").string());
  ASSERT_TRUE(g) << g.status().message();
  auto bytes = onnx::export_bytes(*g, {.opset = opset});
  ASSERT_TRUE(bytes) << bytes.status().message();
  if (opset != 0 && opset <= onnx::checker_max_opset()) {
    Status c = onnx::check_model_bytes(*bytes);
    EXPECT_TRUE(c.is_ok()) << test << " at opset " << opset << ": " << c.message();
  }
  auto back = onnx::import_bytes(*bytes);
  ASSERT_TRUE(back) << back.status().message();
  expect_matches_test_data(std::move(*back), dir);
}

}  // namespace

TEST(ShapeOnnx, SplitNumOutputsDowngrades) {
  round_trip("test_split_1d_uneven_split_opset18", 13);  // split sizes become an input
  round_trip("test_split_2d_uneven_split_opset18", 11);  // ... or the `split` attribute
  round_trip("test_split_equal_parts_1d_opset18", 17);
}

TEST(ShapeOnnx, PadAxesDowngrades) {
  // Constant pads/axes fold into full-rank pads below opset 18.
  auto build = [] {
    ir::Graph g;
    ir::Value* x = g.add_input("x", DType::F32, {2, 3, 4});
    ir::Value* pads = g.add_constant("pads", Tensor::from_vector<int64_t>({1, 2, 0, -1}, {4}));
    ir::Value* cv = g.add_constant("cv", Tensor::scalar<float>(7.0f));
    ir::Value* axes = g.add_constant("axes", Tensor::from_vector<int64_t>({-1, 0}, {2}));
    ir::Value* y = g.add_node(OpKind::Pad, {x, pads, cv, axes}, 1, "pad")->outputs[0];
    y->has_shape = true;  // the checker wants typed graph outputs
    y->dims = {3, 3, 5};
    g.outputs.push_back(y);
    return g;
  };
  std::vector<float> xs(24);
  for (int i = 0; i < 24; ++i) xs[i] = static_cast<float>(i);
  const Tensor x = Tensor::from_vector<float>(xs, {2, 3, 4});
  auto run = [&](ir::Graph g) {
    auto s = Session::create(std::move(g), {.threads = 1});
    EXPECT_TRUE(s) << s.status().message();
    auto out = (*s)->run({x});
    EXPECT_TRUE(out) << out.status().message();
    return (*out)[0];
  };
  const Tensor want = run(build());
  EXPECT_EQ(want.shape(), (Shape{3, 3, 5}));  // axis 2: +1 +0, axis 0: +2 -1
  for (int64_t opset : {13, 17}) {
    auto bytes = onnx::export_bytes(build(), {.opset = opset});
    ASSERT_TRUE(bytes) << bytes.status().message();
    Status c = onnx::check_model_bytes(*bytes);
    EXPECT_TRUE(c.is_ok()) << c.message();
    auto back = onnx::import_bytes(*bytes);
    ASSERT_TRUE(back) << back.status().message();
    EXPECT_TRUE(run(std::move(*back)).identical(want)) << "opset " << opset;
  }
  // Runtime pads/axes cannot be folded: a clear export error.
  const fs::path dir = kSuite / "test_constant_pad_axes";
  if (!fs::exists(dir / "model.onnx")) GTEST_SKIP() << "conformance data not found at " << dir;
  auto g = onnx::import_file((dir / "model.onnx").string());
  ASSERT_TRUE(g) << g.status().message();
  auto bytes = onnx::export_bytes(*g, {.opset = 13});
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.status().message().find("opset 18"), std::string::npos)
      << bytes.status().message();
}

TEST(ShapeOnnx, RoundTripsAtTheirOwnOpset) {
  for (const char* t :
       {"test_slice_neg_steps", "test_squeeze_negative_axes", "test_unsqueeze_unsorted_axes",
        "test_scatternd_max", "test_gathernd_example_int32_batch_dim1", "test_shape_start_1_end_2",
        "test_center_crop_pad_crop_axes_hwc", "test_reflect_pad", "test_wrap_pad",
        "test_dropout_default_mask_ratio", "test_unique_sorted_with_axis_3d"}) {
    SCOPED_TRACE(t);
    round_trip(t, 0);
  }
}

TEST(ShapeOnnx, SqueezeAxesBecomeAttributesBelow13) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {3, 1});
  ir::Value* axes = g.add_constant("axes", Tensor::from_vector<int64_t>({-1}, {1}));
  ir::Value* sq = g.add_node(OpKind::Squeeze, {x, axes}, 1, "sq")->outputs[0];
  ir::Value* ax0 = g.add_constant("ax0", Tensor::from_vector<int64_t>({0}, {1}));
  ir::Value* y = g.add_node(OpKind::Unsqueeze, {sq, ax0}, 1, "unsq")->outputs[0];
  y->has_shape = true;
  y->dims = {1, 3};
  g.outputs.push_back(y);
  auto bytes = onnx::export_bytes(g, {.opset = 11});
  ASSERT_TRUE(bytes) << bytes.status().message();
  Status c = onnx::check_model_bytes(*bytes);
  EXPECT_TRUE(c.is_ok()) << c.message();
  auto back = onnx::import_bytes(*bytes);
  ASSERT_TRUE(back) << back.status().message();
  auto s = Session::create(std::move(*back), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  auto out = (*s)->run({Tensor::from_vector<float>({1, 2, 3}, {3, 1})});
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 3}));
}
