// oneDNN QGemm (com.microsoft): A (M, K) u8 or s8, B constant s8 (K, N) or (N, K) with transB,
// zero point 0, scale per tensor or per column; int32 bias C (N); alpha 1, transA 0. Output u8 / s8
// (requantized in the primitive: output scales a_scale * b_scale[n] / y_scale, zero points,
// round half to even, saturation; within one step of the reference) or f32 (output scales
// a_scale * b_scale[n]: the reference's f32 operations in the same order). oneDNN adds the bias to
// the int32 accumulator, converted to f32, before scaling. Other cases run the reference.
#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

memory::data_type dnnl_type(DType t) {
  switch (t) {
    case DType::U8:
      return memory::data_type::u8;
    case DType::I8:
      return memory::data_type::s8;
    default:
      return memory::data_type::f32;
  }
}

class DnnlQGemm final : public Kernel {
 public:
  DnnlQGemm(Tensor b, bool trans_b, std::optional<Tensor> c, std::vector<float> scales,
            int32_t a_zp, int32_t y_zp, DType a_type, DType y_type, bool relu)
      : b_(std::move(b)),
        trans_b_(trans_b),
        c_(std::move(c)),
        scales_(std::move(scales)),
        a_zp_(a_zp),
        y_zp_(y_zp),
        a_type_(a_type),
        y_type_(y_type),
        relu_(relu) {}

  std::string_view name() const override {
    return a_type_ == DType::U8 ? "dnnl_qgemm_u8s8" : "dnnl_qgemm_s8s8";
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& a = ctx.in(0);
    Tensor& y = ctx.out(0);
    if (a.dtype() != a_type_ || y.dtype() != y_type_ || a.rank() != 2)
      return ref_kernel_fn(OpKind::QGemm)(ctx);
    Entry* e = cache_.find(a.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(a.shape(), fresh); }));
      e = &cache_.insert(a.shape(), {}, std::move(fresh));
    }
    if (!e->supported) return ref_kernel_fn(OpKind::QGemm)(ctx);
    return guarded(ctx.node, [&] {
      e->src.set_data_handle(const_cast<void*>(a.raw()));
      e->dst.set_data_handle(y.raw());
      e->prim.execute(cpu_stream(), e->args);
      cpu_stream().wait();
      return Status::ok();
    });
  }

 private:
  struct Entry {
    bool supported = false;
    dnnl::primitive prim;
    memory src, wei, bias, dst;
    std::unordered_map<int, memory> args;
  };

  Status build(const Shape& as, Entry& e) {
    const int64_t M = as[0], K = as[1];
    const int64_t N = trans_b_ ? b_.dim(0) : b_.dim(1);
    if ((trans_b_ ? b_.dim(1) : b_.dim(0)) != K || M == 0 || N == 0) return Status::ok();
    const memory::desc src_md({M, K}, dnnl_type(a_type_), memory::format_tag::ab);
    const memory::desc dst_md({M, N}, dnnl_type(y_type_), memory::format_tag::ab);
    const memory::desc w_any({K, N}, memory::data_type::s8, memory::format_tag::any);
    const memory::desc b_md =
        c_ ? memory::desc({1, N}, memory::data_type::s32, memory::format_tag::ab) : memory::desc();
    dnnl::primitive_attr attr;
    attr.set_output_scales(scales_.size() > 1 ? 1 << 1 : 0, scales_);
    if (a_zp_ != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (y_zp_ != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    if (relu_) {  // a fused Relu (lower_qdq): on the scaled result, before the zero point
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd;
    try {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_any, b_md, dst_md), attr,
                                        cpu_engine());
    } catch (const dnnl::error&) {
      return Status::ok();  // no oneDNN implementation: the reference kernel runs
    }
    e.prim = dnnl::matmul(pd);
    e.src = memory(src_md, cpu_engine(), nullptr);
    e.dst = memory(dst_md, cpu_engine(), nullptr);
    e.wei = memory(pd.weights_desc(), cpu_engine());
    // B as stored: (K, N) row-major, or (N, K) row-major = (K, N) with swapped strides.
    const memory::desc plain_md =
        trans_b_ ? memory::desc({K, N}, memory::data_type::s8, memory::dims{1, K})
                 : memory::desc({K, N}, memory::data_type::s8, memory::format_tag::ab);
    memory plain(plain_md, cpu_engine(), const_cast<void*>(b_.raw()));
    dnnl::reorder(plain, e.wei).execute(cpu_stream(), plain, e.wei);
    cpu_stream().wait();
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.wei}, {DNNL_ARG_DST, e.dst}};
    if (c_) {
      e.bias = memory(b_md, cpu_engine(), const_cast<void*>(c_->raw()));
      e.args[DNNL_ARG_BIAS] = e.bias;
    }
    add_zero_point_arg(e.args, DNNL_ARG_SRC, a_zp_, cpu_engine());
    add_zero_point_arg(e.args, DNNL_ARG_DST, y_zp_, cpu_engine());
    e.supported = true;
    return Status::ok();
  }

  Tensor b_;
  bool trans_b_;
  std::optional<Tensor> c_;
  std::vector<float> scales_;
  int32_t a_zp_, y_zp_;
  DType a_type_, y_type_;
  bool relu_;
  ShapeCache<Entry> cache_;
};

}  // namespace

// Inputs: A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?.
Result<std::unique_ptr<Kernel>> make_dnnl_qgemm_s8(const KernelCreateCtx& ctx) {
  auto none = [] { return std::unique_ptr<Kernel>(); };
  const ir::Node& n = ctx.node;
  const auto& c = ctx.constant_inputs;
  auto has = [&](size_t i) { return n.input(i) != nullptr; };
  auto konst = [&](size_t i) { return i < c.size() ? c[i] : nullptr; };
  if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f) return none();
  for (size_t i : {1u, 3u, 4u})
    if (!konst(i)) return none();
  if ((has(2) && !konst(2)) || (has(5) && !konst(5)) || (has(6) && !konst(6)) ||
      (has(7) && !konst(7)) || (has(8) && !konst(8)))
    return none();
  const Tensor& b = *konst(3);
  if (b.dtype() != DType::I8 || b.rank() != 2) return none();
  if (has(5))
    for (int64_t i = 0; i < konst(5)->numel(); ++i)
      if (konst(5)->get_f64(i) != 0) return none();
  const bool relu = n.attr_string("_activation", "") == "Relu";
  if (n.has_attr("_activation") && !relu) return none();
  if (konst(1)->dtype() != DType::F32 || konst(1)->numel() != 1 ||
      konst(4)->dtype() != DType::F32 || (has(7) && konst(7)->dtype() != DType::F32))
    return none();
  const bool trans_b = n.attr_int("transB", 0) != 0;
  const int64_t N = trans_b ? b.dim(0) : b.dim(1);
  std::optional<Tensor> bias;
  if (has(6)) {
    if (konst(6)->rank() != 1 || konst(6)->dim(0) != N) return none();
    bias = *konst(6);
  }
  const int64_t nb = konst(4)->numel();
  if (nb != 1 && nb != N) return none();
  // a's dtype: its zero point's, else the declared input dtype.
  const DType a_type = has(2) ? konst(2)->dtype() : ctx.input_dtypes[0];
  if (a_type != DType::U8 && a_type != DType::I8) return none();
  const DType y_type = has(7) ? (has(8) ? konst(8)->dtype() : DType::U8) : DType::F32;
  const float sa = konst(1)->data<float>()[0];
  const float sy = has(7) ? konst(7)->data<float>()[0] : 1.f;
  std::vector<float> scales(nb);
  for (int64_t i = 0; i < nb; ++i) {
    const float s = sa * konst(4)->data<float>()[i];  // the reference's f32 product
    scales[i] = has(7) ? s / sy : s;
  }
  const int32_t a_zp = has(2) ? static_cast<int32_t>(konst(2)->get_f64(0)) : 0;
  const int32_t y_zp = has(8) ? static_cast<int32_t>(konst(8)->get_f64(0)) : 0;
  return std::unique_ptr<Kernel>(std::make_unique<DnnlQGemm>(
      b, trans_b, std::move(bias), std::move(scales), a_zp, y_zp, a_type, y_type, relu));
}

}  // namespace condense
