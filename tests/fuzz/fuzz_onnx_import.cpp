// libFuzzer target: ONNX model bytes through the importer and the Session planner.
#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  condense::fuzz::onnx_import_one(data, size);
  return 0;
}
