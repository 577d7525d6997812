// Test helper: runs one node, whose inputs are all graph inputs, through a Session (reference
// kernels' meaning, no load passes). The node is named "n".
#pragma once

#include <condense/ir.h>
#include <condense/session.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace condense::test {

// `inputs`: nullopt for an omitted optional input.
inline Result<std::vector<Tensor>> run_node(OpKind op,
                                            const std::vector<std::optional<Tensor>>& inputs,
                                            std::map<std::string, ir::Attribute> attrs = {},
                                            int num_outputs = 1) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Dims dims(inputs[i]->shape().begin(), inputs[i]->shape().end());
    ins.push_back(g.add_input("in" + std::to_string(i), inputs[i]->dtype(), dims));
    feeds.push_back(*inputs[i]);
  }
  ir::Node* n = g.add_node(op, ins, num_outputs, "n");
  n->attrs = std::move(attrs);
  for (ir::Value* v : n->outputs) g.outputs.push_back(v);
  auto s = Session::create(std::move(g), {.threads = 1, .optimize = false});
  if (!s) return s.status();
  return (*s)->run(feeds);
}

}  // namespace condense::test
