// Fast QLinearAdd and QLinearGlobalAveragePool (com.microsoft) on 8-bit activations, with the
// AVX-512 loops of kernels/x86/qlinear_avx512.cpp; the reference kernel runs where these do not
// apply (broadcasting, non-constant quantization parameters, no AVX-512). Bit-identical to the
// reference kernels (same f32 operations in the same order).
//
// QLinearAdd is elementwise over equally shaped inputs, so it runs on plain or channels-last
// (blocked, kernels/layout.h) data alike and its output keeps the inputs' layout; it may write
// over an input that dies at the node. QLinearGlobalAveragePool reads channels-last data (a
// blocked input, or channels_last = 1) and writes (N, C, 1...), whose bytes are the same in
// either layout.
#include <omp.h>

#include "kernels/int8/qlinear_avx512.h"
#include "kernels/kernel.h"

namespace condense {

namespace {
using namespace int8_internal;

std::optional<float> const_f32(const KernelCreateCtx& ctx, size_t i) {
  const Tensor* t = i < ctx.constant_inputs.size() ? ctx.constant_inputs[i] : nullptr;
  if (!t || t->dtype() != DType::F32 || t->numel() != 1) return std::nullopt;
  return t->data<float>()[0];
}
// A constant scalar zero point, 0 when the optional input is absent; nullopt when not constant.
std::optional<int32_t> const_zp(const KernelCreateCtx& ctx, size_t i) {
  if (!ctx.node.input(i)) return 0;
  const Tensor* t = i < ctx.constant_inputs.size() ? ctx.constant_inputs[i] : nullptr;
  if (!t || t->numel() != 1 || (t->dtype() != DType::U8 && t->dtype() != DType::I8))
    return std::nullopt;
  return static_cast<int32_t>(t->get_f64(0));
}

// The fused activation the QDQ lowering may set: none or Relu (nullopt: another one, which these
// kernels do not apply).
std::optional<bool> fused_relu(const ir::Node& n) {
  if (!n.has_attr("_activation")) return false;
  if (n.attr_string("_activation", "") == "Relu") return true;
  return std::nullopt;
}

// Runs `ref` on plain copies of any blocked input; the output is plain.
Status run_ref_plain(KernelCtx& ctx, OpKind op) {
  std::vector<Tensor> plain(ctx.inputs.size());
  std::vector<const Tensor*> inputs(ctx.inputs.begin(), ctx.inputs.end());
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i) || ctx.in_layout(i) != Layout::Blocked) continue;
    plain[i] = Tensor::empty(ctx.in(i).dtype(), ctx.in(i).shape());
    CONDENSE_TRY(blocked_to_plain(ctx.in(i), plain[i]));
    inputs[i] = &plain[i];
  }
  KernelCtx sub{ctx.node, inputs, ctx.outputs, ctx.threads};
  return ref_kernel_fn(op)(sub);
}

class QLinearAddInt8 final : public Kernel {
 public:
  QLinearAddInt8(int32_t za, int32_t zb, int32_t zy, float ra, float rb, bool relu)
      : za_(za), zb_(zb), zy_(zy), ra_(ra), rb_(rb), relu_(relu) {}
  std::string_view name() const override { return "qlinearadd_int8_avx512"; }
  bool may_accept_blocked(size_t i) const override { return i == 0 || i == 3; }
  bool may_write_in_place(size_t i) const override { return i == 0 || i == 3; }
  // Both data inputs blocked when either is and they have one blockable shape, else plain.
  Layout required_layout(const KernelCtx& ctx, size_t i) const override {
    if (i != 0 && i != 3) return Layout::Plain;
    return same_shape(ctx) && blockable(ctx.in(0).dtype(), ctx.in(0).shape()) ? Layout::Blocked
                                                                              : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    if (!same_shape(ctx) || ctx.in_layout(0) != ctx.in_layout(3) ||
        ctx.out(0).dtype() != ctx.in(0).dtype())
      return run_ref_plain(ctx, OpKind::QLinearAdd);
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(3);
    Tensor& y = ctx.out(0);
    const int64_t n = y.numel();
    constexpr int64_t kChunk = 16384;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    const int threads = static_cast<int>(std::min<int64_t>(ctx.threads, chunks));
    auto loop = [&](auto* pa, auto* pb, auto* py) {
#pragma omp parallel for num_threads(threads) if (threads > 1)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
        qlinear_add_avx512(pa + lo, pb + lo, py + lo, len, za_, zb_, zy_, ra_, rb_, relu_);
      }
    };
    if (a.dtype() == DType::U8)
      loop(a.data<uint8_t>(), b.data<uint8_t>(), y.data<uint8_t>());
    else
      loop(a.data<int8_t>(), b.data<int8_t>(), y.data<int8_t>());
    ctx.set_out_layout(0, ctx.in_layout(0));
    return Status::ok();
  }

 private:
  static bool same_shape(const KernelCtx& ctx) {
    return ctx.in(0).shape() == ctx.in(3).shape() && ctx.in(0).dtype() == ctx.in(3).dtype() &&
           ctx.in(0).numel() > 0;
  }
  int32_t za_, zb_, zy_;
  float ra_, rb_;
  bool relu_;
};

class QLinearGapInt8 final : public Kernel {
 public:
  QLinearGapInt8(bool channels_last, int32_t zx, int32_t zy, float sx, float sy, bool relu)
      : channels_last_(channels_last), zx_(zx), zy_(zy), sx_(sx), sy_(sy), relu_(relu) {}
  std::string_view name() const override { return "qlineargap_int8_avx512"; }
  bool may_accept_blocked(size_t i) const override { return i == 0 && !channels_last_; }
  Layout required_layout(const KernelCtx& ctx, size_t i) const override {
    return i == 0 ? ctx.in_layout(0) : Layout::Plain;
  }

  Status run(KernelCtx& ctx) override {
    const Tensor& x = ctx.in(0);
    const bool nhwc = channels_last_ || ctx.in_layout(0) == Layout::Blocked;
    if (!nhwc || x.rank() < 3 || x.numel() == 0)
      return run_ref_plain(ctx, OpKind::QLinearGlobalAveragePool);
    const int64_t N = x.dim(0), C = channels_last_ ? x.dim(-1) : x.dim(1);
    const int64_t rows = x.numel() / (N * C);
    // The reference kernel's multiplier: x_scale / (y_scale * count), in f32.
    const float mult = sx_ / (sy_ * static_cast<float>(rows));
    Tensor& y = ctx.out(0);
    const int threads = static_cast<int>(std::min<int64_t>(ctx.threads, N));
    auto loop = [&](auto* px, auto* py) {
#pragma omp parallel for num_threads(threads) if (threads > 1)
      for (int64_t n = 0; n < N; ++n)
        qlinear_gap_nhwc_avx512(px + n * rows * C, py + n * C, rows, C, zx_, zy_, mult, relu_);
    };
    if (x.dtype() == DType::U8)
      loop(x.data<uint8_t>(), y.data<uint8_t>());
    else
      loop(x.data<int8_t>(), y.data<int8_t>());
    return Status::ok();
  }

 private:
  bool channels_last_;
  int32_t zx_, zy_;
  float sx_, sy_;
  bool relu_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> make_qlinearadd_int8(const KernelCreateCtx& ctx) {
  if (!cpu_has_avx512bw()) return std::unique_ptr<Kernel>();
  auto sa = const_f32(ctx, 1), sb = const_f32(ctx, 4), sy = const_f32(ctx, 6);
  auto za = const_zp(ctx, 2), zb = const_zp(ctx, 5), zy = const_zp(ctx, 7);
  auto relu = fused_relu(ctx.node);
  if (!sa || !sb || !sy || !za || !zb || !zy || !relu) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(
      std::make_unique<QLinearAddInt8>(*za, *zb, *zy, *sa / *sy, *sb / *sy, *relu));
}

Result<std::unique_ptr<Kernel>> make_qlineargap_int8(const KernelCreateCtx& ctx) {
  if (!cpu_has_avx512bw()) return std::unique_ptr<Kernel>();
  auto sx = const_f32(ctx, 1), sy = const_f32(ctx, 3);
  auto zx = const_zp(ctx, 2), zy = const_zp(ctx, 4);
  auto relu = fused_relu(ctx.node);
  if (!sx || !sy || !zx || !zy || !relu) return std::unique_ptr<Kernel>();
  return std::unique_ptr<Kernel>(std::make_unique<QLinearGapInt8>(
      ctx.node.attr_int("channels_last", 0) != 0, *zx, *zy, *sx, *sy, *relu));
}

}  // namespace condense
