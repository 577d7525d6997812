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

// A node-name pattern (ECMAScript regex matched against the whole name); `what` names the
// option in the error.
Result<std::regex> compile_name_regex(const std::string& pattern, std::string_view what);

}  // namespace condense::quant
