// Dataset specs (KIND:PATH[:SUB], the CLI's --data) and the readers they name: MNIST-family IDX
// folders and NumPy x/y pairs here, CIFAR-10 binary in cifar10.cpp, image folders in datasets.cpp.
#include <condense/npy.h>
#include <fmt/ranges.h>

#include <cstring>
#include <filesystem>

#include "io/readers.h"

namespace condense::data {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFashionMnistDefault = "/usr/share/datasets/fashion-mnist";

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

}  // namespace

std::string_view split_name(Split split) {
  return split == Split::Train ? "train" : "test";
}

Result<Split> parse_split(std::string_view text) {
  if (text == "train") return Split::Train;
  if (text == "test") return Split::Test;
  return Status::errorf("unknown split '{}' (train or test)", text);
}

std::vector<std::string> dataset_kinds() {
  return {"mnist", "fashion-mnist", "cifar10", "imagefolder", "npz"};
}

std::string DatasetSpec::str() const {
  std::string s = kind;
  if (!path.empty()) s += ":" + path;
  if (!subfolder.empty()) s += ":" + subfolder;
  return s;
}

Result<DatasetSpec> parse_dataset_spec(std::string_view text) {
  const std::string usage =
      fmt::format("KIND:PATH with KIND one of {}", fmt::join(dataset_kinds(), ", "));
  if (text.empty()) return Status::errorf("empty dataset spec: expected {}", usage);
  DatasetSpec spec;
  size_t colon = text.find(':');
  spec.kind = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) spec.path = std::string(text.substr(colon + 1));
  auto kinds = dataset_kinds();
  if (std::find(kinds.begin(), kinds.end(), spec.kind) == kinds.end())
    return Status::errorf("dataset spec '{}': unknown kind '{}' (expected {})", text, spec.kind,
                          usage);
  if (spec.kind == "imagefolder") {
    // imagefolder:PATH[:SUB]: a second colon starts the subfolder.
    size_t sub = spec.path.rfind(':');
    if (sub != std::string::npos) {
      spec.subfolder = spec.path.substr(sub + 1);
      spec.path.resize(sub);
      if (spec.subfolder.empty())
        return Status::errorf("dataset spec '{}': empty subfolder after the last ':'", text);
    }
  }
  if (spec.path.empty()) {
    if (spec.kind != "fashion-mnist")
      return Status::errorf("dataset spec '{}' has no path: expected {}:PATH", text, spec.kind);
    spec.path = kFashionMnistDefault;
  }
  return spec;
}

Result<std::unique_ptr<Dataset>> open_dataset(const DatasetSpec& spec,
                                              const DatasetOptions& options) {
  std::error_code ec;
  if (!fs::exists(spec.path, ec)) {
    Status s = Status::errorf("dataset path '{}' does not exist", spec.path);
    if (spec.kind == "fashion-mnist" && spec.path == kFashionMnistDefault)
      s = Status::errorf(
          "dataset path '{}' does not exist (it comes with Debian's package dataset-fashion-mnist: "
          "apt-get install dataset-fashion-mnist)",
          spec.path);
    return s;
  }
  if (options.limit < 0) return Status::errorf("dataset limit must be >= 0, got {}", options.limit);
  const std::string what = fmt::format("{} ({})", spec.str(), split_name(options.split));
  if (spec.kind == "imagefolder") {
    ImageFolderOptions o;
    o.preprocess = options.preprocess;
    o.prefix = spec.subfolder;
    o.split_folder = std::string(split_name(options.split));
    o.limit = options.limit;
    o.description = what;
    auto ds = open_image_folder(spec.path, o);
    if (!ds) return ds.status().with_context(fmt::format("dataset '{}'", what));
    return ds;
  }
  Result<TensorData> data = Status::error("unreachable");
  if (spec.kind == "mnist" || spec.kind == "fashion-mnist")
    data = io_internal::read_mnist_folder(spec.path, options.split);
  else if (spec.kind == "cifar10")
    data = io_internal::read_cifar10_binary(spec.path, options.split);
  else if (spec.kind == "npz")
    data = io_internal::read_npy_pair(spec.path, options.split);
  else
    return Status::errorf("dataset spec '{}': unknown kind '{}'", spec.str(), spec.kind);
  if (!data) return data.status();
  if (spec.kind == "fashion-mnist") data->class_names = fashion_mnist_classes();
  io_internal::keep_first(*data, options.limit);
  data->description = what;
  data->preprocess = options.preprocess;
  return make_dataset(std::move(*data));
}

}  // namespace condense::data

namespace condense::io_internal {

namespace {

namespace fs = std::filesystem;

// The first of `names` (each tried plain and .gz) that exists in `dir`; "" if none.
std::string find_file(const fs::path& dir, std::initializer_list<const char*> names) {
  std::error_code ec;
  for (const char* n : names)
    for (const char* ext : {"", ".gz"}) {
      fs::path p = dir / (std::string(n) + ext);
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  return "";
}

}  // namespace

void keep_first(data::TensorData& data, int64_t limit) {
  const int64_t n = data.x.dim(0);
  if (limit <= 0 || limit >= n) return;
  Shape shape = data.x.shape();
  shape[0] = limit;
  Tensor x = Tensor::empty(data.x.dtype(), shape);
  std::memcpy(x.raw(), data.x.raw(), x.nbytes());
  data.x = std::move(x);
  data.labels.resize(limit);
}

Result<data::TensorData> read_mnist_folder(const std::string& dir, data::Split split) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Status::errorf(
        "'{}' is not a directory (an MNIST-style dataset is a folder of IDX files)", dir);
  const bool train = split == data::Split::Train;
  std::string images = train
                           ? find_file(dir, {"train-images-idx3-ubyte", "train-images.idx3-ubyte"})
                           : find_file(dir, {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"});
  std::string labels = train
                           ? find_file(dir, {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"})
                           : find_file(dir, {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"});
  const char* prefix = train ? "train" : "t10k";
  if (images.empty() || labels.empty())
    return Status::errorf("'{}' has no {} {} file ({}-{}-ubyte, plain or .gz)", dir,
                          data::split_name(split), images.empty() ? "image" : "label", prefix,
                          images.empty() ? "images-idx3" : "labels-idx1");
  CONDENSE_ASSIGN_OR_RETURN(Tensor x, data::read_idx(images));
  CONDENSE_ASSIGN_OR_RETURN(Tensor y, data::read_idx(labels));
  if (x.dtype() != DType::U8 || x.rank() != 3)
    return Status::errorf("'{}': expected u8 images (N, H, W), got {} {}", images,
                          dtype_name(x.dtype()), shape_str(x.shape()));
  if (y.dtype() != DType::U8 || y.rank() != 1)
    return Status::errorf("'{}': expected u8 labels (N), got {} {}", labels, dtype_name(y.dtype()),
                          shape_str(y.shape()));
  if (y.dim(0) != x.dim(0))
    return Status::errorf("'{}' has {} images but '{}' has {} labels", images, x.dim(0), labels,
                          y.dim(0));
  data::TensorData d;
  const uint8_t* l = y.data<uint8_t>();
  for (int64_t i = 0; i < y.dim(0); ++i) {
    if (l[i] > 9)
      return Status::errorf("'{}': label {} of sample {} is out of range 0..9", labels, l[i], i);
    d.labels.push_back(l[i]);
  }
  d.x = std::move(x);
  d.num_classes = 10;
  for (int c = 0; c < 10; ++c) d.class_names.push_back(std::to_string(c));
  return d;
}

namespace {

// x as make_dataset takes it: u8 kept (rank 4: channels-last when the last dimension is 1, 3 or
// 4), float types converted to f32.
Status set_samples(data::TensorData& d, Tensor x, const std::string& what) {
  if (x.dtype() == DType::U8) {
    if (x.rank() == 4) {
      const int64_t last = x.dim(3);
      d.layout = last == 1 || last == 3 || last == 4 ? data::Layout::NHWC : data::Layout::NCHW;
    }
    d.x = std::move(x);
    return Status::ok();
  }
  if (dtype_is_float(x.dtype())) {
    std::vector<float> v = x.to_f32_vector();
    d.x = Tensor::from_vector<float>(v, x.shape());
    return Status::ok();
  }
  return Status::errorf("'{}': x must be u8 images or floats, got {}", what, dtype_name(x.dtype()));
}

Status set_labels(data::TensorData& d, const Tensor& y, const std::string& what) {
  if (!dtype_is_integer(y.dtype()))
    return Status::errorf("'{}': y must hold integer class labels, got {}", what,
                          dtype_name(y.dtype()));
  if (!(y.rank() == 1 || (y.rank() == 2 && y.dim(1) == 1)))
    return Status::errorf("'{}': y must have shape (N) or (N, 1), got {}", what,
                          shape_str(y.shape()));
  d.labels = y.to_i64_vector();
  for (size_t i = 0; i < d.labels.size(); ++i)
    if (d.labels[i] < 0)
      return Status::errorf("'{}': label {} of sample {} is negative", what, d.labels[i], i);
  return Status::ok();
}

}  // namespace

Result<data::TensorData> read_npy_pair(const std::string& path, data::Split split) {
  const std::string sfx = std::string("_") + std::string(data::split_name(split));
  Tensor x, y;
  std::string xname, yname;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir = path;
    for (const std::string& s : {sfx, std::string()}) {
      if (fs::exists(dir / ("x" + s + ".npy"), ec) && fs::exists(dir / ("y" + s + ".npy"), ec)) {
        xname = (dir / ("x" + s + ".npy")).string();
        yname = (dir / ("y" + s + ".npy")).string();
        break;
      }
    }
    if (xname.empty())
      return Status::errorf("'{}' has neither x{}.npy + y{}.npy nor x.npy + y.npy", path, sfx, sfx);
    CONDENSE_ASSIGN_OR_RETURN(x, npy::read(xname));
    CONDENSE_ASSIGN_OR_RETURN(y, npy::read(yname));
  } else {
    CONDENSE_ASSIGN_OR_RETURN(std::vector<npy::NamedArray> arrays, npy::read_npz(path));
    auto find = [&](const std::string& name) -> const Tensor* {
      for (const auto& a : arrays)
        if (a.name == name) return &a.tensor;
      return nullptr;
    };
    for (const std::string& s : {sfx, std::string()}) {
      if (find("x" + s) && find("y" + s)) {
        xname = path + ":x" + s;
        yname = path + ":y" + s;
        x = *find("x" + s);
        y = *find("y" + s);
        break;
      }
    }
    if (xname.empty()) {
      std::vector<std::string> names;
      for (const auto& a : arrays) names.push_back(a.name);
      return Status::errorf("'{}' has neither members x{} + y{} nor x + y (it has: {})", path, sfx,
                            sfx, fmt::join(names, ", "));
    }
  }
  data::TensorData d;
  CONDENSE_TRY(set_samples(d, std::move(x), xname));
  CONDENSE_TRY(set_labels(d, y, yname));
  if (d.x.rank() < 2)
    return Status::errorf("'{}': x must have a sample dimension after N, got {}", xname,
                          shape_str(d.x.shape()));
  if (static_cast<int64_t>(d.labels.size()) != d.x.dim(0))
    return Status::errorf("'{}' has {} samples but '{}' has {} labels", xname, d.x.dim(0), yname,
                          d.labels.size());
  return d;
}

}  // namespace condense::io_internal
