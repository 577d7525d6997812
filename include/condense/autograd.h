// Autograd: turns a forward graph with a scalar loss into a training graph that the ordinary
// Session runs. The backward pass is built from one gradient rule per op (src/ops/*_grad.cpp);
// backward-only ops live in the internal "com.condense.train" family (ops/train.inc).
//
//   using namespace condense;
//   // LeNet-5 with a cross-entropy loss on its logits.
//   Result<ir::Graph> g = zoo::build("lenet5");                   // input (N, 1, 28, 28), "logits"
//   ir::Value* labels = g->add_input("labels", DType::I64, {ir::Dim::sym("N")});
//   ir::Node* ce = g->add_node(OpKind::SoftmaxCrossEntropyLoss,
//                              {g->find_value("logits"), labels}, 1, "loss");
//   g->outputs = {ce->outputs[0]};
//
//   autograd::TrainingOptions opts;
//   opts.parameters = *autograd::select_parameters(*g, ".*");    // every float weight and bias
//   opts.extra_outputs = {"logits"};                               // for accuracy
//   auto tg = autograd::build_training_graph(std::move(*g), "loss", opts);
//   if (!tg) { /* tg.status().message() names the op or value at fault */ }
//
//   // Feeds: the data inputs plus the parameters' (and BN statistics') current values.
//   std::vector<Tensor> state = tg->initial_inputs();  // params then states; updated by the trainer
//   auto session = Session::create(std::move(tg->graph), {.threads = 2});
//   std::map<std::string, Tensor> feeds = tg->feeds(state);
//   feeds["input"] = images;                                        // (128, 1, 28, 28) f32
//   feeds["labels"] = targets;                                      // (128) i64
//   Result<std::vector<Tensor>> out = (*session)->run(feeds);
//   // (*out)[tg->loss_output] is the loss; (*out)[tg->params[i].grad_output] the gradient of
//   // parameter i (its shape and dtype); (*out)[tg->states[j].output] the updated BN statistic j,
//   // which the trainer feeds back as state[params.size() + j] on the next step.
//
// Graph contract (what an optimizer or trainer builds on):
//   inputs  = the forward graph's inputs, then one per parameter, then one per state (BN running
//             mean/var in training mode), then "dropout_seed" (I64 scalar) when the graph has
//             Dropout in training mode. Parameters are inputs, not constants, so constant
//             folding never touches them; frozen initializers stay constants.
//   outputs = the loss, one gradient per parameter (in `params` order), one update per state,
//             then `extra_outputs`.
// An optimizer step can be appended to the same graph: graph.inputs[p.input] is parameter p's
// value and graph.outputs[p.grad_output] its gradient; new outputs go after the existing ones.
// Gradients of values used several times are summed; values that do not lead to the loss or do
// not depend on a parameter get no gradient work (frozen branches, integer paths).
//
// Fused activations ("_activation" attributes, added by the fuse_activation load pass) are
// split back into separate nodes before differentiation, so a graph taken from an optimized
// Session works too. The training graph itself may be given to a Session with optimize = true:
// its load passes keep the meaning (activation gradients read the activation's output, so a
// Conv + Relu still fuses; batch-norm folding skips training-mode batch norm).
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace condense::autograd {

struct TrainingOptions {
  // Initializer names to train (float constants); see select_parameters.
  std::vector<std::string> parameters;
  // BatchNormalization uses batch statistics and updates its running statistics (ONNX
  // training_mode semantics: r' = r * momentum + batch * (1 - momentum), biased variance). False:
  // running statistics are frozen (gradients still flow through scale, bias and input). Nodes
  // that already have training_mode = 1 always train.
  bool batchnorm_training = true;
  // Dropout drops (seeded by the "dropout_seed" input). False: Dropout is the identity.
  bool dropout_training = true;
  // Forward values also returned as outputs, after the states (for example the logits).
  std::vector<std::string> extra_outputs;
};

struct Parameter {
  std::string name;      // the initializer's name, now a graph input
  Tensor initial;        // its value in the forward graph
  int input = -1;        // index among the training graph's inputs
  int grad_output = -1;  // index among its outputs
};

// State carried from step to step that is not trained: BatchNormalization running statistics.
struct State {
  std::string name;  // the initializer's name (graph input)
  Tensor initial;
  int input = -1;
  int output = -1;  // the updated value
};

struct TrainingGraph {
  ir::Graph graph;
  std::vector<std::string> data_inputs;  // the forward graph's inputs, by name
  std::vector<Parameter> params;
  std::vector<State> states;
  int loss_output = 0;
  int dropout_seed_input = -1;     // index of the I64 scalar seed input, -1 when absent
  std::vector<int> extra_outputs;  // indices of TrainingOptions::extra_outputs

  // Initial values of every parameter then every state, in that order.
  std::vector<Tensor> initial_inputs() const;
  // Name -> tensor feeds for params and states from `values` (initial_inputs() order).
  std::map<std::string, Tensor> feeds(const std::vector<Tensor>& values) const;
};

// Names of the float initializers whose name matches `pattern` (ECMAScript regex, matched
// against the whole name) and that feed a differentiable input of some node: weights and biases,
// never shape/index constants, Clip bounds, Dropout ratios or batch-norm running statistics.
// Error on an invalid pattern.
Result<std::vector<std::string>> select_parameters(const ir::Graph& g, std::string_view pattern);

// Builds the training graph for `loss` (a value of `forward` with one element and a float dtype).
// Errors: unknown loss or parameter names, a parameter that is not a float initializer, no
// parameters, and a node on the path from a parameter to the loss whose op has no gradient rule
// (the message names the node and op).
Result<TrainingGraph> build_training_graph(ir::Graph forward, std::string_view loss,
                                           const TrainingOptions& options);

}  // namespace condense::autograd
