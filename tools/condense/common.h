// Helpers shared by the CLI's subcommands: loading models and tensors, checking feeds against a
// model's declared inputs, output file names.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <map>
#include <string>
#include <vector>

namespace condense::cli {

// A failure with an optional hint line, for commands to hand to fail().
struct Failure {
  Status status;
  std::string hint;
};

// Imports a model file; on failure fills `hint` with a likely fix when one is known.
Result<ir::Graph> load_model(const std::string& path, std::string* hint);

// A tensor from a .npy, .npz (exactly one member, or `member`) or TensorProto .pb file, told
// apart by their first bytes.
Result<Tensor> read_tensor_file(const std::string& path, const std::string& member = "");

// Resolves `-i` specs against the model's inputs:
//   name=file.npy | name=file.pb | name=file.npz[:member] | file.npz (every member, by name)
//   | file.npy (single-input models only).
// Returns the feeds by input name and the files they came from (for overwrite protection).
Result<std::map<std::string, Tensor>> load_feeds(const ir::Graph& g,
                                                 const std::vector<std::string>& specs,
                                                 std::vector<std::string>* files_read,
                                                 std::string* hint);

// Checks every graph input is fed with the declared dtype and a shape that fits its dims.
Status check_feeds(const ir::Graph& g, const std::map<std::string, Tensor>& feeds);

// "f32[N, 3, 32, 32]"
std::string value_type_str(const ir::Value& v);
// A file-name-safe version of a tensor name: [A-Za-z0-9._-] kept, the rest '_', never empty,
// never starting with '.'.
std::string sanitize_file_name(const std::string& name);
// The first `max` values, "[0.1, 0.2, ...]".
std::string preview_values(const Tensor& t, int max = 6);
// "1x3x32x32" -> {1, 3, 32, 32}.
Result<Shape> parse_shape(const std::string& text);
// "2s", "500ms", "1.5" (seconds) -> seconds.
Result<double> parse_duration(const std::string& text);

}  // namespace condense::cli
