#include "passes/pass.h"

namespace condense {

std::vector<std::unique_ptr<Pass>> default_load_passes() {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(make_remove_identity_pass());
  passes.push_back(make_fold_constants_pass());
  return passes;
}

Status run_passes(ir::Graph& g, std::vector<std::unique_ptr<Pass>>& passes, PassContext& ctx) {
  for (auto& p : passes) {
    auto changed = p->run(g, ctx);
    if (!changed) return changed.status().with_context(fmt::format("pass {}", p->name()));
    if (ctx.verify_after_each) {
      Status s = g.verify();
      if (!s) return s.with_context(fmt::format("graph invalid after pass {}", p->name()));
    }
  }
  return Status::ok();
}

}  // namespace condense
