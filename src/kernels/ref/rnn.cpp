// Reference kernels for RNN, GRU and LSTM (shapes: see src/ops/rnn.cpp). The input projection
// X * W^T (+ biases) runs for all timesteps at once as one (seq*batch, input) x (input, G*H)
// matmul per direction; the recurrence then adds H_{t-1} * R^T step by step.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace condense {

namespace {

enum class Cell { Rnn, Gru, Lstm };

// One activation function with its alpha/beta (ONNX RNN activation list).
struct Activation {
  enum Kind {
    Relu,
    Tanh,
    Sigmoid,
    Affine,
    LeakyRelu,
    ThresholdedRelu,
    ScaledTanh,
    HardSigmoid,
    Elu,
    Softsign,
    Softplus
  } kind = Sigmoid;
  double alpha = 0, beta = 0;

  template <typename T>
  T operator()(T x) const {
    switch (kind) {
      case Relu:
        return x > T(0) ? x : T(0);
      case Tanh:
        return std::tanh(x);
      case Sigmoid:
        return T(1) / (T(1) + std::exp(-x));
      case Affine:
        return T(alpha) * x + T(beta);
      case LeakyRelu:
        return x >= T(0) ? x : T(alpha) * x;
      case ThresholdedRelu:
        return x > T(alpha) ? x : T(0);
      case ScaledTanh:
        return T(alpha) * std::tanh(T(beta) * x);
      case HardSigmoid:
        return std::max(T(0), std::min(T(1), T(alpha) * x + T(beta)));
      case Elu:
        return x >= T(0) ? x : T(alpha) * (std::exp(x) - T(1));
      case Softsign:
        return x / (T(1) + std::abs(x));
      case Softplus:
        return std::log1p(std::exp(-std::abs(x))) + std::max(x, T(0));
    }
    return x;
  }
};

// Parses activations / activation_alpha / activation_beta; alphas and betas are consumed in
// order by the functions that take them, with the ONNX defaults when the lists run out.
Result<std::vector<Activation>> parse_activations(const KernelCtx& ctx, Cell cell, int64_t dirs) {
  std::vector<std::string> names;
  if (const ir::Attribute* a = ctx.node.attr("activations")) names = a->strings;
  if (names.empty()) {
    const std::vector<std::string> def = cell == Cell::Rnn ? std::vector<std::string>{"Tanh"}
                                         : cell == Cell::Gru
                                             ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                             : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), def.begin(), def.end());
  }
  const std::vector<float> alphas = ctx.node.attr_floats("activation_alpha");
  const std::vector<float> betas = ctx.node.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  auto next = [](const std::vector<float>& v, size_t& i, double def) {
    return i < v.size() ? static_cast<double>(v[i++]) : def;
  };
  std::vector<Activation> out;
  for (const std::string& n : names) {
    Activation a;
    if (n == "Relu")
      a.kind = Activation::Relu;
    else if (n == "Tanh")
      a.kind = Activation::Tanh;
    else if (n == "Sigmoid")
      a.kind = Activation::Sigmoid;
    else if (n == "Affine")
      a.kind = Activation::Affine, a.alpha = next(alphas, ai, 1.0), a.beta = next(betas, bi, 0.0);
    else if (n == "LeakyRelu")
      a.kind = Activation::LeakyRelu, a.alpha = next(alphas, ai, 0.01);
    else if (n == "ThresholdedRelu")
      a.kind = Activation::ThresholdedRelu, a.alpha = next(alphas, ai, 1.0);
    else if (n == "ScaledTanh")
      a.kind = Activation::ScaledTanh, a.alpha = next(alphas, ai, 1.0),
      a.beta = next(betas, bi, 1.0);
    else if (n == "HardSigmoid")
      a.kind = Activation::HardSigmoid, a.alpha = next(alphas, ai, 0.2),
      a.beta = next(betas, bi, 0.5);
    else if (n == "Elu")
      a.kind = Activation::Elu, a.alpha = next(alphas, ai, 1.0);
    else if (n == "Softsign")
      a.kind = Activation::Softsign;
    else if (n == "Softplus")
      a.kind = Activation::Softplus;
    else
      return ctx.fail("unsupported activation '{}'", n);
    out.push_back(a);
  }
  return out;
}

// c (rows, N) = a (rows, K) * b^T, b (N, K), all row-major.
template <typename T>
void matmul_bt(const T* a, const T* b, T* c, int64_t rows, int64_t K, int64_t N) {
#pragma omp parallel for if (rows * K * N > 200000)
  for (int64_t i = 0; i < rows; ++i) {
    const T* ra = a + i * K;
    for (int64_t n = 0; n < N; ++n) {
      const T* rb = b + n * K;
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += ra[k] * rb[k];
      c[i * N + n] = acc;
    }
  }
}

template <typename T>
Status run_recurrent(KernelCtx& ctx, Cell cell) {
  const ir::Node& node = ctx.node;
  const int64_t G = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
  const int64_t acts_per_dir = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 2 : 3;
  const std::string dir = node.attr_string("direction", "forward");
  const int64_t dirs = dir == "bidirectional" ? 2 : 1;
  const int64_t layout = node.attr_int("layout", 0);
  const Tensor& X = ctx.in(0);
  const int64_t seq = layout == 0 ? X.dim(0) : X.dim(1);
  const int64_t batch = layout == 0 ? X.dim(1) : X.dim(0);
  const int64_t I = X.dim(2);
  const int64_t H = ctx.in(2).dim(2);
  const bool has_clip = node.has_attr("clip");
  const T clip = static_cast<T>(node.attr_float("clip", 0.f));
  const bool input_forget = cell == Cell::Lstm && node.attr_int("input_forget", 0) != 0;
  const bool lbr = cell == Cell::Gru && node.attr_int("linear_before_reset", 0) != 0;
  CONDENSE_ASSIGN_OR_RETURN(std::vector<Activation> acts, parse_activations(ctx, cell, dirs));
  if (static_cast<int64_t>(acts.size()) != acts_per_dir * dirs)
    return ctx.fail("activations: expected {} functions", acts_per_dir * dirs);

  std::vector<int64_t> lens(batch, seq);
  if (ctx.has_input(4)) {
    const int32_t* p = ctx.in(4).data<int32_t>();
    for (int64_t b = 0; b < batch; ++b) {
      if (p[b] < 0 || p[b] > seq)
        return ctx.fail("sequence_lens[{}] = {} is outside [0, {}]", b, p[b], seq);
      lens[b] = p[b];
    }
  }
  // X in (seq, batch, I) order.
  std::vector<T> x(seq * batch * I);
  const T* px = X.data<T>();
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t src = layout == 0 ? (s * batch + b) * I : (b * seq + s) * I;
      std::copy(px + src, px + src + I, x.begin() + (s * batch + b) * I);
    }
  // State index helpers for (dir, batch) in the given layout.
  auto state_off = [&](int64_t d, int64_t b) {
    return layout == 0 ? (d * batch + b) * H : (b * dirs + d) * H;
  };
  auto y_off = [&](int64_t s, int64_t d, int64_t b) {
    return layout == 0 ? ((s * dirs + d) * batch + b) * H : ((b * seq + s) * dirs + d) * H;
  };
  T* Y = ctx.outputs.size() > 0 && ctx.out(0).defined() ? ctx.out(0).data<T>() : nullptr;
  T* Yh = ctx.outputs.size() > 1 && ctx.out(1).defined() ? ctx.out(1).data<T>() : nullptr;
  T* Yc = ctx.outputs.size() > 2 && ctx.out(2).defined() ? ctx.out(2).data<T>() : nullptr;
  if (Y) std::fill(Y, Y + ctx.out(0).numel(), T(0));

  const int64_t GH = G * H;
  std::vector<T> xw(seq * batch * GH), hr(batch * GH), h(batch * H), c(batch * H), h_new(H);
  for (int64_t d = 0; d < dirs; ++d) {
    const bool reverse = dir == "reverse" || d == 1;
    const T* W = ctx.in(1).data<T>() + d * GH * I;
    const T* R = ctx.in(2).data<T>() + d * GH * H;
    const T* Bw = ctx.has_input(3) ? ctx.in(3).data<T>() + d * 2 * GH : nullptr;
    const T* Br = Bw ? Bw + GH : nullptr;
    const T* P = cell == Cell::Lstm && ctx.has_input(7) ? ctx.in(7).data<T>() + d * 3 * H : nullptr;
    const Activation* act = acts.data() + d * acts_per_dir;
    // Input projection for every timestep, with Wb (+ Rb except GRU's h gate when
    // linear_before_reset, where Rb_h sits inside the reset product).
    matmul_bt(x.data(), W, xw.data(), seq * batch, I, GH);
    if (Bw) {
      for (int64_t r = 0; r < seq * batch; ++r)
        for (int64_t j = 0; j < GH; ++j) {
          const bool skip_rb = lbr && j >= 2 * H;
          xw[r * GH + j] += Bw[j] + (skip_rb ? T(0) : Br[j]);
        }
    }
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t k = 0; k < H; ++k) {
        h[b * H + k] = ctx.has_input(5) ? ctx.in(5).data<T>()[state_off(d, b) + k] : T(0);
        c[b * H + k] = cell == Cell::Lstm && ctx.has_input(6)
                           ? ctx.in(6).data<T>()[state_off(d, b) + k]
                           : T(0);
      }
    auto clipped = [&](T v) { return has_clip ? std::max(-clip, std::min(clip, v)) : v; };
    for (int64_t step = 0; step < seq; ++step) {
      const int64_t s = reverse ? seq - 1 - step : step;
      // hr = H_{t-1} * R^T for every batch row (GRU's h gate is recomputed below when
      // linear_before_reset = 0, since it multiplies r .* H_{t-1}).
      matmul_bt(h.data(), R, hr.data(), batch, H, GH);
      for (int64_t b = 0; b < batch; ++b) {
        if (s >= lens[b]) continue;
        const T* g_x = xw.data() + (s * batch + b) * GH;
        const T* g_h = hr.data() + b * GH;
        T* hb = h.data() + b * H;
        T* cb = c.data() + b * H;
        if (cell == Cell::Rnn) {
          for (int64_t k = 0; k < H; ++k) h_new[k] = act[0](clipped(g_x[k] + g_h[k]));
        } else if (cell == Cell::Gru) {
          // Gate order z, r, h.
          std::vector<T> z(H), rg(H), rh(H);
          for (int64_t k = 0; k < H; ++k) {
            z[k] = act[0](clipped(g_x[k] + g_h[k]));
            rg[k] = act[0](clipped(g_x[H + k] + g_h[H + k]));
            rh[k] = rg[k] * hb[k];
          }
          for (int64_t k = 0; k < H; ++k) {
            T pre;
            if (lbr) {
              const T rb = Br ? Br[2 * H + k] : T(0);
              pre = g_x[2 * H + k] + rg[k] * (g_h[2 * H + k] + rb);
            } else {
              const T* Rh = R + (2 * H + k) * H;
              T acc = 0;
              for (int64_t j = 0; j < H; ++j) acc += rh[j] * Rh[j];
              pre = g_x[2 * H + k] + acc;
            }
            const T hh = act[1](clipped(pre));
            h_new[k] = (T(1) - z[k]) * hh + z[k] * hb[k];
          }
        } else {
          // Gate order i, o, f, c; peepholes P = [Pi, Po, Pf].
          for (int64_t k = 0; k < H; ++k) {
            const T pi = P ? P[k] : T(0), po = P ? P[H + k] : T(0), pf = P ? P[2 * H + k] : T(0);
            const T ig = act[0](clipped(g_x[k] + g_h[k] + pi * cb[k]));
            const T fg = input_forget
                             ? T(1) - ig
                             : act[0](clipped(g_x[2 * H + k] + g_h[2 * H + k] + pf * cb[k]));
            const T cg = act[1](clipped(g_x[3 * H + k] + g_h[3 * H + k]));
            const T cn = fg * cb[k] + ig * cg;
            const T og = act[0](clipped(g_x[H + k] + g_h[H + k] + po * cn));
            cb[k] = cn;
            h_new[k] = og * act[2](cn);
          }
        }
        std::copy(h_new.begin(), h_new.end(), hb);
        if (Y) std::copy(h_new.begin(), h_new.end(), Y + y_off(s, d, b));
      }
    }
    for (int64_t b = 0; b < batch; ++b) {
      if (Yh) std::copy(h.begin() + b * H, h.begin() + (b + 1) * H, Yh + state_off(d, b));
      if (Yc) std::copy(c.begin() + b * H, c.begin() + (b + 1) * H, Yc + state_off(d, b));
    }
  }
  return Status::ok();
}

Status run_cell(KernelCtx& ctx, Cell cell) {
  switch (ctx.in(0).dtype()) {
    case DType::F32:
      return run_recurrent<float>(ctx, cell);
    case DType::F64:
      return run_recurrent<double>(ctx, cell);
    default:
      return ctx.fail("dtype {} is not supported", dtype_name(ctx.in(0).dtype()));
  }
}

}  // namespace

Status ref_RNN(KernelCtx& ctx) {
  return run_cell(ctx, Cell::Rnn);
}
Status ref_GRU(KernelCtx& ctx) {
  return run_cell(ctx, Cell::Gru);
}
Status ref_LSTM(KernelCtx& ctx) {
  return run_cell(ctx, Cell::Lstm);
}

}  // namespace condense
