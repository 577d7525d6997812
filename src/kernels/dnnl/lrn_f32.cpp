// oneDNN LRN (across channels), f32. x and y stay plain (N, C, D...); LRN sees only the channel
// and "the rest", so x is handed to oneDNN as (N, C, S, 1) nchw with S = prod(D...): the same
// bytes, for any rank.
//
// ONNX: y = x / (bias + alpha / size * sum of x^2 over the channel window) ^ beta, window
// [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to [0, C). oneDNN's
// lrn_across_channels: y = x * (k + alpha / size * sum) ^ -beta over [c - (size - 1) / 2,
// c + (size - 1) / 2]: the same formula (alpha is divided by size in both) and, for odd sizes,
// the same window. Even sizes (asymmetric in ONNX) are left to the reference kernel.
//
// oneDNN 2.6 has a JIT kernel only for some configurations (size 5, beta 0.75, enough
// channels); for the others it picks its reference implementation, and those shapes run on
// condense's reference kernel instead (same speed, double accumulation).
#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

class DnnlLrnF32 final : public DnnlSrcDstKernel {
 public:
  explicit DnnlLrnF32(const ir::Node& node)
      : DnnlSrcDstKernel(node.op),
        size_(node.attr_int("size", 1)),
        alpha_(node.attr_float("alpha", 1e-4f)),
        beta_(node.attr_float("beta", 0.75f)),
        bias_(node.attr_float("bias", 1.0f)) {}
  std::string_view name() const override { return "dnnl_lrn_f32"; }

 private:
  // The output keeps the input's layout (a blocked input has a blockable shape).
  Layout output_layout(const Shape&, const Shape&, Layout in, bool) const override { return in; }

  Status build(const ir::Node&, const Shape& xs, Layout in, Layout, Entry& e) override {
    if (xs.size() < 3 || shape_numel(xs) == 0) return Status::ok();
    // Plain: any rank as (N, C, S, 1) with S the spatial size. Blocked: ranks 3-5 as they are.
    const int64_t S = shape_numel(std::span<const int64_t>(xs).subspan(2));
    const memory::desc x_md =
        in == Layout::Blocked ? f32_desc(to_dims(xs), in) : plain_f32({xs[0], xs[1], S, 1});
    dnnl::lrn_forward::desc d(dnnl::prop_kind::forward_inference,
                              dnnl::algorithm::lrn_across_channels, x_md, size_, alpha_, beta_,
                              bias_);
    dnnl::lrn_forward::primitive_desc pd(d, cpu_engine());
    if (is_dnnl_reference(pd)) return Status::ok();
    e.prim = dnnl::lrn_forward(pd);
    e.src = memory(x_md, cpu_engine(), nullptr);
    e.dst = memory(x_md, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}};
    e.supported = true;
    return Status::ok();
  }

  int64_t size_;
  float alpha_, beta_, bias_;
};
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_lrn_f32(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  const int64_t size = n.attr_int("size", 0);
  if (!all_f32(ctx) || size < 1 || size % 2 == 0) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlLrnF32>(n));
}

}  // namespace condense
