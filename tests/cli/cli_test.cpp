// Runs the built `condense` binary on good and bad input. Every failure must be one `error:` line
// (plus an optional `hint:` line), a non-zero exit, and no output file left behind.
#include <condense/file.h>
#include <condense/ir.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "onnx_writer.h"

using namespace condense;
namespace fs = std::filesystem;

namespace {

struct CliRun {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Cli : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() /
          fmt::format("condense_cli_{}_{}_{}", info->name(), ::getpid(), rand());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::string write(const std::string& name, std::string_view bytes) const {
    std::ofstream(dir / name, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path(name);
  }

  CliRun cli(const std::string& args) const {
    CliRun r;
    std::string cmd = fmt::format("'{}' {} >'{}' 2>'{}'", CONDENSE_CLI_PATH, args, path(".stdout"),
                                  path(".stderr"));
    int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir / ".stdout");
    r.err = slurp(dir / ".stderr");
    fs::remove(dir / ".stdout");
    fs::remove(dir / ".stderr");
    return r;
  }

  // Files in the folder, test scaffolding excluded.
  std::vector<std::string> files_in(const fs::path& d) const {
    std::vector<std::string> names;
    if (!fs::exists(d)) return names;
    for (const auto& e : fs::recursive_directory_iterator(d))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

// The error contract: exit code != 0 (and not a signal), stderr is "error: ..." plus at most a
// "hint: ..." line, and the message contains every word in `words`.
void expect_clean_error(const CliRun& r, std::initializer_list<std::string_view> words = {}) {
  EXPECT_NE(r.rc, 0) << r.out << r.err;
  EXPECT_LT(r.rc, 128) << "killed by a signal: " << r.err;
  std::vector<std::string> lines;
  std::stringstream ss(r.err);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_GE(lines.size(), 1u) << "no error message";
  EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << r.err;
  EXPECT_LE(lines.size(), 2u) << r.err;
  if (lines.size() == 2) {
    EXPECT_EQ(lines[1].rfind("hint: ", 0), 0u) << r.err;
  }
  for (auto w : words)
    EXPECT_NE(lines[0].find(w), std::string::npos) << "missing '" << w << "' in: " << r.err;
}

// x: f32[N, 4] -> MatMul(w: 4x2) -> Add(b) -> Relu -> y: f32[N, 2]
std::string mlp_model(const std::string& out_name = "y") {
  ir::Graph g;
  g.name = "mlp";
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Value* w = g.add_constant("w", Tensor::from_vector<float>({1, 0, 0, 1, 1, 1, -1, 0}, {4, 2}));
  ir::Value* b = g.add_constant("b", Tensor::from_vector<float>({0.5f, -10.f}, {2}));
  ir::Value* h = g.add_node(OpKind::MatMul, {x, w}, 1, "fc")->outputs[0];
  ir::Value* z = g.add_node(OpKind::Add, {h, b}, 1, "bias")->outputs[0];
  ir::Node* relu = g.add_node(OpKind::Relu, {z}, 1, "relu");
  relu->outputs[0]->name = out_name;
  g.outputs.push_back(relu->outputs[0]);
  auto bytes = onnx::export_bytes(g);
  CONDENSE_CHECK_MSG(bytes.is_ok(), bytes.status().message().c_str());
  return *bytes;
}

// Two inputs a, b: f32[2, 2]; outputs "sum" = a + b and "r/elu:0" = relu(a) (a name to sanitize).
std::string two_input_model() {
  ir::Graph g;
  ir::Value* a = g.add_input("a", DType::F32, {2, 2});
  ir::Value* b = g.add_input("b", DType::F32, {2, 2});
  ir::Node* s = g.add_node(OpKind::Add, {a, b}, 1, "add");
  s->outputs[0]->name = "sum";
  ir::Node* r = g.add_node(OpKind::Relu, {a}, 1, "relu");
  r->outputs[0]->name = "r/elu:0";
  g.outputs = {s->outputs[0], r->outputs[0]};
  return *onnx::export_bytes(g);
}

// x: f32[N, 4] reshaped to the constant shape [2, 2]: fails at run time unless N == 1.
std::string reshape_model() {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Value* shape = g.add_constant("shape", Tensor::from_vector<int64_t>({2, 2}, {2}));
  ir::Node* r = g.add_node(OpKind::Reshape, {x, shape}, 1, "reshape");
  r->outputs[0]->name = "y";
  g.outputs.push_back(r->outputs[0]);
  return *onnx::export_bytes(g);
}

std::string x_npy(int64_t n, DType dt = DType::F32) {
  std::vector<float> v(static_cast<size_t>(n * 4));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) - 3.0f;
  Tensor t = Tensor::from_vector<float>(v, {n, 4});
  if (dt == DType::F64) {
    Tensor d = Tensor::empty(DType::F64, {n, 4});
    for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = v[i];
    t = d;
  }
  return npy::serialize(t);
}

std::string data_dir_model(const std::string& rel) {
  fs::path p = fs::path(CONDENSE_DATA_DIR) / rel;
  return fs::exists(p) ? p.string() : "";
}

}  // namespace

TEST_F(Cli, UsageErrorIsOneLine) {
  expect_clean_error(cli("run"), {"model"});
  expect_clean_error(cli("bogus-command"));
  CliRun help = cli("--help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("info"), std::string::npos);
}

TEST_F(Cli, MissingFile) {
  for (const char* cmd : {"info", "run", "bench"}) {
    CliRun r = cli(fmt::format("{} '{}'", cmd, path("nope.onnx")));
    expect_clean_error(r, {"nope.onnx"});
  }
  CliRun d = cli(fmt::format("info '{}'", dir.string()));
  expect_clean_error(d, {"directory"});
}

TEST_F(Cli, EmptyFile) {
  std::string p = write("empty.onnx", "");
  expect_clean_error(cli(fmt::format("info '{}'", p)), {"empty"});
  expect_clean_error(cli(fmt::format("run '{}' -o '{}'", p, path("out"))), {"empty"});
  EXPECT_FALSE(fs::exists(path("out")));
}

TEST_F(Cli, TruncatedModel) {
  std::string m = mlp_model();
  std::string p = write("half.onnx", std::string_view(m).substr(0, m.size() / 2));
  expect_clean_error(cli(fmt::format("info '{}'", p)), {"half.onnx", "not a valid ONNX model"});

  std::string mnist = data_dir_model("models/mnist-8/mnist-8.onnx");
  if (mnist.empty())
    GTEST_SKIP() << "SKIPPED mnist-8 part: " << CONDENSE_DATA_DIR << "/models/mnist-8 is absent";
  auto bytes = read_file(mnist);
  ASSERT_TRUE(bytes);
  std::string half =
      write("mnist-half.onnx", std::string_view(*bytes).substr(0, bytes->size() / 2));
  expect_clean_error(cli(fmt::format("info '{}'", half)), {"mnist-half.onnx"});
  expect_clean_error(cli(fmt::format("run '{}' -o '{}'", half, path("out"))));
  expect_clean_error(cli(fmt::format("bench '{}' --iterations 1", half)));
  EXPECT_FALSE(fs::exists(path("out")));
}

TEST_F(Cli, RandomBytes) {
  std::mt19937 rng(1234);
  for (int k = 0; k < 5; ++k) {
    std::string junk(100 + 300 * k, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    std::string p = write("junk.onnx", junk);
    expect_clean_error(cli(fmt::format("info '{}'", p)));
  }
}

TEST_F(Cli, UnknownOpNamesOpDomainOpsetAndNode) {
  using namespace condense::test;
  Pb g;
  g.m(kNode, node("FancyOp", {"x"}, {"y"}, "fancy_1", "com.example"));
  g.s(kName, "g").m(kInput, value_info("x", 1, {1, 4})).m(kOutput, value_info("y", 1, {1, 4}));
  std::string p = write("unknown.onnx", model(g, 13, {"com.example"}));
  CliRun r = cli(fmt::format("info '{}'", p));
  expect_clean_error(r, {"FancyOp", "com.example", "opset 1", "fancy_1"});

  Pb g2;
  g2.m(kNode, node("Relux", {"x"}, {"y"}, "n0"));
  g2.s(kName, "g").m(kInput, value_info("x", 1, {1, 4})).m(kOutput, value_info("y", 1, {1, 4}));
  CliRun r2 = cli(fmt::format("run '{}'", write("unknown2.onnx", model(g2, 17))));
  expect_clean_error(r2, {"Relux", "ai.onnx", "opset 17", "n0"});
}

TEST_F(Cli, UnsupportedDtypeInput) {
  using namespace condense::test;
  Pb g;
  g.m(kNode, node("Identity", {"s"}, {"y"}, "id"));
  g.s(kName, "g")
      .m(kInput, value_info("s", 8 /* STRING */, {2}))
      .m(kOutput, value_info("y", 8, {2}));
  CliRun r = cli(fmt::format("info '{}'", write("string.onnx", model(g, 13))));
  expect_clean_error(r, {"'s'", "STRING"});
}

TEST_F(Cli, InputContradictsInitializer) {
  using namespace condense::test;
  Pb g;
  g.m(kNode, node("Add", {"x", "w"}, {"y"}, "add"));
  g.s(kName, "g");
  g.m(kInitializer, float_initializer("w", {2, 2}, {1, 2, 3, 4}));
  g.m(kInput, value_info("x", 1, {2, 2})).m(kInput, value_info("w", 1, {3, 2}));
  g.m(kOutput, value_info("y", 1, {2, 2}));
  CliRun r = cli(fmt::format("info '{}'", write("contra.onnx", model(g, 13))));
  expect_clean_error(r, {"'w'", "[3, 2]", "[2, 2]"});
}

TEST_F(Cli, WrongInputNameDtypeShape) {
  std::string m = write("mlp.onnx", mlp_model());
  std::string x = write("x.npy", x_npy(2));
  std::string out = path("out");
  CliRun name = cli(fmt::format("run '{}' -i nope='{}' -o '{}'", m, x, out));
  expect_clean_error(name, {"no input named 'nope'"});
  EXPECT_NE(name.err.find("hint: "), std::string::npos);
  CliRun dt = cli(
      fmt::format("run '{}' -i x='{}' -o '{}'", m, write("x64.npy", x_npy(2, DType::F64)), out));
  expect_clean_error(dt, {"'x'", "f32[N, 4]", "f64[2, 4]"});
  CliRun shape =
      cli(fmt::format("run '{}' -i x='{}' -o '{}'", m,
                      write("x3.npy", npy::serialize(Tensor::zeros(DType::F32, {2, 3}))), out));
  expect_clean_error(shape, {"'x'", "f32[N, 4]", "f32[2, 3]"});
  CliRun missing = cli(fmt::format("run '{}' -o '{}'", m, out));
  expect_clean_error(missing, {"'x'", "not given"});
  CliRun bad_file =
      cli(fmt::format("run '{}' -i x='{}' -o '{}'", m, write("bad.npy", "\x93NUMPY garbage"), out));
  expect_clean_error(bad_file, {"bad.npy"});
  EXPECT_FALSE(fs::exists(out)) << "no output folder after a failed run";
}

TEST_F(Cli, RuntimeFailureLeavesNoOutput) {
  std::string m = write("reshape.onnx", reshape_model());
  std::string out = path("out");
  CliRun r = cli(fmt::format("run '{}' -i '{}' -o '{}'", m, write("x.npy", x_npy(3)), out));
  expect_clean_error(r, {"reshape"});
  EXPECT_TRUE(files_in(out).empty());
  CliRun ok = cli(fmt::format("run '{}' -i '{}' -o '{}'", m, write("x1.npy", x_npy(1)), out));
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(files_in(out), std::vector<std::string>{"y.npy"});
}

TEST_F(Cli, RunWritesOutputs) {
  std::string m = write("mlp.onnx", mlp_model());
  std::string out = path("out");
  CliRun r =
      cli(fmt::format("run '{}' -i '{}' -o '{}' --threads 1", m, write("x.npy", x_npy(2)), out));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("y: f32[2, 2]"), std::string::npos) << r.out;
  auto y = npy::read((fs::path(out) / "y.npy").string());
  ASSERT_TRUE(y) << y.status().message();
  // x row 0 = [-3, -2, -1, 0]: [-3 + -1, -2 + -1] + [0.5, -10] -> relu -> [0, 0]
  // x row 1 = [1, 2, 3, 4]:    [1 + 3 - 4, 2 + 3] + [0.5, -10] -> relu -> [0.5, 0]
  EXPECT_EQ(y->to_f32_vector(), (std::vector<float>{0, 0, 0.5f, 0}));

  // The same through every input format and flag.
  Tensor xt = *npy::parse(x_npy(2));
  std::string pb = write("x.pb", *onnx::serialize_tensor_pb(xt, "x"));
  std::string npz = write("x.npz", npy::serialize_npz({{"x", xt}}));
  for (std::string spec : {"x=" + pb, pb, "x=" + npz, npz, "x=" + npz + ":x", npz + ":x"}) {
    std::string o = path("o2");
    CliRun r2 = cli(fmt::format("run '{}' -i '{}' -o '{}' --reference --no-optimize", m, spec, o));
    ASSERT_EQ(r2.rc, 0) << spec << ": " << r2.err;
    auto y2 = npy::read((fs::path(o) / "y.npy").string());
    ASSERT_TRUE(y2) << spec;
    EXPECT_TRUE(y2->identical(*y)) << spec;
    fs::remove_all(o);
  }
  CliRun pbout = cli(fmt::format("run '{}' -i '{}' -o '{}' --format pb", m, pb, path("o3")));
  ASSERT_EQ(pbout.rc, 0) << pbout.err;
  auto ypb = onnx::read_tensor_pb((fs::path(path("o3")) / "y.pb").string());
  ASSERT_TRUE(ypb) << ypb.status().message();
  EXPECT_TRUE(ypb->identical(*y));
  CliRun nomember = cli(fmt::format("run '{}' -i '{}:zz' -o '{}'", m, npz, path("o4")));
  expect_clean_error(nomember, {"no array named 'zz'"});
}

TEST_F(Cli, RunTwoInputsSanitizesNames) {
  std::string m = write("two.onnx", two_input_model());
  Tensor a = Tensor::from_vector<float>({1, -2, 3, -4}, {2, 2});
  Tensor b = Tensor::from_vector<float>({1, 1, 1, 1}, {2, 2});
  std::string npz = write("ab.npz", npy::serialize_npz({{"a", a}, {"b", b}}));
  std::string out = path("out");
  CliRun r = cli(fmt::format("run '{}' -i '{}' -o '{}'", m, npz, out));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(files_in(out), (std::vector<std::string>{"r_elu_0.npy", "sum.npy"}));
  CliRun unnamed = cli(fmt::format("run '{}' -i '{}'", m, write("a.npy", npy::serialize(a))));
  expect_clean_error(unnamed, {"no input name", "2 inputs"});
}

TEST_F(Cli, NeverOverwritesAnInput) {
  // The output "x" would be written to out/x.npy, which is the input file itself.
  std::string m = write("mlp.onnx", mlp_model("x_out"));
  fs::create_directories(dir / "out");
  std::string in = (dir / "out" / "x_out.npy").string();
  std::ofstream(in, std::ios::binary) << x_npy(1);
  std::string before = slurp(in);
  CliRun r = cli(fmt::format("run '{}' -i x='{}' -o '{}'", m, in, path("out")));
  expect_clean_error(r, {"refusing to overwrite"});
  EXPECT_EQ(slurp(in), before);
}

TEST_F(Cli, InfoReportsShapesParamsAndMacs) {
  std::string m = write("mlp.onnx", mlp_model());
  CliRun r = cli(fmt::format("info '{}' --kernels --graph", m));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("f32[N, 4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: 10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total MACs: 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("%fc = MatMul"), std::string::npos) << r.out;
  CliRun j = cli(fmt::format("info '{}' --json", m));
  ASSERT_EQ(j.rc, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["inputs"][0]["name"], "x");
  EXPECT_EQ(doc["inputs"][0]["shape"][0], "N");
  EXPECT_EQ(doc["inputs"][0]["shape"][1], 4);
  EXPECT_EQ(doc["parameters"], 10);
  EXPECT_EQ(doc["parameter_bytes"], 40);
  EXPECT_EQ(doc["op_histogram"]["MatMul"], 1);
  EXPECT_EQ(doc["layers"][0]["macs"], 8);
  EXPECT_EQ(doc["total_macs"], 8);
  ASSERT_TRUE(doc["kernels"].is_array());
  EXPECT_EQ(doc["kernels"].size(), 2u);  // fc, then the bias Add with the Relu fused into it
  EXPECT_EQ(doc["kernels"][0]["node"], "fc");
  EXPECT_EQ(doc["kernels"][1]["node"], "bias");
}

TEST_F(Cli, InfoPropagatesShapeComputations) {
  // MatMul after a Reshape whose shape comes from a Constant node: MACs still known.
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 2, 3});
  ir::Node* c = g.add_node(OpKind::Constant, {}, 1, "shape_const");
  c->attrs["value"] = ir::Attribute::of_tensor(Tensor::from_vector<int64_t>({-1, 6}, {2}));
  ir::Value* flat = g.add_node(OpKind::Reshape, {x, c->outputs[0]}, 1, "flatten")->outputs[0];
  ir::Value* w = g.add_constant("w", Tensor::zeros(DType::F32, {6, 5}));
  ir::Value* y = g.add_node(OpKind::MatMul, {flat, w}, 1, "fc")->outputs[0];
  g.outputs.push_back(y);
  auto bytes = onnx::export_bytes(g);
  ASSERT_TRUE(bytes) << bytes.status().message();
  CliRun j = cli(fmt::format("info '{}' --json", write("m.onnx", *bytes)));
  ASSERT_EQ(j.rc, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["total_macs"], 30) << j.out;
  EXPECT_EQ(doc["total_macs_complete"], true);
}

TEST_F(Cli, BenchJson) {
  std::string m = write("mlp.onnx", mlp_model());
  CliRun r =
      cli(fmt::format("bench '{}' --batch 5 --threads 1 --warmup 1 --iterations 3 --json", m));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["iterations"], 3);
  EXPECT_EQ(doc["batch"], 5);
  EXPECT_EQ(doc["inputs"][0]["shape"], (std::vector<int64_t>{5, 4}));
  EXPECT_GT(doc["latency_ms"]["median"].get<double>(), 0.0);
  EXPECT_GT(doc["throughput_items_per_s"].get<double>(), 0.0);
  CliRun t = cli(fmt::format("bench '{}' --input-shape x=3x4 --warmup 0 --min-time 50ms", m));
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("f32[3, 4]"), std::string::npos) << t.out;
  expect_clean_error(cli(fmt::format("bench '{}' --input-shape q=3x4", m)), {"no input named 'q'"});
  expect_clean_error(cli(fmt::format("bench '{}' --input-shape x=3x5 --iterations 1", m)),
                     {"f32[N, 4]"});
  expect_clean_error(cli(fmt::format("bench '{}' --min-time soon", m)), {"duration"});
}

TEST_F(Cli, ZooWritesEveryModelAndRejectsBadOptions) {
  CliRun list = cli("zoo --list");
  ASSERT_EQ(list.rc, 0) << list.err;
  for (const char* m : {"resnet32", "resnet56", "mobilenetv2", "vgg-small", "tiny-transformer"})
    EXPECT_NE(list.out.find(m), std::string::npos) << list.out;

  CliRun bn = cli(fmt::format("zoo resnet20 -o '{}'", path("bn.onnx")));
  ASSERT_EQ(bn.rc, 0) << bn.err;
  EXPECT_NE(bn.out.find("269722 parameters"), std::string::npos) << bn.out;
  auto g = onnx::import_file(path("bn.onnx"));
  ASSERT_TRUE(g) << g.status().message();
  int bn_nodes = 0;
  for (const auto& n : g->nodes()) bn_nodes += n->op == OpKind::BatchNormalization;
  EXPECT_EQ(bn_nodes, 19);
  CliRun folded = cli(fmt::format("zoo resnet20 --no-bn -o '{}'", path("folded.onnx")));
  ASSERT_EQ(folded.rc, 0) << folded.err;
  EXPECT_NE(folded.out.find("269034 parameters"), std::string::npos) << folded.out;
  CliRun half = cli(fmt::format("zoo mobilenetv2 --width 0.5 -o '{}'", path("mb.onnx")));
  ASSERT_EQ(half.rc, 0) << half.err;
  EXPECT_NE(half.out.find("700490 parameters"), std::string::npos) << half.out;

  const std::string out = path("bad.onnx");
  expect_clean_error(cli(fmt::format("zoo mobilenetv2 --width 0 -o '{}'", out)), {"--width"});
  expect_clean_error(cli(fmt::format("zoo mobilenetv2 --width half -o '{}'", out)), {"'half'"});
  expect_clean_error(cli(fmt::format("zoo mobilenetv2 --width 5 -o '{}'", out)), {"(0, 4]"});
  expect_clean_error(cli(fmt::format("zoo resnet20 --width 0.5 -o '{}'", out)),
                     {"mobilenetv2 only"});
  expect_clean_error(cli(fmt::format("zoo lenet5 --no-bn -o '{}'", out)), {"lenet5"});
  expect_clean_error(cli(fmt::format("zoo resnet20 --shortcut C -o '{}'", out)), {"shortcut"});
  expect_clean_error(cli(fmt::format("zoo vgg19 -o '{}'", out)), {"vgg19", "vgg-small"});
  EXPECT_FALSE(fs::exists(out));
}

// ---- condense train / condense eval ------------------------------------------------------------

namespace {

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

bool have_fashion() {
  return fs::exists(fs::path(kFashionDir) / "t10k-labels-idx1-ubyte.gz") ||
         fs::exists(fs::path(kFashionDir) / "t10k-labels-idx1-ubyte");
}

// The last non-empty line of `text`.
std::string last_line(const std::string& text) {
  std::stringstream ss(text);
  std::string last;
  for (std::string l; std::getline(ss, l);)
    if (!l.empty()) last = l;
  return last;
}

}  // namespace

TEST_F(Cli, TrainThenEvalFashionMnist) {
  if (!have_fashion()) GTEST_SKIP() << "SKIPPED: Fashion-MNIST is not installed in " << kFashionDir;
  ASSERT_EQ(cli(fmt::format("zoo lenet5 -o '{}'", path("l5.onnx"))).rc, 0);
  CliRun t = cli(fmt::format(
      "train '{}' --data fashion-mnist --limit 512 --val-limit 200 --epochs 2 --batch 64 "
      "--lr 0.01 --momentum 0.9 --schedule cosine --threads 2 --seed 3 --json -o '{}'",
      path("l5.onnx"), path("trained.onnx")));
  ASSERT_EQ(t.rc, 0) << t.err;
  // One JSON object per epoch on stdout.
  std::stringstream ss(t.out);
  std::vector<nlohmann::json> epochs;
  for (std::string l; std::getline(ss, l);) epochs.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(epochs.size(), 2u) << t.out;
  EXPECT_EQ(epochs[1]["epoch"], 2);
  EXPECT_EQ(epochs[1]["val"]["count"], 200);
  EXPECT_GT(epochs[1]["val"]["accuracy"].get<double>(), 0.5);
  EXPECT_GT(epochs[1]["images_per_s"].get<double>(), 0);
  EXPECT_TRUE(fs::exists(path("trained.ckpt.npz")));
  // Not a terminal: plain progress lines, no carriage returns.
  EXPECT_NE(t.err.find("epoch 1/2"), std::string::npos) << t.err;
  EXPECT_EQ(t.err.find('\r'), std::string::npos);

  CliRun e =
      cli(fmt::format("eval '{}' --data fashion-mnist --limit 200 --json", path("trained.onnx")));
  ASSERT_EQ(e.rc, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["count"], 200);
  EXPECT_EQ(j["normalize"], "mnist") << "the trained model records its normalization";
  // The same accuracy as the run's last validation (same 200 samples, same weights).
  EXPECT_EQ(j["top1"].get<double>(), epochs[1]["val"]["accuracy"].get<double>());
  EXPECT_EQ(j["confusion"].size(), 10u);
  EXPECT_EQ(j["classes"][0]["name"], "T-shirt/top");
  CliRun h = cli(fmt::format("eval '{}' --data fashion-mnist --limit 200", path("trained.onnx")));
  ASSERT_EQ(h.rc, 0) << h.err;
  EXPECT_NE(h.out.find("top-1"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("confusion"), std::string::npos) << h.out;
}

TEST_F(Cli, TrainBadInput) {
  ASSERT_EQ(cli(fmt::format("zoo lenet5 -o '{}'", path("l5.onnx"))).rc, 0);
  ASSERT_EQ(cli(fmt::format("zoo resnet20 -o '{}'", path("r20.onnx"))).rc, 0);
  const std::string out = path("out.onnx");
  auto train = [&](const std::string& model, const std::string& args) {
    return cli(fmt::format("train '{}' -o '{}' --threads 2 {}", path(model), out, args));
  };
  expect_clean_error(train("l5.onnx", "--data mnist:/no/such/dir"), {"/no/such/dir"});
  expect_clean_error(train("l5.onnx", "--data nosuchkind:x"), {"nosuchkind"});
  expect_clean_error(
      cli(fmt::format("train '{}' --data fashion-mnist -o /no/such/dir/x.onnx", path("l5.onnx"))),
      {"/no/such/dir"});
  expect_clean_error(
      cli(fmt::format("train '{}' --data fashion-mnist -o '{}'", path("l5.onnx"), path("l5.onnx"))),
      {"input model"});
  expect_clean_error(train("l5.onnx", "--data fashion-mnist --resume /no/such.ckpt.npz"),
                     {"/no/such.ckpt.npz"});
  expect_clean_error(train("l5.onnx", "--data fashion-mnist --opt rmsprop"), {"rmsprop"});
  expect_clean_error(train("l5.onnx", "--data fashion-mnist --schedule bogus"), {"bogus"});
  if (have_fashion()) {
    expect_clean_error(train("l5.onnx", "--data fashion-mnist --train nomatch"),
                       {"no trainable parameters"});
    expect_clean_error(train("r20.onnx", "--data fashion-mnist --limit 64"), {"1 channel vs 3"});
    // A learning rate that makes the loss overflow: a clear stop, no model written.
    CliRun nan = train("l5.onnx", "--data fashion-mnist --limit 1024 --val none --lr 1e4");
    EXPECT_EQ(nan.rc, 1) << nan.err;
    EXPECT_EQ(last_line(nan.err).rfind("error: ", 0), 0u) << nan.err;
    EXPECT_TRUE(nan.err.find("NaN") != std::string::npos ||
                nan.err.find("infinite") != std::string::npos)
        << nan.err;
  }
  EXPECT_FALSE(fs::exists(out));
  expect_clean_error(cli(fmt::format("eval '{}' --data fashion-mnist:/no/such", path("l5.onnx"))),
                     {"/no/such"});
  expect_clean_error(
      cli(fmt::format("eval '{}' --data fashion-mnist --split dev", path("l5.onnx"))), {"dev"});
}

// Ctrl-C during training saves a checkpoint and exits 130 without writing the model; --resume
// finishes the run.
TEST_F(Cli, TrainCtrlCSavesACheckpointAndResumes) {
  if (!have_fashion()) GTEST_SKIP() << "SKIPPED: Fashion-MNIST is not installed in " << kFashionDir;
  ASSERT_EQ(cli(fmt::format("zoo lenet5 -o '{}'", path("l5.onnx"))).rc, 0);
  const std::string err_file = path("train.err");
  const std::string args = fmt::format(
      "train '{}' --data fashion-mnist --limit 6400 --val none --epochs 2 --batch 64 "
      "--threads 2 -o '{}'",
      path("l5.onnx"), path("t.onnx"));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string cmd =
        fmt::format("exec '{}' {} >/dev/null 2>'{}'", CONDENSE_CLI_PATH, args, err_file);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for the first progress line (10% of epoch 1), then interrupt.
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    usleep(100 * 1000);
    started = slurp(err_file).find("epoch 1/2") != std::string::npos;
  }
  ASSERT_TRUE(started) << slurp(err_file);
  kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(err_file);
  EXPECT_NE(slurp(err_file).find("--resume"), std::string::npos) << slurp(err_file);
  EXPECT_TRUE(fs::exists(path("t.ckpt.npz")));
  EXPECT_FALSE(fs::exists(path("t.onnx")));
  CliRun r = cli(fmt::format("{} --resume '{}'", args, path("t.ckpt.npz")));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("resuming from"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(path("t.onnx")));
}
