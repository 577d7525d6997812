#include <condense/status.h>

#include <cstdio>
#include <cstdlib>

namespace condense::detail {

void check_failed(const char* cond, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "condense: internal check failed: %s at %s:%d%s%s\n", cond, file, line,
               msg ? ": " : "", msg ? msg : "");
  std::abort();
}

}  // namespace condense::detail
