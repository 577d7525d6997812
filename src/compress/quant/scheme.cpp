// Names of modes, methods, granularities and quantized dtypes; option validation.
#include <condense/quant.h>

#include "compress/quant/common.h"

namespace condense::quant {

namespace {
template <typename E, size_t N>
Result<E> parse_name(std::string_view text, const std::pair<std::string_view, E> (&table)[N],
                     std::string_view what) {
  std::string names;
  for (const auto& [name, value] : table) {
    if (text == name) return value;
    if (!names.empty()) names += ", ";
    names += name;
  }
  return Status::errorf("unknown {} '{}' (expected one of: {})", what, text, names);
}

constexpr std::pair<std::string_view, Mode> kModes[] = {
    {"static", Mode::Static}, {"dynamic", Mode::Dynamic}, {"weight-only", Mode::WeightOnly}};
constexpr std::pair<std::string_view, Method> kMethods[] = {{"minmax", Method::MinMax},
                                                            {"ema", Method::Ema},
                                                            {"percentile", Method::Percentile},
                                                            {"entropy", Method::Entropy},
                                                            {"mse", Method::Mse}};
constexpr std::pair<std::string_view, Granularity> kGranularities[] = {
    {"per-tensor", Granularity::PerTensor},
    {"per-channel", Granularity::PerChannel},
    {"per-group", Granularity::PerGroup}};
constexpr std::pair<std::string_view, DType> kQuantDtypes[] = {
    {"int8", DType::I8}, {"uint8", DType::U8}, {"int4", DType::I4}, {"uint4", DType::U4},
    {"i8", DType::I8},   {"u8", DType::U8},    {"i4", DType::I4},   {"u4", DType::U4}};

template <typename E, size_t N>
std::string_view name_of(E v, const std::pair<std::string_view, E> (&table)[N]) {
  for (const auto& [name, value] : table)
    if (value == v) return name;
  return "?";
}
}  // namespace

Result<Mode> parse_mode(std::string_view text) {
  return parse_name(text, kModes, "quantization mode");
}
std::string_view mode_name(Mode m) {
  return name_of(m, kModes);
}
Result<Method> parse_method(std::string_view text) {
  return parse_name(text, kMethods, "calibration method");
}
std::string_view method_name(Method m) {
  return name_of(m, kMethods);
}
Result<Granularity> parse_granularity(std::string_view text) {
  return parse_name(text, kGranularities, "granularity");
}
std::string_view granularity_name(Granularity g) {
  return name_of(g, kGranularities);
}
Result<DType> parse_quant_dtype(std::string_view text) {
  return parse_name(text, kQuantDtypes, "quantized type");
}

std::string_view quant_dtype_name(DType t) {
  switch (t) {
    case DType::I8:
      return "int8";
    case DType::U8:
      return "uint8";
    case DType::I4:
      return "int4";
    case DType::U4:
      return "uint4";
    default:
      return dtype_name(t);
  }
}

namespace {

Status validate_weight_scheme(const WeightScheme& w, std::string_view where) {
  if (w.dtype != DType::I8 && w.dtype != DType::U8 && w.dtype != DType::I4 && w.dtype != DType::U4)
    return Status::errorf("{}weights: type {} is not int8, uint8, int4 or uint4", where,
                          quant_dtype_name(w.dtype));
  if (w.granularity == Granularity::PerGroup && (w.block_size < 2 || w.block_size > (1 << 20)))
    return Status::errorf("{}weights: block size {} must be in [2, 1048576]", where, w.block_size);
  return Status::ok();
}

Status validate_activation_scheme(const ActivationScheme& a, std::string_view where) {
  if (a.dtype != DType::U8 && a.dtype != DType::I8)
    return Status::errorf("{}activations: type {} is not int8 or uint8", where,
                          quant_dtype_name(a.dtype));
  if (!(a.percentile > 0 && a.percentile <= 100))
    return Status::errorf("{}percentile {} must be in (0, 100]", where, a.percentile);
  return Status::ok();
}
}  // namespace

Status validate_options(const QuantizeOptions& o) {
  CONDENSE_TRY(validate_weight_scheme(o.weights, ""));
  CONDENSE_TRY(validate_activation_scheme(o.activations, ""));
  if (o.histogram_bins < 128 || o.histogram_bins > (1 << 16))
    return Status::errorf("histogram bins {} must be in [128, 65536]", o.histogram_bins);
  if (!(o.ema_constant > 0 && o.ema_constant <= 1))
    return Status::errorf("EMA constant {} must be in (0, 1]", o.ema_constant);
  for (const std::string& p : o.exclude) CONDENSE_TRY(compile_name_regex(p, "exclude").status());
  for (size_t i = 0; i < o.overrides.size(); ++i) {
    const LayerOverride& ov = o.overrides[i];
    const std::string where = fmt::format("override {} ('{}'): ", i + 1, ov.match);
    CONDENSE_TRY(compile_name_regex(ov.match, "override match").status());
    WeightScheme w = o.weights;
    if (ov.weight_dtype) w.dtype = *ov.weight_dtype;
    if (ov.granularity) w.granularity = *ov.granularity;
    if (ov.block_size) w.block_size = *ov.block_size;
    CONDENSE_TRY(validate_weight_scheme(w, where));
    ActivationScheme a = o.activations;
    if (ov.activation_dtype) a.dtype = *ov.activation_dtype;
    if (ov.percentile) a.percentile = *ov.percentile;
    CONDENSE_TRY(validate_activation_scheme(a, where));
  }
  if (o.mode == Mode::Dynamic && o.weights.dtype != DType::I8 && o.weights.dtype != DType::U8)
    return Status::errorf(
        "dynamic quantization needs 8-bit weights (MatMulInteger), got {}; use --mode "
        "weight-only for 4-bit weights",
        quant_dtype_name(o.weights.dtype));
  if (o.mode == Mode::Dynamic && o.weights.granularity == Granularity::PerGroup)
    return Status::error(
        "dynamic quantization takes per-tensor or per-channel weights (MatMulInteger has no "
        "blocks); use --mode weight-only for blocked weights");
  return Status::ok();
}

}  // namespace condense::quant
