// Reduction-family shape inference: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum,
// CumProd, TopK, Einsum. Normalizations, losses and attention live in reduce_norm.cpp.
#include <algorithm>

#include "ops/infer.h"
#include "ops/reduce_einsum.h"

namespace condense {

namespace {
constexpr std::initializer_list<DType> kFloat = {DType::F32, DType::F64, DType::F16, DType::BF16};
// Reduce* (opset 18): float types and 32/64-bit integers.
constexpr std::initializer_list<DType> kReduceTypes = {DType::F32,  DType::F64, DType::F16,
                                                       DType::BF16, DType::I32, DType::I64,
                                                       DType::U32,  DType::U64};
// ReduceMax/ReduceMin (opset 20) and ArgMax/ArgMin/TopK also take 8/16-bit integers (and bool for
// Max/Min).
constexpr std::initializer_list<DType> kMinMaxTypes = {
    DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8,  DType::U8,  DType::I16,
    DType::U16, DType::I32, DType::I64, DType::U32,  DType::U64, DType::Bool};
constexpr std::initializer_list<DType> kNumeric = {DType::F32, DType::F64, DType::F16, DType::BF16,
                                                   DType::I8,  DType::U8,  DType::I16, DType::U16,
                                                   DType::I32, DType::I64, DType::U32, DType::U64};

Status infer_reduce(InferCtx& ctx, std::initializer_list<DType> types) {
  CONDENSE_TRY(check_dtype(ctx, 0, types));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  if (!x.shape_known || (ctx.has_input(1) && !ctx.in(1).value)) {
    ctx.set_out_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<bool> reduced(rank, false);
  const Tensor* axes = ctx.has_input(1) ? ctx.in(1).value : nullptr;
  if (axes && axes->rank() > 1) return ctx.fail("axes must be 1-D, got rank {}", axes->rank());
  if (!axes || axes->numel() == 0) {
    if (ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
      ctx.set_out(0, x.dtype, x.shape);
      return Status::ok();
    }
    std::fill(reduced.begin(), reduced.end(), true);
  } else {
    for (int64_t a : axes->to_i64_vector()) {
      if (a < -rank || a >= rank) return ctx.fail("axis {} is out of range for rank {}", a, rank);
      if (a < 0) a += rank;
      if (reduced[a]) return ctx.fail("axis {} is listed twice", a);
      reduced[a] = true;
    }
  }
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      out.push_back(x.shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  ctx.set_out(0, x.dtype, std::move(out));
  return Status::ok();
}

Status infer_arg(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kNumeric));
  const TensorInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_out_unknown(0, DType::I64);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return ctx.fail("input must have rank >= 1");
  auto axis = normalize_axis(ctx.node.attr_int("axis", 0), rank);
  if (!axis) return ctx.fail("{}", axis.status().message());
  if (x.shape[*axis] == 0) return ctx.fail("cannot take the arg of an empty axis");
  Shape out = x.shape;
  if (ctx.node.attr_int("keepdims", 1) != 0)
    out[*axis] = 1;
  else
    out.erase(out.begin() + *axis);
  ctx.set_out(0, DType::I64, std::move(out));
  return Status::ok();
}

Status infer_softmax_like(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kFloat));
  const TensorInfo& x = ctx.in(0);
  if (x.shape_known) {
    auto axis = normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.shape.size()));
    if (!axis) return ctx.fail("{}", axis.status().message());
  }
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}

Status infer_cumulative(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0,
                           {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64,
                            DType::U32, DType::U64}));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I32, DType::I64}));
  const TensorInfo& x = ctx.in(0);
  if (const Tensor* axis = ctx.in(1).value) {
    if (axis->numel() != 1 || axis->rank() > 1) return ctx.fail("axis must be a scalar");
    if (x.shape_known) {
      auto a = normalize_axis(axis->get_i64(0), static_cast<int64_t>(x.shape.size()));
      if (!a || x.shape.empty())
        return ctx.fail("axis {} is out of range for rank {}", axis->get_i64(0), x.shape.size());
    }
  }
  ctx.outputs[0] = x;
  ctx.outputs[0].value = nullptr;
  ctx.outputs[0].allocate = true;
  return Status::ok();
}
}  // namespace

Status infer_ReduceSum(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ReduceMean(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ReduceMax(InferCtx& ctx) {
  return infer_reduce(ctx, kMinMaxTypes);
}
Status infer_ReduceMin(InferCtx& ctx) {
  return infer_reduce(ctx, kMinMaxTypes);
}
Status infer_ReduceProd(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ReduceL1(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ReduceL2(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ReduceLogSum(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
// Integer inputs are not taken: exp of integers has no exact integer accumulator.
Status infer_ReduceLogSumExp(InferCtx& ctx) {
  return infer_reduce(ctx, kFloat);
}
Status infer_ReduceSumSquare(InferCtx& ctx) {
  return infer_reduce(ctx, kReduceTypes);
}
Status infer_ArgMax(InferCtx& ctx) {
  return infer_arg(ctx);
}
Status infer_ArgMin(InferCtx& ctx) {
  return infer_arg(ctx);
}
Status infer_Softmax(InferCtx& ctx) {
  return infer_softmax_like(ctx);
}
Status infer_LogSoftmax(InferCtx& ctx) {
  return infer_softmax_like(ctx);
}
Status infer_Hardmax(InferCtx& ctx) {
  return infer_softmax_like(ctx);
}
Status infer_CumSum(InferCtx& ctx) {
  return infer_cumulative(ctx);
}
Status infer_CumProd(InferCtx& ctx) {
  return infer_cumulative(ctx);
}

// TopK(X, K) -> (Values, Indices): the axis dim becomes k.
Status infer_TopK(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kNumeric));
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& x = ctx.in(0);
  const Tensor* k = ctx.in(1).value;
  if (!x.shape_known || !k) {
    ctx.set_out_unknown(0, x.dtype);
    ctx.set_out_unknown(1, DType::I64);
    return Status::ok();
  }
  if (k->numel() != 1 || k->rank() > 1) return ctx.fail("K must hold a single value");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) return ctx.fail("input must have rank >= 1");
  auto axis = normalize_axis(ctx.node.attr_int("axis", -1), rank);
  if (!axis) return ctx.fail("{}", axis.status().message());
  const int64_t kv = k->get_i64(0);
  if (kv < 0 || kv > x.shape[*axis])
    return ctx.fail("K = {} is out of range for axis {} of size {}", kv, *axis, x.shape[*axis]);
  Shape out = x.shape;
  out[*axis] = kv;
  ctx.set_out(0, x.dtype, out);
  ctx.set_out(1, DType::I64, out);
  return Status::ok();
}

Status infer_Einsum(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 0, kNumeric));
  CONDENSE_TRY(check_same_dtype(ctx, 0, ctx.inputs.size() - 1));
  const ir::Attribute* eq = ctx.node.attr("equation");
  if (!eq || eq->kind != ir::Attribute::Kind::String)
    return ctx.fail("missing 'equation' attribute");
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    if (!ctx.has_input(i)) return ctx.fail("input {} is missing", i);
  if (any_unknown(ctx)) {
    ctx.set_out_unknown(0, ctx.in(0).dtype);
    return Status::ok();
  }
  std::vector<Shape> shapes;
  for (const auto& t : ctx.inputs) shapes.push_back(t.shape);
  auto plan = plan_einsum(eq->s, shapes);
  if (!plan) return ctx.fail("{}", plan.status().message());
  Shape out;
  for (int l : plan->output_labels) out.push_back(plan->label_size[l]);
  ctx.set_out(0, ctx.in(0).dtype, std::move(out));
  return Status::ok();
}

}  // namespace condense
