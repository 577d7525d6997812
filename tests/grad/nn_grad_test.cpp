// Finite-difference checks of the nn gradient rules (f64): MatMul, Gemm, Conv, ConvTranspose,
// pooling and batch normalization.
#include <gtest/gtest.h>

#include "grad_check.h"

namespace condense::test {
namespace {

using A = ir::Attribute;

TEST(GradNn, MatMul) {
  std::mt19937 rng(1);
  const std::vector<std::pair<Shape, Shape>> shapes = {{{3, 4}, {4, 5}},
                                                       {{2, 3, 4}, {4, 5}},
                                                       {{2, 3, 4}, {2, 4, 5}},
                                                       {{2, 1, 3, 4}, {3, 4, 2}},
                                                       {{4}, {4, 5}},
                                                       {{2, 3, 4}, {4}},
                                                       {{4}, {4}},
                                                       {{4}, {2, 4, 3}}};
  for (const auto& [sa, sb] : shapes) {
    GradCase c(fmt::format("MatMul {} x {}", shape_str(sa), shape_str(sb)), OpKind::MatMul);
    c.inputs = {param(uniform(sa, rng)), param(uniform(sb, rng))};
    check_gradients(c);
  }
}

TEST(GradNn, Gemm) {
  std::mt19937 rng(2);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& cs : {Shape{}, Shape{5}, Shape{3, 5}, Shape{3, 1}, Shape{1}}) {
        GradCase c(
            fmt::format("Gemm transA={} transB={} C {} alpha 0.7 beta 1.3", ta, tb, shape_str(cs)),
            OpKind::Gemm);
        c.inputs = {param(uniform(ta ? Shape{4, 3} : Shape{3, 4}, rng)),
                    param(uniform(tb ? Shape{5, 4} : Shape{4, 5}, rng)), param(uniform(cs, rng))};
        c.attrs = {{"transA", A::of_int(ta)},
                   {"transB", A::of_int(tb)},
                   {"alpha", A::of_float(0.7f)},
                   {"beta", A::of_float(1.3f)}};
        check_gradients(c);
      }
  GradCase plain("Gemm without C, default attributes", OpKind::Gemm);
  plain.inputs = {param(uniform({2, 3}, rng)), param(uniform({3, 4}, rng))};
  check_gradients(plain);
}

struct ConvCfg {
  std::string name;
  Shape x, w;
  std::map<std::string, A> attrs;
  bool bias = true;
};

TEST(GradNn, Conv) {
  const std::vector<ConvCfg> cfgs = {
      {"2-D 3x3", {2, 3, 6, 5}, {4, 3, 3, 3}, {}},
      {"2-D stride 2 pads 1",
       {1, 2, 7, 6},
       {3, 2, 3, 3},
       {{"strides", A::of_ints({2, 2})}, {"pads", A::of_ints({1, 1, 1, 1})}}},
      {"2-D asymmetric pads, stride (1, 2)",
       {1, 2, 5, 6},
       {2, 2, 2, 3},
       {{"strides", A::of_ints({1, 2})}, {"pads", A::of_ints({0, 1, 2, 0})}}},
      {"2-D dilation 2", {1, 2, 7, 7}, {2, 2, 3, 3}, {{"dilations", A::of_ints({2, 2})}}},
      {"2-D groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, {{"group", A::of_int(2)}}},
      {"2-D depthwise",
       {1, 3, 5, 4},
       {3, 1, 3, 3},
       {{"group", A::of_int(3)}, {"pads", A::of_ints({1, 1, 1, 1})}}},
      {"2-D SAME_UPPER stride 2",
       {1, 2, 5, 6},
       {3, 2, 3, 3},
       {{"auto_pad", A::of_string("SAME_UPPER")}, {"strides", A::of_ints({2, 2})}}},
      {"2-D SAME_LOWER", {1, 2, 4, 5}, {2, 2, 2, 2}, {{"auto_pad", A::of_string("SAME_LOWER")}}},
      {"2-D VALID no bias",
       {1, 2, 5, 5},
       {2, 2, 3, 3},
       {{"auto_pad", A::of_string("VALID")}},
       false},
      {"1-D stride 2", {2, 3, 9}, {4, 3, 3}, {{"strides", A::of_ints({2})}}},
      {"3-D", {1, 2, 4, 4, 3}, {2, 2, 2, 3, 2}, {{"pads", A::of_ints({1, 0, 1, 0, 1, 0})}}},
  };
  std::mt19937 rng(3);
  for (const ConvCfg& cfg : cfgs) {
    GradCase c("Conv " + cfg.name, OpKind::Conv);
    c.inputs = {param(uniform(cfg.x, rng)), param(uniform(cfg.w, rng))};
    if (cfg.bias) c.inputs.push_back(param(uniform({cfg.w[0]}, rng)));
    c.attrs = cfg.attrs;
    check_gradients(c);
  }
  // Only the bias trains (W frozen): the bias gradient alone.
  GradCase b("Conv with frozen W", OpKind::Conv);
  b.inputs = {param(uniform({2, 2, 4, 4}, rng)), konst(uniform({3, 2, 3, 3}, rng)),
              param(uniform({3}, rng))};
  check_gradients(b);
}

TEST(GradNn, ConvTranspose) {
  const std::vector<ConvCfg> cfgs = {
      {"2-D", {2, 3, 4, 3}, {3, 2, 3, 3}, {}},
      {"stride 2 pads 1 output_padding 1",
       {1, 2, 3, 4},
       {2, 3, 3, 3},
       {{"strides", A::of_ints({2, 2})},
        {"pads", A::of_ints({1, 1, 1, 1})},
        {"output_padding", A::of_ints({1, 1})}}},
      {"groups 2 dilation 2",
       {1, 4, 3, 3},
       {4, 1, 2, 2},
       {{"group", A::of_int(2)}, {"dilations", A::of_ints({2, 2})}}},
      {"output_shape",
       {1, 2, 3, 3},
       {2, 2, 3, 3},
       {{"strides", A::of_ints({2, 2})}, {"output_shape", A::of_ints({6, 6})}}},
      {"SAME_UPPER stride 2",
       {1, 2, 3, 2},
       {2, 3, 3, 3},
       {{"strides", A::of_ints({2, 2})}, {"auto_pad", A::of_string("SAME_UPPER")}}},
      {"1-D stride 3 no bias", {2, 2, 4}, {2, 3, 2}, {{"strides", A::of_ints({3})}}, false},
  };
  std::mt19937 rng(4);
  for (const ConvCfg& cfg : cfgs) {
    GradCase c("ConvTranspose " + cfg.name, OpKind::ConvTranspose);
    const int64_t group = cfg.attrs.count("group") ? cfg.attrs.at("group").i : 1;
    c.inputs = {param(uniform(cfg.x, rng)), param(uniform(cfg.w, rng))};
    if (cfg.bias) c.inputs.push_back(param(uniform({cfg.w[1] * group}, rng)));
    c.attrs = cfg.attrs;
    check_gradients(c);
  }
}

TEST(GradNn, Pooling) {
  struct PoolCfg {
    OpKind op;
    std::string name;
    Shape x;
    std::map<std::string, A> attrs;
  };
  const std::vector<PoolCfg> cfgs = {
      {OpKind::MaxPool,
       "2x2 stride 2",
       {2, 3, 6, 6},
       {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}}},
      {OpKind::MaxPool,
       "3x3 stride 2 pads 1 ceil",
       {1, 2, 6, 7},
       {{"kernel_shape", A::of_ints({3, 3})},
        {"strides", A::of_ints({2, 2})},
        {"pads", A::of_ints({1, 1, 1, 1})},
        {"ceil_mode", A::of_int(1)}}},
      {OpKind::MaxPool,
       "overlapping 3x3 stride 1 dilation 2",
       {1, 1, 7, 7},
       {{"kernel_shape", A::of_ints({3, 3})}, {"dilations", A::of_ints({2, 2})}}},
      {OpKind::MaxPool,
       "1-D",
       {2, 2, 9},
       {{"kernel_shape", A::of_ints({3})}, {"strides", A::of_ints({2})}}},
      {OpKind::AveragePool,
       "2x2 stride 2",
       {2, 3, 6, 6},
       {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}}},
      {OpKind::AveragePool,
       "3x3 pads 1 exclude pad",
       {1, 2, 5, 5},
       {{"kernel_shape", A::of_ints({3, 3})}, {"pads", A::of_ints({1, 1, 1, 1})}}},
      {OpKind::AveragePool,
       "3x3 pads 1 count_include_pad",
       {1, 2, 5, 5},
       {{"kernel_shape", A::of_ints({3, 3})},
        {"pads", A::of_ints({1, 1, 1, 1})},
        {"count_include_pad", A::of_int(1)}}},
      {OpKind::AveragePool,
       "ceil_mode stride 2",
       {1, 1, 6, 5},
       {{"kernel_shape", A::of_ints({3, 3})},
        {"strides", A::of_ints({2, 2})},
        {"ceil_mode", A::of_int(1)}}},
      {OpKind::AveragePool,
       "SAME_UPPER",
       {1, 2, 5, 4},
       {{"kernel_shape", A::of_ints({2, 3})}, {"auto_pad", A::of_string("SAME_UPPER")}}},
      {OpKind::GlobalAveragePool, "", {2, 3, 4, 5}, {}},
      {OpKind::GlobalAveragePool, "1-D", {2, 3, 7}, {}},
  };
  std::mt19937 rng(5);
  for (const PoolCfg& cfg : cfgs) {
    GradCase c(fmt::format("{} {}", op_name(cfg.op), cfg.name), cfg.op);
    c.inputs = {param(cfg.op == OpKind::MaxPool ? distinct(cfg.x, rng) : uniform(cfg.x, rng))};
    c.attrs = cfg.attrs;
    check_gradients(c);
  }
  GradCase idx("MaxPool with the Indices output", OpKind::MaxPool);
  idx.inputs = {param(distinct({1, 2, 4, 4}, rng))};
  idx.attrs = {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}};
  idx.outputs = 2;
  check_gradients(idx);
}

TEST(GradNn, BatchNormalization) {
  std::mt19937 rng(6);
  for (const Shape& xs : {Shape{4, 3, 2, 3}, Shape{5, 2}, Shape{3, 2, 5}}) {
    const int64_t C = xs[1];
    for (bool training : {true, false}) {
      GradCase c(fmt::format("BatchNormalization {} training={}", shape_str(xs), training),
                 OpKind::BatchNormalization);
      c.inputs = {param(uniform(xs, rng)), param(uniform({C}, rng, 0.5, 1.5)),
                  param(uniform({C}, rng)), konst(uniform({C}, rng)),
                  konst(uniform({C}, rng, 0.5, 1.5))};
      c.attrs = {{"epsilon", A::of_float(1e-3f)}, {"momentum", A::of_float(0.8f)}};
      c.options.batchnorm_training = training;
      check_gradients(c);
    }
  }
}

}  // namespace
}  // namespace condense::test
