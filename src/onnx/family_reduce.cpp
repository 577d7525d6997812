// ONNX opset hooks for the reduce family (see onnx/hooks.h).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

void register_onnx_hooks_reduce(HookTable& t) { (void)t; }

}  // namespace condense::onnx_internal
