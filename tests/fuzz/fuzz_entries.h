// The fuzzed entry points, shared by the libFuzzer targets and the regression replay test (which
// runs in every build, so a fixed crash stays fixed).
#pragma once

#include <cstddef>
#include <cstdint>

namespace condense::fuzz {

// ONNX bytes -> import_bytes -> (if it imports) Session::create with optimization on. Not run.
void onnx_import_one(const uint8_t* data, size_t size);
// .npy and .npz bytes -> npy::parse and npy::parse_npz; whatever parses must round-trip.
void npy_one(const uint8_t* data, size_t size);

}  // namespace condense::fuzz
