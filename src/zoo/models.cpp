// The zoo's registry, its option checks, and the small models (mlp, lenet5, gemm4096); the
// CIFAR networks and the transformer live in models_cifar.cpp and models_transformer.cpp.
#include "zoo/models.h"

#include <fmt/ranges.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace condense::zoo {

namespace {

using Builder = std::function<Status(LayerBuilder&, ir::Value*, const ZooOptions&)>;

// 784-300-100-10 (or the given hidden widths): Flatten, (Gemm, Relu) per hidden layer, Gemm.
Status build_mlp(LayerBuilder& b, ir::Value* x, const ZooOptions& o) {
  std::vector<int64_t> widths = o.widths.empty() ? std::vector<int64_t>{300, 100} : o.widths;
  CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));
  for (size_t i = 0; i < widths.size(); ++i) {
    std::string fc = fmt::format("fc{}", i + 1);
    CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, widths[i], fc));
    CONDENSE_ASSIGN_OR_RETURN(x, b.relu(x, fc + ".relu"));
  }
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, fmt::format("fc{}", widths.size() + 1)));
  b.output(x, "logits");
  return Status::ok();
}

// Caffe LeNet-5 (no activation after the convolutions, as in Caffe's example and Han et al.).
Status build_lenet5(LayerBuilder& b, ir::Value* x, const ZooOptions&) {
  CONDENSE_ASSIGN_OR_RETURN(x, b.conv(x, 20, 5, 1, 0, "conv1"));  // (N, 20, 24, 24)
  CONDENSE_ASSIGN_OR_RETURN(x, b.max_pool(x, 2, 2, "pool1"));     // (N, 20, 12, 12)
  CONDENSE_ASSIGN_OR_RETURN(x, b.conv(x, 50, 5, 1, 0, "conv2"));  // (N, 50, 8, 8)
  CONDENSE_ASSIGN_OR_RETURN(x, b.max_pool(x, 2, 2, "pool2"));     // (N, 50, 4, 4)
  CONDENSE_ASSIGN_OR_RETURN(x, b.flatten(x, "flatten"));          // (N, 800)
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 500, "fc1"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.relu(x, "fc1.relu"));
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 10, "fc2"));
  b.output(x, "logits");
  return Status::ok();
}

Status build_gemm4096(LayerBuilder& b, ir::Value* x, const ZooOptions&) {
  CONDENSE_ASSIGN_OR_RETURN(x, b.gemm(x, 4096, "fc"));
  b.output(x, "output");
  return Status::ok();
}

struct Entry {
  std::vector<int64_t> input;  // input dims after the batch dimension
  Builder build;
};

const std::map<std::string, Entry, std::less<>>& registry() {
  static const std::map<std::string, Entry, std::less<>> models = {
      {"mlp", {{1, 28, 28}, build_mlp}},
      {"lenet5", {{1, 28, 28}, build_lenet5}},
      {"gemm4096", {{4096}, build_gemm4096}},
      {"resnet20", {{3, 32, 32}, build_resnet20}},
      {"resnet32", {{3, 32, 32}, build_resnet32}},
      {"resnet56", {{3, 32, 32}, build_resnet56}},
      {"mobilenetv2", {{3, 32, 32}, build_mobilenetv2}},
      {"vgg-small", {{3, 32, 32}, build_vgg_small}},
      {"tiny-transformer", {{1, 28, 28}, build_tiny_transformer}},
  };
  return models;
}

Status validate(std::string_view name, const ZooOptions& o) {
  if (o.batch != -1 && o.batch < 1)
    return Status::errorf("batch must be >= 1 or -1 (symbolic), got {}", o.batch);
  if (!o.widths.empty() && name != "mlp")
    return Status::errorf("widths apply to mlp only, not {}", name);
  for (int64_t w : o.widths)
    if (w < 1) return Status::errorf("mlp widths must be >= 1, got {}", w);
  if (o.shortcut != "A" && o.shortcut != "B")
    return Status::errorf("shortcut must be A or B, got '{}'", o.shortcut);
  if (!std::isfinite(o.width) || o.width <= 0.0 || o.width > 4.0)
    return Status::errorf("width must be in (0, 4], got {}", o.width);
  if (o.width != 1.0 && name != "mobilenetv2")
    return Status::errorf("width applies to mobilenetv2 only, not {}", name);
  return Status::ok();
}

}  // namespace

bool uses_batchnorm(std::string_view name) {
  return name.starts_with("resnet") || name == "mobilenetv2" || name == "vgg-small";
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : registry()) names.push_back(name);
  return names;
}

Result<ir::Graph> build(std::string_view name, const ZooOptions& options) {
  auto it = registry().find(name);
  if (it == registry().end())
    return Status::errorf("unknown zoo model '{}' (known: {})", name,
                          fmt::join(model_names(), ", "));
  CONDENSE_TRY(validate(name, options));
  ir::Graph g;
  g.name = std::string(name);
  g.producer_name = "condense zoo";
  g.opset_imports[""] = kOpset;
  g.metadata["zoo_model"] = std::string(name);
  g.metadata["zoo_seed"] = std::to_string(options.seed);
  if (uses_batchnorm(name)) g.metadata["zoo_batchnorm"] = std::to_string(int{options.batchnorm});
  if (name == "mobilenetv2") g.metadata["zoo_width"] = fmt::format("{}", options.width);
  LayerBuilder b(g, options.seed);
  ir::Dims dims{options.batch < 0 ? ir::Dim::sym("N") : ir::Dim(options.batch)};
  for (int64_t d : it->second.input) dims.push_back(d);
  ir::Value* x = b.input("input", std::move(dims));
  Status s = it->second.build(b, x, options);
  if (!s) return s.with_context(fmt::format("building zoo model '{}'", name));
  CONDENSE_TRY(g.verify());
  return g;
}

int64_t parameter_count(const ir::Graph& g) {
  std::set<const ir::Value*> buffers;  // BatchNormalization running mean and variance
  for (const auto& n : g.nodes())
    if (n->op == OpKind::BatchNormalization && n->inputs.size() == 5) {
      buffers.insert(n->inputs[3]);
      buffers.insert(n->inputs[4]);
    }
  int64_t count = 0;
  for (const auto& v : g.values())
    if (v->is_constant() && v->dtype == DType::F32 && v->constant->rank() > 0 &&
        !buffers.count(v.get()))
      count += v->constant->numel();
  return count;
}

}  // namespace condense::zoo
