// `condense qat` end to end on a small CNN and an npz data set: the exported QDQ model (int4 /
// int8 weights, opset 21 / 13) loads and evaluates, --resume continues a run, and bad input (bad
// --bits, a model with nothing to quantize, -o naming the input) is one `error:` line, a
// non-zero exit and no output file.
#include <condense/file.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_fixture.h"
#include "quant_test_util.h"

namespace fs = std::filesystem;
using namespace condense;
using namespace condense::quant_test;

namespace {

class QatCli : public CliFixture {
 protected:
  QatCli() : CliFixture("condense_qat_cli", 48) {}

  std::string qat_args(const std::string& extra) const {
    return fmt::format("qat '{}' --data '{}' --val none --batch 16 --threads 2 {}", model, data,
                       extra);
  }

  // One "error: ..." line (and at most a "hint: ..." line), a non-zero exit, nothing written.
  void expect_clean_error(const CliRun& r, const std::string& needle, const std::string& out) {
    EXPECT_NE(r.rc, 0);
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    int lines = 0;
    for (char ch : r.err) lines += ch == '\n';
    EXPECT_LE(lines, 2) << r.err;
    EXPECT_FALSE(fs::exists(out)) << out << " was written";
  }
};

}  // namespace

TEST_F(QatCli, Int4ExportLoadsAndEvaluates) {
  const std::string out = path("out.qat.onnx");
  CliRun r = cli(qat_args(fmt::format("--bits 4 --epochs 1 --lr 0.01 -o '{}'", out)));
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("FakeQuantize on 4 weight(s), 6 activation(s), 3 bias(es)"),
            std::string::npos)
      << r.out;
  auto g = onnx::import_file(out);
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->opset_imports.at(""), 21);
  EXPECT_EQ(count_op(*g, OpKind::FakeQuantize), 0);
  EXPECT_EQ(count_op(*g, OpKind::QuantizeLinear), 6);
  const ir::Value* w = quantized_input(*g, "conv1", 1);
  ASSERT_TRUE(w && w->is_constant());
  EXPECT_EQ(w->constant->dtype(), DType::I4);
  CliRun e = cli(fmt::format("eval '{}' --data '{}' --split train", out, data));
  EXPECT_EQ(e.rc, 0) << e.err;
  EXPECT_NE(e.out.find("top-1"), std::string::npos) << e.out;
}

TEST_F(QatCli, Int8ByDefaultAndResume) {
  const std::string out = path("out8.onnx");
  CliRun r = cli(qat_args(fmt::format("--epochs 1 -o '{}'", out)));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto g = onnx::import_file(out);
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_EQ(g->opset_imports.at(""), 13);
  const ir::Value* w8 = quantized_input(*g, "conv1", 1);
  ASSERT_TRUE(w8 != nullptr);
  EXPECT_EQ(w8->constant->dtype(), DType::I8);
  const std::string ckpt = path("out8.ckpt.npz");
  ASSERT_TRUE(fs::exists(ckpt));
  const std::string out2 = path("out8b.onnx");
  CliRun again = cli(qat_args(fmt::format("--epochs 2 --resume '{}' -o '{}'", ckpt, out2)));
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.err.find("resuming from"), std::string::npos) << again.err;
  EXPECT_NE(again.out.find("epoch 2/2"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("epoch 1/2"), std::string::npos) << again.out;
  EXPECT_TRUE(fs::exists(out2));
}

TEST_F(QatCli, BadInputIsOneErrorAndWritesNothing) {
  const std::string out = path("bad.onnx");
  expect_clean_error(cli(qat_args(fmt::format("--bits 3 -o '{}'", out))), "--bits 3", out);
  expect_clean_error(cli(qat_args(fmt::format("--activation-bits 4 -o '{}'", out))),
                     "--activation-bits 4", out);
  expect_clean_error(cli(qat_args(fmt::format("-o '{}'", model))), "is the input model",
                     model + "x");
  expect_clean_error(cli(qat_args(fmt::format("--method nope -o '{}'", out))), "nope", out);
  // A model with nothing to quantize: Relu only.
  ir::Graph g;
  ir::Value* x = g.add_input("input", DType::F32, {ir::Dim::sym("N"), 3, 8, 8});
  ir::Value* f = g.add_node(OpKind::Flatten, {x}, 1, "flatten")->outputs[0];
  ir::Value* y = g.add_node(OpKind::Relu, {f}, 1, "relu")->outputs[0];
  y->has_shape = true;
  y->dims = {ir::Dim::sym("N"), 192};
  g.outputs.push_back(y);
  g.opset_imports[""] = 13;
  const std::string relu = write_model("relu.onnx", g);
  CliRun r = cli(fmt::format("qat '{}' --data '{}' --val none -o '{}'", relu, data, out));
  expect_clean_error(r, "no node is quantized", out);
  EXPECT_FALSE(fs::exists(path("bad.ckpt.npz")));
}
