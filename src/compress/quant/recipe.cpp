// JSON recipes: global quantization settings and per-layer overrides (see docs/quantization.md).
#include <nlohmann/json.hpp>

#include "compress/quant/common.h"

namespace condense::quant {

namespace {
using Json = nlohmann::json;

Status check_keys(const Json& j, std::initializer_list<const char*> keys, std::string_view what) {
  if (!j.is_object()) return Status::errorf("recipe: {} must be an object", what);
  for (const auto& [key, v] : j.items()) {
    bool known = false;
    std::string list;
    for (const char* k : keys) {
      known = known || key == k;
      list += list.empty() ? k : fmt::format(", {}", k);
    }
    if (!known)
      return Status::errorf("recipe: unknown key '{}' in {} (expected {})", key, what, list);
  }
  return Status::ok();
}

Result<std::string> get_string(const Json& j, const char* key, std::string_view what) {
  if (!j[key].is_string()) return Status::errorf("recipe: {}.{} must be a string", what, key);
  return j[key].get<std::string>();
}
Result<bool> get_bool(const Json& j, const char* key, std::string_view what) {
  if (!j[key].is_boolean()) return Status::errorf("recipe: {}.{} must be true or false", what, key);
  return j[key].get<bool>();
}
Result<double> get_number(const Json& j, const char* key, std::string_view what) {
  if (!j[key].is_number()) return Status::errorf("recipe: {}.{} must be a number", what, key);
  return j[key].get<double>();
}
Result<int64_t> get_int(const Json& j, const char* key, std::string_view what) {
  if (!j[key].is_number_integer())
    return Status::errorf("recipe: {}.{} must be an integer", what, key);
  return j[key].get<int64_t>();
}
Result<std::vector<std::string>> get_strings(const Json& j, const char* key,
                                             std::string_view what) {
  std::vector<std::string> out;
  const Json& a = j[key];
  if (a.is_string()) return std::vector<std::string>{a.get<std::string>()};
  if (!a.is_array()) return Status::errorf("recipe: {}.{} must be a list of strings", what, key);
  for (const Json& v : a) {
    if (!v.is_string()) return Status::errorf("recipe: {}.{} must be a list of strings", what, key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

// "weights": {...} into the optional fields of an override (global settings use the same code
// through a scratch override).
Status read_weights(const Json& w, LayerOverride& o, std::string_view what) {
  CONDENSE_TRY(check_keys(w,
                          {"dtype", "bits", "symmetric", "granularity", "block_size", "group",
                           "reduce_range", "per_channel"},
                          what));
  if (w.contains("dtype")) {
    CONDENSE_ASSIGN_OR_RETURN(std::string s, get_string(w, "dtype", what));
    auto t = parse_quant_dtype(s);
    if (!t) return t.status().with_context(fmt::format("recipe: {}.dtype", what));
    o.weight_dtype = *t;
  }
  if (w.contains("bits")) {
    CONDENSE_ASSIGN_OR_RETURN(int64_t bits, get_int(w, "bits", what));
    if (bits != 8 && bits != 4) return Status::errorf("recipe: {}.bits must be 8 or 4", what);
    o.weight_dtype = bits == 8 ? DType::I8 : DType::I4;
  }
  if (w.contains("symmetric")) {
    CONDENSE_ASSIGN_OR_RETURN(o.weight_symmetric, get_bool(w, "symmetric", what));
  }
  if (w.contains("granularity")) {
    CONDENSE_ASSIGN_OR_RETURN(std::string s, get_string(w, "granularity", what));
    auto g = parse_granularity(s);
    if (!g) return g.status().with_context(fmt::format("recipe: {}.granularity", what));
    o.granularity = *g;
  }
  if (w.contains("per_channel")) {
    CONDENSE_ASSIGN_OR_RETURN(bool pc, get_bool(w, "per_channel", what));
    o.granularity = pc ? Granularity::PerChannel : Granularity::PerTensor;
  }
  for (const char* key : {"block_size", "group"}) {
    if (!w.contains(key)) continue;
    CONDENSE_ASSIGN_OR_RETURN(o.block_size, get_int(w, key, what));
    if (!w.contains("granularity")) o.granularity = Granularity::PerGroup;
  }
  if (w.contains("reduce_range")) {
    CONDENSE_ASSIGN_OR_RETURN(o.reduce_range, get_bool(w, "reduce_range", what));
  }
  // Unsigned weights default to asymmetric (a symmetric uint grid wastes its zero point).
  if (o.weight_dtype && !w.contains("symmetric") &&
      (*o.weight_dtype == DType::U8 || *o.weight_dtype == DType::U4))
    o.weight_symmetric = false;
  return Status::ok();
}

Status read_activations(const Json& a, LayerOverride& o, std::string_view what) {
  CONDENSE_TRY(check_keys(a, {"dtype", "symmetric", "method", "percentile"}, what));
  if (a.contains("dtype")) {
    CONDENSE_ASSIGN_OR_RETURN(std::string s, get_string(a, "dtype", what));
    auto t = parse_quant_dtype(s);
    if (!t) return t.status().with_context(fmt::format("recipe: {}.dtype", what));
    o.activation_dtype = *t;
  }
  if (a.contains("symmetric")) {
    CONDENSE_ASSIGN_OR_RETURN(o.activation_symmetric, get_bool(a, "symmetric", what));
  }
  if (a.contains("method")) {
    CONDENSE_ASSIGN_OR_RETURN(std::string s, get_string(a, "method", what));
    auto m = parse_method(s);
    if (!m) return m.status().with_context(fmt::format("recipe: {}.method", what));
    o.method = *m;
  }
  if (a.contains("percentile")) {
    CONDENSE_ASSIGN_OR_RETURN(o.percentile, get_number(a, "percentile", what));
  }
  return Status::ok();
}

void apply_global(const LayerOverride& o, QuantizeOptions& q) {
  if (o.weight_dtype) q.weights.dtype = *o.weight_dtype;
  if (o.weight_symmetric) q.weights.symmetric = *o.weight_symmetric;
  if (o.granularity) q.weights.granularity = *o.granularity;
  if (o.block_size) q.weights.block_size = *o.block_size;
  if (o.reduce_range) q.weights.reduce_range = *o.reduce_range;
  if (o.activation_dtype) q.activations.dtype = *o.activation_dtype;
  if (o.activation_symmetric) q.activations.symmetric = *o.activation_symmetric;
  if (o.method) q.activations.method = *o.method;
  if (o.percentile) q.activations.percentile = *o.percentile;
}
}  // namespace

Result<QuantizeOptions> parse_recipe(std::string_view text, QuantizeOptions q) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    return Status::errorf("recipe is not valid JSON: {}", e.what());
  }
  CONDENSE_TRY(
      check_keys(j,
                 {"mode", "method", "percentile", "activations", "weights", "op_types", "exclude",
                  "overrides", "quantize_outputs", "histogram_bins", "ema_constant"},
                 "the recipe"));
  if (j.contains("mode")) {
    CONDENSE_ASSIGN_OR_RETURN(std::string s, get_string(j, "mode", "recipe"));
    auto m = parse_mode(s);
    if (!m) return m.status().with_context("recipe: mode");
    q.mode = *m;
  }
  LayerOverride global;
  if (j.contains("method") || j.contains("percentile")) {
    Json a = Json::object();
    if (j.contains("method")) a["method"] = j["method"];
    if (j.contains("percentile")) a["percentile"] = j["percentile"];
    CONDENSE_TRY(read_activations(a, global, "recipe"));
  }
  if (j.contains("activations"))
    CONDENSE_TRY(read_activations(j["activations"], global, "activations"));
  if (j.contains("weights")) CONDENSE_TRY(read_weights(j["weights"], global, "weights"));
  apply_global(global, q);
  if (j.contains("op_types")) {
    CONDENSE_ASSIGN_OR_RETURN(q.op_types, get_strings(j, "op_types", "recipe"));
  }
  if (j.contains("exclude")) {
    CONDENSE_ASSIGN_OR_RETURN(std::vector<std::string> ex, get_strings(j, "exclude", "recipe"));
    q.exclude.insert(q.exclude.end(), ex.begin(), ex.end());
  }
  if (j.contains("quantize_outputs")) {
    CONDENSE_ASSIGN_OR_RETURN(q.quantize_outputs, get_bool(j, "quantize_outputs", "recipe"));
  }
  if (j.contains("histogram_bins")) {
    CONDENSE_ASSIGN_OR_RETURN(q.histogram_bins, get_int(j, "histogram_bins", "recipe"));
  }
  if (j.contains("ema_constant")) {
    CONDENSE_ASSIGN_OR_RETURN(q.ema_constant, get_number(j, "ema_constant", "recipe"));
  }
  if (j.contains("overrides")) {
    if (!j["overrides"].is_array()) return Status::error("recipe: overrides must be a list");
    int index = 0;
    for (const Json& e : j["overrides"]) {
      const std::string what = fmt::format("overrides[{}]", index++);
      CONDENSE_TRY(check_keys(e, {"match", "exclude", "weights", "activations"}, what));
      LayerOverride o;
      if (!e.contains("match")) return Status::errorf("recipe: {} needs \"match\"", what);
      CONDENSE_ASSIGN_OR_RETURN(o.match, get_string(e, "match", what));
      if (e.contains("exclude")) {
        CONDENSE_ASSIGN_OR_RETURN(o.exclude, get_bool(e, "exclude", what));
      }
      if (e.contains("weights")) CONDENSE_TRY(read_weights(e["weights"], o, what + ".weights"));
      if (e.contains("activations"))
        CONDENSE_TRY(read_activations(e["activations"], o, what + ".activations"));
      q.overrides.push_back(std::move(o));
    }
  }
  CONDENSE_TRY(validate_options(q).with_context("recipe"));
  return q;
}

}  // namespace condense::quant
