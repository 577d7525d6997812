// Per-op ONNX mapping hooks, registered by family (src/onnx/family_<name>.cpp):
//  - upgrade: at import, rewrites a node of an older opset into the canonical (newest) form,
//    e.g. moves Squeeze's `axes` attribute (opset < 13) into a constant input;
//  - downgrade: at export, rewrites the NodeProto for a target opset that predates the canonical
//    form (e.g. Reduce* `axes` input back into an attribute below opset 18);
//  - min_opset: the lowest opset that can express the node (e.g. Gelu needs 20).
// Ops without hooks map one to one.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <unordered_map>

#include "onnx/proto.h"

namespace condense::onnx_internal {

struct UpgradeCtx {
  ir::Graph& graph;
  ir::Node& node;
  int64_t opset;  // the model's opset for the node's domain

  // Moves attribute `attr` (ints/floats/int/float) into a new constant input at `index` of
  // dtype `dtype` (1-D for list attributes, scalar for single values). Absent attribute: the
  // input stays omitted. Inputs before `index` that are missing are padded with nullptr.
  Status attr_to_input(const std::string& attr, size_t index, DType dtype, bool scalar = false);
  // Sets input `index` to a new constant.
  void set_const_input(size_t index, Tensor t);
};

struct DowngradeCtx {
  const ir::Node& node;
  ::onnx::NodeProto& proto;
  int64_t opset;  // target opset
  const ir::Graph& graph;
  // The graph being written (for hooks that must add an initializer); may be null.
  ::onnx::GraphProto* graph_proto = nullptr;

  // Constant value of input i (nullptr when not constant or absent).
  const Tensor* const_input(size_t i) const;
  // Removes input i from the proto (and trailing empty inputs).
  void drop_input(size_t i);
  // Sets input i of the proto to a new initializer holding `t`; error without graph_proto.
  Status set_const_input(size_t i, const Tensor& t);
};

struct OpHooks {
  Status (*upgrade)(UpgradeCtx&) = nullptr;
  Status (*downgrade)(DowngradeCtx&) = nullptr;
  int64_t min_opset = 0;
};

using HookTable = std::unordered_map<OpKind, OpHooks>;
const HookTable& op_hooks();

// Every family registers its hooks here (one function per family file).
#define CONDENSE_X(family) void register_onnx_hooks_##family(HookTable& t);
CONDENSE_OP_FAMILIES(CONDENSE_X)
#undef CONDENSE_X

}  // namespace condense::onnx_internal
