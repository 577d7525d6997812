// Helpers shared by the train family's shape inference (src/ops/train*.cpp).
#pragma once

#include <optional>

#include "ops/infer.h"

namespace condense::train_ops {

// Inputs [first, last] (present ones) are all F32 or all F64.
Status check_train_float(const InferCtx& ctx, size_t first, size_t last);
// Input i is a 1-D I64 shape; nullopt when its value is not known (static analysis).
Result<std::optional<Shape>> shape_input(const InferCtx& ctx, size_t i);
// Every present output: dtype t, shape unknown.
void set_unknown_all(InferCtx& ctx, DType t);

}  // namespace condense::train_ops
