// Kernels: interchangeable implementations of an op. Every op has a reference kernel
// (src/kernels/ref/<family>.cpp, `Status ref_<Op>(KernelCtx&)`), the oracle that fast kernels
// (src/kernels/dnnl, src/kernels/x86) are tested against. A fast kernel factory returns nullptr
// when it does not cover a node (dtype, attribute, shape), and the reference kernel runs instead.
//
// Lifecycle: create (validate attributes, pack constant weights, build primitives that do not
// depend on the batch) -> reshape (once per new input shapes: build shape-specific primitives,
// workspace) -> run (no validation beyond asserts; never rebuilds a primitive for a seen shape).
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/layout.h"

namespace condense {

struct KernelCtx {
  const ir::Node& node;
  std::span<const Tensor* const> inputs;  // nullptr for an absent optional input
  std::span<Tensor> outputs;  // allocated by the runtime unless infer said allocate = false
  int threads = 1;
  // Layouts (kernels/layout.h). Empty spans mean every input is plain and outputs must be plain.
  // A kernel sees a blocked input only where required_layout() said so; it writes output i
  // blocked only when bit i of `want_blocked` is set or, for kernels whose output follows an
  // input's layout, when that input is blocked (either way it records that in out_layouts).
  std::span<const Layout> in_layouts = {};
  std::span<Layout> out_layouts = {};
  uint32_t want_blocked = 0;

  Layout in_layout(size_t i) const { return i < in_layouts.size() ? in_layouts[i] : Layout::Plain; }
  bool wants_blocked(size_t i) const { return i < 32 && ((want_blocked >> i) & 1u) != 0; }
  void set_out_layout(size_t i, Layout l) {
    if (i < out_layouts.size()) out_layouts[i] = l;
  }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& in(size_t i) const { return *inputs[i]; }
  Tensor& out(size_t i) { return outputs[i]; }
  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::error(
        fmt::format("node {}: {}", node.describe(), fmt::format(f, std::forward<Args>(args)...)));
  }
};

// What a kernel factory knows before the first run.
struct KernelCreateCtx {
  const ir::Node& node;
  std::vector<const Tensor*> constant_inputs;  // per input slot: the constant, or nullptr
  std::vector<DType> input_dtypes;             // per input slot (F32 for absent ones)
  int threads = 1;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // A short name for `condense info` and benchmarks: "ref", "dnnl_conv_f32", ...
  virtual std::string_view name() const = 0;
  virtual Status run(KernelCtx& ctx) = 0;

  // Layout support, asked at plan time: whether input `i` may be handed over blocked, and
  // whether output `o` may be written blocked when all its consumers accept that.
  virtual bool may_accept_blocked(size_t /*input*/) const { return false; }
  virtual bool may_produce_blocked(size_t /*output*/) const { return false; }
  // Asked before a run in which some input is blocked, for every present input (`ctx` has the
  // real inputs and their current layouts): the layout input `i` must have; the runtime converts
  // it when it differs.
  virtual Layout required_layout(const KernelCtx& /*ctx*/, size_t /*input*/) const {
    return Layout::Plain;
  }
  // Whether output 0 may be written into input `i`'s buffer when the runtime offers it (the input
  // has the output's dtype and shape and dies at this node): the kernel must read each element of
  // it before writing the same element, and nothing else. Saves an allocation and, for
  // memory-bound elementwise ops, the cache misses of writing fresh memory.
  virtual bool may_write_in_place(size_t /*input*/) const { return false; }
};

using RefKernelFn = Status (*)(KernelCtx&);
RefKernelFn ref_kernel_fn(OpKind op);

// A fast-kernel factory: returns nullptr (not an error) when it does not cover the node.
using KernelFactory = Result<std::unique_ptr<Kernel>> (*)(const KernelCreateCtx&);

// Picks the best kernel for a node: the first fast factory registered for the op that accepts
// it, else the reference kernel. `allow_fast = false` forces the reference kernel.
Result<std::unique_ptr<Kernel>> create_kernel(const KernelCreateCtx& ctx, bool allow_fast = true);

}  // namespace condense
