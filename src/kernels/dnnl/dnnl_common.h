// Shared pieces of the oneDNN kernels: the CPU engine and stream, fused activations as post-ops,
// the per-shape primitive cache, and the exception boundary (oneDNN's C++ API throws
// dnnl::error; nothing may cross condense's API as an exception).
//
// Layouts: convolution and pooling read and write activations plain (nchw / ncw / ncdhw) or
// channel-blocked (kernels/layout.h) as the runtime asks; matrices stay row-major. Constant
// weights take the layout the primitive prefers (format_tag::any, reordered once).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kernels/half/half_convert.h"
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
// f32 memory::desc of `dims` (rank 3 to 5 when blocked) in `layout`.
dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims, Layout layout);
// oneDNN's data type for F32, F16 or BF16.
dnnl::memory::data_type float_dnnl_type(DType dtype);
// u8 / s8 memory::desc of `dims` (rank 3 to 5): plain (nchw) or blocked, which for 8-bit
// integers is channels-last (nhwc; kernels/layout.h).
dnnl::memory::desc int8_desc(const dnnl::memory::dims& dims, DType dtype, Layout layout);
// memory::desc of `dims` (rank 3 to 5) of type `dt`: plain (nchw) or channels-last (nhwc), the
// blocked form of 8-bit and 16-bit activations.
dnnl::memory::desc channels_last_desc(const dnnl::memory::dims& dims, dnnl::memory::data_type dt,
                                      Layout layout);
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
inline bool all_inputs_are(const KernelCtx& ctx, DType dtype) {
  for (const Tensor* t : ctx.inputs)
    if (t && t->dtype() != dtype) return false;
  return true;
}
inline bool all_inputs_f32(const KernelCtx& ctx) {
  return all_inputs_are(ctx, DType::F32);
}

// Adds a constant runtime zero point `zp` for `arg` (DNNL_ARG_SRC or DNNL_ARG_DST) to a
// primitive's arguments when it is nonzero (a zero point of 0 is oneDNN's default). The memory
// lives as long as `args` holds it.
inline void add_zero_point_arg(std::unordered_map<int, dnnl::memory>& args, int arg, int32_t zp,
                               const dnnl::engine& engine) {
  if (zp == 0) return;
  const dnnl::memory::desc md({1}, dnnl::memory::data_type::s32, dnnl::memory::format_tag::x);
  dnnl::memory m(md, engine);
  *static_cast<int32_t*>(m.get_data_handle()) = zp;
  args[DNNL_ARG_ATTR_ZERO_POINTS | arg] = m;
}

// Runs the reference kernel `fn`, which reads plain data only: blocked inputs (a shape oneDNN
// turned down after the runtime handed it over blocked) are converted first, and the outputs
// are written plain.
Status run_plain(KernelCtx& ctx, RefKernelFn fn);

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

// Whether oneDNN runs its AVX-512 kernels on this CPU: 16-channel blocks (kernels/layout.h), and
// bf16 convolution, pooling and matmul (native with AVX512-BF16 / AMX, emulated on plain
// AVX-512); bf16 factories decline (reference kernels) without it, where creating the primitive
// would fail.
bool dnnl_avx512_core();

// Whether oneDNN fell back to its own reference implementation for `pd` (an implementation name
// with "ref" in it, such as "lrn_ref:any"). That is no faster than condense's reference kernel,
// which accumulates in double, so kernels leave such shapes to the latter.
bool is_dnnl_reference(const dnnl::primitive_desc& pd);

// Kernels with one activation input and one output (convolution, pooling): a primitive per input
// shape and pair of layouts, whose src/dst memories get new data handles on each call.
// Subclasses build the entry. `io` is the dtype of every input and the output; inputs of another
// dtype at run time go to the reference kernel. Input and output may be blocked
// (kernels/layout.h: channel-blocked f32, channels-last bf16 / fp16) when the shapes allow it.
//   F32, BF16: the primitive reads x and writes y.
//   F16: oneDNN 2.6 has no fp16 convolution or pooling on x86 (and its fp16 reorders are
//        scalar), so the primitive computes in f32: run() widens x into an f32 buffer of the same
//        element order (exact) and rounds the primitive's f32 result once into y, with
//        condense's AVX-512 conversions: the reference kernel's arithmetic, float on half storage.
class DnnlSrcDstKernel : public Kernel {
 public:
  explicit DnnlSrcDstKernel(OpKind op, DType io = DType::F32)
      : io_(io), fallback_(ref_kernel_fn(op)) {}

  bool may_accept_blocked(size_t input) const override { return input == 0; }
  bool may_produce_blocked(size_t output) const override { return output == 0; }
  // Input 0 as it comes (the primitive is built for its layout); weights and bias are plain.
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input == 0 && all_inputs_are(ctx, io_) ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) final {
    const Layout in_layout = ctx.in_layout(0);
    if (!all_inputs_are(ctx, io_)) return run_plain(ctx, fallback_);
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    const Layout out_layout = output_layout(x.shape(), y.shape(), in_layout, ctx.wants_blocked(0));
    const Shape key_b = {static_cast<int64_t>(in_layout), static_cast<int64_t>(out_layout)};
    Entry* e = cache_.find(x.shape(), key_b);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(
          ctx.node, [&] { return build(ctx.node, x.shape(), in_layout, out_layout, fresh); }));
      e = &cache_.insert(x.shape(), key_b, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, fallback_);
    // fp16: the primitive reads and writes f32 buffers (scratch shared by the thread's kernels).
    thread_local std::vector<float> widened, narrowed;
    const void* src = x.raw();
    void* dst = y.raw();
    if (io_ == DType::F16) {
      widened.resize(static_cast<size_t>(x.numel()));
      narrowed.resize(static_cast<size_t>(y.numel()));
      f16_to_f32(static_cast<const uint16_t*>(x.raw()), widened.data(), x.numel());
      src = widened.data();
      dst = narrowed.data();
    }
    return guarded(ctx.node, [&] {
      if (e->src_reorder) {
        e->src_user.set_data_handle(const_cast<void*>(src));
        e->src_reorder.execute(cpu_stream(), e->src_user, e->src);
      } else {
        e->src.set_data_handle(const_cast<void*>(src));
      }
      if (e->dst_reorder) {
        e->dst_user.set_data_handle(dst);
        e->prim.execute(cpu_stream(), e->args);
        e->dst_reorder.execute(cpu_stream(), e->dst, e->dst_user);
      } else {
        e->dst.set_data_handle(dst);
        e->prim.execute(cpu_stream(), e->args);
      }
      cpu_stream().wait();
      if (io_ == DType::F16)
        f32_to_f16(narrowed.data(), static_cast<uint16_t*>(y.raw()), y.numel());
      ctx.set_out_layout(0, out_layout);
      return Status::ok();
    });
  }

 protected:
  struct Entry {
    bool supported = false;  // false: this shape runs on the reference kernel
    dnnl::primitive prim;
    dnnl::memory src, dst;
    std::unordered_map<int, dnnl::memory> args;
    // Set when the primitive reads src in another layout than the input's: the input (src_user)
    // is reordered into `src`, a buffer the entry owns.
    dnnl::reorder src_reorder;
    dnnl::memory src_user;
    // The same for dst: the primitive writes an owned buffer, reordered into the output.
    dnnl::reorder dst_reorder;
    dnnl::memory dst_user;
  };
  // Points e.src at the input (layout `given`), or, when the primitive wants `wanted`, at an
  // owned buffer filled by a reorder from the input on each call.
  static void bind_src(Entry& e, const dnnl::memory::desc& given,
                       const dnnl::memory::desc& wanted) {
    if (given == wanted) {
      e.src = dnnl::memory(given, cpu_engine(), nullptr);
      return;
    }
    e.src_user = dnnl::memory(given, cpu_engine(), nullptr);
    e.src = dnnl::memory(wanted, cpu_engine());
    e.src_reorder = dnnl::reorder(e.src_user, e.src);
  }
  static void bind_dst(Entry& e, const dnnl::memory::desc& given,
                       const dnnl::memory::desc& wanted) {
    if (given == wanted) {
      e.dst = dnnl::memory(given, cpu_engine(), nullptr);
      return;
    }
    e.dst_user = dnnl::memory(given, cpu_engine(), nullptr);
    e.dst = dnnl::memory(wanted, cpu_engine());
    e.dst_reorder = dnnl::reorder(e.dst, e.dst_user);
  }
  // Activations as the primitive's src/dst bindings see them, in `layout`: f32 (nchw or
  // nChw<b>c), bf16 (nchw or nhwc), or for fp16 the f32 buffers run() converts through, in the
  // fp16 tensor's element order (nchw or nhwc).
  dnnl::memory::desc io_desc(const dnnl::memory::dims& dims, Layout layout) const {
    if (io_ == DType::F32) return f32_desc(dims, layout);
    return channels_last_desc(dims, compute_type(), layout);
  }
  // The primitive's src / weights / dst type: bf16 for bf16, f32 otherwise.
  dnnl::memory::data_type compute_type() const {
    return io_ == DType::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  }
  // Builds the primitive for input shape `xs` in the given layouts, or leaves `supported` false.
  virtual Status build(const ir::Node& node, const Shape& xs, Layout in, Layout out, Entry& e) = 0;
  // The layout to write: blocked when the consumers want it and the shape allows it.
  virtual Layout output_layout(const Shape& /*xs*/, const Shape& ys, Layout /*in*/,
                               bool want_blocked) const {
    return want_blocked && blockable(io_, ys) ? Layout::Blocked : Layout::Plain;
  }

  const DType io_;

 private:
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

}  // namespace condense::dnnl_internal
