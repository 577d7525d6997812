// Compiled with -fno-math-errno (CMakeLists.txt) so that sqrt vectorizes. Each loop is
// instantiated per combination of its flags, so the loop bodies carry no branches.
#include "autograd/optim_update.h"

#include <cmath>
#include <type_traits>

namespace condense::train::detail {

namespace {

// Below this many elements a parameter is updated by one thread (the fork costs more).
constexpr int64_t kParallelMin = 1 << 15;

// Calls f(std::true_type{}) or f(std::false_type{}).
template <typename F>
void with_flag(bool b, F&& f) {
  if (b)
    f(std::true_type{});
  else
    f(std::false_type{});
}

template <bool kDecay, bool kMomentum, bool kInit, bool kNesterov>
void sgd_loop(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t n,
              float lr, float wd, float mu, float damp) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if constexpr (kDecay) d = d + wd * p[i];
    if constexpr (kMomentum) {
      float b;
      if constexpr (kInit)
        b = d;
      else
        b = buf[i] * mu + damp * d;
      buf[i] = b;
      if constexpr (kNesterov)
        d = d + mu * b;
      else
        d = b;
    }
    p[i] = p[i] + (-lr) * d;
  }
}

template <bool kL2, bool kDecoupled, bool kAmsgrad>
void adam_loop(float* __restrict p, const float* __restrict g, float* __restrict m,
               float* __restrict v, float* __restrict vmax, int64_t n, const AdamHyper h) {
  const float b1 = h.beta1, omb1 = h.one_minus_beta1, b2 = h.beta2, omb2 = h.one_minus_beta2;
  const float wd = h.weight_decay, decay = h.decay, step = h.neg_step_size;
  const float bc2 = h.bias_correction2_sqrt, eps = h.eps;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i];
    if constexpr (kDecoupled) pi = pi * decay;
    float gi = g[i];
    if constexpr (kL2) gi = gi + wd * pi;
    const float mi = m[i] * b1 + omb1 * gi;
    const float vi = v[i] * b2 + omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if constexpr (kAmsgrad) {
      vv = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vv;
    }
    const float denom = std::sqrt(vv) / bc2 + eps;
    p[i] = pi + step * mi / denom;
  }
}

}  // namespace

void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  with_flag(h.weight_decay != 0, [&](auto decay) {
    with_flag(buf != nullptr, [&](auto momentum) {
      with_flag(h.init_buffer, [&](auto init) {
        with_flag(h.nesterov, [&](auto nesterov) {
          sgd_loop<decay.value, momentum.value, init.value, nesterov.value>(
              p, g, buf, n, h.lr, h.weight_decay, h.momentum, h.one_minus_dampening);
        });
      });
    });
  });
}

void adam_update(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
                 const AdamHyper& h) {
  with_flag(h.weight_decay != 0, [&](auto l2) {
    with_flag(h.decay != 1, [&](auto decoupled) {
      with_flag(vmax != nullptr, [&](auto amsgrad) {
        adam_loop<l2.value, decoupled.value, amsgrad.value>(p, g, m, v, vmax, n, h);
      });
    });
  });
}

}  // namespace condense::train::detail
