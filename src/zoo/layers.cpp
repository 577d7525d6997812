#include "zoo/layers.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace condense::zoo {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

namespace {

// The static size of dimension i of `x` (i >= 1: batch may be symbolic), or an error.
Result<int64_t> static_dim(const ir::Value* x, size_t i, const std::string& layer) {
  if (!x->has_shape || i >= x->dims.size())
    return Status::errorf("layer '{}': input '{}' has shape {}, needs rank > {}", layer, x->name,
                          x->has_shape ? ir::dims_str(x->dims) : "unknown", i);
  if (!x->dims[i].is_static())
    return Status::errorf("layer '{}': dimension {} of '{}' must be static (got {})", layer, i,
                          x->name, ir::dims_str(x->dims));
  return x->dims[i].value;
}

Status expect_rank(const ir::Value* x, size_t rank, const std::string& layer) {
  if (!x->has_shape || x->dims.size() != rank)
    return Status::errorf("layer '{}': input '{}' must have rank {} (got {})", layer, x->name, rank,
                          x->has_shape ? ir::dims_str(x->dims) : "unknown shape");
  return Status::ok();
}

// Output size of a window of `kernel` over `in` (+ 2 pad) with `stride`, floor rounding.
Result<int64_t> window_out(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                           const std::string& layer) {
  if (kernel < 1 || stride < 1 || pad < 0)
    return Status::errorf("layer '{}': kernel {} and stride {} must be >= 1, pad {} >= 0", layer,
                          kernel, stride, pad);
  if (in + 2 * pad < kernel)
    return Status::errorf("layer '{}': window {} does not fit input size {} (pad {})", layer,
                          kernel, in, pad);
  return (in + 2 * pad - kernel) / stride + 1;
}

}  // namespace

ir::Value* LayerBuilder::input(const std::string& name, ir::Dims dims) {
  return g_.add_input(name, DType::F32, std::move(dims));
}

void LayerBuilder::output(ir::Value* v, const std::string& name) {
  v->name = name;
  g_.outputs.push_back(v);
}

Result<ir::Value*> LayerBuilder::node(std::string_view onnx_type, std::vector<ir::Value*> inputs,
                                      const std::string& name, ir::Dims out_dims) {
  std::optional<OpKind> op = op_from_onnx("", onnx_type);
  if (!op)
    return Status::errorf("layer '{}': op {} is not in this build's op catalog", name, onnx_type);
  ir::Value* y = g_.add_node(*op, std::move(inputs), 1, name)->outputs[0];
  y->dtype = DType::F32;
  y->has_shape = true;
  y->dims = std::move(out_dims);
  return y;
}

ir::Value* LayerBuilder::he_uniform(const std::string& name, Shape shape, int64_t fan_in,
                                    double gain) {
  return parameter(name, std::move(shape), gain * std::sqrt(3.0 / static_cast<double>(fan_in)));
}

ir::Value* LayerBuilder::parameter(const std::string& name, Shape shape, double bound) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<float>((2.0 * rng_.uniform() - 1.0) * bound);
  return g_.add_constant(name, std::move(t));
}

ir::Value* LayerBuilder::filled(const std::string& name, Shape shape, float value) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return g_.add_constant(name, std::move(t));
}

ir::Value* LayerBuilder::f32_scalar(const std::string& name, float value) {
  return g_.add_constant(name, Tensor::scalar<float>(value));
}

ir::Value* LayerBuilder::bias_uniform(const std::string& name, int64_t n, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  Tensor t = Tensor::empty(DType::F32, {n});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((2.0 * rng_.uniform() - 1.0) * bound);
  return g_.add_constant(name, std::move(t));
}

ir::Value* LayerBuilder::i64_constant(const std::string& name, std::vector<int64_t> values) {
  int64_t n = static_cast<int64_t>(values.size());
  return g_.add_constant(name, Tensor::from_vector<int64_t>(values, {n}));
}

Result<ir::Value*> LayerBuilder::conv(ir::Value* x, int64_t cout, int64_t kernel, int64_t stride,
                                      int64_t pad, const std::string& name, ConvOptions options) {
  CONDENSE_TRY(expect_rank(x, 4, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t cin, static_dim(x, 1, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t h, static_dim(x, 2, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t w, static_dim(x, 3, name));
  if (cout < 1)
    return Status::errorf("layer '{}': output channels must be >= 1 (got {})", name, cout);
  CONDENSE_ASSIGN_OR_RETURN(int64_t ho, window_out(h, kernel, stride, pad, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t wo, window_out(w, kernel, stride, pad, name));
  const int64_t groups = options.groups;
  if (groups < 1 || cin % groups != 0 || cout % groups != 0)
    return Status::errorf(
        "layer '{}': groups {} must divide input channels {} and output channels {}", name, groups,
        cin, cout);
  int64_t fan_in = cin / groups * kernel * kernel;
  std::vector<ir::Value*> inputs{
      x, he_uniform(name + ".weight", {cout, cin / groups, kernel, kernel}, fan_in)};
  if (options.bias) inputs.push_back(bias_uniform(name + ".bias", cout, fan_in));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y,
                            node("Conv", std::move(inputs), name, {x->dims[0], cout, ho, wo}));
  ir::Node* n = y->producer;
  n->attrs["kernel_shape"] = ir::Attribute::of_ints({kernel, kernel});
  n->attrs["strides"] = ir::Attribute::of_ints({stride, stride});
  n->attrs["pads"] = ir::Attribute::of_ints({pad, pad, pad, pad});
  n->attrs["dilations"] = ir::Attribute::of_ints({1, 1});
  n->attrs["group"] = ir::Attribute::of_int(groups);
  return y;
}

Result<ir::Value*> LayerBuilder::batch_norm(ir::Value* x, const std::string& name) {
  CONDENSE_ASSIGN_OR_RETURN(int64_t c, static_dim(x, 1, name));
  ir::Value* scale = filled(name + ".weight", {c}, 1.0f);
  ir::Value* bias = filled(name + ".bias", {c}, 0.0f);
  ir::Value* mean = filled(name + ".running_mean", {c}, 0.0f);
  ir::Value* var = filled(name + ".running_var", {c}, 1.0f);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y,
                            node("BatchNormalization", {x, scale, bias, mean, var}, name, x->dims));
  y->producer->attrs["epsilon"] = ir::Attribute::of_float(1e-5f);
  y->producer->attrs["momentum"] = ir::Attribute::of_float(0.9f);
  return y;
}

Result<ir::Value*> LayerBuilder::gemm(ir::Value* x, int64_t out, const std::string& name) {
  CONDENSE_TRY(expect_rank(x, 2, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t in, static_dim(x, 1, name));
  if (out < 1)
    return Status::errorf("layer '{}': output features must be >= 1 (got {})", name, out);
  ir::Value* wv = he_uniform(name + ".weight", {out, in}, in);
  ir::Value* bv = bias_uniform(name + ".bias", out, in);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("Gemm", {x, wv, bv}, name, {x->dims[0], out}));
  y->producer->attrs["transB"] = ir::Attribute::of_int(1);
  return y;
}

Result<ir::Value*> LayerBuilder::relu(ir::Value* x, const std::string& name) {
  return node("Relu", {x}, name, x->dims);
}

Result<ir::Value*> LayerBuilder::clip(ir::Value* x, float lo, float hi, const std::string& name) {
  if (!(lo < hi))
    return Status::errorf("layer '{}': clip bounds must satisfy lo < hi (got {}, {})", name, lo,
                          hi);
  return node("Clip", {x, f32_scalar(name + ".min", lo), f32_scalar(name + ".max", hi)}, name,
              x->dims);
}

Result<ir::Value*> LayerBuilder::gelu(ir::Value* x, const std::string& name) {
  CONDENSE_ASSIGN_OR_RETURN(
      ir::Value * t,
      node("Div", {x, f32_scalar(name + ".sqrt2", std::sqrt(2.0f))}, name + ".div", x->dims));
  CONDENSE_ASSIGN_OR_RETURN(t, node("Erf", {t}, name + ".erf", x->dims));
  CONDENSE_ASSIGN_OR_RETURN(
      t, node("Add", {t, f32_scalar(name + ".one", 1.0f)}, name + ".add1", x->dims));
  CONDENSE_ASSIGN_OR_RETURN(t, node("Mul", {x, t}, name + ".mul", x->dims));
  return node("Mul", {t, f32_scalar(name + ".half", 0.5f)}, name, x->dims);
}

Result<ir::Value*> LayerBuilder::scale(ir::Value* x, float s, const std::string& name) {
  return node("Mul", {x, f32_scalar(name + ".scale", s)}, name, x->dims);
}

Result<ir::Value*> LayerBuilder::linear(ir::Value* x, int64_t out, const std::string& name) {
  if (!x->has_shape || x->dims.size() < 2)
    return Status::errorf("layer '{}': input '{}' must have rank >= 2", name, x->name);
  CONDENSE_ASSIGN_OR_RETURN(int64_t in, static_dim(x, x->dims.size() - 1, name));
  if (out < 1)
    return Status::errorf("layer '{}': output features must be >= 1 (got {})", name, out);
  ir::Dims dims = x->dims;
  dims.back() = ir::Dim(out);
  ir::Value* w = he_uniform(name + ".weight", {in, out}, in, 1.0);
  ir::Value* b = bias_uniform(name + ".bias", out, in);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("MatMul", {x, w}, name + ".matmul", dims));
  return node("Add", {y, b}, name, dims);
}

Result<ir::Value*> LayerBuilder::matmul(ir::Value* a, ir::Value* b, const std::string& name) {
  const size_t r = a->has_shape ? a->dims.size() : 0;
  if (r < 2 || !b->has_shape || b->dims.size() != r ||
      !std::equal(a->dims.begin(), a->dims.end() - 2, b->dims.begin()) ||
      a->dims[r - 1] != b->dims[r - 2])
    return Status::errorf("layer '{}': cannot multiply '{}' {} by '{}' {}", name, a->name,
                          ir::dims_str(a->dims), b->name, ir::dims_str(b->dims));
  ir::Dims dims = a->dims;
  dims.back() = b->dims.back();
  return node("MatMul", {a, b}, name, dims);
}

Result<ir::Value*> LayerBuilder::layer_norm(ir::Value* x, const std::string& name) {
  if (!x->has_shape || x->dims.size() < 2)
    return Status::errorf("layer '{}': input '{}' must have rank >= 2", name, x->name);
  CONDENSE_ASSIGN_OR_RETURN(int64_t d, static_dim(x, x->dims.size() - 1, name));
  ir::Value* scale = filled(name + ".weight", {d}, 1.0f);
  ir::Value* bias = filled(name + ".bias", {d}, 0.0f);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y,
                            node("LayerNormalization", {x, scale, bias}, name, x->dims));
  y->producer->attrs["axis"] = ir::Attribute::of_int(-1);
  y->producer->attrs["epsilon"] = ir::Attribute::of_float(1e-5f);
  return y;
}

Result<ir::Value*> LayerBuilder::softmax(ir::Value* x, const std::string& name) {
  if (!x->has_shape || x->dims.empty())
    return Status::errorf("layer '{}': input '{}' needs a known shape", name, x->name);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("Softmax", {x}, name, x->dims));
  y->producer->attrs["axis"] = ir::Attribute::of_int(-1);
  return y;
}

Result<ir::Value*> LayerBuilder::reshape(ir::Value* x, std::vector<int64_t> dims_after_batch,
                                         const std::string& name) {
  if (!x->has_shape || x->dims.empty())
    return Status::errorf("layer '{}': input '{}' needs a known shape", name, x->name);
  int64_t in = 1, out = 1;
  for (size_t i = 1; i < x->dims.size(); ++i) {
    CONDENSE_ASSIGN_OR_RETURN(int64_t d, static_dim(x, i, name));
    in *= d;
  }
  for (int64_t d : dims_after_batch) {
    if (d < 1)
      return Status::errorf("layer '{}': reshape dimensions must be >= 1 (got {})", name, d);
    out *= d;
  }
  if (in != out)
    return Status::errorf("layer '{}': cannot reshape '{}' {} to [N, {}]", name, x->name,
                          ir::dims_str(x->dims), fmt::join(dims_after_batch, ", "));
  ir::Dims dims{x->dims[0]};
  std::vector<int64_t> shape{x->dims[0].is_static() ? x->dims[0].value : -1};
  for (int64_t d : dims_after_batch) {
    dims.push_back(ir::Dim(d));
    shape.push_back(d);
  }
  return node("Reshape", {x, i64_constant(name + ".shape", shape)}, name, std::move(dims));
}

Result<ir::Value*> LayerBuilder::transpose(ir::Value* x, std::vector<int64_t> perm,
                                           const std::string& name) {
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool is_perm = x->has_shape && perm.size() == x->dims.size() && !perm.empty() && perm[0] == 0;
  for (size_t i = 0; is_perm && i < sorted.size(); ++i) is_perm = sorted[i] == int64_t(i);
  if (!is_perm)
    return Status::errorf("layer '{}': [{}] is not a permutation of '{}' {} keeping axis 0 first",
                          name, fmt::join(perm, ", "), x->name, ir::dims_str(x->dims));
  ir::Dims dims;
  for (int64_t p : perm) dims.push_back(x->dims[p]);
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("Transpose", {x}, name, std::move(dims)));
  y->producer->attrs["perm"] = ir::Attribute::of_ints(std::move(perm));
  return y;
}

Result<ir::Value*> LayerBuilder::reduce_mean(ir::Value* x, std::vector<int64_t> axes,
                                             const std::string& name) {
  const int64_t rank = x->has_shape ? static_cast<int64_t>(x->dims.size()) : 0;
  ir::Dims dims;
  for (int64_t i = 0; i < rank; ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) dims.push_back(x->dims[i]);
  for (int64_t a : axes)
    if (a < 1 || a >= rank)
      return Status::errorf("layer '{}': axis {} out of [1, {}) for '{}'", name, a, rank, x->name);
  CONDENSE_ASSIGN_OR_RETURN(
      ir::Value * y,
      node("ReduceMean", {x, i64_constant(name + ".axes", axes)}, name, std::move(dims)));
  y->producer->attrs["keepdims"] = ir::Attribute::of_int(0);
  return y;
}

Result<ir::Value*> LayerBuilder::add(ir::Value* a, ir::Value* b, const std::string& name) {
  // b broadcasts when its dims are the trailing dims of a (e.g. a bias or positional embedding).
  if (!a->has_shape || !b->has_shape || b->dims.size() > a->dims.size() ||
      !std::equal(b->dims.begin(), b->dims.end(), a->dims.end() - b->dims.size()))
    return Status::errorf("layer '{}': operands '{}' {} and '{}' {} differ in shape", name, a->name,
                          ir::dims_str(a->dims), b->name, ir::dims_str(b->dims));
  return node("Add", {a, b}, name, a->dims);
}

Result<ir::Value*> LayerBuilder::max_pool(ir::Value* x, int64_t kernel, int64_t stride,
                                          const std::string& name) {
  CONDENSE_TRY(expect_rank(x, 4, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t h, static_dim(x, 2, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t w, static_dim(x, 3, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t ho, window_out(h, kernel, stride, 0, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t wo, window_out(w, kernel, stride, 0, name));
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y,
                            node("MaxPool", {x}, name, {x->dims[0], x->dims[1], ho, wo}));
  y->producer->attrs["kernel_shape"] = ir::Attribute::of_ints({kernel, kernel});
  y->producer->attrs["strides"] = ir::Attribute::of_ints({stride, stride});
  return y;
}

Result<ir::Value*> LayerBuilder::global_average_pool(ir::Value* x, const std::string& name) {
  CONDENSE_TRY(expect_rank(x, 4, name));
  return node("GlobalAveragePool", {x}, name, {x->dims[0], x->dims[1], 1, 1});
}

Result<ir::Value*> LayerBuilder::flatten(ir::Value* x, const std::string& name) {
  if (!x->has_shape || x->dims.size() < 2)
    return Status::errorf("layer '{}': input '{}' must have rank >= 2", name, x->name);
  int64_t features = 1;
  for (size_t i = 1; i < x->dims.size(); ++i) {
    CONDENSE_ASSIGN_OR_RETURN(int64_t d, static_dim(x, i, name));
    features *= d;
  }
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("Flatten", {x}, name, {x->dims[0], features}));
  y->producer->attrs["axis"] = ir::Attribute::of_int(1);
  return y;
}

Result<ir::Value*> LayerBuilder::subsample_pad_channels(ir::Value* x, int64_t stride,
                                                        int64_t pad_channels,
                                                        const std::string& name) {
  CONDENSE_TRY(expect_rank(x, 4, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t c, static_dim(x, 1, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t h, static_dim(x, 2, name));
  CONDENSE_ASSIGN_OR_RETURN(int64_t w, static_dim(x, 3, name));
  if (stride < 1 || pad_channels < 0)
    return Status::errorf("layer '{}': stride {} must be >= 1 and channel padding {} >= 0", name,
                          stride, pad_channels);
  const int64_t end = std::numeric_limits<int64_t>::max();
  ir::Value* starts = i64_constant(name + ".starts", {0, 0});
  ir::Value* ends = i64_constant(name + ".ends", {end, end});
  ir::Value* axes = i64_constant(name + ".axes", {2, 3});
  ir::Value* steps = i64_constant(name + ".steps", {stride, stride});
  ir::Dims sub_dims{x->dims[0], c, (h + stride - 1) / stride, (w + stride - 1) / stride};
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * sub, node("Slice", {x, starts, ends, axes, steps},
                                                  name + ".subsample", sub_dims));
  // pads: begins of (N, C, H, W), then ends.
  ir::Value* pads = i64_constant(name + ".pads", {0, pad_channels, 0, 0, 0, pad_channels, 0, 0});
  ir::Dims out_dims = sub_dims;
  out_dims[1] = c + 2 * pad_channels;
  CONDENSE_ASSIGN_OR_RETURN(ir::Value * y, node("Pad", {sub, pads}, name, out_dims));
  y->producer->attrs["mode"] = ir::Attribute::of_string("constant");
  return y;
}

}  // namespace condense::zoo
