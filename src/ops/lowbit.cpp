// Fused low-bit MatMul/Gemm (include/condense/ops/lowbit.inc): DynamicQuantMatMul and
// WeightOnlyMatMul. Both take x (..., K) f32 and a constant 2-D weight, and write y (..., N) f32.
#include "ops/infer.h"

namespace condense {

namespace {

// y (..., N) from x (..., K) and the weight's (K, N); bias must be (), (1), (N) or (1, N).
Status infer_lowbit_matmul(InferCtx& ctx, int64_t k, int64_t n, size_t bias_in) {
  if (ctx.has_input(bias_in)) {
    const TensorInfo& b = ctx.in(bias_in);
    CONDENSE_TRY(check_dtype(ctx, bias_in, {DType::F32}));
    if (b.shape_known) {
      int64_t numel = 1;
      for (int64_t d : b.shape) numel *= d;
      if (b.shape.size() > 2 || (b.shape.size() == 2 && b.shape[0] != 1) ||
          (numel != 1 && numel != n))
        return ctx.fail("bias {} is not per output column ({} columns)", shape_str(b.shape), n);
    }
  }
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, DType::F32);
    return Status::ok();
  }
  if (x.shape.empty() || x.shape.back() != k)
    return ctx.fail("input {} does not end in the weight's K = {}", shape_str(x.shape), k);
  Shape y = x.shape;
  y.back() = n;
  ctx.set_out(0, DType::F32, std::move(y));
  return Status::ok();
}

bool per_column(const TensorInfo& t, int64_t n) {
  if (!t.shape_known) return true;
  int64_t numel = 1;
  for (int64_t d : t.shape) numel *= d;
  return t.shape.size() <= 1 && (numel == 1 || numel == n);
}

}  // namespace

// x, w (K, N) int8/uint8, w_zero_point, w_scale, [bias].
Status infer_DynamicQuantMatMul(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 3, {DType::F32}));
  if (ctx.in(2).dtype != ctx.in(1).dtype)
    return ctx.fail("w_zero_point dtype {} differs from the weight's {}",
                    dtype_name(ctx.in(2).dtype), dtype_name(ctx.in(1).dtype));
  const TensorInfo& w = ctx.in(1);
  if (!w.shape_known) {
    ctx.set_out_unknown(0, DType::F32);
    return Status::ok();
  }
  if (w.shape.size() != 2) return ctx.fail("weight must be 2-D (K, N), got {}", shape_str(w.shape));
  const int64_t n = w.shape[1];
  if (!per_column(ctx.in(2), n) || !per_column(ctx.in(3), n))
    return ctx.fail("w_zero_point and w_scale must have 1 or {} elements", n);
  return infer_lowbit_matmul(ctx, w.shape[0], n, 4);
}

// x, w int4/uint4/int8/uint8 (K, N) or (N, K) with transB, w_scale, [w_zero_point], [bias].
Status infer_WeightOnlyMatMul(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I4, DType::U4, DType::I8, DType::U8}));
  CONDENSE_TRY(check_dtype(ctx, 2, {DType::F32}));
  if (ctx.has_input(3) && ctx.in(3).dtype != ctx.in(1).dtype)
    return ctx.fail("w_zero_point dtype {} differs from the weight's {}",
                    dtype_name(ctx.in(3).dtype), dtype_name(ctx.in(1).dtype));
  const TensorInfo& w = ctx.in(1);
  if (!w.shape_known) {
    ctx.set_out_unknown(0, DType::F32);
    return Status::ok();
  }
  if (w.shape.size() != 2) return ctx.fail("weight must be 2-D, got {}", shape_str(w.shape));
  const bool tb = ctx.node.attr_int("transB", 0) != 0;
  const int64_t k = tb ? w.shape[1] : w.shape[0], n = tb ? w.shape[0] : w.shape[1];
  return infer_lowbit_matmul(ctx, k, n, 4);
}

}  // namespace condense
