#include <condense/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace condense {

Result<std::string> read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::errorf("cannot open '{}': {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::errorf("'{}' is a directory, not a file", path);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::errorf("cannot open '{}': {}", path, std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return Status::errorf("error reading '{}'", path);
  return bytes;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

Status write_file_atomic(const std::string& path, std::string_view bytes,
                         const std::string& protect) {
  if (!protect.empty() && same_file(path, protect))
    return Status::errorf("refusing to overwrite the input '{}': choose another output path", path);
  static std::atomic<int> counter{0};
  std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::errorf("cannot write '{}': {}", path, std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok &= std::fflush(f) == 0;
  ok &= ::fsync(fileno(f)) == 0;
  ok &= std::fclose(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return Status::errorf("cannot write '{}': {}", path, std::strerror(e));
  }
  return Status::ok();
}

}  // namespace condense
