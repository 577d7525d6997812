// .npy / .npz: round trips for every dtype, the header variants numpy writes (versions 1-3,
// big-endian, Fortran order, Python 2 longs), and malformed files (clear errors, no crash).
#include <condense/npy.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <random>

using namespace condense;

namespace {

// A .npy file with an arbitrary header text and data, as another writer might produce it.
std::string make_npy(const std::string& header_dict, std::string_view data, int major = 1) {
  std::string header = header_dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + std::string(data);
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

Tensor random_tensor(DType dt, Shape shape, uint32_t seed) {
  Tensor t = Tensor::empty(dt, std::move(shape));
  std::mt19937 rng(seed);
  auto* b = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) b[i] = static_cast<uint8_t>(rng());
  if (dt == DType::Bool)
    for (size_t i = 0; i < t.nbytes(); ++i) b[i] &= 1;
  return t;
}

}  // namespace

TEST(Npy, RoundTripsEveryNumpyDtype) {
  const DType dtypes[] = {DType::Bool, DType::F16, DType::F32, DType::F64, DType::I8,  DType::I16,
                          DType::I32,  DType::I64, DType::U8,  DType::U16, DType::U32, DType::U64};
  const Shape shapes[] = {{}, {0}, {5}, {2, 3}, {2, 1, 3, 2}, {3, 0, 2}};
  uint32_t seed = 1;
  for (DType dt : dtypes) {
    for (const Shape& s : shapes) {
      Tensor t = random_tensor(dt, s, seed++);
      std::string bytes = npy::serialize(t);
      ASSERT_EQ(bytes.size() % 64, t.nbytes() % 64) << "data must start 64-byte aligned";
      auto back = npy::parse(bytes);
      ASSERT_TRUE(back) << dtype_name(dt) << shape_str(s) << ": " << back.status().message();
      EXPECT_TRUE(back->identical(t)) << dtype_name(dt) << shape_str(s);
    }
  }
}

TEST(Npy, HeaderTextMatchesNumpy) {
  std::string b = npy::serialize(Tensor::from_vector<float>({1, 2, 3}, {3}));
  EXPECT_NE(b.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), std::string::npos)
      << b;
  b = npy::serialize(Tensor::scalar<int64_t>(7));
  EXPECT_NE(b.find("'shape': ()"), std::string::npos) << b;
  b = npy::serialize(Tensor::zeros(DType::U8, {2, 3}));
  EXPECT_NE(b.find("'descr': '|u1', 'fortran_order': False, 'shape': (2, 3)"), std::string::npos)
      << b;
}

TEST(Npy, WidensBf16AndUnpacksInt4) {
  Tensor bf = Tensor::empty(DType::BF16, {2});
  bf.data<uint16_t>()[0] = float_to_bf16(1.5f);
  bf.data<uint16_t>()[1] = float_to_bf16(-2.0f);
  auto f = npy::parse(npy::serialize(bf));
  ASSERT_TRUE(f) << f.status().message();
  EXPECT_EQ(f->dtype(), DType::F32);
  EXPECT_EQ(f->to_f32_vector(), (std::vector<float>{1.5f, -2.0f}));

  Tensor i4 = Tensor::zeros(DType::I4, {3});
  i4.data<uint8_t>()[0] = 0xF7;  // elements 7, -1
  i4.data<uint8_t>()[1] = 0x08;  // element -8
  auto i = npy::parse(npy::serialize(i4));
  ASSERT_TRUE(i) << i.status().message();
  EXPECT_EQ(i->dtype(), DType::I8);
  EXPECT_EQ(i->to_i64_vector(), (std::vector<int64_t>{7, -1, -8}));
}

TEST(Npy, ReadsVersions2And3AndDoubleQuotes) {
  std::vector<float> v{1, 2, 3, 4};
  for (int major : {2, 3}) {
    auto t = npy::parse(make_npy(
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 2)}", bytes_of(v), major));
    ASSERT_TRUE(t) << t.status().message();
    EXPECT_EQ(t->shape(), (Shape{2, 2}));
    EXPECT_EQ(t->to_f32_vector(), v);
  }
  auto t = npy::parse(make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2L,), }",
                               bytes_of(std::vector<int64_t>{5, -6})));
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->to_i64_vector(), (std::vector<int64_t>{5, -6}));
}

TEST(Npy, ReadsBigEndian) {
  // >i4 [1, -2], >f8 [1.0], >u2 [0x0102]
  std::string i4("\x00\x00\x00\x01\xff\xff\xff\xfe", 8);
  auto a = npy::parse(make_npy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", i4));
  ASSERT_TRUE(a) << a.status().message();
  EXPECT_EQ(a->to_i64_vector(), (std::vector<int64_t>{1, -2}));
  std::string f8("\x3f\xf0\x00\x00\x00\x00\x00\x00", 8);
  auto b = npy::parse(make_npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", f8));
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(b->get_f64(0), 1.0);
  auto c = npy::parse(make_npy("{'descr': '>u2', 'fortran_order': False, 'shape': (), }",
                               std::string("\x01\x02", 2)));
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->get_i64(0), 0x0102);
}

TEST(Npy, TransposesFortranOrder) {
  // A 2x3 C array [[0,1,2],[3,4,5]] stored column-major: 0,3,1,4,2,5.
  auto t = npy::parse(make_npy("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }",
                               bytes_of(std::vector<int16_t>{0, 3, 1, 4, 2, 5})));
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->to_i64_vector(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  // 3-D: element (i,j,k) of shape (2,2,2) at Fortran offset i + 2j + 4k holds 100i+10j+k.
  std::vector<int16_t> f(8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 2; ++k) f[i + 2 * j + 4 * k] = static_cast<int16_t>(100 * i + 10 * j + k);
  auto u = npy::parse(
      make_npy("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 2, 2), }", bytes_of(f)));
  ASSERT_TRUE(u) << u.status().message();
  EXPECT_EQ(u->to_i64_vector(), (std::vector<int64_t>{0, 1, 10, 11, 100, 101, 110, 111}));
}

TEST(Npy, NormalizesBoolBytes) {
  auto t = npy::parse(make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                               std::string("\x00\x02\xff", 3)));
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->to_i64_vector(), (std::vector<int64_t>{0, 1, 1}));
}

TEST(Npy, RefusesUnsupportedDtypesClearly) {
  const std::pair<const char*, const char*> cases[] = {
      {"|V2", "bfloat16"}, {"<c8", "complex"},     {"<U5", "strings"},
      {"|O", "objects"},   {"<M8[s]", "datetime"}, {"<x9", "unsupported dtype"},
  };
  for (auto [descr, words] : cases) {
    auto t = npy::parse(
        make_npy(fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': (1,), }}", descr),
                 std::string(16, '\0')));
    ASSERT_FALSE(t) << descr;
    EXPECT_NE(t.status().message().find(words), std::string::npos) << t.status().message();
  }
  auto s = npy::parse(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                               std::string(4, '\0')));
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("structured"), std::string::npos) << s.status().message();
}

TEST(Npy, MalformedFilesGiveErrors) {
  const std::string good = npy::serialize(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  // Every truncation fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    auto t = npy::parse(std::string_view(good).substr(0, n));
    EXPECT_FALSE(t) << "prefix of " << n << " bytes parsed";
  }
  auto trunc = npy::parse(std::string_view(good).substr(0, good.size() - 1));
  EXPECT_NE(trunc.status().message().find("truncated"), std::string::npos)
      << trunc.status().message();

  const std::string bad_headers[] = {
      "",
      "{",
      "{'descr': '<f4'}",
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,, 2)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
      "{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}",
      "['descr', '<f4']",
  };
  for (const auto& h : bad_headers) {
    auto t = npy::parse(make_npy(h, std::string(64, '\0')));
    EXPECT_FALSE(t) << h;
  }
  std::string v9 = good;
  v9[6] = 9;
  auto t9 = npy::parse(v9);
  ASSERT_FALSE(t9);
  EXPECT_NE(t9.status().message().find("version 9.0"), std::string::npos) << t9.status().message();

  // Header length pointing past the end.
  std::string long_header = good;
  long_header[8] = '\xff';
  long_header[9] = '\xff';
  EXPECT_FALSE(npy::parse(long_header));

  // Random garbage never crashes.
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string b = good;
    int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    (void)npy::parse(b);
  }
}

TEST(Npz, RoundTripsAndReadsDeflatedMembers) {
  std::vector<npy::NamedArray> arrays = {
      {"x", Tensor::from_vector<float>({1, 2, 3}, {3})},
      {"idx", Tensor::from_vector<int64_t>({4, 5}, {1, 2})},
      {"flag", Tensor::scalar<bool>(true)},
  };
  std::string zip = npy::serialize_npz(arrays);
  auto back = npy::parse_npz(zip);
  ASSERT_TRUE(back) << back.status().message();
  ASSERT_EQ(back->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*back)[i].name, arrays[i].name);
    EXPECT_TRUE((*back)[i].tensor.identical(arrays[i].tensor)) << arrays[i].name;
  }

  // A deflated member, built the way Python's zipfile does: raw deflate, sizes in the central
  // directory, a zip64 extra in the local header with 0xFFFFFFFF sizes (numpy's force_zip64).
  const std::string npy_bytes =
      npy::serialize(Tensor::from_vector<double>({0.5, 0.25, 0.5, 0.25}, {2, 2}));
  std::string deflated(compressBound(npy_bytes.size()) + 64, '\0');
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(npy_bytes.data()));
  zs.avail_in = static_cast<uInt>(npy_bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(deflated.data());
  zs.avail_out = static_cast<uInt>(deflated.size());
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  deflated.resize(zs.total_out);
  deflateEnd(&zs);
  const uint32_t crc = static_cast<uint32_t>(crc32(
      0, reinterpret_cast<const Bytef*>(npy_bytes.data()), static_cast<uInt>(npy_bytes.size())));
  auto put = [](std::string& o, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  const std::string name = "w.npy";
  std::string z;
  put(z, 0x04034b50, 4), put(z, 45, 2), put(z, 0, 2), put(z, 8, 2), put(z, 0, 4), put(z, crc, 4);
  put(z, 0xffffffff, 4), put(z, 0xffffffff, 4), put(z, name.size(), 2), put(z, 20, 2);
  z += name;
  put(z, 1, 2), put(z, 16, 2), put(z, npy_bytes.size(), 8), put(z, deflated.size(), 8);
  z += deflated;
  const size_t cd = z.size();
  put(z, 0x02014b50, 4), put(z, 45, 2), put(z, 45, 2), put(z, 0, 2), put(z, 8, 2), put(z, 0, 4);
  put(z, crc, 4), put(z, deflated.size(), 4), put(z, npy_bytes.size(), 4), put(z, name.size(), 2);
  put(z, 0, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, 0, 4);
  z += name;
  const size_t cd_size = z.size() - cd;
  put(z, 0x06054b50, 4), put(z, 0, 4), put(z, 1, 2), put(z, 1, 2), put(z, cd_size, 4),
      put(z, cd, 4), put(z, 0, 2);
  auto w = npy::parse_npz(z);
  ASSERT_TRUE(w) << w.status().message();
  ASSERT_EQ(w->size(), 1u);
  EXPECT_EQ((*w)[0].name, "w");
  EXPECT_EQ((*w)[0].tensor.to_f32_vector(), (std::vector<float>{0.5f, 0.25f, 0.5f, 0.25f}));

  // Corrupt the deflated stream: a CRC or inflate error, never a crash.
  std::string broken = z;
  broken[30 + name.size() + 20 + 3] ^= 0x55;
  EXPECT_FALSE(npy::parse_npz(broken));
}

TEST(Npz, MalformedArchivesGiveErrors) {
  std::string zip = npy::serialize_npz({{"a", Tensor::from_vector<float>({1, 2}, {2})},
                                        {"b", Tensor::from_vector<int32_t>({3}, {1})}});
  for (size_t n = 0; n < zip.size(); ++n)
    EXPECT_FALSE(npy::parse_npz(std::string_view(zip).substr(0, n))) << n;
  auto dup = npy::parse_npz(
      npy::serialize_npz({{"a", Tensor::scalar<float>(1)}, {"a", Tensor::scalar<float>(2)}}));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.status().message().find("two members named 'a'"), std::string::npos)
      << dup.status().message();
  auto crc = zip;
  crc[40] ^= 1;  // inside member a's data
  auto c = npy::parse_npz(crc);
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("member 'a.npy'"), std::string::npos) << c.status().message();
  EXPECT_FALSE(npy::parse_npz("PK\x03\x04 not really a zip"));
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string b = zip;
    int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    (void)npy::parse_npz(b);
  }
}

TEST(Npy, FilesAreWrittenAtomically) {
  auto dir =
      std::filesystem::temp_directory_path() / fmt::format("condense_npy_test_{}", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string p = (dir / "x.npy").string();
  Tensor t = Tensor::from_vector<int32_t>({1, 2, 3}, {3});
  ASSERT_TRUE(npy::write(p, t));
  auto r = npy::read(p);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_TRUE(r->identical(t));
  const std::string pz = (dir / "x.npz").string();
  ASSERT_TRUE(npy::write_npz(pz, {{"t", t}}));
  auto rz = npy::read_npz(pz);
  ASSERT_TRUE(rz) << rz.status().message();
  EXPECT_TRUE((*rz)[0].tensor.identical(t));
  auto missing = npy::read((dir / "nope.npy").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("nope.npy"), std::string::npos);
  std::filesystem::remove_all(dir);
}
