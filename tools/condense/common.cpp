#include <fmt/format.h>

#include "commands.h"

namespace condense::cli {

int fail(const Status& s, const std::string& hint) {
  fmt::print(stderr, "error: {}\n", s.message());
  if (!hint.empty()) fmt::print(stderr, "hint: {}\n", hint);
  return 1;
}

}  // namespace condense::cli
