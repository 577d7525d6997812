// Whole-model gradients against PyTorch: tests/grad/make_torch_fixture.py wrote the reference
// (tests/grad/data/). Each gradient must match to 1e-4 relative to its largest element
// (max |condense - torch| <= 1e-4 * max |torch|), in f32, with the reference kernels and with
// the fast kernels plus the load passes.
#include <condense/autograd.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>

namespace condense::test {
namespace {

using A = ir::Attribute;

const std::string kData = std::string(CONDENSE_SOURCE_DIR) + "/tests/grad/data/";
constexpr double kTolerance = 1e-4;

std::map<std::string, Tensor> load_npz(const std::string& path) {
  std::map<std::string, Tensor> m;
  auto arrays = npy::read_npz(path);
  EXPECT_TRUE(arrays.is_ok())
      << path << ": " << arrays.status().message()
      << " (regenerate with /usr/bin/python3 tests/grad/make_torch_fixture.py)";
  if (arrays)
    for (auto& a : *arrays) m[a.name] = a.tensor;
  return m;
}

// max |a - b| / max |b| (b: the reference).
double rel_error(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::abs(a.get_f64(i) - b.get_f64(i)));
    scale = std::max(scale, std::abs(b.get_f64(i)));
  }
  return scale > 0 ? diff / scale : diff;
}

void expect_close(const std::string& what, const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  EXPECT_LE(rel_error(got, want), kTolerance) << what;
}

// The fixture's hash: ((k * 2654435761 + seed * 40503 + 12345) mod 2^32) / 2^32, and parameters
// (2u - 1) * bound, all in f32 exactly as make_torch_fixture.py computes them.
Tensor hash_param(Shape shape, uint64_t seed, float bound) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t k = 0; k < t.numel(); ++k) {
    const uint64_t v =
        (static_cast<uint64_t>(k) * 2654435761ull + seed * 40503 + 12345) % (1ull << 32);
    const float u = static_cast<float>(static_cast<double>(v) / 4294967296.0);
    t.data<float>()[k] = (u * 2.f - 1.f) * bound;
  }
  return t;
}

// Caffe LeNet-5 with mean cross-entropy, weights named as in PyTorch.
ir::Graph lenet5() {
  ir::Graph g;
  ir::Value* x = g.add_input("input", DType::F32, {ir::Dim::sym("N"), 1, 28, 28});
  ir::Value* labels = g.add_input("labels", DType::I64, {ir::Dim::sym("N")});
  auto p = [&](const char* name, Shape s, uint64_t seed, float bound) {
    return g.add_constant(name, hash_param(std::move(s), seed, bound));
  };
  auto pool = [&](ir::Value* v, const char* name) {
    ir::Node* n = g.add_node(OpKind::MaxPool, {v}, 1, name);
    n->attrs = {{"kernel_shape", A::of_ints({2, 2})}, {"strides", A::of_ints({2, 2})}};
    return n->outputs[0];
  };
  auto fc = [&](ir::Value* v, ir::Value* w, ir::Value* b, const char* name) {
    ir::Node* n = g.add_node(OpKind::Gemm, {v, w, b}, 1, name);
    n->attrs["transB"] = A::of_int(1);
    return n->outputs[0];
  };
  ir::Value* h =
      g.add_node(OpKind::Conv,
                 {x, p("conv1.weight", {20, 1, 5, 5}, 1, 0.2f), p("conv1.bias", {20}, 2, 0.2f)}, 1,
                 "conv1")
          ->outputs[0];
  h = pool(h, "pool1");
  h = g.add_node(
           OpKind::Conv,
           {h, p("conv2.weight", {50, 20, 5, 5}, 3, 0.045f), p("conv2.bias", {50}, 4, 0.045f)}, 1,
           "conv2")
          ->outputs[0];
  h = pool(h, "pool2");
  h = g.add_node(OpKind::Flatten, {h}, 1, "flatten")->outputs[0];
  h = fc(h, p("fc1.weight", {500, 800}, 5, 0.035f), p("fc1.bias", {500}, 6, 0.035f), "fc1");
  h = g.add_node(OpKind::Relu, {h}, 1, "relu")->outputs[0];
  h = fc(h, p("fc2.weight", {10, 500}, 7, 0.045f), p("fc2.bias", {10}, 8, 0.045f), "fc2");
  g.outputs = {g.add_node(OpKind::SoftmaxCrossEntropyLoss, {h, labels}, 1, "loss")->outputs[0]};
  return g;
}

struct StepResult {
  double loss = 0;
  std::map<std::string, Tensor> grads;   // by parameter name
  std::map<std::string, Tensor> states;  // by running-statistic name
};

StepResult train_step(ir::Graph g, const std::map<std::string, Tensor>& ref, SessionOptions so) {
  StepResult r;
  autograd::TrainingOptions opts;
  auto params = autograd::select_parameters(g, ".*");
  EXPECT_TRUE(params.is_ok());
  opts.parameters = *params;
  auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
  EXPECT_TRUE(tg.is_ok()) << tg.status().message();
  if (!tg) return r;
  auto feeds = tg->feeds(tg->initial_inputs());
  feeds["input"] = ref.at("input");
  feeds["labels"] = ref.at("labels");
  const auto tparams = tg->params;
  const auto tstates = tg->states;
  auto s = Session::create(std::move(tg->graph), so);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  if (!s) return r;
  auto out = (*s)->run(feeds);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  if (!out) return r;
  r.loss = (*out)[0].get_f64(0);
  for (const auto& p : tparams) r.grads[p.name] = (*out)[p.grad_output];
  for (const auto& st : tstates) r.states[st.name] = (*out)[st.output];
  return r;
}

const SessionOptions kReference = {.threads = 1, .optimize = false, .fast_kernels = false};
const SessionOptions kFast = {.threads = 2, .optimize = true, .fast_kernels = true};

TEST(TorchFixture, LeNet5GradientsMatchPyTorch) {
  const auto ref = load_npz(kData + "lenet5.npz");
  ASSERT_TRUE(ref.count("input") && ref.count("grad.fc1.weight.dy"));
  // fc1.weight's gradient is stored factored: dY^T X over the batch.
  const Tensor& dy = ref.at("grad.fc1.weight.dy");
  const Tensor& fx = ref.at("grad.fc1.weight.x");
  Tensor fc1 = Tensor::empty(DType::F32, {500, 800});
  for (int64_t o = 0; o < 500; ++o)
    for (int64_t i = 0; i < 800; ++i) {
      double s = 0;
      for (int64_t n = 0; n < dy.dim(0); ++n)
        s += dy.get_f64(n * 500 + o) * fx.get_f64(n * 800 + i);
      fc1.data<float>()[o * 800 + i] = static_cast<float>(s);
    }
  for (const SessionOptions& so : {kReference, kFast}) {
    SCOPED_TRACE(so.fast_kernels ? "fast kernels" : "reference kernels");
    const StepResult r = train_step(lenet5(), ref, so);
    EXPECT_NEAR(r.loss, ref.at("loss").get_f64(0),
                kTolerance * std::abs(ref.at("loss").get_f64(0)));
    ASSERT_EQ(r.grads.size(), 8u);
    for (const auto& [name, grad] : r.grads) {
      const Tensor& want = name == "fc1.weight" ? fc1 : ref.at("grad." + name);
      expect_close(name, grad, want);
    }
  }
}

TEST(TorchFixture, ResNetBasicBlockInTrainingModeMatchesPyTorch) {
  const auto ref = load_npz(kData + "resblock.npz");
  ASSERT_TRUE(ref.count("input"));
  for (const SessionOptions& so : {kReference, kFast}) {
    SCOPED_TRACE(so.fast_kernels ? "fast kernels" : "reference kernels");
    auto g = onnx::import_file(kData + "resblock.onnx");
    ASSERT_TRUE(g.is_ok()) << g.status().message();
    int bn_training = 0;
    for (const auto& n : g->nodes())
      bn_training += n->op == OpKind::BatchNormalization && n->attr_int("training_mode", 0) == 1;
    EXPECT_EQ(bn_training, 2) << "the export should carry training_mode=1";
    const StepResult r = train_step(std::move(*g), ref, so);
    EXPECT_NEAR(r.loss, ref.at("loss").get_f64(0),
                kTolerance * std::abs(ref.at("loss").get_f64(0)));
    int compared = 0;
    for (const auto& [key, want] : ref) {
      if (key.rfind("grad.", 0) == 0) {
        auto it = r.grads.find(key.substr(5));
        ASSERT_NE(it, r.grads.end()) << "no gradient for " << key.substr(5);
        expect_close(key, it->second, want);
        ++compared;
      } else if (key.rfind("running.", 0) == 0) {
        auto it = r.states.find(key.substr(8));
        ASSERT_NE(it, r.states.end()) << "no state update for " << key.substr(8);
        expect_close(key, it->second, want);
        ++compared;
      }
    }
    EXPECT_EQ(compared, 12);
    EXPECT_EQ(r.grads.size(), 8u);
  }
}

TEST(TorchFixture, TrainingModeBatchNormRunsForwardInAPlainSession) {
  // BatchNormalization with training_mode=1 is also an ordinary forward op: batch statistics.
  const auto ref = load_npz(kData + "resblock.npz");
  ASSERT_TRUE(ref.count("input"));
  auto g = onnx::import_file(kData + "resblock.onnx");
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  auto s = Session::create(std::move(*g), kReference);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  auto out = (*s)->run({{"input", ref.at("input")}, {"labels", ref.at("labels")}});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_NEAR((*out)[0].get_f64(0), ref.at("loss").get_f64(0),
              kTolerance * ref.at("loss").get_f64(0));
}

}  // namespace
}  // namespace condense::test
