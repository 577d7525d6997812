// A deep copy of a graph: new Values and Nodes with the same names, attributes and order;
// constants are deep-copied too (Tensor::clone), so passes run on the copy (batch-norm folding,
// weight updates) never touch the original. Subgraph attributes (If/Loop bodies) stay shared:
// nothing mutates them in place.
#pragma once

#include <condense/ir.h>

namespace condense::ir {

Graph clone_graph(const Graph& g);

}  // namespace condense::ir
