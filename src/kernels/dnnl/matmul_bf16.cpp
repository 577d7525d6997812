// oneDNN MatMul and Gemm in bfloat16 (`condense quantize --dtype bf16` models): A (..., K) bf16
// times a constant 2-D B bf16, reordered once into the primitive's layout; f32 accumulation on
// AVX512-BF16 / AMX where the CPU has them; Gemm's beta * C (constant, one value per column) as an
// f32 bias; a fused activation as a post-op; y rounded to bf16 once. Declines (reference kernel)
// transA, alpha != 1, a variable B or C, and C that is not per column.
#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

memory::desc plain(const memory::dims& dims, memory::data_type t) {
  return memory::desc(dims, t, memory::format_tag::ab);
}

class DnnlMatMulBf16 final : public Kernel {
 public:
  DnnlMatMulBf16(bool gemm, Tensor b, bool trans_b, std::optional<Tensor> bias, FusedActivation act,
                 RefKernelFn fallback)
      : gemm_(gemm),
        b_(std::move(b)),
        trans_b_(trans_b),
        bias_(std::move(bias)),
        act_(act),
        fallback_(fallback) {}

  std::string_view name() const override { return gemm_ ? "dnnl_gemm_bf16" : "dnnl_matmul_bf16"; }

  Status run(KernelCtx& ctx) override {
    const Tensor& a = ctx.in(0);
    const int64_t K = trans_b_ ? b_.dim(1) : b_.dim(0);
    if (a.dtype() != DType::BF16 || ctx.out(0).dtype() != DType::BF16 || a.rank() < 1 ||
        a.shape().back() != K || a.numel() == 0)
      return fallback_(ctx);
    Entry* e = cache_.find(a.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(a.numel() / K, K, fresh); }));
      e = &cache_.insert(a.shape(), {}, std::move(fresh));
    }
    return guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(a.raw()));
      e->dst.set_data_handle(ctx.out(0).raw());
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    dnnl::primitive prim;
    memory src, dst;
    std::unordered_map<int, memory> args;
  };

  Status build(int64_t M, int64_t K, Entry& e) {
    const int64_t N = trans_b_ ? b_.dim(0) : b_.dim(1);
    using dt = memory::data_type;
    const memory::desc a_md = plain({M, K}, dt::bf16), y_md = plain({M, N}, dt::bf16);
    const memory::desc b_any({K, N}, dt::bf16, memory::format_tag::any);
    const memory::desc bias_md = plain({1, N}, dt::f32);
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    dnnl::matmul::desc d = bias_ ? dnnl::matmul::desc(a_md, b_any, bias_md, y_md)
                                 : dnnl::matmul::desc(a_md, b_any, y_md);
    dnnl::matmul::primitive_desc pd(d, attr, cpu_engine());
    e.prim = dnnl::matmul(pd);
    e.src = memory(a_md, cpu_engine(), nullptr);
    e.dst = memory(y_md, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src},
              {DNNL_ARG_WEIGHTS, weights(pd.weights_desc(), K, N)},
              {DNNL_ARG_DST, e.dst}};
    if (bias_) e.args[DNNL_ARG_BIAS] = memory(bias_md, cpu_engine(), bias_->raw());
    return Status::ok();
  }

  // B in the primitive's layout, reordered once per distinct layout (B is (N, K) with transB).
  memory weights(const memory::desc& want, int64_t K, int64_t N) {
    for (auto& [d, m] : packed_)
      if (d == want) return m;
    const memory::desc given =
        trans_b_ ? memory::desc({K, N}, memory::data_type::bf16, memory::format_tag::ba)
                 : plain({K, N}, memory::data_type::bf16);
    memory src(given, cpu_engine(), const_cast<void*>(b_.raw()));
    memory dst(want, cpu_engine());
    dnnl::reorder(src, dst).execute(cpu_stream(), src, dst);
    cpu_stream().wait();
    packed_.emplace_back(want, dst);
    return dst;
  }

  bool gemm_;
  Tensor b_;
  bool trans_b_;
  std::optional<Tensor> bias_;  // (1, N) f32: beta * C
  FusedActivation act_;
  RefKernelFn fallback_;
  std::vector<std::pair<memory::desc, memory>> packed_;
  ShapeCache<Entry> cache_;
};

Result<std::unique_ptr<Kernel>> make_matmul_bf16(const KernelCreateCtx& ctx, bool gemm) {
  const ir::Node& n = ctx.node;
  const Tensor* b = ctx.constant_inputs.size() > 1 ? ctx.constant_inputs[1] : nullptr;
  // A's declared dtype may be missing (intermediate values default to f32): run() checks it.
  if (!b || b->dtype() != DType::BF16 || b->rank() != 2 || !dnnl_avx512_core())
    return std::unique_ptr<Kernel>();
  auto act = fused_activation(n);
  if (!act || !activation_supported(*act)) return std::unique_ptr<Kernel>();
  bool trans_b = false;
  std::optional<Tensor> bias;
  if (gemm) {
    if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f)
      return std::unique_ptr<Kernel>();
    trans_b = n.attr_int("transB", 0) != 0;
    const int64_t N = trans_b ? b->dim(0) : b->dim(1);
    if (n.input(2)) {
      const Tensor* c = ctx.constant_inputs.size() > 2 ? ctx.constant_inputs[2] : nullptr;
      if (!c || c->dtype() != DType::BF16 || (c->numel() != 1 && c->numel() != N) ||
          (c->rank() == 2 && c->dim(0) != 1))
        return std::unique_ptr<Kernel>();
      const float beta = n.attr_float("beta", 1.f);
      Tensor t = Tensor::empty(DType::F32, {1, N});
      for (int64_t j = 0; j < N; ++j)
        t.data<float>()[j] =
            beta * static_cast<float>(c->data<BFloat16>()[c->numel() == 1 ? 0 : j]);
      bias = std::move(t);
    }
  }
  return std::unique_ptr<Kernel>(std::make_unique<DnnlMatMulBf16>(
      gemm, b->clone(), trans_b, std::move(bias), *act, ref_kernel_fn(n.op)));
}
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_matmul_bf16(const KernelCreateCtx& ctx) {
  return make_matmul_bf16(ctx, false);
}
Result<std::unique_ptr<Kernel>> make_dnnl_gemm_bf16(const KernelCreateCtx& ctx) {
  return make_matmul_bf16(ctx, true);
}

}  // namespace condense
