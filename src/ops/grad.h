// Gradient rules: what each differentiable op MEANS for the backward pass. One rule per op,
// `Status grad_<Op>(GradCtx&)` in src/ops/<family>_grad.cpp, listed once in src/ops/grad_rules.inc
// with the input slots it differentiates. The autograd builder (src/autograd/) calls a node's
// rule with the gradients of its outputs and the set of inputs that need one; the rule appends
// backward nodes to the graph through the helpers below and sets ctx.dx[i].
//
//   // y = x * w: dx = dy * w, dw = dy * x (each summed back over broadcast dims).
//   Status grad_Mul(GradCtx& ctx) {
//     ir::Value* dy = ctx.dy(0);
//     if (ctx.wants(0)) ctx.dx[0] = ctx.sum_to(ctx.op(OpKind::Mul, {dy, ctx.in(1)}), ctx.out(0),
//     ctx.in(0)); if (ctx.wants(1)) ctx.dx[1] = ctx.sum_to(ctx.op(OpKind::Mul, {dy, ctx.in(0)}),
//     ctx.out(0), ctx.in(1)); return Status::ok();
//   }
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <array>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace condense {

// What the builder knows statically about a forward value. Shapes come from two inference runs
// with symbolic dimensions bound to two different sizes: a dim equal in both runs is static.
struct ValueFacts {
  DType dtype = DType::F32;
  bool dtype_known = false;
  bool shape_known = false;  // both runs inferred a shape of the same rank
  std::array<Shape, 2> probe;

  int64_t rank() const { return shape_known ? static_cast<int64_t>(probe[0].size()) : -1; }
  // Dim d when static in both runs, else -1.
  int64_t static_dim(int64_t d) const {
    return shape_known && probe[0][d] == probe[1][d] ? probe[0][d] : -1;
  }
  // True when both runs gave the same shape to `a` and `b` (then they agree for every size).
  static bool same_shape(const ValueFacts& a, const ValueFacts& b) {
    return a.shape_known && b.shape_known && a.probe == b.probe;
  }
};
using FactsMap = std::unordered_map<const ir::Value*, ValueFacts>;

// Shared state of one backward construction: names in use and cached Shape nodes.
struct GradBuildState {
  ir::Graph& graph;
  const FactsMap& facts;
  std::unordered_set<std::string> names;
  std::unordered_map<const ir::Value*, ir::Value*> shapes;  // value -> its Shape node's output
  std::string fresh(const std::string& prefix);
};

using Attrs = std::map<std::string, ir::Attribute>;

struct GradCtx {
  GradBuildState& state;
  ir::Node& node;                     // the forward node (a rule may add optional outputs)
  std::span<ir::Value* const> grads;  // per output: its gradient, nullptr when none flows
  std::span<const bool> needed;       // per input: whether it needs a gradient
  std::vector<ir::Value*>& dx;        // per input: set by the rule where needed

  ir::Value* in(size_t i) const { return node.input(i); }
  ir::Value* out(size_t i) const { return node.output(i); }
  ir::Value* dy(size_t i) const { return i < grads.size() ? grads[i] : nullptr; }
  bool wants(size_t i) const { return i < needed.size() && needed[i]; }

  // Facts about a forward value (dtype F32 and unknown shape when the builder knows nothing).
  const ValueFacts& facts(const ir::Value* v) const;
  DType dtype(const ir::Value* v) const { return facts(v).dtype; }

  // Appends a node of `op` on `inputs` (nullptr for omitted ones) and returns its outputs.
  std::vector<ir::Value*> ops(OpKind op, std::vector<ir::Value*> inputs, int num_outputs,
                              Attrs attrs = {});
  ir::Value* op(OpKind op, std::vector<ir::Value*> inputs, Attrs attrs = {}) {
    return ops(op, std::move(inputs), 1, std::move(attrs))[0];
  }
  // The forward node's attributes, minus `drop`, for a backward op that shares their meaning.
  Attrs node_attrs(std::initializer_list<std::string_view> drop = {}) const;

  ir::Value* scalar(DType t, double v);     // 0-D constant
  ir::Value* ints(std::vector<int64_t> v);  // 1-D I64 constant
  ir::Value* shape_of(ir::Value* v);        // Shape(v), one node per value
  ir::Value* zeros_like(ir::Value* v);      // zeros of v's shape and dtype
  // `g` (shaped like forward value `g_like`) summed back to the shape of `target` over the
  // broadcast dims; `g` itself when both are statically the same shape.
  ir::Value* sum_to(ir::Value* g, const ir::Value* g_like, ir::Value* target);

  // Error naming the forward node: "node 'conv1' (Conv): gradient: <message>".
  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::error(fmt::format("node {}: gradient: {}", node.describe(),
                                     fmt::format(f, std::forward<Args>(args)...)));
  }
};

using GradFn = Status (*)(GradCtx&);

// An op's gradient rule and the input slots it differentiates (bit i: input i; kAllInputs for
// variadic ops). Inputs outside the mask (shapes, indices, Clip bounds, running statistics)
// never receive a gradient and are never selected as trainable.
struct GradRule {
  GradFn fn = nullptr;
  uint64_t inputs = 0;
  bool differentiates(size_t i) const { return i < 64 && ((inputs >> i) & 1u) != 0; }
};
inline constexpr uint64_t kAllInputs = ~uint64_t{0};

// The rule of `op`, or nullptr when the op has none (src/ops/grad_rules.inc).
const GradRule* grad_rule(OpKind op);

}  // namespace condense
