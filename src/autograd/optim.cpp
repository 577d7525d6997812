// Optimizer: validation, per-parameter state, the step, and the state as named tensors. The
// update arithmetic lives in optim_update.cpp.
#include <condense/optim.h>

#include <cmath>
#include <cstring>
#include <set>

#include "autograd/optim_update.h"

namespace condense::train {

std::string_view optimizer_kind_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd:
      return "sgd";
    case OptimizerKind::Adam:
      return "adam";
    case OptimizerKind::AdamW:
      return "adamw";
  }
  return "?";
}

Result<OptimizerKind> parse_optimizer_kind(std::string_view name) {
  for (OptimizerKind k : {OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::AdamW})
    if (optimizer_kind_name(k) == name) return k;
  return Status::errorf("unknown optimizer '{}' (known: sgd, adam, adamw)", name);
}

namespace {

constexpr std::string_view kStatePrefix = "optimizer/";

Status check_options(const OptimizerOptions& o) {
  const std::string_view kind = optimizer_kind_name(o.kind);
  auto bad = [&](std::string_view what, double v, std::string_view want) {
    return Status::errorf("optimizer {}: {} must be {} (got {})", kind, what, want, v);
  };
  if (!(o.lr >= 0 && std::isfinite(o.lr))) return bad("lr", o.lr, ">= 0");
  const double wd = o.weight_decay.value_or(0);
  if (!(wd >= 0 && std::isfinite(wd))) return bad("weight decay", wd, ">= 0");
  if (o.kind == OptimizerKind::Sgd) {
    if (!(o.momentum >= 0 && std::isfinite(o.momentum))) return bad("momentum", o.momentum, ">= 0");
    if (!std::isfinite(o.dampening)) return bad("dampening", o.dampening, "finite");
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      return Status::errorf(
          "optimizer sgd: nesterov needs momentum > 0 and dampening 0 (got momentum {}, "
          "dampening {})",
          o.momentum, o.dampening);
  } else {
    if (!(o.beta1 >= 0 && o.beta1 < 1)) return bad("beta1", o.beta1, "in [0, 1)");
    if (!(o.beta2 >= 0 && o.beta2 < 1)) return bad("beta2", o.beta2, "in [0, 1)");
    if (!(o.eps >= 0 && std::isfinite(o.eps))) return bad("eps", o.eps, ">= 0");
  }
  return Status::ok();
}

Tensor zeros_like(const Tensor& t) {
  return Tensor::zeros(DType::F32, t.shape());
}

}  // namespace

Optimizer::Optimizer(OptimizerOptions options, std::vector<Parameter> params)
    : options_(std::move(options)), params_(std::move(params)), slots_(params_.size()) {}

Optimizer::~Optimizer() = default;

Result<std::unique_ptr<Optimizer>> Optimizer::create(const OptimizerOptions& options,
                                                     std::vector<Parameter> params) {
  CONDENSE_TRY(check_options(options));
  std::set<std::string> names;
  for (const Parameter& p : params) {
    if (!p.value.defined() || p.value.dtype() != DType::F32)
      return Status::errorf("optimizer {}: parameter '{}' must be a defined f32 tensor (got {})",
                            optimizer_kind_name(options.kind), p.name,
                            p.value.defined() ? dtype_name(p.value.dtype()) : "undefined");
    if (!names.insert(p.name).second)
      return Status::errorf("optimizer {}: parameter '{}' is listed twice",
                            optimizer_kind_name(options.kind), p.name);
  }
  OptimizerOptions o = options;
  if (!o.weight_decay) o.weight_decay = o.kind == OptimizerKind::AdamW ? 0.01 : 0.0;
  return std::unique_ptr<Optimizer>(new Optimizer(std::move(o), std::move(params)));
}

void Optimizer::set_momentum(double momentum) {
  if (options_.kind == OptimizerKind::Sgd)
    options_.momentum = momentum;
  else
    options_.beta1 = momentum;
}

double Optimizer::momentum() const {
  return options_.kind == OptimizerKind::Sgd ? options_.momentum : options_.beta1;
}

Status Optimizer::step(std::span<const Tensor> grads) {
  if (grads.size() != params_.size())
    return Status::errorf("optimizer {}: got {} gradients for {} parameters",
                          optimizer_kind_name(options_.kind), grads.size(), params_.size());
  // Validate everything before changing anything: a failed step leaves no parameter half-updated.
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined()) continue;
    if (g.dtype() != DType::F32 || g.shape() != params_[i].value.shape())
      return Status::errorf("optimizer {}: gradient of '{}' is {}{}, the parameter is f32{}",
                            optimizer_kind_name(options_.kind), params_[i].name,
                            dtype_name(g.dtype()), shape_str(g.shape()),
                            shape_str(params_[i].value.shape()));
  }
  CONDENSE_TRY(check_options(options_));  // set_lr / set_momentum may have changed them
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) CONDENSE_TRY(update(i, grads[i]));
  return Status::ok();
}

Status Optimizer::update(size_t i, const Tensor& grad) {
  Parameter& param = params_[i];
  Slots& s = slots_[i];
  const OptimizerOptions& o = options_;
  const double wd = param.weight_decay ? *o.weight_decay : 0.0;
  float* p = param.value.data<float>();
  const float* g = grad.data<float>();
  const int64_t n = param.value.numel();
  ++s.step;
  if (o.kind == OptimizerKind::Sgd) {
    detail::SgdHyper h;
    h.lr = static_cast<float>(o.lr);
    h.weight_decay = static_cast<float>(wd);
    h.momentum = static_cast<float>(o.momentum);
    h.one_minus_dampening = static_cast<float>(1 - o.dampening);
    h.nesterov = o.nesterov;
    float* buf = nullptr;
    if (o.momentum != 0) {
      h.init_buffer = !s.momentum_buffer.defined();
      if (h.init_buffer) s.momentum_buffer = Tensor::empty(DType::F32, param.value.shape());
      buf = s.momentum_buffer.data<float>();
    }
    detail::sgd_update(p, g, buf, n, h);
    return Status::ok();
  }
  if (!s.exp_avg.defined()) {
    s.exp_avg = zeros_like(param.value);
    s.exp_avg_sq = zeros_like(param.value);
  }
  if (o.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros_like(param.value);
  // Scalars in f64 as PyTorch computes them in Python, then cast to the tensor type.
  const double t = static_cast<double>(s.step);
  const double bias_correction1 = 1 - std::pow(o.beta1, t);
  const double bias_correction2 = 1 - std::pow(o.beta2, t);
  detail::AdamHyper h;
  h.beta1 = static_cast<float>(o.beta1);
  h.one_minus_beta1 = static_cast<float>(1 - o.beta1);
  h.beta2 = static_cast<float>(o.beta2);
  h.one_minus_beta2 = static_cast<float>(1 - o.beta2);
  h.eps = static_cast<float>(o.eps);
  h.neg_step_size = static_cast<float>(-(o.lr / bias_correction1));
  h.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  if (o.kind == OptimizerKind::AdamW)
    h.decay = static_cast<float>(1 - o.lr * wd);
  else
    h.weight_decay = static_cast<float>(wd);
  detail::adam_update(p, g, s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                      o.amsgrad ? s.max_exp_avg_sq.data<float>() : nullptr, n, h);
  return Status::ok();
}

std::vector<npy::NamedArray> Optimizer::state() const {
  std::vector<npy::NamedArray> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Slots& s = slots_[i];
    const std::string base = fmt::format("{}{}/", kStatePrefix, params_[i].name);
    auto add = [&](std::string_view slot, const Tensor& t) {
      if (t.defined()) out.push_back({base + std::string(slot), t.clone()});
    };
    if (options_.kind == OptimizerKind::Sgd) {
      add("momentum_buffer", s.momentum_buffer);
      continue;
    }
    out.push_back({base + "step", Tensor::scalar<int64_t>(s.step)});
    add("exp_avg", s.exp_avg);
    add("exp_avg_sq", s.exp_avg_sq);
    add("max_exp_avg_sq", s.max_exp_avg_sq);
  }
  return out;
}

Status Optimizer::load_state(std::span<const npy::NamedArray> arrays) {
  const std::string_view kind = optimizer_kind_name(options_.kind);
  const bool adam = options_.kind != OptimizerKind::Sgd;
  std::vector<Slots> loaded(params_.size());
  std::vector<bool> has_step(params_.size(), false);
  for (const npy::NamedArray& a : arrays) {
    std::string_view name = a.name;
    if (name.substr(0, kStatePrefix.size()) != kStatePrefix) continue;
    name.remove_prefix(kStatePrefix.size());
    const size_t slash = name.rfind('/');
    size_t i = params_.size();
    if (slash != std::string_view::npos)
      for (size_t k = 0; k < params_.size(); ++k)
        if (params_[k].name == name.substr(0, slash)) i = k;
    if (i == params_.size())
      return Status::errorf(
          "optimizer state '{}' names no parameter of this run (was the checkpoint written for "
          "another model or parameter selection?)",
          a.name);
    const std::string_view slot = name.substr(slash + 1);
    Slots& s = loaded[i];
    if (adam && slot == "step") {
      if (a.tensor.dtype() != DType::I64 || a.tensor.numel() != 1 || a.tensor.get_i64(0) < 0)
        return Status::errorf("optimizer state '{}' must be one non-negative int64", a.name);
      s.step = a.tensor.get_i64(0);
      has_step[i] = true;
      continue;
    }
    Tensor* dst = nullptr;
    if (!adam && slot == "momentum_buffer") dst = &s.momentum_buffer;
    if (adam && slot == "exp_avg") dst = &s.exp_avg;
    if (adam && slot == "exp_avg_sq") dst = &s.exp_avg_sq;
    if (adam && options_.amsgrad && slot == "max_exp_avg_sq") dst = &s.max_exp_avg_sq;
    if (!dst)
      return Status::errorf(
          "optimizer state '{}' is not used by this {} optimizer{} (was the checkpoint written "
          "with other optimizer options?)",
          a.name, kind, adam ? (options_.amsgrad ? " with amsgrad" : " without amsgrad") : "");
    const Tensor& value = params_[i].value;
    if (a.tensor.dtype() != DType::F32 || a.tensor.shape() != value.shape())
      return Status::errorf("optimizer state '{}' is {}{}, expected f32{}", a.name,
                            dtype_name(a.tensor.dtype()), shape_str(a.tensor.shape()),
                            shape_str(value.shape()));
    *dst = a.tensor.clone();
  }
  if (adam) {
    for (size_t i = 0; i < params_.size(); ++i) {
      const Slots& s = loaded[i];
      const std::string& name = params_[i].name;
      if (!has_step[i])
        return Status::errorf("optimizer state has no '{}{}/step'", kStatePrefix, name);
      const bool want = s.step > 0;
      const char* missing = nullptr;
      if (s.exp_avg.defined() != want) missing = "exp_avg";
      if (s.exp_avg_sq.defined() != want) missing = "exp_avg_sq";
      if (options_.amsgrad && s.max_exp_avg_sq.defined() != want) missing = "max_exp_avg_sq";
      if (missing)
        return Status::errorf("optimizer state '{}{}/{}' {} at step {}", kStatePrefix, name,
                              missing, want ? "is missing" : "is unexpected", s.step);
    }
  }
  slots_ = std::move(loaded);
  return Status::ok();
}

}  // namespace condense::train
