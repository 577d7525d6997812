// oneDNN LayerNormalization, f32. X (d0, ..., d(r-1)) is handed to oneDNN as the plain 2-D view
// (rows, cols) with rows = d0 * ... * d(axis-1) and cols = d(axis) * ... * d(r-1): the
// normalized block of each row is contiguous, so this is the same bytes. Scale and B are read
// in place when they have cols elements (shape equal to the normalized shape up to leading
// ones), else broadcast into a buffer on each call. The optional Mean and InvStdDev outputs
// (rows values each, stash type float) come from forward_training's mean and variance:
// InvStdDev = 1 / sqrt(variance + epsilon). Other stash types run the reference kernel.
#include <cmath>

#include "kernels/dnnl/dnnl_common.h"
#include "kernels/ref/broadcast.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

class DnnlLayerNormF32 final : public Kernel {
 public:
  explicit DnnlLayerNormF32(const ir::Node& node)
      : axis_(node.attr_int("axis", -1)),
        eps_(node.attr_float("epsilon", 1e-5f)),
        has_bias_(node.input(2) != nullptr),
        want_stats_(node.output(1) != nullptr || node.output(2) != nullptr),
        fallback_(ref_kernel_fn(node.op)) {}

  std::string_view name() const override { return "dnnl_layernorm_f32"; }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const Tensor& x = ctx.in(0);
    Entry* e = cache_.find(x.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(x.shape(), fresh); }));
      e = &cache_.insert(x.shape(), {}, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    const bool out_mean = ctx.outputs.size() > 1 && ctx.out(1).defined();
    const bool out_inv = ctx.outputs.size() > 2 && ctx.out(2).defined();
    return guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(x.raw()));
      e->dst.set_data_handle(ctx.out(0).raw());
      e->scale.set_data_handle(affine_param(ctx.in(1), e->norm, scale_buf_));
      if (has_bias_) e->shift.set_data_handle(affine_param(ctx.in(2), e->norm, shift_buf_));
      if (want_stats_) {
        e->mean.set_data_handle(out_mean ? ctx.out(1).raw() : e->mean_buf.data());
        e->var.set_data_handle(e->var_buf.data());
      }
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      if (out_inv) {
        float* inv = ctx.out(2).data<float>();
        for (size_t r = 0; r < e->var_buf.size(); ++r)
          inv[r] = 1.f / std::sqrt(e->var_buf[r] + eps_);
      }
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;  // false: this shape runs on the reference kernel
    Shape norm;              // the normalized shape X[axis:]
    dnnl::primitive prim;
    memory src, dst, scale, shift, mean, var;
    std::vector<float> mean_buf, var_buf;  // (rows); mean_buf used when Mean is not an output
    std::unordered_map<int, memory> args;
  };

  // Scale or B as cols contiguous floats.
  static void* affine_param(const Tensor& t, const Shape& norm, std::vector<float>& buf) {
    const int64_t cols = shape_numel(norm);
    if (t.numel() == cols) return const_cast<void*>(t.raw());
    buf.resize(static_cast<size_t>(cols));
    const float* p = t.data<float>();
    for_each_broadcast<1>(norm, {&t.shape()},
                          [&](int64_t i, const std::array<int64_t, 1>& o) { buf[i] = p[o[0]]; });
    return buf.data();
  }

  Status build(const Shape& xs, Entry& e) {
    const int64_t rank = static_cast<int64_t>(xs.size());
    if (rank == 0 || axis_ < -rank || axis_ >= rank) return Status::ok();  // reference reports it
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    e.norm.assign(xs.begin() + axis, xs.end());
    const int64_t cols = shape_numel(e.norm), rows = cols ? shape_numel(xs) / cols : 0;
    if (rows == 0 || cols == 0) return Status::ok();
    const memory::desc x_md = plain_f32({rows, cols}), stat_md = plain_f32({rows}),
                       c_md = plain_f32({cols});
    using F = dnnl::normalization_flags;
    const F flags = has_bias_ ? F::use_scale | F::use_shift : F::use_scale;
    const auto prop =
        want_stats_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    dnnl::layer_normalization_forward::desc d(prop, x_md, stat_md, eps_, flags);
    dnnl::layer_normalization_forward::primitive_desc pd(d, cpu_engine());
    e.prim = dnnl::layer_normalization_forward(pd);
    e.src = memory(x_md, cpu_engine(), nullptr);
    e.dst = memory(x_md, cpu_engine(), nullptr);
    e.scale = memory(c_md, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}, {DNNL_ARG_SCALE, e.scale}};
    if (has_bias_) {
      e.shift = memory(c_md, cpu_engine(), nullptr);
      e.args[DNNL_ARG_SHIFT] = e.shift;
    }
    if (want_stats_) {
      e.mean_buf.resize(static_cast<size_t>(rows));
      e.var_buf.resize(static_cast<size_t>(rows));
      e.mean = memory(stat_md, cpu_engine(), nullptr);
      e.var = memory(stat_md, cpu_engine(), nullptr);
      e.args[DNNL_ARG_MEAN] = e.mean;
      e.args[DNNL_ARG_VARIANCE] = e.var;
    }
    e.supported = true;
    return Status::ok();
  }

  int64_t axis_;
  float eps_;
  bool has_bias_, want_stats_;
  RefKernelFn fallback_;
  std::vector<float> scale_buf_, shift_buf_;
  ShapeCache<Entry> cache_;
};
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_layernorm_f32(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  // Statistics in another stash type (e.g. double) are the reference kernel's.
  if (!all_f32(ctx) || n.attr_int("stash_type", 1) != 1) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlLayerNormF32>(n));
}

}  // namespace condense
