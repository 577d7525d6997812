// oneDNN Conv / ConvTranspose, 1-D to 3-D, groups (depthwise included), constant weights and
// bias, fused bias and activation (post-ops). x and y are plain (N, C, D...) or channel-blocked as
// the runtime asks (kernels/layout.h); the weights are reordered once into the layout the
// primitive asks for (format_tag::any).
//
// dtypes: x, w, (b) and y all f32, all bf16 or all fp16 (dnnl_common.h, DnnlSrcDstKernel).
//   f32:  f32 primitive.
//   bf16: bf16 primitive (AVX512-BF16 / AMX): bf16 products accumulated in f32, y rounded once;
//         x and y plain or channels-last.
//   fp16: f32 primitive between condense's conversions; the weights widened once at create.
//   The bias is f32 for all three.
#include <unordered_map>

#include "kernels/dnnl/dnnl_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

class DnnlConv final : public DnnlSrcDstKernel {
 public:
  DnnlConv(const ir::Node& node, Tensor w, std::optional<Tensor> b, bool transpose,
           FusedActivation act)
      : DnnlSrcDstKernel(node.op, w.dtype()),
        w_(w.dtype() == DType::F16 ? half_to_f32_tensor(w) : std::move(w)),
        b_(b ? std::optional<Tensor>(to_f32(*b)) : std::nullopt),
        transpose_(transpose),
        act_(act),
        group_(node.attr_int("group", 1)) {}

  std::string_view name() const override {
    switch (io_) {
      case DType::BF16:
        return transpose_ ? "dnnl_deconv_bf16" : "dnnl_conv_bf16";
      case DType::F16:  // fp16 storage, f32 arithmetic
        return transpose_ ? "dnnl_deconv_f16_f32" : "dnnl_conv_f16_f32";
      default:
        return transpose_ ? "dnnl_deconv_f32" : "dnnl_conv_f32";
    }
  }

 private:
  // Plain weights desc in oneDNN's dim order. Conv: (G, M/G, C/G, k...) or (M, C, k...), which
  // is ONNX's (M, C/G, k...) as is. Deconv: oneDNN wants (G, OC/G, IC/G, k...) while ONNX stores
  // (C, M/G, k...) = (G, IC/G, OC/G, k...): same bytes, strides swapped.
  memory::desc plain_weights() const {
    const Shape& ws = w_.shape();
    const int64_t K = shape_numel(std::span<const int64_t>(ws).subspan(2));
    memory::dims kdims(ws.begin() + 2, ws.end()), kstrides(kdims.size(), 1);
    for (size_t i = kdims.size(); i-- > 1;) kstrides[i - 1] = kstrides[i] * kdims[i];
    memory::dims dims, strides;
    if (!transpose_) {
      const int64_t Mg = ws[0] / group_, Cg = ws[1];
      if (group_ > 1)
        dims = {group_, Mg, Cg}, strides = {Mg * Cg * K, Cg * K, K};
      else
        dims = {ws[0], Cg}, strides = {Cg * K, K};
    } else {
      const int64_t Cg = ws[0] / group_, Mg = ws[1];
      if (group_ > 1)
        dims = {group_, Mg, Cg}, strides = {Cg * Mg * K, K, Mg * K};
      else
        dims = {Mg, Cg}, strides = {K, Mg * K};
    }
    dims.insert(dims.end(), kdims.begin(), kdims.end());
    strides.insert(strides.end(), kstrides.begin(), kstrides.end());
    return memory::desc(dims, float_dnnl_type(w_.dtype()), strides);
  }

  // The weights in the layout `want`, reordered once per distinct layout.
  memory packed_weights(const memory::desc& want) {
    for (auto& [d, m] : packed_)
      if (d == want) return m;
    memory::desc src_md = plain_weights();
    memory src(src_md, cpu_engine(), const_cast<void*>(w_.raw()));
    memory dst(want, cpu_engine());
    dnnl::reorder(src, dst).execute(cpu_stream(), src, dst);
    cpu_stream().wait();
    packed_.emplace_back(want, dst);
    return dst;
  }

  Status build(const ir::Node& node, const Shape& xs, Layout in, Layout out, Entry& e) override {
    const std::span<const int64_t> kernel = std::span<const int64_t>(w_.shape()).subspan(2);
    auto g = transpose_ ? conv_transpose_geometry(node, xs, kernel)
                        : window_geometry(node, xs, kernel, false);
    if (!g) return Status::errorf("node {}: {}", node.describe(), g.status().message());
    const int64_t M = transpose_ ? w_.dim(1) * group_ : w_.dim(0);
    Shape ys = {xs[0], M};
    ys.insert(ys.end(), g->out.begin(), g->out.end());
    memory::dims strides = to_dims(g->strides), dil(g->rank), pl = to_dims(g->pad_begin),
                 pr = to_dims(g->pad_end);
    for (int64_t i = 0; i < g->rank; ++i) dil[i] = g->dilations[i] - 1;
    if (transpose_) {
      // oneDNN's deconv output is (in - 1) * s + extent - pl - pr: output_padding shrinks pr.
      const Shape op = node.attr_ints("output_padding", Shape(g->rank, 0));
      for (int64_t i = 0; i < g->rank; ++i) {
        pr[i] = (xs[2 + i] - 1) * g->strides[i] + (g->kernel[i] - 1) * g->dilations[i] + 1 - pl[i] -
                ys[2 + i];
      }
    }
    for (int64_t i = 0; i < g->rank; ++i)
      if (pl[i] < 0 || pr[i] < 0) return Status::ok();  // unsupported: the reference runs
    if (shape_numel(xs) == 0) return Status::ok();
    // Plain activations: let oneDNN pick the layouts. Its direct (fast) kernels read and write
    // channel-blocked data, padding the channels to the block where needed; a plain input is
    // reordered into that and the result back out, which costs far less than a convolution on
    // plain layouts (im2col + gemm). Blocked activations are used as they are.
    const memory::desc given_src = io_desc(to_dims(xs), in), given_dst = io_desc(to_dims(ys), out);
    const memory::data_type compute = compute_type();
    auto any_if_plain = [compute](const memory::desc& d, Layout l, const Shape& s) {
      return l == Layout::Plain ? memory::desc(to_dims(s), compute, memory::format_tag::any) : d;
    };
    const memory::desc src_md = any_if_plain(given_src, in, xs);
    const memory::desc dst_md = any_if_plain(given_dst, out, ys);
    memory::dims wdims = plain_weights().dims();
    const memory::desc w_any(wdims, compute, memory::format_tag::any);
    const memory::desc b_md =
        b_ ? memory::desc({M}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    memory::desc w_md;
    if (!transpose_) {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, src_md, w_any, b_md,
                                        dst_md, strides, dil, pl, pr);
      dnnl::convolution_forward::primitive_desc pd(d, attr, cpu_engine());
      if (io_ != DType::F32 && is_dnnl_reference(pd)) return Status::ok();
      e.prim = dnnl::convolution_forward(pd);
      w_md = pd.weights_desc();
      bind_src(e, given_src, pd.src_desc());
      bind_dst(e, given_dst, pd.dst_desc());
    } else {
      dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::deconvolution_direct, src_md, w_any,
                                          b_md, dst_md, strides, dil, pl, pr);
      dnnl::deconvolution_forward::primitive_desc pd(d, attr, cpu_engine());
      if (io_ != DType::F32 && is_dnnl_reference(pd)) return Status::ok();
      e.prim = dnnl::deconvolution_forward(pd);
      w_md = pd.weights_desc();
      bind_src(e, given_src, pd.src_desc());
      bind_dst(e, given_dst, pd.dst_desc());
    }
    e.args = {
        {DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, packed_weights(w_md)}, {DNNL_ARG_DST, e.dst}};
    if (b_) e.args[DNNL_ARG_BIAS] = memory(b_md, cpu_engine(), const_cast<void*>(b_->raw()));
    e.supported = true;
    return Status::ok();
  }

  // The bias in f32 (a copy only when it is half).
  static Tensor to_f32(const Tensor& b) {
    return b.dtype() == DType::F32 ? b : half_to_f32_tensor(b);
  }

  Tensor w_;                 // f32 (fp16 weights widened) or bf16
  std::optional<Tensor> b_;  // f32
  bool transpose_;
  FusedActivation act_;
  int64_t group_;
  std::vector<std::pair<memory::desc, memory>> packed_;
};

Result<std::unique_ptr<Kernel>> make_conv(const KernelCreateCtx& ctx, bool transpose) {
  const ir::Node& n = ctx.node;
  if (ctx.constant_inputs.size() < 2 || !ctx.constant_inputs[1]) return std::unique_ptr<Kernel>();
  const Tensor& w = *ctx.constant_inputs[1];
  // x's declared dtype may be unknown (F32 by default): the weights decide, and each run checks x.
  const DType io = w.dtype();
  if (io != DType::F32 && io != DType::F16 && io != DType::BF16) return std::unique_ptr<Kernel>();
  if (io == DType::BF16 && !dnnl_avx512_core()) return std::unique_ptr<Kernel>();
  if (io == DType::F32 && !all_f32(ctx)) return std::unique_ptr<Kernel>();
  if (w.rank() < 3 || w.rank() > 5) return std::unique_ptr<Kernel>();
  std::optional<Tensor> b;
  if (n.input(2)) {
    if (!ctx.constant_inputs[2] || ctx.constant_inputs[2]->dtype() != io)
      return std::unique_ptr<Kernel>();
    b = *ctx.constant_inputs[2];
  }
  auto act = fused_activation(n);
  if (!act || !activation_supported(*act)) return std::unique_ptr<Kernel>();
  const int64_t group = n.attr_int("group", 1);
  if (group < 1 || w.dim(0) % group != 0) return std::unique_ptr<Kernel>();  // infer reports it
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConv>(n, w, b, transpose, *act));
}
}  // namespace

Result<std::unique_ptr<Kernel>> make_dnnl_conv(const KernelCreateCtx& ctx) {
  return make_conv(ctx, false);
}
Result<std::unique_ptr<Kernel>> make_dnnl_conv_transpose(const KernelCreateCtx& ctx) {
  return make_conv(ctx, true);
}

}  // namespace condense
