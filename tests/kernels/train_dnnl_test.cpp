// oneDNN training kernels (Conv with weights fed at run time, ConvGradData, ConvGradWeight, and
// the batch-norm training pair) against the reference kernels on edge sizes: odd channels,
// groups, depthwise, strides, dilations, asymmetric pads, 1-D and 3-D. Each case runs twice (the
// second run goes through the primitive cache) and prints its exact configuration on a mismatch.
#include <condense/session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ops/nn_geometry.h"

namespace condense {
namespace {

using A = ir::Attribute;

Tensor random_tensor(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

struct In {
  Tensor value;
  bool constant = false;
};

// One node on graph inputs (and constants); fast kernels vs reference, 1e-4 relative to the
// output's largest magnitude. `expect_kernel`: the fast kernel's name prefix.
void check(OpKind op, const std::string& config, const std::vector<In>& inputs,
           const std::map<std::string, A>& attrs, int outputs, const std::string& expect_kernel) {
  SCOPED_TRACE(config);
  auto build = [&] {
    ir::Graph g;
    std::vector<ir::Value*> ins;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i].value;
      if (inputs[i].constant) {
        ins.push_back(g.add_constant(fmt::format("c{}", i), t));
      } else {
        ins.push_back(g.add_input(fmt::format("x{}", i), t.dtype(),
                                  ir::Dims(t.shape().begin(), t.shape().end())));
      }
    }
    ir::Node* n = g.add_node(op, ins, outputs, "node");
    n->attrs = attrs;
    for (ir::Value* o : n->outputs) g.outputs.push_back(o);
    return g;
  };
  std::vector<Tensor> feeds;
  for (const In& in : inputs)
    if (!in.constant) feeds.push_back(in.value);
  auto fast = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = true});
  auto ref = Session::create(build(), {.threads = 2, .optimize = false, .fast_kernels = false});
  ASSERT_TRUE(fast.is_ok()) << fast.status().message();
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  EXPECT_EQ((*fast)->report()[0].kernel.rfind(expect_kernel, 0), 0u)
      << "kernel " << (*fast)->report()[0].kernel;
  for (int rep = 0; rep < 2; ++rep) {
    auto yf = (*fast)->run(feeds);
    auto yr = (*ref)->run(feeds);
    ASSERT_TRUE(yf.is_ok()) << yf.status().message();
    ASSERT_TRUE(yr.is_ok()) << yr.status().message();
    for (size_t o = 0; o < yf->size(); ++o) {
      const Tensor& a = (*yf)[o];
      const Tensor& b = (*yr)[o];
      ASSERT_EQ(a.shape(), b.shape()) << "output " << o;
      double scale = 1e-3;
      for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(b.get_f64(i)));
      for (int64_t i = 0; i < a.numel(); ++i)
        ASSERT_NEAR(a.get_f64(i), b.get_f64(i), 1e-4 * scale) << "output " << o << " element " << i;
    }
  }
}

struct ConvP {
  Shape x, w;
  std::map<std::string, A> attrs;
  std::string name;
};

std::vector<ConvP> conv_cases() {
  return {
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {}, "1x1 on 1x1"},
      {{2, 3, 12, 12}, {16, 3, 3, 3}, {{"pads", A::of_ints({1, 1, 1, 1})}}, "first layer c=3"},
      {{2, 16, 9, 9},
       {32, 16, 3, 3},
       {{"strides", A::of_ints({2, 2})}, {"pads", A::of_ints({1, 1, 1, 1})}},
       "stride 2 c=16"},
      {{1, 5, 9, 11}, {7, 5, 3, 3}, {}, "odd channels"},
      {{3, 6, 10, 7},
       {9, 2, 3, 3},
       {{"group", A::of_int(3)},
        {"strides", A::of_ints({2, 2})},
        {"pads", A::of_ints({2, 2, 2, 2})}},
       "groups 3"},
      {{1, 16, 15, 15},
       {16, 1, 3, 3},
       {{"group", A::of_int(16)}, {"pads", A::of_ints({1, 1, 1, 1})}},
       "depthwise"},
      {{2, 8, 13, 13},
       {8, 8, 3, 3},
       {{"dilations", A::of_ints({2, 2})}, {"pads", A::of_ints({2, 2, 2, 2})}},
       "dilation 2"},
      {{1, 2, 6, 7}, {3, 2, 3, 3}, {{"pads", A::of_ints({0, 1, 2, 0})}}, "asymmetric pads"},
      {{1, 2, 6, 7},
       {3, 2, 2, 3},
       {{"auto_pad", A::of_string("SAME_LOWER")}, {"strides", A::of_ints({2, 1})}},
       "SAME_LOWER"},
      {{2, 3, 17},
       {4, 3, 5},
       {{"strides", A::of_ints({2})}, {"auto_pad", A::of_string("SAME_UPPER")}},
       "1-D"},
      {{1, 2, 5, 4, 6}, {3, 2, 2, 3, 2}, {{"pads", A::of_ints({1, 0, 1, 0, 1, 1})}}, "3-D"},
      {{4, 64, 8, 8}, {64, 64, 3, 3}, {{"pads", A::of_ints({1, 1, 1, 1})}}, "resnet stage 3"},
  };
}

// dY's shape for a case: the forward's output shape.
Shape conv_out(const ConvP& p) {
  ir::Node n;
  n.attrs = p.attrs;
  auto g = window_geometry(n, p.x, std::span<const int64_t>(p.w).subspan(2), false);
  EXPECT_TRUE(g.is_ok());
  Shape y = {p.x[0], p.w[0]};
  y.insert(y.end(), g->out.begin(), g->out.end());
  return y;
}

TEST(DnnlTrainConv, ForwardWithRunTimeWeights) {
  std::mt19937 rng(1);
  for (const ConvP& p : conv_cases()) {
    for (bool bias : {false, true}) {
      std::vector<In> in = {{random_tensor(p.x, rng)}, {random_tensor(p.w, rng)}};
      if (bias) in.push_back({random_tensor({p.w[0]}, rng)});
      check(OpKind::Conv, fmt::format("Conv {} bias={}", p.name, bias), in, p.attrs, 1,
            "dnnl_conv_train");
    }
  }
  // Constant weights with a bias fed at run time also take this kernel.
  std::vector<In> in = {{random_tensor({1, 4, 6, 6}, rng)},
                        {random_tensor({5, 4, 3, 3}, rng), true},
                        {random_tensor({5}, rng)}};
  check(OpKind::Conv, "Conv constant W, run-time bias, fused Relu", in,
        {{"_activation", A::of_string("Relu")}}, 1, "dnnl_conv_train");
}

TEST(DnnlTrainConv, BackwardData) {
  std::mt19937 rng(2);
  for (const ConvP& p : conv_cases()) {
    std::vector<In> in = {
        {random_tensor(conv_out(p), rng)},
        {random_tensor(p.w, rng)},
        {Tensor::from_vector<int64_t>(p.x, {static_cast<int64_t>(p.x.size())}), true}};
    check(OpKind::ConvGradData, "ConvGradData " + p.name, in, p.attrs, 1, "dnnl_conv_bwd_data");
  }
}

TEST(DnnlTrainConv, BackwardWeights) {
  std::mt19937 rng(3);
  for (const ConvP& p : conv_cases()) {
    for (int outputs : {1, 2, 3}) {
      std::vector<In> in = {
          {random_tensor(conv_out(p), rng)}, {random_tensor(p.x, rng)}, {random_tensor(p.w, rng)}};
      check(OpKind::ConvGradWeight, fmt::format("ConvGradWeight {} outputs={}", p.name, outputs),
            in, p.attrs, outputs, "dnnl_conv_bwd_weights");
    }
  }
}

// Distinct values (a shuffled grid): no ties in max pooling windows.
Tensor distinct_tensor(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::vector<int64_t> order(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = static_cast<float>(order[i]) / static_cast<float>(t.numel()) - 0.5f;
  return t;
}

TEST(DnnlTrainPool, Backward) {
  struct P {
    Shape x;
    std::map<std::string, A> attrs;
    std::string name;
  };
  const std::vector<P> ps = {
      {{2, 3, 8, 8},
       {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}},
       "2x2 s2"},
      {{1, 5, 9, 7},
       {{"kernel_shape", A::of_ints({3, 3})},
        {"strides", A::of_ints({2, 2})},
        {"pads", A::of_ints({1, 1, 1, 1})}},
       "3x3 s2 pad 1"},
      {{1, 2, 7, 6},
       {{"kernel_shape", A::of_ints({3, 3})},
        {"strides", A::of_ints({2, 2})},
        {"ceil_mode", A::of_int(1)}},
       "ceil_mode"},
      {{1, 2, 9, 9},
       {{"kernel_shape", A::of_ints({3, 3})}, {"dilations", A::of_ints({2, 2})}},
       "dilation 2"},
      {{2, 3, 11}, {{"kernel_shape", A::of_ints({3})}, {"strides", A::of_ints({2})}}, "1-D"},
      {{1, 2, 4, 5, 6},
       {{"kernel_shape", A::of_ints({2, 2, 2})}, {"strides", A::of_ints({2, 2, 2})}},
       "3-D"},
      {{1, 1, 1, 1}, {{"kernel_shape", A::of_ints({1, 1})}}, "1x1"},
  };
  std::mt19937 rng(5);
  for (const P& p : ps) {
    ir::Node n;
    n.attrs = p.attrs;
    auto g = window_geometry(n, p.x, n.attr_ints("kernel_shape"), n.attr_int("ceil_mode", 0) != 0);
    ASSERT_TRUE(g.is_ok()) << p.name;
    Shape ys = {p.x[0], p.x[1]};
    ys.insert(ys.end(), g->out.begin(), g->out.end());
    check(OpKind::MaxPoolGrad, "MaxPoolGrad " + p.name,
          {{random_tensor(ys, rng)}, {distinct_tensor(p.x, rng)}}, p.attrs, 1, "dnnl_pool_bwd");
    for (int include : {0, 1}) {
      std::map<std::string, A> a = p.attrs;
      a["count_include_pad"] = A::of_int(include);
      const Tensor shape = Tensor::from_vector<int64_t>(p.x, {static_cast<int64_t>(p.x.size())});
      // count_include_pad over ceil-mode padding is not oneDNN's: the reference runs (same name).
      check(OpKind::AveragePoolGrad,
            fmt::format("AveragePoolGrad {} count_include_pad={}", p.name, include),
            {{random_tensor(ys, rng)}, {shape, true}}, a, 1, "dnnl_pool_bwd");
    }
  }
}

TEST(DnnlTrainBatchNorm, TrainingAndBackward) {
  std::mt19937 rng(4);
  for (const Shape& xs :
       {Shape{4, 3}, Shape{2, 5, 7}, Shape{8, 16, 6, 6}, Shape{1, 3, 5, 4}, Shape{2, 2, 3, 2, 3}}) {
    const int64_t C = xs[1];
    auto positive = [&](Shape s) {
      Tensor t = random_tensor(std::move(s), rng);
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = 0.5f + std::abs(t.data<float>()[i]);
      return t;
    };
    const std::map<std::string, A> attrs = {{"epsilon", A::of_float(1e-3f)},
                                            {"momentum", A::of_float(0.8f)}};
    check(OpKind::BatchNormTraining, "BatchNormTraining " + shape_str(xs),
          {{random_tensor(xs, rng)},
           {random_tensor({C}, rng)},
           {random_tensor({C}, rng)},
           {random_tensor({C}, rng)},
           {positive({C})}},
          attrs, 5, "dnnl_bnorm_train");
    // With a Relu fused by the fuse_activation pass.
    std::map<std::string, A> fused = attrs;
    fused["_activation"] = A::of_string("Relu");
    check(OpKind::BatchNormTraining, "BatchNormTraining+Relu " + shape_str(xs),
          {{random_tensor(xs, rng)},
           {random_tensor({C}, rng)},
           {random_tensor({C}, rng)},
           {random_tensor({C}, rng)},
           {positive({C})}},
          fused, 5, "dnnl_bnorm_train");
    for (int training : {1, 0})
      for (int outputs : {1, 3}) {
        std::map<std::string, A> a = {{"epsilon", A::of_float(1e-3f)},
                                      {"training", A::of_int(training)}};
        check(OpKind::BatchNormGrad,
              fmt::format("BatchNormGrad {} training={} outputs={}", shape_str(xs), training,
                          outputs),
              {{random_tensor(xs, rng)},
               {random_tensor(xs, rng)},
               {random_tensor({C}, rng)},
               {random_tensor({C}, rng)},
               {positive({C})}},
              a, outputs, "dnnl_bnorm_bwd");
      }
  }
}

}  // namespace
}  // namespace condense
