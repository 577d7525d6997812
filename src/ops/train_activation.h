// ActivationGrad (include/condense/ops/train.inc): the derivative of an elementwise activation,
// dX = dY * f'(.), evaluated from the tensor T the rule saved from the forward pass. Which tensor
// T is, per kind (the rule in src/ops/elementwise_grad.cpp must pass that one):
//   Relu: X or Y (same sign)      LeakyRelu(alpha): X      Clip(alpha = min, beta = max): X
//   Sigmoid: Y                    Tanh: Y                  Gelu, GeluTanh, Erf: X
//   HardSigmoid(alpha, beta): X   HardSwish: X             Softplus: X       Elu(alpha): X
// Kinks take the one-sided derivative PyTorch takes: Relu'(0) = 0, Clip passes min <= x <= max.
#pragma once

#include <cmath>
#include <optional>
#include <string_view>

namespace condense {

enum class GradAct {
  Relu,
  LeakyRelu,
  Clip,
  Sigmoid,
  Tanh,
  Gelu,
  GeluTanh,
  Erf,
  HardSigmoid,
  HardSwish,
  Softplus,
  Elu
};

inline std::optional<GradAct> grad_act_from_name(std::string_view s) {
  constexpr std::pair<std::string_view, GradAct> kNames[] = {{"Relu", GradAct::Relu},
                                                             {"LeakyRelu", GradAct::LeakyRelu},
                                                             {"Clip", GradAct::Clip},
                                                             {"Sigmoid", GradAct::Sigmoid},
                                                             {"Tanh", GradAct::Tanh},
                                                             {"Gelu", GradAct::Gelu},
                                                             {"GeluTanh", GradAct::GeluTanh},
                                                             {"Erf", GradAct::Erf},
                                                             {"HardSigmoid", GradAct::HardSigmoid},
                                                             {"HardSwish", GradAct::HardSwish},
                                                             {"Softplus", GradAct::Softplus},
                                                             {"Elu", GradAct::Elu}};
  for (const auto& [name, kind] : kNames)
    if (name == s) return kind;
  return std::nullopt;
}

// f'(.) at the saved tensor value t (see the table above for what t is).
template <typename T>
inline T activation_derivative(GradAct kind, T alpha, T beta, T t) {
  switch (kind) {
    case GradAct::Relu:
      return t > T(0) ? T(1) : T(0);
    case GradAct::LeakyRelu:
      return t >= T(0) ? T(1) : alpha;
    case GradAct::Clip:
      return t >= alpha && t <= beta ? T(1) : T(0);
    case GradAct::Sigmoid:
      return t * (T(1) - t);
    case GradAct::Tanh:
      return T(1) - t * t;
    case GradAct::Gelu: {
      // d/dx x * Phi(x) = Phi(x) + x * phi(x).
      const T cdf = T(0.5) * (T(1) + std::erf(t / std::sqrt(T(2))));
      const T pdf = std::exp(T(-0.5) * t * t) / std::sqrt(T(2) * T(M_PI));
      return cdf + t * pdf;
    }
    case GradAct::GeluTanh: {
      const T c = std::sqrt(T(2) / T(M_PI)), k = T(0.044715);
      const T th = std::tanh(c * (t + k * t * t * t));
      return T(0.5) * (T(1) + th) + T(0.5) * t * (T(1) - th * th) * c * (T(1) + T(3) * k * t * t);
    }
    case GradAct::Erf:
      return T(2) / std::sqrt(T(M_PI)) * std::exp(-t * t);
    case GradAct::HardSigmoid: {
      const T v = alpha * t + beta;
      return v > T(0) && v < T(1) ? alpha : T(0);
    }
    case GradAct::HardSwish:  // x * HardSigmoid(x; 1/6, 1/2)
      return t < T(-3) ? T(0) : (t > T(3) ? T(1) : (T(2) * t + T(3)) / T(6));
    case GradAct::Softplus:  // the logistic sigmoid
      return T(1) / (T(1) + std::exp(-t));
    case GradAct::Elu:
      return t > T(0) ? T(1) : alpha * std::exp(t);
  }
  return T(0);
}

}  // namespace condense
