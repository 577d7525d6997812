// Model zoo: reference architectures built with the IR builder, with He/Kaiming-uniform random
// weights from a seeded generator (same seed, same bytes, on every machine). For benchmarks, tests
// and compression experiments where the architecture matters and trained weights do not.
//
//   condense::zoo::ZooOptions opts;
//   opts.seed = 7;
//   auto g = condense::zoo::build("lenet5", opts);   // Result<ir::Graph>, input (N, 1, 28, 28)
//   if (!g) return fail(g.status());
//   CONDENSE_TRY(condense::onnx::export_file(*g, "lenet5.onnx", {.opset = condense::zoo::kOpset}));
//
// Models (input "input", output "logits", float32):
//   mlp       784-300-100-10 (LeNet-300-100): Flatten, Gemm+Relu, ..., Gemm. Input (N, 1, 28, 28).
//   lenet5    Caffe LeNet-5 as in Han et al.: conv 5x5x20, maxpool 2, conv 5x5x50, maxpool 2,
//             fc 500 + relu, fc 10. Input (N, 1, 28, 28). 431,080 parameters.
//   gemm4096  one Gemm 4096 -> 4096 with bias. Input (N, 4096).
//   resnet20  CIFAR ResNet-20 (He et al.): conv3x3x16 + relu, 3 stages x 3 basic blocks (16/32/64
//             channels), batch norm folded into conv bias, global average pool, fc 10. Input
//             (N, 3, 32, 32). 269,034 parameters with option-A shortcuts.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace condense::zoo {

// The ai.onnx opset zoo models are meant to be written at.
inline constexpr int64_t kOpset = 17;

struct ZooOptions {
  uint64_t seed = 0;
  int64_t batch = -1;           // the input's batch dimension: -1 symbolic ("N"), else >= 1
  std::vector<int64_t> widths;  // mlp hidden widths; empty: 300, 100
  std::string shortcut = "A";   // resnet20 downsampling shortcut: "A" (subsample + zero-pad
                                // channels: Slice, Pad) or "B" (strided 1x1 conv)
};

// The names build() accepts, in a stable order.
std::vector<std::string> model_names();

// Builds the named model; an error names the bad option or the unknown model.
Result<ir::Graph> build(std::string_view name, const ZooOptions& options = {});

// Number of weights: the element count of every float constant (not index constants).
int64_t parameter_count(const ir::Graph& g);

}  // namespace condense::zoo
