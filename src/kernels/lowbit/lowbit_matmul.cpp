// Fast kernels of the fused low-bit MatMuls (include/condense/ops/lowbit.inc): pack the constant
// weights once at create (layouts: lowbit_packed.h), then run the AVX-512 VNNI kernels of
// src/kernels/x86/lowbit_matmul_avx512vnni.cpp. A factory returns nullptr, and the reference
// kernel runs, when the CPU lacks AVX-512 VNNI or the node is outside what the packing covers
// (non-constant weights, weight-only scales per row of K or blocks not a multiple of 8).
//
// Weight-only activations: by default each row of x is quantized to int8 per block of K (the
// weights' block; 128 for per-column weights) and multiplied on VNNI, as ONNX Runtime's
// MatMulNBits does with accuracy_level 4 (docs/quantization.md has the accuracy it costs).
// CONDENSE_WEIGHT_ONLY_EXACT=1 in the environment keeps x in f32 instead (weights dequantized
// in registers, f32 FMAs).
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/qparam_index.h"
#include "kernels/dnnl/dnnl_common.h"
#include "kernels/kernel.h"
#include "kernels/lowbit/lowbit_packed.h"
#include "kernels/ref/quant_util.h"
#include "ops/nn_activation.h"

namespace condense {

namespace {
using namespace lowbit;

const Tensor* constant_input(const KernelCreateCtx& ctx, size_t i) {
  return i < ctx.constant_inputs.size() ? ctx.constant_inputs[i] : nullptr;
}
bool has_input(const KernelCreateCtx& ctx, size_t i) {
  return ctx.node.input(i) != nullptr;
}
// Element n of a parameter with 1 or N elements.
float column_f32(const Tensor& t, int64_t n) {
  return t.data<float>()[t.numel() == 1 ? 0 : n];
}

// ---------------------------------------------------------------------------------------------

// From this many rows on, the integer GEMM goes to oneDNN's int8 matmul (AMX tiles on CPUs that
// have them, ~3x the VNNI kernel at batch 64 here); below, the own VNNI GEMV/GEMM streams the
// packed weights. x quantization and the epilogue are the same code on both paths.
constexpr int64_t kDnnlMinRows = 16;

class DynamicInt8MatMul final : public Kernel {
 public:
  DynamicInt8MatMul(PackedDynamicInt8 p, Tensor w_signed, const ir::Node& node)
      : p_(std::move(p)), w_signed_(std::move(w_signed)), node_(node) {}
  std::string_view name() const override { return "matmul_dynamic_u8s8_avx512vnni_dnnl"; }
  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    const int64_t M = p_.K > 0 ? x.numel() / p_.K : 0;
    if (M == 0 || p_.N == 0) return ref_kernel_fn(ctx.node.op)(ctx);
    float* y = ctx.out(0).data<float>();
    if (M >= kDnnlMinRows) {
      Dnnl* d = dnnl_for(M);
      if (d) return run_dnnl(*d, x.data<float>(), M, y);
    }
    dynamic_int8_matmul_avx512vnni(p_, x.data<float>(), M, y, scratch_);
    return Status::ok();
  }

 private:
  struct Dnnl {
    bool supported = false;
    dnnl::primitive prim;
    dnnl::memory src, wei, dst, zp;
    int32_t zp_value = 0;
    std::vector<int32_t> acc;
  };

  // The primitive for M rows, or nullptr when oneDNN offers only its reference implementation.
  Dnnl* dnnl_for(int64_t M) {
    const Shape key = {M};
    Dnnl* d = cache_.find(key);
    if (!d) {
      Dnnl fresh;
      Status st = dnnl_internal::guarded(node_, [&] { return build(M, fresh); });
      if (!st) fresh.supported = false;
      d = &cache_.insert(key, {}, std::move(fresh));
    }
    return d->supported ? d : nullptr;
  }

  Status build(int64_t M, Dnnl& d) {
    using namespace dnnl_internal;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src_md({M, p_.K}, dt::u8, dnnl::memory::dims{p_.K_pad, 1});
    const dnnl::memory::desc wei_md({p_.K, p_.N}, dt::s8, tag::any);
    const dnnl::memory::desc dst_md({M, p_.N}, dt::s32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, cpu_engine());
    if (is_dnnl_reference(pd)) return Status::ok();
    d.prim = dnnl::matmul(pd);
    d.src = dnnl::memory(src_md, cpu_engine(), nullptr);
    d.dst = dnnl::memory(dst_md, cpu_engine(), nullptr);
    d.zp = dnnl::memory({{1}, dt::s32, tag::x}, cpu_engine(), nullptr);
    if (!wei_ || wei_desc_ != pd.weights_desc()) {
      dnnl::memory plain({{p_.K, p_.N}, dt::s8, tag::ab}, cpu_engine(), w_signed_.raw());
      wei_ = dnnl::memory(pd.weights_desc(), cpu_engine());
      dnnl::reorder(plain, wei_).execute(cpu_stream(), plain, wei_);
      cpu_stream().wait();
      wei_desc_ = pd.weights_desc();
    }
    d.wei = wei_;
    d.acc.resize(static_cast<size_t>(M * p_.N));
    d.supported = true;
    return Status::ok();
  }

  Status run_dnnl(Dnnl& d, const float* x, int64_t M, float* y) {
    // Named copies, not a structured binding: clang 14 (the sanitizer build) does not let
    // lambdas capture structured bindings.
    const auto q = dynamic_quantize_avx512(p_, x, M, scratch_);
    const auto x_scale = q.first;
    const auto x_zp = q.second;
    CONDENSE_TRY(dnnl_internal::guarded(node_, [&] {
      d.zp_value = x_zp;
      d.zp.set_data_handle(&d.zp_value);  // the entry was moved into the cache after build
      d.src.set_data_handle(scratch_.xq.data());
      d.dst.set_data_handle(d.acc.data());
      d.prim.execute(dnnl_internal::cpu_stream(),
                     {{DNNL_ARG_SRC, d.src},
                      {DNNL_ARG_WEIGHTS, d.wei},
                      {DNNL_ARG_DST, d.dst},
                      {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, d.zp}});
      dnnl_internal::cpu_stream().wait();
      return Status::ok();
    }));
    dynamic_int8_epilogue_avx512(p_, d.acc.data(), M, scratch_, x_scale, x_zp, y);
    return Status::ok();
  }

  PackedDynamicInt8 p_;
  Tensor w_signed_;  // (K, N) s8, for oneDNN's reorder
  const ir::Node& node_;
  LowbitScratch scratch_;
  dnnl::memory wei_;
  dnnl::memory::desc wei_desc_;
  dnnl_internal::ShapeCache<Dnnl> cache_;
};

PackedDynamicInt8 pack_dynamic(const Tensor& w, const Tensor& zp, const Tensor& scale,
                               const Tensor* bias) {
  PackedDynamicInt8 p;
  p.K = w.dim(0);
  p.N = w.dim(1);
  p.K_pad = round_up(p.K, 8);
  p.N_pad = round_up(p.N, kLanes);
  // Signed weights: uint8 codes and their zero point shifted by -128 (the difference is equal).
  const int32_t shift = w.dtype() == DType::U8 ? 128 : 0;
  std::vector<int32_t> wv = widen_to_i32(w), zv = widen_to_i32(zp);
  p.w = AlignedArray<int8_t>(p.K_pad * p.N_pad);
  p.colsum = AlignedArray<int32_t>(p.N_pad);
  p.zp = AlignedArray<int32_t>(p.N_pad);
  p.scale = AlignedArray<float>(p.N_pad);
  if (bias) p.bias = AlignedArray<float>(p.N_pad);
  for (int64_t n = 0; n < p.N_pad; ++n) {
    const bool in = n < p.N;
    p.zp[n] = in ? zv[zv.size() == 1 ? 0 : n] - shift : 0;
    p.scale[n] = in ? column_f32(scale, n) : 0.f;
    if (bias) p.bias[n] = in ? column_f32(*bias, n) : 0.f;
    int32_t sum = 0;
    for (int64_t k = 0; in && k < p.K; ++k) sum += wv[k * p.N + n] - shift;
    p.colsum[n] = sum;
  }
  for (int64_t panel = 0; panel * kPanel < p.N_pad; ++panel) {
    const int64_t groups = std::min(kPanel, p.N_pad - panel * kPanel) / kLanes;
    int8_t* dst = p.w.data() + panel * kPanel * p.K_pad;
    for (int64_t k4 = 0; k4 < p.K_pad / 4; ++k4)
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t c = 0; c < kLanes; ++c)
          for (int64_t j = 0; j < 4; ++j) {
            const int64_t k = k4 * 4 + j, n = panel * kPanel + g * kLanes + c;
            const bool in = k < p.K && n < p.N;
            *dst++ = static_cast<int8_t>(in ? wv[k * p.N + n] - shift : 0);
          }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------

class WeightOnlyMatMulKernel final : public Kernel {
 public:
  WeightOnlyMatMulKernel(PackedWeightOnly p, bool exact, FusedActivation act)
      : p_(std::move(p)), exact_(exact), act_(act) {}
  std::string_view name() const override {
    if (exact_) return p_.bits == 4 ? "matmul_w4_f32_avx512" : "matmul_w8_f32_avx512";
    return p_.bits == 4 ? "matmul_w4a8_avx512vnni" : "matmul_w8a8_avx512vnni";
  }
  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    const int64_t M = p_.K > 0 ? x.numel() / p_.K : 0;
    if (M == 0 || p_.N == 0) return ref_kernel_fn(ctx.node.op)(ctx);
    if (exact_)
      weight_only_matmul_f32_avx512(p_, x.data<float>(), M, ctx.out(0).data<float>());
    else
      weight_only_matmul_avx512vnni(p_, x.data<float>(), M, ctx.out(0).data<float>(), scratch_);
    if (act_.kind != FusedAct::None) {
      float* y = ctx.out(0).data<float>();
      for (int64_t i = 0; i < M * p_.N; ++i) y[i] = apply_fused_activation(act_, y[i]);
    }
    return Status::ok();
  }

 private:
  PackedWeightOnly p_;
  bool exact_;
  FusedActivation act_;
  LowbitScratch scratch_;
};

// Where W[k, n]'s scale and zero point are, for the kernel's block layout: nullopt when the
// DequantizeLinear parameters are not per tensor, per column or blocked along K.
struct WeightOnlyLayout {
  QParamIndex qi;
  int64_t block = 0;  // kernel block along K
};

std::optional<WeightOnlyLayout> weight_only_layout(const ir::Node& node, const Tensor& w,
                                                   const Tensor& scale, bool tb) {
  const int64_t K = tb ? w.dim(1) : w.dim(0);
  const int64_t k_axis = tb ? 1 : 0, n_axis = 1 - k_axis;
  const int64_t block = node.attr_int("block_size", 0);
  int64_t axis = node.attr_int("axis", 1);
  if (axis < 0) axis += 2;
  WeightOnlyLayout l;
  l.block = std::min<int64_t>(128, round_up(std::max<int64_t>(K, 1), 8));
  if (scale.rank() == 0 || (scale.numel() == 1 && scale.rank() <= 1 && block == 0)) return l;
  if (axis != 0 && axis != 1) return std::nullopt;
  l.qi.axis_len = w.dim(axis);
  l.qi.inner = axis == 0 ? w.dim(1) : 1;
  if (block == 0) {
    if (axis != n_axis || scale.rank() != 1 || scale.dim(0) != w.dim(axis)) return std::nullopt;
    l.qi.mode = 1;
    return l;
  }
  if (axis != k_axis || block % 8 != 0 || scale.rank() != 2) return std::nullopt;
  for (int64_t d = 0; d < 2; ++d)
    if (scale.dim(d) != (d == axis ? (w.dim(d) + block - 1) / block : w.dim(d)))
      return std::nullopt;
  l.qi.mode = 2;
  l.qi.scale_axis_len = scale.dim(axis);
  l.qi.block = block;
  l.block = block;
  return l;
}

PackedWeightOnly pack_weight_only(const ir::Node& node, const Tensor& w, const Tensor& scale,
                                  const Tensor* zp, const Tensor* bias, const WeightOnlyLayout& l) {
  const bool tb = node.attr_int("transB", 0) != 0;
  const float alpha = node.attr_float("alpha", 1.f), beta = node.attr_float("beta", 1.f);
  PackedWeightOnly p;
  p.bits = w.dtype() == DType::I4 || w.dtype() == DType::U4 ? 4 : 8;
  p.K = tb ? w.dim(1) : w.dim(0);
  p.N = tb ? w.dim(0) : w.dim(1);
  p.block = l.block;
  p.blocks = (p.K + p.block - 1) / p.block;
  p.K_pad = p.blocks * p.block;
  p.N_pad = round_up(p.N, kLanes);
  // Unsigned codes: q - q_min, zero points likewise.
  const int32_t q_min = w.dtype() == DType::I4 ? -8 : w.dtype() == DType::I8 ? -128 : 0;
  const std::vector<int32_t> wv = widen_to_i32(w);
  const std::vector<int32_t> zv = zp ? widen_to_i32(*zp) : std::vector<int32_t>();
  const float* sv = scale.data<float>();
  auto at = [&](int64_t k, int64_t n) { return tb ? n * p.K + k : k * p.N + n; };
  p.scale = AlignedArray<float>(p.blocks * p.N_pad);
  p.zp = AlignedArray<uint8_t>(p.blocks * p.N_pad);
  for (int64_t b = 0; b < p.blocks; ++b)
    for (int64_t n = 0; n < p.N_pad; ++n) {
      const bool in = n < p.N;
      const int64_t q = in ? l.qi(at(b * p.block, n)) : 0;
      p.scale[b * p.N_pad + n] = in ? sv[q] * alpha : 0.f;
      p.zp[b * p.N_pad + n] = static_cast<uint8_t>(in ? (zp ? zv[q] : 0) - q_min : 0);
    }
  if (bias) {
    p.bias = AlignedArray<float>(p.N_pad);
    for (int64_t n = 0; n < p.N_pad; ++n) p.bias[n] = n < p.N ? beta * column_f32(*bias, n) : 0.f;
  }
  auto code = [&](int64_t k, int64_t n) -> uint8_t {
    return k < p.K && n < p.N ? static_cast<uint8_t>(wv[at(k, n)] - q_min) : 0;
  };
  p.w = AlignedArray<uint8_t>(p.K_pad * p.N_pad * p.bits / 8);
  const int64_t step = p.bits == 4 ? 8 : 4;
  for (int64_t panel = 0; panel * kPanel < p.N_pad; ++panel) {
    const int64_t groups = std::min(kPanel, p.N_pad - panel * kPanel) / kLanes;
    uint8_t* dst = p.w.data() + panel * kPanel * p.K_pad * p.bits / 8;
    for (int64_t k0 = 0; k0 < p.K_pad; k0 += step)
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t c = 0; c < kLanes; ++c)
          for (int64_t j = 0; j < 4; ++j) {
            const int64_t n = panel * kPanel + g * kLanes + c;
            *dst++ = p.bits == 4
                         ? static_cast<uint8_t>(code(k0 + j, n) | (code(k0 + 4 + j, n) << 4))
                         : code(k0 + j, n);
          }
  }
  return p;
}

bool exact_weight_only_requested() {
  const char* e = std::getenv("CONDENSE_WEIGHT_ONLY_EXACT");
  return e && std::string_view(e) != "" && std::string_view(e) != "0";
}

}  // namespace

// Here, not in the AVX-512 file: it runs on every CPU.
bool lowbit::cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
}

Result<std::unique_ptr<Kernel>> make_lowbit_dynamic_int8(const KernelCreateCtx& ctx) {
  static const bool vnni = cpu_has_avx512_vnni();
  if (!vnni) return std::unique_ptr<Kernel>();
  const Tensor* w = constant_input(ctx, 1);
  const Tensor* zp = constant_input(ctx, 2);
  const Tensor* scale = constant_input(ctx, 3);
  const Tensor* bias = constant_input(ctx, 4);
  if (!w || !zp || !scale || (has_input(ctx, 4) && !bias)) return std::unique_ptr<Kernel>();
  if (w->rank() != 2 || (w->dtype() != DType::I8 && w->dtype() != DType::U8) ||
      zp->dtype() != w->dtype() || scale->dtype() != DType::F32 ||
      (bias && bias->dtype() != DType::F32))
    return std::unique_ptr<Kernel>();
  const int64_t n = w->dim(1);
  for (const Tensor* t : {zp, scale, bias})
    if (t && t->numel() != 1 && t->numel() != n) return std::unique_ptr<Kernel>();
  // Signed (K, N) copy for oneDNN: uint8 codes shifted by -128 like the packed ones.
  Tensor w_signed = Tensor::empty(DType::I8, w->shape());
  for (int64_t i = 0; i < w->numel(); ++i)
    w_signed.data<int8_t>()[i] =
        w->dtype() == DType::U8
            ? static_cast<int8_t>(static_cast<int32_t>(w->data<uint8_t>()[i]) - 128)
            : w->data<int8_t>()[i];
  return std::unique_ptr<Kernel>(std::make_unique<DynamicInt8MatMul>(
      pack_dynamic(*w, *zp, *scale, bias), std::move(w_signed), ctx.node));
}

Result<std::unique_ptr<Kernel>> make_lowbit_weight_only(const KernelCreateCtx& ctx) {
  static const bool vnni = cpu_has_avx512_vnni();
  if (!vnni) return std::unique_ptr<Kernel>();
  const Tensor* w = constant_input(ctx, 1);
  const Tensor* scale = constant_input(ctx, 2);
  const Tensor* zp = constant_input(ctx, 3);
  const Tensor* bias = constant_input(ctx, 4);
  if (!w || !scale || (has_input(ctx, 3) && !zp) || (has_input(ctx, 4) && !bias))
    return std::unique_ptr<Kernel>();
  const DType wt = w->dtype();
  if (w->rank() != 2 || (wt != DType::I4 && wt != DType::U4 && wt != DType::I8 && wt != DType::U8))
    return std::unique_ptr<Kernel>();
  if (scale->dtype() != DType::F32 || (zp && (zp->dtype() != wt || zp->numel() != scale->numel())))
    return std::unique_ptr<Kernel>();
  const bool tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t n = tb ? w->dim(0) : w->dim(1);
  if (bias && (bias->dtype() != DType::F32 || (bias->numel() != 1 && bias->numel() != n)))
    return std::unique_ptr<Kernel>();
  auto layout = weight_only_layout(ctx.node, *w, *scale, tb);
  const std::optional<FusedActivation> act = fused_activation(ctx.node);
  if (!layout || !act) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<WeightOnlyMatMulKernel>(
      pack_weight_only(ctx.node, *w, *scale, zp, bias, *layout), exact_weight_only_requested(),
      *act));
}

}  // namespace condense
