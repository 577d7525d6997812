// Real models end to end: reference outputs of the ONNX model zoo's mnist-8 and
// super-resolution-10, top-1 accuracy of ResNet-20 (CIFAR-10 JPEG) and mnist-8 (MNIST), and
// import -> export -> import round trips that must give bit-identical outputs.
#include <condense/data.h>
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "model_test_util.h"

using namespace condense;
using model_test::data_path;

namespace {

constexpr int kThreads = 2;

SessionOptions options() {
  SessionOptions o;
  o.threads = kThreads;
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every test_data_set_*/input_K.pb -> output_K.pb pair of a model-zoo folder.
void check_reference_outputs(const std::string& dir, const std::string& model) {
  auto g = onnx::import_file(dir + "/" + model);
  ASSERT_TRUE(g) << g.status().message();
  auto s = Session::create(std::move(*g), options());
  ASSERT_TRUE(s) << s.status().message();
  int sets = 0;
  for (int k = 0;; ++k) {
    std::string set = fmt::format("{}/test_data_set_{}", dir, k);
    if (!std::filesystem::exists(set)) break;
    ++sets;
    std::vector<Tensor> inputs, expected;
    for (int i = 0; std::filesystem::exists(fmt::format("{}/input_{}.pb", set, i)); ++i) {
      auto t = onnx::read_tensor_pb(fmt::format("{}/input_{}.pb", set, i));
      ASSERT_TRUE(t) << t.status().message();
      inputs.push_back(*t);
    }
    for (int i = 0; std::filesystem::exists(fmt::format("{}/output_{}.pb", set, i)); ++i) {
      auto t = onnx::read_tensor_pb(fmt::format("{}/output_{}.pb", set, i));
      ASSERT_TRUE(t) << t.status().message();
      expected.push_back(*t);
    }
    auto out = (*s)->run(inputs);
    ASSERT_TRUE(out) << set << ": " << out.status().message();
    ASSERT_EQ(out->size(), expected.size()) << set;
    for (size_t i = 0; i < expected.size(); ++i) {
      auto r = model_test::all_close((*out)[i], expected[i], 1e-3, 1e-5);
      EXPECT_TRUE(r) << set << " output " << i;
      std::printf("%s output %zu: %s\n", set.c_str(), i, r.message());
    }
  }
  EXPECT_GT(sets, 0) << "no test_data_set_* in " << dir;
}

}  // namespace

TEST(ModelZoo, Mnist8ReferenceOutputs) {
  std::string dir = data_path("models/mnist-8");
  CONDENSE_REQUIRE_DATA(dir + "/mnist-8.onnx");
  check_reference_outputs(dir, "mnist-8.onnx");
}

TEST(ModelZoo, SuperResolution10ReferenceOutputs) {
  std::string dir = data_path("models/super-resolution-10");
  CONDENSE_REQUIRE_DATA(dir + "/super-resolution-10.onnx");
  check_reference_outputs(dir, "super-resolution-10.onnx");
}

// The data README: 81.0% on the lossy JPEG copy of the CIFAR-10 test set (91.7% on the original).
TEST(ModelAccuracy, Resnet20Cifar10Jpeg) {
  std::string model = data_path("models/resnet20-cifar10/resnet20.onnx");
  std::string archive = data_path("cifar10-jpeg/cifar10-test-jpeg.tar.gz");
  CONDENSE_REQUIRE_DATA(model);
  CONDENSE_REQUIRE_DATA(archive);
  auto t0 = std::chrono::steady_clock::now();
  auto ds = data::open_image_folder(archive);  // ImageNet mean/std normalization by default
  ASSERT_TRUE(ds) << ds.status().message();
  ASSERT_EQ((*ds)->size(), 10000);
  double load_s = seconds_since(t0);
  auto g = onnx::import_file(model);
  ASSERT_TRUE(g) << g.status().message();
  auto s = Session::create(std::move(*g), options());
  ASSERT_TRUE(s) << s.status().message();
  t0 = std::chrono::steady_clock::now();
  auto acc = model_test::top1(**s, **ds, 100);
  ASSERT_TRUE(acc) << acc.status().message();
  std::printf(
      "resnet20 on CIFAR-10 JPEG test: top-1 %.2f%% (%lld/%lld); %.1f s to load, %.1f s "
      "to evaluate (batch 100, %d threads)\n",
      acc->percent(), static_cast<long long>(acc->correct), static_cast<long long>(acc->total),
      load_s, seconds_since(t0), kThreads);
  RecordProperty("top1_percent", fmt::format("{:.2f}", acc->percent()));
  EXPECT_NEAR(acc->percent(), 81.0, 0.1);
}

// The data README: 98.91% on the MNIST test set; the model's input is raw 0..255 floats and its
// batch dimension is fixed at 1.
TEST(ModelAccuracy, Mnist8MnistTest) {
  std::string model = data_path("models/mnist-8/mnist-8.onnx");
  std::string images = data_path("mnist/t10k-images-idx3-ubyte.gz");
  std::string labels = data_path("mnist/t10k-labels-idx1-ubyte.gz");
  CONDENSE_REQUIRE_DATA(model);
  CONDENSE_REQUIRE_DATA(images);
  CONDENSE_REQUIRE_DATA(labels);
  auto ds = data::open_idx(images, labels, data::Preprocess::raw());
  ASSERT_TRUE(ds) << ds.status().message();
  ASSERT_EQ((*ds)->size(), 10000);
  auto g = onnx::import_file(model);
  ASSERT_TRUE(g) << g.status().message();
  auto s = Session::create(std::move(*g), options());
  ASSERT_TRUE(s) << s.status().message();
  auto t0 = std::chrono::steady_clock::now();
  auto acc = model_test::top1(**s, **ds, 1);
  ASSERT_TRUE(acc) << acc.status().message();
  std::printf("mnist-8 on MNIST test: top-1 %.2f%% (%lld/%lld); %.1f s (batch 1, %d threads)\n",
              acc->percent(), static_cast<long long>(acc->correct),
              static_cast<long long>(acc->total), seconds_since(t0), kThreads);
  RecordProperty("top1_percent", fmt::format("{:.2f}", acc->percent()));
  EXPECT_GE(acc->percent(), 98.8);
}

// ---- import -> export -> import
// ------------------------------------------------------------------

namespace {

struct RoundTripCase {
  const char* name;
  const char* model;     // under the data folder
  const char* input_pb;  // a reference input, or nullptr for a seeded random input
  std::vector<int64_t> random_shape;
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

std::string case_name(const ::testing::TestParamInfo<RoundTripCase>& info) {
  return info.param.name;
}

class ModelRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

}  // namespace

TEST_P(ModelRoundTrip, ExportedModelGivesBitIdenticalOutputs) {
  const RoundTripCase& c = GetParam();
  std::string model = data_path(c.model);
  CONDENSE_REQUIRE_DATA(model);
  Tensor x;
  if (c.input_pb) {
    std::string in = data_path(c.input_pb);
    CONDENSE_REQUIRE_DATA(in);
    auto t = onnx::read_tensor_pb(in);
    ASSERT_TRUE(t) << t.status().message();
    x = *t;
  } else {
    std::mt19937 rng(20240607);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    x = Tensor::empty(DType::F32, c.random_shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
  }

  auto bytes = read_file(model);
  ASSERT_TRUE(bytes) << bytes.status().message();
  auto g1 = onnx::import_bytes(*bytes, std::filesystem::path(model).parent_path().string());
  ASSERT_TRUE(g1) << g1.status().message();
  auto exported = onnx::export_bytes(*g1);
  ASSERT_TRUE(exported) << exported.status().message();
  auto g2 = onnx::import_bytes(*exported);
  ASSERT_TRUE(g2) << "re-importing the exported model: " << g2.status().message();
  int64_t opset = g2->opset_imports.count("") ? g2->opset_imports.at("") : 0;
  if (opset <= onnx::checker_max_opset()) {
    Status check = onnx::check_model_bytes(*exported);
    EXPECT_TRUE(check) << "the ONNX checker rejects the exported model (opset " << opset
                       << "): " << check.message();
  } else {
    std::printf("%s: exported at opset %lld, newer than the checker's %lld: not checked\n", c.name,
                static_cast<long long>(opset), static_cast<long long>(onnx::checker_max_opset()));
  }

  auto s1 = Session::create(std::move(*g1), options());
  ASSERT_TRUE(s1) << s1.status().message();
  auto s2 = Session::create(std::move(*g2), options());
  ASSERT_TRUE(s2) << s2.status().message();
  auto o1 = (*s1)->run({x});
  ASSERT_TRUE(o1) << o1.status().message();
  auto o2 = (*s2)->run({x});
  ASSERT_TRUE(o2) << "running the re-imported model: " << o2.status().message();
  ASSERT_EQ(o1->size(), o2->size());
  for (size_t i = 0; i < o1->size(); ++i) {
    EXPECT_TRUE((*o1)[i].identical((*o2)[i]))
        << c.name << " output " << i << " differs after the round trip: "
        << model_test::all_close((*o2)[i], (*o1)[i], 0, 0).message();
  }
  std::printf("%s: %zu exported bytes (opset %lld), outputs bit-identical\n", c.name,
              exported->size(), static_cast<long long>(opset));
}

INSTANTIATE_TEST_SUITE_P(
    Models, ModelRoundTrip,
    ::testing::Values(RoundTripCase{"mnist8",
                                    "models/mnist-8/mnist-8.onnx",
                                    "models/mnist-8/test_data_set_0/input_0.pb",
                                    {}},
                      RoundTripCase{"super_resolution10",
                                    "models/super-resolution-10/super-resolution-10.onnx",
                                    "models/super-resolution-10/test_data_set_0/input_0.pb",
                                    {}},
                      RoundTripCase{"resnet20",
                                    "models/resnet20-cifar10/resnet20.onnx",
                                    nullptr,
                                    {4, 3, 32, 32}}),
    case_name);
