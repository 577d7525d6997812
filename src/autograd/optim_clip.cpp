// Gradient clipping by global L2 norm and by value.
#include <condense/optim.h>

#include <cmath>

namespace condense::train {

namespace {

// The sum of squares is taken over blocks of this many elements, each in f64 by one thread,
// then the block sums in order: the same result for every thread count.
constexpr int64_t kBlock = 1 << 14;

struct Block {
  const float* data;
  int64_t n;
};

double sum_of_squares(std::span<const Tensor> grads) {
  std::vector<Block> blocks;
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    const float* p = g.data<float>();
    for (int64_t off = 0; off < g.numel(); off += kBlock)
      blocks.push_back({p + off, std::min(kBlock, g.numel() - off)});
  }
  std::vector<double> partial(blocks.size());
  const int64_t nb = static_cast<int64_t>(blocks.size());
#pragma omp parallel for schedule(static) if (nb > 1)
  for (int64_t b = 0; b < nb; ++b) {
    const float* p = blocks[b].data;
    const int64_t n = blocks[b].n;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
    partial[b] = s;
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

std::string grad_name(size_t i, std::span<const Parameter> params) {
  return i < params.size() ? fmt::format("'{}'", params[i].name) : fmt::format("#{}", i);
}

Status check_f32(std::span<const Tensor> grads, std::span<const Parameter> params) {
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && grads[i].dtype() != DType::F32)
      return Status::errorf("gradient {} is {}, expected f32", grad_name(i, params),
                            dtype_name(grads[i].dtype()));
  return Status::ok();
}

}  // namespace

Result<double> clip_grad_norm(std::span<Tensor> grads, double max_norm,
                              std::span<const Parameter> params) {
  if (!(max_norm > 0)) return Status::errorf("max gradient norm must be > 0 (got {})", max_norm);
  CONDENSE_TRY(check_f32(grads, params));
  const double norm = std::sqrt(sum_of_squares(grads));
  if (!std::isfinite(norm)) {
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      const float* p = grads[i].data<float>();
      for (int64_t k = 0; k < grads[i].numel(); ++k)
        if (!std::isfinite(p[k]))
          return Status::errorf(
              "the gradient norm is not finite: the gradient of {} holds {} (the loss diverged; "
              "a lower learning rate or gradient clipping may help)",
              grad_name(i, params), p[k]);
    }
    return Status::errorf("the gradient norm is not finite ({}): the sum of squares overflowed",
                          norm);
  }
  // PyTorch: coef = max_norm / (norm + 1e-6), clamped to 1, multiplied in f32.
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1) {
    const float c = static_cast<float>(coef);
    for (Tensor& g : grads) {
      if (!g.defined()) continue;
      float* p = g.data<float>();
      const int64_t n = g.numel();
#pragma omp parallel for simd schedule(static) if (n >= kBlock)
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] * c;
    }
  }
  return norm;
}

Status clip_grad_value(std::span<Tensor> grads, double clip_value) {
  if (!(clip_value > 0 && std::isfinite(clip_value)))
    return Status::errorf("gradient clip value must be > 0 (got {})", clip_value);
  CONDENSE_TRY(check_f32(grads, {}));
  const float hi = static_cast<float>(clip_value), lo = -hi;
  for (Tensor& g : grads) {
    if (!g.defined()) continue;
    float* p = g.data<float>();
    const int64_t n = g.numel();
#pragma omp parallel for simd schedule(static) if (n >= kBlock)
    for (int64_t i = 0; i < n; ++i) {
      const float x = p[i];
      p[i] = x > hi ? hi : (x < lo ? lo : x);  // NaN compares false: stays NaN
    }
  }
  return Status::ok();
}

}  // namespace condense::train
