// condense run model.onnx -i name=x.npy [-i ...] [-o outdir/] [--format npy|pb]: runs a model once
// on inputs from .npy / .npz / TensorProto .pb files and writes each output to
// outdir/<output name>.<format>. Outputs are written only after the whole run succeeded, each
// atomically; if one write fails, the files this run already wrote are removed.
#include <condense/file.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <condense/session.h>

#include <filesystem>
#include <set>

#include "commands.h"
#include "common.h"

namespace condense::cli {

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string outdir;
  std::string format = "npy";
  int threads = 0;
  bool no_optimize = false, reference = false;
};

int run_run(const RunArgs& a) {
  std::string hint;
  auto g = load_model(a.model, &hint);
  if (!g) return fail(g.status(), hint);
  std::vector<std::string> files_read{a.model};
  auto feeds = load_feeds(*g, a.inputs, &files_read, &hint);
  if (!feeds) return fail(feeds.status(), hint);
  if (Status s = check_feeds(*g, *feeds); !s) {
    std::string expect;
    for (const ir::Value* v : g->inputs)
      expect += fmt::format("{}{}: {}", expect.empty() ? "" : ", ", v->name, value_type_str(*v));
    return fail(s, fmt::format("the model expects {}", expect));
  }
  std::vector<std::string> out_names;
  for (const ir::Value* v : g->outputs) out_names.push_back(v->name);

  SessionOptions opts;
  opts.threads = a.threads;
  opts.optimize = !a.no_optimize;
  opts.fast_kernels = !a.reference;
  auto session = Session::create(std::move(*g), opts);
  if (!session) return fail(session.status());
  auto outputs = (*session)->run(*feeds);
  if (!outputs) return fail(outputs.status());

  // Serialize everything first, so nothing is written unless every output can be.
  std::vector<std::pair<std::string, std::string>> files;  // path, bytes
  if (!a.outdir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.outdir, ec);
    if (ec || !std::filesystem::is_directory(a.outdir))
      return fail(Status::errorf("cannot create output folder '{}': {}", a.outdir,
                                 ec ? ec.message() : "a file of that name exists"));
    std::set<std::string> used;
    for (size_t i = 0; i < outputs->size(); ++i) {
      std::string base = sanitize_file_name(out_names[i]);
      std::string stem = base;
      for (int k = 2; used.count(stem); ++k) stem = fmt::format("{}_{}", base, k);
      used.insert(stem);
      std::string path = (std::filesystem::path(a.outdir) / (stem + "." + a.format)).string();
      for (const std::string& in : files_read)
        if (same_file(path, in))
          return fail(Status::errorf("refusing to overwrite the input '{}' with output '{}'", in,
                                     out_names[i]),
                      "choose another output folder");
      std::string bytes;
      if (a.format == "npy") {
        bytes = npy::serialize((*outputs)[i]);
      } else {
        auto pb = onnx::serialize_tensor_pb((*outputs)[i], out_names[i]);
        if (!pb) return fail(pb.status());
        bytes = std::move(*pb);
      }
      files.emplace_back(std::move(path), std::move(bytes));
    }
    std::vector<std::string> written;
    for (const auto& [path, bytes] : files) {
      Status w = write_file_atomic(path, bytes);
      if (!w) {
        for (const std::string& p : written) std::remove(p.c_str());
        return fail(w);
      }
      written.push_back(path);
    }
  }
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Tensor& t = (*outputs)[i];
    fmt::print("{}: {}{} {}{}\n", out_names[i], dtype_name(t.dtype()), shape_str(t.shape()),
               preview_values(t), files.empty() ? "" : fmt::format(" -> {}", files[i].first));
  }
  return 0;
}

}  // namespace

Command make_run_command() {
  return {"run", [](CLI::App& app) -> std::function<int()> {
            auto args = std::make_shared<RunArgs>();
            auto* sub = app.add_subcommand("run", "run a model on inputs from .npy/.npz/.pb files");
            sub->add_option("model", args->model, "input .onnx")->required();
            sub->add_option(
                "-i,--input", args->inputs,
                "name=file.npy | name=file.pb | name=file.npz[:member] | file.npz | file.npy "
                "(single-input models)");
            sub->add_option("-o,--output", args->outdir,
                            "folder for the outputs (<output name>.npy)");
            sub->add_option("--format", args->format, "output format")
                ->check(CLI::IsMember({"npy", "pb"}));
            sub->add_option("--threads", args->threads, "threads (0: every core)")
                ->check(CLI::NonNegativeNumber);
            sub->add_flag("--no-optimize", args->no_optimize, "skip the graph passes at load");
            sub->add_flag("--reference", args->reference, "reference kernels only");
            return [args] { return run_run(*args); };
          }};
}

}  // namespace condense::cli
