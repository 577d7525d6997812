// Dataset specs (KIND:PATH), the readers behind them (MNIST folders, CIFAR-10 binary, npy/npz,
// image folders with splits), normalization presets, and the checks against a model.
#include <condense/data.h>
#include <condense/npy.h>
#include <gtest/gtest.h>

#include "io_test_util.h"

using namespace condense;
using namespace io_test;

namespace {

// Message of a failed Result/Status, for EXPECT_THAT-free substring checks.
template <typename R>
std::string message(const R& r) {
  if constexpr (std::is_same_v<R, Status>)
    return r.message();
  else
    return r.status().message();
}

#define EXPECT_ERROR_HAS(expr, text)                                                         \
  do {                                                                                       \
    auto r_ = (expr);                                                                        \
    ASSERT_FALSE(r_.is_ok()) << #expr " succeeded";                                          \
    EXPECT_NE(message(r_).find(text), std::string::npos) << message(r_);                     \
    EXPECT_EQ(message(r_).find('\n'), std::string::npos) << "not one line: " << message(r_); \
  } while (0)

std::string idx_header(uint8_t rank, std::vector<uint32_t> dims) {
  std::string h = {0, 0, 8, static_cast<char>(rank)};
  for (uint32_t d : dims)
    h += std::string{static_cast<char>(d >> 24), static_cast<char>(d >> 16),
                     static_cast<char>(d >> 8), static_cast<char>(d)};
  return h;
}

// n images of h x w with pixel (i, y, x) = i * 16 + y * w + x, labels given.
std::string idx_images(int n, int h, int w) {
  std::string s = idx_header(3, {uint32_t(n), uint32_t(h), uint32_t(w)});
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < h * w; ++p) s += static_cast<char>(i * 16 + p);
  return s;
}
std::string idx_labels(std::vector<uint8_t> labels) {
  std::string s = idx_header(1, {uint32_t(labels.size())});
  for (uint8_t l : labels) s += static_cast<char>(l);
  return s;
}

data::DatasetOptions options(data::Split split, data::Preprocess pre = data::Preprocess::raw()) {
  data::DatasetOptions o;
  o.split = split;
  o.preprocess = std::move(pre);
  return o;
}

Result<std::unique_ptr<data::Dataset>> open(const std::string& spec, data::Split split,
                                            data::Preprocess pre = data::Preprocess::raw()) {
  CONDENSE_ASSIGN_OR_RETURN(data::DatasetSpec s, data::parse_dataset_spec(spec));
  return data::open_dataset(s, options(split, std::move(pre)));
}

std::vector<float> sample(const data::Dataset& ds, int64_t i) {
  std::vector<float> v(ds.sample_numel());
  ds.read_sample(i, v);
  return v;
}

}  // namespace

TEST(IoDatasetSpec, Parses) {
  auto m = data::parse_dataset_spec("mnist:/data/mnist");
  ASSERT_TRUE(m) << m.status().message();
  EXPECT_EQ(m->kind, "mnist");
  EXPECT_EQ(m->path, "/data/mnist");
  EXPECT_EQ(m->str(), "mnist:/data/mnist");
  auto f = data::parse_dataset_spec("fashion-mnist");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->path, "/usr/share/datasets/fashion-mnist");
  auto i = data::parse_dataset_spec("imagefolder:/x/cifar.tar.gz:test");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->path, "/x/cifar.tar.gz");
  EXPECT_EQ(i->subfolder, "test");
  EXPECT_EQ(i->str(), "imagefolder:/x/cifar.tar.gz:test");
  auto n = data::parse_dataset_spec("npz:a.npz");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->subfolder, "");  // only imagefolder has one
  EXPECT_ERROR_HAS(data::parse_dataset_spec(""), "empty dataset spec");
  EXPECT_ERROR_HAS(data::parse_dataset_spec("/data/mnist"), "unknown kind '/data/mnist'");
  EXPECT_ERROR_HAS(data::parse_dataset_spec("svhn:/d"), "cifar10");  // lists the kinds
  EXPECT_ERROR_HAS(data::parse_dataset_spec("mnist"), "has no path");
  EXPECT_ERROR_HAS(data::parse_dataset_spec("cifar10:"), "has no path");
  EXPECT_ERROR_HAS(data::parse_dataset_spec("imagefolder:/d:"), "empty subfolder");
  EXPECT_TRUE(data::parse_split("train"));
  EXPECT_ERROR_HAS(data::parse_split("val"), "unknown split 'val'");
}

TEST(IoNormalization, PresetsAndExplicit) {
  auto c = data::parse_normalization("cifar10");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->divisor, 255.0f);
  EXPECT_EQ(c->mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
  EXPECT_EQ(c->std, (std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
  auto m = data::parse_normalization("mnist");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mean, (std::vector<float>{0.1307f}));
  EXPECT_EQ(m->std, (std::vector<float>{0.3081f}));
  EXPECT_EQ(data::parse_normalization("imagenet")->std[2], 0.225f);
  EXPECT_EQ(data::parse_normalization("unit")->divisor, 255.0f);
  EXPECT_EQ(data::parse_normalization("unit")->mean, (std::vector<float>{0.0f}));
  for (const char* raw : {"raw", "none"}) {
    auto r = data::parse_normalization(raw);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->divisor, 1.0f);
  }
  auto e = data::parse_normalization("0.5,0.25,0.125/0.5");
  ASSERT_TRUE(e) << e.status().message();
  EXPECT_EQ(e->mean, (std::vector<float>{0.5f, 0.25f, 0.125f}));
  EXPECT_EQ(e->std, (std::vector<float>{0.5f}));
  EXPECT_EQ(e->divisor, 255.0f);
  EXPECT_FLOAT_EQ(e->zero_value(1), -0.5f);  // (0 - 0.25) / 0.5
  EXPECT_ERROR_HAS(data::parse_normalization("imagenette"), "presets: imagenet");
  EXPECT_ERROR_HAS(data::parse_normalization("0.5,x/0.2"), "'x' is not a number");
  EXPECT_ERROR_HAS(data::parse_normalization("0.5/0"), "must be > 0");
  EXPECT_ERROR_HAS(data::parse_normalization("0.1,0.2/0.1,0.2,0.3"), "2 means but 3");
  EXPECT_ERROR_HAS(data::parse_normalization("/0.5"), "is not a number");
}

TEST(IoMnistFolder, BothSplitsGzipOrPlain) {
  TempDir dir;
  dir.write("train-images-idx3-ubyte.gz", gzip(idx_images(5, 2, 3)));
  dir.write("train-labels-idx1-ubyte.gz", gzip(idx_labels({3, 1, 4, 1, 5})));
  dir.write("t10k-images-idx3-ubyte", idx_images(2, 2, 3));
  dir.write("t10k-labels-idx1-ubyte", idx_labels({9, 0}));
  const std::string spec = "mnist:" + dir.path.string();
  auto train = open(spec, data::Split::Train);
  ASSERT_TRUE(train) << train.status().message();
  EXPECT_EQ((*train)->size(), 5);
  EXPECT_EQ((*train)->num_classes(), 10);
  EXPECT_EQ((*train)->sample_shape(), (Shape{1, 2, 3}));
  EXPECT_EQ((*train)->class_names().size(), 10u);
  EXPECT_EQ((*train)->label(4), 5);
  EXPECT_EQ(sample(**train, 2), (std::vector<float>{32, 33, 34, 35, 36, 37}));
  EXPECT_NE((*train)->description().find("(train)"), std::string::npos);
  auto test = open(spec, data::Split::Test, data::Preprocess::mnist());
  ASSERT_TRUE(test) << test.status().message();
  EXPECT_EQ((*test)->size(), 2);
  EXPECT_EQ((*test)->label(0), 9);
  EXPECT_FLOAT_EQ(sample(**test, 1)[5], (21.0f / 255.0f - 0.1307f) / 0.3081f);
  // Fashion-MNIST: the same files, its own class names.
  auto fashion = open("fashion-mnist:" + dir.path.string(), data::Split::Test);
  ASSERT_TRUE(fashion);
  EXPECT_EQ((*fashion)->class_names().back(), "Ankle boot");
  // limit keeps the first samples.
  auto spec_ok = data::parse_dataset_spec(spec);
  data::DatasetOptions lim = options(data::Split::Train);
  lim.limit = 3;
  auto few = data::open_dataset(*spec_ok, lim);
  ASSERT_TRUE(few);
  EXPECT_EQ((*few)->size(), 3);
  EXPECT_EQ(sample(**few, 2)[0], 32.0f);
}

TEST(IoMnistFolder, Errors) {
  TempDir dir;
  EXPECT_ERROR_HAS(open("mnist:" + (dir.path / "nope").string(), data::Split::Train),
                   "does not exist");
  dir.write("train-images-idx3-ubyte", idx_images(2, 2, 2));
  dir.write("train-labels-idx1-ubyte", idx_labels({1, 12}));
  const std::string spec = "mnist:" + dir.path.string();
  EXPECT_ERROR_HAS(open(spec, data::Split::Train), "label 12 of sample 1 is out of range 0..9");
  EXPECT_ERROR_HAS(open(spec, data::Split::Test), "no test image file (t10k-images-idx3-ubyte");
  dir.write("t10k-images-idx3-ubyte", idx_images(3, 2, 2));
  dir.write("t10k-labels-idx1-ubyte", idx_labels({1, 2}));
  EXPECT_ERROR_HAS(open(spec, data::Split::Test), "has 3 images but");
  EXPECT_ERROR_HAS(open("mnist:" + dir.write("file", "x"), data::Split::Train),
                   "is not a directory");
}

namespace {

// A CIFAR-10 batch of `labels.size()` records; pixel (c, y, x) of record i = i + c * 50 + y + x.
std::string cifar_records(const std::vector<uint8_t>& labels, int first = 0) {
  std::string s;
  for (size_t i = 0; i < labels.size(); ++i) {
    s += static_cast<char>(labels[i]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) s += static_cast<char>(first + int(i) + c * 50 + y + x);
  }
  return s;
}

void write_cifar(const TempDir& dir, const std::string& sub) {
  for (int b = 1; b <= 5; ++b)
    dir.write(sub + "data_batch_" + std::to_string(b) + ".bin",
              cifar_records({uint8_t(b), uint8_t(9 - b)}, 2 * (b - 1)));
  dir.write(sub + "test_batch.bin", cifar_records({0, 7, 9}));
}

}  // namespace

TEST(IoCifar10Binary, FolderAndArchive) {
  TempDir dir;
  write_cifar(dir, "cifar-10-batches-bin/");
  dir.write("cifar-10-batches-bin/batches.meta.txt",
            "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  for (const std::string& path :
       {dir.path.string(), (dir.path / "cifar-10-batches-bin").string()}) {
    auto train = open("cifar10:" + path, data::Split::Train);
    ASSERT_TRUE(train) << train.status().message();
    EXPECT_EQ((*train)->size(), 10);
    EXPECT_EQ((*train)->sample_shape(), (Shape{3, 32, 32}));
    EXPECT_EQ((*train)->num_classes(), 10);
    EXPECT_EQ((*train)->class_names()[9], "truck");
    EXPECT_EQ((*train)->label(4), 3);  // data_batch_3 record 0
    EXPECT_EQ((*train)->label(5), 6);
    std::vector<float> s = sample(**train, 7);           // record 1 of data_batch_4: i = 7
    EXPECT_EQ(s[0], 7.0f);                               // c 0, y 0, x 0
    EXPECT_EQ(s[1024 + 32 * 2 + 3], 7.0f + 50 + 2 + 3);  // c 1, y 2, x 3
    EXPECT_EQ(s[2 * 1024], 107.0f);
  }
  auto test = open("cifar10:" + dir.path.string(), data::Split::Test, data::Preprocess::cifar10());
  ASSERT_TRUE(test);
  EXPECT_EQ((*test)->size(), 3);
  EXPECT_EQ((*test)->label(2), 9);
  EXPECT_FLOAT_EQ(sample(**test, 0)[1024], (50.0f / 255.0f - 0.4822f) / 0.2435f);

  // The same records from the distributed archive layout.
  std::string tar;
  for (int b = 1; b <= 5; ++b)
    tar += tar_member("cifar-10-batches-bin/data_batch_" + std::to_string(b) + ".bin",
                      cifar_records({uint8_t(b), uint8_t(9 - b)}, 2 * (b - 1)));
  tar += tar_member("cifar-10-batches-bin/test_batch.bin", cifar_records({0, 7, 9})) + tar_end();
  std::string archive = dir.write("cifar-10-binary.tar.gz", gzip(tar));
  auto from_tar = open("cifar10:" + archive, data::Split::Train);
  ASSERT_TRUE(from_tar) << from_tar.status().message();
  EXPECT_EQ((*from_tar)->size(), 10);
  auto folder = open("cifar10:" + dir.path.string(), data::Split::Train);
  ASSERT_TRUE(folder);
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(sample(**from_tar, i), sample(**folder, i)) << i;
    EXPECT_EQ((*from_tar)->label(i), (*folder)->label(i)) << i;
  }
  auto tar_test = open("cifar10:" + archive, data::Split::Test);
  ASSERT_TRUE(tar_test);
  EXPECT_EQ((*tar_test)->size(), 3);
}

TEST(IoCifar10Binary, Errors) {
  TempDir dir;
  write_cifar(dir, "");
  std::filesystem::remove(dir.path / "data_batch_3.bin");
  EXPECT_ERROR_HAS(open("cifar10:" + dir.path.string(), data::Split::Train), "no data_batch_3.bin");
  EXPECT_TRUE(open("cifar10:" + dir.path.string(), data::Split::Test));
  dir.write("data_batch_3.bin", cifar_records({1}).substr(0, 3000));
  EXPECT_ERROR_HAS(open("cifar10:" + dir.path.string(), data::Split::Train),
                   "not a whole number of 3073-byte CIFAR-10 records");
  dir.write("data_batch_3.bin", cifar_records({1, 10}));
  EXPECT_ERROR_HAS(open("cifar10:" + dir.path.string(), data::Split::Train),
                   "record 1 has label 10");
  std::string tar = gzip(tar_member("x/test_batch.bin", cifar_records({1})) + tar_end());
  EXPECT_ERROR_HAS(open("cifar10:" + dir.write("t.tar.gz", tar), data::Split::Train),
                   "has no data_batch_1.bin");
}

TEST(IoNpy, NpzMembersAndSplits) {
  TempDir dir;
  // x u8 (2, 2, 3, 3) channels-last: pixel (i, y, x, c) = 100 i + 10 (y * 3 + x) + c.
  Tensor x = Tensor::empty(DType::U8, {2, 2, 3, 3});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t c = 0; c < 3; ++c)
        x.data<uint8_t>()[(i * 6 + p) * 3 + c] = uint8_t(100 * i + 10 * p + c);
  Tensor y = Tensor::from_vector<int64_t>({4, 2}, {2});
  Tensor xt = Tensor::zeros(DType::U8, {1, 2, 3, 3});
  Tensor yt = Tensor::from_vector<int32_t>({1}, {1, 1});
  std::string npz = dir.path.string() + "/d.npz";
  ASSERT_TRUE(
      npy::write_npz(npz, {{"x_train", x}, {"y_train", y}, {"x_test", xt}, {"y_test", yt}}));
  auto train = open("npz:" + npz, data::Split::Train);
  ASSERT_TRUE(train) << train.status().message();
  EXPECT_EQ((*train)->sample_shape(), (Shape{3, 2, 3}));  // (C, H, W)
  EXPECT_EQ((*train)->num_classes(), 5);
  std::vector<float> s = sample(**train, 1);
  EXPECT_EQ(s[0], 100.0f);                   // c 0, pixel 0
  EXPECT_EQ(s[2 * 6 + 4], 100.0f + 40 + 2);  // c 2, pixel 4
  auto test = open("npz:" + npz, data::Split::Test);
  ASSERT_TRUE(test) << test.status().message();
  EXPECT_EQ((*test)->size(), 1);
  EXPECT_EQ((*test)->label(0), 1);

  // Plain members x and y serve any split; float features (N, D) are samples (D).
  Tensor f = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  std::string plain = dir.path.string() + "/plain.npz";
  ASSERT_TRUE(
      npy::write_npz(plain, {{"x", f}, {"y", Tensor::from_vector<uint8_t>({0, 1, 0}, {3})}}));
  data::Preprocess shift = data::Preprocess::unit();  // divisor 255 does not apply to floats
  shift.mean = {1.0f};
  shift.std = {2.0f};
  auto feat = open("npz:" + plain, data::Split::Test, shift);
  ASSERT_TRUE(feat) << feat.status().message();
  EXPECT_EQ((*feat)->sample_shape(), (Shape{2}));
  EXPECT_EQ(sample(**feat, 2), (std::vector<float>{2.0f, 2.5f}));

  // A folder of .npy files: x_<split>.npy first, else x.npy.
  TempDir npys;
  ASSERT_TRUE(npy::write((npys.path / "x.npy").string(), f));
  ASSERT_TRUE(
      npy::write((npys.path / "y.npy").string(), Tensor::from_vector<int64_t>({2, 2, 0}, {3})));
  auto folder = open("npz:" + npys.path.string(), data::Split::Train);
  ASSERT_TRUE(folder) << folder.status().message();
  EXPECT_EQ((*folder)->label(0), 2);

  // Errors.
  std::string floaty = dir.path.string() + "/floaty.npz";
  ASSERT_TRUE(
      npy::write_npz(floaty, {{"x", f}, {"y", Tensor::from_vector<float>({0, 1, 0}, {3})}}));
  EXPECT_ERROR_HAS(open("npz:" + floaty, data::Split::Train), "integer class labels, got f32");
  std::string short_y = dir.path.string() + "/short.npz";
  ASSERT_TRUE(
      npy::write_npz(short_y, {{"x", f}, {"y", Tensor::from_vector<int64_t>({0, 1}, {2})}}));
  EXPECT_ERROR_HAS(open("npz:" + short_y, data::Split::Train), "has 3 samples but");
  std::string other = dir.path.string() + "/other.npz";
  ASSERT_TRUE(npy::write_npz(other, {{"images", f}}));
  EXPECT_ERROR_HAS(open("npz:" + other, data::Split::Train), "(it has: images)");
  std::string neg = dir.path.string() + "/neg.npz";
  ASSERT_TRUE(
      npy::write_npz(neg, {{"x", f}, {"y", Tensor::from_vector<int64_t>({0, -1, 0}, {3})}}));
  EXPECT_ERROR_HAS(open("npz:" + neg, data::Split::Train), "is negative");
  EXPECT_ERROR_HAS(open("npz:" + npys.path.string() + "/missing.npz", data::Split::Train),
                   "does not exist");
  EXPECT_ERROR_HAS(open("npz:" + dir.write("junk.npz", "not a zip"), data::Split::Train), "npz");
}

TEST(IoImageFolderSpec, SplitFolders) {
  TempDir dir;
  // train/{a,b}/ and test/{a,b}/, red = 10 * split + class.
  for (int split = 0; split < 2; ++split)
    for (int c = 0; c < 2; ++c) {
      std::vector<uint8_t> px(4 * 4 * 3, uint8_t(10 * split + c));
      dir.write(std::string(split ? "test/" : "train/") + (c ? "b" : "a") + "/img.png",
                encode_png(4, 4, px));
    }
  auto train = open("imagefolder:" + dir.path.string(), data::Split::Train);
  ASSERT_TRUE(train) << train.status().message();
  EXPECT_EQ((*train)->class_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(sample(**train, 1)[0], 1.0f);
  auto test = open("imagefolder:" + dir.path.string(), data::Split::Test);
  ASSERT_TRUE(test) << test.status().message();
  EXPECT_EQ(sample(**test, 1)[0], 11.0f);
  // An explicit subfolder wins over the split.
  auto sub = open("imagefolder:" + dir.path.string() + ":test", data::Split::Train);
  ASSERT_TRUE(sub);
  EXPECT_EQ(sample(**sub, 0)[0], 10.0f);
  // The same in an archive holding both splits.
  std::string tar;
  for (int split = 0; split < 2; ++split)
    for (int c = 0; c < 2; ++c)
      tar += tar_member(std::string(split ? "test/" : "train/") + (c ? "b" : "a") + "/i.png",
                        encode_png(4, 4, std::vector<uint8_t>(48, uint8_t(10 * split + c))));
  std::string archive = dir.write("both.tar.gz", gzip(tar + tar_end()));
  auto t2 = open("imagefolder:" + archive, data::Split::Test);
  ASSERT_TRUE(t2) << t2.status().message();
  EXPECT_EQ((*t2)->size(), 2);
  EXPECT_EQ(sample(**t2, 0)[0], 10.0f);
  auto t2_train = open("imagefolder:" + archive, data::Split::Train);  // members kept in place
  ASSERT_TRUE(t2_train) << t2_train.status().message();
  EXPECT_EQ((*t2_train)->size(), 2);
  EXPECT_EQ(sample(**t2_train, 1)[0], 1.0f);
  EXPECT_EQ((*t2_train)->description(), "imagefolder:" + archive + " (train)");
  // An archive of one split only: read whatever the split.
  std::string only_test = dir.write(
      "test.tar",
      tar_member("test/a/i.png", encode_png(4, 4, std::vector<uint8_t>(48, 7))) + tar_end());
  auto t3 = open("imagefolder:" + only_test, data::Split::Train);
  ASSERT_TRUE(t3) << t3.status().message();
  EXPECT_EQ(sample(**t3, 0)[0], 7.0f);
  // Splits mixed at the top without train/test names: an error, not a silent mix.
  std::string mixed = dir.write(
      "mixed.tar", tar_member("x/a/i.png", encode_png(4, 4, std::vector<uint8_t>(48, 7))) +
                       tar_member("y/a/i.png", encode_png(4, 4, std::vector<uint8_t>(48, 7))) +
                       tar_end());
  EXPECT_ERROR_HAS(open("imagefolder:" + mixed, data::Split::Train), "different folders");
  EXPECT_ERROR_HAS(open("imagefolder:" + dir.path.string() + ":val", data::Split::Train),
                   "is not a directory");
}

TEST(IoDatasetChecks, LabelsAndShapes) {
  data::TensorData d;
  d.x = Tensor::zeros(DType::U8, {3, 28, 28});
  d.labels = {0, 12, 3};
  d.description = "toy";
  auto ds = data::make_dataset(d);
  ASSERT_TRUE(ds) << ds.status().message();
  EXPECT_EQ((*ds)->num_classes(), 13);
  EXPECT_TRUE(data::check_labels(**ds, 13));
  EXPECT_ERROR_HAS(
      data::check_labels(**ds, 10),
      "dataset 'toy': sample 1 has label 12, out of range for a model with 10 classes");
  const std::vector<int64_t> ok = {-1, 1, 28, 28};
  EXPECT_TRUE(data::check_sample_shape(**ds, ok));
  const std::vector<int64_t> flat = {-1, 784};
  EXPECT_TRUE(data::check_sample_shape(**ds, flat));  // the caller flattens
  const std::vector<int64_t> cifar = {-1, 3, 32, 32};
  EXPECT_ERROR_HAS(
      data::check_sample_shape(**ds, cifar, "input"),
      "dataset 'toy' has samples (1, 28, 28) but model input 'input' is (N, 3, 32, 32): "
      "1 channel vs 3, 28x28 pixels vs 32x32");
  const std::vector<int64_t> rgb28 = {8, 3, 28, 28};
  EXPECT_ERROR_HAS(data::check_sample_shape(**ds, rgb28), "(8, 3, 28, 28): 1 channel vs 3");
  const std::vector<int64_t> wide = {-1, 100};
  EXPECT_ERROR_HAS(data::check_sample_shape(**ds, wide), "784 values per sample vs 100");

  d.num_classes = 10;
  EXPECT_ERROR_HAS(data::make_dataset(d), "toy: sample 1 has label 12, outside 0..9");
  d.num_classes = 0;
  d.labels = {1, 2};
  EXPECT_ERROR_HAS(data::make_dataset(d), "3 samples but 2 labels");
  d.x = Tensor::zeros(DType::I32, {2, 4});
  EXPECT_ERROR_HAS(data::make_dataset(d), "u8 or f32");
  d.x = Tensor::zeros(DType::U8, {2, 2, 2, 3});
  d.preprocess = *data::parse_normalization("0.1,0.2/0.3,0.4");
  d.layout = data::Layout::NHWC;
  EXPECT_ERROR_HAS(data::make_dataset(d), "mean has 2 values, the images have 3 channels");
}

TEST(IoDatasetChecks, BatchCarriesLabelsTensorAndIndices) {
  data::TensorData d;
  d.x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  d.labels = {2, 0, 1};
  auto ds = data::make_dataset(d);
  ASSERT_TRUE(ds);
  auto b = (*ds)->batch(1, 5);  // clipped to 2
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(b->x.shape(), (Shape{2, 2}));
  EXPECT_EQ(b->x.to_f32_vector(), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ(b->y.dtype(), DType::I64);
  EXPECT_EQ(b->y.to_i64_vector(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(b->labels, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(b->indices, (std::vector<int64_t>{1, 2}));
  EXPECT_ERROR_HAS((*ds)->batch(3, 1), "out of range");
}
