// condense compare FLOAT.onnx QUANTIZED.onnx --data SPEC [--split test] [--limit N] [--batch B]
// [--json]
//
// Runs both models on the same samples and compares, per activation tensor the two graphs share
// by name (a quantized graph's dequantized values keep the float model's names), the SQNR
// (10 log10(sum f^2 / sum (f - q)^2), dB) and the cosine similarity over every element; then
// the top-1 agreement of the first outputs and the accuracy of both. Statistics stream: one batch
// of activations is alive at a time.
#include <condense/session.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "common.h"
#include "compress/quant/common.h"
#include "train_common.h"

namespace condense::cli {

namespace {

struct CompareArgs {
  std::string reference, candidate, data, split = "test", normalize;
  int64_t batch = 32, limit = 0;
  int threads = 0;
  bool json = false;
};

struct TensorStats {
  std::string name, op;  // op: what produces it in the quantized graph
  double ff = 0, qq = 0, fq = 0, err = 0;
  int64_t count = 0;
  double sqnr_db() const {
    return err == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(ff / err);
  }
  double cosine() const {
    return ff == 0 || qq == 0 ? (ff == qq ? 1.0 : 0.0) : fq / std::sqrt(ff * qq);
  }
};

std::string db_str(double db) {
  return std::isinf(db) ? "inf" : fmt::format("{:.1f}", db);
}

// Float activations produced by a node in `g` (graph inputs and constants excluded).
std::set<std::string> activation_names(const ir::Graph& g) {
  std::set<std::string> names;
  for (const auto& n : g.nodes())
    for (const ir::Value* v : n->outputs)
      if (v && !v->is_constant() && v->dtype == DType::F32) names.insert(v->name);
  return names;
}

int run_compare(const CompareArgs& a) {
  std::string hint;
  auto ref = load_model(a.reference, &hint);
  if (!ref) return fail(ref.status(), hint);
  auto cand = load_model(a.candidate, &hint);
  if (!cand) return fail(cand.status(), hint);
  if (ref->inputs.size() != 1 || cand->inputs.size() != 1)
    return fail(
        Status::errorf("compare feeds one input from the dataset; the models have {} and {}",
                       ref->inputs.size(), cand->inputs.size()));
  if (ref->outputs.empty() || cand->outputs.empty())
    return fail(Status::error("a model has no output"));
  // The float model's recorded normalization, else the quantized one's (quantize records it).
  const ir::Graph& meta = ref->metadata.count(kNormalizeKey) ? *ref : *cand;
  auto split = data::parse_split(a.split);
  if (!split) return fail(split.status().with_context("--split"));
  auto d = open_data(a.data, *split, a.normalize, meta, a.limit);
  if (!d) return fail(d.status().with_context("--data"));
  const data::Dataset& ds = *d->dataset;
  int64_t fixed = 0;
  const std::vector<int64_t> dims = quant::sample_dims(*ref->inputs[0], &fixed);
  Status fits = data::check_sample_shape(ds, dims, ref->inputs[0]->name);
  if (!fits) return fail(fits.with_context("--data"));

  // Shared activations in the quantized graph's order, exposed as extra outputs of both.
  const std::set<std::string> in_ref = activation_names(*ref);
  std::vector<TensorStats> stats;
  std::vector<int> ref_index, cand_index;
  auto expose = [](ir::Graph& g, const std::string& name) {
    ir::Value* v = g.find_value(name);
    auto it = std::find(g.outputs.begin(), g.outputs.end(), v);
    if (it != g.outputs.end()) return static_cast<int>(it - g.outputs.begin());
    g.outputs.push_back(v);
    return static_cast<int>(g.outputs.size() - 1);
  };
  for (const auto& n : cand->nodes())
    for (ir::Value* v : n->outputs) {
      if (!v || v->is_constant() || v->dtype != DType::F32 || !in_ref.count(v->name)) continue;
      TensorStats s;
      s.name = v->name;
      s.op = std::string(op_name(n->op));
      stats.push_back(s);
    }
  for (const TensorStats& s : stats) {
    ref_index.push_back(expose(*ref, s.name));
    cand_index.push_back(expose(*cand, s.name));
  }
  SessionOptions so;
  so.threads = a.threads;
  so.optimize = false;  // passes could fuse away or rename the compared tensors
  auto rs = Session::create(std::move(*ref), so);
  if (!rs) return fail(rs.status().with_context(a.reference));
  auto cs = Session::create(std::move(*cand), so);
  if (!cs) return fail(cs.status().with_context(a.candidate));

  const int64_t batch = fixed > 0 ? fixed : a.batch;
  int64_t samples = 0, agree = 0, ref_correct = 0, cand_correct = 0;
  ProgressLine progress(stderr);
  for (int64_t start = 0; start + (fixed > 0 ? batch : 1) <= ds.size(); start += batch) {
    auto b = ds.batch(start, batch);
    if (!b) return fail(b.status());
    Tensor x = b->x;
    if (dims.size() == 2 && x.rank() != 2) x = x.reshaped({x.dim(0), x.numel() / x.dim(0)});
    auto ro = (*rs)->run({x});
    if (!ro) return fail(ro.status().with_context(a.reference));
    auto co = (*cs)->run({x});
    if (!co) return fail(co.status().with_context(a.candidate));
    for (size_t t = 0; t < stats.size(); ++t) {
      const Tensor& f = (*ro)[ref_index[t]];
      const Tensor& q = (*co)[cand_index[t]];
      TensorStats& s = stats[t];
      // Values the import could not type (shape computations) show their dtype only now.
      if (s.count < 0 || f.dtype() != DType::F32 || q.dtype() != DType::F32) {
        s.count = -1;
        continue;
      }
      if (f.numel() != q.numel())
        return fail(Status::errorf("tensor '{}' is {} in {} but {} in {}", s.name,
                                   shape_str(f.shape()), a.reference, shape_str(q.shape()),
                                   a.candidate));
      for (int64_t i = 0; i < f.numel(); ++i) {
        const double fv = f.data<float>()[i], qv = q.data<float>()[i];
        s.ff += fv * fv;
        s.qq += qv * qv;
        s.fq += fv * qv;
        s.err += (fv - qv) * (fv - qv);
      }
      s.count += f.numel();
    }
    const Tensor& fy = (*ro)[0];
    const Tensor& qy = (*co)[0];
    const int64_t n = x.dim(0);
    if (fy.numel() != qy.numel() || fy.numel() % n != 0)
      return fail(Status::errorf("the first outputs differ in shape: {} vs {}",
                                 shape_str(fy.shape()), shape_str(qy.shape())));
    const int64_t c = fy.numel() / n;
    for (int64_t i = 0; i < n; ++i) {
      const float* fp = fy.data<float>() + i * c;
      const float* qp = qy.data<float>() + i * c;
      const int64_t fa = std::max_element(fp, fp + c) - fp;
      const int64_t qa = std::max_element(qp, qp + c) - qp;
      agree += fa == qa;
      ref_correct += fa == b->labels[i];
      cand_correct += qa == b->labels[i];
    }
    samples += n;
    if (progress.is_terminal())
      progress.update(fmt::format("compare {}/{}", samples, ds.size()), false);
  }
  progress.finish();
  if (samples == 0)
    return fail(Status::errorf("--data '{}' has {} samples, fewer than the fixed batch {}",
                               ds.description(), ds.size(), batch));
  const double ns = double(samples);
  std::erase_if(stats, [](const TensorStats& s) { return s.count < 0; });

  if (a.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& s : stats)
      tensors.push_back({{"name", s.name},
                         {"producer", s.op},
                         {"sqnr_db", std::isinf(s.sqnr_db()) ? nlohmann::json(nullptr)
                                                             : nlohmann::json(s.sqnr_db())},
                         {"cosine", s.cosine()}});
    nlohmann::json j = {{"reference", a.reference},           {"candidate", a.candidate},
                        {"data", ds.description()},           {"samples", samples},
                        {"reference_top1", ref_correct / ns}, {"candidate_top1", cand_correct / ns},
                        {"top1_agreement", agree / ns},       {"tensors", tensors}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} vs {} on {} ({} samples):\n", a.reference, a.candidate, ds.description(), samples);
  fmt::print("  top-1 {:.2f}% vs {:.2f}%; top-1 agreement {:.2f}%\n", 100 * ref_correct / ns,
             100 * cand_correct / ns, 100 * agree / ns);
  size_t width = 6;
  for (const auto& s : stats) width = std::max(width, s.name.size());
  fmt::print("  {} shared tensors, in graph order:\n", stats.size());
  fmt::print("    {:<{}}  {:<16}  {:>9}  {:>8}\n", "tensor", width, "producer", "SQNR dB",
             "cosine");
  for (const auto& s : stats)
    fmt::print("    {:<{}}  {:<16}  {:>9}  {:>8.5f}\n", s.name, width, s.op, db_str(s.sqnr_db()),
               s.cosine());
  return 0;
}

}  // namespace

Command make_compare_command() {
  return {"compare", [](CLI::App& app) {
            auto a = std::make_shared<CompareArgs>();
            auto* c = app.add_subcommand(
                "compare",
                "per-tensor SQNR and cosine of two models' activations, output agreement");
            c->add_option("reference", a->reference, "float model (.onnx)")->required();
            c->add_option("candidate", a->candidate, "quantized model (.onnx)")->required();
            c->add_option("--data", a->data,
                          "mnist:DIR, fashion-mnist[:DIR], cifar10:PATH, imagefolder:PATH[:SUB], "
                          "npz:PATH")
                ->required();
            c->add_option("--split", a->split, "test (default) or train");
            c->add_option("--normalize", a->normalize,
                          "imagenet, cifar10, mnist, unit, raw, or MEAN/STD (default: the "
                          "model's recorded one, else by data)");
            c->add_option("--batch", a->batch, "batch size (default 32)")
                ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
            c->add_option("--limit", a->limit, "only the first N samples")
                ->check(CLI::NonNegativeNumber);
            c->add_option("--threads", a->threads, "threads (0: all cores)")
                ->check(CLI::Range(0, 1024));
            c->add_flag("--json", a->json, "one JSON object");
            return [a] { return run_compare(*a); };
          }};
}

}  // namespace condense::cli
