// LayerBuilder: adds common layers (conv, gemm, batch norm, activations, pools, attention parts,
// ...) to an ir::Graph with seeded He/Kaiming-uniform weights, tracking every value's shape so the
// exported ONNX carries it. Layouts follow ONNX: activations (N, C, H, W), conv weights
// (K, C/groups, R, S), Gemm weights (out, in) with transB = 1 (as PyTorch's nn.Linear exports),
// MatMul weights of `linear` (in, out). The batch dimension may be symbolic; every other dimension
// is static. Only ops of ai.onnx opset 17 are used (Gelu is spelled with Erf).
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

struct ConvOptions {
  int64_t groups = 1;  // must divide both channel counts; groups == C: depthwise
  bool bias = true;    // false before a batch norm, whose shift makes a conv bias redundant
};

class LayerBuilder {
 public:
  LayerBuilder(ir::Graph& g, uint64_t seed) : g_(g), rng_(seed) {}

  ir::Value* input(const std::string& name, ir::Dims dims);
  // Names `v` `name` and appends it to the graph outputs.
  void output(ir::Value* v, const std::string& name);

  // x: (N, C, H, W) -> (N, cout, H', W'), square kernel, symmetric padding, weights
  // U(-sqrt(6 / fan_in), +) with fan_in = C / groups * kernel^2, bias U(-1/sqrt(fan_in), +).
  Result<ir::Value*> conv(ir::Value* x, int64_t cout, int64_t kernel, int64_t stride, int64_t pad,
                          const std::string& name, ConvOptions options = {});
  // BatchNormalization over channel axis 1 of (N, C, ...): initializers `name`.weight = 1,
  // .bias = 0, .running_mean = 0, .running_var = 1 (PyTorch's initial state and names),
  // epsilon 1e-5, momentum 0.9 (ONNX's running = momentum * running + (1 - momentum) * batch,
  // i.e. PyTorch's momentum 0.1).
  Result<ir::Value*> batch_norm(ir::Value* x, const std::string& name);
  // x: (N, in) -> (N, out) = x W^T + b; W (out, in) He-uniform with fan_in = in.
  Result<ir::Value*> gemm(ir::Value* x, int64_t out, const std::string& name);
  Result<ir::Value*> relu(ir::Value* x, const std::string& name);
  // Clip(x, lo, hi) with rank-0 bound constants `name`.min / .max: relu6 is clip(x, 0, 6).
  Result<ir::Value*> clip(ir::Value* x, float lo, float hi, const std::string& name);
  // x * 0.5 * (1 + erf(x / sqrt(2))): exact Gelu in opset-17 ops (Div, Erf, Add, Mul, Mul), the
  // pattern PyTorch exports below opset 20.
  Result<ir::Value*> gelu(ir::Value* x, const std::string& name);
  // x * s with a rank-0 constant `name`.scale.
  Result<ir::Value*> scale(ir::Value* x, float s, const std::string& name);
  // x: (N, ..., in) -> (N, ..., out) = MatMul(x, W) + b with W (in, out) and b (out);
  // W U(-sqrt(3 / in), +) (LeCun-uniform: unit gain, for layers not followed by a ReLU),
  // b U(-1/sqrt(in), +). Node names `name`.matmul and `name`.
  Result<ir::Value*> linear(ir::Value* x, int64_t out, const std::string& name);
  // Batched matrix product of a (..., m, k) and b (..., k, n), equal leading dimensions.
  Result<ir::Value*> matmul(ir::Value* a, ir::Value* b, const std::string& name);
  // LayerNormalization over the last axis (epsilon 1e-5), `name`.weight = 1, .bias = 0.
  Result<ir::Value*> layer_norm(ir::Value* x, const std::string& name);
  // Softmax along the last axis.
  Result<ir::Value*> softmax(ir::Value* x, const std::string& name);
  // Reshape to `dims`: dimension 0 stays the batch (written -1 when symbolic), the others static.
  Result<ir::Value*> reshape(ir::Value* x, std::vector<int64_t> dims_after_batch,
                             const std::string& name);
  // Transpose with `perm` (perm[0] must be 0: the batch stays first).
  Result<ir::Value*> transpose(ir::Value* x, std::vector<int64_t> perm, const std::string& name);
  // ReduceMean over `axes` (>= 1), keepdims 0.
  Result<ir::Value*> reduce_mean(ir::Value* x, std::vector<int64_t> axes, const std::string& name);
  // A learned constant of `shape` with U(-bound, bound) values (e.g. a positional embedding).
  ir::Value* parameter(const std::string& name, Shape shape, double bound);
  // a + b with b of a's shape or of a's trailing dimensions (broadcast over the leading ones).
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
  // U(-gain * sqrt(3 / fan_in), +): gain sqrt(2) is He/Kaiming-uniform (ReLU layers), 1 LeCun.
  ir::Value* he_uniform(const std::string& name, Shape shape, int64_t fan_in,
                        double gain = 1.4142135623730951);
  ir::Value* filled(const std::string& name, Shape shape, float value);
  ir::Value* f32_scalar(const std::string& name, float value);
  ir::Value* bias_uniform(const std::string& name, int64_t n, int64_t fan_in);
  ir::Value* i64_constant(const std::string& name, std::vector<int64_t> values);

  ir::Graph& g_;
  Rng rng_;
};

}  // namespace condense::zoo
