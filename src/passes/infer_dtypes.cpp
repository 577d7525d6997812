// Sets every value's dtype from the ops' inference (annotate_dtypes, ops/infer.h). An ONNX file
// declares the dtypes of its inputs, outputs and initializers but rarely of the values in
// between, which the importer leaves at f32; kernel factories choose by declared dtype (a bf16
// pooling kernel for a bf16 input), so a half-precision or integer model would otherwise get f32
// kernels that fall back to the reference at run time while `condense info --kernels` named the
// fast one. Shapes are not changed.
#include <vector>

#include "ops/infer.h"
#include "passes/pass.h"

namespace condense {

namespace {

class InferDtypesPass final : public Pass {
 public:
  std::string_view name() const override { return "infer_dtypes"; }

  Result<bool> run(ir::Graph& g, PassContext&) override {
    std::vector<DType> before;
    for (const auto& v : g.values()) before.push_back(v->dtype);
    annotate_dtypes(g);
    for (size_t i = 0; i < before.size(); ++i)
      if (g.values()[i]->dtype != before[i]) return true;
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_infer_dtypes_pass() {
  return std::make_unique<InferDtypesPass>();
}

}  // namespace condense
