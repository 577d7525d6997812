// The pipeline on a small CNN built in code: calibrate, quantize (static QDQ per tensor and per
// channel, weight-only int4 blocked, dynamic), fp16/bf16, export -> import round trips that run
// in condense, and bad input (NaN weights, empty or misfit calibration data, constant
// activations, ops a scheme cannot quantize).
#include <condense/onnx.h>
#include <condense/quant.h>
#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.h"

using namespace condense;
using namespace condense::quant;
using namespace condense::quant_test;

namespace {

// max |a - b| / max |b|
double relative_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    num = std::max(num, std::abs(a.get_f64(i) - b.get_f64(i)));
    den = std::max(den, std::abs(b.get_f64(i)));
  }
  return num / den;
}

struct Quantized {
  QuantizeResult result;
  CalibrationTable table;
};

Quantized static_quantize(const QuantizeOptions& o, const ir::Graph& model) {
  auto prepared = prepare(ir::clone_graph(model), o);
  CONDENSE_CHECK_MSG(prepared.is_ok(), prepared.status().message().c_str());
  auto ds = random_dataset(64);
  auto table = calibrate(*prepared, o, *ds, {.batches = 4, .batch_size = 16, .threads = 1});
  CONDENSE_CHECK_MSG(table.is_ok(), table.status().message().c_str());
  auto q = quantize(std::move(*prepared), o, &*table);
  CONDENSE_CHECK_MSG(q.is_ok(), q.status().message().c_str());
  return {std::move(*q), std::move(*table)};
}

// export -> import, as a user's file would come back.
ir::Graph round_trip(const ir::Graph& g, int64_t* opset = nullptr) {
  auto bytes = onnx::export_bytes(g);
  CONDENSE_CHECK_MSG(bytes.is_ok(), bytes.status().message().c_str());
  auto back = onnx::import_bytes(*bytes);
  CONDENSE_CHECK_MSG(back.is_ok(), back.status().message().c_str());
  if (opset) *opset = back->opset_imports[""];
  if (back->opset_imports[""] <= onnx::checker_max_opset()) {
    Status s = onnx::check_model_bytes(*bytes);
    EXPECT_TRUE(s) << s.message();
  }
  return std::move(*back);
}

const ir::Node* find_node(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes())
    if (n->name == name) return n.get();
  return nullptr;
}

}  // namespace

TEST(StaticQdq, PerTensorStructureBiasAndRoundTrip) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  Quantized q = static_quantize(o, model);
  const ir::Graph& g = q.result.graph;
  // Activations: input, conv1 and conv2 outputs (after their fused Relu), the flattened fc1
  // input, fc1's output, fc2's MatMul output (the bias Add after it stays float); the logits are
  // a graph output and stay float.
  EXPECT_EQ(count_op(g, OpKind::QuantizeLinear), 6);
  EXPECT_EQ(q.table.tensors.size(), 6u);
  // DequantizeLinear: 6 activations, 4 weights, 3 int32 biases (conv1, conv2, fc1).
  EXPECT_EQ(count_op(g, OpKind::DequantizeLinear), 13);
  EXPECT_EQ(q.result.quantized, (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
  EXPECT_EQ(q.result.opset, 13);
  // conv1's bias: int32 with scale input_scale * weight_scale, zero point 0.
  const ir::Node* conv1 = find_node(g, "conv1");
  ASSERT_NE(conv1, nullptr);
  const ir::Node* bias_dq = conv1->inputs[2]->producer;
  ASSERT_EQ(bias_dq->op, OpKind::DequantizeLinear);
  EXPECT_EQ(bias_dq->inputs[0]->constant->dtype(), DType::I32);
  const ir::Node* w_dq = conv1->inputs[1]->producer;
  ASSERT_EQ(w_dq->op, OpKind::DequantizeLinear);
  EXPECT_EQ(w_dq->inputs[0]->constant->dtype(), DType::I8);
  const float wscale = w_dq->inputs[1]->constant->data<float>()[0];
  const float xscale = q.table.find("input")->qparams.scale;
  EXPECT_EQ(bias_dq->inputs[1]->constant->data<float>()[0], xscale * wscale);
  const Tensor& b = *model.find_value("conv1.bias")->constant;
  const Tensor& bq = *bias_dq->inputs[0]->constant;
  for (int64_t i = 0; i < b.numel(); ++i)
    EXPECT_EQ(bq.data<int32_t>()[i],
              static_cast<int32_t>(std::nearbyint(b.data<float>()[i] / (xscale * wscale))));

  // Runs, close to float, and the exported file means the same, bit for bit.
  Tensor x = random_tensor({5, 3, 8, 8}, 1.0f, 77, 0.2f);
  Tensor ref = run1(ir::clone_graph(model), x);
  Tensor fq = run1(ir::clone_graph(g), x);
  EXPECT_LT(relative_error(fq, ref), 0.05);
  Tensor again = run1(round_trip(g), x);
  EXPECT_TRUE(again.identical(fq));
}

TEST(StaticQdq, PerChannelAxesAndCalibrationTableRoundTrip) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  o.weights.granularity = Granularity::PerChannel;
  o.activations.method = Method::Entropy;
  Quantized q = static_quantize(o, model);
  const ir::Graph& g = q.result.graph;
  auto weight_dq = [&](const char* node) { return find_node(g, node)->inputs[1]->producer; };
  EXPECT_EQ(weight_dq("conv1")->attr_int("axis", -1), 0);
  EXPECT_EQ(weight_dq("conv1")->inputs[1]->constant->numel(), 8);
  EXPECT_EQ(weight_dq("fc1")->attr_int("axis", -1), 0);  // Gemm transB: B is (N, K)
  EXPECT_EQ(weight_dq("fc2")->attr_int("axis", -1), 1);  // MatMul B (K, N)
  // The table written as JSON and read back quantizes to the same model, byte for byte.
  auto table = parse_calibration_table(calibration_table_to_json(q.table));
  ASSERT_TRUE(table);
  auto prepared = prepare(ir::clone_graph(model), o);
  ASSERT_TRUE(prepared);
  auto again = quantize(std::move(*prepared), o, &*table);
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_TRUE(again->warnings.empty());
  EXPECT_EQ(*onnx::export_bytes(again->graph), *onnx::export_bytes(g));
  // Entropy clips the tails of these random activations: a larger worst case than min-max.
  Tensor x = random_tensor({3, 3, 8, 8}, 1.0f, 78, 0.2f);
  EXPECT_LT(relative_error(run1(round_trip(g), x), run1(ir::clone_graph(model), x)), 0.2);
}

TEST(StaticQdq, EditedTableRangeIsUsedAndStaleScaleWarns) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  Quantized q = static_quantize(o, model);
  CalibrationTable t = q.table;
  t.tensors[0].range.lo = -4;  // "input": edit the range, leave the old scale
  t.tensors[0].range.hi = 4;
  auto prepared = prepare(ir::clone_graph(model), o);
  auto r = quantize(std::move(*prepared), o, &t);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("activation 'input'"), std::string::npos) << r->warnings[0];
  // The scale of the input's QuantizeLinear (the graph input keeps its name).
  const ir::Value* s = nullptr;
  for (const auto& n : r->graph.nodes())
    if (n->op == OpKind::QuantizeLinear && n->inputs[0]->name == "input") s = n->inputs[1];
  ASSERT_NE(s, nullptr);
  EXPECT_FLOAT_EQ(s->constant->data<float>()[0], 8.0f / 255.0f);
}

TEST(StaticQdq, ExcludeAndOverrides) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  o.exclude = {"fc.*"};
  LayerOverride ov;
  ov.match = "conv2";
  ov.weight_dtype = DType::I4;
  ov.granularity = Granularity::PerChannel;
  o.overrides = {ov};
  Quantized q = static_quantize(o, model);
  EXPECT_EQ(q.result.quantized, (std::vector<std::string>{"conv1", "conv2"}));
  EXPECT_EQ(q.result.excluded, (std::vector<std::string>{"fc1", "fc2"}));
  const ir::Graph& g = q.result.graph;
  EXPECT_TRUE(find_node(g, "fc1")->inputs[1]->is_constant());  // float weight kept
  EXPECT_EQ(find_node(g, "conv2")->inputs[1]->producer->inputs[0]->dtype, DType::I4);
  EXPECT_EQ(q.result.opset, 21);  // int4 needs opset 21
  int64_t opset = 0;
  Tensor x = random_tensor({2, 3, 8, 8}, 1.0f, 79, 0.2f);
  EXPECT_TRUE(run1(round_trip(g, &opset), x).identical(run1(ir::clone_graph(g), x)));
  EXPECT_EQ(opset, 21);
}

TEST(WeightOnly, Int4BlockedAndInt8PerChannel) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  o.mode = Mode::WeightOnly;
  o.weights = {DType::I4, true, Granularity::PerGroup, 32};
  auto prepared = prepare(ir::clone_graph(model), o);
  ASSERT_TRUE(prepared);
  auto q = quantize(std::move(*prepared), o);
  ASSERT_TRUE(q) << q.status().message();
  EXPECT_EQ(count_op(q->graph, OpKind::QuantizeLinear), 0);
  EXPECT_EQ(count_op(q->graph, OpKind::DequantizeLinear), 4);
  EXPECT_EQ(q->opset, 21);
  // conv1 has 3 input channels (< 32): per output channel instead; fc1 (K = 128) is blocked.
  ASSERT_EQ(q->warnings.size(), 1u);
  EXPECT_NE(q->warnings[0].find("conv1, conv2"), std::string::npos);
  const ir::Node* fc1_w = find_node(q->graph, "fc1")->inputs[1]->producer;
  EXPECT_EQ(fc1_w->attr_int("block_size", 0), 32);
  EXPECT_EQ(fc1_w->attr_int("axis", -1), 1);  // (N, K) with transB: blocks along K
  EXPECT_EQ(fc1_w->inputs[1]->constant->shape(), (Shape{16, 4}));
  Tensor x = random_tensor({3, 3, 8, 8}, 1.0f, 80, 0.2f);
  Tensor ref = run1(ir::clone_graph(model), x);
  Tensor w4 = run1(round_trip(q->graph), x);
  EXPECT_LT(relative_error(w4, ref), 0.25);
  EXPECT_TRUE(w4.identical(run1(ir::clone_graph(q->graph), x)));

  o.weights = {DType::I8, true, Granularity::PerChannel};
  auto q8 = quantize(*prepare(ir::clone_graph(model), o), o);
  ASSERT_TRUE(q8);
  EXPECT_EQ(q8->opset, 13);
  EXPECT_LT(relative_error(run1(round_trip(q8->graph), x), ref), 0.02);
}

TEST(Dynamic, MatMulIntegerForGemmAndMatMul) {
  ir::Graph model = small_cnn();
  QuantizeOptions o;
  o.mode = Mode::Dynamic;
  o.weights.granularity = Granularity::PerChannel;
  auto prepared = prepare(ir::clone_graph(model), o);
  ASSERT_TRUE(prepared);
  auto q = quantize(std::move(*prepared), o);
  ASSERT_TRUE(q) << q.status().message();
  EXPECT_EQ(q->quantized, (std::vector<std::string>{"fc1", "fc2"}));
  EXPECT_EQ(count_op(q->graph, OpKind::MatMulInteger), 2);
  EXPECT_EQ(count_op(q->graph, OpKind::DynamicQuantizeLinear), 2);
  EXPECT_EQ(count_op(q->graph, OpKind::Conv), 2);  // convolutions stay float
  Tensor x = random_tensor({4, 3, 8, 8}, 1.0f, 81, 0.2f);
  Tensor ref = run1(ir::clone_graph(model), x);
  Tensor dyn = run1(round_trip(q->graph), x);
  EXPECT_LT(relative_error(dyn, ref), 0.03);
}

TEST(FloatCast, Fp16AndBf16) {
  ir::Graph model = small_cnn();
  Tensor x = random_tensor({4, 3, 8, 8}, 1.0f, 82, 0.2f);
  Tensor ref = run1(ir::clone_graph(model), x);
  for (DType dt : {DType::F16, DType::BF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    auto r = convert_float(ir::clone_graph(model), dt);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_TRUE(r->kept_f32.empty());
    int f32_constants = 0;
    for (const auto& v : r->graph.values())
      f32_constants += v->is_constant() && v->constant->dtype() == DType::F32;
    EXPECT_EQ(f32_constants, 0);
    EXPECT_EQ(count_op(r->graph, OpKind::Cast), 2);  // input in, logits out
    EXPECT_EQ(r->graph.outputs[0]->name, "logits");
    EXPECT_EQ(r->opset, dt == DType::F16 ? 13 : 22);
    Tensor y = run1(round_trip(r->graph), x);
    ASSERT_EQ(y.dtype(), DType::F32);
    EXPECT_LT(relative_error(y, ref), dt == DType::F16 ? 0.005 : 0.03);
  }
  // A node kept in f32 by name: Casts around it.
  auto kept = convert_float(ir::clone_graph(model), DType::F16, {"fc1"});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->kept_f32, (std::vector<std::string>{"fc1"}));
  EXPECT_EQ(count_op(kept->graph, OpKind::Cast), 4);
  EXPECT_LT(relative_error(run1(round_trip(kept->graph), x), ref), 0.005);
}

// ---- bad input ----------------------------------------------------------------------------------

namespace {
class EmptyDataset final : public data::Dataset {
 public:
  int64_t size() const override { return 0; }
  int64_t num_classes() const override { return 10; }
  Shape sample_shape() const override { return {3, 8, 8}; }
  const data::Preprocess& preprocess() const override { return p_; }
  std::string description() const override { return "empty (train)"; }
  int64_t label(int64_t) const override { return 0; }
  void read_sample(int64_t, std::span<float>) const override {}

 private:
  data::Preprocess p_;
};
}  // namespace

TEST(BadInput, NanWeightNamesIt) {
  ir::Graph model = small_cnn();
  model.find_value("conv2.weight")->constant->data<float>()[5] = NAN;
  auto p = prepare(std::move(model), {});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.status().message(),
            "weight 'conv2.weight' of node 'conv2' (Conv) has NaN at element 5 of [8, 8, 3, 3]; "
            "quantization needs finite weights (retrain or repair the model)");
}

TEST(BadInput, EmptyOrMisfitCalibrationSet) {
  QuantizeOptions o;
  auto p = prepare(small_cnn(), o);
  ASSERT_TRUE(p);
  EmptyDataset empty;
  auto t = calibrate(*p, o, empty, {});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().message(), "calibration set 'empty (train)' is empty");
  auto mnist_like = random_dataset(8, 1, {1, 28, 28});
  t = calibrate(*p, o, *mnist_like, {});
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("has samples (1, 28, 28) but model input 'input'"),
            std::string::npos)
      << t.status().message();
  // Fewer samples than asked: a warning, not an error.
  auto small = random_dataset(20);
  t = calibrate(*p, o, *small, {.batches = 8, .batch_size = 16});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->batches, 2);
  EXPECT_EQ(t->samples, 20);
  ASSERT_EQ(t->warnings.size(), 1u);
  EXPECT_NE(t->warnings[0].find("2 batches of 16 instead of the 8"), std::string::npos);
  // No table for static quantization.
  auto q = quantize(std::move(*p), o, nullptr);
  ASSERT_FALSE(q);
  EXPECT_NE(q.status().message().find("static quantization needs a calibration"),
            std::string::npos);
}

TEST(BadInput, AllZeroActivationGetsASafeScaleAndAWarning) {
  ir::Graph model = small_cnn();
  Tensor& w = *model.find_value("conv2.weight")->constant;
  std::fill(w.data<float>(), w.data<float>() + w.numel(), 0.0f);
  Tensor& b = *model.find_value("conv2.bias")->constant;
  std::fill(b.data<float>(), b.data<float>() + b.numel(), -1.0f);  // relu(-1) = 0 everywhere
  Quantized q = static_quantize({}, model);
  bool warned = false;
  for (const std::string& s : q.table.warnings)
    warned = warned || s.find("is 0 on every calibration sample: scale 1") != std::string::npos;
  EXPECT_TRUE(warned);
  const TensorCalibration* t = q.table.find("conv2.relu");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->qparams.scale, 1.0f);
  EXPECT_EQ(t->qparams.zero_point, 0);
  Tensor x = random_tensor({2, 3, 8, 8}, 1.0f, 83, 0.2f);
  EXPECT_LT(relative_error(run1(ir::clone_graph(q.result.graph), x), run1(std::move(model), x)),
            0.05);
}

TEST(BadInput, OpTheSchemeCannotQuantizeIsNamedWithAHint) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Value* w = g.add_constant("w", random_tensor({4, 3}, 1.0f, 1));
  ir::Node* gemm = g.add_node(OpKind::Gemm, {x, w}, 1, "head/gemm.0");
  gemm->attrs["transA"] = ir::Attribute::of_int(1);
  g.outputs.push_back(gemm->outputs[0]);
  QuantizeOptions o;
  o.mode = Mode::Dynamic;
  auto p = prepare(std::move(g), o);
  ASSERT_TRUE(p);
  auto q = quantize(ir::clone_graph(*p), o);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.status().message(),
            "cannot quantize node 'head/gemm.0' (Gemm): Gemm with transA = 1 has no MatMulInteger "
            "form; hint: --exclude 'head/gemm\\.0' leaves it in float");
  o.exclude = {"head/gemm\\.0"};
  auto ok = quantize(ir::clone_graph(*p), o);
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(ok->excluded, (std::vector<std::string>{"head/gemm.0"}));
  // Op types a mode does not support.
  o.exclude.clear();
  o.op_types = {"Conv"};
  auto bad = quantize(std::move(*p), o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("op type 'Conv' cannot be quantized in dynamic mode"),
            std::string::npos);
}

TEST(BadInput, AlreadyQuantizedAndMissingTableEntry) {
  ir::Graph model = small_cnn();
  Quantized q = static_quantize({}, model);
  auto again = prepare(ir::clone_graph(q.result.graph), {});
  ASSERT_TRUE(again);
  auto r = quantize(std::move(*again), {}, &q.table);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("already quantized"), std::string::npos);
  CalibrationTable partial = q.table;
  partial.tensors.pop_back();
  auto p = prepare(ir::clone_graph(model), {});
  r = quantize(std::move(*p), {}, &partial);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("has no entry for activation"), std::string::npos);
  EXPECT_NE(r.status().message().find("; hint: run condense calibrate"), std::string::npos);
}

TEST(Calibration, MicroBatchesDoNotChangeTheTable) {
  for (Method m : {Method::MinMax, Method::Ema, Method::Entropy, Method::Mse}) {
    SCOPED_TRACE(std::string(method_name(m)));
    QuantizeOptions o;
    o.activations.method = m;
    auto p = prepare(small_cnn(), o);
    ASSERT_TRUE(p);
    auto ds = random_dataset(64);
    std::string json;
    for (int64_t micro : {0, 1, 5, 16}) {
      auto t = calibrate(*p, o, *ds, {.batches = 4, .batch_size = 16, .micro_batch = micro});
      ASSERT_TRUE(t) << t.status().message();
      const std::string j = calibration_table_to_json(*t);
      if (json.empty()) json = j;
      EXPECT_EQ(j, json) << "micro-batch " << micro;
    }
  }
}

TEST(StaticQdq, GraphOutputReadByAQuantizedNodeStaysFloat) {
  // y = Relu(MatMul(x, w1)) is a graph output and also the input of a second MatMul: the second
  // MatMul reads it quantized, the graph output stays the float value (and its name).
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Value* h =
      g.add_node(OpKind::MatMul, {x, g.add_constant("w1", random_tensor({4, 4}, 1, 1))}, 1, "mm1")
          ->outputs[0];
  ir::Value* y = g.add_node(OpKind::Relu, {h}, 1, "y")->outputs[0];
  ir::Value* z =
      g.add_node(OpKind::MatMul, {y, g.add_constant("w2", random_tensor({4, 2}, 1, 2))}, 1, "z")
          ->outputs[0];
  for (ir::Value* v : {y, z}) {
    v->has_shape = true;
    v->dims = {ir::Dim::sym("N"), v == y ? 4 : 2};
    g.outputs.push_back(v);
  }
  QuantizeOptions o;
  o.exclude = {"mm1"};  // y computed in float: it must come out exactly as the float model's
  auto p = prepare(std::move(g), o);
  ASSERT_TRUE(p);
  auto ds = random_dataset(16, 3, {4});
  auto t = calibrate(*p, o, *ds, {.batches = 1, .batch_size = 16});
  ASSERT_TRUE(t) << t.status().message();
  auto q = quantize(ir::clone_graph(*p), o, &*t);
  ASSERT_TRUE(q) << q.status().message();
  ASSERT_EQ(q->graph.outputs[0]->name, "y");
  EXPECT_EQ(count_op(q->graph, OpKind::QuantizeLinear), 1);  // y, as z's input
  EXPECT_NE(q->graph.outputs[0]->producer->op, OpKind::DequantizeLinear);
  Tensor in = random_tensor({3, 4}, 1.0f, 9);
  auto s = Session::create(ir::clone_graph(*p), {.threads = 1});
  auto sq = Session::create(std::move(q->graph), {.threads = 1});
  ASSERT_TRUE(s && sq);
  auto a = (*s)->run(std::vector<Tensor>{in});
  auto b = (*sq)->run(std::vector<Tensor>{in});
  ASSERT_TRUE(a && b);
  EXPECT_TRUE((*a)[0].identical((*b)[0]));   // y: not fake-quantized
  EXPECT_FALSE((*a)[1].identical((*b)[1]));  // z: quantized
}
