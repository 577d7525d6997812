// oneDNN int8 matmul for QLinearMatMul and com.microsoft QGemm, with a constant s8 B of zero
// point 0 and a scale per tensor or per column, requantized in the primitive.
//   QLinearMatMul: a (..., M, K) u8 or s8 (leading dims folded into M), B (K, N); output u8 / s8.
//   QGemm: A (M, K) u8 or s8, B (K, N) or (N, K) with transB; alpha 1, transA 0; int32 bias C
//     (N), which oneDNN adds to the int32 accumulator, converted to f32, before scaling. Output
//     u8 / s8, or f32 (output scales a_scale * b_scale[n]: the reference's f32 operations in the
//     same order).
// Requantization: output scales a_scale * b_scale[n] / y_scale in f32, runtime zero points of a
// and y, round half to even, saturation; a Relu fused by the QDQ lowering as a post-op. Within
// one quantization step of the reference kernel, which multiplies in double (see
// qlinear_conv_s8.cpp). Other shapes and dtypes run the reference.
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

class DnnlInt8MatMul final : public Kernel {
 public:
  // op: QLinearMatMul or QGemm (the name, the fallback, and whether a may have rank > 2).
  DnnlInt8MatMul(OpKind op, Tensor b, bool trans_b, std::optional<Tensor> c,
                 std::vector<float> scales, int32_t a_zp, int32_t y_zp, DType a_type, DType y_type,
                 bool relu)
      : op_(op),
        b_(std::move(b)),
        trans_b_(trans_b),
        c_(std::move(c)),
        scales_(std::move(scales)),
        a_zp_(a_zp),
        y_zp_(y_zp),
        a_type_(a_type),
        y_type_(y_type),
        relu_(relu) {}

  std::string_view name() const override {
    if (op_ == OpKind::QGemm) return a_type_ == DType::U8 ? "dnnl_qgemm_u8s8" : "dnnl_qgemm_s8s8";
    return a_type_ == DType::U8 ? "dnnl_qlinearmatmul_u8s8" : "dnnl_qlinearmatmul_s8s8";
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& a = ctx.in(0);
    Tensor& y = ctx.out(0);
    const bool rank_ok = op_ == OpKind::QGemm ? a.rank() == 2 : a.rank() >= 2;
    if (a.dtype() != a_type_ || y.dtype() != y_type_ || !rank_ok || a.dim(-1) != K())
      return ref_kernel_fn(op_)(ctx);
    Entry* e = cache_.find(a.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(a.shape(), fresh); }));
      e = &cache_.insert(a.shape(), {}, std::move(fresh));
    }
    if (!e->supported) return ref_kernel_fn(op_)(ctx);
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

  int64_t K() const { return trans_b_ ? b_.dim(1) : b_.dim(0); }
  int64_t N() const { return trans_b_ ? b_.dim(0) : b_.dim(1); }

  Status build(const Shape& as, Entry& e) {
    const int64_t K = this->K(), N = this->N();
    const int64_t M = shape_numel(as) / K;
    if (M == 0 || N == 0) return Status::ok();
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

  OpKind op_;
  Tensor b_;
  bool trans_b_;
  std::optional<Tensor> c_;  // QGemm's int32 bias (N)
  std::vector<float> scales_;
  int32_t a_zp_, y_zp_;
  DType a_type_, y_type_;
  bool relu_;
  ShapeCache<Entry> cache_;
};

}  // namespace

// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
Result<std::unique_ptr<Kernel>> make_dnnl_qlinearmatmul_s8(const KernelCreateCtx& ctx) {
  auto none = [] { return std::unique_ptr<Kernel>(); };
  const auto& c = ctx.constant_inputs;
  if (c.size() < 8) return none();
  for (size_t i = 1; i < 8; ++i)
    if (!c[i]) return none();
  const Tensor& b = *c[3];
  if (b.dtype() != DType::I8 || b.rank() != 2) return none();
  const bool relu = ctx.node.attr_string("_activation", "") == "Relu";
  if (ctx.node.has_attr("_activation") && !relu) return none();
  for (size_t i : {1u, 4u, 6u})
    if (c[i]->dtype() != DType::F32) return none();
  for (int64_t i = 0; i < c[5]->numel(); ++i)
    if (c[5]->get_f64(i) != 0) return none();
  const DType a_type = c[2]->dtype(), y_type = c[7]->dtype();
  if ((a_type != DType::U8 && a_type != DType::I8) || (y_type != DType::U8 && y_type != DType::I8))
    return none();
  if (c[1]->numel() != 1 || c[2]->numel() != 1 || c[6]->numel() != 1 || c[7]->numel() != 1)
    return none();
  const int64_t nb = c[4]->numel(), N = b.dim(1);
  if (nb != 1 && (nb != N || c[4]->rank() != 1)) return none();
  const float sa = c[1]->data<float>()[0], sy = c[6]->data<float>()[0];
  std::vector<float> scales(nb);
  for (int64_t n = 0; n < nb; ++n) scales[n] = sa * c[4]->data<float>()[n] / sy;
  return std::unique_ptr<Kernel>(std::make_unique<DnnlInt8MatMul>(
      OpKind::QLinearMatMul, b, false, std::nullopt, std::move(scales),
      static_cast<int32_t>(c[2]->get_f64(0)), static_cast<int32_t>(c[7]->get_f64(0)), a_type,
      y_type, relu));
}

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
  return std::unique_ptr<Kernel>(
      std::make_unique<DnnlInt8MatMul>(OpKind::QGemm, b, trans_b, std::move(bias),
                                       std::move(scales), a_zp, y_zp, a_type, y_type, relu));
}

}  // namespace condense
