// ONNX in and out. Import normalizes every opset version (7..21) of an op to one canonical
// meaning (the newest form: e.g. Squeeze axes and Clip bounds become inputs); export writes valid
// ONNX at opset max(model's, 13), turning canonical forms back where the target opset needs it.
//
//   auto g = condense::onnx::import_file("model.onnx");
//   if (!g) return fail(g.status());
//   CONDENSE_TRY(condense::onnx::export_file(*g, "out.onnx"));   // atomic write
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <string>
#include <string_view>

namespace condense::onnx {

// `base_dir` resolves external-data locations (the model file's directory for import_file).
Result<ir::Graph> import_file(const std::string& path);
Result<ir::Graph> import_bytes(std::string_view bytes, const std::string& base_dir = "");

struct ExportOptions {
  int64_t opset = 0;  // 0: max(the model's ai.onnx opset, 13)
};
Result<std::string> export_bytes(const ir::Graph& g, const ExportOptions& options = {});
// Writes to a temporary file beside `path` and renames it into place.
Status export_file(const ir::Graph& g, const std::string& path, const ExportOptions& options = {});

// The ONNX checker (libonnx 1.12, opsets up to 17): ok, or the checker's message.
Status check_model_bytes(std::string_view bytes);
// The highest ai.onnx opset the bundled checker knows.
int64_t checker_max_opset();

// TensorProto (.pb) files, as the ONNX test data uses.
Result<Tensor> read_tensor_pb(const std::string& path);
Result<Tensor> parse_tensor_pb(std::string_view bytes, std::string* name = nullptr);
Result<std::string> serialize_tensor_pb(const Tensor& t, const std::string& name);
Status write_tensor_pb(const std::string& path, const Tensor& t, const std::string& name);

}  // namespace condense::onnx
