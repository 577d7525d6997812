// The fixture of the CLI tests (cli_test.cpp, qat_cli_test.cpp): a scratch folder per test with a
// small CNN (model.onnx) and an npz data set, and `cli(args)` running the built `condense`.
#pragma once

#include <condense/file.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "quant_test_util.h"

namespace condense::quant_test {

namespace fs = std::filesystem;

struct CliRun {
  int rc = -1;
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CliFixture : public ::testing::Test {
 protected:
  // prefix: the scratch folder's name in the temp directory, before the test's name.
  // samples: how many the npz data set ("data", shape (samples, 3, 8, 8)) holds.
  CliFixture(std::string prefix, int64_t samples) : prefix_(std::move(prefix)), samples_(samples) {}

  fs::path dir;
  std::string model, data;

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / fmt::format("{}_{}_{}", prefix_, info->name(), ::getpid());
    fs::remove_all(dir);
    fs::create_directories(dir / "data");
    model = write_model("model.onnx", small_cnn());
    data = write_npz_data("data", {samples_, 3, 8, 8});
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  std::string write_model(const std::string& name, const ir::Graph& g) const {
    auto bytes = onnx::export_bytes(g);
    CONDENSE_CHECK_MSG(bytes.is_ok(), bytes.status().message().c_str());
    CONDENSE_CHECK(write_file_atomic(path(name), *bytes).is_ok());
    return path(name);
  }

  // An npz folder (x.npy f32, y.npy i64) as `npz:DIR` takes it.
  std::string write_npz_data(const std::string& sub, Shape shape) const {
    fs::create_directories(dir / sub);
    Tensor x = random_tensor(shape, 1.0f, 3, 0.2f);
    std::vector<int64_t> labels(shape[0]);
    for (int64_t i = 0; i < shape[0]; ++i) labels[i] = i % 10;
    Tensor y = Tensor::from_vector<int64_t>(labels, {shape[0]});
    CONDENSE_CHECK(write_file_atomic((dir / sub / "x.npy").string(), npy::serialize(x)).is_ok());
    CONDENSE_CHECK(write_file_atomic((dir / sub / "y.npy").string(), npy::serialize(y)).is_ok());
    return "npz:" + (dir / sub).string();
  }

  // Runs `condense ARGS` (passive OpenMP threads: tests share the machine).
  CliRun cli(const std::string& args) const {
    CliRun r;
    const std::string cmd = fmt::format("OMP_WAIT_POLICY=PASSIVE '{}' {} >'{}' 2>'{}'",
                                        CONDENSE_CLI_PATH, args, path(".stdout"), path(".stderr"));
    const int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir / ".stdout");
    r.err = slurp(dir / ".stderr");
    return r;
  }

 private:
  std::string prefix_;
  int64_t samples_;
};

}  // namespace condense::quant_test
