// Shape and data-movement ops.
#include "ops/infer.h"

namespace condense {

// Reshape(data, shape; allowzero): 0 copies the input dim (unless allowzero), -1 is inferred.
Status infer_Reshape(InferCtx& ctx) {
  CONDENSE_TRY(check_dtype(ctx, 1, {DType::I64}));
  const TensorInfo& data = ctx.in(0);
  const Tensor* spec = ctx.in(1).value;
  if (!spec || !data.shape_known) {
    ctx.set_out_unknown(0, data.dtype);
    return Status::ok();
  }
  if (spec->rank() != 1) return ctx.fail("shape must be 1-D, got rank {}", spec->rank());
  const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  Shape out(spec->numel());
  int64_t infer_at = -1;
  int64_t known = 1;
  for (int64_t i = 0; i < spec->numel(); ++i) {
    int64_t d = spec->data<int64_t>()[i];
    if (d == -1) {
      if (infer_at >= 0) return ctx.fail("shape {} has more than one -1", shape_str(spec->to_i64_vector()));
      infer_at = i;
      continue;
    }
    if (d == 0 && !allowzero) {
      if (i >= static_cast<int64_t>(data.shape.size()))
        return ctx.fail("shape has 0 at index {} but the input has rank {}", i, data.shape.size());
      d = data.shape[i];
    }
    if (d < 0) return ctx.fail("shape {} has invalid dimension {}", shape_str(spec->to_i64_vector()), d);
    out[i] = d;
    known *= d;
  }
  const int64_t total = shape_numel(data.shape);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      return ctx.fail("cannot reshape {} into {}", shape_str(data.shape),
                      shape_str(spec->to_i64_vector()));
    out[infer_at] = total / known;
  } else if (known != total) {
    return ctx.fail("cannot reshape {} ({} elements) into {} ({} elements)", shape_str(data.shape),
                    total, shape_str(out), known);
  }
  ctx.set_out(0, data.dtype, std::move(out));
  ctx.out(0).allocate = false;  // a view of the input
  return Status::ok();
}

}  // namespace condense
