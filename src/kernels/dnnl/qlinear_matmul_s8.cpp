// oneDNN QLinearMatMul: a (..., M, K) u8 or s8 (leading dims folded into M), B (K, N) constant
// s8 with zero point 0 and a scale per tensor or per column, requantized in the primitive
// (output scales a_scale * b_scale[n] / y_scale in f32, runtime zero points of a and y, round
// half to even, saturation; a Relu fused by the QDQ lowering as a post-op). Within one quantization
// step of the reference kernel, which multiplies in double (see qlinear_conv_s8.cpp). Other shapes
// and dtypes run the reference.
#include "kernels/dnnl/dnnl_common.h"

namespace condense {

namespace {
using namespace dnnl_internal;
using dnnl::memory;

memory::data_type int8_type(DType t) {
  return t == DType::U8 ? memory::data_type::u8 : memory::data_type::s8;
}

class DnnlQLinearMatMul final : public Kernel {
 public:
  DnnlQLinearMatMul(Tensor b, std::vector<float> scales, int32_t a_zp, int32_t y_zp, DType a_type,
                    DType y_type, bool relu)
      : b_(std::move(b)),
        scales_(std::move(scales)),
        a_zp_(a_zp),
        y_zp_(y_zp),
        a_type_(a_type),
        y_type_(y_type),
        relu_(relu) {}

  std::string_view name() const override {
    return a_type_ == DType::U8 ? "dnnl_qlinearmatmul_u8s8" : "dnnl_qlinearmatmul_s8s8";
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& a = ctx.in(0);
    Tensor& y = ctx.out(0);
    if (a.dtype() != a_type_ || y.dtype() != y_type_ || a.rank() < 2 || a.dim(-1) != b_.dim(0))
      return ref_kernel_fn(OpKind::QLinearMatMul)(ctx);
    Entry* e = cache_.find(a.shape());
    if (!e) {
      Entry fresh;
      CONDENSE_TRY(guarded(ctx.node, [&] { return build(a.shape(), fresh); }));
      e = &cache_.insert(a.shape(), {}, std::move(fresh));
    }
    if (!e->supported) return ref_kernel_fn(OpKind::QLinearMatMul)(ctx);
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
    memory src, wei, dst;
    std::unordered_map<int, memory> args;
  };

  Status build(const Shape& as, Entry& e) {
    const int64_t K = b_.dim(0), N = b_.dim(1);
    const int64_t M = shape_numel(as) / K;
    if (M == 0 || N == 0) return Status::ok();
    const memory::desc src_md({M, K}, int8_type(a_type_), memory::format_tag::ab);
    const memory::desc dst_md({M, N}, int8_type(y_type_), memory::format_tag::ab);
    const memory::desc w_any({K, N}, memory::data_type::s8, memory::format_tag::any);
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
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_any, dst_md), attr,
                                        cpu_engine());
    } catch (const dnnl::error&) {
      return Status::ok();  // no oneDNN implementation: the reference kernel runs
    }
    e.prim = dnnl::matmul(pd);
    e.src = memory(src_md, cpu_engine(), nullptr);
    e.dst = memory(dst_md, cpu_engine(), nullptr);
    e.wei = memory(pd.weights_desc(), cpu_engine());
    memory plain(memory::desc({K, N}, memory::data_type::s8, memory::format_tag::ab), cpu_engine(),
                 const_cast<void*>(b_.raw()));
    dnnl::reorder(plain, e.wei).execute(cpu_stream(), plain, e.wei);
    cpu_stream().wait();
    e.args = {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.wei}, {DNNL_ARG_DST, e.dst}};
    add_zero_point_arg(e.args, DNNL_ARG_SRC, a_zp_, cpu_engine());
    add_zero_point_arg(e.args, DNNL_ARG_DST, y_zp_, cpu_engine());
    e.supported = true;
    return Status::ok();
  }

  Tensor b_;
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
  return std::unique_ptr<Kernel>(std::make_unique<DnnlQLinearMatMul>(
      b, std::move(scales), static_cast<int32_t>(c[2]->get_f64(0)),
      static_cast<int32_t>(c[7]->get_f64(0)), a_type, y_type, relu));
}

}  // namespace condense
