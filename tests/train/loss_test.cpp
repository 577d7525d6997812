// Losses: forward values against PyTorch (fixture), the ops they are built from, shape checks
// and the CLI parser.
#include <condense/autograd.h>
#include <condense/loss.h>
#include <condense/session.h>

#include <set>

#include "fixture.h"

using namespace condense;
using condense::test::Arrays;

namespace {

ir::Dims dims_with_symbolic_batch(const Shape& shape) {
  ir::Dims dims(shape.begin(), shape.end());
  if (!dims.empty()) dims[0] = ir::Dim::sym("N");
  return dims;
}

struct Built {
  ir::Graph g;
  ir::Value* output = nullptr;
  ir::Value* target = nullptr;
};

// A graph with inputs "output" and "target" of these dtypes and dims.
Built graph_with_inputs(DType out_t, ir::Dims out_dims, DType tgt_t, ir::Dims tgt_dims) {
  Built b;
  b.output = b.g.add_input("output", out_t, std::move(out_dims));
  b.target = b.g.add_input("target", tgt_t, std::move(tgt_dims));
  return b;
}

// Builds the loss of `spec` on the fixture's output/target (batch dimension symbolic) and runs it.
Result<Tensor> run_loss(const std::string& spec_text, const Tensor& output, const Tensor& target) {
  CONDENSE_ASSIGN_OR_RETURN(train::LossSpec spec, train::parse_loss(spec_text));
  Built b = graph_with_inputs(output.dtype(), dims_with_symbolic_batch(output.shape()),
                              target.dtype(), dims_with_symbolic_batch(target.shape()));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * loss, train::build_loss(b.g, spec, b.output, b.target));
  b.g.outputs.push_back(loss);
  CONDENSE_TRY(b.g.verify());
  CONDENSE_ASSIGN_OR_RETURN(auto session, Session::create(std::move(b.g)));
  CONDENSE_ASSIGN_OR_RETURN(auto outs, session->run(std::vector<Tensor>{output, target}));
  return outs[0];
}

}  // namespace

TEST(Loss, MatchesPyTorch) {
  Arrays arrays("losses.npz");
  const nlohmann::json cases = test::fixture_cases("losses");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const std::string name = c.at("name"), spec = c.at("spec");
    SCOPED_TRACE(name + " (" + spec + ")");
    auto loss = run_loss(spec, arrays.at(name + ".output"), arrays.at(name + ".target"));
    ASSERT_TRUE(loss) << loss.status().message();
    EXPECT_TRUE(test::near(*loss, arrays.at(name + ".loss"), 1e-5, 1e-7));
  }
}

// The autograd's gradients of sum(loss) with respect to the output (and a float target) equal
// PyTorch's: the loss graph is differentiated like any model, so this checks the rules on its
// path (LogSoftmax, Gather, Where, Abs, Div, ...) as they compose in every loss.
TEST(Loss, GradientsMatchPyTorch) {
  Arrays arrays("losses.npz");
  const nlohmann::json cases = test::fixture_cases("losses");
  int checked = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("name"), spec_text = c.at("spec");
    if (!arrays.has(name + ".grad_output")) continue;
    SCOPED_TRACE(name + " (" + spec_text + ")");
    auto spec = train::parse_loss(spec_text);
    ASSERT_TRUE(spec) << spec.status().message();
    const Tensor& out_t = arrays.at(name + ".output");
    const Tensor& tgt_t = arrays.at(name + ".target");
    const bool grad_target = arrays.has(name + ".grad_target");
    // Output (and a float target) are initializers: the autograd differentiates parameters.
    ir::Graph g;
    ir::Value* output = g.add_constant("output", out_t.clone());
    ir::Value* target = grad_target
                            ? g.add_constant("target", tgt_t.clone())
                            : g.add_input("target", tgt_t.dtype(),
                                          ir::Dims(tgt_t.shape().begin(), tgt_t.shape().end()));
    auto loss = train::build_loss(g, *spec, output, target);
    ASSERT_TRUE(loss) << loss.status().message();
    ir::Value* total = *loss;
    if (spec->reduction == train::Reduction::None)  // the fixture differentiates sum(loss)
      total = g.add_node(OpKind::ReduceSum, {*loss}, 1, "sum_loss")->outputs[0];
    g.outputs = {total};
    autograd::TrainingOptions opts;
    opts.parameters = {"output"};
    if (grad_target) opts.parameters.push_back("target");
    auto tg = autograd::build_training_graph(std::move(g), total->name, opts);
    ASSERT_TRUE(tg) << tg.status().message();
    std::map<std::string, Tensor> feeds = tg->feeds(tg->initial_inputs());
    if (!grad_target) feeds["target"] = tgt_t;
    std::vector<autograd::Parameter> params = tg->params;
    auto session = Session::create(std::move(tg->graph));
    ASSERT_TRUE(session) << session.status().message();
    auto outs = (*session)->run(feeds);
    ASSERT_TRUE(outs) << outs.status().message();
    for (const autograd::Parameter& p : params) {
      SCOPED_TRACE("gradient of " + p.name);
      EXPECT_TRUE(
          test::near((*outs)[p.grad_output], arrays.at(name + ".grad_" + p.name), 1e-5, 1e-7));
    }
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

// f64 in, f64 out: the builders take the output's float type for their constants.
TEST(Loss, RunsInDoublePrecision) {
  Arrays arrays("losses.npz");
  for (const std::string name : {"ce_smooth", "smooth_l1", "kl_t4", "cosine"}) {
    SCOPED_TRACE(name);
    auto to_f64 = [](const Tensor& t) {
      if (t.dtype() != DType::F32) return t;
      Tensor d = Tensor::empty(DType::F64, t.shape());
      for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.get_f64(i);
      return d;
    };
    const nlohmann::json cases = test::fixture_cases("losses");
    std::string spec;
    for (const auto& c : cases)
      if (c.at("name") == name) spec = c.at("spec");
    auto loss =
        run_loss(spec, to_f64(arrays.at(name + ".output")), to_f64(arrays.at(name + ".target")));
    ASSERT_TRUE(loss) << loss.status().message();
    EXPECT_EQ(loss->dtype(), DType::F64);
    EXPECT_TRUE(test::near(*loss, arrays.at(name + ".loss"), 1e-5, 1e-7));
  }
}

// The autograd differentiates the loss graph: on the path from the model output, only ops with
// gradient rules; Less only builds Where's condition.
TEST(Loss, UsesOnlyDifferentiableOps) {
  const std::set<OpKind> differentiable = {OpKind::LogSoftmax,
                                           OpKind::Softmax,
                                           OpKind::Exp,
                                           OpKind::Log,
                                           OpKind::Neg,
                                           OpKind::Abs,
                                           OpKind::Add,
                                           OpKind::Sub,
                                           OpKind::Mul,
                                           OpKind::Div,
                                           OpKind::Pow,
                                           OpKind::Sqrt,
                                           OpKind::ReduceMean,
                                           OpKind::ReduceSum,
                                           OpKind::Where,
                                           OpKind::Max,
                                           OpKind::Min,
                                           OpKind::Clip,
                                           OpKind::Gather,
                                           OpKind::Cast,
                                           OpKind::Reshape,
                                           OpKind::Squeeze,
                                           OpKind::Unsqueeze,
                                           OpKind::Expand,
                                           OpKind::Identity,
                                           OpKind::SoftmaxCrossEntropyLoss,
                                           OpKind::NegativeLogLikelihoodLoss};
  Arrays arrays("losses.npz");
  for (const auto& c : test::fixture_cases("losses")) {
    const std::string name = c.at("name");
    const Tensor& out = arrays.at(name + ".output");
    const Tensor& tgt = arrays.at(name + ".target");
    Built b = graph_with_inputs(out.dtype(), dims_with_symbolic_batch(out.shape()), tgt.dtype(),
                                dims_with_symbolic_batch(tgt.shape()));
    auto spec = train::parse_loss(c.at("spec").get<std::string>());
    ASSERT_TRUE(spec);
    ASSERT_TRUE(train::build_loss(b.g, *spec, b.output, b.target));
    for (const auto& n : b.g.nodes()) {
      if (n->op == OpKind::Less) {
        EXPECT_EQ(n->outputs[0]->dtype, DType::Bool);
        continue;
      }
      EXPECT_TRUE(differentiable.count(n->op))
          << name << ": node " << n->describe() << " has no gradient rule";
    }
  }
}

TEST(Loss, ValuesCarryDtypeAndShape) {
  Built b = graph_with_inputs(DType::F32, {ir::Dim::sym("N"), 10}, DType::I64, {ir::Dim::sym("N")});
  auto loss = train::build_loss(b.g, {.label_smoothing = 0.1}, b.output, b.target);
  ASSERT_TRUE(loss) << loss.status().message();
  EXPECT_EQ((*loss)->name, "loss_cross_entropy");
  EXPECT_TRUE((*loss)->has_shape);
  EXPECT_TRUE((*loss)->dims.empty());
  for (const auto& v : b.g.values()) {
    if (v->is_constant() || v.get() == b.output || v.get() == b.target) continue;
    EXPECT_TRUE(v->has_shape) << v->name;
  }
  // A second loss of the same kind gets a fresh name; Reduction::None keeps the batch dimension.
  auto per_sample = train::build_loss(
      b.g, {.kind = train::LossKind::CrossEntropy, .reduction = train::Reduction::None}, b.output,
      b.target);
  ASSERT_TRUE(per_sample) << per_sample.status().message();
  EXPECT_NE((*per_sample)->name, "loss_cross_entropy");
  EXPECT_EQ((*per_sample)->dims, (ir::Dims{ir::Dim::sym("N")}));
  EXPECT_TRUE(b.g.verify());
  // An explicit name that is taken is an error.
  auto taken = train::build_loss(b.g, {.name = "loss_cross_entropy"}, b.output, b.target);
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.status().message().find("already used"), std::string::npos);
}

TEST(Loss, TargetShapeThatDoesNotFitIsAnError) {
  Built b =
      graph_with_inputs(DType::F32, {ir::Dim::sym("N"), 10}, DType::F32, {ir::Dim::sym("N"), 5});
  auto loss = train::build_loss(b.g, {.kind = train::LossKind::Mse}, b.output, b.target);
  ASSERT_FALSE(loss);
  EXPECT_EQ(loss.status().message(),
            "loss 'mse': target shape [N, 5] does not fit output shape [N, 10]");

  Built c = graph_with_inputs(DType::F32, {8, 10}, DType::I64, {8, 3});
  loss = train::build_loss(c.g, {}, c.output, c.target);
  ASSERT_FALSE(loss);
  EXPECT_EQ(loss.status().message(),
            "loss 'cross_entropy': target shape [8, 3] does not fit output shape [8, 10] (class "
            "labels need shape [8])");

  Built d = graph_with_inputs(DType::F32, {4, 10}, DType::F32, {4});
  loss = train::build_loss(d.g, {.kind = train::LossKind::KlDiv}, d.output, d.target);
  ASSERT_FALSE(loss);
  EXPECT_EQ(loss.status().message(),
            "loss 'kl_div': target shape [4] does not fit output shape "
            "[4, 10]");

  Built f = graph_with_inputs(DType::F32, {ir::Dim::sym("N"), 10}, DType::F32, {ir::Dim::sym("N")});
  loss = train::build_loss(f.g, {}, f.output, f.target);
  ASSERT_FALSE(loss);
  EXPECT_EQ(loss.status().message(),
            "loss 'cross_entropy': class labels 'target' must be int64 or int32 (got f32); class "
            "probabilities need the output's shape [N, 10]");

  Built e = graph_with_inputs(DType::F32, {4, 10}, DType::F32, {4});
  loss = train::build_loss(e.g, {.kind = train::LossKind::Nll}, e.output, e.target);
  ASSERT_FALSE(loss);
  EXPECT_EQ(loss.status().message(),
            "loss 'nll': class labels 'target' must be int64 or int32 "
            "(got f32)");
}

TEST(Loss, BadOptionsAndInputsAreErrors) {
  auto expect_error = [](train::LossSpec spec, DType out_t, ir::Dims out_dims, DType tgt_t,
                         ir::Dims tgt_dims, const std::string& fragment) {
    Built b = graph_with_inputs(out_t, std::move(out_dims), tgt_t, std::move(tgt_dims));
    auto loss = train::build_loss(b.g, spec, b.output, b.target);
    ASSERT_FALSE(loss) << fragment;
    EXPECT_NE(loss.status().message().find(fragment), std::string::npos) << loss.status().message();
  };
  using train::LossKind;
  expect_error({.label_smoothing = 1.5}, DType::F32, {4, 3}, DType::I64, {4}, "[0, 1]");
  expect_error({.kind = LossKind::SmoothL1, .beta = -1}, DType::F32, {4}, DType::F32, {4},
               "beta must be >= 0");
  expect_error({.kind = LossKind::KlDiv, .temperature = 0}, DType::F32, {4, 3}, DType::F32, {4, 3},
               "temperature must be > 0");
  expect_error({.kind = LossKind::Cosine, .axis = 2}, DType::F32, {4, 3}, DType::F32, {4, 3},
               "axis 2 is out of range");
  expect_error({.kind = LossKind::Mse}, DType::F16, {4, 3}, DType::F16, {4, 3},
               "has dtype f16; losses take f32 or f64");
  expect_error({.kind = LossKind::Mse}, DType::F32, {4, 3}, DType::F64, {4, 3},
               "target 'target' has dtype f64, output 'output' has f32");
  expect_error({}, DType::F32, {10}, DType::I64, {}, "needs (N, C, ...) logits");
  expect_error({.kind = LossKind::Mse, .reduction = train::Reduction::BatchMean}, DType::F32, {},
               DType::F32, {}, "batchmean needs a batch dimension");

  ir::Graph g;
  ir::Value* unknown = g.add_value("unknown", DType::F32);
  ir::Value* t = g.add_input("t", DType::F32, {4});
  auto loss = train::build_loss(g, {.kind = LossKind::Mse}, unknown, t);
  ASSERT_FALSE(loss);
  EXPECT_NE(loss.status().message().find("no known shape"), std::string::npos);
}

TEST(Loss, LabelOutOfRangeFailsAtRunTime) {
  Arrays arrays("losses.npz");
  Tensor labels = Tensor::from_vector<int64_t>({0, 3, 7, 1}, {4});  // 5 classes
  for (const std::string spec : {"ce", "ce:0.1"}) {
    auto loss = run_loss(spec, arrays.at("ce.output"), labels);
    ASSERT_FALSE(loss) << spec;
    EXPECT_NE(loss.status().message().find("label 7 is out of range [0, 5)"), std::string::npos)
        << loss.status().message();
  }
}

TEST(Loss, ParsesCliStrings) {
  auto ce = train::parse_loss("ce:0.1");
  ASSERT_TRUE(ce) << ce.status().message();
  EXPECT_EQ(ce->kind, train::LossKind::CrossEntropy);
  EXPECT_DOUBLE_EQ(ce->label_smoothing, 0.1);
  EXPECT_FALSE(ce->reduction.has_value());

  auto kl = train::parse_loss("kl:temperature=4:reduction=sum");
  ASSERT_TRUE(kl) << kl.status().message();
  EXPECT_EQ(kl->kind, train::LossKind::KlDiv);
  EXPECT_DOUBLE_EQ(kl->temperature, 4);
  EXPECT_EQ(kl->reduction, train::Reduction::Sum);

  auto sl1 = train::parse_loss("smooth_l1:0.25");
  ASSERT_TRUE(sl1);
  EXPECT_DOUBLE_EQ(sl1->beta, 0.25);
  auto cos = train::parse_loss("cosine:-1");
  ASSERT_TRUE(cos);
  EXPECT_EQ(cos->axis, -1);

  const std::pair<std::string, std::string> bad[] = {
      {"cee", "unknown loss 'cee' (known: ce, cross_entropy"},
      {"", "is empty"},
      {"ce:abc", "label_smoothing must be a number (got 'abc')"},
      {"ce:2", "label_smoothing must be in [0, 1]"},
      {"mse:0.5", "reduction must be mean, sum, batchmean or none (got '0.5')"},
      {"mse:beta=0.5", "unknown argument 'beta' (known: reduction)"},
      {"ce:reduction=avg", "reduction must be mean, sum, batchmean or none (got 'avg')"},
      {"kl:0", "temperature must be > 0"},
      {"kl:temperature=2:3", "positional argument '3' after a key=value"},
      {"ce:0.1:mean:x", "too many arguments"},
      {"cosine:1.5", "axis must be an integer"},
  };
  for (const auto& [text, fragment] : bad) {
    auto r = train::parse_loss(text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos)
        << text << ": " << r.status().message();
    EXPECT_EQ(r.status().message().rfind("loss '" + text + "': ", 0), 0u) << r.status().message();
  }
}
