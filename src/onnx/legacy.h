// Import of models older than opset 7 (see legacy.cpp).
#pragma once

#include "onnx/hooks.h"

namespace condense::onnx_internal {

// Runs for every node before its family's upgrade hook.
Status upgrade_legacy_attributes(UpgradeCtx& u);

}  // namespace condense::onnx_internal
