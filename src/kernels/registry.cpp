#include "kernels/kernel.h"

namespace condense {

#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) Status ref_##name(KernelCtx&);
#include <condense/ops/all.inc>
#undef CONDENSE_OP

// Fast kernel factories, one catalog line each: CONDENSE_FAST_KERNEL(Op, factory). Declared
// outside the anonymous namespace: they are defined in the backend files.
#define CONDENSE_FAST_KERNEL(op, factory) \
  Result<std::unique_ptr<Kernel>> factory(const KernelCreateCtx&);
#include "kernels/fast_kernels.inc"
#undef CONDENSE_FAST_KERNEL

namespace {
constexpr RefKernelFn kRef[] = {
#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) &ref_##name,
#include <condense/ops/all.inc>
#undef CONDENSE_OP
};
static_assert(sizeof(kRef) / sizeof(kRef[0]) == kOpCount);

// How a reference kernel treats blocked activations (kernels/layout.h). Elementwise ops whose
// output element i depends only on element i of equally shaped inputs compute the same thing on
// any element order, so they run on blocked data as is and their output keeps the layout.
// Identity passes its input through. Shape and Size read no data at all.
// QuantPerTensor: FakeQuantize / FakeQuantizeGrad, elementwise on their data inputs (X; dY and
// X) when one scale covers the whole tensor; per-axis and blocked scales index by position.
enum class Transparency { None, Unary, SameShape, ShapeOnly, QuantPerTensor };

Transparency transparency(OpKind op) {
  switch (op) {
    // Float in, float out, one tensor input (Clip's bounds are scalars, never blocked).
    case OpKind::Abs:
    case OpKind::Neg:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Reciprocal:
    case OpKind::Floor:
    case OpKind::Ceil:
    case OpKind::Round:
    case OpKind::Erf:
    case OpKind::Relu:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSigmoid:
    case OpKind::HardSwish:
    case OpKind::Tanh:
    case OpKind::Elu:
    case OpKind::Selu:
    case OpKind::Celu:
    case OpKind::Softplus:
    case OpKind::Softsign:
    case OpKind::ThresholdedRelu:
    case OpKind::Mish:
    case OpKind::Gelu:
    case OpKind::Swish:
    case OpKind::Shrink:
    case OpKind::Clip:
    case OpKind::Identity:
      return Transparency::Unary;
    // Float in, float out, inputs of one shape (checked per run: broadcasting is not).
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::ActivationGrad:  // (dY + dY2) * f'(T), all of T's shape when blocked
      return Transparency::SameShape;
    case OpKind::Shape:
    case OpKind::Size:
      return Transparency::ShapeOnly;
    case OpKind::FakeQuantize:
    case OpKind::FakeQuantizeGrad:
      return Transparency::QuantPerTensor;
    default:
      return Transparency::None;
  }
}

// Reference kernels that write output element i from input elements i only, in one pass, so the
// output may take the buffer of an input of its shape (binary_map and unary_map loops, and
// ActivationGrad's, read element i before writing it).
bool in_place_safe(OpKind op) {
  switch (op) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Relu:
    case OpKind::ActivationGrad:
      return true;
    default:
      return false;
  }
}

class RefKernel final : public Kernel {
 public:
  RefKernel(RefKernelFn fn, OpKind op)
      : fn_(fn), transparency_(transparency(op)), in_place_(in_place_safe(op)), op_(op) {}
  std::string_view name() const override { return "ref"; }

  Status run(KernelCtx& ctx) override {
    CONDENSE_TRY(fn_(ctx));
    // Inputs reach a transparent kernel blocked only as required_layout() asked.
    if ((transparency_ == Transparency::Unary || transparency_ == Transparency::SameShape ||
         transparency_ == Transparency::QuantPerTensor) &&
        ctx.in_layout(0) == Layout::Blocked)
      ctx.set_out_layout(0, Layout::Blocked);
    return Status::ok();
  }

  bool may_write_in_place(size_t) const override { return in_place_; }

  bool may_accept_blocked(size_t input) const override {
    if (transparency_ == Transparency::QuantPerTensor) return input <= data_inputs_last();
    return transparency_ == Transparency::SameShape ||
           (transparency_ != Transparency::None && input == 0);
  }
  // Unary: the input as it comes. Same-shape: all blocked when any is and every input has the
  // same blockable shape (the plain ones get converted), else all plain.
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    if (transparency_ == Transparency::Unary || transparency_ == Transparency::ShapeOnly)
      return input == 0 ? ctx.in_layout(0) : Layout::Plain;
    if (transparency_ == Transparency::None) return Layout::Plain;
    if (transparency_ == Transparency::QuantPerTensor) {
      // The data inputs (X; or dY and X) together, blocked when any of them is, one scale of one
      // element and no block_size; everything else plain.
      const size_t last = data_inputs_last();
      if (input > last || ctx.in(last + 1).numel() != 1 || ctx.node.attr_int("block_size", 0) != 0)
        return Layout::Plain;
      for (size_t i = 0; i <= last; ++i)
        if (ctx.in(i).shape() != ctx.in(0).shape() ||
            !blockable(ctx.in(i).dtype(), ctx.in(i).shape()))
          return Layout::Plain;
      for (size_t i = 0; i <= last; ++i)
        if (ctx.in_layout(i) == Layout::Blocked) return Layout::Blocked;
      return Layout::Plain;
    }
    const Tensor& first = ctx.in(0);
    if (!blockable(first.dtype(), first.shape())) return Layout::Plain;
    for (size_t i = 0; i < ctx.inputs.size(); ++i)
      if (!ctx.has_input(i) || ctx.in(i).shape() != first.shape() ||
          ctx.in(i).dtype() != first.dtype())
        return Layout::Plain;
    return Layout::Blocked;
  }

 private:
  // QuantPerTensor: the last data input (0 for FakeQuantize; 1, X, for FakeQuantizeGrad).
  size_t data_inputs_last() const { return op_ == OpKind::FakeQuantizeGrad ? 1 : 0; }

  RefKernelFn fn_;
  Transparency transparency_;
  bool in_place_;
  OpKind op_;
};

struct FastEntry {
  OpKind op;
  KernelFactory factory;
};
const FastEntry kFast[] = {
#define CONDENSE_FAST_KERNEL(op, factory) {OpKind::op, &factory},
#include "kernels/fast_kernels.inc"
#undef CONDENSE_FAST_KERNEL
    {OpKind::Count_, nullptr},
};
}  // namespace

RefKernelFn ref_kernel_fn(OpKind op) {
  return kRef[static_cast<int>(op)];
}

Result<std::unique_ptr<Kernel>> create_kernel(const KernelCreateCtx& ctx, bool allow_fast) {
  if (allow_fast) {
    for (const FastEntry& e : kFast) {
      if (e.op != ctx.node.op || !e.factory) continue;
      CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, e.factory(ctx));
      if (k) return k;
    }
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<RefKernel>(ref_kernel_fn(ctx.node.op), ctx.node.op));
}

}  // namespace condense
