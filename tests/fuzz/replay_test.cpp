// Replays every input the fuzzers once crashed on (tests/fuzz/regressions/<target>/*) through the
// same entry points, in every build: a fixed crash stays fixed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz_entries.h"

namespace fs = std::filesystem;

namespace {
int replay(const std::string& target, void (*entry)(const uint8_t*, size_t)) {
  fs::path dir = fs::path(CONDENSE_FUZZ_REGRESSIONS) / target;
  int n = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename().string()[0] == '.') continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string bytes = ss.str();
    SCOPED_TRACE(e.path().string());
    entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++n;
  }
  return n;
}
}  // namespace

TEST(FuzzRegressions, OnnxImport) {
  int n = replay("onnx", &condense::fuzz::onnx_import_one);
  std::printf("replayed %d ONNX inputs\n", n);
}

TEST(FuzzRegressions, Npy) {
  int n = replay("npy", &condense::fuzz::npy_one);
  std::printf("replayed %d npy/npz inputs\n", n);
}
