// Shared pieces of the oneDNN kernels: the CPU engine and stream, fused activations as post-ops,
// the per-shape primitive cache, and the exception boundary (oneDNN's C++ API throws
// dnnl::error; nothing may cross condense's API as an exception).
//
// Layouts: activations stay plain (nchw / ncw / ncdhw, row-major matrices) so that reference
// kernels of neighbouring ops can read them; only constant weights take oneDNN's blocked layout
// (format_tag::any, reordered once).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kernels/kernel.h"
#include "ops/nn_activation.h"

namespace condense::dnnl_internal {

dnnl::engine& cpu_engine();
// One stream per thread (a CPU stream is cheap; sessions may run on several threads).
dnnl::stream& cpu_stream();

// Appends the fused activation as eltwise post-ops; false when oneDNN cannot express it.
bool append_activation(dnnl::post_ops& ops, const FusedActivation& act);
// Whether append_activation would succeed.
bool activation_supported(const FusedActivation& act);

// Plain row-major f32 memory::desc of `dims` (nchw for rank 4, ncw for 3, ...).
dnnl::memory::desc plain_f32(const dnnl::memory::dims& dims);
dnnl::memory::dims to_dims(std::span<const int64_t> s);

// Small cache keyed by input shapes: a model sees one or two shapes (batch sizes), so a linear
// scan over a few entries beats hashing. Entries are never rebuilt; the oldest is evicted past
// kMax entries.
template <typename Entry>
class ShapeCache {
 public:
  static constexpr size_t kMax = 8;
  Entry* find(const Shape& a, const Shape& b = {}) {
    for (auto& e : entries_)
      if (e.key_a == a && e.key_b == b) return &e.entry;
    return nullptr;
  }
  Entry& insert(const Shape& a, const Shape& b, Entry e) {
    if (entries_.size() >= kMax) entries_.erase(entries_.begin());
    entries_.push_back({a, b, std::move(e)});
    return entries_.back().entry;
  }

 private:
  struct Slot {
    Shape key_a, key_b;
    Entry entry;
  };
  std::vector<Slot> entries_;
};

// True when every present input is f32. Factories see only declared dtypes, and intermediate
// values of a model often have none (they default to f32), so each run checks the real ones and
// falls back to the reference kernel for anything else.
inline bool all_inputs_f32(const KernelCtx& ctx) {
  for (const Tensor* t : ctx.inputs)
    if (t && t->dtype() != DType::F32) return false;
  return true;
}

// Runs `f` (which may throw dnnl::error) and turns an exception into a Status naming the node.
template <typename F>
Status guarded(const ir::Node& node, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    return Status::errorf("node {}: oneDNN: {} (status {})", node.describe(), e.what(),
                          static_cast<int>(e.status));
  } catch (const std::exception& e) {
    return Status::errorf("node {}: {}", node.describe(), e.what());
  }
}

// True when every present input is f32.
bool all_f32(const KernelCreateCtx& ctx);

// Whether oneDNN fell back to its own reference implementation for `pd` (an implementation name
// with "ref" in it, such as "lrn_ref:any"). That is no faster than condense's reference kernel,
// which accumulates in double, so kernels leave such shapes to the latter.
bool is_dnnl_reference(const dnnl::primitive_desc& pd);

// Kernels with one activation input and one output (convolution, pooling): a primitive per input
// shape, whose src/dst memories get new data handles on each call. Subclasses build the entry.
class DnnlSrcDstKernel : public Kernel {
 public:
  explicit DnnlSrcDstKernel(OpKind op) : fallback_(ref_kernel_fn(op)) {}

  Status run(KernelCtx& ctx) final {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const Tensor& x = ctx.in(0);
    Entry* e = cache_.find(x.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx.node, x.shape(), fresh); }));
      e = &cache_.insert(x.shape(), {}, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    return guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(x.raw()));
      e->dst.set_data_handle(ctx.out(0).raw());
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 protected:
  struct Entry {
    bool supported = false;  // false: this shape runs on the reference kernel
    dnnl::primitive prim;
    dnnl::memory src, dst;
    std::unordered_map<int, dnnl::memory> args;
  };
  // Builds the primitive for input shape `xs`, or leaves `supported` false.
  virtual Status build(const ir::Node& node, const Shape& xs, Entry& e) = 0;

 private:
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

}  // namespace condense::dnnl_internal
