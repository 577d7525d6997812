// Einsum equation parsing, shared by shape inference (src/ops/reduce.cpp) and the reference
// kernel (src/kernels/ref/reduce_einsum.cpp).
#pragma once

#include <condense/status.h>
#include <condense/tensor.h>

#include <string>
#include <vector>

namespace condense {

// A parsed equation over "labels": letters get ids 0..51, and the k-th ellipsis dimension
// (counted from the LEFT of the broadcast ellipsis block) gets id 52 + k.
struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;  // per operand, one label per dimension
  std::vector<int> output_labels;                // one label per output dimension
  std::vector<int64_t> label_size;               // size of every label (index = label id)
  int num_labels = 0;                            // 52 + ellipsis rank
};

// Parses `equation` against the operand shapes; checks label sizes agree (an ellipsis dim of
// size 1 broadcasts). Error text does not name the node (callers add it).
Result<EinsumPlan> plan_einsum(const std::string& equation, const std::vector<Shape>& shapes);

}  // namespace condense
