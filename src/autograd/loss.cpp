// Loss graph builders (see include/condense/loss.h for the formulas). Only ops with gradient
// rules appear on the path from `output` (and a soft `target`) to the loss; Less builds a Where
// condition, which carries no gradient.
#include <condense/loss.h>

#include <algorithm>
#include <cmath>

namespace condense::train {

std::string_view loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::CrossEntropy:
      return "cross_entropy";
    case LossKind::Nll:
      return "nll";
    case LossKind::Mse:
      return "mse";
    case LossKind::L1:
      return "l1";
    case LossKind::SmoothL1:
      return "smooth_l1";
    case LossKind::KlDiv:
      return "kl_div";
    case LossKind::Cosine:
      return "cosine";
  }
  return "?";
}

std::string_view reduction_name(Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
    case Reduction::BatchMean:
      return "batchmean";
    case Reduction::None:
      return "none";
  }
  return "?";
}

namespace {

// Static dimensions must agree; a symbolic dimension fits anything.
bool dims_fit(const ir::Dims& a, const ir::Dims& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].is_static() && b[i].is_static() && a[i].value != b[i].value) return false;
  return true;
}

bool is_integer_label_type(DType t) {
  return t == DType::I64 || t == DType::I32;
}

// Appends the nodes of one loss, named "<prefix>/<step>", with dtype and dims on every value.
class LossBuilder {
 public:
  LossBuilder(ir::Graph& g, std::string prefix, DType dtype)
      : g_(g), prefix_(std::move(prefix)), dtype_(dtype) {}

  DType dtype() const { return dtype_; }
  const std::string& prefix() const { return prefix_; }

  ir::Node* node(OpKind op, std::vector<ir::Value*> inputs, std::string_view step, ir::Dims dims,
                 DType dtype) {
    ir::Node* n = g_.add_node(op, std::move(inputs), 1, unique(step));
    ir::Value* y = n->outputs[0];
    y->dtype = dtype;
    y->has_shape = true;
    y->dims = std::move(dims);
    return n;
  }
  // An element-wise op whose operands have one shape or are scalars: the result has that shape.
  ir::Value* same(OpKind op, std::vector<ir::Value*> inputs, std::string_view step) {
    ir::Dims dims;
    for (const ir::Value* v : inputs)
      if (v->dims.size() > dims.size()) dims = v->dims;
    return node(op, std::move(inputs), step, std::move(dims), dtype_)->outputs[0];
  }
  ir::Value* scalar(double v) {
    Tensor t = dtype_ == DType::F64 ? Tensor::scalar<double>(v)
                                    : Tensor::scalar<float>(static_cast<float>(v));
    return g_.add_constant(unique("const"), std::move(t));
  }
  ir::Value* mul_scalar(ir::Value* x, double c, std::string_view step) {
    return same(OpKind::Mul, {x, scalar(c)}, step);
  }
  // Softmax-family op over `axis`.
  ir::Value* softmax(OpKind op, ir::Value* x, int64_t axis, std::string_view step) {
    ir::Node* n = node(op, {x}, step, x->dims, dtype_);
    n->attrs["axis"] = ir::Attribute::of_int(axis);
    return n->outputs[0];
  }
  // Reduce* over `axes` (normalized; empty: all), keepdims 0.
  ir::Value* reduce(OpKind op, ir::Value* x, std::vector<int64_t> axes, std::string_view step) {
    ir::Dims dims;
    std::vector<ir::Value*> inputs{x};
    if (!axes.empty()) {
      for (size_t d = 0; d < x->dims.size(); ++d)
        if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) == axes.end())
          dims.push_back(x->dims[d]);
      const int64_t n = static_cast<int64_t>(axes.size());
      inputs.push_back(g_.add_constant(unique("axes"), Tensor::from_vector(axes, {n})));
    }
    ir::Node* node_ = node(op, std::move(inputs), step, std::move(dims), dtype_);
    node_->attrs["keepdims"] = ir::Attribute::of_int(0);
    return node_->outputs[0];
  }

 private:
  std::string unique(std::string_view step) {
    std::string name = prefix_ + "/" + std::string(step);
    return g_.find_value(name) ? g_.fresh_name(name) : name;
  }

  ir::Graph& g_;
  std::string prefix_;
  DType dtype_;
};

// Everything build_loss needs about one call.
struct Call {
  const LossSpec& spec;
  ir::Value* output;
  ir::Value* target;
  Reduction reduction;
  int64_t rank;

  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::errorf("loss '{}': {}", loss_kind_name(spec.kind),
                          fmt::format(f, std::forward<Args>(args)...));
  }
  std::string target_shape() const {
    return target->has_shape ? ir::dims_str(target->dims) : "unknown";
  }
  std::string output_shape() const { return ir::dims_str(output->dims); }

  // Element-wise losses: a float target of the output's dtype and shape.
  Status check_same_shape() const {
    if (target->dtype != output->dtype)
      return fail("target '{}' has dtype {}, output '{}' has {}", target->name,
                  dtype_name(target->dtype), output->name, dtype_name(output->dtype));
    if (target->has_shape && !dims_fit(target->dims, output->dims))
      return fail("target shape {} does not fit output shape {}", target_shape(), output_shape());
    return Status::ok();
  }
  // Class labels (N, d1, ...) for an output (N, C, d1, ...).
  Status check_labels() const {
    if (!is_integer_label_type(target->dtype))
      return fail("class labels '{}' must be int64 or int32 (got {})", target->name,
                  dtype_name(target->dtype));
    if (!target->has_shape) return Status::ok();
    ir::Dims want = output->dims;
    want.erase(want.begin() + 1);
    if (!dims_fit(target->dims, want))
      return fail("target shape {} does not fit output shape {} (class labels need shape {})",
                  target_shape(), output_shape(), ir::dims_str(want));
    return Status::ok();
  }
  Status need_rank(int64_t min_rank, std::string_view layout) const {
    if (rank < min_rank)
      return fail("output '{}' has shape {}; this loss needs {}", output->name, output_shape(),
                  layout);
    return Status::ok();
  }
};

// Applies the reduction to a per-element loss.
Result<ir::Value*> reduce(LossBuilder& b, const Call& c, ir::Value* per) {
  const size_t rank = per->dims.size();
  switch (c.reduction) {
    case Reduction::None:
      return per;
    case Reduction::Mean:
      return b.reduce(OpKind::ReduceMean, per, {}, "mean");
    case Reduction::Sum:
      return b.reduce(OpKind::ReduceSum, per, {}, "sum");
    case Reduction::BatchMean: {
      if (rank == 0) return c.fail("batchmean needs a batch dimension (the loss is a scalar)");
      if (rank > 1) {
        std::vector<int64_t> rest;
        for (size_t d = 1; d < rank; ++d) rest.push_back(static_cast<int64_t>(d));
        per = b.reduce(OpKind::ReduceSum, per, rest, "sum_per_sample");
      }
      return b.reduce(OpKind::ReduceMean, per, {}, "batchmean");
    }
  }
  return c.fail("unknown reduction");
}

// (N, C, d...) logits -> (N, d...) per-sample cross-entropy.
Result<ir::Value*> cross_entropy(LossBuilder& b, const Call& c) {
  CONDENSE_TRY(c.need_rank(2, "(N, C, ...) logits"));
  const double eps = c.spec.label_smoothing;
  if (!(eps >= 0 && eps <= 1)) return c.fail("label smoothing must be in [0, 1] (got {})", eps);
  const bool soft = dtype_is_float(c.target->dtype);
  if (soft && c.target->has_shape && static_cast<int64_t>(c.target->dims.size()) == c.rank - 1)
    return c.fail(
        "class labels '{}' must be int64 or int32 (got {}); class probabilities need the output's "
        "shape {}",
        c.target->name, dtype_name(c.target->dtype), c.output_shape());
  if (soft)
    CONDENSE_TRY(c.check_same_shape());
  else
    CONDENSE_TRY(c.check_labels());
  ir::Dims per_dims = c.output->dims;
  per_dims.erase(per_dims.begin() + 1);
  if (!soft && eps == 0) {
    // The fused op: its gradient is softmax - onehot in one step.
    ir::Node* n =
        b.node(OpKind::SoftmaxCrossEntropyLoss, {c.output, c.target}, "ce", per_dims, b.dtype());
    n->attrs["reduction"] = ir::Attribute::of_string("none");
    return n->outputs[0];
  }
  ir::Value* logp = b.softmax(OpKind::LogSoftmax, c.output, 1, "log_softmax");
  ir::Value* nll;
  if (soft) {
    ir::Value* tlogp = b.same(OpKind::Mul, {c.target, logp}, "target_logp");
    nll = b.same(OpKind::Neg, {b.reduce(OpKind::ReduceSum, tlogp, {1}, "sum_target_logp")}, "nll");
  } else {
    ir::Node* n =
        b.node(OpKind::NegativeLogLikelihoodLoss, {logp, c.target}, "nll", per_dims, b.dtype());
    n->attrs["reduction"] = ir::Attribute::of_string("none");
    nll = n->outputs[0];
  }
  if (eps == 0) return nll;
  ir::Value* smooth =
      b.same(OpKind::Neg, {b.reduce(OpKind::ReduceMean, logp, {1}, "mean_logp")}, "smooth");
  return b.same(
      OpKind::Add,
      {b.mul_scalar(nll, 1 - eps, "nll_weighted"), b.mul_scalar(smooth, eps, "smooth_weighted")},
      "smoothed");
}

Result<ir::Value*> nll(LossBuilder& b, const Call& c) {
  CONDENSE_TRY(c.need_rank(2, "(N, C, ...) log-probabilities"));
  CONDENSE_TRY(c.check_labels());
  ir::Dims per_dims = c.output->dims;
  per_dims.erase(per_dims.begin() + 1);
  ir::Node* n =
      b.node(OpKind::NegativeLogLikelihoodLoss, {c.output, c.target}, "nll", per_dims, b.dtype());
  n->attrs["reduction"] = ir::Attribute::of_string("none");
  return n->outputs[0];
}

Result<ir::Value*> regression(LossBuilder& b, const Call& c) {
  CONDENSE_TRY(c.check_same_shape());
  ir::Value* d = b.same(OpKind::Sub, {c.output, c.target}, "diff");
  switch (c.spec.kind) {
    case LossKind::Mse:
      return b.same(OpKind::Mul, {d, d}, "squared");
    case LossKind::L1:
      return b.same(OpKind::Abs, {d}, "abs");
    default:
      break;
  }
  const double beta = c.spec.beta;
  if (!(beta >= 0 && std::isfinite(beta))) return c.fail("beta must be >= 0 (got {})", beta);
  ir::Value* a = b.same(OpKind::Abs, {d}, "abs");
  if (beta == 0) return a;
  ir::Value* quad = b.mul_scalar(b.same(OpKind::Mul, {d, d}, "squared"), 0.5 / beta, "quadratic");
  ir::Value* lin = b.same(OpKind::Sub, {a, b.scalar(0.5 * beta)}, "linear");
  ir::Value* inside =
      b.node(OpKind::Less, {a, b.scalar(beta)}, "inside", a->dims, DType::Bool)->outputs[0];
  return b.same(OpKind::Where, {inside, quad, lin}, "smooth_l1");
}

// Per-element T^2-free KL(p_t || p_s); the T^2 factor is applied after the reduction.
Result<ir::Value*> kl_div(LossBuilder& b, const Call& c) {
  CONDENSE_TRY(c.need_rank(2, "(N, C, ...) logits"));
  CONDENSE_TRY(c.check_same_shape());
  const double t = c.spec.temperature;
  if (!(t > 0 && std::isfinite(t))) return c.fail("temperature must be > 0 (got {})", t);
  ir::Value* s = c.output;
  ir::Value* te = c.target;
  if (t != 1) {
    s = b.same(OpKind::Div, {s, b.scalar(t)}, "student_scaled");
    te = b.same(OpKind::Div, {te, b.scalar(t)}, "teacher_scaled");
  }
  ir::Value* ls = b.softmax(OpKind::LogSoftmax, s, 1, "student_logp");
  ir::Value* lt = b.softmax(OpKind::LogSoftmax, te, 1, "teacher_logp");
  ir::Value* pt = b.same(OpKind::Exp, {lt}, "teacher_p");
  ir::Value* ratio = b.same(OpKind::Sub, {lt, ls}, "log_ratio");
  return b.same(OpKind::Mul, {pt, ratio}, "kl");
}

Result<ir::Value*> cosine(LossBuilder& b, const Call& c) {
  CONDENSE_TRY(c.need_rank(1, "rank >= 1"));
  CONDENSE_TRY(c.check_same_shape());
  int64_t axis = c.spec.axis < 0 ? c.spec.axis + c.rank : c.spec.axis;
  if (axis < 0 || axis >= c.rank)
    return c.fail("axis {} is out of range for output shape {}", c.spec.axis, c.output_shape());
  const double eps = c.spec.eps;
  if (!(eps > 0 && std::isfinite(eps))) return c.fail("eps must be > 0 (got {})", eps);
  auto sum = [&](ir::Value* x, ir::Value* y, std::string_view step) {
    return b.reduce(OpKind::ReduceSum, b.same(OpKind::Mul, {x, y}, std::string(step) + "_terms"),
                    {axis}, step);
  };
  // max(|x|, eps) = sqrt(max(|x|^2, eps^2))
  auto norm = [&](ir::Value* x, std::string_view step) {
    ir::Value* sq = sum(x, x, std::string(step) + "_squared");
    return b.same(OpKind::Sqrt, {b.same(OpKind::Max, {sq, b.scalar(eps * eps)}, "clamped")}, step);
  };
  ir::Value* dot = sum(c.output, c.target, "dot");
  ir::Value* denom =
      b.same(OpKind::Mul, {norm(c.output, "output_norm"), norm(c.target, "target_norm")}, "denom");
  ir::Value* cos = b.same(OpKind::Div, {dot, denom}, "cos");
  return b.same(OpKind::Sub, {b.scalar(1), cos}, "one_minus_cos");
}

}  // namespace

Result<ir::Value*> build_loss(ir::Graph& g, const LossSpec& spec, ir::Value* output,
                              ir::Value* target) {
  const std::string kind(loss_kind_name(spec.kind));
  if (!output || !target) return Status::errorf("loss '{}': output and target must be given", kind);
  if (output->dtype != DType::F32 && output->dtype != DType::F64)
    return Status::errorf("loss '{}': output '{}' has dtype {}; losses take f32 or f64", kind,
                          output->name, dtype_name(output->dtype));
  if (!output->has_shape)
    return Status::errorf("loss '{}': output '{}' has no known shape (losses need its rank)", kind,
                          output->name);
  std::string prefix = spec.name;
  if (prefix.empty()) {
    prefix = "loss_" + kind;
    if (g.find_value(prefix)) prefix = g.fresh_name(prefix);
  } else if (g.find_value(prefix)) {
    return Status::errorf("loss '{}': the name '{}' is already used in the graph", kind, prefix);
  }
  const Reduction red = spec.reduction.value_or(spec.kind == LossKind::KlDiv ? Reduction::BatchMean
                                                                             : Reduction::Mean);
  Call c{spec, output, target, red, static_cast<int64_t>(output->dims.size())};
  LossBuilder b(g, prefix, output->dtype);

  Result<ir::Value*> per = Status::error("unset");
  switch (spec.kind) {
    case LossKind::CrossEntropy:
      per = cross_entropy(b, c);
      break;
    case LossKind::Nll:
      per = nll(b, c);
      break;
    case LossKind::Mse:
    case LossKind::L1:
    case LossKind::SmoothL1:
      per = regression(b, c);
      break;
    case LossKind::KlDiv:
      per = kl_div(b, c);
      break;
    case LossKind::Cosine:
      per = cosine(b, c);
      break;
  }
  if (!per) return per.status();
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * loss, reduce(b, c, *per));
  if (spec.kind == LossKind::KlDiv && spec.temperature != 1)
    loss = b.mul_scalar(loss, spec.temperature * spec.temperature, "times_t_squared");
  loss->name = prefix;
  return loss;
}

}  // namespace condense::train
