// ONNX opset hooks for the rnn family (see onnx/hooks.h).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

void register_onnx_hooks_rnn(HookTable& t) { (void)t; }

}  // namespace condense::onnx_internal
