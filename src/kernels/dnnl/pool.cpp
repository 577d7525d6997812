// oneDNN pooling: MaxPool (without the Indices output), AveragePool, GlobalAveragePool.
// (N, C, D...) in and out, plain or channel-blocked (the output follows the input). ceil_mode
// windows become extra right padding; AveragePool with count_include_pad over such a window would
// count it, so that case runs the reference.
// dtypes: f32, bf16 (averages accumulate in f32) and fp16 (f32 primitive between conversions;
// dnnl_common.h, DnnlSrcDstKernel).
#include <unordered_map>

#include "kernels/dnnl/dnnl_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

class DnnlPool final : public DnnlSrcDstKernel {
 public:
  DnnlPool(const ir::Node& node, DType io) : DnnlSrcDstKernel(node.op, io), op_(node.op) {}
  std::string_view name() const override {
    switch (io_) {
      case DType::BF16:
        return "dnnl_pool_bf16";
      case DType::F16:  // fp16 storage, f32 arithmetic
        return "dnnl_pool_f16_f32";
      default:
        return "dnnl_pool_f32";
    }
  }

 private:
  Layout output_layout(const Shape&, const Shape&, Layout in, bool) const override { return in; }

  Status build(const ir::Node& node, const Shape& xs, Layout in, Layout, Entry& e) override {
    if (xs.size() < 3 || xs.size() > 5 || shape_numel(xs) == 0) return Status::ok();
    WindowGeom g;
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (op_ == OpKind::GlobalAveragePool) {
      g.rank = static_cast<int64_t>(xs.size()) - 2;
      g.in.assign(xs.begin() + 2, xs.end());
      g.kernel = g.in;
      g.out.assign(g.rank, 1);
      g.strides = g.dilations = Shape(g.rank, 1);
      g.pad_begin = g.pad_end = Shape(g.rank, 0);
      alg = dnnl::algorithm::pooling_avg_exclude_padding;
    } else {
      const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
      auto r = window_geometry(node, xs, node.attr_ints("kernel_shape"), ceil_mode);
      if (!r) return Status::errorf("node {}: {}", node.describe(), r.status().message());
      g = *r;
      if (op_ == OpKind::AveragePool)
        alg = node.attr_int("count_include_pad", 0) != 0
                  ? dnnl::algorithm::pooling_avg_include_padding
                  : dnnl::algorithm::pooling_avg_exclude_padding;
    }
    memory::dims pr(g.rank), dil(g.rank);
    for (int64_t i = 0; i < g.rank; ++i) {
      const int64_t extent = (g.kernel[i] - 1) * g.dilations[i] + 1;
      pr[i] = (g.out[i] - 1) * g.strides[i] + extent - g.in[i] - g.pad_begin[i];
      dil[i] = g.dilations[i] - 1;
      if (pr[i] < 0) pr[i] = 0;  // trailing inputs no window reaches
      if (pr[i] != g.pad_end[i] && alg == dnnl::algorithm::pooling_avg_include_padding)
        return Status::ok();
      // oneDNN requires every window to overlap the input.
      if (g.pad_begin[i] >= extent || pr[i] >= extent) return Status::ok();
    }
    Shape ys = {xs[0], xs[1]};
    ys.insert(ys.end(), g.out.begin(), g.out.end());
    const memory::desc src_md = io_desc(to_dims(xs), in), dst_md = io_desc(to_dims(ys), in);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src_md, dst_md,
                                     to_dims(g.strides), to_dims(g.kernel), dil,
                                     to_dims(g.pad_begin), pr);
    dnnl::pooling_v2_forward::primitive_desc pd(d, cpu_engine());
    if (io_ != DType::F32 && is_dnnl_reference(pd)) return Status::ok();
    e.prim = dnnl::pooling_v2_forward(pd);
    e.src = memory(src_md, cpu_engine(), nullptr);
    e.dst = memory(dst_md, cpu_engine(), nullptr);
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}};
    e.supported = true;
    return Status::ok();
  }

  OpKind op_;
};
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_pool(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  // A half model declares x's dtype (the converter writes it); otherwise it is f32.
  const DType io = ctx.input_dtypes.empty() ? DType::F32 : ctx.input_dtypes[0];
  if (io != DType::F32 && io != DType::F16 && io != DType::BF16) return std::unique_ptr<Kernel>();
  if (io == DType::BF16 && !dnnl_avx512_core()) return std::unique_ptr<Kernel>();
  // MaxPool's Indices output is not oneDNN's workspace: reference.
  if (n.op == OpKind::MaxPool && n.output(1)) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<DnnlPool>(n, io));
}

}  // namespace condense
