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

}  // namespace

void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h) {
  const float lr = h.lr, wd = h.weight_decay, mu = h.momentum, damp = h.one_minus_dampening;
  with_flag(wd != 0, [&](auto decay) {
    with_flag(buf != nullptr, [&](auto momentum) {
      with_flag(h.init_buffer, [&](auto init) {
        with_flag(h.nesterov, [&](auto nesterov) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
          for (int64_t i = 0; i < n; ++i) {
            float d = g[i];
            if constexpr (decay.value) d = d + wd * p[i];
            if constexpr (momentum.value) {
              float b;
              if constexpr (init.value)
                b = d;
              else
                b = buf[i] * mu + damp * d;
              buf[i] = b;
              if constexpr (nesterov.value)
                d = d + mu * b;
              else
                d = b;
            }
            p[i] = p[i] + (-lr) * d;
          }
        });
      });
    });
  });
}

void adam_update(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
                 const AdamHyper& h) {
  const float b1 = h.beta1, omb1 = h.one_minus_beta1, b2 = h.beta2, omb2 = h.one_minus_beta2;
  const float wd = h.weight_decay, decay_factor = h.decay, step = h.neg_step_size;
  const float bc2 = h.bias_correction2_sqrt, eps = h.eps;
  with_flag(wd != 0, [&](auto l2) {
    with_flag(decay_factor != 1, [&](auto decoupled) {
      with_flag(vmax != nullptr, [&](auto amsgrad) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
        for (int64_t i = 0; i < n; ++i) {
          float pi = p[i];
          if constexpr (decoupled.value) pi = pi * decay_factor;
          float gi = g[i];
          if constexpr (l2.value) gi = gi + wd * pi;
          const float mi = m[i] * b1 + omb1 * gi;
          const float vi = v[i] * b2 + omb2 * gi * gi;
          m[i] = mi;
          v[i] = vi;
          float vv = vi;
          if constexpr (amsgrad.value) {
            vv = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vv;
          }
          const float denom = std::sqrt(vv) / bc2 + eps;
          p[i] = pi + step * mi / denom;
        }
      });
    });
  });
}

}  // namespace condense::train::detail
