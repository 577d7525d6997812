// tiny-transformer: a pre-norm ViT-style encoder for (N, 1, 28, 28) images (zoo.h has the
// architecture and its parameter count). Attention is spelled out with MatMul, Softmax,
// Reshape and Transpose, so every op is ai.onnx opset 17.
#include <fmt/format.h>

#include <cmath>

#include "zoo/models.h"

namespace condense::zoo {

namespace {

constexpr int64_t kPatch = 7;     // 28x28 -> 4x4 patches of 7x7 pixels
constexpr int64_t kTokens = 16;   // (28 / 7)^2
constexpr int64_t kDim = 64;      // embedding width
constexpr int64_t kHeads = 4;     // head width kDim / kHeads = 16
constexpr int64_t kHidden = 128;  // MLP width
constexpr int kLayers = 2;

// Multi-head self-attention on x (N, T, D) -> (N, T, D).
Result<ir::Value*> attention(LayerBuilder& b, ir::Value* x, const std::string& name) {
  constexpr int64_t head = kDim / kHeads;
  // q, v: (N, T, D) -> (N, T, H, d) -> (N, H, T, d); k -> (N, H, d, T).
  auto heads = [&](const std::string& which, std::vector<int64_t> perm) -> Result<ir::Value*> {
    std::string n = name + "." + which;
    CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, b.linear(x, kDim, n));
    CONDENSE_ASSIGN_OR_RETURN(y, b.reshape(y, {kTokens, kHeads, head}, n + ".split"));
    return b.transpose(y, std::move(perm), n + ".heads");
  };
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * q, heads("q", {0, 2, 1, 3}));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * k, heads("k", {0, 2, 3, 1}));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * v, heads("v", {0, 2, 1, 3}));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * s, b.matmul(q, k, name + ".scores"));  // (N, H, T, T)
  CONDENSE_ASSIGN_OR_RETURN(
      s, b.scale(s, static_cast<float>(1.0 / std::sqrt(double(head))), name + ".scaled"));
  CONDENSE_ASSIGN_OR_RETURN(s, b.softmax(s, name + ".softmax"));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * c, b.matmul(s, v, name + ".context"));  // (N, H, T, d)
  CONDENSE_ASSIGN_OR_RETURN(c, b.transpose(c, {0, 2, 1, 3}, name + ".merge"));  // (N, T, H, d)
  CONDENSE_ASSIGN_OR_RETURN(c, b.reshape(c, {kTokens, kDim}, name + ".concat"));
  return b.linear(c, kDim, name + ".out");
}

}  // namespace

Status build_tiny_transformer(LayerBuilder& b, ir::Value* x, const ZooOptions&) {
  // (N, 1, 28, 28) -> (N, 1, 4, 7, 4, 7) -> (N, 4, 4, 1, 7, 7) -> (N, 16, 49): token t = 4 * row
  // + column of its patch, features in the patch's row-major pixel order.
  const int64_t grid = 28 / kPatch;
  CONDENSE_ASSIGN_OR_RETURN(x, b.reshape(x, {1, grid, kPatch, grid, kPatch}, "patch.grid"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.transpose(x, {0, 2, 4, 1, 3, 5}, "patch.order"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.reshape(x, {kTokens, kPatch * kPatch}, "patch.tokens"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.linear(x, kDim, "embed"));  // (N, 16, 64)
  ir::Value* pos = b.parameter("pos_embed", {kTokens, kDim}, 0.02);
  CONDENSE_ASSIGN_OR_RETURN(x, b.add(x, pos, "embed.pos"));
  for (int l = 0; l < kLayers; ++l) {
    std::string n = fmt::format("layer{}", l);
    CONDENSE_ASSIGN_OR_RETURN(ir::Value * h, b.layer_norm(x, n + ".ln1"));
    CONDENSE_ASSIGN_OR_RETURN(h, attention(b, h, n + ".attn"));
    CONDENSE_ASSIGN_OR_RETURN(x, b.add(x, h, n + ".add1"));
    CONDENSE_ASSIGN_OR_RETURN(h, b.layer_norm(x, n + ".ln2"));
    CONDENSE_ASSIGN_OR_RETURN(h, b.linear(h, kHidden, n + ".mlp.fc1"));
    CONDENSE_ASSIGN_OR_RETURN(h, b.gelu(h, n + ".mlp.gelu"));
    CONDENSE_ASSIGN_OR_RETURN(h, b.linear(h, kDim, n + ".mlp.fc2"));
    CONDENSE_ASSIGN_OR_RETURN(x, b.add(x, h, n + ".add2"));
  }
  CONDENSE_ASSIGN_OR_RETURN(x, b.layer_norm(x, "ln_final"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.reduce_mean(x, {1}, "pool"));  // mean over tokens: (N, 64)
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc"));
  b.output(x, "logits");
  return Status::ok();
}

}  // namespace condense::zoo
