// Graph passes: each rewrites the IR and says whether it changed anything. One pass per file,
// named by its effect. The verifier runs after every pass in debug builds and tests.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <memory>
#include <string_view>
#include <vector>

namespace condense {

struct PassContext {
  bool verify_after_each = false;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view name() const = 0;
  virtual Result<bool> run(ir::Graph& g, PassContext& ctx) = 0;
};

// The passes applied when a Session loads a graph with optimize = true, in order.
std::vector<std::unique_ptr<Pass>> default_load_passes();
// Runs passes in order; with verify_after_each, a verifier failure names the pass.
Status run_passes(ir::Graph& g, std::vector<std::unique_ptr<Pass>>& passes, PassContext& ctx);

// Individual passes (one file each).
std::unique_ptr<Pass> make_fold_constants_pass();
std::unique_ptr<Pass> make_remove_identity_pass();

}  // namespace condense
