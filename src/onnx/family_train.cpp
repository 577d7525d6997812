// ONNX hooks for the train family: none. Its ops (include/condense/ops/train.inc) exist only in
// training graphs; the importer and the exporter refuse them by domain.
#include "onnx/hooks.h"

namespace condense::onnx_internal {

void register_onnx_hooks_train(HookTable&) {}

}  // namespace condense::onnx_internal
