// Shape and dtype inference: what each op MEANS for its outputs, given its inputs. One function
// per op, `Status infer_<Op>(InferCtx&)`, defined in src/ops/<family>.cpp. The runtime calls it
// with every input's concrete shape and value; static analysis (condense info) calls it with
// values only for constants, so an infer function must cope with `value == nullptr` on inputs
// whose values it reads (then it marks the affected outputs `shape_known = false`).
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <span>
#include <vector>

namespace condense {

struct TensorInfo {
  bool present = true;  // false for an omitted optional input/output
  DType dtype = DType::F32;
  bool shape_known = true;  // false: rank or some dimension unknown
  Shape shape;
  const Tensor* value = nullptr;  // the input's contents, when known
  // Outputs only: false when the kernel produces the output itself (a view of an input, or a
  // data-dependent shape); the runtime then does not allocate it.
  bool allocate = true;
};

struct InferCtx {
  const ir::Node& node;
  std::span<const TensorInfo> inputs;  // one per node input slot
  std::vector<TensorInfo>& outputs;    // one per node output slot, filled by infer

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
  const TensorInfo& in(size_t i) const { return inputs[i]; }
  TensorInfo& out(size_t i) { return outputs[i]; }
  // Sets output i to dtype + shape.
  void set_out(size_t i, DType dtype, Shape shape) {
    outputs[i].present = true;
    outputs[i].dtype = dtype;
    outputs[i].shape = std::move(shape);
    outputs[i].shape_known = true;
  }
  void set_out_unknown(size_t i, DType dtype) {
    outputs[i].present = true;
    outputs[i].dtype = dtype;
    outputs[i].shape_known = false;
  }
  // Error naming the node: "node 'conv1' (Conv): <message>".
  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::error(
        fmt::format("node {}: {}", node.describe(), fmt::format(f, std::forward<Args>(args)...)));
  }
};

using InferFn = Status (*)(InferCtx&);
InferFn infer_fn(OpKind op);

// Sets every value's dtype from dtype/shape inference in topological order (constants: their
// tensor's dtype; shapes inferred along the way feed the next nodes). Values whose producer fails
// inference keep their declared dtype. Shapes in the graph are not changed.
void annotate_dtypes(ir::Graph& g);

// --- helpers shared by infer functions ---

// Numpy-style multidirectional broadcast; error if incompatible.
Result<Shape> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b);
// Normalizes a possibly negative axis into [0, rank); error if out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);
// Fails unless every present input in `idx` has one of `allowed` dtypes.
Status check_dtype(const InferCtx& ctx, size_t input, std::initializer_list<DType> allowed);
// Fails unless all present inputs in [first, last] share one dtype.
Status check_same_dtype(const InferCtx& ctx, size_t first, size_t last);
// Any shape unknown among present inputs.
bool any_unknown(const InferCtx& ctx);

}  // namespace condense
