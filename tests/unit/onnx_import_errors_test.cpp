// The importer on malformed models: every case is a clear Status naming what is wrong, never a
// crash, an exception or a huge allocation.
#include <condense/onnx.h>
#include <gtest/gtest.h>

#include <random>

#include "../cli/onnx_writer.h"

using namespace condense;
using namespace condense::test;

namespace {

// y = Identity(x) with an extra initializer `t` given as a TensorProto.
std::string model_with_initializer(const Pb& t) {
  Pb g;
  g.m(kNode, node("Identity", {"x"}, {"y"}, "id"));
  g.s(kName, "g").m(kInitializer, t);
  g.m(kInput, value_info("x", 1, {2})).m(kOutput, value_info("y", 1, {2}));
  return model(g, 13);
}

void expect_error(const std::string& bytes, std::initializer_list<std::string_view> words) {
  auto g = onnx::import_bytes(bytes, "");
  ASSERT_FALSE(g) << "imported";
  for (auto w : words)
    EXPECT_NE(g.status().message().find(w), std::string::npos) << g.status().message();
}

}  // namespace

TEST(OnnxImportErrors, UnknownOpNamesEverything) {
  Pb g;
  g.m(kNode, node("Frobnicate", {"x"}, {"y"}, "frob"));
  g.s(kName, "g").m(kInput, value_info("x", 1, {2})).m(kOutput, value_info("y", 1, {2}));
  expect_error(model(g, 15), {"'Frobnicate'", "ai.onnx", "opset 15", "'frob'"});
}

TEST(OnnxImportErrors, UnsupportedInputDtype) {
  Pb g;
  g.m(kNode, node("Identity", {"s"}, {"y"}, "id"));
  g.s(kName, "g").m(kInput, value_info("s", 8, {2})).m(kOutput, value_info("y", 8, {2}));
  expect_error(model(g, 13), {"'s'", "STRING"});
}

TEST(OnnxImportErrors, InputContradictsInitializer) {
  Pb g;
  g.m(kNode, node("Identity", {"w"}, {"y"}, "id"));
  g.s(kName, "g").m(kInitializer, float_initializer("w", {2, 2}, {1, 2, 3, 4}));
  g.m(kInput, value_info("w", 1, {4})).m(kOutput, value_info("y", 1, {2, 2}));
  expect_error(model(g, 13), {"'w'", "[4]", "[2, 2]"});
}

TEST(OnnxImportErrors, TypedFieldCountCheckedBeforeAllocating) {
  // Claims 2^39 floats with three values: an error, not a 2 TiB allocation.
  Pb t;
  t.i(1, int64_t{1} << 39).i(2, 1).s(8, "huge");
  for (int i = 0; i < 3; ++i) t.varint((4 << 3) | 5), t.b.append(4, '\0');
  expect_error(model_with_initializer(t), {"'huge'", "3 values"});
}

TEST(OnnxImportErrors, ExternalDataWithBadNumbersIsAnError) {
  Pb t;
  t.i(1, 2).i(2, 1).s(8, "ext").i(14, 1);
  t.m(13, Pb().s(1, "location").s(2, "weights.bin"));
  t.m(13, Pb().s(1, "offset").s(2, "not-a-number"));
  auto g = onnx::import_bytes(model_with_initializer(t), "/nonexistent-dir");
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("offset 'not-a-number'"), std::string::npos)
      << g.status().message();
  // Without a base folder (bytes only), external data is refused outright.
  Pb u;
  u.i(1, 2).i(2, 1).s(8, "ext").i(14, 1).m(13, Pb().s(1, "location").s(2, "weights.bin"));
  expect_error(model_with_initializer(u), {"'ext'", "external data"});
}

TEST(OnnxImportErrors, SparseInitializersAreValidated) {
  auto sparse_model = [](std::vector<int64_t> dims, std::vector<int64_t> idx) {
    Pb values = float_initializer(
        "sp", {static_cast<int64_t>(idx.size() / std::max<size_t>(dims.size(), 1))},
        std::vector<float>(idx.size() / std::max<size_t>(dims.size(), 1), 1.f));
    Pb indices;
    indices.i(1, static_cast<int64_t>(idx.size() / dims.size()))
        .i(1, static_cast<int64_t>(dims.size()));
    indices.i(2, 7).s(8, "sp_idx");
    for (int64_t i : idx) indices.i(7, i);
    Pb sp;
    sp.m(1, values).m(2, indices);
    for (int64_t d : dims) sp.i(3, d);
    Pb g;
    g.m(kNode, node("Identity", {"x"}, {"y"}, "id"));
    g.s(kName, "g").m(15, sp);
    g.m(kInput, value_info("x", 1, {2})).m(kOutput, value_info("y", 1, {2}));
    return model(g, 13);
  };
  auto ok = onnx::import_bytes(sparse_model({2, 3}, {1, 2}), "");
  EXPECT_TRUE(ok) << ok.status().message();
  expect_error(sparse_model({2, -3}, {1, 2}), {"'sp'", "negative"});
  expect_error(sparse_model({2, 3}, {1, 5}), {"'sp'", "out of range"});
  expect_error(sparse_model({int64_t{1} << 40, 1 << 20}, {1, 2}), {"'sp'", "too large"});
}

TEST(OnnxImportErrors, MutatedModelsNeverCrash) {
  Pb g;
  g.m(kNode, node("MatMul", {"x", "w"}, {"h"}, "fc")).m(kNode, node("Relu", {"h"}, {"y"}, "relu"));
  g.s(kName, "g").m(kInitializer, float_initializer("w", {2, 2}, {1, 2, 3, 4}));
  g.m(kInput, value_info("x", 1, {-1, 2})).m(kOutput, value_info("y", 1, {-1, 2}));
  const std::string good = model(g, 13);
  ASSERT_TRUE(onnx::import_bytes(good, ""));
  std::mt19937 rng(99);
  for (int i = 0; i < 5000; ++i) {
    std::string b = good;
    int flips = 1 + rng() % 3;
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    (void)onnx::import_bytes(b, "");
  }
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(onnx::import_bytes(good.substr(0, n), "")) << n;
}

TEST(OnnxImportErrors, InternalTrainingOpsAreRefused) {
  // The com.condense.train family exists only in training graphs built in memory.
  Pb g;
  g.m(kNode, node("SoftmaxGrad", {"x", "x"}, {"y"}, "sg", "com.condense.train"));
  g.s(kName, "g").m(kInput, value_info("x", 1, {2})).m(kOutput, value_info("y", 1, {2}));
  expect_error(model(g, 17, {"com.condense.train"}), {"'sg'", "SoftmaxGrad", "training graphs"});
}
