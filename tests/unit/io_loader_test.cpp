// Augmentation, seeded epoch order and the background Loader: determinism (same seed and epoch,
// same batches, whatever the batch timing), resumption at an epoch or a batch, clean stops, and
// errors as Status.
#include <condense/data.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "io_test_util.h"

using namespace condense;

namespace {

// n images (c, h, w) with value (i, c, y, x) = i * 1000 + c * 100 + y * 10 + x (f32, NCHW), and
// label i % 3.
std::unique_ptr<data::Dataset> grid_dataset(int64_t n, int64_t c = 2, int64_t h = 5,
                                            int64_t w = 6) {
  data::TensorData d;
  d.x = Tensor::empty(DType::F32, {n, c, h, w});
  float* p = d.x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) *p++ = float(i * 1000 + k * 100 + y * 10 + x);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 3);
  d.description = "grid";
  auto ds = data::make_dataset(std::move(d));
  CONDENSE_CHECK_MSG(ds.is_ok(), ds.status().message().c_str());
  return std::move(*ds);
}

std::vector<data::Batch> one_epoch(data::Loader& loader, int64_t epoch, int64_t first = 0) {
  std::vector<data::Batch> out;
  EXPECT_TRUE(loader.start_epoch(epoch, first));
  for (;;) {
    auto b = loader.next();
    EXPECT_TRUE(b) << b.status().message();
    if (!b || !*b) break;
    out.push_back(std::move(**b));
  }
  return out;
}

bool same(const data::Batch& a, const data::Batch& b) {
  return a.x.identical(b.x) && a.labels == b.labels && a.indices == b.indices && a.y.identical(b.y);
}

}  // namespace

TEST(IoAugment, Parse) {
  auto a = data::parse_augment("crop4,flip");
  ASSERT_TRUE(a) << a.status().message();
  EXPECT_EQ(a->crop_padding, 4);
  EXPECT_TRUE(a->hflip);
  EXPECT_FALSE(data::parse_augment("")->enabled());
  EXPECT_FALSE(data::parse_augment("none")->enabled());
  EXPECT_TRUE(data::parse_augment("hflip")->hflip);
  for (const char* bad : {"crop", "crop0", "cropx", "crop-2", "crop100", "rotate", "flip,,"}) {
    auto r = data::parse_augment(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_NE(data::parse_augment("rotate").status().message().find("known: cropN, flip, none"),
            std::string::npos);
}

TEST(IoAugment, CropIsAShiftWithFillAndCoversEveryOffset) {
  const Shape shape{2, 5, 6};
  auto ds = grid_dataset(1);
  std::vector<float> orig(60);
  ds->read_sample(0, orig);
  data::Augment crop;
  crop.crop_padding = 2;
  const float fill[2] = {-7.0f, -9.0f};
  std::set<std::pair<int, int>> offsets;
  std::vector<float> scratch;
  for (uint64_t key = 0; key < 400; ++key) {
    std::vector<float> v = orig;
    data::augment_sample(v, shape, crop, fill, key, scratch);
    std::vector<float> again = orig;
    data::augment_sample(again, shape, crop, fill, key, scratch);
    ASSERT_EQ(v, again) << "key " << key << " is not deterministic";
    // Find the shift (dy, dx) in [-2, 2]^2 that explains every output value.
    int found = 0;
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) {
        bool match = true;
        for (int c = 0; c < 2 && match; ++c)
          for (int y = 0; y < 5 && match; ++y)
            for (int x = 0; x < 6 && match; ++x) {
              int sy = y + dy, sx = x + dx;
              float want =
                  sy >= 0 && sy < 5 && sx >= 0 && sx < 6 ? orig[c * 30 + sy * 6 + sx] : fill[c];
              match = v[c * 30 + y * 6 + x] == want;
            }
        if (match) {
          offsets.insert({dy, dx});
          ++found;
        }
      }
    ASSERT_EQ(found, 1) << "key " << key;
  }
  EXPECT_EQ(offsets.size(), 25u);  // every window position of pad 2 occurs
}

TEST(IoAugment, FlipMirrorsAboutHalfTheTime) {
  const Shape shape{2, 5, 6};
  auto ds = grid_dataset(1);
  std::vector<float> orig(60), scratch;
  ds->read_sample(0, orig);
  data::Augment flip;
  flip.hflip = true;
  const float fill[2] = {0, 0};
  int flipped = 0;
  for (uint64_t key = 0; key < 1000; ++key) {
    std::vector<float> v = orig;
    data::augment_sample(v, shape, flip, fill, key, scratch);
    if (v == orig) continue;
    ++flipped;
    for (int r = 0; r < 10; ++r)
      for (int x = 0; x < 6; ++x) ASSERT_EQ(v[r * 6 + x], orig[r * 6 + 5 - x]);
  }
  EXPECT_GT(flipped, 430);
  EXPECT_LT(flipped, 570);
}

TEST(IoEpochOrder, PermutationPerSeedAndEpoch) {
  auto a = data::epoch_order(1000, true, 42, 3);
  EXPECT_EQ(a, data::epoch_order(1000, true, 42, 3));
  EXPECT_NE(a, data::epoch_order(1000, true, 42, 4));
  EXPECT_NE(a, data::epoch_order(1000, true, 43, 3));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  auto plain = data::epoch_order(5, false, 42, 3);
  EXPECT_EQ(plain, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // The generator is specified (splitmix64 + Fisher-Yates), so orders are fixed on every
  // machine: a change here changes every seeded run.
  EXPECT_EQ(data::epoch_order(8, true, 0, 0), (std::vector<int64_t>{4, 3, 0, 6, 7, 2, 1, 5}));
}

TEST(IoLoader, EpochCoversEverySampleOnce) {
  auto ds = grid_dataset(10);
  data::LoaderOptions o;
  o.batch_size = 4;
  o.seed = 1;
  auto loader = data::Loader::create(*ds, o);
  ASSERT_TRUE(loader) << loader.status().message();
  EXPECT_EQ((*loader)->batches_per_epoch(), 3);
  auto batches = one_epoch(**loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].x.shape(), (Shape{2, 2, 5, 6}));  // the short last batch
  std::vector<int64_t> seen;
  for (const auto& b : batches) {
    for (size_t i = 0; i < b.indices.size(); ++i) {
      seen.push_back(b.indices[i]);
      EXPECT_EQ(b.labels[i], b.indices[i] % 3);
      EXPECT_EQ(b.y.data<int64_t>()[i], b.labels[i]);
      EXPECT_EQ(b.x.data<float>()[i * 60], float(b.indices[i] * 1000));  // no augmentation
    }
  }
  std::vector<int64_t> order = data::epoch_order(10, true, 1, 0);
  EXPECT_EQ(seen, order);
  // After the end: nullopt again until the next epoch.
  auto after = (*loader)->next();
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after);

  o.drop_last = true;
  auto dropping = data::Loader::create(*ds, o);
  ASSERT_TRUE(dropping);
  EXPECT_EQ((*dropping)->batches_per_epoch(), 2);
  EXPECT_EQ(one_epoch(**dropping, 0).size(), 2u);
  o.shuffle = false;
  o.drop_last = false;
  auto ordered = data::Loader::create(*ds, o);
  ASSERT_TRUE(ordered);
  EXPECT_EQ(one_epoch(**ordered, 5)[1].indices, (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST(IoLoader, SameSeedSameBatchesAndResume) {
  auto ds = grid_dataset(23);
  data::LoaderOptions o;
  o.batch_size = 5;
  o.seed = 9;
  o.augment = *data::parse_augment("crop2,flip");
  o.prefetch = 1;
  auto a = data::Loader::create(*ds, o);
  o.prefetch = 8;  // timing differs, batches do not
  auto b = data::Loader::create(*ds, o);
  ASSERT_TRUE(a && b);
  std::vector<std::vector<data::Batch>> epochs_a;
  for (int e = 0; e < 3; ++e) epochs_a.push_back(one_epoch(**a, e));
  // A fresh loader resumed at epoch 2 sees what the uninterrupted one saw.
  auto resumed = one_epoch(**b, 2);
  ASSERT_EQ(resumed.size(), epochs_a[2].size());
  for (size_t k = 0; k < resumed.size(); ++k) EXPECT_TRUE(same(resumed[k], epochs_a[2][k])) << k;
  // Resumed mid-epoch, at batch 3.
  auto tail = one_epoch(**b, 1, 3);
  ASSERT_EQ(tail.size(), epochs_a[1].size() - 3);
  for (size_t k = 0; k < tail.size(); ++k) EXPECT_TRUE(same(tail[k], epochs_a[1][k + 3])) << k;
  // Epochs differ in order and augmentation.
  EXPECT_FALSE(same(epochs_a[0][0], epochs_a[1][0]));
  // Augmentation did something: some sample differs from its plain read.
  bool changed = false;
  for (const auto& batch : epochs_a[0])
    for (size_t i = 0; i < batch.indices.size(); ++i) {
      std::vector<float> plain(60);
      ds->read_sample(batch.indices[i], plain);
      changed |= !std::equal(plain.begin(), plain.end(), batch.x.data<float>() + i * 60);
    }
  EXPECT_TRUE(changed);
}

TEST(IoLoader, CropPadsWithThePreprocessedZeroPixel) {
  // A white 1x4x4 u8 image normalized with mean 0.5, std 0.25: a padded pixel is (0 - 0.5)/0.25.
  data::TensorData d;
  d.x = Tensor::empty(DType::U8, {1, 4, 4});
  std::fill_n(d.x.data<uint8_t>(), 16, uint8_t{255});
  d.labels = {0};
  d.preprocess = *data::parse_normalization("0.5/0.25");
  auto ds = data::make_dataset(d);
  ASSERT_TRUE(ds);
  data::LoaderOptions o;
  o.batch_size = 1;
  o.augment.crop_padding = 3;
  std::set<float> values;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    o.seed = seed;
    auto l = data::Loader::create(**ds, o);
    ASSERT_TRUE(l);
    for (const auto& b : one_epoch(**l, 0))
      for (float v : b.x.to_f32_vector()) values.insert(v);
  }
  EXPECT_EQ(values, (std::set<float>{-2.0f, 2.0f}));
}

TEST(IoLoader, StopsCleanlyAnywhere) {
  auto ds = grid_dataset(50);
  data::LoaderOptions o;
  o.batch_size = 2;
  o.prefetch = 2;
  {
    auto l = data::Loader::create(*ds, o);
    ASSERT_TRUE(l);
  }  // never started
  {
    auto l = data::Loader::create(*ds, o);
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->start_epoch(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the producer blocks: full queue
  }  // destroyed with the producer waiting for room
  {
    auto l = data::Loader::create(*ds, o);
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->start_epoch(0));
    auto first = (*l)->next();
    ASSERT_TRUE(first && *first);
    ASSERT_TRUE((*l)->start_epoch(1));  // abandons epoch 0 mid-way
    auto again = (*l)->next();
    ASSERT_TRUE(again && *again);
    EXPECT_EQ((*again)->indices[0], data::epoch_order(50, true, 0, 1)[0]);
  }
}

TEST(IoLoader, Errors) {
  auto ds = grid_dataset(3);
  data::LoaderOptions o;
  o.batch_size = 0;
  EXPECT_FALSE(data::Loader::create(*ds, o));
  o.batch_size = 2;
  o.prefetch = 0;
  EXPECT_FALSE(data::Loader::create(*ds, o));
  o.prefetch = 2;
  o.batch_size = 4;
  o.drop_last = true;
  auto few = data::Loader::create(*ds, o);
  ASSERT_FALSE(few);
  EXPECT_NE(few.status().message().find("fewer than one batch"), std::string::npos);
  o.drop_last = false;
  auto l = data::Loader::create(*ds, o);
  ASSERT_TRUE(l);
  auto early = (*l)->next();
  ASSERT_FALSE(early);
  EXPECT_NE(early.status().message().find("before start_epoch"), std::string::npos);
  EXPECT_FALSE((*l)->start_epoch(-1));
  EXPECT_FALSE((*l)->start_epoch(0, 2));  // 1 batch per epoch
  EXPECT_TRUE((*l)->start_epoch(0, 1));   // at the end: no batches
  auto none = (*l)->next();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  data::TensorData flat;
  flat.x = Tensor::zeros(DType::F32, {4, 8});
  flat.labels = {0, 1, 0, 1};
  auto fds = data::make_dataset(flat);
  ASSERT_TRUE(fds);
  o.augment.hflip = true;
  auto aug = data::Loader::create(**fds, o);
  ASSERT_FALSE(aug);
  EXPECT_NE(aug.status().message().find("needs image samples (C, H, W)"), std::string::npos);
}

namespace {

// A dataset whose reads record their thread and fail at one index (a reader bug or bad_alloc):
// the loader reports it as a Status instead of terminating.
class FailingDataset final : public data::Dataset {
 public:
  int64_t fail_at;
  mutable std::atomic<bool> read_on_caller{false};
  std::thread::id caller = std::this_thread::get_id();
  data::Preprocess pre = data::Preprocess::raw();
  explicit FailingDataset(int64_t f) : fail_at(f) {}
  int64_t size() const override { return 8; }
  int64_t num_classes() const override { return 2; }
  Shape sample_shape() const override { return {1, 2, 2}; }
  const data::Preprocess& preprocess() const override { return pre; }
  std::string description() const override { return "failing"; }
  int64_t label(int64_t i) const override { return i % 2; }
  void read_sample(int64_t index, std::span<float> out) const override {
    if (std::this_thread::get_id() == caller) read_on_caller = true;
    if (index == fail_at) throw std::runtime_error("disk on fire");
    std::fill(out.begin(), out.end(), float(index));
  }
};

}  // namespace

TEST(IoLoader, ReadErrorsBecomeStatusAndReadsRunOffTheCallersThread) {
  FailingDataset ds(5);
  data::LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  auto l = data::Loader::create(ds, o);
  ASSERT_TRUE(l);
  ASSERT_TRUE((*l)->start_epoch(0));
  int good = 0;
  Status error;
  for (;;) {
    auto b = (*l)->next();
    if (!b) {
      error = b.status();
      break;
    }
    if (!*b) break;
    ++good;
  }
  EXPECT_EQ(good, 2);  // batches {0, 1}, {2, 3}; {4, 5} fails
  ASSERT_FALSE(error.is_ok());
  EXPECT_NE(error.message().find("disk on fire"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("'failing'"), std::string::npos) << error.message();
  EXPECT_FALSE(ds.read_on_caller);
  auto after = (*l)->next();
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after);
}

namespace {

// The worked example at the top of include/condense/data.h, verbatim but for the path and the
// epoch range: if it stops compiling or working, the header's documentation is wrong.
Status header_example(const std::string& dir, int64_t start_epoch, int64_t epochs,
                      int64_t* batches_seen) {
  namespace data = condense::data;
  CONDENSE_ASSIGN_OR_RETURN(data::DatasetSpec spec, data::parse_dataset_spec("cifar10:" + dir));
  data::DatasetOptions dopts;
  dopts.split = data::Split::Train;
  CONDENSE_ASSIGN_OR_RETURN(dopts.preprocess, data::parse_normalization("cifar10"));
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Dataset> ds, data::open_dataset(spec, dopts));
  CONDENSE_TRY(data::check_sample_shape(*ds, {-1, 3, 32, 32}, "input"));
  CONDENSE_TRY(data::check_labels(*ds, 10));

  data::LoaderOptions lopts;
  lopts.batch_size = 128;
  lopts.shuffle = true;
  lopts.seed = 42;
  CONDENSE_ASSIGN_OR_RETURN(lopts.augment, data::parse_augment("crop4,flip"));
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader, data::Loader::create(*ds, lopts));
  for (int64_t epoch = start_epoch; epoch < epochs; ++epoch) {
    CONDENSE_TRY(loader->start_epoch(epoch));
    for (;;) {
      CONDENSE_ASSIGN_OR_RETURN(std::optional<data::Batch> b, loader->next());
      if (!b) break;
      if (b->x.shape() != Shape{static_cast<int64_t>(b->labels.size()), 3, 32, 32})
        return Status::error("unexpected batch shape");
      ++*batches_seen;
    }
  }
  return Status::ok();
}

}  // namespace

TEST(IoLoader, HeaderWorkedExampleRuns) {
  io_test::TempDir dir;
  // 300 records per batch file (label = record % 10), zeros for pixels.
  std::string records;
  for (int i = 0; i < 300; ++i) records += static_cast<char>(i % 10) + std::string(3072, '\0');
  for (int b = 1; b <= 5; ++b) dir.write("data_batch_" + std::to_string(b) + ".bin", records);
  int64_t seen = 0;
  Status s = header_example(dir.path.string(), 1, 3, &seen);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(seen, 2 * 12);  // 1,500 samples in batches of 128: 12 per epoch
}
