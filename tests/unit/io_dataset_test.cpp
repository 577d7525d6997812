// Image-folder and IDX datasets and the NCHW preprocessing.
#include <condense/data.h>
#include <gtest/gtest.h>

#include "io_test_util.h"

using namespace condense;
using namespace io_test;

namespace {

// A w x h image of one colour.
std::vector<uint8_t> solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> p(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    p[i * 3] = r;
    p[i * 3 + 1] = g;
    p[i * 3 + 2] = b;
  }
  return p;
}

// Files of a small 3-class folder: class name -> (file name, red value) pairs. Red encodes
// the sample so order can be checked; PNG keeps it exact.
struct Sample {
  std::string cls, file;
  uint8_t red;
};
const std::vector<Sample> kSamples = {
    {"zebra", "2.png", 50}, {"apple", "b.png", 11}, {"apple", "a.png", 10},
    {"mango", "x.png", 30}, {"zebra", "1.png", 40},
};

data::ImageFolderOptions folder_options(data::Preprocess pre, std::string prefix = "",
                                        int64_t limit = 0) {
  data::ImageFolderOptions o;
  o.preprocess = std::move(pre);
  o.prefix = std::move(prefix);
  o.limit = limit;
  return o;
}

}  // namespace

TEST(IoPreprocess, ImagenetFormulaAndLayout) {
  data::Image im;
  im.width = 2;
  im.height = 1;
  im.pixels = {0, 128, 255, 10, 20, 30};  // (y0,x0) = (0,128,255), (y0,x1) = (10,20,30)
  auto x = data::images_to_nchw(std::span(&im, 1), data::Preprocess::imagenet());
  ASSERT_TRUE(x) << x.status().message();
  EXPECT_EQ(x->shape(), (Shape{1, 3, 1, 2}));
  const float* p = x->data<float>();
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  const uint8_t v[3][2] = {{0, 10}, {128, 20}, {255, 30}};  // [c][x]
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(p[c * 2 + i], (static_cast<float>(v[c][i]) / 255.0f - mean[c]) / sd[c]) << c << i;
}

TEST(IoPreprocess, BadInputs) {
  data::Image a{2, 2, std::vector<uint8_t>(12, 1)}, b{3, 2, std::vector<uint8_t>(18, 1)};
  std::vector<data::Image> mixed = {a, b};
  EXPECT_FALSE(data::images_to_nchw(mixed, data::Preprocess::imagenet()));
  EXPECT_FALSE(data::images_to_nchw({}, data::Preprocess::imagenet()));
  data::Image short_px{2, 2, std::vector<uint8_t>(5, 1)};
  EXPECT_FALSE(data::images_to_nchw(std::span(&short_px, 1), data::Preprocess::imagenet()));
  data::Preprocess two = data::Preprocess::imagenet();
  two.mean = {0.5f, 0.5f};
  EXPECT_FALSE(data::images_to_nchw(std::span(&a, 1), two));
  data::Preprocess zero_std = data::Preprocess::raw();
  zero_std.std = {0.0f};
  EXPECT_FALSE(data::images_to_nchw(std::span(&a, 1), zero_std));

  Tensor u8 = Tensor::zeros(DType::U8, {4, 2, 2});
  EXPECT_TRUE(data::u8_images_to_nchw(u8, 3, 5, data::Preprocess::raw()));  // clipped to 1
  EXPECT_FALSE(data::u8_images_to_nchw(u8, 4, 1, data::Preprocess::raw()));
  EXPECT_FALSE(data::u8_images_to_nchw(u8, -1, 1, data::Preprocess::raw()));
  EXPECT_FALSE(data::u8_images_to_nchw(u8, 0, 0, data::Preprocess::raw()));
  EXPECT_FALSE(
      data::u8_images_to_nchw(Tensor::zeros(DType::F32, {4, 2, 2}), 0, 1, data::Preprocess::raw()));
}

TEST(IoPreprocess, U8ImagesRawAndHwc) {
  Tensor gray = Tensor::from_vector<uint8_t>({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2});
  auto x = data::u8_images_to_nchw(gray, 1, 1, data::Preprocess::raw());
  ASSERT_TRUE(x) << x.status().message();
  EXPECT_EQ(x->shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(x->to_f32_vector(), (std::vector<float>{4, 5, 6, 7}));
  Tensor hwc = Tensor::from_vector<uint8_t>({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  auto y = data::u8_images_to_nchw(hwc, 0, 1, data::Preprocess::raw());
  ASSERT_TRUE(y);
  EXPECT_EQ(y->shape(), (Shape{1, 3, 1, 2}));
  EXPECT_EQ(y->to_f32_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(IoImageFolder, DirectoryLabelsAndOrder) {
  TempDir dir;
  for (const Sample& s : kSamples)
    dir.write(s.cls + "/" + s.file, encode_png(3, 2, solid(3, 2, s.red, 0, 0)));
  dir.write("apple/notes.txt", "not an image");
  dir.write("apple/.hidden.png", "junk");
  dir.write("README", "top-level file ignored");

  auto ds = data::open_image_folder(dir.path.string(), folder_options(data::Preprocess::raw()));
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 5);
  EXPECT_EQ((*ds)->num_classes(), 3);
  EXPECT_EQ((*ds)->class_names(), (std::vector<std::string>{"apple", "mango", "zebra"}));
  auto b = (*ds)->batch(0, 100);  // clipped to the dataset
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(b->x.shape(), (Shape{5, 3, 2, 3}));
  EXPECT_EQ(b->labels, (std::vector<int64_t>{0, 0, 1, 2, 2}));
  // Sorted by class then file name: apple/a(10), apple/b(11), mango/x(30), zebra/1(40), zebra/2(50)
  const float reds[5] = {10, 11, 30, 40, 50};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b->x.data<float>()[i * 18], reds[i]) << i;
  auto tail = (*ds)->batch(4, 2);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->x.dim(0), 1);
  EXPECT_FALSE((*ds)->batch(5, 1));
  EXPECT_FALSE((*ds)->batch(0, 0));

  auto limited = data::open_image_folder(dir.path.string(),
                                         folder_options(data::Preprocess::imagenet(), "", 2));
  ASSERT_TRUE(limited);
  EXPECT_EQ((*limited)->size(), 2);
}

TEST(IoImageFolder, TarGzWithRootPrefixAndJpeg) {
  TempDir dir;
  std::string tar;
  for (const Sample& s : kSamples) {
    tar += tar_member("test/" + s.cls + "/" + s.file, encode_png(3, 2, solid(3, 2, s.red, 0, 0)));
    tar += tar_member("train/" + s.cls + "/" + s.file, encode_jpeg(3, 2, solid(3, 2, 200, 0, 0)));
  }
  tar += tar_member("test/", "", '5') + tar_member("test/LICENSE", "text") + tar_end();
  std::string path = dir.write("set.tar.gz", gzip(tar));

  // Without a prefix the two splits sit at the same depth but under different roots: ambiguous.
  auto whole = data::open_image_folder(path);
  ASSERT_FALSE(whole);
  EXPECT_NE(whole.status().message().find("prefix"), std::string::npos) << whole.status().message();

  auto ds = data::open_image_folder(path, folder_options(data::Preprocess::raw(), "test"));
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 5);
  EXPECT_EQ((*ds)->class_names(), (std::vector<std::string>{"apple", "mango", "zebra"}));
  auto b = (*ds)->batch(0, 5);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->labels, (std::vector<int64_t>{0, 0, 1, 2, 2}));
  EXPECT_EQ(b->x.data<float>()[2 * 18], 30.0f);

  auto train = data::open_image_folder(path, folder_options(data::Preprocess::raw(), "train/"));
  ASSERT_TRUE(train) << train.status().message();
  auto tb = (*train)->batch(0, 5);
  ASSERT_TRUE(tb);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(tb->x.data<float>()[i * 18], 200.0f, 3.0f);

  // A single split archive needs no prefix (CIFAR-10's layout: test/<class>/NNNN.jpg).
  std::string single;
  for (const Sample& s : kSamples)
    single += tar_member("test/" + s.cls + "/" + s.file, encode_jpeg(3, 2, solid(3, 2, 9, 9, 9)));
  auto one = data::open_image_folder(dir.write("one.tar.gz", gzip(single + tar_end())));
  ASSERT_TRUE(one) << one.status().message();
  EXPECT_EQ((*one)->size(), 5);
  EXPECT_EQ((*one)->num_classes(), 3);
}

TEST(IoImageFolder, ErrorsNameTheCulprit) {
  TempDir dir;
  // Corrupt image inside an archive.
  std::string jpg = encode_jpeg(4, 4, pattern(4, 4));
  std::string tar = tar_member("s/cat/1.jpg", jpg) +
                    tar_member("s/cat/2.jpg", jpg.substr(0, jpg.size() / 2)) + tar_end();
  auto bad = data::open_image_folder(dir.write("bad.tar.gz", gzip(tar)));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("s/cat/2.jpg"), std::string::npos)
      << bad.status().message();

  // Images of different sizes.
  std::string sizes = tar_member("s/a/1.png", encode_png(4, 4, pattern(4, 4))) +
                      tar_member("s/b/1.png", encode_png(5, 4, pattern(5, 4))) + tar_end();
  auto mixed = data::open_image_folder(dir.write("sizes.tar", sizes));
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.status().message().find("s/b/1.png"), std::string::npos)
      << mixed.status().message();

  // Nothing usable.
  auto none = data::open_image_folder(dir.write("none.tar", tar_member("x.txt", "x") + tar_end()));
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("no images"), std::string::npos);
  EXPECT_FALSE(data::open_image_folder((dir.path / "missing").string()));
  auto empty_dir =
      data::open_image_folder(dir.path.string(), folder_options(data::Preprocess::raw(), "nope"));
  EXPECT_FALSE(empty_dir);

  // An empty class folder would shift the labels of the classes after it.
  TempDir classes;
  classes.write("a/1.png", encode_png(2, 2, pattern(2, 2)));
  std::filesystem::create_directories(classes.path / "b");
  classes.write("c/1.png", encode_png(2, 2, pattern(2, 2)));
  auto empty_class = data::open_image_folder(classes.path.string());
  ASSERT_FALSE(empty_class);
  EXPECT_NE(empty_class.status().message().find("holds no images"), std::string::npos)
      << empty_class.status().message();

  // Truncated archive.
  std::string gz = gzip(tar_member("s/a/1.png", encode_png(4, 4, pattern(4, 4))) + tar_end());
  EXPECT_FALSE(data::open_image_folder(dir.write("cut.tar.gz", gz.substr(0, gz.size() / 2))));
}

TEST(IoIdxDataset, PairsAndMismatches) {
  TempDir dir;
  auto hdr = [](uint8_t rank, std::vector<uint32_t> dims) {
    std::string h = {0, 0, 8, static_cast<char>(rank)};
    for (uint32_t d : dims) h += std::string{0, 0, static_cast<char>(d >> 8), static_cast<char>(d)};
    return h;
  };
  std::string images = hdr(3, {3, 2, 2});
  for (int i = 0; i < 12; ++i) images += static_cast<char>(i);
  std::string labels = hdr(1, {3}) + std::string{7, 0, 2};
  std::string ip = dir.write("img.gz", gzip(images)), lp = dir.write("lab", labels);
  auto ds = data::open_idx(ip, lp);
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->size(), 3);
  EXPECT_EQ((*ds)->num_classes(), 8);
  auto b = (*ds)->batch(1, 2);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->x.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(b->labels, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(b->x.data<float>()[0], 4.0f);

  std::string two_labels = hdr(1, {2}) + std::string{1, 1};
  auto mismatch = data::open_idx(ip, dir.write("lab2", two_labels));
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.status().message().find("labels"), std::string::npos);
  EXPECT_FALSE(data::open_idx(lp, ip));  // swapped
}
