// Trainer, fit() and evaluate() on real data (Fashion-MNIST from Debian's dataset-fashion-mnist,
// which scripts/setup.sh installs): learning happens, runs are bit-identical for a seed, a run
// resumed from a checkpoint (at an epoch's end or mid-epoch) ends with the same bytes as an
// uninterrupted one, a NaN loss stops cleanly, and bad input is a clear error.
#include <condense/file.h>
#include <condense/ir_clone.h>
#include <condense/trainer.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

using namespace condense;
namespace fs = std::filesystem;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

std::unique_ptr<data::Dataset> fashion(data::Split split, int64_t limit) {
  auto spec = data::parse_dataset_spec(std::string("fashion-mnist:") + kFashion);
  if (!spec) return nullptr;
  data::DatasetOptions o;
  o.split = split;
  o.limit = limit;
  o.preprocess = data::Preprocess::mnist();
  auto ds = data::open_dataset(*spec, o);
  return ds ? std::move(*ds) : nullptr;
}

#define REQUIRE_FASHION()                                                   \
  if (!fs::exists(fs::path(kFashion) / "t10k-labels-idx1-ubyte.gz") &&      \
      !fs::exists(fs::path(kFashion) / "t10k-labels-idx1-ubyte"))           \
  GTEST_SKIP() << "SKIPPED: Fashion-MNIST is not installed in " << kFashion \
               << " (apt-get install dataset-fashion-mnist, or run scripts/setup.sh)"

ir::Graph zoo_model(const std::string& name, int64_t batch = -1) {
  zoo::ZooOptions o;
  o.seed = 3;
  o.batch = batch;
  auto g = zoo::build(name, o);
  CONDENSE_CHECK_MSG(g.is_ok(), g.status().message().c_str());
  return std::move(*g);
}

train::TrainerOptions sgd(double lr = 0.01) {
  train::TrainerOptions t;
  t.optimizer.kind = train::OptimizerKind::Sgd;
  t.optimizer.lr = lr;
  t.optimizer.momentum = 0.9;
  t.threads = 2;
  return t;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("condense_trainer_{}_{}", ::getpid(), name))
      .string();
}

// Every trained tensor (weights, statistics, optimizer state) byte for byte.
void expect_same_state(const train::Trainer& a, const train::Trainer& b) {
  auto sa = a.state(), sb = b.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].name, sb[i].name);
    EXPECT_TRUE(sa[i].tensor.identical(sb[i].tensor)) << sa[i].name << " differs";
  }
}

}  // namespace

TEST(Trainer, LearnsFashionMnistAndEvaluates) {
  REQUIRE_FASHION();
  auto train_set = fashion(data::Split::Train, 4096);
  auto test_set = fashion(data::Split::Test, 1000);
  ASSERT_TRUE(train_set && test_set);
  auto before = train::evaluate(zoo_model("mlp"), *test_set, {.threads = 2});
  ASSERT_TRUE(before.is_ok()) << before.status().message();

  auto t = train::Trainer::create(zoo_model("mlp"), sgd(0.05));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ((*t)->num_classes(), 10);
  EXPECT_EQ((*t)->parameter_count(), 266610);
  train::FitOptions f;
  f.epochs = 2;
  f.batch_size = 64;
  f.seed = 5;
  int64_t steps_seen = 0;
  train::FitCallbacks cb;
  cb.on_step = [&](const train::StepProgress& p) {
    ++steps_seen;
    EXPECT_EQ(p.batches, 64);
    EXPECT_GT(p.images_per_s, 0);
  };
  auto r = train::fit(**t, *train_set, test_set.get(), f, cb);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(steps_seen, 128);
  ASSERT_EQ(r->epochs.size(), 2u);
  ASSERT_TRUE(r->epochs[1].val.has_value());
  const train::EvalResult& val = *r->epochs[1].val;
  // A random 784-300-100-10 MLP is near chance; two epochs on 4,096 images reach ~80%.
  EXPECT_LT(before->accuracy(), 0.25);
  EXPECT_GT(val.accuracy(), 0.70);
  EXPECT_LT(r->epochs[1].train_loss, r->epochs[0].train_loss);
  EXPECT_GE(val.top5, val.top1);
  int64_t total = 0;
  for (int64_t c : val.confusion) total += c;
  EXPECT_EQ(total, 1000);

  // model() is the trained network: evaluating it again gives the same numbers.
  auto m = (*t)->model();
  ASSERT_TRUE(m.is_ok());
  auto again = train::evaluate(std::move(*m), *test_set, {.batch_size = 100, .threads = 2});
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->top1, val.top1);
  EXPECT_EQ(again->confusion, val.confusion);
}

TEST(Trainer, SameSeedSameBytesAndResumeMatchesUninterrupted) {
  REQUIRE_FASHION();
  auto train_set = fashion(data::Split::Train, 640);
  ASSERT_TRUE(train_set);
  train::TrainerOptions o = sgd(0.005);
  ASSERT_TRUE(train::parse_schedule("cosine").is_ok());
  o.schedule = *train::parse_schedule("cosine");
  train::FitOptions f;
  f.epochs = 3;
  f.batch_size = 64;
  f.seed = 11;
  f.augment.crop_padding = 2;
  f.augment.hflip = true;

  // lenet5 (convolutions, pooling) trained straight through, twice.
  auto a = train::Trainer::create(zoo_model("lenet5"), o);
  auto b = train::Trainer::create(zoo_model("lenet5"), o);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto ra = train::fit(**a, *train_set, nullptr, f, {});
  ASSERT_TRUE(ra.is_ok()) << ra.status().message();
  auto rb = train::fit(**b, *train_set, nullptr, f, {});
  ASSERT_TRUE(rb.is_ok()) << rb.status().message();
  expect_same_state(**a, **b);

  // Interrupted mid-epoch 2 (after 13 steps of 10 per epoch), resumed in a fresh trainer.
  const std::string ckpt = temp_path("resume.ckpt.npz");
  auto c = train::Trainer::create(zoo_model("lenet5"), o);
  ASSERT_TRUE(c.is_ok());
  train::FitOptions f1 = f;
  f1.checkpoint = ckpt;
  f1.interrupt_after_steps = 13;
  auto r1 = train::fit(**c, *train_set, nullptr, f1, {});
  ASSERT_TRUE(r1.is_ok()) << r1.status().message();
  EXPECT_TRUE(r1->interrupted);
  EXPECT_EQ(r1->epochs_done, 1);
  EXPECT_EQ(r1->batch_in_epoch, 3);

  auto d = train::Trainer::create(zoo_model("lenet5"), o);
  ASSERT_TRUE(d.is_ok());
  train::FitOptions f2 = f;
  f2.checkpoint = ckpt;
  f2.resume = ckpt;
  std::vector<std::string> messages;
  auto r2 = train::fit(**d, *train_set, nullptr, f2,
                       {.on_message = [&](const std::string& m) { messages.push_back(m); }});
  ASSERT_TRUE(r2.is_ok()) << r2.status().message();
  EXPECT_FALSE(r2->interrupted);
  EXPECT_EQ(r2->epochs_done, 3);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("epoch 2, batch 3"), std::string::npos) << messages[0];
  expect_same_state(**a, **d);
  fs::remove(ckpt);
}

// One epoch, a checkpoint, a resumed second epoch == two epochs straight, for a model with
// batch norm (resnet20 on CIFAR-10 JPEGs, when ../shared/data has them: the running statistics
// are state the checkpoint must carry) and one with LayerNorm, Gelu and attention
// (tiny-transformer on Fashion-MNIST).
static void check_epoch_resume(const std::string& model, const data::Dataset& ds) {
  SCOPED_TRACE(model);
  train::TrainerOptions o = sgd(0.01);
  train::FitOptions f;
  f.epochs = 2;
  f.batch_size = 64;
  f.seed = 2;
  auto a = train::Trainer::create(zoo_model(model), o);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  const std::string ckpt = temp_path(model + ".ckpt.npz");
  train::FitOptions f1 = f;
  f1.checkpoint = ckpt;
  f1.epochs = 1;
  ASSERT_TRUE(train::fit(**a, ds, nullptr, f1, {}).is_ok());
  auto c = train::Trainer::create(zoo_model(model), o);
  ASSERT_TRUE(c.is_ok());
  train::FitOptions f2 = f;
  f2.resume = ckpt;
  ASSERT_TRUE(train::fit(**c, ds, nullptr, f2, {}).is_ok());
  auto b = train::Trainer::create(zoo_model(model), o);
  ASSERT_TRUE(b.is_ok());
  ASSERT_TRUE(train::fit(**b, ds, nullptr, f, {}).is_ok());
  expect_same_state(**c, **b);
  // Batch-norm running statistics moved away from their initial values (mean 0, var 1).
  for (const auto& s : (*b)->state())
    if (s.name.rfind("state/", 0) == 0 && s.name.find("mean") != std::string::npos) {
      double sum = 0;
      for (float v : s.tensor.to_f32_vector()) sum += std::abs(v);
      EXPECT_GT(sum, 0) << s.name << " was not updated";
    }
  fs::remove(ckpt);
}

TEST(Trainer, ResumeAtEpochEndWithNormalizationLayers) {
  REQUIRE_FASHION();
  auto fm = fashion(data::Split::Train, 256);
  ASSERT_TRUE(fm);
  check_epoch_resume("tiny-transformer", *fm);
  const std::string cifar =
      std::string(CONDENSE_DATA_DIR) + "/cifar10-jpeg/cifar10-test-jpeg.tar.gz";
  if (!fs::exists(cifar)) GTEST_SKIP() << "SKIPPED resnet20 part: " << cifar << " is absent";
  data::ImageFolderOptions io;
  io.preprocess = data::Preprocess::cifar10();
  io.limit = 128;
  auto c10 = data::open_image_folder(cifar, io);
  ASSERT_TRUE(c10.is_ok()) << c10.status().message();
  check_epoch_resume("resnet20", **c10);
}

TEST(Trainer, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  REQUIRE_FASHION();
  auto train_set = fashion(data::Split::Train, 512);
  ASSERT_TRUE(train_set);
  const std::string ckpt = temp_path("nan.ckpt.npz");
  // One good epoch at a sane rate writes the checkpoint.
  auto t = train::Trainer::create(zoo_model("lenet5"), sgd(0.01));
  ASSERT_TRUE(t.is_ok());
  train::FitOptions f;
  f.epochs = 1;
  f.batch_size = 128;
  f.checkpoint = ckpt;
  ASSERT_TRUE(train::fit(**t, *train_set, nullptr, f, {}).is_ok());
  auto good = read_file(ckpt);
  ASSERT_TRUE(good.is_ok());
  // Then an absurd learning rate: the loss overflows within a few steps.
  auto bad = train::Trainer::create(zoo_model("lenet5"), sgd(1e4));
  ASSERT_TRUE(bad.is_ok());
  train::FitOptions g = f;
  g.epochs = 3;
  g.resume = ckpt;
  auto r = train::fit(**bad, *train_set, nullptr, g, {});
  ASSERT_FALSE(r.is_ok());
  const std::string msg = r.status().message();
  EXPECT_TRUE(msg.find("NaN") != std::string::npos || msg.find("infinite") != std::string::npos)
      << msg;
  EXPECT_NE(msg.find("last good checkpoint"), std::string::npos) << msg;
  EXPECT_EQ(*read_file(ckpt), *good) << "the checkpoint was rewritten after the NaN";
  // The weights are those of the last finite step: all finite.
  for (const auto& a : (*bad)->state())
    for (float v : a.tensor.dtype() == DType::F32 ? a.tensor.to_f32_vector() : std::vector<float>{})
      ASSERT_TRUE(std::isfinite(v)) << a.name;
  fs::remove(ckpt);
}

TEST(Trainer, BadInputIsAClearError) {
  REQUIRE_FASHION();
  auto train_set = fashion(data::Split::Train, 256);
  ASSERT_TRUE(train_set);
  // No trainable parameters.
  train::TrainerOptions o = sgd();
  o.params.include = "no_such_weight";
  auto t = train::Trainer::create(zoo_model("lenet5"), o);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("no trainable parameters"), std::string::npos)
      << t.status().message();

  // Samples of the wrong size and channel count: Fashion-MNIST (1, 28, 28) into resnet20.
  auto r20 = train::Trainer::create(zoo_model("resnet20"), sgd());
  ASSERT_TRUE(r20.is_ok()) << r20.status().message();
  auto r = train::fit(**r20, *train_set, nullptr, {}, {});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("1 channel vs 3"), std::string::npos) << r.status().message();

  // Labels out of range: a 5-class model.
  ir::Graph five = zoo_model("mlp");
  {
    // Narrow the last Gemm to 5 outputs: weight (10, 100) -> (5, 100), bias (10) -> (5).
    for (const auto& n : five.nodes()) {
      if (n->outputs[0] != five.outputs[0]) continue;
      ir::Value* w = n->inputs[1];
      ir::Value* bias = n->inputs[2];
      w->constant = Tensor::zeros(DType::F32, {5, 100});
      w->dims = {5, 100};
      bias->constant = Tensor::zeros(DType::F32, {5});
      bias->dims = {5};
      five.outputs[0]->dims[1] = 5;
    }
  }
  auto t5 = train::Trainer::create(std::move(five), sgd());
  ASSERT_TRUE(t5.is_ok()) << t5.status().message();
  auto r5 = train::fit(**t5, *train_set, nullptr, {}, {});
  ASSERT_FALSE(r5.is_ok());
  EXPECT_NE(r5.status().message().find("out of range"), std::string::npos) << r5.status().message();

  // A loss whose target shape does not fit: mse of (N, 10) logits against (N) labels.
  train::TrainerOptions mse = sgd();
  mse.loss.kind = train::LossKind::Mse;
  auto tm = train::Trainer::create(zoo_model("mlp"), mse);
  ASSERT_FALSE(tm.is_ok());
  EXPECT_NE(tm.status().message().find("loss 'mse': target 'labels'"), std::string::npos)
      << tm.status().message();

  // A checkpoint of another model.
  const std::string ckpt = temp_path("other.ckpt.npz");
  auto mlp = train::Trainer::create(zoo_model("mlp"), sgd());
  ASSERT_TRUE(mlp.is_ok());
  train::FitOptions f;
  f.checkpoint = ckpt;
  ASSERT_TRUE(train::fit(**mlp, *train_set, nullptr, f, {}).is_ok());
  auto l5 = train::Trainer::create(zoo_model("lenet5"), sgd());
  ASSERT_TRUE(l5.is_ok());
  train::FitOptions g;
  g.resume = ckpt;
  auto rr = train::fit(**l5, *train_set, nullptr, g, {});
  ASSERT_FALSE(rr.is_ok());
  EXPECT_NE(rr.status().message().find("resuming from"), std::string::npos)
      << rr.status().message();
  fs::remove(ckpt);
}

TEST(Evaluate, FixedBatchModelsArePaddedAndEveryScoreAddsUp) {
  REQUIRE_FASHION();
  auto test_set = fashion(data::Split::Test, 10);
  ASSERT_TRUE(test_set);
  // lenet5 exported with a fixed batch of 4: 10 samples run as 4 + 4 + 2 (padded to 4).
  auto fixed = train::evaluate(zoo_model("lenet5", 4), *test_set, {.batch_size = 7, .threads = 2});
  ASSERT_TRUE(fixed.is_ok()) << fixed.status().message();
  auto free = train::evaluate(zoo_model("lenet5"), *test_set, {.batch_size = 7, .threads = 2});
  ASSERT_TRUE(free.is_ok()) << free.status().message();
  EXPECT_EQ(fixed->count, 10);
  EXPECT_EQ(fixed->top1, free->top1);
  EXPECT_EQ(fixed->confusion, free->confusion);
  EXPECT_NEAR(fixed->loss, free->loss, 1e-5 * std::abs(free->loss));
  std::vector<double> per = free->class_accuracy();
  EXPECT_EQ(per.size(), 10u);
}
