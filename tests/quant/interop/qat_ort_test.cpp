// Fidelity of QAT on ONNX Runtime (issue 4, item 6): LeNet-5 is trained with FakeQuantize (int8
// and int4 weights) on real MNIST images, exported to QDQ with quantized logits, and run on 256
// MNIST test images by the fake-quant training graph in condense (eval mode) and by ONNX Runtime
// (onnxruntime-node via tests/interop/ort_run.js) on the exported file.
//
// Tolerance: ORT fuses the QDQ pattern into QLinearConv / QGemm, which accumulate the integer
// products exactly in int32 and requantize with a float multiplier; the fake-quant graph
// convolves the dequantized values in f32. Both round half to even and saturate as ONNX
// specifies, so the integer grids agree; the two sums differ only by f32 rounding (~1e-7
// relative), which changes a requantized value only when it lies that close to a rounding tie
// (x.5 steps): then that activation is one step apart. Such rare flips propagate damped through
// the following layers, so every logit must agree within 2 output steps, at least 98% of them
// exactly, and the top-1 class of at least 99% of the images. (condense itself runs the exported
// model bit-identically to the fake-quant graph: tests/quant/qat_test.cpp.)
// Skipped (with the reason) without the data, node or onnxruntime-node.
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/qat.h>
#include <condense/trainer.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "../quant_test_util.h"
#include "ort_util.h"

namespace fs = std::filesystem;
using namespace condense;
using namespace condense::quant;
using namespace condense::quant_test;

class QatOrt : public ::testing::TestWithParam<DType> {};

TEST_P(QatOrt, FakeQuantGraphMatchesOnnxRuntimeOnMnist) {
  const std::string mnist = std::string(CONDENSE_DATA_DIR) + "/mnist";
  if (!fs::exists(mnist + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "test data not found: " << mnist << " (see ../shared/data/README.md)";
  if (node_executable().empty()) GTEST_SKIP() << "node (Node.js) not found";
  if (!fs::exists(ort_package()))
    GTEST_SKIP() << "onnxruntime-node not installed at " << ort_package().string()
                 << ": run `cd bench/peers && npm install --ignore-scripts`";
  const DType wt = GetParam();
  auto spec = data::parse_dataset_spec("mnist:" + mnist);
  ASSERT_TRUE(spec);
  data::DatasetOptions dopts;
  dopts.preprocess = data::Preprocess::mnist();
  dopts.limit = 2048;
  auto train_set = data::open_dataset(*spec, dopts);
  ASSERT_TRUE(train_set) << train_set.status().message();
  dopts.split = data::Split::Test;
  dopts.limit = 256;
  auto test_set = data::open_dataset(*spec, dopts);
  ASSERT_TRUE(test_set) << test_set.status().message();

  auto model = zoo::build("lenet5", {});
  ASSERT_TRUE(model) << model.status().message();
  QuantizeOptions o;
  o.weights = {wt, true, Granularity::PerChannel};
  o.quantize_outputs = true;  // compare in units of the logits' quantization step
  auto p = prepare(std::move(*model), o);
  ASSERT_TRUE(p) << p.status().message();
  auto table = calibrate(*p, o, **train_set, {.batches = 4, .batch_size = 32, .threads = 2});
  ASSERT_TRUE(table) << table.status().message();
  auto q = insert_fake_quant(std::move(*p), o, *table);
  ASSERT_TRUE(q) << q.status().message();
  train::TrainerOptions topts;
  topts.optimizer = {.kind = train::OptimizerKind::Sgd, .lr = 0.01, .momentum = 0.9};
  topts.threads = 2;
  topts.clamp_params = "_fq_scale$";
  topts.clamp_min = kMinScale;
  auto t = train::Trainer::create(std::move(q->graph), topts);
  ASSERT_TRUE(t) << t.status().message();
  train::FitOptions f;
  f.batch_size = 64;
  f.seed = 1;
  auto fit = train::fit(**t, **train_set, nullptr, f, {});
  ASSERT_TRUE(fit) << fit.status().message();
  auto trained = (*t)->model();
  ASSERT_TRUE(trained);
  ir::Graph fq = ir::clone_graph(*trained);
  auto r = export_qat(std::move(*trained));
  ASSERT_TRUE(r) << r.status().message();
  const ir::Node* last = r->graph.outputs[0]->producer;
  ASSERT_TRUE(last && last->op == OpKind::DequantizeLinear);
  const float step = last->inputs[1]->constant->data<float>()[0];

  const fs::path dir =
      fs::temp_directory_path() / fmt::format("condense-qat-ort-{}-{}", ::getpid(), int(wt));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto bytes = onnx::export_bytes(r->graph);
  ASSERT_TRUE(bytes) << bytes.status().message();
  const std::string model_path = (dir / "model.onnx").string();
  ASSERT_TRUE(write_file_atomic(model_path, *bytes));
  auto batch = (*test_set)->batch(0, 256);
  ASSERT_TRUE(batch);
  const std::string input = (dir / "input_0.pb").string();
  ASSERT_TRUE(onnx::write_tensor_pb(input, batch->x, "input"));
  Tensor ours = run1(std::move(fq), batch->x);
  int code = 0;
  auto outs = run_ort(model_path, input, dir / "ort", &code);
  fs::remove_all(dir);
  if (code == 77) GTEST_SKIP() << outs.status().message();
  ASSERT_TRUE(outs) << outs.status().message();
  ASSERT_FALSE(outs->empty());
  const Tensor* theirs = &(*outs)[0];
  ASSERT_EQ(theirs->shape(), ours.shape());
  const int64_t n = ours.dim(0), c = ours.dim(1);
  double worst = 0;
  int64_t equal = 0, same_top1 = 0;
  for (int64_t i = 0; i < ours.numel(); ++i) {
    const double d = std::abs(ours.get_f64(i) - theirs->get_f64(i));
    worst = std::max(worst, d);
    equal += d == 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = 0, b = 0;
    for (int64_t k = 1; k < c; ++k) {
      if (ours.get_f64(i * c + k) > ours.get_f64(i * c + a)) a = k;
      if (theirs->get_f64(i * c + k) > theirs->get_f64(i * c + b)) b = k;
    }
    same_top1 += a == b;
  }
  std::printf(
      "QAT LeNet-5 %s weights, fake-quant graph vs ONNX Runtime on %lld MNIST images: %lld of "
      "%lld logits equal, max |diff| %.2f steps of %.3g, same top-1 %lld\n",
      quant_dtype_name(wt).data(), static_cast<long long>(n), static_cast<long long>(equal),
      static_cast<long long>(ours.numel()), worst / step, step, static_cast<long long>(same_top1));
  EXPECT_LE(worst, 2.0 * step * 1.001) << "max |fake-quant - ORT| = " << worst / step << " steps";
  EXPECT_GE(double(equal), 0.98 * double(ours.numel()));
  EXPECT_GE(double(same_top1), 0.99 * double(n));
}

INSTANTIATE_TEST_SUITE_P(Qat, QatOrt, ::testing::Values(DType::I8, DType::I4),
                         [](const ::testing::TestParamInfo<DType>& i) {
                           return std::string(quant_dtype_name(i.param));
                         });
