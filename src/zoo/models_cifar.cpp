// CIFAR-10 convolutional networks, input (N, 3, 32, 32): ResNet-20/32/56, MobileNetV2 and
// VGG-Small. With ZooOptions::batchnorm every conv is followed by a BatchNormalization and has no
// bias (as PyTorch's models); without, the conv carries a bias (the BN-folded form).
#include <fmt/format.h>

#include <cmath>

#include "zoo/models.h"

namespace condense::zoo {

namespace {

enum class Act { None, Relu, Relu6 };

// conv -> batch norm (when o.batchnorm) -> activation. Names: `conv`, `bn`, `act` (the norm
// and activation names are only used when those layers exist).
Result<ir::Value*> conv_bn_act(LayerBuilder& b, ir::Value* x, int64_t cout, int64_t kernel,
                               int64_t stride, const ZooOptions& o, Act act,
                               const std::string& conv, const std::string& bn,
                               const std::string& act_name, int64_t groups = 1) {
  CONDENSE_ASSIGN_OR_RETURN(x, b.conv(x, cout, kernel, stride, kernel / 2, conv,
                                      {.groups = groups, .bias = !o.batchnorm}));
  if (o.batchnorm) {
    CONDENSE_ASSIGN_OR_RETURN(x, b.batch_norm(x, bn));
  }
  if (act == Act::Relu) return b.relu(x, act_name);
  if (act == Act::Relu6) return b.clip(x, 0.0f, 6.0f, act_name);
  return x;
}

// One basic block: conv3x3 (stride) + bn + relu, conv3x3 + bn, + shortcut, relu.
Result<ir::Value*> basic_block(LayerBuilder& b, ir::Value* x, int64_t cout, int64_t stride,
                               const ZooOptions& o, const std::string& name) {
  const int64_t cin = x->dims[1].value;
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y,
                            conv_bn_act(b, x, cout, 3, stride, o, Act::Relu, name + ".conv1",
                                        name + ".bn1", name + ".relu1"));
  CONDENSE_ASSIGN_OR_RETURN(
      y, conv_bn_act(b, y, cout, 3, 1, o, Act::None, name + ".conv2", name + ".bn2", ""));
  ir::Value* s = x;
  if (stride != 1 || cin != cout) {
    if (o.shortcut == "A") {
      CONDENSE_ASSIGN_OR_RETURN(
          s, b.subsample_pad_channels(x, stride, (cout - cin) / 2, name + ".shortcut"));
    } else {
      CONDENSE_ASSIGN_OR_RETURN(s, conv_bn_act(b, x, cout, 1, stride, o, Act::None,
                                               name + ".shortcut", name + ".shortcut_bn", ""));
    }
  }
  CONDENSE_ASSIGN_OR_RETURN(y, b.add(y, s, name + ".add"));
  return b.relu(y, name + ".relu2");
}

// He et al. 2016, section 4.2: depth 6n + 2; conv3x3x16, 3 stages of n basic blocks with 16, 32,
// 64 channels (stride 2 at the first block of stages 2 and 3), global average pool, fc 10.
Status build_resnet(LayerBuilder& b, ir::Value* x, const ZooOptions& o, int blocks) {
  CONDENSE_ASSIGN_OR_RETURN(x, conv_bn_act(b, x, 16, 3, 1, o, Act::Relu, "conv1", "bn1", "relu1"));
  const int64_t channels[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int i = 0; i < blocks; ++i) {
      int64_t stride = stage > 0 && i == 0 ? 2 : 1;
      std::string name = fmt::format("layer{}.{}", stage + 1, i);
      CONDENSE_ASSIGN_OR_RETURN(x, basic_block(b, x, channels[stage], stride, o, name));
    }
  }
  CONDENSE_ASSIGN_OR_RETURN(x, b.global_average_pool(x, "avgpool"));  // (N, 64, 1, 1)
  CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));              // (N, 64)
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc"));
  b.output(x, "logits");
  return Status::ok();
}

// MobileNetV2 inverted residual: 1x1 expand (t > 1) + relu6, 3x3 depthwise (stride) + relu6,
// 1x1 linear projection; identity shortcut when stride 1 and cin == cout.
Result<ir::Value*> inverted_residual(LayerBuilder& b, ir::Value* x, int64_t cout, int64_t stride,
                                     int64_t expand, const ZooOptions& o, const std::string& name) {
  const int64_t cin = x->dims[1].value;
  const int64_t hidden = cin * expand;
  ir::Value* y = x;
  if (expand != 1) {
    CONDENSE_ASSIGN_OR_RETURN(y, conv_bn_act(b, y, hidden, 1, 1, o, Act::Relu6, name + ".expand",
                                             name + ".expand_bn", name + ".expand_relu6"));
  }
  CONDENSE_ASSIGN_OR_RETURN(y, conv_bn_act(b, y, hidden, 3, stride, o, Act::Relu6, name + ".dw",
                                           name + ".dw_bn", name + ".dw_relu6", hidden));
  CONDENSE_ASSIGN_OR_RETURN(
      y, conv_bn_act(b, y, cout, 1, 1, o, Act::None, name + ".project", name + ".project_bn", ""));
  if (stride == 1 && cin == cout) return b.add(y, x, name + ".add");
  return y;
}

}  // namespace

int64_t make_divisible(double v) {
  int64_t r = std::max<int64_t>(8, static_cast<int64_t>(v + 4.0) / 8 * 8);
  if (static_cast<double>(r) < 0.9 * v) r += 8;
  return r;
}

Status build_resnet20(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  return build_resnet(b, x, o, 3);
}
Status build_resnet32(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  return build_resnet(b, x, o, 5);
}
Status build_resnet56(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  return build_resnet(b, x, o, 9);
}

// Sandler et al. 2018, Table 2, with torchvision's channel rounding, for 32x32 inputs: the stem
// and the 24-channel stage keep stride 1 (a 32x32 image ends at 4x4 instead of 1x1).
Status build_mobilenetv2(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  struct Stage {
    int64_t expand, channels, blocks, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  const double w = o.width;
  CONDENSE_ASSIGN_OR_RETURN(
      x, conv_bn_act(b, x, make_divisible(32 * w), 3, 1, o, Act::Relu6, "conv1", "bn1", "relu1"));
  int index = 0;
  for (const Stage& s : stages) {
    for (int64_t i = 0; i < s.blocks; ++i, ++index) {
      CONDENSE_ASSIGN_OR_RETURN(
          x, inverted_residual(b, x, make_divisible(s.channels * w), i == 0 ? s.stride : 1,
                               s.expand, o, fmt::format("block{}", index)));
    }
  }
  const int64_t last = make_divisible(1280 * std::max(1.0, w));
  CONDENSE_ASSIGN_OR_RETURN(
      x, conv_bn_act(b, x, last, 1, 1, o, Act::Relu6, "conv_last", "bn_last", "relu_last"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.global_average_pool(x, "avgpool"));  // (N, last, 1, 1)
  CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc"));
  b.output(x, "logits");
  return Status::ok();
}

// VGG-Small (as in LQ-Nets, Zhang et al. 2018): 2x(128 conv3x3) - maxpool - 2x(256) - maxpool -
// 2x(512) - maxpool - fc 10, every conv followed by bn + relu.
Status build_vgg_small(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  const int64_t widths[3] = {128, 256, 512};
  int conv = 0;
  for (int stage = 0; stage < 3; ++stage) {
    for (int i = 0; i < 2; ++i) {
      ++conv;
      CONDENSE_ASSIGN_OR_RETURN(
          x, conv_bn_act(b, x, widths[stage], 3, 1, o, Act::Relu, fmt::format("conv{}", conv),
                         fmt::format("bn{}", conv), fmt::format("relu{}", conv)));
    }
    CONDENSE_ASSIGN_OR_RETURN(x, b.max_pool(x, 2, 2, fmt::format("pool{}", stage + 1)));
  }
  CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));  // (N, 512 * 4 * 4)
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc"));
  b.output(x, "logits");
  return Status::ok();
}

}  // namespace condense::zoo
