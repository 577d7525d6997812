// The real evaluation datasets read as the model tests expect them.
#include <condense/data.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "model_test_util.h"

using namespace condense;
using model_test::data_path;

TEST(Datasets, Cifar10JpegTestSet) {
  std::string archive = data_path("cifar10-jpeg/cifar10-test-jpeg.tar.gz");
  CONDENSE_REQUIRE_DATA(archive);
  auto t0 = std::chrono::steady_clock::now();
  auto ds = data::open_image_folder(archive);
  ASSERT_TRUE(ds) << ds.status().message();
  std::printf("read and decoded %lld CIFAR-10 JPEGs in %.2f s\n",
              static_cast<long long>((*ds)->size()),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ((*ds)->size(), 10000);
  std::vector<std::string> expect = {"airplane", "automobile", "bird",  "cat",  "deer",
                                     "dog",      "frog",       "horse", "ship", "truck"};
  EXPECT_EQ((*ds)->class_names(), expect);
  std::map<int64_t, int> per_class;
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < (*ds)->size(); i += 500) {
    auto b = (*ds)->batch(i, 500);
    ASSERT_TRUE(b) << b.status().message();
    ASSERT_EQ(b->x.shape(), (Shape{500, 3, 32, 32}));
    for (int64_t l : b->labels) ++per_class[l];
    const float* p = b->x.data<float>();
    for (int64_t k = 0; k < b->x.numel(); ++k) {
      sum += p[k];
      sum_sq += double(p[k]) * p[k];
    }
    count += b->x.numel();
  }
  ASSERT_EQ(per_class.size(), 10u);
  for (auto& [label, n] : per_class) EXPECT_EQ(n, 1000) << "class " << label;
  // After ImageNet normalization CIFAR-10's pixels are roughly centred with unit-ish spread.
  double mean = sum / count, sd = std::sqrt(sum_sq / count - mean * mean);
  std::printf("normalized pixels: mean %.3f, std %.3f\n", mean, sd);
  EXPECT_NEAR(mean, 0.0, 0.3);
  EXPECT_NEAR(sd, 1.1, 0.3);
}

TEST(Datasets, MnistTestSet) {
  std::string images = data_path("mnist/t10k-images-idx3-ubyte.gz");
  std::string labels = data_path("mnist/t10k-labels-idx1-ubyte.gz");
  CONDENSE_REQUIRE_DATA(images);
  CONDENSE_REQUIRE_DATA(labels);
  auto ds = data::open_idx(images, labels, data::Preprocess::raw());
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 10000);
  EXPECT_EQ((*ds)->num_classes(), 10);
  auto b = (*ds)->batch(0, 1);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->x.shape(), (Shape{1, 1, 28, 28}));
  EXPECT_EQ(b->labels[0], 7);  // the first MNIST test digit is a 7
  float mx = 0;
  for (int64_t k = 0; k < b->x.numel(); ++k) mx = std::max(mx, b->x.data<float>()[k]);
  EXPECT_EQ(mx, 255.0f);  // raw 0..255 floats
}

TEST(Datasets, FashionMnistFromDebianPackage) {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string images = dir + "/t10k-images-idx3-ubyte.gz";
  CONDENSE_REQUIRE_DATA(images);
  auto ds = data::open_idx(images, dir + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 10000);
  EXPECT_EQ((*ds)->num_classes(), 10);
}

namespace {

// Opens a dataset spec for a split, asserting success.
std::unique_ptr<data::Dataset> open_spec(const std::string& spec, data::Split split,
                                         const char* normalization) {
  auto s = data::parse_dataset_spec(spec);
  EXPECT_TRUE(s) << s.status().message();
  if (!s) return nullptr;
  data::DatasetOptions o;
  o.split = split;
  o.preprocess = *data::parse_normalization(normalization);
  auto ds = data::open_dataset(*s, o);
  EXPECT_TRUE(ds) << ds.status().message();
  return ds ? std::move(*ds) : nullptr;
}

// Mean and standard deviation of every value of the dataset.
std::pair<double, double> moments(const data::Dataset& ds) {
  double sum = 0, sq = 0;
  std::vector<float> v(ds.sample_numel());
  for (int64_t i = 0; i < ds.size(); ++i) {
    ds.read_sample(i, v);
    for (float x : v) sum += x, sq += double(x) * x;
  }
  const double n = double(ds.size()) * v.size();
  return {sum / n, std::sqrt(sq / n - (sum / n) * (sum / n))};
}

// One shuffled, augmented epoch through the loader: every sample exactly once; prints the rate.
void loader_epoch(const data::Dataset& ds, const char* augment) {
  data::LoaderOptions o;
  o.batch_size = 128;
  o.seed = 3;
  o.augment = *data::parse_augment(augment);
  auto loader = data::Loader::create(ds, o);
  ASSERT_TRUE(loader) << loader.status().message();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*loader)->start_epoch(0));
  std::vector<int> seen(ds.size(), 0);
  for (;;) {
    auto b = (*loader)->next();
    ASSERT_TRUE(b) << b.status().message();
    if (!*b) break;
    for (int64_t i : (*b)->indices) ++seen[i];
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("loader (%s, %s): %lld samples in %.2f s, %.0f samples/s\n", ds.description().c_str(),
              augment, static_cast<long long>(ds.size()), s, ds.size() / s);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), ds.size());
}

}  // namespace

TEST(Datasets, MnistSpecBothSplitsNormalized) {
  std::string dir = data_path("mnist");
  CONDENSE_REQUIRE_DATA(dir + "/train-images-idx3-ubyte.gz");
  auto train = open_spec("mnist:" + dir, data::Split::Train, "mnist");
  auto test = open_spec("mnist:" + dir, data::Split::Test, "mnist");
  ASSERT_TRUE(train && test);
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_TRUE(data::check_labels(*train, 10));
  const std::vector<int64_t> lenet_input = {-1, 1, 28, 28};
  EXPECT_TRUE(data::check_sample_shape(*train, lenet_input));
  // The preset is MNIST's training-set statistics: normalized train pixels have mean ~0, std ~1.
  auto [mean, sd] = moments(*train);
  std::printf("MNIST train normalized: mean %.4f, std %.4f\n", mean, sd);
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sd, 1.0, 0.01);
  loader_epoch(*train, "none");
}

TEST(Datasets, FashionMnistSpecDefaultPath) {
  CONDENSE_REQUIRE_DATA("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  auto train = open_spec("fashion-mnist", data::Split::Train, "unit");
  ASSERT_TRUE(train);
  EXPECT_EQ(train->size(), 60000);
  std::vector<int> per_class(10, 0);
  for (int64_t i = 0; i < train->size(); ++i) ++per_class[train->label(i)];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 6000) << train->class_names()[c];
  const std::vector<int64_t> cifar_input = {-1, 3, 32, 32};
  Status wrong = data::check_sample_shape(*train, cifar_input);
  EXPECT_FALSE(wrong);
  std::printf("expected error: %s\n", wrong.message().c_str());
}

TEST(Datasets, Cifar10JpegArchiveAsSpecWithAugmentation) {
  std::string archive = data_path("cifar10-jpeg/cifar10-test-jpeg.tar.gz");
  CONDENSE_REQUIRE_DATA(archive);
  // The archive holds test/<class>/...: the test split picks that folder by itself.
  auto ds = open_spec("imagefolder:" + archive, data::Split::Test, "cifar10");
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->size(), 10000);
  EXPECT_EQ(ds->class_names()[0], "airplane");
  auto [mean, sd] = moments(*ds);
  std::printf("CIFAR-10 JPEG test normalized with the cifar10 preset: mean %.3f, std %.3f\n", mean,
              sd);
  EXPECT_NEAR(mean, 0.0, 0.1);
  EXPECT_NEAR(sd, 1.0, 0.1);
  loader_epoch(*ds, "crop4,flip");
}

TEST(Datasets, Cifar10BinaryWhenPresent) {
  // ../shared/data has no CIFAR-10 binary version today; a copy of cifar-10-batches-bin/ (or the
  // cifar-10-binary.tar.gz archive) placed there is read by this test.
  std::string path;
  for (const char* rel : {"cifar10-bin", "cifar-10-batches-bin", "cifar-10-binary.tar.gz"})
    if (std::filesystem::exists(data_path(rel))) path = data_path(rel);
  if (path.empty())
    GTEST_SKIP() << "CIFAR-10 binary version not found in " << data_path("")
                 << " (looked for cifar10-bin/, cifar-10-batches-bin/, cifar-10-binary.tar.gz); "
                    "the reader is covered by unit tests on generated batches";
  auto train = open_spec("cifar10:" + path, data::Split::Train, "cifar10");
  auto test = open_spec("cifar10:" + path, data::Split::Test, "cifar10");
  ASSERT_TRUE(train && test);
  EXPECT_EQ(train->size(), 50000);
  EXPECT_EQ(test->size(), 10000);
  auto [mean, sd] = moments(*train);
  EXPECT_NEAR(mean, 0.0, 0.01);  // the preset is the training set's statistics
  EXPECT_NEAR(sd, 1.0, 0.01);
  loader_epoch(*train, "crop4,flip");
}
