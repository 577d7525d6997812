// oneDNN batch normalization for training graphs, f32, (N, C, D...) data of rank 2 to 5, plain
// or channel-blocked (kernels/layout.h; the output takes the input's layout): BatchNormTraining
// (forward_training: batch mean and biased variance, then the running statistics updated here as
// ONNX defines them) and BatchNormGrad (backward, with batch or frozen statistics). Per-channel
// vectors are always plain. A fused Relu on Y (fuse_activation pass) runs inside the forward
// primitive. Primitives are built once per shape and layout.
#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

dnnl::normalization_flags scale_shift() {
  return dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
}

bool rank_ok(const Shape& s) {
  return s.size() >= 2 && s.size() <= 5 && shape_numel(s) > 0;
}

const Shape& layout_key(Layout l) {
  static const Shape plain = {0}, blocked = {1};
  return l == Layout::Blocked ? blocked : plain;
}

// --- BatchNormTraining(X, scale, B, running_mean, running_var) -----------------------------
//   -> Y, running_mean', running_var', batch mean, batch variance

class DnnlBatchNormTrainingF32 final : public Kernel {
 public:
  DnnlBatchNormTrainingF32(const ir::Node& node, bool relu)
      : relu_(relu),
        eps_(node.attr_float("epsilon", 1e-5f)),
        momentum_(node.attr_float("momentum", 0.9f)),
        fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_bnorm_train_f32"; }

  // X may come blocked; Y then goes blocked too.
  bool may_accept_blocked(size_t input) const override { return input == 0; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input == 0 && all_inputs_f32(ctx) ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx) || !rank_ok(ctx.in(0).shape())) return run_plain(ctx, fallback_);
    const Shape& xs = ctx.in(0).shape();
    const Layout layout = ctx.in_layout(0);
    Entry* e = cache_.find(xs, layout_key(layout));
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(xs, layout, fresh); }));
      e = &cache_.insert(xs, layout_key(layout), std::move(fresh));
    }
    ctx.set_out_layout(0, layout);
    CONDENSE_TRY(guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(ctx.in(0).raw()));
      e->scale.set_data_handle(const_cast<void*>(ctx.in(1).raw()));
      e->shift.set_data_handle(const_cast<void*>(ctx.in(2).raw()));
      e->dst.set_data_handle(ctx.out(0).raw());
      e->mean.set_data_handle(ctx.out(3).raw());
      e->var.set_data_handle(ctx.out(4).raw());
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    }));
    // r' = r * momentum + batch * (1 - momentum).
    const int64_t C = xs[1];
    const float m = momentum_;
    const float* rm = ctx.in(3).data<float>();
    const float* rv = ctx.in(4).data<float>();
    const float* bm = ctx.out(3).data<float>();
    const float* bv = ctx.out(4).data<float>();
    float* om = ctx.out(1).data<float>();
    float* ov = ctx.out(2).data<float>();
    for (int64_t c = 0; c < C; ++c) {
      om[c] = rm[c] * m + bm[c] * (1.f - m);
      ov[c] = rv[c] * m + bv[c] * (1.f - m);
    }
    return Status::ok();
  }

 private:
  struct Entry {
    dnnl::primitive prim;
    memory src, dst, scale, shift, mean, var;
    memory workspace;  // with the fused Relu: where Y > 0, which nothing here reads back
    std::unordered_map<int, memory> args;
  };

  Status build(const Shape& xs, Layout layout, Entry& e) {
    const memory::desc data = f32_desc(to_dims(xs), layout), chan = plain_f32({xs[1]});
    auto flags = scale_shift();
    if (relu_) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_training, data, eps_, flags);
    dnnl::batch_normalization_forward::primitive_desc pd(d, cpu_engine());
    e.prim = dnnl::batch_normalization_forward(pd);
    e.src = memory(data, cpu_engine(), nullptr);
    e.dst = memory(data, cpu_engine(), nullptr);
    e.scale = memory(chan, cpu_engine(), nullptr);
    e.shift = memory(chan, cpu_engine(), nullptr);
    e.mean = memory(chan, cpu_engine(), nullptr);
    e.var = memory(chan, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src},     {DNNL_ARG_DST, e.dst},   {DNNL_ARG_SCALE, e.scale},
              {DNNL_ARG_SHIFT, e.shift}, {DNNL_ARG_MEAN, e.mean}, {DNNL_ARG_VARIANCE, e.var}};
    if (relu_) {
      e.workspace = memory(pd.workspace_desc(), cpu_engine());
      e.args[DNNL_ARG_WORKSPACE] = e.workspace;
    }
    return Status::ok();
  }

  bool relu_;
  float eps_, momentum_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

// --- BatchNormGrad(dY, X, scale, mean, var) -> dX, dscale?, dB? ----------------------------

class DnnlBatchNormGradF32 final : public Kernel {
 public:
  explicit DnnlBatchNormGradF32(const ir::Node& node)
      : eps_(node.attr_float("epsilon", 1e-5f)),
        training_(node.attr_int("training", 1) != 0),
        fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_bnorm_bwd_f32"; }

  // dY and X may come blocked (then both do, and dX goes blocked).
  bool may_accept_blocked(size_t input) const override { return input <= 1; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    if (input > 1 || !all_inputs_f32(ctx)) return Layout::Plain;
    const Shape& xs = ctx.in(1).shape();
    const bool any = ctx.in_layout(0) == Layout::Blocked || ctx.in_layout(1) == Layout::Blocked;
    return any && ctx.in(0).shape() == xs && blockable(DType::F32, xs) ? Layout::Blocked
                                                                       : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx) || !rank_ok(ctx.in(1).shape())) return run_plain(ctx, fallback_);
    const Shape& xs = ctx.in(1).shape();
    const Layout layout = ctx.in_layout(1);
    Entry* e = cache_.find(xs, layout_key(layout));
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(xs, layout, fresh); }));
      e = &cache_.insert(xs, layout_key(layout), std::move(fresh));
    }
    ctx.set_out_layout(0, layout);
    auto handle = [&](memory& m, size_t out, Tensor& scratch) {
      const bool given = ctx.outputs.size() > out && ctx.out(out).defined();
      m.set_data_handle(given ? ctx.out(out).raw() : scratch.raw());
    };
    return guarded(ctx.node, [&] {
      e->diff_dst.set_data_handle(const_cast<void*>(ctx.in(0).raw()));
      e->src.set_data_handle(const_cast<void*>(ctx.in(1).raw()));
      e->scale.set_data_handle(const_cast<void*>(ctx.in(2).raw()));
      e->mean.set_data_handle(const_cast<void*>(ctx.in(3).raw()));
      e->var.set_data_handle(const_cast<void*>(ctx.in(4).raw()));
      e->diff_src.set_data_handle(ctx.out(0).raw());
      handle(e->diff_scale, 1, e->scratch_scale);
      handle(e->diff_shift, 2, e->scratch_shift);
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    dnnl::primitive prim;
    memory diff_dst, src, scale, mean, var, diff_src, diff_scale, diff_shift;
    Tensor scratch_scale, scratch_shift;  // for dscale / dB when the graph omits them
    Tensor zero_shift;  // oneDNN's backward takes the shift as an argument; it does not read it
    std::unordered_map<int, memory> args;
  };

  Status build(const Shape& xs, Layout layout, Entry& e) {
    const memory::desc data = f32_desc(to_dims(xs), layout), chan = plain_f32({xs[1]});
    auto flags = scale_shift();
    if (!training_) flags = flags | dnnl::normalization_flags::use_global_stats;
    dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, data, eps_,
                                               flags);
    dnnl::batch_normalization_forward::primitive_desc fpd(fd, cpu_engine());
    dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, data, data, eps_, flags);
    dnnl::batch_normalization_backward::primitive_desc pd(d, cpu_engine(), fpd);
    e.prim = dnnl::batch_normalization_backward(pd);
    for (memory* m : {&e.diff_dst, &e.src, &e.diff_src}) *m = memory(data, cpu_engine(), nullptr);
    for (memory* m : {&e.scale, &e.mean, &e.var, &e.diff_scale, &e.diff_shift})
      *m = memory(chan, cpu_engine(), nullptr);
    e.scratch_scale = Tensor::empty(DType::F32, {xs[1]});
    e.scratch_shift = Tensor::empty(DType::F32, {xs[1]});
    e.zero_shift = Tensor::zeros(DType::F32, {xs[1]});
    memory shift(chan, cpu_engine(), e.zero_shift.raw());
    e.args = {{DNNL_ARG_DIFF_DST, e.diff_dst},
              {DNNL_ARG_SRC, e.src},
              {DNNL_ARG_SCALE, e.scale},
              {DNNL_ARG_MEAN, e.mean},
              {DNNL_ARG_VARIANCE, e.var},
              {DNNL_ARG_DIFF_SRC, e.diff_src},
              {DNNL_ARG_DIFF_SCALE, e.diff_scale},
              {DNNL_ARG_DIFF_SHIFT, e.diff_shift},
              {DNNL_ARG_SHIFT, shift}};
    return Status::ok();
  }

  float eps_;
  bool training_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};
}  // namespace

// A fused Relu (fuse_activation pass) runs inside the primitive; other fused activations run on
// the reference kernel.
Result<std::unique_ptr<Kernel>> make_dnnl_batchnorm_training_f32(const KernelCreateCtx& ctx) {
  const auto act = fused_activation(ctx.node);
  if (!all_f32(ctx) || !act || (act->kind != FusedAct::None && act->kind != FusedAct::Relu))
    return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(
      std::make_unique<DnnlBatchNormTrainingF32>(ctx.node, act->kind == FusedAct::Relu));
}

Result<std::unique_ptr<Kernel>> make_dnnl_batchnorm_grad_f32(const KernelCreateCtx& ctx) {
  if (!all_f32(ctx)) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlBatchNormGradF32>(ctx.node));
}

}  // namespace condense
