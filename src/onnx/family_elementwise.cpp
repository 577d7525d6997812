// ONNX opset hooks for the elementwise family (see onnx/hooks.h).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

void register_onnx_hooks_elementwise(HookTable& t) { (void)t; }

}  // namespace condense::onnx_internal
