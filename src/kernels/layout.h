// Activation layouts between kernels. Plain: row-major as the logical shape says (N, C, D...).
// Blocked: oneDNN's channel-blocked layout nC[D][H]W<b>c, stored as (N, C/b, D..., b) with
// b = channel_block(): convolutions and pooling run several times faster on it, so the runtime
// keeps activations blocked from one oneDNN kernel to the next and converts only where a kernel
// needs plain data. Only f32 tensors of rank 3 to 5 whose channel count is a multiple of b are
// blocked, so a blocked tensor has exactly the bytes of its plain form (no padding).
// 8-bit integer activations (u8, i8; quantized models) and half-precision ones (fp16, bf16) have
// another blocked form: channels-last (N, D..., C), any channel count, which is what oneDNN's int8
// and bf16 convolutions (VNNI, AMX) read and write, so those kernels hand activations to each
// other without a reorder per layer.
#pragma once

#include <condense/status.h>
#include <condense/tensor.h>

#include <cstdint>

namespace condense {

enum class Layout : uint8_t { Plain, Blocked };

// Channels per block: 16 where oneDNN runs AVX-512 kernels, else 8.
int64_t channel_block();

// Whether a tensor of this dtype and shape may be stored blocked.
bool blockable(DType dtype, const Shape& shape);

// Copies plain `src` into blocked `dst` (same dtype and blockable shape).
Status plain_to_blocked(const Tensor& src, Tensor& dst);
// Copies blocked `src` into plain `dst` (same dtype and shape, storage allocated by the caller).
// The reorder primitive is built once per shape and thread.
Status blocked_to_plain(const Tensor& src, Tensor& dst);

}  // namespace condense
