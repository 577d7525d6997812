// Forward-graph rewrites the autograd builder applies before differentiating (rewrite.cpp).
#pragma once

#include <condense/autograd.h>
#include <condense/ir.h>

namespace condense::autograd_internal {

using autograd::TrainingGraph;
using autograd::TrainingOptions;

// Splits "_activation" attributes (fuse_activation pass) back into activation nodes.
Status unfuse_activations(ir::Graph& g);

// Turns the named initializers into graph inputs (appended to g.inputs), recording them in
// tg.params (input index set; grad_output later).
Status parameters_to_inputs(ir::Graph& g, const std::vector<std::string>& names, TrainingGraph& tg);

// BatchNormalization in training mode -> BatchNormTraining, running statistics becoming state
// inputs (tg.states; output values in `state_values`, in tg.states order). Dropout ->
// DropoutTrain with a seed input, or removed (identity) when dropout_training is false.
Status convert_training_modes(ir::Graph& g, const TrainingOptions& options, TrainingGraph& tg,
                              std::vector<ir::Value*>& state_values);

}  // namespace condense::autograd_internal
