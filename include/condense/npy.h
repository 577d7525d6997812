// NumPy .npy and .npz files (npz: stored or deflated zip members, via zlib).
//
//   auto x = condense::npy::read("x.npy");             // Result<Tensor>
//   CONDENSE_TRY(condense::npy::write("y.npy", *x));    // atomic
//   auto arrays = condense::npy::read_npz("data.npz");  // Result<std::vector<NamedArray>>
#pragma once

#include <condense/status.h>
#include <condense/tensor.h>

#include <string>
#include <string_view>
#include <vector>

namespace condense::npy {

struct NamedArray {
  std::string name;  // the member name without ".npy"
  Tensor tensor;
};

Result<Tensor> parse(std::string_view bytes);
std::string serialize(const Tensor& t);  // little-endian, C order, format version 1.0
Result<Tensor> read(const std::string& path);
Status write(const std::string& path, const Tensor& t);

Result<std::vector<NamedArray>> parse_npz(std::string_view bytes);
std::string serialize_npz(const std::vector<NamedArray>& arrays);  // stored (uncompressed) zip
Result<std::vector<NamedArray>> read_npz(const std::string& path);
Status write_npz(const std::string& path, const std::vector<NamedArray>& arrays);

}  // namespace condense::npy
