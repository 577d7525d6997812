#include "kernels/kernel.h"

namespace condense {}  // namespace condense
