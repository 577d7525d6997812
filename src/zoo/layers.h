// LayerBuilder: adds common layers (conv, gemm, relu, pools, flatten, ...) to an ir::Graph with
// seeded He/Kaiming-uniform weights, tracking every value's shape so the exported ONNX carries it.
// Layouts follow ONNX: activations (N, C, H, W), conv weights (K, C, R, S), Gemm weights (out, in)
// with transB = 1 (as PyTorch's nn.Linear exports). The batch dimension may be symbolic; every
// other dimension is static.
//
//   ir::Graph g;
//   zoo::LayerBuilder b(g, /*seed=*/0);
//   ir::Value* x = b.input("input", {ir::Dim::sym("N"), 1, 28, 28});
//   CONDENSE_ASSIGN_OR_RETURN(x, b.conv(x, 20, 5, 1, 0, "conv1"));
//   CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));
//   CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc"));
//   b.output(x, "logits");
#pragma once

#include <condense/ir.h>
#include <condense/status.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace condense::zoo {

// splitmix64: a tiny generator whose sequence is fixed by its seed on every platform (the
// standard library's distributions are not specified bit-exactly).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();  // [0, 1), 53 random bits
 private:
  uint64_t state_;
};

class LayerBuilder {
 public:
  LayerBuilder(ir::Graph& g, uint64_t seed) : g_(g), rng_(seed) {}

  ir::Value* input(const std::string& name, ir::Dims dims);
  // Names `v` `name` and appends it to the graph outputs.
  void output(ir::Value* v, const std::string& name);

  // x: (N, C, H, W) -> (N, cout, H', W'), square kernel, symmetric padding, weights
  // U(-sqrt(6 / fan_in), +) with fan_in = C * kernel^2, bias U(-1/sqrt(fan_in), +).
  Result<ir::Value*> conv(ir::Value* x, int64_t cout, int64_t kernel, int64_t stride, int64_t pad,
                          const std::string& name);
  // x: (N, in) -> (N, out) = x W^T + b; W (out, in) He-uniform with fan_in = in.
  Result<ir::Value*> gemm(ir::Value* x, int64_t out, const std::string& name);
  Result<ir::Value*> relu(ir::Value* x, const std::string& name);
  Result<ir::Value*> add(ir::Value* a, ir::Value* b, const std::string& name);
  // Square window, no padding, floor rounding.
  Result<ir::Value*> max_pool(ir::Value* x, int64_t kernel, int64_t stride,
                              const std::string& name);
  // (N, C, H, W) -> (N, C, 1, 1)
  Result<ir::Value*> global_average_pool(ir::Value* x, const std::string& name);
  // (N, d1, d2, ...) -> (N, d1 * d2 * ...)
  Result<ir::Value*> flatten(ir::Value* x, const std::string& name);
  // ResNet option-A shortcut: x[:, :, ::stride, ::stride] (Slice), then `pad_channels` zero
  // channels before and after (Pad): (N, C, H, W) -> (N, C + 2 pad, ceil(H/s), ceil(W/s)).
  Result<ir::Value*> subsample_pad_channels(ir::Value* x, int64_t stride, int64_t pad_channels,
                                            const std::string& name);

 private:
  // A node of the ONNX op `onnx_type` with one output named `name` of shape `out_dims`; an error
  // when this build's op catalog does not have the op.
  Result<ir::Value*> node(std::string_view onnx_type, std::vector<ir::Value*> inputs,
                          const std::string& name, ir::Dims out_dims);
  ir::Value* he_uniform(const std::string& name, Shape shape, int64_t fan_in);
  ir::Value* bias_uniform(const std::string& name, int64_t n, int64_t fan_in);
  ir::Value* i64_constant(const std::string& name, std::vector<int64_t> values);

  ir::Graph& g_;
  Rng rng_;
};

}  // namespace condense::zoo
