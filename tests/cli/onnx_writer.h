// A minimal protobuf writer for building ONNX models byte by byte in tests: models the IR cannot
// express (unknown ops, string inputs, contradicting declarations). Field numbers from onnx.proto.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace condense::test {

struct Pb {
  std::string b;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b.push_back(static_cast<char>(v));
  }
  Pb& i(int field, int64_t v) {
    varint(static_cast<uint64_t>(field) << 3);
    varint(static_cast<uint64_t>(v));
    return *this;
  }
  Pb& s(int field, std::string_view v) {
    varint((static_cast<uint64_t>(field) << 3) | 2);
    varint(v.size());
    b.append(v);
    return *this;
  }
  Pb& m(int field, const Pb& sub) { return s(field, sub.b); }
};

// TypeProto.tensor_type with elem_type and dims (a dim < 0 is the symbol "N").
inline Pb tensor_type(int elem_type, const std::vector<int64_t>& dims) {
  Pb shape;
  for (int64_t d : dims) {
    Pb dim;
    if (d >= 0)
      dim.i(1, d);
    else
      dim.s(2, "N");
    shape.m(1, dim);
  }
  Pb tt;
  tt.i(1, elem_type).m(2, shape);
  return Pb().m(1, tt);
}

inline Pb value_info(std::string_view name, int elem_type, const std::vector<int64_t>& dims) {
  return Pb().s(1, name).m(2, tensor_type(elem_type, dims));
}

inline Pb node(std::string_view op, const std::vector<std::string>& ins,
               const std::vector<std::string>& outs, std::string_view name,
               std::string_view domain = "") {
  Pb n;
  for (const auto& x : ins) n.s(1, x);
  for (const auto& x : outs) n.s(2, x);
  n.s(3, name).s(4, op);
  if (!domain.empty()) n.s(7, domain);
  return n;
}

// A float initializer (raw data).
inline Pb float_initializer(std::string_view name, const std::vector<int64_t>& dims,
                            const std::vector<float>& v) {
  Pb t;
  for (int64_t d : dims) t.i(1, d);
  t.i(2, 1).s(8, name).s(9,
                         std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  return t;
}

// ModelProto with ir_version 8 and the given ai.onnx opset (plus extra domains at version 1).
inline std::string model(const Pb& graph, int64_t opset,
                         const std::vector<std::string>& extra_domains = {}) {
  Pb m;
  m.i(1, 8).s(2, "condense-test");
  m.m(7, graph);
  m.m(8, Pb().s(1, "").i(2, opset));
  for (const auto& d : extra_domains) m.m(8, Pb().s(1, d).i(2, 1));
  return m.b;
}

// GraphProto field numbers.
enum GraphField { kNode = 1, kName = 2, kInitializer = 5, kInput = 11, kOutput = 12 };

}  // namespace condense::test
