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

class RefKernel final : public Kernel {
 public:
  explicit RefKernel(RefKernelFn fn) : fn_(fn) {}
  std::string_view name() const override { return "ref"; }
  Status run(KernelCtx& ctx) override { return fn_(ctx); }

 private:
  RefKernelFn fn_;
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

RefKernelFn ref_kernel_fn(OpKind op) { return kRef[static_cast<int>(op)]; }

Result<std::unique_ptr<Kernel>> create_kernel(const KernelCreateCtx& ctx, bool allow_fast) {
  if (allow_fast) {
    for (const FastEntry& e : kFast) {
      if (e.op != ctx.node.op || !e.factory) continue;
      CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, e.factory(ctx));
      if (k) return k;
    }
  }
  return std::unique_ptr<Kernel>(std::make_unique<RefKernel>(ref_kernel_fn(ctx.node.op)));
}

}  // namespace condense
