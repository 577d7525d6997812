// The op catalog. Every op condense knows is one line in one of the family lists below
// (include/condense/ops/<family>.inc); the enum, the name table, the ONNX mapping, the
// shape-inference table and the reference-kernel table are all generated from those lines.
//
//   condense::OpKind k = condense::OpKind::Conv;
//   const condense::OpSchema& s = condense::op_schema(k);   // s.onnx_type == "Conv"
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace condense {

// CONDENSE_OP(Name, domain, min_inputs, max_inputs, min_outputs, max_outputs)
// Name is the ONNX op type; domain "" is ai.onnx. max_inputs -1 means variadic.
#define CONDENSE_OP_FAMILIES(X) \
  X(core)                       \
  X(elementwise)                \
  X(reduce)                     \
  X(shape)                      \
  X(nn)                         \
  X(rnn)                        \
  X(quant)                      \
  X(train)

enum class OpKind : uint16_t {
#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) name,
#include <condense/ops/all.inc>
#undef CONDENSE_OP
  Count_
};

inline constexpr int kOpCount = static_cast<int>(OpKind::Count_);

struct OpSchema {
  std::string_view name;    // ONNX op type
  std::string_view domain;  // "" for ai.onnx
  int min_inputs, max_inputs;
  int min_outputs, max_outputs;
};

const OpSchema& op_schema(OpKind k);
std::string_view op_name(OpKind k);
std::optional<OpKind> op_from_onnx(std::string_view domain, std::string_view type);
// Ops of the "com.condense.train" family (include/condense/ops/train.inc): backward and
// training-only forward ops that exist only inside condense's training graphs.
bool is_internal_training_op(OpKind k);

}  // namespace condense
