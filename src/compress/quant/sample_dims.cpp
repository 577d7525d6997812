// sample_dims() (common.h): what calibration, bias correction, sensitivity and the CLI check a
// dataset's samples against.
#include "compress/quant/common.h"

namespace condense::quant {

std::vector<int64_t> sample_dims(const ir::Value& input, int64_t* fixed_batch) {
  std::vector<int64_t> dims;
  for (const ir::Dim& d : input.dims) dims.push_back(d.is_static() ? d.value : -1);
  if (fixed_batch) *fixed_batch = dims.empty() ? 0 : std::max<int64_t>(dims[0], 0);
  if (!dims.empty()) dims[0] = -1;
  return dims;
}

}  // namespace condense::quant
