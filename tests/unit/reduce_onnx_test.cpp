// ONNX opset conversion of the reduce family: upgrade hooks on import (Reduce* axes attribute,
// pre-13 Softmax 2-D coercion, TopK-1 `k`, GroupNormalization-18 per-group affine) and the
// Reduce* downgrade on export. Models are written with a tiny protobuf encoder so any opset can
// be produced.
#include <condense/onnx.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace condense;

namespace {

// --- minimal protobuf wire-format writer ---
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void field_int(std::string& out, int field, int64_t v) {
  varint(out, static_cast<uint64_t>(field) << 3);
  varint(out, static_cast<uint64_t>(v));
}
void field_bytes(std::string& out, int field, const std::string& bytes) {
  varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  varint(out, bytes.size());
  out += bytes;
}

std::string attr_int(const std::string& name, int64_t v) {
  std::string a;
  field_bytes(a, 1, name);
  field_int(a, 3, v);
  field_int(a, 20, 2);  // INT
  return a;
}
std::string attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  std::string a;
  field_bytes(a, 1, name);
  for (int64_t x : v) field_int(a, 8, x);
  field_int(a, 20, 7);  // INTS
  return a;
}

std::string node(const std::string& op, const std::vector<std::string>& ins,
                 const std::vector<std::string>& outs, const std::vector<std::string>& attrs) {
  std::string n;
  for (const auto& s : ins) field_bytes(n, 1, s);
  for (const auto& s : outs) field_bytes(n, 2, s);
  field_bytes(n, 3, op + "_node");
  field_bytes(n, 4, op);
  for (const auto& a : attrs) field_bytes(n, 5, a);
  return n;
}

// dims: >= 0 static, -1 a symbolic dim.
std::string value_info(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  std::string shape;
  for (int64_t d : dims) {
    std::string dim;
    if (d >= 0)
      field_int(dim, 1, d);
    else
      field_bytes(dim, 2, "N");
    field_bytes(shape, 1, dim);
  }
  std::string tt;
  field_int(tt, 1, elem_type);
  field_bytes(tt, 2, shape);
  std::string type;
  field_bytes(type, 1, tt);
  std::string vi;
  field_bytes(vi, 1, name);
  field_bytes(vi, 2, type);
  return vi;
}

std::string initializer_f32(const std::string& name, const std::vector<float>& v) {
  std::string t;
  field_int(t, 1, static_cast<int64_t>(v.size()));
  field_int(t, 2, 1);  // FLOAT
  field_bytes(t, 8, name);
  field_bytes(t, 9, std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  return t;
}

std::string model(int64_t opset, const std::vector<std::string>& nodes,
                  const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                  const std::vector<std::string>& inits = {}) {
  std::string g;
  for (const auto& n : nodes) field_bytes(g, 1, n);
  field_bytes(g, 2, "g");
  for (const auto& t : inits) field_bytes(g, 5, t);
  for (const auto& i : inputs) field_bytes(g, 11, i);
  for (const auto& o : outputs) field_bytes(g, 12, o);
  std::string opset_id;
  field_bytes(opset_id, 1, "");
  field_int(opset_id, 2, opset);
  std::string m;
  field_int(m, 1, 8);
  field_bytes(m, 8, opset_id);
  field_bytes(m, 7, g);
  return m;
}

Result<std::vector<Tensor>> run_model(const std::string& bytes, const std::vector<Tensor>& inputs) {
  CONDENSE_ASSIGN_OR_RETURN(ir::Graph g, onnx::import_bytes(bytes));
  CONDENSE_ASSIGN_OR_RETURN(auto s, Session::create(std::move(g), {.threads = 1}));
  return s->run(inputs);
}

Tensor iota_f32(Shape shape, float scale) {
  Tensor t = Tensor::empty(DType::F32, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = std::sin(static_cast<float>(i)) * scale;
  return t;
}

// Softmax over rows of `n` consecutive elements.
std::vector<float> softmax_rows(const Tensor& x, int64_t n) {
  std::vector<float> v = x.to_f32_vector(), y(v.size());
  for (size_t r = 0; r < v.size() / n; ++r) {
    float m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, v[r * n + i]);
    for (int64_t i = 0; i < n; ++i) s += std::exp(v[r * n + i] - m);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = std::exp(v[r * n + i] - m) / s;
  }
  return y;
}

void expect_all_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << "at " << i;
}

}  // namespace

TEST(ReduceOnnx, SoftmaxBeforeOpset13CoercesTo2D) {
  // axis=1 on a static (2, 3, 4) input: rows of 12 elements, not softmax over dim 1.
  std::string m = model(11, {node("Softmax", {"x"}, {"y"}, {attr_int("axis", 1)})},
                        {value_info("x", 1, {2, 3, 4})}, {value_info("y", 1, {2, 3, 4})});
  Tensor x = iota_f32({2, 3, 4}, 3.0f);
  auto y = run_model(m, {x});
  ASSERT_TRUE(y) << y.status().message();
  EXPECT_EQ((*y)[0].shape(), (Shape{2, 3, 4}));
  expect_all_near((*y)[0].to_f32_vector(), softmax_rows(x, 12));
  // Default axis (1) on a 2-D input is the last axis: no reshapes needed, same result.
  std::string m2 = model(11, {node("LogSoftmax", {"x"}, {"y"}, {})}, {value_info("x", 1, {6, 4})},
                         {value_info("y", 1, {6, 4})});
  auto y2 = run_model(m2, {x.reshaped({6, 4})});
  ASSERT_TRUE(y2) << y2.status().message();
  std::vector<float> want = softmax_rows(x, 4);
  for (float& v : want) v = std::log(v);
  expect_all_near((*y2)[0].to_f32_vector(), want);
}

TEST(ReduceOnnx, SoftmaxBeforeOpset13DynamicShape) {
  std::string m = model(11, {node("Hardmax", {"x"}, {"y"}, {attr_int("axis", 1)})},
                        {value_info("x", 1, {-1, 3, 4})}, {value_info("y", 1, {-1, 3, 4})});
  auto g = onnx::import_bytes(m);
  if (!op_from_onnx("", "Flatten") || !op_from_onnx("", "Shape")) {
    ASSERT_FALSE(g);
    EXPECT_NE(g.status().message().find("Flatten"), std::string::npos) << g.status().message();
    return;
  }
  ASSERT_TRUE(g) << g.status().message();
  Tensor x = iota_f32({2, 3, 4}, 1.0f);
  auto y = run_model(m, {x});
  ASSERT_TRUE(y) << y.status().message();
  std::vector<float> got = (*y)[0].to_f32_vector(), v = x.to_f32_vector();
  for (int b = 0; b < 2; ++b) {
    int arg = 0;
    for (int i = 1; i < 12; ++i)
      if (v[b * 12 + i] > v[b * 12 + arg]) arg = i;
    for (int i = 0; i < 12; ++i) EXPECT_EQ(got[b * 12 + i], i == arg ? 1.0f : 0.0f);
  }
}

TEST(ReduceOnnx, ReduceAxesAttributeRoundTrip) {
  std::string m = model(
      13, {node("ReduceMean", {"x"}, {"y"}, {attr_ints("axes", {1}), attr_int("keepdims", 0)})},
      {value_info("x", 1, {2, 3})}, {value_info("y", 1, {2})});
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto y = run_model(m, {x});
  ASSERT_TRUE(y) << y.status().message();
  expect_all_near((*y)[0].to_f32_vector(), {2, 5});
  // Export below 18 writes the attribute back; the checker (opset <= 17) accepts it.
  auto g = onnx::import_bytes(m);
  ASSERT_TRUE(g);
  auto bytes = onnx::export_bytes(*g, {.opset = 17});
  ASSERT_TRUE(bytes) << bytes.status().message();
  Status checked = onnx::check_model_bytes(*bytes);
  EXPECT_TRUE(checked.is_ok()) << checked.message();
  auto y2 = run_model(*bytes, {x});
  ASSERT_TRUE(y2) << y2.status().message();
  expect_all_near((*y2)[0].to_f32_vector(), {2, 5});
}

TEST(ReduceOnnx, DowngradeNeedsConstantAxes) {
  std::string m =
      model(18, {node("ReduceMax", {"x", "axes"}, {"y"}, {})},
            {value_info("x", 1, {2, 3}), value_info("axes", 7, {1})}, {value_info("y", 1, {2, 1})});
  auto g = onnx::import_bytes(m);
  ASSERT_TRUE(g) << g.status().message();
  EXPECT_FALSE(onnx::export_bytes(*g, {.opset = 17}));
  EXPECT_TRUE(onnx::export_bytes(*g, {.opset = 18}));
}

TEST(ReduceOnnx, TopKBeforeOpset10) {
  std::string m =
      model(9, {node("TopK", {"x"}, {"v", "i"}, {attr_int("k", 2)})}, {value_info("x", 1, {4})},
            {value_info("v", 1, {2}), value_info("i", 7, {2})});
  auto y = run_model(m, {Tensor::from_vector<float>({1, 4, 2, 4}, {4})});
  ASSERT_TRUE(y) << y.status().message();
  expect_all_near((*y)[0].to_f32_vector(), {4, 4});
  EXPECT_EQ((*y)[1].to_i64_vector(), (std::vector<int64_t>{1, 3}));
}

TEST(ReduceOnnx, GroupNormOpset18PerGroupAffine) {
  // C = 4, 2 groups; scale/bias per group are expanded to per channel.
  const std::vector<std::string> ins = {value_info("x", 1, {1, 4, 2})};
  const std::vector<std::string> outs = {value_info("y", 1, {1, 4, 2})};
  const std::vector<std::string> inits = {initializer_f32("s", {2, 3}),
                                          initializer_f32("b", {0, 1})};
  std::string m18 =
      model(18, {node("GroupNormalization", {"x", "s", "b"}, {"y"}, {attr_int("num_groups", 2)})},
            ins, outs, inits);
  std::string m21 =
      model(21, {node("GroupNormalization", {"x", "s", "b"}, {"y"}, {attr_int("num_groups", 2)})},
            ins, outs, {initializer_f32("s", {2, 2, 3, 3}), initializer_f32("b", {0, 0, 1, 1})});
  Tensor x = iota_f32({1, 4, 2}, 2.0f);
  auto a = run_model(m18, {x});
  auto b = run_model(m21, {x});
  ASSERT_TRUE(a) << a.status().message();
  ASSERT_TRUE(b) << b.status().message();
  expect_all_near((*a)[0].to_f32_vector(), (*b)[0].to_f32_vector());
  // Non-constant per-group scale keeps the opset-18 meaning through an internal attribute.
  std::string dyn = model(
      18, {node("GroupNormalization", {"x", "s", "b"}, {"y"}, {attr_int("num_groups", 2)})},
      {value_info("x", 1, {1, 4, 2}), value_info("s", 1, {2}), value_info("b", 1, {2})}, outs);
  auto c = run_model(
      dyn, {x, Tensor::from_vector<float>({2, 3}, {2}), Tensor::from_vector<float>({0, 1}, {2})});
  ASSERT_TRUE(c) << c.status().message();
  expect_all_near((*c)[0].to_f32_vector(), (*b)[0].to_f32_vector());
}
