// CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1..5.bin
// and test_batch.bin, each 10,000 records of 1 label byte + 3072 pixel bytes (the red, green and
// blue 32x32 planes, row-major), so a record is already a (3, 32, 32) CHW sample.
#include <condense/file.h>
#include <fmt/ranges.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "io/readers.h"

namespace condense::io_internal {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kPixels = 3 * 32 * 32;
constexpr int64_t kRecord = 1 + kPixels;

const std::vector<std::string>& default_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

std::vector<std::string> split_files(data::Split split) {
  if (split == data::Split::Test) return {"test_batch.bin"};
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("data_batch_{}.bin", i));
  return files;
}

// Appends the records of one batch file to pixels / labels.
Status append_records(std::string_view bytes, const std::string& what, std::vector<uint8_t>& pixels,
                      std::vector<int64_t>& labels) {
  if (bytes.empty() || bytes.size() % kRecord != 0)
    return Status::errorf(
        "'{}': {} bytes is not a whole number of {}-byte CIFAR-10 records (1 label byte + 3072 "
        "pixels; CIFAR-100's records have 2 label bytes)",
        what, bytes.size(), kRecord);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const int64_t n = static_cast<int64_t>(bytes.size()) / kRecord;
  const size_t at = pixels.size();
  pixels.resize(at + n * kPixels);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = p + i * kRecord;
    if (r[0] > 9)
      return Status::errorf("'{}': record {} has label {}; CIFAR-10 labels are 0..9", what, i,
                            r[0]);
    labels.push_back(r[0]);
    std::memcpy(pixels.data() + at + i * kPixels, r + 1, kPixels);
  }
  return Status::ok();
}

// batches.meta.txt: one class name per line (10 lines, maybe followed by blank ones).
std::vector<std::string> parse_meta(std::string_view text) {
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, nl - pos);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) names.emplace_back(line);
    pos = nl + 1;
  }
  return names.size() == 10 ? names : default_class_names();
}

}  // namespace

Result<data::TensorData> read_cifar10_binary(const std::string& path, data::Split split) {
  const std::vector<std::string> wanted = split_files(split);
  std::map<std::string, std::string> contents;  // file name -> bytes
  std::string meta;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir = path;
    if (!fs::exists(dir / wanted[0]) && fs::is_directory(dir / "cifar-10-batches-bin", ec))
      dir /= "cifar-10-batches-bin";
    for (const std::string& f : wanted) {
      if (!fs::exists(dir / f, ec))
        return Status::errorf("cifar10: '{}' has no {} (the {} split needs {})", dir.string(), f,
                              data::split_name(split), fmt::join(wanted, ", "));
      CONDENSE_ASSIGN_OR_RETURN(contents[f], read_file((dir / f).string()));
    }
    if (fs::exists(dir / "batches.meta.txt", ec)) {
      CONDENSE_ASSIGN_OR_RETURN(meta, read_file((dir / "batches.meta.txt").string()));
    }
  } else {
    // An archive: members <anything>/data_batch_N.bin etc.
    CONDENSE_TRY(data::for_each_tar_file(
        path, [&](const data::TarEntry& e, std::string_view bytes) -> Status {
          std::string base = fs::path(e.path).filename().string();
          if (base == "batches.meta.txt") meta = std::string(bytes);
          if (std::find(wanted.begin(), wanted.end(), base) != wanted.end())
            contents[base] = std::string(bytes);
          return Status::ok();
        }));
    for (const std::string& f : wanted)
      if (!contents.count(f))
        return Status::errorf("cifar10: archive '{}' has no {} (the {} split needs {})", path, f,
                              data::split_name(split), fmt::join(wanted, ", "));
  }
  std::vector<uint8_t> pixels;
  data::TensorData d;
  for (const std::string& f : wanted)
    CONDENSE_TRY(append_records(contents[f], (fs::path(path) / f).string(), pixels, d.labels));
  const int64_t n = static_cast<int64_t>(d.labels.size());
  d.x = Tensor::empty(DType::U8, {n, 3, 32, 32});
  std::memcpy(d.x.raw(), pixels.data(), pixels.size());
  d.layout = data::Layout::NCHW;
  d.num_classes = 10;
  d.class_names = meta.empty() ? default_class_names() : parse_meta(meta);
  return d;
}

}  // namespace condense::io_internal
