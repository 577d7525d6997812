// The calibration table as JSON: written by `condense calibrate`, edited by users, read back by
// `condense quantize --calib-table`.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "compress/quant/common.h"

namespace condense::quant {

namespace {
using Json = nlohmann::ordered_json;

Result<float> read_float(const Json& j, std::string_view what) {
  if (!j.is_number()) return Status::errorf("{} must be a number (got {})", what, j.dump());
  const double v = j.get<double>();
  if (!std::isfinite(v) || std::abs(v) > 3.4e38)
    return Status::errorf("{} = {} is not a finite f32", what, v);
  return static_cast<float>(v);
}
}  // namespace

const TensorCalibration* CalibrationTable::find(std::string_view name) const {
  for (const TensorCalibration& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// One line per tensor, so that a table reads (and diffs) like a list:
//   "conv1_out": {"method": "entropy", "min": 0, "max": 6.18, "range": [0, 5.82], ...},
std::string calibration_table_to_json(const CalibrationTable& table) {
  // Floats as the shortest text that reads back as the same f32.
  auto entry = [](const TensorCalibration& t) {
    return fmt::format(
        "{{\"method\": \"{}\", \"min\": {}, \"max\": {}, \"range\": [{}, {}], \"dtype\": \"{}\", "
        "\"symmetric\": {}, \"scale\": {}, \"zero_point\": {}}}",
        method_name(t.method), t.range.min, t.range.max, t.range.lo, t.range.hi,
        quant_dtype_name(t.dtype), t.symmetric, t.qparams.scale, t.qparams.zero_point);
  };
  Json head;
  head["format"] = "condense-calibration";
  head["version"] = 1;
  head["model"] = table.model;
  head["data"] = table.data;
  head["samples"] = table.samples;
  head["batches"] = table.batches;
  std::string out = "{\n";
  for (const auto& [k, v] : head.items())
    out += fmt::format("  {}: {},\n", Json(k).dump(), v.dump());
  out += "  \"tensors\": {";
  for (size_t i = 0; i < table.tensors.size(); ++i)
    out += fmt::format("{}\n    {}: {}", i ? "," : "", Json(table.tensors[i].name).dump(),
                       entry(table.tensors[i]));
  out += table.tensors.empty() ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

Result<CalibrationTable> parse_calibration_table(std::string_view text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    return Status::errorf("calibration table is not valid JSON: {}", e.what());
  }
  if (!j.is_object() || j.value("format", "") != "condense-calibration")
    return Status::error(
        "not a calibration table: expected a JSON object with \"format\": "
        "\"condense-calibration\" (what `condense calibrate` writes)");
  if (j.value("version", 0) != 1)
    return Status::errorf("calibration table version {} is not supported (expected 1)",
                          j.value("version", 0));
  CalibrationTable t;
  t.model = j.value("model", "");
  t.data = j.value("data", "");
  t.samples = j.value("samples", int64_t{0});
  t.batches = j.value("batches", int64_t{0});
  if (!j.contains("tensors") || !j["tensors"].is_object())
    return Status::error("calibration table: \"tensors\" must be an object of tensor entries");
  for (const auto& [name, e] : j["tensors"].items()) {
    const std::string what = fmt::format("calibration table: tensor '{}'", name);
    if (!e.is_object()) return Status::errorf("{}: entry must be an object", what);
    for (const auto& [key, v] : e.items()) {
      static const char* kKeys[] = {"method", "min",       "max",   "range",
                                    "dtype",  "symmetric", "scale", "zero_point"};
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
        return Status::errorf(
            "{}: unknown key '{}' (expected method, min, max, range, dtype, symmetric, scale, "
            "zero_point)",
            what, key);
    }
    TensorCalibration c;
    c.name = name;
    if (!e.contains("range") || !e["range"].is_array() || e["range"].size() != 2)
      return Status::errorf("{}: \"range\" must be [lo, hi]", what);
    CONDENSE_ASSIGN_OR_RETURN(c.range.lo, read_float(e["range"][0], what + " range[0]"));
    CONDENSE_ASSIGN_OR_RETURN(c.range.hi, read_float(e["range"][1], what + " range[1]"));
    if (c.range.lo > c.range.hi)
      return Status::errorf("{}: range [{}, {}] has lo > hi", what, c.range.lo, c.range.hi);
    c.range.min = c.range.lo;
    c.range.max = c.range.hi;
    if (e.contains("min")) {
      CONDENSE_ASSIGN_OR_RETURN(c.range.min, read_float(e["min"], what + " min"));
    }
    if (e.contains("max")) {
      CONDENSE_ASSIGN_OR_RETURN(c.range.max, read_float(e["max"], what + " max"));
    }
    if (e.contains("method")) {
      if (!e["method"].is_string()) return Status::errorf("{}: \"method\" must be a string", what);
      auto m = parse_method(e["method"].get<std::string>());
      if (!m) return m.status().with_context(what);
      c.method = *m;
    }
    // Scale and zero point are informational: kept to compare with what the range gives.
    c.qparams.scale = std::numeric_limits<float>::quiet_NaN();
    if (e.contains("dtype") && e.contains("symmetric") && e.contains("scale") &&
        e.contains("zero_point")) {
      if (!e["dtype"].is_string() || !e["symmetric"].is_boolean() ||
          !e["zero_point"].is_number_integer())
        return Status::errorf(
            "{}: dtype must be a string, symmetric a boolean, zero_point an "
            "integer",
            what);
      auto dt = parse_quant_dtype(e["dtype"].get<std::string>());
      if (!dt) return dt.status().with_context(what);
      c.dtype = *dt;
      c.symmetric = e["symmetric"].get<bool>();
      CONDENSE_ASSIGN_OR_RETURN(c.qparams.scale, read_float(e["scale"], what + " scale"));
      c.qparams.zero_point = e["zero_point"].get<int32_t>();
    }
    t.tensors.push_back(std::move(c));
  }
  return t;
}

}  // namespace condense::quant
