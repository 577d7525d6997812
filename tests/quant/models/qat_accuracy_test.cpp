// QAT on real data (../shared/data/mnist; skipped when absent): a LeNet-5 trained here for one
// epoch on 10,000 MNIST images is quantized to 4-bit weights per tensor (a scheme where
// post-training quantization loses accuracy) and 8-bit activations, once by PTQ
// (quant::quantize, min-max ranges) and once by QAT (FakeQuantize, one epoch on the same 10,000
// images); the QAT model, exported to QDQ and re-imported, must beat both the PTQ model and the
// fake-quant graph before training (its initial, MSE-chosen scales) on 2,000 test images.
#include <condense/ir_clone.h>
#include <condense/onnx.h>
#include <condense/qat.h>
#include <condense/trainer.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace condense;

namespace {

std::unique_ptr<data::Dataset> open_mnist(const std::string& dir, data::Split split,
                                          int64_t limit) {
  auto s = data::parse_dataset_spec("mnist:" + dir);
  CONDENSE_CHECK_MSG(s.is_ok(), s.status().message().c_str());
  data::DatasetOptions o;
  o.split = split;
  o.preprocess = data::Preprocess::mnist();
  o.limit = limit;
  auto ds = data::open_dataset(*s, o);
  CONDENSE_CHECK_MSG(ds.is_ok(), ds.status().message().c_str());
  return std::move(*ds);
}

double accuracy(ir::Graph g, const data::Dataset& test) {
  auto r = train::evaluate(std::move(g), test, {.threads = 2});
  CONDENSE_CHECK_MSG(r.is_ok(), r.status().message().c_str());
  return 100.0 * r->accuracy();
}

ir::Graph reimport(const ir::Graph& g) {
  auto bytes = onnx::export_bytes(g);
  CONDENSE_CHECK_MSG(bytes.is_ok(), bytes.status().message().c_str());
  auto again = onnx::import_bytes(*bytes);
  CONDENSE_CHECK_MSG(again.is_ok(), again.status().message().c_str());
  return std::move(*again);
}

}  // namespace

TEST(QatAccuracy, Lenet5W4A8QatBeatsPtq) {
  const std::string mnist = std::string(CONDENSE_DATA_DIR) + "/mnist";
  if (!fs::exists(mnist + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "test data not found: " << mnist << " (see ../shared/data/README.md)";
  auto train_set = open_mnist(mnist, data::Split::Train, 10000);
  auto test_set = open_mnist(mnist, data::Split::Test, 2000);

  auto model = zoo::build("lenet5", {});
  ASSERT_TRUE(model) << model.status().message();
  train::TrainerOptions topts;
  topts.optimizer = {.kind = train::OptimizerKind::Sgd, .lr = 0.01, .momentum = 0.9};
  topts.threads = 2;
  train::FitOptions fopts;
  fopts.batch_size = 64;
  fopts.seed = 1;
  ir::Graph fp32;
  {
    auto t = train::Trainer::create(std::move(*model), topts);
    ASSERT_TRUE(t) << t.status().message();
    auto fit = train::fit(**t, *train_set, nullptr, fopts, {});
    ASSERT_TRUE(fit) << fit.status().message();
    auto m = (*t)->model();
    ASSERT_TRUE(m);
    fp32 = std::move(*m);
  }
  quant::QuantizeOptions o;
  o.weights = {DType::I4, true, quant::Granularity::PerTensor};
  auto prepared = quant::prepare(ir::clone_graph(fp32), o);
  ASSERT_TRUE(prepared) << prepared.status().message();
  auto table = quant::calibrate(*prepared, o, *train_set, {.batches = 16, .batch_size = 32});
  ASSERT_TRUE(table) << table.status().message();

  auto ptq = quant::quantize(ir::clone_graph(*prepared), o, &*table);
  ASSERT_TRUE(ptq) << ptq.status().message();
  auto qat = quant::insert_fake_quant(std::move(*prepared), o, *table);
  ASSERT_TRUE(qat) << qat.status().message();
  const double before = accuracy(ir::clone_graph(qat->graph), *test_set);

  topts.optimizer.lr = 0.005;
  topts.clamp_params = "_fq_scale$";
  topts.clamp_min = quant::kMinScale;
  auto t = train::Trainer::create(std::move(qat->graph), topts);
  ASSERT_TRUE(t) << t.status().message();
  fopts.seed = 2;
  auto fit = train::fit(**t, *train_set, nullptr, fopts, {});
  ASSERT_TRUE(fit) << fit.status().message();
  auto trained = (*t)->model();
  ASSERT_TRUE(trained);
  auto exported = quant::export_qat(std::move(*trained));
  ASSERT_TRUE(exported) << exported.status().message();

  const double acc_fp32 = accuracy(ir::clone_graph(fp32), *test_set);
  const double acc_ptq = accuracy(reimport(ptq->graph), *test_set);
  const double acc_qat = accuracy(reimport(exported->graph), *test_set);
  std::printf(
      "LeNet-5 (1 epoch on 10k MNIST), W4 per-tensor A8 on 2,000 test images: fp32 %.2f%%, PTQ "
      "%.2f%%, QAT initial scales %.2f%%, QAT (1 epoch, exported) %.2f%%\n",
      acc_fp32, acc_ptq, before, acc_qat);
  EXPECT_GT(acc_qat, acc_ptq + 0.2);
  EXPECT_GT(acc_qat, before);
}
