// Neural-network ops: MatMul, Gemm, Conv, pooling, normalization.
#include "ops/infer.h"

namespace condense {

// MatMul: numpy matmul. 1-D operands are promoted (and the added dim removed from the result).
Status infer_MatMul(InferCtx& ctx) {
  CONDENSE_TRY(check_same_dtype(ctx, 0, 1));
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32,
                                    DType::I64, DType::U32, DType::U64}));
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  Shape a = ctx.in(0).shape, b = ctx.in(1).shape;
  if (a.empty() || b.empty()) return ctx.fail("MatMul operands must have rank >= 1");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    return ctx.fail("inner dimensions differ: {} x {}", shape_str(ctx.in(0).shape),
                    shape_str(ctx.in(1).shape));
  Shape batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  auto batch = broadcast_shapes(batch_a, batch_b);
  if (!batch) return ctx.fail("batch dimensions: {}", batch.status().message());
  Shape out = *batch;
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  ctx.set_out(0, ctx.in(0).dtype, std::move(out));
  return Status::ok();
}

}  // namespace condense
