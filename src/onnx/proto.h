// Internal: conversions between condense types and ONNX protobuf messages. Only src/onnx/
// includes protobuf types.
#pragma once

#include <condense/ir.h>
#include <condense/status.h>
#include <condense/tensor.h>
#include <onnx/onnx_pb.h>

#include <string>

namespace condense::onnx_internal {

// `base_dir` resolves external data ("" refuses external data).
Result<Tensor> tensor_from_proto(const ::onnx::TensorProto& p, const std::string& base_dir);
Result<Tensor> tensor_from_sparse_proto(const ::onnx::SparseTensorProto& p, const std::string& base_dir);
void tensor_to_proto(const Tensor& t, const std::string& name, ::onnx::TensorProto* p);
std::string onnx_dtype_name(int onnx_type);

}  // namespace condense::onnx_internal
