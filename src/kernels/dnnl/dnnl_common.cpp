#include "kernels/dnnl/dnnl_common.h"

namespace condense::dnnl_internal {

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

bool activation_supported(const FusedActivation& act) {
  dnnl::post_ops ops;
  return append_activation(ops, act);
}

bool append_activation(dnnl::post_ops& ops, const FusedActivation& act) {
  using A = dnnl::algorithm;
  switch (act.kind) {
    case FusedAct::None:
      return true;
    case FusedAct::Relu:
      ops.append_eltwise(1.f, A::eltwise_relu, 0.f, 0.f);
      return true;
    case FusedAct::LeakyRelu:
      ops.append_eltwise(1.f, A::eltwise_relu, act.alpha, 0.f);
      return true;
    case FusedAct::Clip:
      ops.append_eltwise(1.f, A::eltwise_clip_v2, act.alpha, act.beta);
      return true;
    case FusedAct::Sigmoid:
      ops.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f);
      return true;
    case FusedAct::Tanh:
      ops.append_eltwise(1.f, A::eltwise_tanh, 0.f, 0.f);
      return true;
    case FusedAct::HardSigmoid:  // clip(alpha * x + beta, 0, 1)
      ops.append_eltwise(1.f, A::eltwise_linear, act.alpha, act.beta);
      ops.append_eltwise(1.f, A::eltwise_clip_v2, 0.f, 1.f);
      return true;
    case FusedAct::Gelu:
      ops.append_eltwise(1.f, A::eltwise_gelu_erf, 0.f, 0.f);
      return true;
    case FusedAct::GeluTanh:
      ops.append_eltwise(1.f, A::eltwise_gelu_tanh, 0.f, 0.f);
      return true;
  }
  return false;
}

dnnl::memory::dims to_dims(std::span<const int64_t> s) {
  return dnnl::memory::dims(s.begin(), s.end());
}

dnnl::memory::data_type float_dnnl_type(DType dtype) {
  switch (dtype) {
    case DType::F16:
      return dnnl::memory::data_type::f16;
    case DType::BF16:
      return dnnl::memory::data_type::bf16;
    default:
      CONDENSE_CHECK_MSG(dtype == DType::F32, "float_dnnl_type: not a float type oneDNN takes");
      return dnnl::memory::data_type::f32;
  }
}

dnnl::memory::desc plain_f32(const dnnl::memory::dims& dims) {
  // Row-major strides: works for any rank without naming a format tag.
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;)
    strides[i - 1] = strides[i] * std::max<int64_t>(dims[i], 1);
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

bool dnnl_avx512_core() {
  static const bool yes = [] {
    // cpu_isa values are bit masks that grow with the ISA; avx512_core includes everything below.
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & avx512) == avx512;
  }();
  return yes;
}

bool all_f32(const KernelCreateCtx& ctx) {
  for (size_t i = 0; i < ctx.input_dtypes.size(); ++i)
    if (ctx.node.input(i) && ctx.input_dtypes[i] != DType::F32) return false;
  return true;
}

Status run_plain(KernelCtx& ctx, RefKernelFn fn) {
  bool any_blocked = false;
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    any_blocked |= ctx.has_input(i) && ctx.in_layout(i) == Layout::Blocked;
  if (!any_blocked) return fn(ctx);
  std::vector<Tensor> plain(ctx.inputs.size());
  std::vector<const Tensor*> inputs(ctx.inputs.begin(), ctx.inputs.end());
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i) || ctx.in_layout(i) != Layout::Blocked) continue;
    plain[i] = Tensor::empty(ctx.in(i).dtype(), ctx.in(i).shape());
    CONDENSE_TRY(blocked_to_plain(ctx.in(i), plain[i]));
    inputs[i] = &plain[i];
  }
  KernelCtx sub{ctx.node, inputs, ctx.outputs, ctx.threads};
  return fn(sub);
}

bool is_dnnl_reference(const dnnl::primitive_desc& pd) {
  return std::string_view(pd.impl_info_str()).find("ref") != std::string_view::npos;
}

}  // namespace condense::dnnl_internal
