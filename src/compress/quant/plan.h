// What a quantization pass will touch in a prepared graph: per node, its resolved settings, the
// inputs quantized as activations, its weight, bias and constant inputs; per activation tensor,
// the scheme it is quantized with. Calibration and the rewrite passes share one plan, so the
// tensors calibrated are exactly the tensors quantized.
#pragma once

#include <condense/quant.h>

#include <optional>
#include <string>
#include <vector>

#include "compress/quant/common.h"

namespace condense::quant {

// The settings one node gets: global options, then every matching override in order.
struct LayerConfig {
  bool excluded = false;
  WeightScheme weights;
  ActivationScheme activations;
};

class LayerResolver {
 public:
  static Result<LayerResolver> create(const QuantizeOptions& options);
  LayerConfig resolve(const std::string& node_name) const;
  // Patterns (from --exclude and overrides) that matched no node resolved so far.
  std::vector<std::string> unused_patterns() const;

 private:
  const QuantizeOptions* options_ = nullptr;
  std::vector<std::regex> exclude_, overrides_;
  mutable std::vector<bool> exclude_used_, override_used_;
};

struct WeightPlan {
  size_t input = 1;
  WeightScheme scheme;
  int64_t channel_axis = 0;  // per channel: the output-channel axis of the weight
  int64_t block_axis = 1;    // per group: the reduction axis
};

struct NodePlan {
  ir::Node* node = nullptr;
  LayerConfig config;
  std::vector<size_t> activation_inputs;  // static: inputs quantized per tensor (Q/DQ)
  bool quantize_output = false;           // static: output 0 quantized (Q/DQ)
  std::optional<WeightPlan> weight;       // a constant weight (DequantizeLinear of ints)
  std::optional<size_t> bias;             // static: an int32 bias input (Conv / Gemm input 2)
  std::vector<size_t> constant_inputs;    // static Add/Mul: constants quantized with their range
};

struct ActivationPlan {
  std::string name;  // the value's name
  ActivationScheme scheme;
  std::string owner;  // node whose settings it took
  bool graph_input = false;
};

struct QuantPlan {
  std::vector<NodePlan> nodes;
  std::vector<ActivationPlan> activations;  // static only; graph order, unique
  std::vector<std::string> excluded;
  std::vector<std::string> warnings;
  const ActivationPlan* find_activation(const std::string& name) const;
};

Result<QuantPlan> make_plan(const ir::Graph& g, const QuantizeOptions& options);

// The observer settings for an activation.
ObserverOptions observer_options(const ActivationScheme& s, const QuantizeOptions& options);

// A regex matching exactly `name` (metacharacters escaped), for hints.
std::string regex_escape(const std::string& name);

}  // namespace condense::quant
