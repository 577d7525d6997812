// The optimizers' fused element-wise update loops over one f32 parameter (OpenMP-parallel above
// a size threshold, vectorized). Hyperparameters arrive as f32, as PyTorch casts its Python-float
// scalars to the tensor's type; each loop does PyTorch's operations in PyTorch's order.
#pragma once

#include <cstdint>

namespace condense::train::detail {

struct SgdHyper {
  float lr = 0;
  float weight_decay = 0;  // coupled: g + wd p
  float momentum = 0;      // 0: no buffer
  float one_minus_dampening = 1;
  bool nesterov = false;
  bool init_buffer = false;  // first step with momentum: buffer = g (PyTorch's clone)
};

// p, g: n elements; buf: n elements, or null when momentum is 0.
void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h);

struct AdamHyper {
  float beta1 = 0.9f, one_minus_beta1 = 0.1f;
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float weight_decay = 0;           // Adam: coupled L2, g + wd p
  float decay = 1;                  // AdamW: p * (1 - lr wd) before the update; 1 for Adam
  float neg_step_size = 0;          // -lr / (1 - beta1^t)
  float bias_correction2_sqrt = 1;  // sqrt(1 - beta2^t)
  float eps = 1e-8f;
};

// m, v: the moments; vmax: the running max of v (amsgrad), or null.
void adam_update(float* p, const float* g, float* m, float* v, float* vmax, int64_t n,
                 const AdamHyper& h);

}  // namespace condense::train::detail
