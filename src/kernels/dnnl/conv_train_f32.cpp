// oneDNN convolution for training graphs, f32, 1-D to 3-D, groups: Conv whose weights are not
// constants (parameters fed each step), ConvGradData (backward data) and ConvGradWeight
// (backward weights and bias). Tensors stay plain (N, C, D...) between nodes; inside a kernel
// activations and weights are reordered into the layouts the primitive asks for
// (format_tag::any: blocked channels, which oneDNN's direct convolutions need; the im2col
// fallback they otherwise get is several times slower) and results reordered back. The weights
// change every step, so they are reordered each run. Primitives are built once per shape.
// Negative effective padding runs the reference.
#include "kernels/dnnl/dnnl_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

struct ConvDims {
  memory::dims strides, dilates, pad_l, pad_r;
};

// oneDNN's view of the convolution of x (N, C, in...) with w (M, C/group, k...): strides,
// dilations minus one, pads. nullopt when oneDNN cannot express it (the reference runs).
Result<std::optional<ConvDims>> conv_dims(const ir::Node& node, const Shape& xs, const Shape& ws) {
  if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size()) return std::optional<ConvDims>();
  auto g = window_geometry(node, xs, std::span<const int64_t>(ws).subspan(2), false);
  if (!g) return Status::errorf("node {}: {}", node.describe(), g.status().message());
  ConvDims d;
  d.strides = to_dims(g->strides);
  d.pad_l = to_dims(g->pad_begin);
  d.pad_r = to_dims(g->pad_end);
  d.dilates.resize(g->rank);
  for (int64_t i = 0; i < g->rank; ++i) {
    d.dilates[i] = g->dilations[i] - 1;
    // oneDNN wants the right pad that makes out = (in + pl + pr - extent) / s + 1 exactly.
    const int64_t extent = (g->kernel[i] - 1) * g->dilations[i] + 1;
    d.pad_r[i] = (g->out[i] - 1) * g->strides[i] + extent - g->in[i] - g->pad_begin[i];
    if (d.pad_l[i] < 0 || d.pad_r[i] < 0) return std::optional<ConvDims>();
  }
  return std::optional<ConvDims>(d);
}

// Plain weights (M, C/G, k...) in oneDNN's dims: (G, M/G, C/G, k...) with groups.
memory::desc plain_weights(const Shape& ws, int64_t group) {
  memory::dims dims = to_dims(ws);
  if (group > 1) {
    dims[0] /= group;
    dims.insert(dims.begin(), group);
  }
  return plain_f32(dims);
}

memory::desc any_like(const memory::desc& d) {
  return memory::desc(d.dims(), memory::data_type::f32, memory::format_tag::any);
}

// User weights (plain, handle set per run) and their copy in the primitive's layout.
struct Weights {
  memory user, prim;
  std::optional<dnnl::reorder> to_prim;  // set when the layouts differ

  void init(const memory::desc& plain, const memory::desc& want) {
    user = memory(plain, cpu_engine(), nullptr);
    if (want == plain) {
      prim = user;
    } else {
      prim = memory(want, cpu_engine());
      to_prim = dnnl::reorder(user, prim);
    }
  }
  void load(const Tensor& w) {
    user.set_data_handle(const_cast<void*>(w.raw()));
    if (to_prim) to_prim->execute(cpu_stream(), user, prim);
  }
};

// An activation tensor: plain in condense (handle set per run), in the primitive's layout
// (format_tag::any: oneDNN's direct convolutions want blocked channels) for the primitive.
// Inputs are reordered in before the primitive, outputs out after it.
struct Staged {
  memory user, prim;
  std::optional<dnnl::reorder> convert;  // set when the layouts differ

  void init(const memory::desc& plain, const memory::desc& want, bool input) {
    user = memory(plain, cpu_engine(), nullptr);
    if (want == plain) {
      prim = user;
      return;
    }
    prim = memory(want, cpu_engine());
    convert = input ? dnnl::reorder(user, prim) : dnnl::reorder(prim, user);
  }
  void in(const Tensor& t) {
    user.set_data_handle(const_cast<void*>(t.raw()));
    if (convert) convert->execute(cpu_stream(), user, prim);
  }
  void out_handle(Tensor& t) { user.set_data_handle(t.raw()); }
  void out() {
    if (convert) convert->execute(cpu_stream(), prim, user);
  }
};

bool has_zero(const Shape& s) {
  return shape_numel(s) == 0;
}

// --- Conv forward with run-time weights ----------------------------------------------------

class DnnlConvTrainF32 final : public Kernel {
 public:
  DnnlConvTrainF32(const ir::Node& node, FusedActivation act)
      : act_(act), group_(node.attr_int("group", 1)), fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_conv_train_f32"; }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const Shape& xs = ctx.in(0).shape();
    const Shape& ws = ctx.in(1).shape();
    Entry* e = cache_.find(xs, ws);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, fresh); }));
      e = &cache_.insert(xs, ws, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    return guarded(ctx.node, [&] {
      e->src.in(ctx.in(0));
      e->dst.out_handle(ctx.out(0));
      if (e->has_bias) e->bias.set_data_handle(const_cast<void*>(ctx.in(2).raw()));
      e->w.load(ctx.in(1));
      e->prim.execute(cpu_stream(), e->args);
      e->dst.out();
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false, has_bias = false;
    dnnl::primitive prim;
    Staged src, dst;
    memory bias;
    Weights w;
    std::unordered_map<int, memory> args;
  };

  Status build(const KernelCtx& ctx, Entry& e) {
    const Shape& xs = ctx.in(0).shape();
    const Shape& ws = ctx.in(1).shape();
    const Shape& ys = ctx.outputs[0].shape();
    if (has_zero(xs) || has_zero(ys)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, xs, ws));
    if (!d) return Status::ok();
    const memory::desc src_md = plain_f32(to_dims(xs)), dst_md = plain_f32(to_dims(ys));
    const memory::desc w_plain = plain_weights(ws, group_);
    e.has_bias = ctx.has_input(2);
    const memory::desc b_md = e.has_bias ? plain_f32({ys[1]}) : memory::desc();
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(src_md),
        any_like(w_plain), b_md, any_like(dst_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
    e.prim = dnnl::convolution_forward(pd);
    e.src.init(src_md, pd.src_desc(), true);
    e.dst.init(dst_md, pd.dst_desc(), false);
    e.w.init(w_plain, pd.weights_desc());
    e.args = {{DNNL_ARG_SRC, e.src.prim}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DST, e.dst.prim}};
    if (e.has_bias) {
      e.bias = memory(b_md, cpu_engine(), nullptr);
      e.args[DNNL_ARG_BIAS] = e.bias;
    }
    e.supported = true;
    return Status::ok();
  }

  FusedActivation act_;
  int64_t group_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

// --- ConvGradData(dY, W, x_shape) -> dX ----------------------------------------------------

class DnnlConvGradDataF32 final : public Kernel {
 public:
  explicit DnnlConvGradDataF32(const ir::Node& node)
      : group_(node.attr_int("group", 1)), fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_conv_bwd_data_f32"; }

  Status run(KernelCtx& ctx) override {
    if (!all_f32_data(ctx)) return fallback_(ctx);
    const Shape& dys = ctx.in(0).shape();
    const Shape& dxs = ctx.outputs[0].shape();
    Entry* e = cache_.find(dys, dxs);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, fresh); }));
      e = &cache_.insert(dys, dxs, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    return guarded(ctx.node, [&] {
      e->diff_dst.in(ctx.in(0));
      e->diff_src.out_handle(ctx.out(0));
      e->w.load(ctx.in(1));
      e->prim.execute(cpu_stream(), e->args);
      e->diff_src.out();
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;
    dnnl::primitive prim;
    Staged diff_dst, diff_src;
    Weights w;
    std::unordered_map<int, memory> args;
  };

  static bool all_f32_data(const KernelCtx& ctx) {
    return ctx.in(0).dtype() == DType::F32 && ctx.in(1).dtype() == DType::F32;
  }

  Status build(const KernelCtx& ctx, Entry& e) {
    const Shape& dys = ctx.in(0).shape();
    const Shape& ws = ctx.in(1).shape();
    const Shape& dxs = ctx.outputs[0].shape();
    if (has_zero(dys) || has_zero(dxs)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, dxs, ws));
    if (!d) return Status::ok();
    const memory::desc dx_md = plain_f32(to_dims(dxs)), dy_md = plain_f32(to_dims(dys));
    const memory::desc w_plain = plain_weights(ws, group_);
    dnnl::convolution_forward::desc fwd(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(dx_md),
        any_like(w_plain), any_like(dy_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd, cpu_engine());
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any_like(dx_md),
                                               any_like(w_plain), any_like(dy_md), d->strides,
                                               d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, cpu_engine(), fwd_pd);
    e.prim = dnnl::convolution_backward_data(pd);
    e.diff_dst.init(dy_md, pd.diff_dst_desc(), true);
    e.diff_src.init(dx_md, pd.diff_src_desc(), false);
    e.w.init(w_plain, pd.weights_desc());
    e.args = {{DNNL_ARG_DIFF_DST, e.diff_dst.prim},
              {DNNL_ARG_WEIGHTS, e.w.prim},
              {DNNL_ARG_DIFF_SRC, e.diff_src.prim}};
    e.supported = true;
    return Status::ok();
  }

  int64_t group_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

// --- ConvGradWeight(dY, X, W) -> dW, dB?, dX? ---------------------------------------------
// With dX requested, the backward-data primitive reads the same reordered dY.

class DnnlConvGradWeightF32 final : public Kernel {
 public:
  explicit DnnlConvGradWeightF32(const ir::Node& node)
      : group_(node.attr_int("group", 1)), fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_conv_bwd_weights_f32"; }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const bool want_bias = ctx.outputs.size() > 1 && ctx.out(1).defined();
    const bool want_dx = ctx.outputs.size() > 2 && ctx.out(2).defined();
    const Shape& dys = ctx.in(0).shape();
    const Shape& xs = ctx.in(1).shape();
    Entry* e = cache_.find(xs, dys);
    if (e && (e->has_bias != want_bias || e->has_dx != want_dx)) e = nullptr;  // other outputs
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, want_bias, want_dx, fresh); }));
      e = &cache_.insert(xs, dys, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    return guarded(ctx.node, [&] {
      e->src.in(ctx.in(1));
      e->diff_dst.in(ctx.in(0));
      e->dw_user.set_data_handle(ctx.out(0).raw());
      if (e->has_bias) e->diff_bias.set_data_handle(ctx.out(1).raw());
      e->prim.execute(cpu_stream(), e->args);
      if (e->from_prim) e->from_prim->execute(cpu_stream(), e->dw_prim, e->dw_user);
      if (e->has_dx) {
        if (e->data_diff_dst) e->data_diff_dst->in(ctx.in(0));
        e->w.load(ctx.in(2));
        e->diff_src.out_handle(ctx.out(2));
        e->data_prim.execute(cpu_stream(), e->data_args);
        e->diff_src.out();
      }
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false, has_bias = false, has_dx = false;
    dnnl::primitive prim, data_prim;
    Staged src, diff_dst, diff_src;
    std::optional<Staged> data_diff_dst;  // only when backward data wants another dY layout
    memory diff_bias, dw_user, dw_prim;
    Weights w;
    std::optional<dnnl::reorder> from_prim;
    std::unordered_map<int, memory> args, data_args;
  };

  Status build(const KernelCtx& ctx, bool want_bias, bool want_dx, Entry& e) {
    const Shape& dys = ctx.in(0).shape();
    const Shape& xs = ctx.in(1).shape();
    const Shape& ws = ctx.in(2).shape();
    e.has_bias = want_bias;
    e.has_dx = want_dx;
    if (has_zero(dys) || has_zero(xs)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, xs, ws));
    if (!d) return Status::ok();
    const memory::desc x_md = plain_f32(to_dims(xs)), dy_md = plain_f32(to_dims(dys));
    const memory::desc w_plain = plain_weights(ws, group_);
    const memory::desc b_md = want_bias ? plain_f32({dys[1]}) : memory::desc();
    dnnl::convolution_forward::desc fwd(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(x_md),
        any_like(w_plain), b_md, any_like(dy_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd, cpu_engine());
    dnnl::convolution_backward_weights::desc desc(
        dnnl::algorithm::convolution_direct, any_like(x_md), any_like(w_plain), b_md,
        any_like(dy_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, cpu_engine(), fwd_pd);
    e.prim = dnnl::convolution_backward_weights(pd);
    e.src.init(x_md, pd.src_desc(), true);
    e.diff_dst.init(dy_md, pd.diff_dst_desc(), true);
    e.dw_user = memory(w_plain, cpu_engine(), nullptr);
    if (pd.diff_weights_desc() == w_plain) {
      e.dw_prim = e.dw_user;
    } else {
      e.dw_prim = memory(pd.diff_weights_desc(), cpu_engine());
      e.from_prim = dnnl::reorder(e.dw_prim, e.dw_user);
    }
    e.args = {{DNNL_ARG_SRC, e.src.prim},
              {DNNL_ARG_DIFF_DST, e.diff_dst.prim},
              {DNNL_ARG_DIFF_WEIGHTS, e.dw_prim}};
    if (want_bias) {
      e.diff_bias = memory(b_md, cpu_engine(), nullptr);
      e.args[DNNL_ARG_DIFF_BIAS] = e.diff_bias;
    }
    if (want_dx) CONDENSE_TRY(build_data(*d, x_md, dy_md, w_plain, fwd_pd, pd.diff_dst_desc(), e));
    e.supported = true;
    return Status::ok();
  }

  // Backward data, asked first for the dY layout backward weights uses (one reorder of dY).
  Status build_data(const ConvDims& d, const memory::desc& x_md, const memory::desc& dy_md,
                    const memory::desc& w_plain,
                    const dnnl::convolution_forward::primitive_desc& fwd_pd,
                    const memory::desc& shared_dy, Entry& e) {
    auto make = [&](const memory::desc& dy_want) {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct,
                                                 any_like(x_md), any_like(w_plain), dy_want,
                                                 d.strides, d.dilates, d.pad_l, d.pad_r);
      return dnnl::convolution_backward_data::primitive_desc(desc, cpu_engine(), fwd_pd);
    };
    dnnl::convolution_backward_data::primitive_desc pd;
    try {
      pd = make(shared_dy);
    } catch (const dnnl::error&) {
      pd = make(any_like(dy_md));
    }
    e.data_prim = dnnl::convolution_backward_data(pd);
    memory dy_for_data = e.diff_dst.prim;
    if (pd.diff_dst_desc() != shared_dy) {
      e.data_diff_dst.emplace();
      e.data_diff_dst->init(dy_md, pd.diff_dst_desc(), true);
      dy_for_data = e.data_diff_dst->prim;
    }
    e.diff_src.init(x_md, pd.diff_src_desc(), false);
    e.w.init(w_plain, pd.weights_desc());
    e.data_args = {{DNNL_ARG_DIFF_DST, dy_for_data},
                   {DNNL_ARG_WEIGHTS, e.w.prim},
                   {DNNL_ARG_DIFF_SRC, e.diff_src.prim}};
    return Status::ok();
  }

  int64_t group_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};

bool valid_group(const ir::Node& n) {
  return n.attr_int("group", 1) >= 1;
}
}  // namespace

// Conv with weights that are not constants (the constant case is make_dnnl_conv_f32's).
Result<std::unique_ptr<Kernel>> make_dnnl_conv_train_f32(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  if (!all_f32(ctx) || !valid_group(n) || n.inputs.size() < 2) return std::unique_ptr<Kernel>();
  auto act = fused_activation(n);
  if (!act || !activation_supported(*act)) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConvTrainF32>(n, *act));
}

Result<std::unique_ptr<Kernel>> make_dnnl_conv_grad_data_f32(const KernelCreateCtx& ctx) {
  if (!valid_group(ctx.node)) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConvGradDataF32>(ctx.node));
}

Result<std::unique_ptr<Kernel>> make_dnnl_conv_grad_weight_f32(const KernelCreateCtx& ctx) {
  if (!all_f32(ctx) || !valid_group(ctx.node)) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConvGradWeightF32>(ctx.node));
}

}  // namespace condense
