// Graph-building helpers shared by the static, weight-only and dynamic rewrites.
#pragma once

#include <condense/quant.h>

#include <map>
#include <string>

#include "compress/quant/plan.h"

namespace condense::quant {

// `base` when no value or node has that name yet, else "<base>_<k>".
std::string unique_name(ir::Graph& g, const std::string& base);

class QdqBuilder {
 public:
  explicit QdqBuilder(ir::Graph& g) : g_(g) {}

  // DequantizeLinear of a quantized constant: `base` names the new values
  // ("<base>_q", "<base>_scale", "<base>_zp"; node "<base>_DQ", output "<base>_dq").
  ir::Value* dequantize_constant(const QuantizedTensor& q, const std::string& base,
                                 bool with_zero_point = true);
  // The DequantizeLinear output of weight `w` quantized with `plan`; quantized once per weight
  // and scheme however many nodes share it. Errors name the weight and the node.
  Result<ir::Value*> weight(const ir::Node& node, const WeightPlan& plan);
  // Scalar f32 / integer constants.
  ir::Value* scalar_f32(const std::string& name, float v);
  ir::Value* scalar_int(const std::string& name, DType dtype, int32_t v);
  // Inserts QuantizeLinear ("<v>_Q": "<v>_q") -> DequantizeLinear ("<v>_DQ": "<v>_dq") after `v`
  // with per-tensor "<v>_scale" and "<v>_zp":
  // every node reading v reads the DequantizeLinear output instead. A graph output stays the
  // float v unless `quantize_output`; then the dequantized value takes its place and its name
  // (v is renamed "<name>_float").
  void quantize_activation(ir::Value* v, ScaleZp qp, DType dtype, bool quantize_output);

  ir::Graph& graph() { return g_; }

 private:
  ir::Graph& g_;
  std::map<std::string, ir::Value*> weights_;  // key: weight name + scheme
};

// Rewrites for dynamic mode (dynamic.cpp).
Status rewrite_dynamic(ir::Graph& g, const QuantPlan& plan, QdqBuilder& b);

}  // namespace condense::quant
