// Fused activations: the fuse_activation pass folds an activation node into the Conv / Gemm /
// MatMul that produces its input, as internal attributes on the producer:
//   "_activation"       string: Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, Gelu, GeluTanh
//   "_activation_alpha" float:  LeakyRelu alpha, Clip min, HardSigmoid alpha
//   "_activation_beta"  float:  Clip max, HardSigmoid beta
// Kernels (reference and oneDNN) apply it after computing; the exporter writes it back as a node.
#pragma once

#include <condense/ir.h>

#include <cmath>
#include <optional>
#include <string_view>

namespace condense {

enum class FusedAct { None, Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, Gelu, GeluTanh };

struct FusedActivation {
  FusedAct kind = FusedAct::None;
  float alpha = 0, beta = 0;
};

inline std::optional<FusedAct> fused_act_from_name(std::string_view s) {
  if (s == "Relu") return FusedAct::Relu;
  if (s == "LeakyRelu") return FusedAct::LeakyRelu;
  if (s == "Clip") return FusedAct::Clip;
  if (s == "Sigmoid") return FusedAct::Sigmoid;
  if (s == "Tanh") return FusedAct::Tanh;
  if (s == "HardSigmoid") return FusedAct::HardSigmoid;
  if (s == "Gelu") return FusedAct::Gelu;
  if (s == "GeluTanh") return FusedAct::GeluTanh;
  return std::nullopt;
}

// The node's fused activation; nullopt when "_activation" names an unknown activation.
inline std::optional<FusedActivation> fused_activation(const ir::Node& n) {
  FusedActivation a;
  const ir::Attribute* at = n.attr("_activation");
  if (!at) return a;
  auto k = fused_act_from_name(at->s);
  if (!k) return std::nullopt;
  a.kind = *k;
  a.alpha = n.attr_float("_activation_alpha", 0.f);
  a.beta = n.attr_float("_activation_beta", 0.f);
  return a;
}

template <typename T>
inline T apply_fused_activation(const FusedActivation& a, T x) {
  switch (a.kind) {
    case FusedAct::None:
      return x;
    case FusedAct::Relu:
      return x > T(0) ? x : T(0);
    case FusedAct::LeakyRelu:
      return x >= T(0) ? x : x * T(a.alpha);
    case FusedAct::Clip:
      return x < T(a.alpha) ? T(a.alpha) : (x > T(a.beta) ? T(a.beta) : x);
    case FusedAct::Sigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case FusedAct::Tanh:
      return std::tanh(x);
    case FusedAct::HardSigmoid: {
      T v = T(a.alpha) * x + T(a.beta);
      return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
    }
    case FusedAct::Gelu:
      return T(0.5) * x * (T(1) + std::erf(x / std::sqrt(T(2))));
    case FusedAct::GeluTanh: {
      const T c = std::sqrt(T(2) / T(M_PI));
      return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
    }
  }
  return x;
}

}  // namespace condense
