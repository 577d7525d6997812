// Writes seed inputs for the fuzz targets: <dir>/npy/* (every dtype, Fortran order, big-endian,
// versions 2 and 3, stored and deflated .npz) and <dir>/onnx/* (small models built with the IR).
// scripts/fuzz.sh adds the ONNX node-test models from libonnx-testdata.
#include <condense/file.h>
#include <condense/ir.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>

using namespace condense;

namespace {

void put(std::string& o, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string npy_with_header(const std::string& dict, std::string_view data, int major) {
  std::string h = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  put(out, h.size(), major == 1 ? 2 : 4);
  return out + h + std::string(data);
}

// One deflated member, as Python's zipfile writes it.
std::string deflated_npz(const std::string& name, const std::string& data) {
  std::string comp(compressBound(data.size()) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(comp.data());
  zs.avail_out = static_cast<uInt>(comp.size());
  deflate(&zs, Z_FINISH);
  comp.resize(zs.total_out);
  deflateEnd(&zs);
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  std::string z;
  put(z, 0x04034b50, 4), put(z, 20, 2), put(z, 0, 2), put(z, 8, 2), put(z, 0, 4), put(z, crc, 4);
  put(z, comp.size(), 4), put(z, data.size(), 4), put(z, name.size(), 2), put(z, 0, 2);
  z += name + comp;
  size_t cd = z.size();
  put(z, 0x02014b50, 4), put(z, 20, 2), put(z, 20, 2), put(z, 0, 2), put(z, 8, 2), put(z, 0, 4),
      put(z, crc, 4);
  put(z, comp.size(), 4), put(z, data.size(), 4), put(z, name.size(), 2), put(z, 0, 2),
      put(z, 0, 2);
  put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, 0, 4);
  z += name;
  size_t cd_size = z.size() - cd;
  put(z, 0x06054b50, 4), put(z, 0, 4), put(z, 1, 2), put(z, 1, 2), put(z, cd_size, 4),
      put(z, cd, 4), put(z, 0, 2);
  return z;
}

void save(const std::filesystem::path& p, std::string_view bytes) {
  Status s = write_file_atomic(p.string(), bytes);
  if (!s) std::fprintf(stderr, "%s\n", s.message().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds <corpus dir>\n");
    return 2;
  }
  std::filesystem::path root(argv[1]);
  std::filesystem::create_directories(root / "npy");
  std::filesystem::create_directories(root / "onnx");
  for (int d = 0; d < kDTypeCount; ++d) {
    DType dt = static_cast<DType>(d);
    Tensor t = Tensor::zeros(dt, {2, 3});
    for (size_t i = 0; i < t.nbytes(); ++i)
      static_cast<uint8_t*>(t.raw())[i] = static_cast<uint8_t>(dt == DType::Bool ? i & 1 : i * 7);
    save(root / "npy" / fmt::format("dtype_{}.npy", dtype_name(dt)), npy::serialize(t));
  }
  save(root / "npy" / "scalar.npy", npy::serialize(Tensor::scalar<double>(2.5)));
  save(root / "npy" / "empty.npy", npy::serialize(Tensor::zeros(DType::F32, {0, 3})));
  std::string f4("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40", 16);
  save(root / "npy" / "fortran.npy",
       npy_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4, 1));
  save(root / "npy" / "bigendian.npy",
       npy_with_header("{'descr': '>i4', 'fortran_order': False, 'shape': (4,), }", f4, 1));
  save(root / "npy" / "v2.npy",
       npy_with_header("{'descr': '<u2', 'fortran_order': False, 'shape': (8,), }", f4, 2));
  save(root / "npy" / "v3.npy",
       npy_with_header("{\"descr\": \"|b1\", \"fortran_order\": False, \"shape\": (2L, 8L)}", f4,
                       3));
  save(root / "npy" / "stored.npz",
       npy::serialize_npz(
           {{"a", Tensor::from_vector<float>({1, 2, 3}, {3})}, {"b", Tensor::scalar<int64_t>(4)}}));
  save(root / "npy" / "deflated.npz",
       deflated_npz("w.npy", npy::serialize(Tensor::zeros(DType::F64, {4, 4}))));

  // x: f32[N, 4] -> MatMul -> Add -> Relu -> Reshape(Constant) -> Identity
  ir::Graph g;
  ir::Value* x = g.add_input("x", DType::F32, {ir::Dim::sym("N"), 4});
  ir::Value* w = g.add_constant("w", Tensor::from_vector<float>({1, 0, 0, 1, 1, 1, -1, 0}, {4, 2}));
  ir::Value* b = g.add_constant("b", Tensor::from_vector<float>({0.5f, -1.f}, {2}));
  ir::Value* h = g.add_node(OpKind::MatMul, {x, w}, 1, "fc")->outputs[0];
  ir::Value* z = g.add_node(OpKind::Add, {h, b}, 1, "bias")->outputs[0];
  ir::Value* r = g.add_node(OpKind::Relu, {z}, 1, "relu")->outputs[0];
  ir::Node* c = g.add_node(OpKind::Constant, {}, 1, "shape");
  c->attrs["value"] = ir::Attribute::of_tensor(Tensor::from_vector<int64_t>({-1}, {1}));
  ir::Value* flat = g.add_node(OpKind::Reshape, {r, c->outputs[0]}, 1, "flat")->outputs[0];
  g.outputs.push_back(g.add_node(OpKind::Identity, {flat}, 1, "out")->outputs[0]);
  auto bytes = onnx::export_bytes(g);
  if (bytes) save(root / "onnx" / "mlp.onnx", *bytes);
  std::printf("wrote seeds to %s\n", root.string().c_str());
  return 0;
}
