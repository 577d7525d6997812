// Graph-building helpers shared by the static, weight-only and dynamic rewrites.
#pragma once

#include <condense/quant.h>

#include <map>
#include <string>

#include "compress/quant/plan.h"

namespace condense::quant {

// `base` when no value or node has that name yet, else "<base>_<k>".
std::string unique_name(ir::Graph& g, const std::string& base);

// Before export (quantize, to_qoperator): equal constants merged (graph inputs and outputs
// excepted), and Conv / QLinearConv / ConvInteger attributes equal to ONNX's defaults dropped
// (dilations and strides of 1, zero pads, group 1, auto_pad NOTSET). Computes the same.
void tidy_for_export(ir::Graph& g);

class QdqBuilder {
 public:
  explicit QdqBuilder(ir::Graph& g) : g_(g) {}

  // DequantizeLinear of a quantized constant. Names are short, to keep the file small (a
  // resnet20 has ~40 quantized constants and ~30 activations, each named in several places):
  // "<prefix><k>" for the node and its output (k counts per prefix: "w0", "w1", ...), and
  // "<prefix><k>.q" / ".s" / ".z" for the integers, the scale and the zero point.
  ir::Value* dequantize_constant(const QuantizedTensor& q, const std::string& prefix,
                                 bool with_zero_point = true);
  // The DequantizeLinear output of weight `w` quantized with `plan`; quantized once per weight
  // and scheme however many nodes share it. Errors name the weight and the node.
  Result<ir::Value*> weight(const ir::Node& node, const WeightPlan& plan);
  // Scalar f32 / integer constants.
  ir::Value* scalar_f32(const std::string& name, float v);
  ir::Value* scalar_int(const std::string& name, DType dtype, int32_t v);
  // Inserts QuantizeLinear ("a<k>.q") -> DequantizeLinear after `v` with per-tensor scale
  // "a<k>.s" and zero point "a<k>.z": every node reading v reads the DequantizeLinear output
  // instead. The dequantized value takes v's name (what the float model calls it: readers,
  // graph outputs and `condense compare` match by it) and v, the value before quantization, is
  // renamed "a<k>.f". Graph inputs keep their names (the DequantizeLinear output is "a<k>"); a
  // graph output stays the float v, under its name, unless `quantize_output`.
  void quantize_activation(ir::Value* v, ScaleZp qp, DType dtype, bool quantize_output);

  ir::Graph& graph() { return g_; }

 private:
  ir::Graph& g_;
  // "<prefix><k>" with the next k for which no value of that name (or its .q/.s/.z) exists.
  std::string short_name(const std::string& prefix);

  std::map<std::string, ir::Value*> weights_;  // key: weight name + scheme
  std::map<std::string, int> counters_;        // next k per prefix
  // Zero points are mostly equal (all 0 for symmetric weights and post-ReLU activations): one
  // initializer per distinct (dtype, shape, bytes).
  ir::Value* shared_constant(const std::string& name, Tensor t);
  std::map<std::string, ir::Value*> shared_;
};

// Rewrites for dynamic mode (dynamic.cpp).
Status rewrite_dynamic(ir::Graph& g, const QuantPlan& plan, QdqBuilder& b);

}  // namespace condense::quant
