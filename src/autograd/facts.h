// Static facts about the values of a graph (dtype, rank, which dims are static) for the autograd
// builder: shape inference runs twice with the symbolic dims bound to 2 and to 3; small values
// (shape arithmetic) are evaluated with the reference kernels on the way.
#pragma once

#include <condense/ir.h>

#include "ops/grad.h"

namespace condense::autograd_internal {

// Facts for every value the inference reached; values it could not type are absent.
FactsMap compute_facts(const ir::Graph& g);

}  // namespace condense::autograd_internal
