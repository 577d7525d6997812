#include "fuzz_entries.h"

#include <condense/npy.h>
#include <condense/onnx.h>
#include <condense/session.h>

#include <string_view>

namespace condense::fuzz {

void onnx_import_one(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // No base folder: external data is refused, so fuzzed models never read other files.
  auto g = onnx::import_bytes(bytes, "");
  if (!g) return;
  SessionOptions opts;
  opts.threads = 1;
  opts.optimize = true;
  auto s = Session::create(std::move(*g), opts);
  (void)s;
}

void npy_one(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto t = npy::parse(bytes)) {
    auto again = npy::parse(npy::serialize(*t));
    CONDENSE_CHECK_MSG(again.is_ok() && again->identical(*t), "npy round trip changed the array");
  }
  if (auto arrays = npy::parse_npz(bytes)) {
    auto again = npy::parse_npz(npy::serialize_npz(*arrays));
    CONDENSE_CHECK_MSG(again.is_ok() && again->size() == arrays->size(), "npz round trip failed");
    for (size_t i = 0; i < arrays->size(); ++i)
      CONDENSE_CHECK_MSG((*again)[i].name == (*arrays)[i].name &&
                             (*again)[i].tensor.identical((*arrays)[i].tensor),
                         "npz round trip changed an array");
  }
}

}  // namespace condense::fuzz
