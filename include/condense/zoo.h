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
// Models (input "input", output "logits", float32). Parameter counts are the trainable weights
// (parameter_count(): BatchNormalization running statistics and scalar constants excluded), the
// number PyTorch reports for the same architecture; "BN" counts are with ZooOptions::batchnorm
// (the default), "folded" without (each conv has a bias instead of a following batch norm).
//   mlp       784-300-100-10 (LeNet-300-100): Flatten, Gemm+Relu, ..., Gemm. Input (N, 1, 28, 28).
//             266,610 parameters.
//   lenet5    Caffe LeNet-5 as in Han et al.: conv 5x5x20, maxpool 2, conv 5x5x50, maxpool 2,
//             fc 500 + relu, fc 10. Input (N, 1, 28, 28). 431,080 parameters.
//   gemm4096  one Gemm 4096 -> 4096 with bias. Input (N, 4096).
//   resnet20, resnet32, resnet56
//             CIFAR ResNet-(6n+2) of He et al. 2016 (section 4.2), n = 3, 5, 9: conv3x3x16 + BN +
//             relu, 3 stages of n basic blocks (conv3x3-BN-relu-conv3x3-BN, + shortcut, relu)
//             with 16/32/64 channels, stride 2 at the first block of stages 2 and 3, global
//             average pool, fc 10. Input (N, 3, 32, 32). Option-A shortcuts (subsample + zero-pad
//             channels: Slice, Pad; no weights), or B (strided 1x1 conv + BN). Parameters, option
//             A:
//               resnet20 269,722 BN / 269,034 folded (the pretrained ../shared/data resnet20.onnx)
//               resnet32 464,154 BN / 463,018 folded
//               resnet56 853,018 BN / 850,986 folded
//             Option B adds 16->32 and 32->64 1x1 convs: 2,560 weights, + 192 BN (or + 96 bias).
//   mobilenetv2
//             MobileNetV2 (Sandler et al. 2018, Table 2) for 32x32 inputs: conv3x3x32 stride 1
//             + BN + relu6 (Clip 0..6), 17 inverted residual blocks (1x1 expand x6 + BN + relu6,
//             3x3 depthwise + BN + relu6, 1x1 linear projection + BN; identity shortcut when
//             stride 1 and channels are kept) in stages (t, c, n, s) = (1,16,1,1) (6,24,2,1)
//             (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), conv1x1x1280 + BN + relu6,
//             global average pool, fc 10; no dropout. The CIFAR variant keeps stride 1 in the stem
//             and the 24-channel stage (feature map 4x4 before pooling). --width w scales every
//             channel count c to torchvision's make_divisible(c * w, 8) (the last conv stays
//             1280 for w <= 1). Input (N, 3, 32, 32). 2,236,682 parameters BN (torchvision's
//             mobilenet_v2(num_classes=10)); width 0.5: 700,490 BN.
//   vgg-small The VGG-Small of the quantization literature (LQ-Nets, Zhang et al. 2018): conv3x3
//             128, 128, maxpool 2, 256, 256, maxpool 2, 512, 512, maxpool 2 (each conv + BN +
//             relu), flatten 8192, fc 10. Input (N, 3, 32, 32). 4,660,106 parameters BN.
//   tiny-transformer
//             Pre-norm ViT-style encoder for 28x28 images. Input (N, 1, 28, 28) is cut into 16
//             patches of 7x7 (Reshape (N,1,4,7,4,7), Transpose (0,2,4,1,3,5), Reshape (N,16,49):
//             token 4r+c is patch row r, column c), embedded by a linear layer 49 -> 64 plus a
//             learned positional embedding (16, 64); then 2 encoder layers, each
//               x = x + Attn(LayerNorm(x)),  x = x + W2 Gelu(W1 LayerNorm(x) + b1) + b2
//             with 4-head self-attention (head width 16; q, k, v and output projections 64 -> 64,
//             softmax(q k^T / 4) v, all MatMul/Softmax/Reshape/Transpose) and MLP 64 -> 128 -> 64
//             (Gelu as x/2 (1 + erf(x / sqrt 2)): opset 17 has no Gelu op); a final LayerNorm,
//             the mean over the 16 tokens (ReduceMean), fc 10. Linear weights are (in, out)
//             MatMul initializers. 71,946 parameters.
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
  std::string shortcut = "A";   // resnet* downsampling shortcut: "A" (subsample + zero-pad
                                // channels: Slice, Pad) or "B" (strided 1x1 conv)
  double width = 1.0;           // mobilenetv2 width multiplier, in (0, 4]
  // resnet*, mobilenetv2, vgg-small: true writes real BatchNormalization nodes after bias-free
  // convs (scale 1, bias 0, running mean 0, var 1; what training needs); false writes the
  // BN-folded inference form, a conv with a bias. Models without batch norm ignore it.
  bool batchnorm = true;
};

// The names build() accepts, in a stable order.
std::vector<std::string> model_names();

// Whether ZooOptions::batchnorm changes the named model (resnet*, mobilenetv2, vgg-small).
bool uses_batchnorm(std::string_view name);

// Builds the named model; an error names the bad option or the unknown model.
Result<ir::Graph> build(std::string_view name, const ZooOptions& options = {});

// Number of trainable weights: the element count of every float constant of rank >= 1, except
// BatchNormalization running mean and variance (buffers, as PyTorch counts them) and scalar
// constants (Clip bounds, Gelu's 0.5 and sqrt 2, the attention scale).
int64_t parameter_count(const ir::Graph& g);

}  // namespace condense::zoo
