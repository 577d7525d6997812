// oneDNN convolution for training graphs, f32, 1-D to 3-D, groups: Conv whose weights are not
// constants (parameters fed each step), ConvGradData (backward data) and ConvGradWeight
// (backward weights and bias). Activations and their gradients come and go plain (N, C, D...)
// or channel-blocked (kernels/layout.h) as the runtime asks, so a network trains blocked from
// its first convolution to its last with no reorder inside the kernels. A plain activation is
// reordered into the layout the primitive asks for (format_tag::any: blocked channels, which
// oneDNN's direct convolutions need; the im2col fallback they otherwise get is several times
// slower) and a plain result back out. The weights change every step, so they are reordered each
// run; their gradient is always written plain. Primitives are built once per shape and layouts.
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

// An activation of shape `s` as condense holds it.
memory::desc activation(const Shape& s, Layout l) {
  return f32_desc(to_dims(s), l);
}

// What to ask a primitive for: a blocked activation as it is (no reorder), `any` for a plain one.
memory::desc ask(const memory::desc& given, Layout l) {
  return l == Layout::Blocked ? given : any_like(given);
}

// The layout to write output `o` of shape `s` in: blocked when the readers want it.
Layout out_layout(const KernelCtx& ctx, size_t o, const Shape& s) {
  return ctx.wants_blocked(o) && blockable(DType::F32, s) ? Layout::Blocked : Layout::Plain;
}

// Cache key part: a shape followed by layout and flag codes.
Shape key_with(Shape s, std::initializer_list<int64_t> codes) {
  s.insert(s.end(), codes.begin(), codes.end());
  return s;
}

int64_t code(Layout l) {
  return static_cast<int64_t>(l);
}

// make(true): the primitive descriptor for the activations as given (blocked ones read and
// written in place), unless oneDNN cannot build one or has only its reference kernel for them;
// then make(false): every activation `any`, reordered.
template <typename Make>
auto given_or_any(Make make) -> decltype(make(true)) {
  try {
    auto pd = make(true);
    if (!is_dnnl_reference(pd)) return pd;
  } catch (const dnnl::error&) {
  }
  return make(false);
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

// An activation tensor as condense holds it (plain or blocked, handle set per run) and in the
// primitive's layout. When they differ, inputs are reordered in before the primitive and outputs
// out after it.
struct Staged {
  memory user, prim;
  std::optional<dnnl::reorder> convert;  // set when the layouts differ

  void init(const memory::desc& given, const memory::desc& want, bool input) {
    user = memory(given, cpu_engine(), nullptr);
    if (want == given) {
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

  bool may_accept_blocked(size_t input) const override { return input == 0; }
  bool may_produce_blocked(size_t output) const override { return output == 0; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input == 0 && all_inputs_f32(ctx) ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const Shape& xs = ctx.in(0).shape();
    const Layout in = ctx.in_layout(0), out = out_layout(ctx, 0, ctx.out(0).shape());
    const Shape key = key_with(ctx.in(1).shape(), {code(in), code(out)});
    Entry* e = cache_.find(xs, key);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, in, out, fresh); }));
      e = &cache_.insert(xs, key, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, fallback_);
    ctx.set_out_layout(0, out);
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

  Status build(const KernelCtx& ctx, Layout in, Layout out, Entry& e) {
    const Shape& xs = ctx.in(0).shape();
    const Shape& ws = ctx.in(1).shape();
    const Shape& ys = ctx.outputs[0].shape();
    if (has_zero(xs) || has_zero(ys)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, xs, ws));
    if (!d) return Status::ok();
    const memory::desc src_md = activation(xs, in), dst_md = activation(ys, out);
    const memory::desc w_plain = plain_weights(ws, group_);
    e.has_bias = ctx.has_input(2);
    const memory::desc b_md = e.has_bias ? plain_f32({ys[1]}) : memory::desc();
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    auto pd = given_or_any([&](bool given) {
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
          given ? ask(src_md, in) : any_like(src_md), any_like(w_plain), b_md,
          given ? ask(dst_md, out) : any_like(dst_md), d->strides, d->dilates, d->pad_l, d->pad_r);
      return dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
    });
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

  bool may_accept_blocked(size_t input) const override { return input == 0; }
  bool may_produce_blocked(size_t output) const override { return output == 0; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input == 0 && all_f32_data(ctx) ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!all_f32_data(ctx)) return fallback_(ctx);
    const Shape& dys = ctx.in(0).shape();
    const Shape& dxs = ctx.outputs[0].shape();
    const Layout in = ctx.in_layout(0), out = out_layout(ctx, 0, dxs);
    const Shape key = key_with(dxs, {code(in), code(out)});
    Entry* e = cache_.find(dys, key);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, in, out, fresh); }));
      e = &cache_.insert(dys, key, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, fallback_);
    ctx.set_out_layout(0, out);
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
    // x_shape (input 2) is an integer shape tensor.
    return ctx.in(0).dtype() == DType::F32 && ctx.in(1).dtype() == DType::F32;
  }

  Status build(const KernelCtx& ctx, Layout in, Layout out, Entry& e) {
    const Shape& dys = ctx.in(0).shape();
    const Shape& ws = ctx.in(1).shape();
    const Shape& dxs = ctx.outputs[0].shape();
    if (has_zero(dys) || has_zero(dxs)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, dxs, ws));
    if (!d) return Status::ok();
    const memory::desc dx_md = activation(dxs, out), dy_md = activation(dys, in);
    const memory::desc w_plain = plain_weights(ws, group_);
    dnnl::convolution_forward::desc fwd(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(dx_md),
        any_like(w_plain), any_like(dy_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd, cpu_engine());
    auto pd = given_or_any([&](bool given) {
      dnnl::convolution_backward_data::desc desc(
          dnnl::algorithm::convolution_direct, given ? ask(dx_md, out) : any_like(dx_md),
          any_like(w_plain), given ? ask(dy_md, in) : any_like(dy_md), d->strides, d->dilates,
          d->pad_l, d->pad_r);
      return dnnl::convolution_backward_data::primitive_desc(desc, cpu_engine(), fwd_pd);
    });
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

  // dY and X may come blocked; dX (output 2) may go blocked. dW and dB are always plain.
  bool may_accept_blocked(size_t input) const override { return input <= 1; }
  bool may_produce_blocked(size_t output) const override { return output == 2; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input <= 1 && all_inputs_f32(ctx) ? ctx.in_layout(input) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const bool want_bias = ctx.outputs.size() > 1 && ctx.out(1).defined();
    const bool want_dx = ctx.outputs.size() > 2 && ctx.out(2).defined();
    const Shape& dys = ctx.in(0).shape();
    const Shape& xs = ctx.in(1).shape();
    const Layouts l{ctx.in_layout(0), ctx.in_layout(1),
                    want_dx ? out_layout(ctx, 2, xs) : Layout::Plain};
    const Shape key = key_with(dys, {code(l.dy), code(l.x), code(l.dx), want_bias, want_dx});
    Entry* e = cache_.find(xs, key);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, want_bias, want_dx, l, fresh); }));
      e = &cache_.insert(xs, key, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, fallback_);
    if (want_dx) ctx.set_out_layout(2, l.dx);
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

  struct Layouts {
    Layout dy, x, dx;
  };

  Status build(const KernelCtx& ctx, bool want_bias, bool want_dx, const Layouts& l, Entry& e) {
    const Shape& dys = ctx.in(0).shape();
    const Shape& xs = ctx.in(1).shape();
    const Shape& ws = ctx.in(2).shape();
    e.has_bias = want_bias;
    e.has_dx = want_dx;
    if (has_zero(dys) || has_zero(xs)) return Status::ok();
    CONDENSE_ASSIGN_OR_RETURN(std::optional<ConvDims> d, conv_dims(ctx.node, xs, ws));
    if (!d) return Status::ok();
    const memory::desc x_md = activation(xs, l.x), dy_md = activation(dys, l.dy);
    const memory::desc w_plain = plain_weights(ws, group_);
    const memory::desc b_md = want_bias ? plain_f32({dys[1]}) : memory::desc();
    dnnl::convolution_forward::desc fwd(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_like(x_md),
        any_like(w_plain), b_md, any_like(dy_md), d->strides, d->dilates, d->pad_l, d->pad_r);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd, cpu_engine());
    auto pd = given_or_any([&](bool given) {
      dnnl::convolution_backward_weights::desc desc(
          dnnl::algorithm::convolution_direct, given ? ask(x_md, l.x) : any_like(x_md),
          any_like(w_plain), b_md, given ? ask(dy_md, l.dy) : any_like(dy_md), d->strides,
          d->dilates, d->pad_l, d->pad_r);
      return dnnl::convolution_backward_weights::primitive_desc(desc, cpu_engine(), fwd_pd);
    });
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
    if (want_dx) {
      const memory::desc dx_md = activation(xs, l.dx);
      CONDENSE_TRY(
          build_data(*d, dx_md, ask(dx_md, l.dx), dy_md, w_plain, fwd_pd, pd.diff_dst_desc(), e));
    }
    e.supported = true;
    return Status::ok();
  }

  // Backward data, asked first for the dY layout backward weights uses (one reorder of dY at
  // most) and for dX in `dx_want` (its own layout when blocked), then for any layouts.
  Status build_data(const ConvDims& d, const memory::desc& dx_md, const memory::desc& dx_want,
                    const memory::desc& dy_md, const memory::desc& w_plain,
                    const dnnl::convolution_forward::primitive_desc& fwd_pd,
                    const memory::desc& shared_dy, Entry& e) {
    auto pd = given_or_any([&](bool given) {
      dnnl::convolution_backward_data::desc desc(
          dnnl::algorithm::convolution_direct, given ? dx_want : any_like(dx_md), any_like(w_plain),
          given ? shared_dy : any_like(dy_md), d.strides, d.dilates, d.pad_l, d.pad_r);
      return dnnl::convolution_backward_data::primitive_desc(desc, cpu_engine(), fwd_pd);
    });
    e.data_prim = dnnl::convolution_backward_data(pd);
    memory dy_for_data = e.diff_dst.prim;
    if (pd.diff_dst_desc() != shared_dy) {
      e.data_diff_dst.emplace();
      e.data_diff_dst->init(dy_md, pd.diff_dst_desc(), true);
      dy_for_data = e.data_diff_dst->prim;
    }
    e.diff_src.init(dx_md, pd.diff_src_desc(), false);
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

// Conv with weights that are not constants (the constant case is make_dnnl_conv's).
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
