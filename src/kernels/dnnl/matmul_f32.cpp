// oneDNN MatMul and Gemm, f32. Weights (B) constant: scaled by alpha and reordered once into the
// primitive's preferred layout; not constant: read in place (transB as strides). Gemm's beta * C
// becomes the primitive's bias (precomputed when C is constant). Fused activation as post-ops.
// Shapes it does not cover (1-D operands, broadcast batch dims, alpha != 1 with a variable B)
// run the reference kernel.
#include <unordered_map>

#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

struct MatMulSpec {
  bool gemm = false;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
};

class DnnlMatMulF32 final : public Kernel {
 public:
  DnnlMatMulF32(const ir::Node& node, MatMulSpec spec, std::optional<Tensor> b,
                std::optional<Tensor> c, FusedActivation act)
      : spec_(spec),
        b_(std::move(b)),
        c_(std::move(c)),
        act_(act),
        fallback_(ref_kernel_fn(node.op)) {}

  std::string_view name() const override {
    return spec_.gemm ? "dnnl_gemm_f32" : "dnnl_matmul_f32";
  }

  Status run(KernelCtx& ctx) override {
    if (!all_inputs_f32(ctx)) return fallback_(ctx);
    const Tensor& a = ctx.in(0);
    const Shape& bs = ctx.in(1).shape();
    Entry* e = cache_.find(a.shape(), bs);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx, fresh); }));
      e = &cache_.insert(a.shape(), bs, std::move(fresh));
    }
    if (!e->supported) return fallback_(ctx);
    return guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(a.raw()));
      if (!b_) e->wei.set_data_handle(const_cast<void*>(ctx.in(1).raw()));
      if (e->bias_from_input) e->bias.set_data_handle(const_cast<void*>(ctx.in(2).raw()));
      e->dst.set_data_handle(ctx.out(0).raw());
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;
    bool bias_from_input = false;
    dnnl::primitive prim;
    memory src, wei, bias, dst;
    std::unordered_map<int, memory> args;
  };

  static memory::desc strided(const memory::dims& dims, bool trans_last2) {
    memory::desc d = plain_f32(dims);
    if (!trans_last2) return d;
    // Stored as (..., cols, rows): swap the last two strides of the plain layout.
    memory::dims sd = dims;
    std::swap(sd[sd.size() - 1], sd[sd.size() - 2]);
    memory::desc s = plain_f32(sd);
    memory::dims st(s.data.format_desc.blocking.strides,
                    s.data.format_desc.blocking.strides + sd.size());
    std::swap(st[st.size() - 1], st[st.size() - 2]);
    return memory::desc(dims, memory::data_type::f32, st);
  }

  memory packed_weights(const memory::desc& plain, const memory::desc& want) {
    for (auto& [d, m] : packed_)
      if (d == want) return m;
    memory src(plain, cpu_engine(), const_cast<void*>(b_->raw()));
    memory dst(want, cpu_engine());
    dnnl::reorder(src, dst).execute(cpu_stream(), src, dst);
    cpu_stream().wait();
    packed_.emplace_back(want, dst);
    return dst;
  }

  Status build(KernelCtx& ctx, Entry& e) {
    const Shape& as = ctx.in(0).shape();
    const Shape& bs = ctx.in(1).shape();
    const Shape& ys = ctx.out(0).shape();
    if (as.size() < 2 || bs.size() < 2 || shape_numel(ys) == 0 || shape_numel(as) == 0)
      return Status::ok();
    memory::dims a_dims, b_dims, y_dims;
    bool ta = spec_.trans_a, tb = spec_.trans_b;
    if (bs.size() == 2) {
      // (..., M, K) x (K, N): fold A's leading dims into M.
      const int64_t K = ta ? as[0] : as.back();
      if (ta)
        a_dims = {as[1], as[0]};
      else
        a_dims = {shape_numel(as) / K, K};
      b_dims = {tb ? bs[1] : bs[0], tb ? bs[0] : bs[1]};
      y_dims = {a_dims[0], b_dims[1]};
    } else {
      if (as.size() != bs.size() || !std::equal(as.begin(), as.end() - 2, bs.begin()))
        return Status::ok();  // broadcast batch dims: reference
      a_dims = to_dims(as);
      b_dims = to_dims(bs);
      y_dims = to_dims(ys);
    }
    const memory::desc a_md = strided(a_dims, ta), y_md = plain_f32(y_dims);
    const memory::desc b_plain = strided(b_dims, tb);
    const memory::desc b_md =
        b_ ? memory::desc(b_dims, memory::data_type::f32, memory::format_tag::any) : b_plain;
    // Bias: beta * C broadcast to (M, N) (2-D case only).
    memory::desc bias_md;
    bool use_bias = false;
    if (spec_.gemm && ctx.has_input(2)) {
      const Shape& cs = ctx.in(2).shape();
      const int64_t rows = cs.size() == 2 ? cs[0] : 1, cols = cs.empty() ? 1 : cs.back();
      bias_md = plain_f32({rows, cols});
      use_bias = true;
      e.bias_from_input = !c_;
      if (!c_ && spec_.beta != 1.f) return Status::ok();
    }
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    dnnl::matmul::desc d = use_bias ? dnnl::matmul::desc(a_md, b_md, bias_md, y_md)
                                    : dnnl::matmul::desc(a_md, b_md, y_md);
    dnnl::matmul::primitive_desc pd(d, attr, cpu_engine());
    e.prim = dnnl::matmul(pd);
    e.src = memory(a_md, cpu_engine(), nullptr);
    e.dst = memory(y_md, cpu_engine(), nullptr);
    e.wei = b_ ? packed_weights(b_plain, pd.weights_desc()) : memory(b_md, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.wei}, {DNNL_ARG_DST, e.dst}};
    if (use_bias) {
      e.bias = memory(bias_md, cpu_engine(), c_ ? const_cast<void*>(c_->raw()) : nullptr);
      e.args[DNNL_ARG_BIAS] = e.bias;
    }
    e.supported = true;
    return Status::ok();
  }

  MatMulSpec spec_;
  std::optional<Tensor> b_;  // constant weights, already scaled by alpha
  std::optional<Tensor> c_;  // constant beta * C
  FusedActivation act_;
  RefKernelFn fallback_;
  std::vector<std::pair<memory::desc, memory>> packed_;
  ShapeCache<Entry> cache_;
};

Tensor scaled_copy(const Tensor& t, float s) {
  Tensor r = t.clone();
  if (s != 1.f)
    for (int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] *= s;
  return r;
}

Result<std::unique_ptr<Kernel>> make_matmul(const KernelCreateCtx& ctx, bool gemm) {
  const ir::Node& n = ctx.node;
  if (!all_f32(ctx)) return std::unique_ptr<Kernel>();
  auto act = fused_activation(n);
  if (!act || !activation_supported(*act)) return std::unique_ptr<Kernel>();
  MatMulSpec spec;
  spec.gemm = gemm;
  if (gemm) {
    spec.trans_a = n.attr_int("transA", 0) != 0;
    spec.trans_b = n.attr_int("transB", 0) != 0;
    spec.alpha = n.attr_float("alpha", 1.f);
    spec.beta = n.attr_float("beta", 1.f);
  }
  std::optional<Tensor> b, c;
  if (ctx.constant_inputs[1])
    b = scaled_copy(*ctx.constant_inputs[1], spec.alpha);
  else if (spec.alpha != 1.f)
    return std::unique_ptr<Kernel>();
  if (gemm && n.input(2) && ctx.constant_inputs[2])
    c = scaled_copy(*ctx.constant_inputs[2], spec.beta);
  return std::unique_ptr<Kernel>(std::make_unique<DnnlMatMulF32>(n, spec, b, c, *act));
}
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_matmul_f32(const KernelCreateCtx& ctx) {
  return make_matmul(ctx, false);
}
Result<std::unique_ptr<Kernel>> make_dnnl_gemm_f32(const KernelCreateCtx& ctx) {
  return make_matmul(ctx, true);
}

}  // namespace condense
