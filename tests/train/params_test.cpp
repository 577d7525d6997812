// Parameter selection: which initializers train.
#include <condense/optim.h>

#include "fixture.h"

using namespace condense;

namespace {

ir::Value* weight(ir::Graph& g, const std::string& name, Shape shape, DType t = DType::F32) {
  return g.add_constant(name, Tensor::zeros(t, std::move(shape)));
}

// conv -> batch norm -> resize -> reshape -> mul by a scalar -> matmul, with initializers that
// are weights (5), statistics, configuration, an integer shape, a scalar, and one nobody reads.
ir::Graph model() {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 1, 4, 4});
  ir::Value* y =
      g.add_node(OpKind::Conv,
                 {x, weight(g, "conv.weight", {2, 1, 3, 3}), weight(g, "conv.bias", {2})}, 1,
                 "conv")
          ->outputs[0];
  y = g.add_node(OpKind::BatchNormalization,
                 {y, weight(g, "bn.weight", {2}), weight(g, "bn.bias", {2}),
                  weight(g, "bn.running_mean", {2}), weight(g, "bn.running_var", {2})},
                 1, "bn")
          ->outputs[0];
  y = g.add_node(OpKind::Resize, {y, nullptr, weight(g, "resize.scales", {4})}, 1, "resize")
          ->outputs[0];
  y = g.add_node(OpKind::Reshape, {y, weight(g, "shape", {2}, DType::I64)}, 1, "flatten")
          ->outputs[0];
  y = g.add_node(OpKind::Mul, {y, weight(g, "half", {})}, 1, "scale")->outputs[0];
  y = g.add_node(OpKind::MatMul, {y, weight(g, "fc.weight", {8, 3})}, 1, "fc")->outputs[0];
  weight(g, "unused", {3});
  g.outputs.push_back(y);
  return g;
}

std::vector<std::string> names(const std::vector<train::Parameter>& params) {
  std::vector<std::string> out;
  for (const auto& p : params) out.push_back(p.name);
  return out;
}

std::vector<std::string> select(const train::ParamSelection& sel) {
  ir::Graph g = model();
  auto p = train::select_parameters(g, sel);
  EXPECT_TRUE(p) << p.status().message();
  return p ? names(*p) : std::vector<std::string>{};
}

std::string select_error(const train::ParamSelection& sel) {
  ir::Graph g = model();
  auto p = train::select_parameters(g, sel);
  EXPECT_FALSE(p);
  return p ? "" : p.status().message();
}

}  // namespace

TEST(Params, SelectsFloatWeightsByDefault) {
  EXPECT_EQ(select({}), (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight",
                                                  "bn.bias", "fc.weight"}));
}

TEST(Params, IncludeAndExcludeRegexes) {
  EXPECT_EQ(select({.include = "^conv\\."}),
            (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(select({.exclude = "bias$"}),
            (std::vector<std::string>{"conv.weight", "bn.weight", "fc.weight"}));
  EXPECT_EQ(select({.include = "weight", .exclude = "^bn"}),
            (std::vector<std::string>{"conv.weight", "fc.weight"}));
  // Statistics and configuration never train, even when named explicitly.
  EXPECT_EQ(select({.include = "running|scales|fc"}), (std::vector<std::string>{"fc.weight"}));
}

TEST(Params, EmptySelectionIsAnError) {
  EXPECT_EQ(select_error({.include = "xyz"}),
            "no trainable parameters: the regex 'xyz' matched none of 5 float initializers");
  EXPECT_EQ(select_error({.exclude = "."}),
            "no trainable parameters: the exclude regex '.' excluded all 5 float initializers");
  EXPECT_EQ(select_error({.include = "conv", .exclude = "conv"}),
            "no trainable parameters: the regex 'conv' with the exclude regex 'conv' matched none "
            "of 5 float initializers");
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {2});
  g.outputs.push_back(g.add_node(OpKind::Relu, {x}, 1, "relu")->outputs[0]);
  auto p = train::select_parameters(g, {});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.status().message(),
            "no trainable parameters: the model has no float weight initializers");
}

TEST(Params, BadRegexAndNonF32AreErrors) {
  EXPECT_NE(select_error({.include = "("}).find("invalid include regex '('"), std::string::npos);
  EXPECT_NE(select_error({.exclude = "[a"}).find("invalid exclude regex '[a'"), std::string::npos);
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F16, {2, 2});
  g.outputs.push_back(
      g.add_node(OpKind::MatMul, {x, weight(g, "w16", {2, 2}, DType::F16)}, 1, "mm")->outputs[0]);
  auto p = train::select_parameters(g, {});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.status().message(),
            "parameter 'w16' is f16: only f32 initializers train (exclude it, or convert the "
            "model to f32)");
}

TEST(Params, ShareStorageWithTheGraph) {
  ir::Graph g = model();
  auto p = train::select_parameters(g, {.include = "fc"});
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 1u);
  (*p)[0].value.data<float>()[5] = 2.5f;
  EXPECT_EQ(g.find_value("fc.weight")->constant->data<float>()[5], 2.5f);
  EXPECT_TRUE((*p)[0].weight_decay);
}
