// gzip and tar readers: round trips through independently written archives, and bad input.
#include <condense/data.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "io_test_util.h"

using namespace condense;
using namespace io_test;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Members of an archive in memory: path -> contents, plus the visiting order.
struct Listing {
  std::map<std::string, std::string> files;
  std::vector<std::string> order;
};

Result<Listing> list_bytes(const std::string& bytes) {
  Listing l;
  Status s =
      data::for_each_tar_file_in_bytes(bytes, [&](const data::TarEntry& e, std::string_view c) {
        EXPECT_EQ(e.size, c.size());
        l.files[e.path] = std::string(c);
        l.order.push_back(e.path);
        return Status::ok();
      });
  if (!s) return s;
  return l;
}

}  // namespace

TEST(IoGzip, RoundTripAndPassThrough) {
  std::string text = random_bytes(300000, 1) + std::string(100000, 'a');
  auto out = data::gunzip(gzip(text));
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(*out, text);
  auto plain = data::gunzip(text.substr(1));  // no gzip magic: returned unchanged
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, text.substr(1));
  auto empty = data::gunzip("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
  auto empty_gz = data::gunzip(gzip(""));
  ASSERT_TRUE(empty_gz) << empty_gz.status().message();
  EXPECT_EQ(*empty_gz, "");
}

TEST(IoGzip, ConcatenatedMembersAndTrailingPadding) {
  auto out = data::gunzip(gzip("hello, ") + gzip("world") + std::string(8, '\0'));
  ASSERT_TRUE(out) << out.status().message();
  EXPECT_EQ(*out, "hello, world");
}

TEST(IoGzip, TruncatedAndCorruptAreErrors) {
  std::string gz = gzip(random_bytes(50000, 2));
  for (size_t cut : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 4, gz.size() - 1}) {
    auto r = data::gunzip(std::string_view(gz).substr(0, cut), "x.gz");
    ASSERT_FALSE(r) << "cut at " << cut;
    EXPECT_NE(r.status().message().find("x.gz"), std::string::npos) << r.status().message();
  }
  std::string bad = gz;
  for (size_t i = 20; i < 60; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  auto r = data::gunzip(bad, "bad.gz");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("bad.gz"), std::string::npos) << r.status().message();
}

TEST(IoGzip, ReadMaybeGzipFile) {
  TempDir dir;
  std::string a = dir.write("a.bin", "plain bytes");
  std::string b = dir.write("b.gz", gzip("zipped bytes"));
  EXPECT_EQ(*data::read_maybe_gzip_file(a), "plain bytes");
  EXPECT_EQ(*data::read_maybe_gzip_file(b), "zipped bytes");
  auto missing = data::read_maybe_gzip_file((dir.path / "nope.gz").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("nope.gz"), std::string::npos);
}

TEST(IoTar, UstarGnuLongNamesPaxAndSkippedTypes) {
  std::string long_name = "root/" + std::string(120, 'd') + "/file.txt";
  std::string blob = random_bytes(1500, 3);
  std::string pax_path = "root/from-pax/" + std::string(90, 'p') + ".bin";
  std::string pax_rec = "path=" + pax_path + "\n";
  // "<len> path=...\n" where len counts itself.
  std::string rec = std::to_string(pax_rec.size() + 4) + " " + pax_rec;
  ASSERT_EQ(rec.size(), pax_rec.size() + 4);
  std::string tar = tar_member("root/", "", '5') +       // directory
                    tar_member("root/a.txt", "alpha") +  // regular
                    tar_member("root/empty", "") +       // zero-length regular
                    tar_member(long_name, blob) +        // GNU long name
                    tar_member("root/link", "", '2') +   // symlink: skipped
                    tar_header("ignored-name", rec.size(), 'x') + tar_pad(rec) +
                    tar_member("short", "pax data") +  // renamed by the pax record
                    tar_header("b.txt", 4, '0', "root/prefixed") + tar_pad("beta") + tar_end();
  for (const std::string& bytes : {tar, gzip(tar)}) {
    auto l = list_bytes(bytes);
    ASSERT_TRUE(l) << l.status().message();
    std::vector<std::string> expect_order = {"root/a.txt", "root/empty", long_name, pax_path,
                                             "root/prefixed/b.txt"};
    EXPECT_EQ(l->order, expect_order);
    EXPECT_EQ(l->files["root/a.txt"], "alpha");
    EXPECT_EQ(l->files["root/empty"], "");
    EXPECT_EQ(l->files[long_name], blob);
    EXPECT_EQ(l->files[pax_path], "pax data");
    EXPECT_EQ(l->files["root/prefixed/b.txt"], "beta");
  }
}

TEST(IoTar, StreamsFromFileAndWithoutEndBlocks) {
  TempDir dir;
  std::string big = random_bytes(3 << 20, 4);  // spans many inflate chunks
  std::string tar = tar_member("x/big.bin", big) + tar_member("x/small", "s");
  std::string path = dir.write("a.tar.gz", gzip(tar));  // no end-of-archive blocks
  std::map<std::string, std::string> seen;
  Status s = data::for_each_tar_file(path, [&](const data::TarEntry& e, std::string_view c) {
    seen[e.path] = std::string(c);
    return Status::ok();
  });
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen["x/big.bin"] == big);
  EXPECT_EQ(seen["x/small"], "s");
}

TEST(IoTar, VisitorErrorStopsWalkWithContext) {
  std::string tar = tar_member("a", "1") + tar_member("b", "2") + tar_member("c", "3") + tar_end();
  int calls = 0;
  Status s = data::for_each_tar_file_in_bytes(
      tar,
      [&](const data::TarEntry& e, std::string_view) {
        ++calls;
        return e.path == "b" ? Status::error("boom") : Status::ok();
      },
      "t.tar");
  ASSERT_FALSE(s);
  EXPECT_EQ(calls, 2);
  EXPECT_NE(s.message().find("boom"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'b'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("t.tar"), std::string::npos) << s.message();
}

TEST(IoTar, CorruptAndTruncatedAreErrors) {
  auto ok = [](const data::TarEntry&, std::string_view) { return Status::ok(); };
  std::string tar = tar_member("dir/a.bin", random_bytes(2000, 5)) + tar_end();

  std::string bad_sum = tar;
  bad_sum[10] = 'Z';  // name byte changed, checksum not updated
  Status s = data::for_each_tar_file_in_bytes(bad_sum, ok, "bad.tar");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();

  for (size_t cut : {size_t{100}, size_t{700}, size_t{512 + 1999}}) {
    Status t = data::for_each_tar_file_in_bytes(tar.substr(0, cut), ok, "cut.tar");
    EXPECT_FALSE(t) << "cut at " << cut;
    EXPECT_NE(t.message().find("truncated"), std::string::npos) << t.message();
  }
  std::string gz = gzip(tar);
  EXPECT_FALSE(data::for_each_tar_file_in_bytes(gz.substr(0, gz.size() / 2), ok));

  // A huge declared size on a short archive fails at the real end instead of allocating it.
  std::string huge = tar_header("h", 0, '0');
  std::snprintf(huge.data() + 124, 12, "%011llo", 077777777777ULL);
  std::memset(huge.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : huge) sum += c;
  std::snprintf(huge.data() + 148, 8, "%06o", sum);
  huge += std::string(1024, 'x');
  Status h = data::for_each_tar_file_in_bytes(huge, ok, "huge.tar");
  ASSERT_FALSE(h);
  EXPECT_NE(h.message().find("truncated"), std::string::npos) << h.message();

  // Garbage is not a tar archive.
  EXPECT_FALSE(data::for_each_tar_file_in_bytes(random_bytes(4096, 6), ok));
  EXPECT_FALSE(data::for_each_tar_file("/nonexistent/archive.tar.gz", ok));
}

TEST(IoTar, RandomMutationsNeverCrash) {
  std::string tar = tar_member("d/a", random_bytes(700, 7)) + tar_member("d/b", "bb") + tar_end();
  std::mt19937 rng(8);
  for (int trial = 0; trial < 300; ++trial) {
    std::string m = trial % 2 ? tar : gzip(tar);
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    if (rng() % 3 == 0) m.resize(rng() % m.size());
    Status s = data::for_each_tar_file_in_bytes(
        m, [](const data::TarEntry&, std::string_view) { return Status::ok(); });
    (void)s;  // either outcome is fine; it must not crash (ASan/UBSan builds check the rest)
  }
}
