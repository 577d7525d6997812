// condense convert model.onnx -o out.onnx: import -> IR -> export. The output passes the ONNX
// checker (when its opset is one the bundled checker knows) and is re-imported to confirm it
// round-trips.
#include <condense/file.h>
#include <condense/onnx.h>

#include "commands.h"

namespace condense::cli {

namespace {
struct ConvertArgs {
  std::string input, output;
  int64_t opset = 0;
  bool no_check = false;
};

int run_convert(const ConvertArgs& a) {
  auto g = onnx::import_file(a.input);
  if (!g) return fail(g.status());
  onnx::ExportOptions opts;
  opts.opset = a.opset;
  auto bytes = onnx::export_bytes(*g, opts);
  if (!bytes) return fail(bytes.status());
  auto again = onnx::import_bytes(*bytes, ".");
  if (!again)
    return fail(again.status().with_context("internal: the exported model does not re-import"));
  if (!a.no_check) {
    Status ok = onnx::check_model_bytes(*bytes);
    auto exported_opset = again->opset_imports[""];
    if (exported_opset <= onnx::checker_max_opset() && !ok) return fail(ok);
  }
  Status w = write_file_atomic(a.output, *bytes, a.input);
  if (!w) return fail(w);
  fmt::print("wrote {} ({} bytes, {} nodes, opset {})\n", a.output, bytes->size(),
             again->nodes().size(), again->opset_imports[""]);
  return 0;
}
}  // namespace

Command make_convert_command() {
  return {"convert", [](CLI::App& app) -> std::function<int()> {
            auto args = std::make_shared<ConvertArgs>();
            auto* sub = app.add_subcommand("convert", "import an ONNX model and write it back out");
            sub->add_option("model", args->input, "input .onnx")->required();
            sub->add_option("-o,--output", args->output, "output .onnx")->required();
            sub->add_option("--opset", args->opset,
                            "target ai.onnx opset (default: max(model's, 13))");
            sub->add_flag("--no-check", args->no_check, "skip the ONNX checker");
            return [args] { return run_convert(*args); };
          }};
}

}  // namespace condense::cli
