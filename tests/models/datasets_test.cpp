// The real evaluation datasets read as the model tests expect them.
#include <condense/data.h>
#include <gtest/gtest.h>

#include <chrono>
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
