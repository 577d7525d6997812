// The zoo's architecture builders (include/condense/zoo.h documents each model), grouped by file:
// models.cpp (mlp, lenet5, gemm4096 and the registry), models_cifar.cpp (resnets, mobilenetv2,
// vgg-small), models_transformer.cpp. Each adds the layers after the input `x` and names the
// output; options were validated by build().
#pragma once

#include <condense/zoo.h>

#include "zoo/layers.h"

namespace condense::zoo {

Status build_resnet20(LayerBuilder& b, ir::Value* x, const ZooOptions& o);
Status build_resnet32(LayerBuilder& b, ir::Value* x, const ZooOptions& o);
Status build_resnet56(LayerBuilder& b, ir::Value* x, const ZooOptions& o);
Status build_mobilenetv2(LayerBuilder& b, ir::Value* x, const ZooOptions& o);
Status build_vgg_small(LayerBuilder& b, ir::Value* x, const ZooOptions& o);
Status build_tiny_transformer(LayerBuilder& b, ir::Value* x, const ZooOptions& o);

// torchvision's _make_divisible: `v` rounded to the nearest multiple of 8 (at least 8), and
// never more than 10% below `v`. MobileNetV2's channel counts under a width multiplier.
int64_t make_divisible(double v);

}  // namespace condense::zoo
