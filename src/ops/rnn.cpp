#include "ops/infer.h"

namespace condense {}  // namespace condense
