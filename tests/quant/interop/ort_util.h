// Shared by the ONNX Runtime interop tests: finding node and onnxruntime-node, a scratch folder,
// and running tests/interop/ort_run.js on a model.
#pragma once

#include <condense/onnx.h>
#include <condense/status.h>
#include <condense/tensor.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace condense::quant_test {

namespace fs = std::filesystem;

// The node executable CMake found, if it runs; "" otherwise.
inline std::string node_executable() {
  std::string node = CONDENSE_NODE;
  if (node.empty() || node.find("NOTFOUND") != std::string::npos) return "";
  return ::access(node.c_str(), X_OK) == 0 ? node : "";
}

inline fs::path ort_package() {
  return fs::path(CONDENSE_SOURCE_DIR) / "bench" / "peers" / "node_modules" / "onnxruntime-node";
}

// A fresh temporary folder, removed with its contents at scope exit.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name) {
    dir = fs::temp_directory_path() / fmt::format("condense-quant-interop-{}-{}", ::getpid(), name);
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Runs ort_run.js; outputs in ORT's order. Exit code 77: onnxruntime-node missing.
inline Result<std::vector<Tensor>> run_ort(const std::string& model, const std::string& input,
                                           const fs::path& out_dir, int* code) {
  const std::string script =
      (fs::path(CONDENSE_SOURCE_DIR) / "tests" / "interop" / "ort_run.js").string();
  const std::string cmd = fmt::format("'{}' '{}' --threads 2 '{}' '{}' '{}' 2>&1",
                                      node_executable(), script, model, out_dir.string(), input);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return Status::error("popen failed");
  std::string log;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) log.append(buf, n);
  const int status = ::pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (*code != 0) return Status::errorf("ort_run.js exited with {}: {}", *code, log);
  std::vector<Tensor> outs;
  for (int k = 0; fs::exists(out_dir / fmt::format("output_{}.pb", k)); ++k) {
    CONDENSE_ASSIGN_OR_RETURN(
        Tensor t, onnx::read_tensor_pb((out_dir / fmt::format("output_{}.pb", k)).string()));
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace condense::quant_test
