// Session: plans a graph once (optimization passes, topological order, kernel selection, buffer
// lifetimes) and runs it many times. Intermediate buffers come from a pool and return to it at
// their last use, so steady-state runs allocate nothing but the graph outputs.
//
//   auto graph = condense::onnx::import_file("model.onnx");
//   auto session = condense::Session::create(std::move(*graph), {.threads = 2});
//   if (!session) { /* session.status().message() */ }
//   condense::Tensor x = condense::Tensor::zeros(condense::DType::F32, {1, 3, 32, 32});
//   auto outputs = (*session)->run({x});   // Result<std::vector<Tensor>>, in graph-output order
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace condense {

struct SessionOptions {
  int threads = 0;           // 0: every core (OpenMP's default)
  bool optimize = true;      // graph passes at load: constant folding, batch-norm folding,
                             // Conv/Gemm + activation fusion
  bool fast_kernels = true;  // false: reference kernels only (the oracle)
};

struct NodeReport {
  std::string name;
  std::string op;
  std::string kernel;
  // Layout of output 0 in the last run: "plain", or "blocked" (oneDNN's channel-blocked
  // activations, kept between convolutions); empty before the first run.
  std::string layout;
  // The same for every output ("" for an absent one); empty before the first run.
  std::vector<std::string> output_layouts;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(ir::Graph graph, SessionOptions options = {});
  ~Session();

  // Inputs in graph-input order; outputs in graph-output order.
  Result<std::vector<Tensor>> run(std::span<const Tensor> inputs);
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) {
    return run(std::span<const Tensor>(inputs));
  }
  // Inputs by name; every graph input must be given.
  Result<std::vector<Tensor>> run(const std::map<std::string, Tensor>& feeds);

  const ir::Graph& graph() const;
  std::vector<NodeReport> report() const;  // the kernel chosen for each node, in run order
  const SessionOptions& options() const;

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace condense
