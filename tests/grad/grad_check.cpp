#include "grad_check.h"

#include <condense/session.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

namespace condense::test {

Tensor uniform(Shape shape, std::mt19937& rng, double lo, double hi, DType t) {
  Tensor x = Tensor::empty(t, std::move(shape));
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::F64)
      x.data<double>()[i] = d(rng);
    else
      x.data<float>()[i] = static_cast<float>(d(rng));
  }
  return x;
}

Tensor away_from(Shape shape, std::mt19937& rng, double kink, double margin) {
  Tensor x = Tensor::empty(DType::F64, std::move(shape));
  std::uniform_real_distribution<double> d(margin, 1.0);
  std::bernoulli_distribution sign(0.5);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<double>()[i] = kink + (sign(rng) ? 1 : -1) * d(rng);
  return x;
}

Tensor distinct(Shape shape, std::mt19937& rng) {
  Tensor x = Tensor::empty(DType::F64, std::move(shape));
  std::vector<int64_t> order(static_cast<size_t>(x.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const double n = static_cast<double>(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<double>()[i] = (static_cast<double>(order[i]) - n / 2) * 0.01;
  return x;
}

Tensor i64s(std::vector<int64_t> v, Shape shape) {
  return Tensor::from_vector<int64_t>(v, std::move(shape));
}
Tensor i64s(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(v, {n});
}
Tensor f64s(std::vector<double> v, Shape shape) {
  return Tensor::from_vector<double>(v, std::move(shape));
}

FdResult compare_with_finite_differences(
    const std::function<Result<double>(const std::vector<Tensor>&)>& loss,
    const std::vector<Tensor>& params, const std::vector<Tensor>& analytic, double tolerance,
    int max_elements, std::mt19937& rng) {
  FdResult r;
  const double h = 1e-5;
  for (size_t p = 0; p < params.size(); ++p) {
    const int64_t n = params[p].numel();
    std::vector<int64_t> elems(static_cast<size_t>(n));
    std::iota(elems.begin(), elems.end(), 0);
    if (n > max_elements) {
      std::shuffle(elems.begin(), elems.end(), rng);
      elems.resize(static_cast<size_t>(max_elements));
    }
    for (int64_t j : elems) {
      std::vector<Tensor> plus = params, minus = params;
      plus[p] = params[p].clone();
      minus[p] = params[p].clone();
      const double v = params[p].get_f64(j);
      plus[p].data<double>()[j] = v + h;
      minus[p].data<double>()[j] = v - h;
      auto lp = loss(plus), lm = loss(minus);
      if (!lp || !lm) {
        ++r.mismatches;
        if (r.first.empty()) r.first = (!lp ? lp.status() : lm.status()).message();
        continue;
      }
      const double num = (*lp - *lm) / (2 * h);
      const double ana = analytic[p].get_f64(j);
      if (!(std::abs(num - ana) <= tolerance * (1 + std::abs(num)))) {
        ++r.mismatches;
        if (r.first.empty())
          r.first = fmt::format("parameter {} element {}: numeric {:.10g}, analytic {:.10g}", p, j,
                                num, ana);
      }
    }
  }
  return r;
}

namespace {
// Runs a graph once with reference kernels; returns its outputs.
Result<std::vector<Tensor>> run_once(ir::Graph g, const std::map<std::string, Tensor>& feeds) {
  auto s = Session::create(std::move(g), {.threads = 1, .optimize = false, .fast_kernels = false});
  if (!s) return s.status();
  return (*s)->run(feeds);
}

// The case's forward graph: the op on its inputs (parameters and constants as initializers).
ir::Graph build_forward(const GradCase& c, std::vector<std::string>& params) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const GradInput& in = c.inputs[i];
    if (in.kind == GradInput::Kind::Absent) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = fmt::format("{}{}", in.kind == GradInput::Kind::Param ? "p" : "c", i);
    ins.push_back(g.add_constant(name, in.value));
    if (in.kind == GradInput::Kind::Param) params.push_back(name);
  }
  ir::Node* n = g.add_node(c.op, ins, c.outputs, "op");
  n->attrs = c.attrs;
  for (ir::Value* o : n->outputs) g.outputs.push_back(o);
  return g;
}
}  // namespace

int check_gradients(const GradCase& c) {
  SCOPED_TRACE(c.config);
  std::mt19937 rng(1234);
  // Output shapes first (an ordinary forward run), then the projection loss.
  std::vector<std::string> params;
  auto fwd = run_once(build_forward(c, params), {});
  if (!fwd) {
    ADD_FAILURE() << "forward run failed: " << fwd.status().message();
    return 1;
  }
  std::vector<std::string> names;
  ir::Graph g = build_forward(c, names);
  ir::Node* op = g.find_value(fmt::format("op{}", c.outputs == 1 ? "" : "_out0"))->producer;
  std::vector<ir::Value*> terms;
  for (int k = 0; k < c.outputs; ++k) {
    const bool listed =
        c.checked_outputs.empty() ||
        std::find(c.checked_outputs.begin(), c.checked_outputs.end(), k) != c.checked_outputs.end();
    const Tensor& y = (*fwd)[k];
    if (!listed || !y.defined() || y.dtype() != DType::F64) continue;
    ir::Value* r = g.add_constant(fmt::format("r{}", k), uniform(y.shape(), rng));
    ir::Value* prod =
        g.add_node(OpKind::Mul, {op->outputs[k], r}, 1, fmt::format("proj{}", k))->outputs[0];
    ir::Node* sum = g.add_node(OpKind::ReduceSum, {prod}, 1, fmt::format("sum{}", k));
    sum->attrs["keepdims"] = ir::Attribute::of_int(0);
    terms.push_back(sum->outputs[0]);
  }
  if (terms.empty()) {
    ADD_FAILURE() << "no float output to check";
    return 1;
  }
  ir::Value* loss =
      terms.size() == 1 ? terms[0] : g.add_node(OpKind::Sum, terms, 1, "total")->outputs[0];
  loss->name = "loss";
  g.outputs = {loss};
  autograd::TrainingOptions opts = c.options;
  opts.parameters = names;
  auto tg = autograd::build_training_graph(std::move(g), "loss", opts);
  if (!tg) {
    ADD_FAILURE() << "building the training graph failed: " << tg.status().message();
    return 1;
  }
  const std::vector<autograd::Parameter> tparams = tg->params;
  const std::vector<autograd::State> states = tg->states;
  const int seed_input = tg->dropout_seed_input;
  const std::string seed_name = seed_input >= 0 ? tg->graph.inputs[seed_input]->name : "";
  auto session = Session::create(std::move(tg->graph),
                                 {.threads = 1, .optimize = false, .fast_kernels = false});
  if (!session) {
    ADD_FAILURE() << "session: " << session.status().message();
    return 1;
  }
  auto feeds_for = [&](const std::vector<Tensor>& values) {
    std::map<std::string, Tensor> f;
    for (size_t i = 0; i < tparams.size(); ++i) f[tparams[i].name] = values[i];
    for (const autograd::State& s : states) f[s.name] = s.initial;
    if (!seed_name.empty()) f[seed_name] = Tensor::scalar<int64_t>(42);
    return f;
  };
  std::vector<Tensor> values;
  for (const autograd::Parameter& p : tparams) values.push_back(p.initial);
  auto out = (*session)->run(feeds_for(values));
  if (!out) {
    ADD_FAILURE() << "training graph run failed: " << out.status().message();
    return 1;
  }
  std::vector<Tensor> analytic;
  for (size_t i = 0; i < tparams.size(); ++i) {
    const Tensor& gr = (*out)[tparams[i].grad_output];
    EXPECT_EQ(gr.shape(), values[i].shape()) << "gradient of " << tparams[i].name;
    EXPECT_EQ(gr.dtype(), values[i].dtype()) << "gradient of " << tparams[i].name;
    if (gr.shape() != values[i].shape() || gr.dtype() != values[i].dtype()) return 1;
    analytic.push_back(gr);
  }
  auto loss_fn = [&](const std::vector<Tensor>& v) -> Result<double> {
    auto o = (*session)->run(feeds_for(v));
    if (!o) return o.status();
    return (*o)[0].get_f64(0);
  };
  FdResult r =
      compare_with_finite_differences(loss_fn, values, analytic, c.tolerance, c.max_elements, rng);
  if (r.mismatches) ADD_FAILURE() << r.mismatches << " gradient mismatches; first: " << r.first;
  return r.mismatches;
}

}  // namespace condense::test
