// File size of quantized models against their float originals (issue 4's size targets), measured
// on the ONNX bytes a user gets:
//   LeNet-5 (zoo, 431k parameters) static int8 per-channel: >= 3.9x smaller.
//   resnet20 (../shared/data, 269k parameters in 20 layers of 10-64 channels; skipped when
//   absent) static int8 per-channel QDQ: >= 3.7x (3.74x; int8 weights, int32 biases and f32
//   weight and bias scales are 276.7 kB before a node, and 3.9x would leave 280.7 kB;
//   docs/quantization.md); per-tensor in QOperator form: >= 3.9x (3.90x); weight-only int4
//   per-channel: >= 7x.
// The quantizer's own names are short, zero points shared, and no value_info is written for
// dequantized weights: a regression there moves these ratios first.
#include <condense/ir_clone.h>
#include <condense/onnx.h>
#include <condense/quant.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace condense;

namespace {

size_t onnx_size(const ir::Graph& g) {
  auto bytes = onnx::export_bytes(g);
  CONDENSE_CHECK_MSG(bytes.is_ok(), bytes.status().message().c_str());
  return bytes->size();
}

// n samples of shape `sample`, standard-normal values: enough to calibrate a size test.
std::unique_ptr<data::Dataset> normal_dataset(Shape sample, int64_t n) {
  Shape shape{n};
  shape.insert(shape.end(), sample.begin(), sample.end());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  data::TensorData d;
  d.x = Tensor::empty(DType::F32, shape);
  for (int64_t i = 0; i < d.x.numel(); ++i) d.x.data<float>()[i] = normal(rng);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 10);
  d.num_classes = 10;
  auto ds = data::make_dataset(std::move(d));
  CONDENSE_CHECK_MSG(ds.is_ok(), ds.status().message().c_str());
  return std::move(*ds);
}

// Float bytes / quantized bytes for a static quantization of `model` calibrated on `calib`, in
// QDQ form or (`qoperator`) as `--format qoperator` writes it.
double static_ratio(const ir::Graph& model, const quant::QuantizeOptions& o,
                    const data::Dataset& calib, bool qoperator = false) {
  auto prepared = quant::prepare(ir::clone_graph(model), o);
  CONDENSE_CHECK_MSG(prepared.is_ok(), prepared.status().message().c_str());
  auto table = quant::calibrate(*prepared, o, calib, {.batches = 2, .batch_size = 8});
  CONDENSE_CHECK_MSG(table.is_ok(), table.status().message().c_str());
  auto q = quant::quantize(std::move(*prepared), o, &*table);
  CONDENSE_CHECK_MSG(q.is_ok(), q.status().message().c_str());
  if (!qoperator) return double(onnx_size(model)) / double(onnx_size(q->graph));
  auto qop = quant::to_qoperator(std::move(q->graph));
  CONDENSE_CHECK_MSG(qop.is_ok(), qop.status().message().c_str());
  return double(onnx_size(model)) / double(onnx_size(qop->graph));
}

double weight_only_ratio(const ir::Graph& model, const quant::QuantizeOptions& o) {
  auto prepared = quant::prepare(ir::clone_graph(model), o);
  CONDENSE_CHECK_MSG(prepared.is_ok(), prepared.status().message().c_str());
  auto q = quant::quantize(std::move(*prepared), o);
  CONDENSE_CHECK_MSG(q.is_ok(), q.status().message().c_str());
  return double(onnx_size(model)) / double(onnx_size(q->graph));
}

quant::QuantizeOptions per_channel_int8() {
  quant::QuantizeOptions o;
  o.weights.granularity = quant::Granularity::PerChannel;
  return o;
}

}  // namespace

TEST(QuantSize, Lenet5StaticInt8AtLeast3p9x) {
  auto model = zoo::build("lenet5");
  ASSERT_TRUE(model) << model.status().message();
  const double r = static_ratio(*model, per_channel_int8(), *normal_dataset({1, 28, 28}, 16));
  std::printf("lenet5 static int8 per-channel: %.3fx smaller\n", r);
  EXPECT_GE(r, 3.9);
}

TEST(QuantSize, Resnet20StaticInt8AndWeightOnlyInt4) {
  const fs::path path = fs::path(CONDENSE_DATA_DIR) / "models/resnet20-cifar10/resnet20.onnx";
  if (!fs::exists(path))
    GTEST_SKIP() << "test data not found: " << path << " (see ../shared/data/README.md)";
  auto model = onnx::import_file(path.string());
  ASSERT_TRUE(model) << model.status().message();
  // The file on disk is what the user compares against: import + export keeps its size within a
  // few bytes (checked, so the ratios below are the CLI's).
  const double disk = double(fs::file_size(path));
  EXPECT_NEAR(double(onnx_size(*model)), disk, disk * 0.002);
  const double r8 = static_ratio(*model, per_channel_int8(), *normal_dataset({3, 32, 32}, 16));
  quant::QuantizeOptions w4;
  w4.mode = quant::Mode::WeightOnly;
  w4.weights.dtype = DType::I4;
  w4.weights.granularity = quant::Granularity::PerChannel;
  const double r4 = weight_only_ratio(*model, w4);
  // Per-tensor weights in QOperator form: no per-channel scales, and no bias scales (QLinearConv
  // implies them), so the int32 biases and the model's own graph fit under 3.9x.
  quant::QuantizeOptions pt;
  pt.weights.granularity = quant::Granularity::PerTensor;
  const double r8q = static_ratio(*model, pt, *normal_dataset({3, 32, 32}, 16), true);
  std::printf(
      "resnet20 static int8 per-channel: %.3fx, per-tensor QOperator: %.3fx, weight-only int4: "
      "%.3fx smaller\n",
      r8, r8q, r4);
  EXPECT_GE(r8, 3.7);
  EXPECT_GE(r8q, 3.9);
  EXPECT_GE(r4, 7.0);
}
