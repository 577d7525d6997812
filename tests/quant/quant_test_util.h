// Helpers for the quantization tests: the PyTorch fixture (tests/quant/data, written by
// make_observer_fixture.py), small float models built in code, and synthetic calibration sets.
#pragma once

#include <condense/data.h>
#include <condense/ir.h>
#include <condense/ir_clone.h>
#include <condense/npy.h>
#include <condense/quant.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>

namespace condense::quant_test {

// Arrays of tests/quant/data/<file> by name; fails the calling test when the file is missing
// (it is committed).
class Fixture {
 public:
  explicit Fixture(const std::string& file) {
    auto arrays = npy::read_npz(std::string(CONDENSE_QUANT_FIXTURES) + "/" + file);
    EXPECT_TRUE(arrays) << arrays.status().message()
                        << " (run tests/quant/make_observer_fixture.py)";
    if (!arrays) return;
    for (npy::NamedArray& a : *arrays) map_[a.name] = a.tensor;
  }
  const Tensor& at(const std::string& name) const {
    auto it = map_.find(name);
    CONDENSE_CHECK_MSG(it != map_.end(), name.c_str());
    return it->second;
  }

 private:
  std::map<std::string, Tensor> map_;
};

// Element i of a (batches, ...) array as a tensor of the trailing shape (a view).
inline Tensor slice0(const Tensor& t, int64_t i) {
  Shape inner(t.shape().begin() + 1, t.shape().end());
  return Tensor::with_storage(
      t.dtype(), inner, t.storage(),
      static_cast<size_t>(i) * dtype_storage_bytes(t.dtype(), shape_numel(inner)));
}

inline Tensor random_tensor(Shape shape, float stddev, uint32_t seed, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, stddev);
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

// A small CNN + MLP head: x (N, 3, 8, 8) -> Conv 3x3 (8, pad 1) + bias -> Relu -> Conv 3x3 (8,
// stride 2) + bias -> Relu -> Flatten -> Gemm (128 -> 16, transB) -> Relu -> MatMul (16 -> 10)
// -> Add bias -> logits (N, 10). Seeded weights.
inline ir::Graph small_cnn(uint32_t seed = 1) {
  ir::Graph g;
  g.name = "small_cnn";
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_input("input", DType::F32, {ir::Dim::sym("N"), 3, 8, 8});
  auto conv = [&](ir::Value* in, int64_t cin, int64_t cout, int64_t stride, const std::string& n) {
    ir::Value* w = g.add_constant(n + ".weight", random_tensor({cout, cin, 3, 3}, 0.3f, seed++));
    ir::Value* b = g.add_constant(n + ".bias", random_tensor({cout}, 0.1f, seed++));
    ir::Node* c = g.add_node(OpKind::Conv, {in, w, b}, 1, n);
    c->attrs["pads"] = ir::Attribute::of_ints({1, 1, 1, 1});
    c->attrs["strides"] = ir::Attribute::of_ints({stride, stride});
    c->attrs["kernel_shape"] = ir::Attribute::of_ints({3, 3});
    return g.add_node(OpKind::Relu, {c->outputs[0]}, 1, n + ".relu")->outputs[0];
  };
  ir::Value* h = conv(x, 3, 8, 1, "conv1");
  h = conv(h, 8, 8, 2, "conv2");  // (N, 8, 4, 4)
  h = g.add_node(OpKind::Flatten, {h}, 1, "flatten")->outputs[0];
  ir::Value* w1 = g.add_constant("fc1.weight", random_tensor({16, 128}, 0.2f, seed++));
  ir::Value* b1 = g.add_constant("fc1.bias", random_tensor({16}, 0.1f, seed++));
  ir::Node* fc1 = g.add_node(OpKind::Gemm, {h, w1, b1}, 1, "fc1");
  fc1->attrs["transB"] = ir::Attribute::of_int(1);
  h = g.add_node(OpKind::Relu, {fc1->outputs[0]}, 1, "fc1.relu")->outputs[0];
  ir::Value* w2 = g.add_constant("fc2.weight", random_tensor({16, 10}, 0.4f, seed++));
  ir::Value* b2 = g.add_constant("fc2.bias", random_tensor({10}, 0.1f, seed++));
  h = g.add_node(OpKind::MatMul, {h, w2}, 1, "fc2")->outputs[0];
  ir::Node* add = g.add_node(OpKind::Add, {h, b2}, 1, "fc2.add");
  add->outputs[0]->name = "logits";
  add->outputs[0]->has_shape = true;
  add->outputs[0]->dims = {ir::Dim::sym("N"), 10};
  g.outputs.push_back(add->outputs[0]);
  return g;
}

// n samples of (3, 8, 8) f32, N(0.2, 1), labels i % 10.
inline std::unique_ptr<data::Dataset> random_dataset(int64_t n, uint32_t seed = 5,
                                                     Shape sample = {3, 8, 8}) {
  data::TensorData d;
  Shape shape = sample;
  shape.insert(shape.begin(), n);
  d.x = random_tensor(shape, 1.0f, seed, 0.2f);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 10);
  d.num_classes = 10;
  d.description = "random";
  auto ds = data::make_dataset(std::move(d));
  CONDENSE_CHECK_MSG(ds.is_ok(), ds.status().message().c_str());
  return std::move(*ds);
}

// Runs a graph on one input (optimize on, as evaluation runs it).
inline Tensor run1(ir::Graph g, const Tensor& x, bool optimize = true) {
  auto s = Session::create(std::move(g), {.threads = 1, .optimize = optimize});
  CONDENSE_CHECK_MSG(s.is_ok(), s.status().message().c_str());
  auto out = (*s)->run(std::vector<Tensor>{x});
  CONDENSE_CHECK_MSG(out.is_ok(), out.status().message().c_str());
  return (*out)[0];
}

// The integer constant behind input `input` of node `node` (DequantizeLinear(constant) -> node),
// or nullptr: quantized weights and biases have generated names.
inline const ir::Value* quantized_input(const ir::Graph& g, const std::string& node, size_t input) {
  for (const auto& n : g.nodes()) {
    if (n->name != node || n->inputs.size() <= input || !n->inputs[input]) continue;
    const ir::Node* dq = n->inputs[input]->producer;
    if (dq && dq->op == OpKind::DequantizeLinear && dq->inputs[0]->is_constant())
      return dq->inputs[0];
  }
  return nullptr;
}

inline int count_op(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op == op;
  return n;
}

}  // namespace condense::quant_test
