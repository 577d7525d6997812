// Image folders (directory or tar archive) and IDX pairs, as in-memory datasets (make_dataset).
#include <condense/data.h>
#include <condense/file.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

namespace condense::data {

namespace {

namespace fs = std::filesystem;

bool is_image_name(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext(name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view part = p.substr(pos, slash - pos);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    pos = slash + 1;
  }
  return parts;
}

// One image file found in the folder: its class folder, a name for messages, encoded bytes.
struct Found {
  std::string cls;
  std::string name;
  std::string bytes;
};

Status collect_from_archive(const std::string& path, const ImageFolderOptions& options,
                            std::vector<Found>& found) {
  std::vector<std::string> prefix = split_path(options.prefix);
  std::vector<std::string> roots;  // per found image: the folder holding its class folder
  CONDENSE_TRY(for_each_tar_file(path, [&](const TarEntry& e, std::string_view contents) -> Status {
    std::vector<std::string> parts = split_path(e.path);
    if (parts.size() < prefix.size() + 2 || !is_image_name(parts.back())) return Status::ok();
    if (!std::equal(prefix.begin(), prefix.end(), parts.begin())) return Status::ok();
    // Hidden files (e.g. macOS "._x.jpg" resource forks) are not images.
    if (std::any_of(parts.begin() + prefix.size(), parts.end(),
                    [](const std::string& s) { return s[0] == '.'; }))
      return Status::ok();
    std::string root;
    for (size_t i = 0; i + 2 < parts.size(); ++i) root += parts[i] + "/";
    roots.push_back(std::move(root));
    found.push_back({parts[parts.size() - 2], e.path, std::string(contents)});
    return Status::ok();
  }));
  // Without a prefix, an archive holding the split's folder (train/<class>/...) reads that.
  const std::string split_root = options.split_folder + "/";
  if (prefix.empty() && !options.split_folder.empty() &&
      std::any_of(roots.begin(), roots.end(),
                  [&](const std::string& r) { return r.starts_with(split_root); })) {
    size_t kept = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      if (!roots[i].starts_with(split_root)) continue;
      if (kept != i) {  // (a self-move would empty the strings)
        roots[kept] = std::move(roots[i]);
        found[kept] = std::move(found[i]);
      }
      ++kept;
    }
    roots.resize(kept);
    found.resize(kept);
  }
  // The class folders must all sit in one folder, or classes of different splits would mix.
  for (size_t i = 1; i < roots.size(); ++i)
    if (roots[i] != roots[0])
      return Status::errorf(
          "images in different folders ('{}' and '{}'): choose one with a prefix (e.g. the "
          "split name)",
          found[0].name, found[i].name);
  return Status::ok();
}

Status collect_from_directory(const fs::path& root, std::vector<Found>& found) {
  std::error_code ec;
  for (fs::directory_iterator cls(root, ec), end; !ec && cls != end; cls.increment(ec)) {
    std::string cls_name = cls->path().filename().string();
    if (!cls->is_directory() || cls_name.empty() || cls_name[0] == '.') continue;
    std::error_code ec2;
    size_t before = found.size();
    for (fs::directory_iterator f(cls->path(), ec2), end2; !ec2 && f != end2; f.increment(ec2)) {
      std::string name = f->path().filename().string();
      if (!f->is_regular_file() || name[0] == '.' || !is_image_name(name)) continue;
      CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(f->path().string()));
      found.push_back({cls_name, f->path().string(), std::move(bytes)});
    }
    if (ec2) return Status::errorf("cannot list '{}': {}", cls->path().string(), ec2.message());
    // Labels come from the sorted class folders: silently dropping an empty one would shift the
    // labels of every class after it.
    if (found.size() == before)
      return Status::errorf("class folder '{}' holds no images (.jpg, .jpeg, .png)",
                            cls->path().string());
  }
  if (ec) return Status::errorf("cannot list '{}': {}", root.string(), ec.message());
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Dataset>> open_image_folder(const std::string& path,
                                                   const ImageFolderOptions& options) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Status::errorf("image folder '{}' does not exist", path);
  std::vector<Found> found;
  if (fs::is_directory(st)) {
    fs::path root = options.prefix.empty() ? fs::path(path) : fs::path(path) / options.prefix;
    if (options.prefix.empty() && !options.split_folder.empty() &&
        fs::is_directory(root / options.split_folder, ec))
      root /= options.split_folder;
    if (!fs::is_directory(root, ec))
      return Status::errorf("'{}' is not a directory", root.string());
    CONDENSE_TRY(collect_from_directory(root, found));
  } else {
    CONDENSE_TRY(collect_from_archive(path, options, found));
  }
  if (found.empty())
    return Status::errorf("no images (<class>/<name>.jpg|jpeg|png) found in '{}'{}", path,
                          options.prefix.empty() ? "" : fmt::format(" under '{}'", options.prefix));

  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.cls != b.cls ? a.cls < b.cls : a.name < b.name;
  });
  if (options.limit > 0 && static_cast<size_t>(options.limit) < found.size())
    found.resize(options.limit);

  TensorData data;
  data.description = !options.description.empty()
                         ? options.description
                         : path + (options.prefix.empty() ? "" : ":" + options.prefix);
  data.preprocess = options.preprocess;
  std::map<std::string, int64_t> label_of;
  for (const Found& f : found) {
    if (label_of.emplace(f.cls, static_cast<int64_t>(data.class_names.size())).second)
      data.class_names.push_back(f.cls);
    data.labels.push_back(label_of[f.cls]);
  }
  data.num_classes = static_cast<int64_t>(data.class_names.size());
  // Decode in parallel (at open, on the caller's thread); the first failure (in sample order) is
  // reported.
  const int64_t n = static_cast<int64_t>(found.size());
  std::vector<Image> images(n);
  std::vector<Status> errors(n);
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    auto img = decode_image(found[i].bytes);
    if (img)
      images[i] = std::move(*img);
    else
      errors[i] = img.status();
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!errors[i].is_ok())
      return errors[i].with_context(fmt::format("'{}': image '{}'", path, found[i].name));
    const Image& a = images[0];
    const Image& b = images[i];
    if (b.width != a.width || b.height != a.height)
      return Status::errorf(
          "'{}': image '{}' is {}x{} but '{}' is {}x{}: all images must have one size", path,
          found[i].name, b.width, b.height, found[0].name, a.width, a.height);
  }
  // Stacked channels-last: (N, H, W, 3) u8, as decoded.
  const int64_t h = images[0].height, w = images[0].width, bytes = h * w * 3;
  data.x = Tensor::empty(DType::U8, {n, h, w, 3});
  data.layout = Layout::NHWC;
  for (int64_t i = 0; i < n; ++i) {
    std::copy(images[i].pixels.begin(), images[i].pixels.end(), data.x.data<uint8_t>() + i * bytes);
    std::vector<uint8_t>().swap(images[i].pixels);
  }
  return make_dataset(std::move(data));
}

Result<std::unique_ptr<Dataset>> open_idx(const std::string& images_path,
                                          const std::string& labels_path,
                                          const Preprocess& preprocess) {
  CONDENSE_ASSIGN_OR_RETURN(Tensor images, read_idx(images_path));
  CONDENSE_ASSIGN_OR_RETURN(Tensor labels, read_idx(labels_path));
  if (images.dtype() != DType::U8 || images.rank() != 3)
    return Status::errorf("'{}': expected u8 images (N, H, W), got {} {}", images_path,
                          dtype_name(images.dtype()), shape_str(images.shape()));
  if (labels.dtype() != DType::U8 || labels.rank() != 1)
    return Status::errorf("'{}': expected u8 labels (N), got {} {}", labels_path,
                          dtype_name(labels.dtype()), shape_str(labels.shape()));
  if (labels.dim(0) != images.dim(0))
    return Status::errorf("'{}' has {} images but '{}' has {} labels", images_path, images.dim(0),
                          labels_path, labels.dim(0));
  if (images.dim(0) == 0) return Status::errorf("'{}' holds no images", images_path);
  TensorData data;
  data.x = std::move(images);
  data.description = images_path;
  data.preprocess = preprocess;
  const uint8_t* l = labels.data<uint8_t>();
  data.labels.assign(l, l + labels.dim(0));
  return make_dataset(std::move(data));
}

}  // namespace condense::data
