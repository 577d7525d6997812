// Helpers shared by the quantization files: node-name regexes and dtype words.
#pragma once

#include <condense/quant.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> at -O2 with sanitizers.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // a GCC-only warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#pragma GCC diagnostic pop

#include <string>
#include <string_view>

namespace condense::quant {

// The per-sample dims a dataset must have to feed `input`: its declared dims with symbolic ones
// and the batch dimension -1. `fixed_batch` (optional) gets a static batch size, 0 when the
// batch dimension is symbolic or the input has no dims.
std::vector<int64_t> sample_dims(const ir::Value& input, int64_t* fixed_batch = nullptr);

// A node-name pattern (ECMAScript regex matched against the whole name); `what` names the
// option in the error.
Result<std::regex> compile_name_regex(const std::string& pattern, std::string_view what);

}  // namespace condense::quant
