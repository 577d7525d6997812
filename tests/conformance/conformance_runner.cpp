// Runs ONNX backend test folders (test_<name>/model.onnx + test_data_set_N/{input,output}_K.pb)
// through condense and compares outputs as ONNX's own runner does: same count, dtype and shape,
// |got - want| <= atol + rtol * |want| with rtol 1e-3, atol 1e-7, NaN matching NaN.
//
// The expectations (a file, or a folder of *.txt files) list tests expected to FAIL, one per line:
//   [@<suite label substring>]  <regex over the test name>  <category>  <reason...>
// A leading "@onnx-1.12" limits the line to suites whose --label contains "onnx-1.12" (for tests
// whose name exists in several suites with different contents).
// A listed test that passes is an error too, so the list only shrinks.
//
//   condense_conformance --suite DIR --label node-1.22 --expectations FILE [--filter REGEX] [-v]
// Exit: 0 all as expected, 1 unexpected results, 77 suite folder missing (ctest: skipped).
#include <condense/onnx.h>
#include <condense/session.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "core/dispatch.h"

namespace fs = std::filesystem;
using namespace condense;

namespace {

struct Expectation {
  std::string suite;  // optional leading "@<label substring>": only suites whose label has it
  std::string pattern;
  std::regex re;
  std::string category;
  std::string reason;
  int matched = 0;
};

void load_expectations_file(const std::string& path, std::vector<Expectation>& out) {
  std::ifstream in(path);
  if (!in) {
    fmt::print(stderr, "conformance: cannot read expectations file '{}'\n", path);
    std::exit(2);
  }
  std::string line;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    std::istringstream ss(line);
    Expectation e;
    if (!(ss >> e.pattern)) continue;
    if (e.pattern[0] == '@') {
      e.suite = e.pattern.substr(1);
      if (!(ss >> e.pattern)) continue;
    }
    ss >> e.category;
    std::getline(ss, e.reason);
    e.reason.erase(0, e.reason.find_first_not_of(' '));
    e.re = std::regex(e.pattern);
    out.push_back(std::move(e));
  }
}

// A file, or a folder whose *.txt files are all read.
std::vector<Expectation> load_expectations(const std::string& path) {
  std::vector<Expectation> out;
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) load_expectations_file(f.string(), out);
  } else {
    load_expectations_file(path, out);
  }
  return out;
}

bool close_enough(const Tensor& got, const Tensor& want, std::string* why) {
  if (got.dtype() != want.dtype()) {
    *why = fmt::format("dtype {} vs expected {}", dtype_name(got.dtype()), dtype_name(want.dtype()));
    return false;
  }
  if (got.shape() != want.shape()) {
    *why = fmt::format("shape {} vs expected {}", shape_str(got.shape()), shape_str(want.shape()));
    return false;
  }
  const double rtol = 1e-3, atol = 1e-7;
  const bool is_float = dtype_is_float(got.dtype());
  int64_t bad = 0;
  int64_t first = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (is_float) {
      double g = got.get_f64(i), w = want.get_f64(i);
      if (std::isnan(w) && std::isnan(g)) continue;
      if (std::isinf(w) && g == w) continue;
      if (!(std::abs(g - w) <= atol + rtol * std::abs(w))) {
        if (first < 0) first = i;
        ++bad;
      }
    } else if (got.get_i64(i) != want.get_i64(i)) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  if (bad) {
    *why = fmt::format("{} of {} values differ; first at {}: got {} want {}", bad, got.numel(),
                       first, got.get_f64(first), want.get_f64(first));
    return false;
  }
  return true;
}

// The op a test is about: the node whose lowercased type prefixes the test name, else the first.
std::string test_op(const ir::Graph& g, const std::string& test) {
  std::string best;
  std::string name = test.rfind("test_", 0) == 0 ? test.substr(5) : test;
  std::string compact = name;
  compact.erase(std::remove(compact.begin(), compact.end(), '_'), compact.end());
  for (const auto& n : g.nodes()) {
    std::string op(op_name(n->op));
    std::string lower = op;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (compact.rfind(lower, 0) == 0 && lower.size() > best.size()) best = op;
  }
  if (best.empty() && !g.nodes().empty()) best = std::string(op_name(g.nodes().front()->op));
  return best;
}

struct Outcome {
  bool pass = false;
  std::string reason;
  std::string op;
};

Outcome run_test(const fs::path& dir) {
  Outcome o;
  auto graph = onnx::import_file((dir / "model.onnx").string());
  if (!graph) {
    o.reason = graph.status().message();
    // Name the op for unsupported-op failures.
    auto pos = o.reason.find("unsupported op '");
    if (pos != std::string::npos) {
      auto start = pos + 16;
      o.op = o.reason.substr(start, o.reason.find('\'', start) - start);
    }
    return o;
  }
  o.op = test_op(*graph, dir.filename().string());
  std::vector<std::string> input_names;
  std::vector<DType> input_dtypes;
  for (const ir::Value* v : graph->inputs) {
    input_names.push_back(v->name);
    input_dtypes.push_back(v->dtype);
  }
  auto session = Session::create(std::move(*graph), {.threads = 1});
  if (!session) {
    o.reason = session.status().message();
    return o;
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    o.reason = "no test_data_set folders";
    return o;
  }
  for (const fs::path& set : sets) {
    std::vector<Tensor> inputs, expected;
    for (int k = 0;; ++k) {
      fs::path p = set / fmt::format("input_{}.pb", k);
      if (!fs::exists(p)) break;
      auto t = onnx::read_tensor_pb(p.string());
      if (!t) {
        o.reason = t.status().message();
        return o;
      }
      inputs.push_back(std::move(*t));
    }
    for (int k = 0;; ++k) {
      fs::path p = set / fmt::format("output_{}.pb", k);
      if (!fs::exists(p)) break;
      auto t = onnx::read_tensor_pb(p.string());
      if (!t) {
        o.reason = t.status().message();
        return o;
      }
      expected.push_back(std::move(*t));
    }
    if (inputs.size() != input_names.size()) {
      o.reason = fmt::format("{} has {} inputs, the model takes {}", set.filename().string(),
                             inputs.size(), input_names.size());
      return o;
    }
    // onnx <= 1.12's test generator wrote bfloat16 tensors as UINT16 (same bits): reinterpret.
    auto as_bf16 = [](Tensor& t) {
      if (t.dtype() != DType::U16) return;
      Tensor b = Tensor::empty(DType::BF16, t.shape());
      if (t.nbytes()) std::memcpy(b.raw(), t.raw(), t.nbytes());
      t = b;
    };
    for (size_t i = 0; i < inputs.size(); ++i)
      if (input_dtypes[i] == DType::BF16) as_bf16(inputs[i]);
    auto got = (*session)->run(inputs);
    if (!got) {
      o.reason = got.status().message();
      return o;
    }
    if (got->size() != expected.size()) {
      o.reason = fmt::format("{} outputs, expected {}", got->size(), expected.size());
      return o;
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      if ((*got)[i].dtype() == DType::BF16) as_bf16(expected[i]);
      std::string why;
      if (!close_enough((*got)[i], expected[i], &why)) {
        o.reason = fmt::format("{} output {}: {}", set.filename().string(), i, why);
        return o;
      }
    }
  }
  o.pass = true;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"condense ONNX conformance runner"};
  std::string suite, label, expectations_path, filter;
  bool verbose = false;
  app.add_option("--suite", suite, "folder of test_* folders")->required();
  app.add_option("--label", label, "name printed in the summary")->required();
  app.add_option("--expectations", expectations_path, "expected-failure list: a file or a folder of *.txt")->required();
  app.add_option("--filter", filter, "only tests whose name matches this regex");
  app.add_flag("-v,--verbose", verbose, "print every test");
  CLI11_PARSE(app, argc, argv);

  if (!fs::is_directory(suite)) {
    fmt::print("SKIPPED: conformance suite {} not found at '{}' (install libonnx-testdata or provide ../shared/data)\n",
               label, suite);
    return 77;
  }
  auto expectations = load_expectations(expectations_path);
  std::optional<std::regex> only;
  if (!filter.empty()) only = std::regex(filter);

  std::vector<fs::path> tests;
  for (const auto& e : fs::directory_iterator(suite))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());

  struct OpCount {
    int pass = 0, total = 0;
  };
  std::map<std::string, OpCount> per_op;
  std::map<std::string, int> expected_fail_by_category;
  int passed = 0, total = 0, unexpected = 0;
  auto start = std::chrono::steady_clock::now();
  for (const fs::path& dir : tests) {
    std::string name = dir.filename().string();
    if (only && !std::regex_search(name, *only)) continue;
    ++total;
    Expectation* exp = nullptr;
    for (auto& e : expectations)
      if ((e.suite.empty() || label.find(e.suite) != std::string::npos) &&
          std::regex_match(name, e.re)) {
        exp = &e;
        break;
      }
    Outcome o = run_test(dir);
    auto& oc = per_op[o.op.empty() ? "(unknown)" : o.op];
    ++oc.total;
    if (o.pass) {
      ++passed;
      ++oc.pass;
    }
    if (exp) ++exp->matched;
    if (o.pass && exp) {
      ++unexpected;
      fmt::print("UNEXPECTED PASS {}: listed as {} ({}); remove it from the expectations\n", name,
                 exp->category, exp->reason);
    } else if (!o.pass && !exp) {
      ++unexpected;
      fmt::print("FAIL {}: {}\n", name, o.reason);
    } else if (!o.pass) {
      ++expected_fail_by_category[exp->category];
      if (verbose) fmt::print("xfail {} [{}]: {}\n", name, exp->category, o.reason);
    } else if (verbose) {
      fmt::print("pass {}\n", name);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("\nper op (pass/total):\n");
  for (const auto& [op, c] : per_op) fmt::print("  {:<32} {}/{}\n", op, c.pass, c.total);
  fmt::print("expected failures by category:");
  for (const auto& [cat, n] : expected_fail_by_category) fmt::print(" {}={}", cat, n);
  fmt::print("\n");
  if (!only)
    for (const auto& e : expectations)
      if (e.matched == 0 && (e.suite.empty() || label.find(e.suite) != std::string::npos))
        fmt::print("note: expectation '{}' matches no test\n", e.pattern);
  fmt::print("conformance {}: {}/{} passed, {} unexpected ({:.1f} s)\n", label, passed, total,
             unexpected, secs);
  return unexpected ? 1 : 0;
}
