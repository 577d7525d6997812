// Trainer: the training graph (model + loss + backward) in one Session, plus the optimizer step.
#include <condense/autograd.h>
#include <condense/ir_clone.h>
#include <condense/trainer.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <regex>

#include "train/model_io.h"

namespace condense::train {

struct Trainer::Impl {
  TrainerOptions options;
  ir::Graph forward;  // the model as given (weights at their initial values), for model()
  std::string input, labels, dropout_seed;
  std::vector<int64_t> input_dims;
  int64_t num_classes = 0;
  // The training graph's contract (its graph lives in the session).
  std::vector<autograd::Parameter> params;
  std::vector<autograd::State> states;
  int loss_output = 0, logits_output = 0;
  // Current values: every parameter then every state (autograd's initial_inputs() order). The
  // optimizer's Parameters share storage with the first params.size() of them.
  std::vector<Tensor> values;
  std::vector<std::string> param_names;
  int64_t param_count = 0;
  std::vector<size_t> clamped;  // indices of parameters clamped to >= options.clamp_min
  std::unique_ptr<Optimizer> optimizer;
  std::optional<LrSchedule> schedule;
  std::unique_ptr<Session> session;
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

namespace {

// A 64-bit mix of (seed, step) for the dropout seed input (splitmix64's finalizer).
int64_t mix_seed(uint64_t seed, int64_t step) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<int64_t>((z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFull);
}

std::string unique_name(const ir::Graph& g, const std::string& base) {
  std::string name = base;
  for (int i = 1; g.find_value(name); ++i) name = fmt::format("{}_{}", base, i);
  return name;
}

}  // namespace

Result<std::unique_ptr<Trainer>> Trainer::create(ir::Graph model, const TrainerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  CONDENSE_ASSIGN_OR_RETURN(ModelIo io, resolve_model_io(model, options.input, options.output));
  impl->input = io.input->name;
  impl->input_dims = io.input_dims;
  impl->num_classes = io.num_classes;
  // model() returns the model as given, fixed batch size included.
  impl->forward = ir::clone_graph(model);
  // The batch dimension of the training graph is free: a model exported with a fixed batch
  // trains at any batch size (shape inference finds nodes that hard-code it, e.g. a Reshape to
  // (1, -1)).
  io.input->dims[0] = ir::Dim::sym("N");

  CONDENSE_ASSIGN_OR_RETURN(std::vector<Parameter> selected,
                            select_parameters(model, options.params));
  std::map<std::string, bool> decay;
  for (const Parameter& p : selected) decay[p.name] = p.weight_decay;

  impl->labels = unique_name(model, "labels");
  ir::Value* labels = model.add_input(impl->labels, DType::I64, {ir::Dim::sym("N")});
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * loss, build_loss(model, options.loss, io.output, labels));
  if (options.loss.reduction == Reduction::None)
    return Status::error("training needs a reduced loss; reduction=none keeps one per sample");
  model.outputs = {loss};

  autograd::TrainingOptions aopts;
  for (const Parameter& p : selected) aopts.parameters.push_back(p.name);
  aopts.batchnorm_training = options.batchnorm_training;
  aopts.dropout_training = options.dropout_training;
  aopts.extra_outputs = {io.output->name};
  const std::string loss_name = loss->name;
  CONDENSE_ASSIGN_OR_RETURN(autograd::TrainingGraph tg,
                            autograd::build_training_graph(std::move(model), loss_name, aopts));
  impl->params = tg.params;
  impl->states = tg.states;
  impl->loss_output = tg.loss_output;
  impl->logits_output = tg.extra_outputs.at(0);
  if (tg.dropout_seed_input >= 0) impl->dropout_seed = tg.graph.inputs[tg.dropout_seed_input]->name;
  impl->values = tg.initial_inputs();
  // initial_inputs() may share storage with the graph's tensors; the trainer owns its copies.
  for (Tensor& t : impl->values) t = t.clone();

  std::vector<Parameter> opt_params;
  for (size_t i = 0; i < impl->params.size(); ++i) {
    const std::string& name = impl->params[i].name;
    opt_params.push_back({name, impl->values[i], decay.count(name) ? decay[name] : true});
    impl->param_names.push_back(name);
    impl->param_count += impl->values[i].numel();
  }
  if (!options.clamp_params.empty()) {
    std::regex re;
    try {
      re = std::regex(options.clamp_params, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Status::errorf("invalid clamp_params regex '{}': {}", options.clamp_params, e.what());
    }
    for (size_t i = 0; i < impl->param_names.size(); ++i)
      if (std::regex_search(impl->param_names[i], re)) impl->clamped.push_back(i);
  }
  CONDENSE_ASSIGN_OR_RETURN(impl->optimizer,
                            Optimizer::create(options.optimizer, std::move(opt_params)));
  SessionOptions sopts;
  sopts.threads = options.threads;
  CONDENSE_ASSIGN_OR_RETURN(impl->session, Session::create(std::move(tg.graph), sopts));
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

Status Trainer::set_schedule(int64_t steps_per_epoch, int64_t epochs) {
  CONDENSE_ASSIGN_OR_RETURN(LrSchedule s,
                            LrSchedule::create(impl_->options.schedule, impl_->options.optimizer.lr,
                                               steps_per_epoch, epochs));
  impl_->schedule = s;
  return Status::ok();
}

double Trainer::lr(int64_t step) const {
  return impl_->schedule ? impl_->schedule->lr(step) : impl_->options.optimizer.lr;
}

Result<StepStats> Trainer::step(const data::Batch& batch, int64_t step, uint64_t seed) {
  Impl& m = *impl_;
  const int64_t n = batch.x.rank() > 0 ? batch.x.dim(0) : 0;
  if (n < 1 || batch.y.numel() != n)
    return Status::errorf("training batch: {} samples but {} labels", n, batch.y.numel());
  Tensor x = batch.x;
  // A feature-vector model (N, D) takes image samples flattened.
  if (m.input_dims.size() == 2 && x.rank() != 2) x = x.reshaped({n, x.numel() / n});
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < m.params.size(); ++i) feeds[m.params[i].name] = m.values[i];
  for (size_t j = 0; j < m.states.size(); ++j)
    feeds[m.states[j].name] = m.values[m.params.size() + j];
  feeds[m.input] = x;
  feeds[m.labels] = batch.y;
  if (!m.dropout_seed.empty())
    feeds[m.dropout_seed] = Tensor::scalar<int64_t>(mix_seed(seed, step));
  CONDENSE_ASSIGN_OR_RETURN(std::vector<Tensor> out, m.session->run(feeds));

  StepStats st;
  st.count = n;
  st.loss = out[m.loss_output].get_f64(0);
  st.lr = lr(step);
  // Top-1 from the logits (N, C).
  const Tensor& logits = out[m.logits_output];
  const int64_t c = logits.numel() / n;
  const float* z = logits.data<float>();
  const int64_t* y = batch.y.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z + i * c;
    int64_t best = 0;
    for (int64_t k = 1; k < c; ++k)
      if (row[k] > row[best]) best = k;
    st.correct += best == y[i];
  }
  if (!std::isfinite(st.loss)) {
    st.finite = false;
    return st;
  }

  std::vector<Tensor> grads;
  grads.reserve(m.params.size());
  for (const autograd::Parameter& p : m.params) grads.push_back(out[p.grad_output]);
  // Measures the norm (and finds NaN/Inf) even without clipping; it costs one pass over the
  // gradients, small beside the step.
  const double max_norm =
      m.options.clip_norm > 0 ? m.options.clip_norm : std::numeric_limits<double>::infinity();
  if (!clip_grad_norm(grads, max_norm, m.optimizer->params()).is_ok()) {
    st.finite = false;
    return st;
  }
  if (m.options.clip_value > 0) CONDENSE_TRY(clip_grad_value(grads, m.options.clip_value));
  m.optimizer->set_lr(st.lr);
  if (m.schedule)
    if (auto mom = m.schedule->momentum(step)) m.optimizer->set_momentum(*mom);
  CONDENSE_TRY(m.optimizer->step(grads));
  for (size_t i : m.clamped) {
    float* p = m.values[i].data<float>();
    for (int64_t k = 0; k < m.values[i].numel(); ++k) p[k] = std::max(p[k], m.options.clamp_min);
  }
  for (size_t j = 0; j < m.states.size(); ++j)
    m.values[m.params.size() + j] = out[m.states[j].output];
  return st;
}

Result<ir::Graph> Trainer::model() const {
  const Impl& m = *impl_;
  ir::Graph g = ir::clone_graph(m.forward);
  auto set = [&](const std::string& name, const Tensor& t) -> Status {
    ir::Value* v = g.find_value(name);
    if (!v || !v->is_constant())
      return Status::errorf("internal: trained value '{}' is not an initializer of the model",
                            name);
    v->constant = t.clone();
    return Status::ok();
  };
  for (size_t i = 0; i < m.params.size(); ++i) CONDENSE_TRY(set(m.params[i].name, m.values[i]));
  for (size_t j = 0; j < m.states.size(); ++j)
    CONDENSE_TRY(set(m.states[j].name, m.values[m.params.size() + j]));
  return g;
}

std::vector<npy::NamedArray> Trainer::state() const {
  const Impl& m = *impl_;
  std::vector<npy::NamedArray> out;
  for (size_t i = 0; i < m.params.size(); ++i)
    out.push_back({"param/" + m.params[i].name, m.values[i].clone()});
  for (size_t j = 0; j < m.states.size(); ++j)
    out.push_back({"state/" + m.states[j].name, m.values[m.params.size() + j].clone()});
  for (npy::NamedArray& a : m.optimizer->state()) out.push_back(std::move(a));
  return out;
}

Status Trainer::load_state(const std::vector<npy::NamedArray>& arrays) {
  Impl& m = *impl_;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < m.params.size(); ++i) index["param/" + m.params[i].name] = i;
  for (size_t j = 0; j < m.states.size(); ++j)
    index["state/" + m.states[j].name] = m.params.size() + j;
  size_t found = 0;
  for (const npy::NamedArray& a : arrays) {
    if (a.name.rfind("param/", 0) != 0 && a.name.rfind("state/", 0) != 0) continue;
    auto it = index.find(a.name);
    if (it == index.end())
      return Status::errorf("checkpoint holds '{}', which this model does not train", a.name);
    Tensor& dst = m.values[it->second];
    if (a.tensor.dtype() != dst.dtype() || a.tensor.shape() != dst.shape())
      return Status::errorf("checkpoint '{}' is {}{} but the model's is {}{}", a.name,
                            dtype_name(a.tensor.dtype()), shape_str(a.tensor.shape()),
                            dtype_name(dst.dtype()), shape_str(dst.shape()));
    ++found;
  }
  if (found != index.size())
    return Status::errorf("checkpoint holds {} of the model's {} trained tensors", found,
                          index.size());
  CONDENSE_TRY(m.optimizer->load_state(arrays));
  // Copy into the existing storage: the optimizer's parameters share it.
  for (const npy::NamedArray& a : arrays) {
    auto it = index.find(a.name);
    if (it != index.end())
      std::memcpy(m.values[it->second].raw(), a.tensor.raw(), a.tensor.nbytes());
  }
  return Status::ok();
}

const std::string& Trainer::input_name() const {
  return impl_->input;
}
const std::vector<int64_t>& Trainer::input_dims() const {
  return impl_->input_dims;
}
int64_t Trainer::num_classes() const {
  return impl_->num_classes;
}
int64_t Trainer::parameter_count() const {
  return impl_->param_count;
}
const std::vector<std::string>& Trainer::parameter_names() const {
  return impl_->param_names;
}
const TrainerOptions& Trainer::options() const {
  return impl_->options;
}

}  // namespace condense::train
