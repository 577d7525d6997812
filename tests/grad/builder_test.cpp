// The training-graph builder on whole models and its contract: graph layout, pruning, batch-norm
// state updates, dropout masks, fused activations, parameter selection and bad input.
#include <condense/autograd.h>
#include <condense/onnx.h>
#include <condense/session.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "grad_check.h"

namespace condense::test {
namespace {

using A = ir::Attribute;

// zoo model + SoftmaxCrossEntropyLoss(logits, labels) named "loss".
ir::Graph with_ce_loss(ir::Graph g) {
  ir::Value* labels = g.add_input("labels", DType::I64, {ir::Dim::sym("N")});
  ir::Node* ce =
      g.add_node(OpKind::SoftmaxCrossEntropyLoss, {g.find_value("logits"), labels}, 1, "loss");
  g.outputs = {ce->outputs[0]};
  return g;
}

zoo::ZooOptions zoo_opts(uint64_t seed, std::vector<int64_t> widths = {}) {
  zoo::ZooOptions o;
  o.seed = seed;
  o.widths = std::move(widths);
  return o;
}

Tensor random_f32(Shape s, std::mt19937& rng, float scale = 1.f) {
  return uniform(std::move(s), rng, -scale, scale, DType::F32);
}

Tensor random_labels(int64_t n, int64_t classes, std::mt19937& rng) {
  Tensor t = Tensor::empty(DType::I64, {n});
  std::uniform_int_distribution<int64_t> d(0, classes - 1);
  for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = d(rng);
  return t;
}

int count_ops(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op == op;
  return n;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double scale = 1e-6, diff = 0;
  for (int64_t i = 0; i < a.numel(); ++i) scale = std::max(scale, std::abs(b.get_f64(i)));
  for (int64_t i = 0; i < a.numel(); ++i)
    diff = std::max(diff, std::abs(a.get_f64(i) - b.get_f64(i)));
  return diff / scale;
}

TEST(AutogradBuilder, LeNet5GraphLayoutAndPruning) {
  auto g = zoo::build("lenet5", zoo_opts(1));
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  ir::Graph fwd = with_ce_loss(std::move(*g));
  auto params = autograd::select_parameters(fwd, ".*");
  ASSERT_TRUE(params.is_ok());
  EXPECT_EQ(params->size(), 8u);  // 2 conv + 2 fc, weight and bias each
  autograd::TrainingOptions opts;
  opts.parameters = *params;
  opts.extra_outputs = {"logits"};
  auto tg = autograd::build_training_graph(std::move(fwd), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  EXPECT_EQ(tg->data_inputs, (std::vector<std::string>{"input", "labels"}));
  EXPECT_EQ(tg->graph.inputs.size(), 2 + 8u);
  EXPECT_EQ(tg->graph.outputs.size(), 1 + 8 + 1u);
  EXPECT_EQ(tg->loss_output, 0);
  ASSERT_EQ(tg->extra_outputs.size(), 1u);
  EXPECT_EQ(tg->extra_outputs[0], 9);
  for (size_t i = 0; i < tg->params.size(); ++i) {
    EXPECT_EQ(tg->params[i].input, static_cast<int>(2 + i));
    EXPECT_EQ(tg->params[i].grad_output, static_cast<int>(1 + i));
    EXPECT_FALSE(tg->graph.inputs[tg->params[i].input]->is_constant());
  }
  // The image needs no gradient: only conv2 has a data gradient (ConvGradWeight's dX output).
  EXPECT_EQ(count_ops(tg->graph, OpKind::ConvGradData), 0);
  EXPECT_EQ(count_ops(tg->graph, OpKind::ConvGradWeight), 2);
  int with_dx = 0;
  for (const auto& n : tg->graph.nodes())
    with_dx += n->op == OpKind::ConvGradWeight && n->output(2) != nullptr;
  EXPECT_EQ(with_dx, 1);
  EXPECT_EQ(count_ops(tg->graph, OpKind::MaxPoolGrad), 2);
  // A training graph never leaves condense.
  auto bytes = onnx::export_bytes(tg->graph);
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_NE(bytes.status().message().find("training graph"), std::string::npos)
      << bytes.status().message();
}

// Runs one LeNet-5 step with the given session options; returns the outputs.
std::vector<Tensor> lenet_step(const SessionOptions& so,
                               std::vector<Tensor>* params_out = nullptr) {
  auto g = zoo::build("lenet5", zoo_opts(3));
  EXPECT_TRUE(g.is_ok());
  ir::Graph fwd = with_ce_loss(std::move(*g));
  autograd::TrainingOptions opts;
  opts.parameters = *autograd::select_parameters(fwd, ".*");
  auto tg = autograd::build_training_graph(std::move(fwd), "loss", opts);
  EXPECT_TRUE(tg.is_ok()) << tg.status().message();
  std::vector<Tensor> state = tg->initial_inputs();
  if (params_out) *params_out = state;
  auto feeds = tg->feeds(state);
  std::mt19937 rng(11);
  feeds["input"] = random_f32({8, 1, 28, 28}, rng);
  feeds["labels"] = random_labels(8, 10, rng);
  auto s = Session::create(std::move(tg->graph), so);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  auto out = (*s)->run(feeds);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return *out;
}

TEST(AutogradBuilder, LeNet5FastKernelsAndLoadPassesAgreeWithReference) {
  const auto ref = lenet_step({.threads = 1, .optimize = false, .fast_kernels = false});
  const auto fast = lenet_step({.threads = 2, .optimize = true, .fast_kernels = true});
  ASSERT_EQ(ref.size(), fast.size());
  EXPECT_TRUE(std::isfinite(ref[0].get_f64(0)) && ref[0].get_f64(0) > 0);
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(ref[i].shape(), fast[i].shape()) << "output " << i;
    EXPECT_LT(max_rel_diff(fast[i], ref[i]), 1e-4) << "output " << i;
  }
}

TEST(AutogradBuilder, SgdStepsLowerTheLossOnAFixedBatch) {
  auto g = zoo::build("mlp", zoo_opts(5, {32}));
  ASSERT_TRUE(g.is_ok());
  ir::Graph fwd = with_ce_loss(std::move(*g));
  autograd::TrainingOptions opts;
  opts.parameters = *autograd::select_parameters(fwd, ".*");
  auto tg = autograd::build_training_graph(std::move(fwd), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  std::vector<Tensor> state = tg->initial_inputs();
  std::mt19937 rng(7);
  const Tensor x = random_f32({16, 1, 28, 28}, rng), y = random_labels(16, 10, rng);
  const auto params = tg->params;
  auto s = Session::create(std::move(tg->graph), {.threads = 2});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    auto feeds = autograd::TrainingGraph{}.feeds({});
    for (size_t i = 0; i < params.size(); ++i) feeds[params[i].name] = state[i];
    feeds["input"] = x;
    feeds["labels"] = y;
    auto out = (*s)->run(feeds);
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    last = (*out)[0].get_f64(0);
    if (step == 0) first = last;
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor next = state[i].clone();
      const Tensor& gr = (*out)[params[i].grad_output];
      for (int64_t k = 0; k < next.numel(); ++k)
        next.data<float>()[k] -= 0.1f * gr.data<float>()[k];
      state[i] = next;
    }
  }
  EXPECT_LT(last, 0.2 * first) << "first " << first << ", last " << last;
}

// conv -> BN -> relu -> GlobalAveragePool -> ReduceSum as the loss.
ir::Graph conv_bn_graph(std::mt19937& rng) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 2, 5, 5});
  ir::Value* w = g.add_constant("w", random_f32({3, 2, 3, 3}, rng));
  ir::Value* c = g.add_node(OpKind::Conv, {x, w}, 1, "conv")->outputs[0];
  std::vector<ir::Value*> bn_in = {c, g.add_constant("scale", random_f32({3}, rng)),
                                   g.add_constant("bias", random_f32({3}, rng)),
                                   g.add_constant("mean", random_f32({3}, rng)),
                                   g.add_constant("var", uniform({3}, rng, 0.5, 1.5, DType::F32))};
  ir::Node* bn = g.add_node(OpKind::BatchNormalization, bn_in, 1, "bn");
  bn->attrs["momentum"] = A::of_float(0.75f);
  ir::Value* r = g.add_node(OpKind::Relu, {bn->outputs[0]}, 1, "relu")->outputs[0];
  ir::Value* p = g.add_node(OpKind::GlobalAveragePool, {r}, 1, "gap")->outputs[0];
  ir::Node* sum = g.add_node(OpKind::ReduceSum, {p}, 1, "loss");
  sum->attrs["keepdims"] = A::of_int(0);
  g.outputs = {sum->outputs[0]};
  return g;
}

TEST(AutogradBuilder, BatchNormRunningStatisticsFollowOnnx) {
  std::mt19937 rng(9);
  ir::Graph g = conv_bn_graph(rng);
  auto params = autograd::select_parameters(g, ".*");
  ASSERT_TRUE(params.is_ok());
  EXPECT_EQ(*params, (std::vector<std::string>{"w", "scale", "bias"}));  // never mean / var
  autograd::TrainingOptions opts;
  opts.parameters = *params;
  opts.extra_outputs = {"conv"};
  auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  ASSERT_EQ(tg->states.size(), 2u);
  EXPECT_EQ(tg->states[0].name, "mean");
  EXPECT_EQ(tg->states[1].name, "var");
  const Tensor mean0 = tg->states[0].initial, var0 = tg->states[1].initial;
  auto feeds = tg->feeds(tg->initial_inputs());
  feeds["x"] = random_f32({4, 2, 5, 5}, rng);
  const int conv_out = tg->extra_outputs[0];
  const int mean_out = tg->states[0].output, var_out = tg->states[1].output;
  auto s = Session::create(std::move(tg->graph), {.threads = 1, .fast_kernels = false});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  auto out = (*s)->run(feeds);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  // Batch statistics of the conv output per channel, biased variance.
  const Tensor& c = (*out)[conv_out];
  const int64_t N = c.dim(0), C = c.dim(1), S = c.dim(2) * c.dim(3);
  for (int64_t ch = 0; ch < C; ++ch) {
    double m = 0, v = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) m += c.get_f64((n * C + ch) * S + i);
    m /= static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) v += std::pow(c.get_f64((n * C + ch) * S + i) - m, 2);
    v /= static_cast<double>(N * S);
    EXPECT_NEAR((*out)[mean_out].get_f64(ch), 0.75 * mean0.get_f64(ch) + 0.25 * m, 1e-5);
    EXPECT_NEAR((*out)[var_out].get_f64(ch), 0.75 * var0.get_f64(ch) + 0.25 * v, 1e-5);
  }
}

TEST(AutogradBuilder, FrozenBatchNormKeepsItsStatisticsConstant) {
  std::mt19937 rng(10);
  autograd::TrainingOptions opts;
  opts.parameters = {"w"};
  opts.batchnorm_training = false;
  auto tg = autograd::build_training_graph(conv_bn_graph(rng), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  EXPECT_TRUE(tg->states.empty());
  EXPECT_EQ(count_ops(tg->graph, OpKind::BatchNormTraining), 0);
  EXPECT_TRUE(tg->graph.find_value("mean")->is_constant());
}

// y = Dropout(x * w, 0.25), loss = sum(y); x: (64, 128).
ir::Graph dropout_graph() {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {64, 128});
  ir::Value* w = g.add_constant("w", Tensor::from_vector<float>({2.f}, {1}));
  ir::Value* xw = g.add_node(OpKind::Mul, {x, w}, 1, "scale")->outputs[0];
  ir::Value* ratio = g.add_constant("ratio", Tensor::scalar<float>(0.25f));
  ir::Node* d = g.add_node(OpKind::Dropout, {xw, ratio}, 1, "drop");
  ir::Node* sum = g.add_node(OpKind::ReduceSum, {d->outputs[0]}, 1, "loss");
  sum->attrs["keepdims"] = A::of_int(0);
  g.outputs = {sum->outputs[0]};
  return g;
}

TEST(AutogradBuilder, DropoutMasksAreSeededAndThreadIndependent) {
  autograd::TrainingOptions opts;
  opts.parameters = {"w"};
  opts.extra_outputs = {"drop"};
  Tensor ones = Tensor::empty(DType::F32, {64, 128});
  for (int64_t i = 0; i < ones.numel(); ++i) ones.data<float>()[i] = 1.f;
  int drop_out = -1;
  auto run = [&](int threads, int64_t seed) {
    auto tg = autograd::build_training_graph(dropout_graph(), "loss", opts);
    EXPECT_TRUE(tg.is_ok()) << tg.status().message();
    EXPECT_GE(tg->dropout_seed_input, 0);
    drop_out = tg->extra_outputs[0];
    auto feeds = tg->feeds(tg->initial_inputs());
    feeds["x"] = ones;
    feeds[tg->graph.inputs[tg->dropout_seed_input]->name] = Tensor::scalar<int64_t>(seed);
    auto sess = Session::create(std::move(tg->graph), {.threads = threads});
    EXPECT_TRUE(sess.is_ok()) << sess.status().message();
    return *(*sess)->run(feeds);
  };
  const auto a = run(1, 5), b = run(2, 5), c = run(1, 6);
  EXPECT_TRUE(a[drop_out].identical(b[drop_out]));
  EXPECT_FALSE(a[drop_out].identical(c[drop_out]));
  int64_t zeros = 0;
  for (int64_t i = 0; i < a[drop_out].numel(); ++i) {
    const float v = a[drop_out].data<float>()[i];
    EXPECT_TRUE(v == 0.f || std::abs(v - 2.f / 0.75f) < 1e-5f) << v;
    zeros += v == 0.f;
  }
  const double frac = static_cast<double>(zeros) / static_cast<double>(a[drop_out].numel());
  EXPECT_NEAR(frac, 0.25, 0.02);
  // d loss / d w = sum(x * mask) = loss / w.
  EXPECT_NEAR(a[1].get_f64(0), a[0].get_f64(0) / 2.0, 1e-2);
}

TEST(AutogradBuilder, FusedActivationsAreSplitBack) {
  // Conv with a fused LeakyRelu / Clip / Relu (as a Session's load passes leave it) and the same
  // graph unfused give the same gradients.
  for (const std::string act : {"Relu", "LeakyRelu", "Clip", "Tanh", "GeluTanh"}) {
    std::vector<std::vector<Tensor>> results;
    for (bool fused : {true, false}) {
      std::mt19937 rng(12);
      ir::Graph g;
      ir::Value* x = g.add_input("x", DType::F32, {2, 2, 5, 5});
      ir::Value* w = g.add_constant("w", random_f32({3, 2, 3, 3}, rng));
      ir::Node* conv = g.add_node(OpKind::Conv, {x, w}, 1, "conv");
      ir::Value* y = conv->outputs[0];
      if (fused) {
        conv->attrs["_activation"] = A::of_string(act);
        if (act == "LeakyRelu") conv->attrs["_activation_alpha"] = A::of_float(0.2f);
        if (act == "Clip") {
          conv->attrs["_activation_alpha"] = A::of_float(-0.5f);
          conv->attrs["_activation_beta"] = A::of_float(0.5f);
        }
      } else {
        OpKind k = act == "Relu"        ? OpKind::Relu
                   : act == "LeakyRelu" ? OpKind::LeakyRelu
                   : act == "Clip"      ? OpKind::Clip
                   : act == "Tanh"      ? OpKind::Tanh
                                        : OpKind::Gelu;
        std::vector<ir::Value*> ins = {y};
        if (k == OpKind::Clip) {
          ins.push_back(g.add_constant("lo", Tensor::scalar<float>(-0.5f)));
          ins.push_back(g.add_constant("hi", Tensor::scalar<float>(0.5f)));
        }
        ir::Node* a = g.add_node(k, ins, 1, "act");
        if (k == OpKind::LeakyRelu) a->attrs["alpha"] = A::of_float(0.2f);
        if (k == OpKind::Gelu) a->attrs["approximate"] = A::of_string("tanh");
        y = a->outputs[0];
      }
      ir::Node* sq = g.add_node(OpKind::Mul, {y, y}, 1, "sq");
      ir::Node* sum = g.add_node(OpKind::ReduceSum, {sq->outputs[0]}, 1, "loss");
      sum->attrs["keepdims"] = A::of_int(0);
      g.outputs = {sum->outputs[0]};
      autograd::TrainingOptions opts;
      opts.parameters = {"w"};
      auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
      ASSERT_TRUE(tg.is_ok()) << act << ": " << tg.status().message();
      EXPECT_EQ(count_ops(tg->graph, OpKind::Conv), 1);
      auto feeds = tg->feeds(tg->initial_inputs());
      feeds["x"] = random_f32({2, 2, 5, 5}, rng);
      auto s = Session::create(std::move(tg->graph), {.threads = 1, .fast_kernels = false});
      ASSERT_TRUE(s.is_ok()) << s.status().message();
      results.push_back(*(*s)->run(feeds));
    }
    EXPECT_LT(max_rel_diff(results[0][1], results[1][1]), 1e-6) << act;
  }
}

TEST(AutogradBuilder, BadInputIsAClearError) {
  std::mt19937 rng(13);
  auto build = [&](std::vector<std::string> params, std::string loss = "loss") {
    autograd::TrainingOptions opts;
    opts.parameters = std::move(params);
    return autograd::build_training_graph(conv_bn_graph(rng), loss, opts);
  };
  auto msg = [](const auto& r) { return r.is_ok() ? std::string("ok") : r.status().message(); };
  EXPECT_NE(msg(build({"w"}, "nope")).find("loss 'nope' is not a value"), std::string::npos);
  EXPECT_NE(msg(build({})).find("no trainable parameters"), std::string::npos);
  EXPECT_NE(msg(build({"missing"})).find("parameter 'missing' is not a value"), std::string::npos);
  EXPECT_NE(msg(build({"conv"})).find("is not an initializer"), std::string::npos);
  EXPECT_NE(msg(build({"w", "w"})).find("listed twice"), std::string::npos);
  EXPECT_NE(msg(build({"mean"})).find("cannot be a trained parameter"), std::string::npos);
  EXPECT_NE(msg(build({"w"}, "conv")).find("must have one element"), std::string::npos);

  // An op without a gradient rule between a parameter and the loss.
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {1, 2, 4, 4});
  ir::Value* w = g.add_constant("w", random_f32({2, 2, 1, 1}, rng));
  ir::Value* c = g.add_node(OpKind::Conv, {x, w}, 1, "conv")->outputs[0];
  ir::Node* lrn = g.add_node(OpKind::LRN, {c}, 1, "lrn");
  lrn->attrs["size"] = A::of_int(3);
  ir::Node* sum = g.add_node(OpKind::ReduceSum, {lrn->outputs[0]}, 1, "loss");
  sum->attrs["keepdims"] = A::of_int(0);
  g.outputs = {sum->outputs[0]};
  autograd::TrainingOptions opts;
  opts.parameters = {"w"};
  auto r = autograd::build_training_graph(std::move(g), "loss", opts);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("'lrn' (LRN)"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("no gradient rule"), std::string::npos);

  // A loss that no parameter reaches.
  ir::Graph h;
  ir::Value* hx = h.add_input("x", DType::F32, {3});
  h.add_constant("unused", random_f32({3}, rng));
  ir::Node* hs = h.add_node(OpKind::ReduceSum, {hx}, 1, "loss");
  h.outputs = {hs->outputs[0]};
  opts.parameters = {"unused"};
  auto u = autograd::build_training_graph(std::move(h), "loss", opts);
  ASSERT_FALSE(u.is_ok());
  EXPECT_NE(u.status().message().find("does not depend on any"), std::string::npos);
}

TEST(AutogradBuilder, BatchBakedIntoAReshapeStillBuilds) {
  // The input's batch is symbolic but a Reshape fixes it to 4: the static analysis cannot
  // infer shapes past it with its probe sizes, yet dtypes (and the graph) still come out right.
  std::mt19937 rng(16);
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 6});
  ir::Value* r =
      g.add_node(OpKind::Reshape, {x, g.add_constant("shape", i64s({4, 3, 2}))}, 1, "reshape")
          ->outputs[0];
  ir::Value* w = g.add_constant("w", random_f32({2}, rng));
  ir::Value* y = g.add_node(OpKind::Mul, {r, w}, 1, "mul")->outputs[0];
  ir::Node* sum = g.add_node(OpKind::ReduceSum, {y}, 1, "loss");
  sum->attrs["keepdims"] = A::of_int(0);
  g.outputs = {sum->outputs[0]};
  autograd::TrainingOptions opts;
  opts.parameters = {"w"};
  auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
  ASSERT_TRUE(tg.is_ok()) << tg.status().message();
  auto feeds = tg->feeds(tg->initial_inputs());
  Tensor xs = random_f32({4, 6}, rng);
  feeds["x"] = xs;
  auto s = Session::create(std::move(tg->graph), {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  auto out = s.value()->run(feeds);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  // d/dw_j sum(x.reshape(4, 3, 2) * w) = sum of x over the elements that meet w_j.
  for (int64_t j = 0; j < 2; ++j) {
    double want = 0;
    for (int64_t i = j; i < 24; i += 2) want += xs.get_f64(i);
    EXPECT_NEAR((*out)[1].get_f64(j), want, 1e-5);
  }
}

TEST(AutogradBuilder, SelectParametersSkipsIndexAndBoundConstants) {
  std::mt19937 rng(14);
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {2, 6});
  ir::Value* w = g.add_constant("fc.weight", random_f32({6, 4}, rng));
  ir::Value* b = g.add_constant("fc.bias", random_f32({4}, rng));
  ir::Value* y = g.add_node(OpKind::Gemm, {x, w, b}, 1, "fc")->outputs[0];
  ir::Value* clip = g.add_node(OpKind::Clip,
                               {y, g.add_constant("lo", Tensor::scalar<float>(0.f)),
                                g.add_constant("hi", Tensor::scalar<float>(6.f))},
                               1, "relu6")
                        ->outputs[0];
  ir::Value* r = g.add_node(OpKind::Reshape, {clip, g.add_constant("shape", i64s({-1}))}, 1, "flat")
                     ->outputs[0];
  g.outputs = {r};
  auto all = autograd::select_parameters(g, ".*");
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(*all, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  auto weights = autograd::select_parameters(g, ".*weight");
  ASSERT_TRUE(weights.is_ok());
  EXPECT_EQ(*weights, (std::vector<std::string>{"fc.weight"}));
  auto none = autograd::select_parameters(g, "fc");  // whole-name match
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  auto bad = autograd::select_parameters(g, "(");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("invalid parameter pattern"), std::string::npos);
}

TEST(AutogradBuilder, ResNet20TrainsThroughShortcutsAndMatchesReference) {
  auto g = zoo::build("resnet20", zoo_opts(2));
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  ir::Graph fwd = with_ce_loss(std::move(*g));
  autograd::TrainingOptions opts;
  opts.parameters = *autograd::select_parameters(fwd, ".*");
  std::vector<std::vector<Tensor>> runs;
  for (bool fast : {false, true}) {
    ir::Graph copy = with_ce_loss(*zoo::build("resnet20", zoo_opts(2)));
    auto tg = autograd::build_training_graph(std::move(copy), "loss", opts);
    ASSERT_TRUE(tg.is_ok()) << tg.status().message();
    auto feeds = tg->feeds(tg->initial_inputs());
    std::mt19937 rng(15);
    feeds["input"] = random_f32({2, 3, 32, 32}, rng);
    feeds["labels"] = random_labels(2, 10, rng);
    auto s = Session::create(std::move(tg->graph),
                             {.threads = 2, .optimize = fast, .fast_kernels = fast});
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    auto out = (*s)->run(feeds);
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    runs.push_back(*out);
  }
  for (size_t i = 0; i < runs[0].size(); ++i)
    EXPECT_LT(max_rel_diff(runs[1][i], runs[0][i]), 1e-3) << "output " << i;
}

}  // namespace
}  // namespace condense::test
