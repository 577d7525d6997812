// Writes a seeded random sample of a data set, preprocessed as condense feeds it to a model, as
// one .npy (f32, (N, C, H, W)): the calibration images for the PyTorch int8 peer
// (bench/peers/torch_bench.py --calib-npy), which has no JPEG decoder of its own.
//
//   condense_dump_samples imagefolder:cifar10-train-jpeg.tar.gz --count 1024 -o calib.npy
#include <condense/data.h>
#include <condense/npy.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <numeric>
#include <random>

using namespace condense;

int main(int argc, char** argv) {
  CLI::App app{"dump preprocessed samples of a data set as .npy"};
  std::string spec_text, out, labels_out, normalize = "imagenet", split_text = "train";
  int64_t count = 1024;
  uint64_t seed = 0;
  app.add_option("data", spec_text, "dataset spec, as condense takes it")->required();
  app.add_option("-o,--output", out, "output .npy")->required();
  app.add_option("--labels", labels_out, "also write the labels (i64, (N)) here");
  app.add_option("--count", count, "samples (default 1024)")->check(CLI::PositiveNumber);
  app.add_option("--normalize", normalize, "imagenet (default), cifar10, mnist, unit, raw");
  app.add_option("--split", split_text, "train (default) or test");
  app.add_option("--seed", seed, "which samples (default 0)");
  CLI11_PARSE(app, argc, argv);
  auto fail = [](const Status& s) {
    fmt::print(stderr, "error: {}\n", s.message());
    return 1;
  };
  auto spec = data::parse_dataset_spec(spec_text);
  if (!spec) return fail(spec.status());
  data::DatasetOptions o;
  auto split = data::parse_split(split_text);
  if (!split) return fail(split.status());
  o.split = *split;
  auto pre = data::parse_normalization(normalize);
  if (!pre) return fail(pre.status());
  o.preprocess = *pre;
  auto ds = data::open_dataset(*spec, o);
  if (!ds) return fail(ds.status());
  const int64_t n = std::min(count, (*ds)->size());
  std::vector<int64_t> order((*ds)->size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  Shape shape{n};
  for (int64_t d : (*ds)->sample_shape()) shape.push_back(d);
  Tensor x = Tensor::empty(DType::F32, shape);
  const int64_t per = (*ds)->sample_numel();
  Tensor y = Tensor::empty(DType::I64, {n});
  for (int64_t i = 0; i < n; ++i) {
    (*ds)->read_sample(order[i], std::span<float>(x.data<float>() + i * per, per));
    y.data<int64_t>()[i] = (*ds)->label(order[i]);
  }
  Status w = npy::write(out, x);
  if (!w) return fail(w);
  if (!labels_out.empty()) {
    Status wl = npy::write(labels_out, y);
    if (!wl) return fail(wl);
  }
  fmt::print("wrote {}: {} samples {} of {}\n", out, n, shape_str(x.shape()), (*ds)->description());
  return 0;
}
