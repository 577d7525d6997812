// condense vs ONNX Runtime on the same models and the same seeded random inputs.
//
// For each model: import it into condense, run it, and run in ORT (tests/interop/ort_run.js,
// onnxruntime-node) both the original file and what condense exports from it. Checks:
//   condense  ~ ORT(original)          (the runtime agrees with the reference implementation)
//   ORT(exported) ~ ORT(original)      (what condense writes runs elsewhere and means the same)
//   condense  ~ <name>_output_0.pb     (light models only, see below)
// Tolerance: |a - b| <= rtol |b| + atol * max(1, max |b|), rtol 1e-3, atol 1e-4: atol scales with
// the output's magnitude (super-resolution outputs pixels near 1, classifiers probabilities).
//
// The light models (ONNX 1.22 backend data) are real architectures whose float weights were
// replaced by ConstantOfShape nodes, so every channel carries the same value and the output does
// not depend on the input: ORT gives exactly light_<name>_output_0.pb for zeros, ones or random
// input. So that file is checked too, whatever the input. The model-zoo models carry real weights
// and give the strong check, as do condense's own zoo models (`condense zoo`, seeded random
// weights), each written at opset 17 exactly as the CLI writes it. Skipped (with the reason) when
// node or onnxruntime-node is missing.
#include <condense/file.h>
#include <condense/onnx.h>
#include <condense/session.h>
#include <condense/zoo.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace condense;

namespace {

constexpr int kThreads = 2;
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-4;

std::string data_path(const std::string& rel) {
  return (fs::path(CONDENSE_DATA_DIR) / rel).string();
}

fs::path ort_package() {
  return fs::path(CONDENSE_SOURCE_DIR) / "bench" / "peers" / "node_modules" / "onnxruntime-node";
}

std::string ort_script() {
  return (fs::path(CONDENSE_SOURCE_DIR) / "tests" / "interop" / "ort_run.js").string();
}

// Empty when node is unavailable.
std::string node_executable() {
  std::string node = CONDENSE_NODE;
  if (node.empty() || node.find("NOTFOUND") != std::string::npos) return "";
  return ::access(node.c_str(), X_OK) == 0 ? node : "";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Command {
  int exit_code = -1;
  std::string output;
};

Command run_command(const std::string& cmd) {
  Command r;
  FILE* p = ::popen(fmt::format("{} 2>&1", cmd).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name) {
    dir = fs::temp_directory_path() / fmt::format("condense-interop-{}-{}", ::getpid(), name);
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Max |a - b| and whether every element is within tolerance of the reference b.
struct Compared {
  bool ok = false;
  double max_abs = 0;
  double scale = 0;  // max |b|
  std::string detail;
};

Compared compare(const Tensor& a, const Tensor& b) {
  Compared c;
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    c.detail = fmt::format("got {}{}, expected {}{}", dtype_name(a.dtype()), shape_str(a.shape()),
                           dtype_name(b.dtype()), shape_str(b.shape()));
    return c;
  }
  std::vector<float> av = a.to_f32_vector(), bv = b.to_f32_vector();
  for (float v : bv) c.scale = std::max(c.scale, double(std::abs(v)));
  double atol = kAtol * std::max(1.0, c.scale);
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    if (std::isnan(av[i]) && std::isnan(bv[i])) continue;
    double d = std::abs(double(av[i]) - double(bv[i]));
    if (std::isnan(d)) d = INFINITY;
    c.max_abs = std::max(c.max_abs, d);
    double excess = d - (atol + kRtol * std::abs(double(bv[i])));
    if (excess > 0) {
      ++bad;
      if (excess > worst_excess) worst_excess = excess, worst = static_cast<int64_t>(i);
    }
  }
  c.ok = bad == 0;
  c.detail = fmt::format("max abs diff {:.3g} (output scale {:.3g})", c.max_abs, c.scale);
  if (!c.ok)
    c.detail += fmt::format("; {} of {} elements out of tolerance, worst at {}: {} vs {}", bad,
                            av.size(), worst, av[worst], bv[worst]);
  return c;
}

// A small MLP built in code (MatMul, Add, Relu): runs wherever the harness does, with no data.
ir::Graph builtin_mlp() {
  ir::Graph g;
  g.name = "mlp";
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  auto weights = [&](Shape shape) {
    Tensor t = Tensor::empty(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    return t;
  };
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 64});
  ir::Value* h = x;
  for (int layer = 0; layer < 3; ++layer) {
    int64_t out = layer == 2 ? 10 : 64;
    ir::Value* w = g.add_constant(fmt::format("w{}", layer), weights({64, out}));
    ir::Value* b = g.add_constant(fmt::format("b{}", layer), weights({out}));
    h = g.add_node(OpKind::MatMul, {h, w}, 1, fmt::format("fc{}", layer))->outputs[0];
    h = g.add_node(OpKind::Add, {h, b}, 1, fmt::format("bias{}", layer))->outputs[0];
    if (layer < 2) h = g.add_node(OpKind::Relu, {h}, 1, fmt::format("relu{}", layer))->outputs[0];
  }
  g.outputs.push_back(h);
  return g;
}

struct InteropCase {
  const char* name;
  const char* model;         // under the data folder; nullptr: builtin_mlp() or `zoo`
  const char* reference;     // light models: the expected output .pb, else nullptr
  int64_t symbolic_dim = 1;  // value given to symbolic input dimensions (batch)
  std::string zoo;           // a `condense zoo` model name, built with zoo_options
  zoo::ZooOptions zoo_options;
};

void PrintTo(const InteropCase& c, std::ostream* os) {
  *os << c.name;
}

class OrtInterop : public ::testing::TestWithParam<InteropCase> {};

// Runs ort_run.js on `model` with the given input files; outputs are read back in order.
Result<std::vector<Tensor>> run_ort(const std::string& node, const std::string& model,
                                    const std::vector<std::string>& inputs, const fs::path& out_dir,
                                    std::string* log, int* exit_code) {
  std::string cmd = fmt::format("{} {} --threads {} {} {}", quote(node), quote(ort_script()),
                                kThreads, quote(model), quote(out_dir.string()));
  for (const std::string& in : inputs) cmd += fmt::format(" '{}'", in);
  Command r = run_command(cmd);
  *log = r.output;
  *exit_code = r.exit_code;
  if (r.exit_code != 0)
    return Status::errorf("ort_run.js exited with {}: {}", r.exit_code, r.output);
  std::vector<Tensor> outs;
  for (int k = 0; fs::exists(out_dir / fmt::format("output_{}.pb", k)); ++k) {
    CONDENSE_ASSIGN_OR_RETURN(
        Tensor t, onnx::read_tensor_pb((out_dir / fmt::format("output_{}.pb", k)).string()));
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace

TEST_P(OrtInterop, MatchesOnnxRuntime) {
  const InteropCase& c = GetParam();
  std::string model = c.model ? data_path(c.model) : "";
  if (c.model && !fs::exists(model)) GTEST_SKIP() << "test data not found: " << model;
  std::string node = node_executable();
  if (node.empty()) GTEST_SKIP() << "node (Node.js) not found: interop with ONNX Runtime skipped";
  if (!fs::exists(ort_package()))
    GTEST_SKIP() << "onnxruntime-node not installed at " << ort_package().string()
                 << ": run `cd bench/peers && npm install --ignore-scripts`";
  Scratch scratch(c.name);
  if (!c.zoo.empty()) {  // a zoo model, written as `condense zoo` writes it
    auto g = zoo::build(c.zoo, c.zoo_options);
    ASSERT_TRUE(g) << g.status().message();
    auto bytes = onnx::export_bytes(*g, {.opset = zoo::kOpset});
    ASSERT_TRUE(bytes) << bytes.status().message();
    ASSERT_TRUE(onnx::check_model_bytes(*bytes));
    model = (scratch.dir / "zoo.onnx").string();
    ASSERT_TRUE(write_file_atomic(model, *bytes));
  } else if (!c.model) {  // the built-in graph, written by condense itself
    auto bytes = onnx::export_bytes(builtin_mlp());
    ASSERT_TRUE(bytes) << bytes.status().message();
    model = (scratch.dir / "builtin.onnx").string();
    ASSERT_TRUE(write_file_atomic(model, *bytes));
  }

  // Import, export, and make seeded random inputs from the declared input types.
  auto t0 = std::chrono::steady_clock::now();
  auto g = onnx::import_file(model);
  ASSERT_TRUE(g) << g.status().message();
  auto exported = onnx::export_bytes(*g);
  ASSERT_TRUE(exported) << "export: " << exported.status().message();
  std::string exported_path = (scratch.dir / "exported.onnx").string();
  ASSERT_TRUE(write_file_atomic(exported_path, *exported));
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Tensor> inputs;
  std::vector<std::string> input_files;
  for (const ir::Value* v : g->inputs) {
    ASSERT_EQ(v->dtype, DType::F32) << "input '" << v->name << "' is not f32";
    ASSERT_TRUE(v->has_shape) << "input '" << v->name << "' has no declared shape";
    Shape shape;
    for (const ir::Dim& d : v->dims) shape.push_back(d.is_static() ? d.value : c.symbolic_dim);
    Tensor x = Tensor::empty(DType::F32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
    std::string file = (scratch.dir / fmt::format("input_{}.pb", inputs.size())).string();
    ASSERT_TRUE(onnx::write_tensor_pb(file, x, v->name));
    inputs.push_back(x);
    input_files.push_back(file);
  }
  double import_s = seconds_since(t0);

  auto s = Session::create(std::move(*g), [] {
    SessionOptions o;
    o.threads = kThreads;
    return o;
  }());
  ASSERT_TRUE(s) << s.status().message();
  t0 = std::chrono::steady_clock::now();
  auto ours = (*s)->run(inputs);
  double run_s = seconds_since(t0);
  ASSERT_TRUE(ours) << ours.status().message();

  std::string log;
  int code = 0;
  t0 = std::chrono::steady_clock::now();
  auto ort = run_ort(node, model, input_files, scratch.dir / "ort_original", &log, &code);
  double ort_s = seconds_since(t0);
  if (code == 77) GTEST_SKIP() << log;
  ASSERT_TRUE(ort) << ort.status().message();
  auto ort_exp =
      run_ort(node, exported_path, input_files, scratch.dir / "ort_exported", &log, &code);
  ASSERT_TRUE(ort_exp) << "ORT cannot run what condense exported: " << ort_exp.status().message();

  ASSERT_EQ(ours->size(), ort->size());
  ASSERT_EQ(ort_exp->size(), ort->size());
  for (size_t i = 0; i < ort->size(); ++i) {
    Compared a = compare((*ours)[i], (*ort)[i]);
    EXPECT_TRUE(a.ok) << c.name << " output " << i << ", condense vs ORT: " << a.detail;
    Compared b = compare((*ort_exp)[i], (*ort)[i]);
    EXPECT_TRUE(b.ok) << c.name << " output " << i
                      << ", ORT(exported) vs ORT(original): " << b.detail;
    std::printf("%s output %zu: condense vs ORT %s; ORT on condense's export vs original %s\n",
                c.name, i, a.detail.c_str(), b.detail.c_str());
  }
  if (c.reference) {
    std::string ref_path = data_path(c.reference);
    auto ref = onnx::read_tensor_pb(ref_path);
    ASSERT_TRUE(ref) << ref.status().message();
    Compared r = compare((*ours)[0], *ref);
    EXPECT_TRUE(r.ok) << c.name << " vs " << ref_path << ": " << r.detail;
    std::printf("%s output 0 vs %s: %s\n", c.name, fs::path(ref_path).filename().c_str(),
                r.detail.c_str());
  }
  std::printf(
      "%s: condense import+export %.2f s, run %.2f s; ORT (node start, load, run) %.2f s; "
      "%d threads\n",
      c.name, import_s, run_s, ort_s, kThreads);
}

namespace {

std::vector<InteropCase> interop_cases() {
  std::vector<InteropCase> cases;
  static const char* const kLight[] = {"bvlc_alexnet", "densenet121", "inception_v1",
                                       "inception_v2", "resnet50",    "shufflenet",
                                       "squeezenet",   "vgg19",       "zfnet512"};
  static std::vector<std::string> paths;  // keeps the c_str()s below alive
  paths.reserve(2 * std::size(kLight));
  for (const char* name : kLight) {
    paths.push_back(fmt::format("onnx-tests-1.22/light/light_{}.onnx", name));
    const char* model = paths.back().c_str();
    paths.push_back(fmt::format("onnx-tests-1.22/light/light_{}_output_0.pb", name));
    cases.push_back(InteropCase{name, model, paths.back().c_str(), 1, "", {}});
  }
  cases.push_back({"builtin_mlp", nullptr, nullptr, 16, "", {}});
  cases.push_back({"mnist8", "models/mnist-8/mnist-8.onnx", nullptr, 1, "", {}});
  cases.push_back({"super_resolution10",
                   "models/super-resolution-10/super-resolution-10.onnx",
                   nullptr,
                   1,
                   "",
                   {}});
  cases.push_back({"resnet20", "models/resnet20-cifar10/resnet20.onnx", nullptr, 8, "", {}});
  // Every zoo model with its defaults (batch-norm nodes where it has them), plus the option
  // variants that change the graph: folded batch norm, option-B shortcuts, a width multiplier.
  static std::vector<std::string> zoo_names;  // keeps the c_str()s below alive
  zoo_names.reserve(zoo::model_names().size() + 3);
  for (const std::string& m : zoo::model_names()) {
    zoo_names.push_back("zoo_" + m);
    std::replace(zoo_names.back().begin(), zoo_names.back().end(), '-', '_');
    cases.push_back({zoo_names.back().c_str(), nullptr, nullptr, 4, m, {}});
  }
  zoo::ZooOptions folded, option_b, half;
  folded.batchnorm = false;
  option_b.shortcut = "B";
  half.width = 0.5;
  cases.push_back({"zoo_resnet20_folded_bn", nullptr, nullptr, 4, "resnet20", folded});
  cases.push_back({"zoo_resnet32_shortcut_b", nullptr, nullptr, 4, "resnet32", option_b});
  cases.push_back({"zoo_mobilenetv2_width_0_5", nullptr, nullptr, 4, "mobilenetv2", half});
  cases.push_back({"zoo_vgg_small_folded_bn", nullptr, nullptr, 4, "vgg-small", folded});
  return cases;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Models, OrtInterop, ::testing::ValuesIn(interop_cases()),
                         [](const ::testing::TestParamInfo<InteropCase>& info) {
                           return std::string(info.param.name);
                         });
