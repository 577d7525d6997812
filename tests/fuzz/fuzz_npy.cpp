// libFuzzer target: .npy / .npz bytes through the readers.
#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  condense::fuzz::npy_one(data, size);
  return 0;
}
