#include "ops/infer.h"

namespace condense {

#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) Status infer_##name(InferCtx&);
#include <condense/ops/all.inc>
#undef CONDENSE_OP

namespace {
constexpr InferFn kInfer[] = {
#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) &infer_##name,
#include <condense/ops/all.inc>
#undef CONDENSE_OP
};
static_assert(sizeof(kInfer) / sizeof(kInfer[0]) == kOpCount);
}  // namespace

InferFn infer_fn(OpKind op) { return kInfer[static_cast<int>(op)]; }

Result<Shape> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      return Status::errorf("shapes {} and {} do not broadcast", shape_str(a), shape_str(b));
    }
  }
  return out;
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return Status::errorf("axis {} is out of range for rank {}", axis, rank);
  return axis < 0 ? axis + rank : axis;
}

Status check_dtype(const InferCtx& ctx, size_t input, std::initializer_list<DType> allowed) {
  if (!ctx.has_input(input)) return Status::ok();
  DType t = ctx.in(input).dtype;
  for (DType a : allowed)
    if (a == t) return Status::ok();
  std::string names;
  for (DType a : allowed) names += (names.empty() ? "" : ", ") + std::string(dtype_name(a));
  return ctx.fail("input {} has unsupported dtype {} (supported: {})", input, dtype_name(t), names);
}

Status check_same_dtype(const InferCtx& ctx, size_t first, size_t last) {
  std::optional<DType> seen;
  for (size_t i = first; i <= last && i < ctx.inputs.size(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (seen && *seen != ctx.in(i).dtype)
      return ctx.fail("input {} has dtype {} but input {} has {}", i, dtype_name(ctx.in(i).dtype),
                      first, dtype_name(*seen));
    seen = ctx.in(i).dtype;
  }
  return Status::ok();
}

bool any_unknown(const InferCtx& ctx) {
  for (const auto& t : ctx.inputs)
    if (t.present && !t.shape_known) return true;
  return false;
}

}  // namespace condense
