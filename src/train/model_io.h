// Which input and output of a model a classifier trainer or evaluator uses.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <string>
#include <vector>

namespace condense::train {

struct ModelIo {
  ir::Value* input = nullptr;       // the data input (float)
  ir::Value* output = nullptr;      // the logits (N, C)
  std::vector<int64_t> input_dims;  // -1 for the batch and every symbolic dimension
  int64_t fixed_batch = 0;          // > 0: the input's batch dimension is static
  int64_t num_classes = 0;          // C
};

// `input` empty: the model's only float input; `output` empty: its first output. Errors name
// the model's inputs or outputs.
Result<ModelIo> resolve_model_io(ir::Graph& g, const std::string& input, const std::string& output);

}  // namespace condense::train
