#include "train/model_io.h"

#include <fmt/format.h>

namespace condense::train {

namespace {

std::string names(const std::vector<ir::Value*>& vs) {
  std::string s;
  for (const ir::Value* v : vs) s += (s.empty() ? "'" : ", '") + v->name + "'";
  return s.empty() ? "none" : s;
}

}  // namespace

Result<ModelIo> resolve_model_io(ir::Graph& g, const std::string& input,
                                 const std::string& output) {
  ModelIo io;
  if (!input.empty()) {
    for (ir::Value* v : g.inputs)
      if (v->name == input) io.input = v;
    if (!io.input)
      return Status::errorf("model has no input '{}' (inputs: {})", input, names(g.inputs));
  } else {
    std::vector<ir::Value*> floats;
    for (ir::Value* v : g.inputs)
      if (dtype_is_float(v->dtype)) floats.push_back(v);
    if (floats.size() != 1 || g.inputs.size() != 1)
      return Status::errorf(
          "model has {} inputs ({}); a classifier takes one: name it with --input", g.inputs.size(),
          names(g.inputs));
    io.input = floats[0];
  }
  if (!dtype_is_float(io.input->dtype))
    return Status::errorf("model input '{}' is {}, not a float tensor of samples", io.input->name,
                          dtype_name(io.input->dtype));
  if (!io.input->has_shape || io.input->dims.size() < 2)
    return Status::errorf("model input '{}' has shape {}: a classifier needs (N, ...) samples",
                          io.input->name,
                          io.input->has_shape ? ir::dims_str(io.input->dims) : "unknown");
  for (size_t i = 0; i < io.input->dims.size(); ++i) {
    const ir::Dim& d = io.input->dims[i];
    io.input_dims.push_back(i == 0 || !d.is_static() ? -1 : d.value);
  }
  if (io.input->dims[0].is_static()) io.fixed_batch = io.input->dims[0].value;

  if (g.outputs.empty()) return Status::error("model has no outputs");
  if (!output.empty()) {
    for (ir::Value* v : g.outputs)
      if (v->name == output) io.output = v;
    if (!io.output)
      return Status::errorf("model has no output '{}' (outputs: {})", output, names(g.outputs));
  } else {
    io.output = g.outputs[0];
  }
  const ir::Value* o = io.output;
  if (!dtype_is_float(o->dtype) || !o->has_shape || o->dims.size() != 2 ||
      !o->dims[1].is_static() || o->dims[1].value < 2)
    return Status::errorf(
        "model output '{}' is {}{}: a classifier's logits are float (N, C) with a static class "
        "count C >= 2",
        o->name, dtype_name(o->dtype), o->has_shape ? ir::dims_str(o->dims) : "[unknown shape]");
  io.num_classes = o->dims[1].value;
  return io;
}

}  // namespace condense::train
