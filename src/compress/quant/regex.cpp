#include "compress/quant/common.h"

namespace condense::quant {

Result<std::regex> compile_name_regex(const std::string& pattern, std::string_view what) {
  if (pattern.empty()) return Status::errorf("{}: empty node-name pattern", what);
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return Status::errorf("{}: invalid regex '{}': {}", what, pattern, e.what());
  }
}

}  // namespace condense::quant
