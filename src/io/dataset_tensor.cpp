// The in-memory dataset every reader produces (make_dataset), Dataset::batch, and the checks of
// a dataset against a model's input shape and class count.
#include <condense/data.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "io/channel_table.h"

namespace condense::data {

namespace {

class TensorDataset final : public Dataset {
 public:
  Tensor x;  // u8 or f32, (N, ...) as TensorData describes
  Layout layout = Layout::NCHW;
  Shape sample;       // (C, H, W) or (D)
  int64_t plane = 1;  // values per channel: H * W, or D for (D) samples
  std::vector<int64_t> labels;
  int64_t classes = 0;
  std::vector<std::string> names;
  std::string desc;
  Preprocess pre;
  io_internal::ChannelTable table;

  int64_t size() const override { return static_cast<int64_t>(labels.size()); }
  int64_t num_classes() const override { return classes; }
  std::vector<std::string> class_names() const override { return names; }
  Shape sample_shape() const override { return sample; }
  const Preprocess& preprocess() const override { return pre; }
  std::string description() const override { return desc; }
  int64_t label(int64_t index) const override {
    CONDENSE_CHECK(index >= 0 && index < size());
    return labels[index];
  }

  void read_sample(int64_t index, std::span<float> out) const override {
    CONDENSE_CHECK(index >= 0 && index < size());
    const int64_t numel = static_cast<int64_t>(out.size());
    CONDENSE_CHECK(numel == x.numel() / x.dim(0));
    const int64_t channels = numel / plane;
    float* dst = out.data();
    if (x.dtype() == DType::U8) {
      const uint8_t* src = x.data<uint8_t>() + index * numel;
      if (layout == Layout::NHWC) {
        for (int64_t c = 0; c < channels; ++c) {
          const float* lut = table.u8.data() + c * 256;
          for (int64_t i = 0; i < plane; ++i) dst[c * plane + i] = lut[src[i * channels + c]];
        }
      } else {
        for (int64_t c = 0; c < channels; ++c) {
          const float* lut = table.u8.data() + c * 256;
          for (int64_t i = 0; i < plane; ++i) dst[c * plane + i] = lut[src[c * plane + i]];
        }
      }
      return;
    }
    const float* src = x.data<float>() + index * numel;
    for (int64_t c = 0; c < channels; ++c) {
      const float m = table.mean[c], s = table.std[c];
      for (int64_t i = 0; i < plane; ++i) {
        const float v = layout == Layout::NHWC ? src[i * channels + c] : src[c * plane + i];
        dst[c * plane + i] = (v - m) / s;
      }
    }
  }
};

std::string dims_text(std::span<const int64_t> dims, bool batch_first) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < dims.size(); ++i)
    parts.push_back(dims[i] >= 0 ? std::to_string(dims[i]) : (i == 0 && batch_first ? "N" : "?"));
  return fmt::format("({})", fmt::join(parts, ", "));
}

}  // namespace

Result<std::unique_ptr<Dataset>> make_dataset(TensorData data) {
  const std::string& what = data.description;
  const Tensor& x = data.x;
  if (!x.defined() || (x.dtype() != DType::U8 && x.dtype() != DType::F32))
    return Status::errorf("{}: samples must be u8 or f32, got {}", what,
                          x.defined() ? dtype_name(x.dtype()) : "no tensor");
  const bool u8 = x.dtype() == DType::U8;
  const int64_t rank = x.rank();
  if ((u8 && rank != 3 && rank != 4) || (!u8 && (rank < 2 || rank > 4)))
    return Status::errorf(
        "{}: {} samples must have shape {}, got {}", what, dtype_name(x.dtype()),
        u8 ? "(N, H, W) or (N, H, W, C) or (N, C, H, W)" : "(N, C, H, W), (N, H, W) or (N, D)",
        shape_str(x.shape()));
  if (data.layout == Layout::NHWC && rank != 4)
    return Status::errorf("{}: channels-last layout needs (N, H, W, C), got {}", what,
                          shape_str(x.shape()));
  const int64_t n = x.dim(0);
  if (n < 1) return Status::errorf("{}: holds no samples", what);
  if (static_cast<int64_t>(data.labels.size()) != n)
    return Status::errorf("{}: {} samples but {} labels", what, n, data.labels.size());
  for (int64_t i = 1; i < rank; ++i)
    if (x.dim(i) < 1)
      return Status::errorf("{}: samples have an empty dimension: {}", what, shape_str(x.shape()));

  auto ds = std::make_unique<TensorDataset>();
  ds->layout = data.layout;
  if (rank == 2) {
    ds->sample = {x.dim(1)};
  } else if (rank == 3) {
    ds->sample = {1, x.dim(1), x.dim(2)};
  } else if (data.layout == Layout::NHWC) {
    ds->sample = {x.dim(3), x.dim(1), x.dim(2)};
  } else {
    ds->sample = {x.dim(1), x.dim(2), x.dim(3)};
  }
  const int64_t channels = rank == 2 ? 1 : ds->sample[0];
  ds->plane = rank == 2 ? ds->sample[0] : ds->sample[1] * ds->sample[2];  // (D): 1 channel

  int64_t max_label = -1;
  for (int64_t i = 0; i < n; ++i) {
    int64_t l = data.labels[i];
    if (l < 0 || (data.num_classes > 0 && l >= data.num_classes))
      return Status::errorf("{}: sample {} has label {}, outside 0..{}", what, i, l,
                            data.num_classes > 0 ? data.num_classes - 1 : int64_t{0});
    max_label = std::max(max_label, l);
  }
  ds->classes = data.num_classes > 0 ? data.num_classes : max_label + 1;
  if (!data.class_names.empty() && static_cast<int64_t>(data.class_names.size()) != ds->classes)
    return Status::errorf("{}: {} class names for {} classes", what, data.class_names.size(),
                          ds->classes);
  auto table = io_internal::make_channel_table(data.preprocess, channels);
  if (!table) return table.status().with_context(what);
  ds->table = std::move(*table);
  ds->x = std::move(data.x);
  ds->labels = std::move(data.labels);
  ds->names = std::move(data.class_names);
  ds->desc = std::move(data.description);
  ds->pre = std::move(data.preprocess);
  return std::unique_ptr<Dataset>(std::move(ds));
}

int64_t Dataset::sample_numel() const {
  int64_t n = 1;
  for (int64_t d : sample_shape()) n *= d;
  return n;
}

Result<Batch> Dataset::batch(int64_t start, int64_t count) const {
  if (start < 0 || start >= size() || count < 1)
    return Status::errorf("batch [{}, {}+{}) is out of range for a dataset of {} samples", start,
                          start, count, size());
  count = std::min(count, size() - start);
  Shape shape = sample_shape();
  shape.insert(shape.begin(), count);
  const int64_t numel = sample_numel();
  Batch b;
  b.x = Tensor::empty(DType::F32, shape);
  b.y = Tensor::empty(DType::I64, {count});
  for (int64_t i = 0; i < count; ++i) {
    read_sample(start + i, std::span<float>(b.x.data<float>() + i * numel, numel));
    b.indices.push_back(start + i);
    b.labels.push_back(label(start + i));
    b.y.data<int64_t>()[i] = b.labels.back();
  }
  return b;
}

Status check_labels(const Dataset& dataset, int64_t num_classes) {
  if (num_classes < 1)
    return Status::errorf("cannot check labels of dataset '{}' against {} classes",
                          dataset.description(), num_classes);
  for (int64_t i = 0; i < dataset.size(); ++i) {
    int64_t l = dataset.label(i);
    if (l < 0 || l >= num_classes)
      return Status::errorf(
          "dataset '{}': sample {} has label {}, out of range for a model with {} classes "
          "(outputs 0..{})",
          dataset.description(), i, l, num_classes, num_classes - 1);
  }
  return Status::ok();
}

Status check_sample_shape(const Dataset& dataset, const std::vector<int64_t>& input_dims,
                          std::string_view input_name) {
  const Shape sample = dataset.sample_shape();
  const size_t rank = input_dims.size();
  bool fits = rank == sample.size() + 1;
  for (size_t i = 1; fits && i < rank; ++i)
    fits = input_dims[i] < 0 || input_dims[i] == sample[i - 1];
  if (fits) return Status::ok();
  if (rank == 2 && (input_dims[1] < 0 || input_dims[1] == dataset.sample_numel()))
    return Status::ok();  // a flat (N, D) input: the caller reshapes each batch
  std::string detail;
  if (rank == 4 && sample.size() == 3) {
    std::vector<std::string> diffs;
    if (input_dims[1] >= 0 && input_dims[1] != sample[0])
      diffs.push_back(
          fmt::format("{} channel{} vs {}", sample[0], sample[0] == 1 ? "" : "s", input_dims[1]));
    if ((input_dims[2] >= 0 && input_dims[2] != sample[1]) ||
        (input_dims[3] >= 0 && input_dims[3] != sample[2]))
      diffs.push_back(fmt::format("{}x{} pixels vs {}x{}", sample[1], sample[2],
                                  input_dims[2] >= 0 ? std::to_string(input_dims[2]) : "?",
                                  input_dims[3] >= 0 ? std::to_string(input_dims[3]) : "?"));
    if (!diffs.empty()) detail = fmt::format(": {}", fmt::join(diffs, ", "));
  } else if (rank == 2) {
    detail = fmt::format(": {} values per sample vs {}", dataset.sample_numel(), input_dims[1]);
  }
  return Status::errorf("dataset '{}' has samples {} but model input '{}' is {}{}",
                        dataset.description(), dims_text(sample, false), input_name,
                        dims_text(input_dims, true), detail);
}

}  // namespace condense::data
