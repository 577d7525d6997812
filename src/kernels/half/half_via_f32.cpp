// Half-precision nodes run by their f32 kernels: the fast-kernel factory make_half_on_f32
// (kernels/fast_kernels.inc lists the ops: elementwise ones, Softmax, LayerNormalization), whose
// reference loops on half storage would convert element by element in software. Constant inputs
// are widened once at create, the others per run with AVX-512 (half_convert.h); the f32 kernel
// runs on the widened copies and each output is rounded once to the half type: the reference
// kernels' arithmetic (float on half storage). Layouts are the f32 kernel's: an elementwise
// reference kernel handles blocked (channels-last) inputs of one shape as it does f32 ones.
#include <fmt/format.h>

#include "kernels/half/half_convert.h"
#include "kernels/kernel.h"

namespace condense {

namespace {

bool is_half(DType d) {
  return d == DType::F16 || d == DType::BF16;
}

class HalfViaF32 final : public Kernel {
 public:
  HalfViaF32(DType half, std::unique_ptr<Kernel> inner, std::vector<Tensor> constants)
      : half_(half),
        inner_(std::move(inner)),
        constants_(std::move(constants)),
        name_(fmt::format("{}_via_{}", half == DType::F16 ? "f16" : "bf16", inner_->name())) {}

  std::string_view name() const override { return name_; }
  bool may_accept_blocked(size_t input) const override { return inner_->may_accept_blocked(input); }
  bool may_produce_blocked(size_t output) const override {
    return inner_->may_produce_blocked(output);
  }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return inner_->required_layout(ctx, input);
  }

  Status run(KernelCtx& ctx) override {
    const size_t nin = ctx.inputs.size(), nout = ctx.outputs.size();
    bool ok = true;
    for (size_t i = 0; i < nin; ++i) ok &= !ctx.has_input(i) || ctx.in(i).dtype() == half_;
    for (size_t o = 0; o < nout; ++o) ok &= !ctx.out(o).defined() || ctx.out(o).dtype() == half_;
    if (!ok) {  // another dtype than declared: the reference kernel (layout-transparent, as inner_)
      CONDENSE_TRY(ref_kernel_fn(ctx.node.op)(ctx));
      if (ctx.in_layout(0) == Layout::Blocked) ctx.set_out_layout(0, Layout::Blocked);
      return Status::ok();
    }
    in_.resize(nin);
    ptrs_.assign(nin, nullptr);
    for (size_t i = 0; i < nin; ++i) {
      if (!ctx.has_input(i)) continue;
      if (i < constants_.size() && constants_[i].defined()) {
        ptrs_[i] = &constants_[i];
        continue;
      }
      reuse(in_[i], ctx.in(i).shape());
      widen(ctx.in(i), in_[i]);
      ptrs_[i] = &in_[i];
    }
    out_.resize(nout);
    for (size_t o = 0; o < nout; ++o) {
      if (ctx.out(o).defined())
        reuse(out_[o], ctx.out(o).shape());
      else
        out_[o] = Tensor();
    }
    KernelCtx sub{ctx.node,        ptrs_,           out_, ctx.threads, ctx.in_layouts,
                  ctx.out_layouts, ctx.want_blocked};
    CONDENSE_TRY(inner_->run(sub));
    for (size_t o = 0; o < nout; ++o)
      if (out_[o].defined()) f32_to_half_tensor(out_[o], ctx.out(o));
    return Status::ok();
  }

 private:
  static void reuse(Tensor& t, const Shape& shape) {
    if (!t.defined() || t.shape() != shape) t = Tensor::empty(DType::F32, shape);
  }
  void widen(const Tensor& h, Tensor& f) const {
    const auto* bits = static_cast<const uint16_t*>(h.raw());
    if (half_ == DType::F16)
      f16_to_f32(bits, f.data<float>(), h.numel());
    else
      bf16_to_f32(bits, f.data<float>(), h.numel());
  }

  DType half_;
  std::unique_ptr<Kernel> inner_;
  std::vector<Tensor> constants_;  // per input slot: the constant widened to f32, or undefined
  std::string name_;
  // Scratch kept between runs (a model sees one or two shapes).
  std::vector<Tensor> in_, out_;
  std::vector<const Tensor*> ptrs_;
};

}  // namespace

// For a node whose float inputs are all fp16 or all bf16: the best f32 kernel for it (reference
// included) wrapped; nullptr for other nodes.
Result<std::unique_ptr<Kernel>> make_half_on_f32(const KernelCreateCtx& ctx) {
  // The half type: every present input's declared dtype (the infer_dtypes pass sets them).
  std::optional<DType> half;
  for (size_t i = 0; i < ctx.input_dtypes.size(); ++i) {
    if (!ctx.node.input(i)) continue;
    const DType d = ctx.constant_inputs[i] ? ctx.constant_inputs[i]->dtype() : ctx.input_dtypes[i];
    if (!is_half(d) || (half && *half != d)) return std::unique_ptr<Kernel>();
    half = d;
  }
  if (!half) return std::unique_ptr<Kernel>();
  std::vector<Tensor> constants(ctx.constant_inputs.size());
  KernelCreateCtx f32_ctx{ctx.node, {}, {}, ctx.threads};
  for (size_t i = 0; i < ctx.constant_inputs.size(); ++i) {
    if (ctx.constant_inputs[i]) constants[i] = half_to_f32_tensor(*ctx.constant_inputs[i]);
    f32_ctx.constant_inputs.push_back(constants[i].defined() ? &constants[i] : nullptr);
    f32_ctx.input_dtypes.push_back(DType::F32);
  }
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> inner, create_kernel(f32_ctx));
  return std::unique_ptr<Kernel>(
      std::make_unique<HalfViaF32>(*half, std::move(inner), std::move(constants)));
}

}  // namespace condense
