// oneDNN pooling backward for training graphs, f32, (N, C, D...) of 1 to 3 spatial dims, plain
// or channel-blocked (kernels/layout.h; dX takes dY's layout): MaxPoolGrad(dY, X) and
// AveragePoolGrad(dY, x_shape). oneDNN's max-pooling backward reads the
// forward's workspace (where each maximum was); MaxPoolGrad recomputes it with one
// forward_training pass over X (memory-bound, cheap next to the backward's scatter) so that the
// forward MaxPool keeps its inference kernel and the graph needs no extra tensor. Windows are
// the forward's (ceil_mode as extra right padding); the cases pool_f32.cpp leaves to the
// reference fall back here too. Primitives are built once per shape.
#include "kernels/dnnl/dnnl_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

struct PoolDims {
  memory::dims strides, kernel, dilates, pad_l, pad_r;
};

// oneDNN's view of the pool of x (plain) with the node's attributes, or nullopt when it cannot
// express it (windows entirely in the padding, count_include_pad over ceil-mode padding).
Result<std::optional<PoolDims>> pool_dims(const ir::Node& node, const Shape& xs, bool include_pad) {
  if (xs.size() < 3 || xs.size() > 5 || shape_numel(xs) == 0) return std::optional<PoolDims>();
  auto g =
      window_geometry(node, xs, node.attr_ints("kernel_shape"), node.attr_int("ceil_mode", 0) != 0);
  if (!g) return Status::errorf("node {}: {}", node.describe(), g.status().message());
  PoolDims d;
  d.strides = to_dims(g->strides);
  d.kernel = to_dims(g->kernel);
  d.pad_l = to_dims(g->pad_begin);
  d.pad_r.resize(g->rank);
  d.dilates.resize(g->rank);
  for (int64_t i = 0; i < g->rank; ++i) {
    const int64_t extent = (g->kernel[i] - 1) * g->dilations[i] + 1;
    d.pad_r[i] =
        std::max<int64_t>(0, (g->out[i] - 1) * g->strides[i] + extent - g->in[i] - g->pad_begin[i]);
    d.dilates[i] = g->dilations[i] - 1;
    if (d.pad_r[i] != g->pad_end[i] && include_pad) return std::optional<PoolDims>();
    if (g->pad_begin[i] >= extent || d.pad_r[i] >= extent) return std::optional<PoolDims>();
  }
  return std::optional<PoolDims>(d);
}

class DnnlPoolGradF32 final : public Kernel {
 public:
  explicit DnnlPoolGradF32(const ir::Node& node)
      : max_(node.op == OpKind::MaxPoolGrad), fallback_(ref_kernel_fn(node.op)) {}
  std::string_view name() const override { return "dnnl_pool_bwd_f32"; }

  // dY (and X for max pooling) may come blocked: then both do, and dX goes blocked.
  bool may_accept_blocked(size_t input) const override {
    return input == 0 || (max_ && input == 1);
  }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    if (!f32(ctx)) return Layout::Plain;
    if (!max_) return input == 0 ? ctx.in_layout(0) : Layout::Plain;
    if (input > 1) return Layout::Plain;
    const bool any = ctx.in_layout(0) == Layout::Blocked || ctx.in_layout(1) == Layout::Blocked;
    return any && blockable(DType::F32, ctx.in(0).shape()) &&
                   blockable(DType::F32, ctx.in(1).shape())
               ? Layout::Blocked
               : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& dy = ctx.in(0);
    if (!f32(ctx)) return fallback_(ctx);
    const Shape& xs = ctx.out(0).shape();
    const Layout layout = ctx.in_layout(0);
    Shape key = dy.shape();
    key.push_back(static_cast<int64_t>(layout));
    Entry* e = cache_.find(xs, key);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(
          guarded(ctx.node, [&] { return build(ctx.node, xs, dy.shape(), layout, fresh); }));
      e = &cache_.insert(xs, key, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, fallback_);
    ctx.set_out_layout(0, layout);
    return guarded(ctx.node, [&] {
      if (max_) {
        e->src.set_data_handle(const_cast<void*>(ctx.in(1).raw()));
        e->fwd.execute(cpu_stream(), e->fwd_args);
      }
      e->diff_dst.set_data_handle(const_cast<void*>(dy.raw()));
      e->diff_src.set_data_handle(ctx.out(0).raw());
      e->bwd.execute(cpu_stream(), e->bwd_args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;
    dnnl::primitive fwd, bwd;
    memory src, dst_scratch, workspace, diff_dst, diff_src;
    std::unordered_map<int, memory> fwd_args, bwd_args;
  };

  bool f32(const KernelCtx& ctx) const {
    return ctx.in(0).dtype() == DType::F32 && (!max_ || ctx.in(1).dtype() == DType::F32);
  }

  Status build(const ir::Node& node, const Shape& xs, const Shape& ys, Layout layout, Entry& e) {
    const bool include_pad = node.attr_int("count_include_pad", 0) != 0;
    CONDENSE_ASSIGN_OR_RETURN(std::optional<PoolDims> d, pool_dims(node, xs, include_pad && !max_));
    if (!d) return Status::ok();
    const dnnl::algorithm alg = max_          ? dnnl::algorithm::pooling_max
                                : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                              : dnnl::algorithm::pooling_avg_exclude_padding;
    const memory::desc x_md = f32_desc(to_dims(xs), layout), y_md = f32_desc(to_dims(ys), layout);
    dnnl::pooling_v2_forward::desc fd(dnnl::prop_kind::forward_training, alg, x_md, y_md,
                                      d->strides, d->kernel, d->dilates, d->pad_l, d->pad_r);
    dnnl::pooling_v2_forward::primitive_desc fpd(fd, cpu_engine());
    dnnl::pooling_v2_backward::desc bd(alg, x_md, y_md, d->strides, d->kernel, d->dilates, d->pad_l,
                                       d->pad_r);
    dnnl::pooling_v2_backward::primitive_desc bpd(bd, cpu_engine(), fpd);
    e.bwd = dnnl::pooling_v2_backward(bpd);
    e.diff_dst = memory(y_md, cpu_engine(), nullptr);
    e.diff_src = memory(x_md, cpu_engine(), nullptr);
    e.bwd_args = {{DNNL_ARG_DIFF_DST, e.diff_dst}, {DNNL_ARG_DIFF_SRC, e.diff_src}};
    if (max_) {
      e.fwd = dnnl::pooling_v2_forward(fpd);
      e.src = memory(x_md, cpu_engine(), nullptr);
      e.dst_scratch = memory(y_md, cpu_engine());
      e.workspace = memory(fpd.workspace_desc(), cpu_engine());
      e.fwd_args = {
          {DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst_scratch}, {DNNL_ARG_WORKSPACE, e.workspace}};
      e.bwd_args[DNNL_ARG_WORKSPACE] = e.workspace;
    }
    e.supported = true;
    return Status::ok();
  }

  bool max_;
  RefKernelFn fallback_;
  ShapeCache<Entry> cache_;
};
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_pool_grad_f32(const KernelCreateCtx& ctx) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlPoolGradF32>(ctx.node));
}

}  // namespace condense
