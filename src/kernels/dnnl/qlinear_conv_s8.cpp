// oneDNN QLinearConv: u8 or s8 activations, s8 weights (zero point 0) with one scale per tensor
// or per output channel, int32 bias, 1-D to 3-D, groups. Requantization is fused into the
// primitive: output scales x_scale * w_scale[m] / y_scale (computed in f32 as the reference
// kernel does), runtime source and destination zero points (oneDNN compensates the source zero
// point at padded borders, where ONNX pads with x_zero_point, i.e. real 0), round half to even and
// saturation on store; a Relu fused by the QDQ lowering is an eltwise post-op. oneDNN adds the bias
// to the int32 accumulator in f32 before scaling, so results equal the reference kernel's except
// where the f32 product (the reference multiplies in double) lands on the other side of a rounding
// tie: at most one quantization step.
//
// Layouts: x and y are plain (N, C, D...) or channels-last (N, D..., C), the blocked form of 8-bit
// activations (kernels/layout.h), which the VNNI / AMX int8 kernels read and write directly, so
// a chain of QLinearConv / QLinearAdd never reorders. Weights are reordered once into the layout
// the primitive asks for (with its s8 compensation).
#include <cstring>

#include "kernels/dnnl/dnnl_common.h"
#include "ops/nn_geometry.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

memory::data_type int8_type(DType t) {
  if (t == DType::I32) return memory::data_type::s32;
  return t == DType::U8 ? memory::data_type::u8 : memory::data_type::s8;
}

// Plain row-major s32 desc (ConvInteger's output).
memory::desc plain_s32(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return memory::desc(dims, memory::data_type::s32, strides);
}

class DnnlQLinearConv final : public Kernel {
 public:
  DnnlQLinearConv(const ir::Node& node, Tensor w, std::vector<float> scales, int32_t x_zp,
                  int32_t y_zp, DType x_type, DType y_type, std::optional<Tensor> bias, bool relu)
      : op_(node.op),
        w_(std::move(w)),
        scales_(std::move(scales)),
        x_zp_(x_zp),
        y_zp_(y_zp),
        x_type_(x_type),
        y_type_(y_type),
        bias_(std::move(bias)),
        group_(node.attr_int("group", 1)),
        relu_(relu) {}

  std::string_view name() const override {
    if (op_ == OpKind::ConvInteger)
      return x_type_ == DType::U8 ? "dnnl_convinteger_u8s8" : "dnnl_convinteger_s8s8";
    return x_type_ == DType::U8 ? "dnnl_qlinearconv_u8s8" : "dnnl_qlinearconv_s8s8";
  }
  bool may_accept_blocked(size_t input) const override { return input == 0; }
  bool may_produce_blocked(size_t output) const override { return output == 0; }
  Layout required_layout(const KernelCtx& ctx, size_t input) const override {
    return input == 0 && ctx.in(0).dtype() == x_type_ ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    const Layout in = ctx.in_layout(0);
    if (x.dtype() != x_type_ || y.dtype() != y_type_ || x.rank() < 3 || x.rank() > 5)
      return run_plain(ctx, ref_kernel_fn(op_));
    const Layout out =
        ctx.wants_blocked(0) && blockable(y.dtype(), y.shape()) ? Layout::Blocked : Layout::Plain;
    const Shape key_b = {static_cast<int64_t>(in), static_cast<int64_t>(out)};
    Entry* e = cache_.find(x.shape(), key_b);
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(ctx.node, x.shape(), in, out, fresh); }));
      e = &cache_.insert(x.shape(), key_b, std::move(fresh));
    }
    if (!e->supported) return run_plain(ctx, ref_kernel_fn(op_));
    return guarded(ctx.node, [&] {
      if (e->src_reorder) {
        e->src_user.set_data_handle(const_cast<void*>(x.raw()));
        e->src_reorder.execute(cpu_stream(), e->src_user, e->src);
      } else {
        e->src.set_data_handle(const_cast<void*>(x.raw()));
      }
      if (e->dst_reorder) {
        e->dst_user.set_data_handle(y.raw());
        e->prim.execute(cpu_stream(), e->args);
        e->dst_reorder.execute(cpu_stream(), e->dst, e->dst_user);
      } else {
        e->dst.set_data_handle(y.raw());
        e->prim.execute(cpu_stream(), e->args);
      }
      cpu_stream().wait();
      ctx.set_out_layout(0, out);
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;
    dnnl::primitive prim;
    memory src, dst, src_user, dst_user, weights, bias;
    dnnl::reorder src_reorder, dst_reorder;
    std::unordered_map<int, memory> args;
  };

  // ONNX weights (M, C/G, k...) in oneDNN's dim order: (G, M/G, C/G, k...) or (M, C, k...).
  memory::desc plain_weights() const {
    const Shape& ws = w_.shape();
    memory::dims dims;
    if (group_ > 1)
      dims = {group_, ws[0] / group_};
    else
      dims = {ws[0]};
    dims.insert(dims.end(), ws.begin() + 1, ws.end());
    memory::dims strides(dims.size(), 1);
    for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
    return memory::desc(dims, memory::data_type::s8, strides);
  }

  Status build(const ir::Node& node, const Shape& xs, Layout in, Layout out, Entry& e) {
    const std::span<const int64_t> kernel = std::span<const int64_t>(w_.shape()).subspan(2);
    auto g = window_geometry(node, xs, kernel, false);
    if (!g) return Status::errorf("node {}: {}", node.describe(), g.status().message());
    const int64_t M = w_.dim(0);
    Shape ys = {xs[0], M};
    ys.insert(ys.end(), g->out.begin(), g->out.end());
    if (shape_numel(xs) == 0 || shape_numel(ys) == 0) return Status::ok();
    memory::dims strides = to_dims(g->strides), dil(g->rank), pl = to_dims(g->pad_begin),
                 pr = to_dims(g->pad_end);
    for (int64_t i = 0; i < g->rank; ++i) dil[i] = g->dilations[i] - 1;
    for (int64_t i = 0; i < g->rank; ++i)
      if (pl[i] < 0 || pr[i] < 0) return Status::ok();
    const memory::desc given_src = int8_desc(to_dims(xs), x_type_, in),
                       given_dst = y_type_ == DType::I32 ? plain_s32(to_dims(ys))
                                                         : int8_desc(to_dims(ys), y_type_, out);
    // Let oneDNN pick the activation layouts (channels-last for its int8 kernels); the given
    // ones are used as they are when they match, else reordered.
    const memory::desc src_any(to_dims(xs), int8_type(x_type_), memory::format_tag::any);
    const memory::desc dst_any(to_dims(ys), int8_type(y_type_), memory::format_tag::any);
    const memory::desc w_any(plain_weights().dims(), memory::data_type::s8,
                             memory::format_tag::any);
    const memory::desc b_md =
        bias_ ? memory::desc({M}, memory::data_type::s32, memory::format_tag::a) : memory::desc();
    dnnl::primitive_attr attr;
    if (!scales_.empty()) attr.set_output_scales(scales_.size() > 1 ? 1 << 1 : 0, scales_);
    if (x_zp_ != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (y_zp_ != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    if (relu_) {  // a fused Relu (lower_qdq): on the scaled result, before the zero point
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::convolution_direct, src_any, w_any, b_md,
                                      dst_any, strides, dil, pl, pr);
    dnnl::convolution_forward::primitive_desc pd;
    try {
      pd = dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
    } catch (const dnnl::error&) {
      return Status::ok();  // no oneDNN implementation: the reference kernel runs
    }
    impl_ = pd.impl_info_str();
    e.prim = dnnl::convolution_forward(pd);
    bind(e.src, e.src_user, e.src_reorder, given_src, pd.src_desc(), true);
    bind(e.dst, e.dst_user, e.dst_reorder, given_dst, pd.dst_desc(), false);
    e.weights = memory(pd.weights_desc(), cpu_engine());
    {
      memory plain(plain_weights(), cpu_engine(), const_cast<void*>(w_.raw()));
      dnnl::reorder(plain, e.weights).execute(cpu_stream(), plain, e.weights);
      cpu_stream().wait();
    }
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, e.dst}};
    if (bias_) {
      e.bias = memory(b_md, cpu_engine(), const_cast<void*>(bias_->raw()));
      e.args[DNNL_ARG_BIAS] = e.bias;
    }
    add_zero_point_arg(e.args, DNNL_ARG_SRC, x_zp_, cpu_engine());
    add_zero_point_arg(e.args, DNNL_ARG_DST, y_zp_, cpu_engine());
    e.supported = true;
    return Status::ok();
  }

  // Points `mem` at the caller's buffer (layout `given`) or, when the primitive wants another
  // layout, at an owned buffer with a reorder from (src) or to (dst) the caller's buffer.
  static void bind(memory& mem, memory& user, dnnl::reorder& r, const memory::desc& given,
                   const memory::desc& wanted, bool is_src) {
    if (given == wanted) {
      mem = memory(given, cpu_engine(), nullptr);
      return;
    }
    user = memory(given, cpu_engine(), nullptr);
    mem = memory(wanted, cpu_engine());
    r = is_src ? dnnl::reorder(user, mem) : dnnl::reorder(mem, user);
  }

  OpKind op_;  // QLinearConv, or ConvInteger (int32 output, no scales)
  Tensor w_;
  std::vector<float> scales_;
  int32_t x_zp_, y_zp_;
  DType x_type_, y_type_;
  std::optional<Tensor> bias_;
  int64_t group_;
  bool relu_;
  std::string impl_;
  ShapeCache<Entry> cache_;
};

// Scalar integer of a constant tensor (u8 / i8 / i32).
std::optional<int32_t> scalar_int(const Tensor* t) {
  if (!t || t->numel() != 1) return std::nullopt;
  return static_cast<int32_t>(t->get_f64(0));
}

}  // namespace

// ConvInteger(x, w, x_zero_point?, w_zero_point?) -> int32: the same primitive without scales;
// bit-identical to the reference (integer arithmetic throughout).
Result<std::unique_ptr<Kernel>> make_dnnl_convinteger_s8(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  auto none = [] { return std::unique_ptr<Kernel>(); };
  const auto& c = ctx.constant_inputs;
  const Tensor* w = c.size() > 1 ? c[1] : nullptr;
  if (!w || w->dtype() != DType::I8 || w->rank() < 3 || w->rank() > 5) return none();
  const int64_t group = n.attr_int("group", 1);
  if (group < 1 || w->dim(0) % group != 0) return none();
  int32_t x_zp = 0;
  DType x_type = ctx.input_dtypes[0];
  if (n.input(2)) {
    if (c.size() < 3 || !c[2] || c[2]->numel() != 1) return none();
    x_zp = static_cast<int32_t>(c[2]->get_f64(0));
    x_type = c[2]->dtype();
  }
  if (x_type != DType::U8 && x_type != DType::I8) return none();
  if (n.input(3)) {
    if (c.size() < 4 || !c[3]) return none();
    for (int64_t i = 0; i < c[3]->numel(); ++i)
      if (c[3]->get_f64(i) != 0) return none();
  }
  return std::unique_ptr<Kernel>(std::make_unique<DnnlQLinearConv>(
      n, *w, std::vector<float>(), x_zp, 0, x_type, DType::I32, std::nullopt, false));
}

Result<std::unique_ptr<Kernel>> make_dnnl_qlinearconv_s8(const KernelCreateCtx& ctx) {
  const ir::Node& n = ctx.node;
  auto none = [] { return std::unique_ptr<Kernel>(); };
  const auto& c = ctx.constant_inputs;
  if (c.size() < 8) return none();
  for (size_t i = 1; i < 8; ++i)
    if (!c[i]) return none();
  if (n.input(8) && (c.size() < 9 || !c[8] || c[8]->dtype() != DType::I32)) return none();
  const Tensor& w = *c[3];
  if (w.dtype() != DType::I8 || w.rank() < 3 || w.rank() > 5) return none();
  const bool relu = n.attr_string("_activation", "") == "Relu";
  if (n.has_attr("_activation") && !relu) return none();
  const int64_t M = w.dim(0), group = n.attr_int("group", 1);
  if (group < 1 || M % group != 0) return none();
  for (size_t i : {1u, 4u, 6u})
    if (c[i]->dtype() != DType::F32) return none();
  // Weight zero points must be 0: oneDNN has no per-channel weight zero points.
  for (int64_t i = 0; i < c[5]->numel(); ++i)
    if (c[5]->get_f64(i) != 0) return none();
  // The zero points carry the activation dtypes (ONNX requires them equal); intermediate values
  // often have no declared dtype.
  const DType x_type = c[2]->dtype(), y_type = c[7]->dtype();
  if ((x_type != DType::U8 && x_type != DType::I8) || (y_type != DType::U8 && y_type != DType::I8))
    return none();
  auto x_zp = scalar_int(c[2]), y_zp = scalar_int(c[7]);
  if (!x_zp || !y_zp || c[1]->numel() != 1 || c[6]->numel() != 1) return none();
  const int64_t nw = c[4]->numel();
  if (nw != 1 && nw != M) return none();
  const float sx = c[1]->data<float>()[0], sy = c[6]->data<float>()[0];
  std::vector<float> scales(nw);
  for (int64_t m = 0; m < nw; ++m) scales[m] = sx * c[4]->data<float>()[m] / sy;
  std::optional<Tensor> bias;
  if (n.input(8)) bias = *c[8];
  return std::unique_ptr<Kernel>(std::make_unique<DnnlQLinearConv>(
      n, w, std::move(scales), *x_zp, *y_zp, x_type, y_type, std::move(bias), relu));
}

}  // namespace condense
