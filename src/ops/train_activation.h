// ActivationGrad (include/condense/ops/train.inc): the derivative of an elementwise activation,
// dX = dY * f'(.), evaluated from the tensor T the rule saved from the forward pass. Which tensor
// T is, per kind (the rule in src/ops/elementwise_grad.cpp must pass that one):
//   Relu: X or Y (same sign)      LeakyRelu(alpha): X      Clip(alpha = min, beta = max): X
//   Sigmoid: Y                    Tanh: Y                  Gelu, GeluTanh, Erf: X
//   HardSigmoid(alpha, beta): X   HardSwish: X             Softplus: X       Elu(alpha): X
//   Selu(alpha, beta = gamma): X  Celu(alpha): X           Softsign: X       Mish: X
//   Swish(alpha): X               ThresholdedRelu(alpha): X
// Kinks take the one-sided derivative PyTorch takes: Relu'(0) = 0, Clip passes min <= x <= max.
#pragma once

#include <cmath>
#include <optional>
#include <string_view>

namespace condense {

// The kinds, one list: the enum and the name lookup come from it.
#define CONDENSE_GRAD_ACTS(X)                                                             \
  X(Relu) X(LeakyRelu) X(Clip) X(Sigmoid) X(Tanh) X(Gelu) X(GeluTanh) X(Erf) X(HardSigmoid) \
  X(HardSwish) X(Softplus) X(Elu) X(Selu) X(Celu) X(Softsign) X(Mish) X(Swish)             \
  X(ThresholdedRelu)

enum class GradAct {
#define CONDENSE_X(name) name,
  CONDENSE_GRAD_ACTS(CONDENSE_X)
#undef CONDENSE_X
};

inline std::optional<GradAct> grad_act_from_name(std::string_view s) {
#define CONDENSE_X(name) \
  if (s == #name) return GradAct::name;
  CONDENSE_GRAD_ACTS(CONDENSE_X)
#undef CONDENSE_X
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
    case GradAct::Selu:  // beta is gamma
      return t > T(0) ? beta : beta * alpha * std::exp(t);
    case GradAct::Celu:
      return t > T(0) ? T(1) : std::exp(t / alpha);
    case GradAct::Softsign: {
      const T d = T(1) + std::abs(t);
      return T(1) / (d * d);
    }
    case GradAct::Mish: {  // tanh(sp) + x * sigmoid(x) * (1 - tanh(sp)^2), sp = softplus(x)
      const T sp = t > T(20) ? t : std::log1p(std::exp(t));
      const T th = std::tanh(sp), s = T(1) / (T(1) + std::exp(-t));
      return th + t * s * (T(1) - th * th);
    }
    case GradAct::Swish: {  // s + alpha x s (1 - s), s = sigmoid(alpha x)
      const T s = T(1) / (T(1) + std::exp(-alpha * t));
      return s + alpha * t * s * (T(1) - s);
    }
    case GradAct::ThresholdedRelu:
      return t > alpha ? T(1) : T(0);
  }
  return T(0);
}

}  // namespace condense
