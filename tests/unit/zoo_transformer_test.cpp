// tiny-transformer computes the architecture include/condense/zoo.h documents: a plain f64
// re-implementation from that description, reading the graph's initializers by name, gives the
// runtime's logits.
#include <condense/session.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace condense;

namespace {

using Mat = std::vector<std::vector<double>>;  // [rows][cols]

std::vector<double> weights(const ir::Graph& g, const std::string& name, Shape shape) {
  const ir::Value* v = g.find_value(name);
  CONDENSE_CHECK_MSG(v && v->is_constant(), name.c_str());
  EXPECT_EQ(v->constant->shape(), shape) << name;
  std::vector<double> out;
  for (float f : v->constant->to_f32_vector()) out.push_back(f);
  return out;
}

// x (T, in) times W (in, out) stored row-major, plus b (out).
Mat linear(const Mat& x, const std::vector<double>& w, const std::vector<double>& b) {
  const size_t in = x[0].size(), out = b.size();
  Mat y(x.size(), std::vector<double>(out));
  for (size_t t = 0; t < x.size(); ++t)
    for (size_t o = 0; o < out; ++o) {
      double s = b[o];
      for (size_t i = 0; i < in; ++i) s += x[t][i] * w[i * out + o];
      y[t][o] = s;
    }
  return y;
}

Mat layer_norm(const Mat& x, const std::vector<double>& scale, const std::vector<double>& bias) {
  Mat y = x;
  for (size_t t = 0; t < x.size(); ++t) {
    double mean = 0, var = 0;
    for (double v : x[t]) mean += v;
    mean /= x[t].size();
    for (double v : x[t]) var += (v - mean) * (v - mean);
    var /= x[t].size();
    for (size_t i = 0; i < x[t].size(); ++i)
      y[t][i] = (x[t][i] - mean) / std::sqrt(var + 1e-5) * scale[i] + bias[i];
  }
  return y;
}

// Logits (10) of one image (28 x 28, row-major).
std::vector<double> reference(const ir::Graph& g, const float* image) {
  constexpr int T = 16, D = 64, H = 4, dh = 16, F = 128;
  Mat tok(T, std::vector<double>(49));
  for (int t = 0; t < T; ++t)
    for (int f = 0; f < 49; ++f)
      tok[t][f] = image[((t / 4) * 7 + f / 7) * 28 + (t % 4) * 7 + f % 7];
  Mat h = linear(tok, weights(g, "embed.weight", {49, D}), weights(g, "embed.bias", {D}));
  std::vector<double> pos = weights(g, "pos_embed", {T, D});
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < D; ++i) h[t][i] += pos[t * D + i];
  for (int l = 0; l < 2; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    auto lin = [&](const Mat& x, const std::string& n, int in, int out) {
      return linear(x, weights(g, p + n + ".weight", {in, out}),
                    weights(g, p + n + ".bias", {out}));
    };
    Mat a = layer_norm(h, weights(g, p + "ln1.weight", {D}), weights(g, p + "ln1.bias", {D}));
    Mat q = lin(a, "attn.q", D, D), k = lin(a, "attn.k", D, D), v = lin(a, "attn.v", D, D);
    Mat ctx(T, std::vector<double>(D, 0.0));
    for (int hd = 0; hd < H; ++hd)
      for (int i = 0; i < T; ++i) {
        std::vector<double> s(T);
        double mx = -1e300, sum = 0;
        for (int j = 0; j < T; ++j) {
          s[j] = 0;
          for (int d = 0; d < dh; ++d) s[j] += q[i][hd * dh + d] * k[j][hd * dh + d];
          s[j] /= std::sqrt(double(dh));
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < T; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int j = 0; j < T; ++j)
          for (int d = 0; d < dh; ++d) ctx[i][hd * dh + d] += s[j] / sum * v[j][hd * dh + d];
      }
    Mat o = lin(ctx, "attn.out", D, D);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < D; ++i) h[t][i] += o[t][i];
    a = layer_norm(h, weights(g, p + "ln2.weight", {D}), weights(g, p + "ln2.bias", {D}));
    Mat m = lin(a, "mlp.fc1", D, F);
    for (auto& row : m)
      for (double& x : row) x = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    m = lin(m, "mlp.fc2", F, D);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < D; ++i) h[t][i] += m[t][i];
  }
  h = layer_norm(h, weights(g, "ln_final.weight", {D}), weights(g, "ln_final.bias", {D}));
  std::vector<double> pooled(D, 0.0);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < D; ++i) pooled[i] += h[t][i] / T;
  std::vector<double> fc_w = weights(g, "fc.weight", {10, D}), fc_b = weights(g, "fc.bias", {10});
  std::vector<double> logits(10);
  for (int c = 0; c < 10; ++c) {
    logits[c] = fc_b[c];
    for (int i = 0; i < D; ++i) logits[c] += fc_w[c * D + i] * pooled[i];
  }
  return logits;
}

}  // namespace

TEST(ZooTransformer, ComputesTheDocumentedArchitecture) {
  zoo::ZooOptions o;
  o.seed = 11;
  auto g = zoo::build("tiny-transformer", o);
  ASSERT_TRUE(g) << g.status().message();
  ir::Graph copy = *zoo::build("tiny-transformer", o);
  auto s = Session::create(std::move(*g), {.threads = 1});
  ASSERT_TRUE(s) << s.status().message();
  Tensor x = Tensor::empty(DType::F32, {2, 1, 28, 28});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  auto out = (*s)->run({x});
  ASSERT_TRUE(out) << out.status().message();
  ASSERT_EQ((*out)[0].shape(), (Shape{2, 10}));
  for (int n = 0; n < 2; ++n) {
    std::vector<double> want = reference(copy, x.data<float>() + n * 784);
    for (int c = 0; c < 10; ++c)
      EXPECT_NEAR((*out)[0].data<float>()[n * 10 + c], want[c], 1e-4 * (1 + std::abs(want[c])))
          << "image " << n << " class " << c;
  }
}
