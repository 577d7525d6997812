// condense's graph IR: a Graph owns Values (typed edges, optionally constant) and Nodes (ops with
// attributes). Node attributes and input order follow the newest ONNX opset's meaning of the op:
// the importer normalizes every opset version to it, so nothing downstream looks at versions.
//
//   condense::ir::Graph g;
//   auto* x = g.add_input("x", condense::DType::F32, {condense::ir::Dim::sym("N"), 784});
//   auto* w = g.add_constant("w", condense::Tensor::zeros(condense::DType::F32, {784, 10}));
//   auto* y = g.add_node(condense::OpKind::MatMul, {x, w}, 1, "fc")->outputs[0];
//   g.outputs.push_back(y);
//   CONDENSE_CHECK(g.verify().is_ok());
#pragma once

#include <condense/ops.h>
#include <condense/status.h>
#include <condense/tensor.h>

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace condense::ir {

class Graph;
struct Node;

// One dimension: a static size (value >= 0) or a symbol (value == -1, `symbol` may be empty when
// the dimension is simply unknown).
struct Dim {
  int64_t value = -1;
  std::string symbol;
  Dim() = default;
  Dim(int64_t v) : value(v) {}  // NOLINT: implicit from an integer
  static Dim sym(std::string s) {
    Dim d;
    d.symbol = std::move(s);
    return d;
  }
  bool is_static() const { return value >= 0; }
  bool operator==(const Dim&) const = default;
};
using Dims = std::vector<Dim>;
std::string dims_str(const Dims& dims);  // "[N, 3, 32, 32]"

struct Value {
  std::string name;
  DType dtype = DType::F32;
  bool has_shape = false;  // false: rank unknown
  Dims dims;
  Node* producer = nullptr;       // nullptr for graph inputs and constants
  std::optional<Tensor> constant;  // set for initializers / folded constants
  bool is_constant() const { return constant.has_value(); }
};

struct Attribute {
  enum class Kind { Int, Float, String, Tensor, Graph, Ints, Floats, Strings };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::string s;
  condense::Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;

  static Attribute of_int(int64_t v);
  static Attribute of_float(float v);
  static Attribute of_string(std::string v);
  static Attribute of_ints(std::vector<int64_t> v);
  static Attribute of_floats(std::vector<float> v);
  static Attribute of_strings(std::vector<std::string> v);
  static Attribute of_tensor(condense::Tensor v);
  static Attribute of_graph(std::shared_ptr<Graph> v);
};

struct Node {
  OpKind op = OpKind::Identity;
  std::string name;
  std::vector<Value*> inputs;  // nullptr for an omitted optional input
  std::vector<Value*> outputs;  // nullptr for an omitted optional output
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  const Attribute* attr(const std::string& key) const;
  // Input i if present (non-null), else nullptr.
  Value* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs.size() ? outputs[i] : nullptr; }
  // "'conv1' (Conv)" for error messages.
  std::string describe() const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  std::string name;
  std::vector<Value*> inputs;   // graph inputs, not constants
  std::vector<Value*> outputs;
  // Opset versions of the imported model per domain ("" is ai.onnx); export uses them as a floor.
  std::map<std::string, int64_t> opset_imports;
  std::string producer_name;
  std::map<std::string, std::string> metadata;

  Value* add_value(std::string name, DType dtype = DType::F32);
  Value* add_input(std::string name, DType dtype, Dims dims);
  Value* add_constant(std::string name, Tensor t);
  // Creates a node with `num_outputs` fresh output values named "<name>_out<i>" (or "<name>" for
  // a single output) and appends it to the node list.
  Node* add_node(OpKind op, std::vector<Value*> inputs, int num_outputs, std::string name = "");
  // Appends a node whose outputs are given; sets their producer.
  Node* add_node_with_outputs(OpKind op, std::vector<Value*> inputs, std::vector<Value*> outputs,
                              std::string name = "");

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }
  Value* find_value(const std::string& name) const;
  // Nodes in an order where every producer precedes its consumers; error on a cycle.
  Result<std::vector<Node*>> topological_order() const;
  // Re-sorts the node list topologically.
  Status sort();
  // Removes nodes whose outputs are unused and values nothing references.
  void remove_dead();
  // Replaces every use of `from` (node inputs and graph outputs) with `to`.
  void replace_uses(Value* from, Value* to);
  void remove_node(Node* n);
  // Unique name with the given prefix.
  std::string fresh_name(const std::string& prefix);
  // Structural checks: every input defined, single producer, acyclic, arities within the op's
  // catalog bounds, constant shapes matching their declared shapes.
  Status verify() const;

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  int64_t name_counter_ = 0;
};

// Text form for tests and `condense info --graph`:
//   graph main (x: f32[N, 784]) -> (y: f32[N, 10])
//     %fc = MatMul(%x, %w)
std::string print_graph(const Graph& g);

}  // namespace condense::ir
