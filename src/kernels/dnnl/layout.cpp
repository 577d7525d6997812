// Blocked activation layouts (kernels/layout.h) as oneDNN memory descriptors, and the reorder
// back to plain.
#include "kernels/layout.h"

#include "kernels/dnnl/dnnl_common.h"

namespace condense {

int64_t channel_block() {
  return dnnl_internal::dnnl_avx512_core() ? 16 : 8;
}

bool blockable(DType dtype, const Shape& shape) {
  if (dtype == DType::U8 || dtype == DType::I8 || dtype == DType::F16 ||
      dtype == DType::BF16)  // channels-last
    return shape.size() >= 3 && shape.size() <= 5 && shape_numel(shape) > 0;
  return dtype == DType::F32 && shape.size() >= 3 && shape.size() <= 5 && shape[1] > 0 &&
         shape[1] % channel_block() == 0 && shape_numel(shape) > 0;
}

namespace dnnl_internal {

dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims, Layout layout) {
  if (layout == Layout::Plain) return plain_f32(dims);
  using T = dnnl::memory::format_tag;
  const bool b16 = channel_block() == 16;
  T tag = T::undef;
  switch (dims.size()) {
    case 3:
      tag = b16 ? T::nCw16c : T::nCw8c;
      break;
    case 4:
      tag = b16 ? T::nChw16c : T::nChw8c;
      break;
    case 5:
      tag = b16 ? T::nCdhw16c : T::nCdhw8c;
      break;
    default:
      break;
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

dnnl::memory::desc int8_desc(const dnnl::memory::dims& dims, DType dtype, Layout layout) {
  return channels_last_desc(
      dims, dtype == DType::U8 ? dnnl::memory::data_type::u8 : dnnl::memory::data_type::s8, layout);
}

dnnl::memory::desc channels_last_desc(const dnnl::memory::dims& dims, dnnl::memory::data_type dt,
                                      Layout layout) {
  using T = dnnl::memory::format_tag;
  T tag = T::undef;
  switch (dims.size()) {
    case 3:
      tag = layout == Layout::Plain ? T::ncw : T::nwc;
      break;
    case 4:
      tag = layout == Layout::Plain ? T::nchw : T::nhwc;
      break;
    case 5:
      tag = layout == Layout::Plain ? T::ncdhw : T::ndhwc;
      break;
    default:
      break;
  }
  return dnnl::memory::desc(dims, dt, tag);
}

}  // namespace dnnl_internal

namespace {
// Reorders between the plain and blocked forms of one f32, 8-bit or 16-bit tensor; primitives are
// cached per shape, direction and thread. A layout change copies elements unchanged, so fp16 moves
// as bf16 (oneDNN 2.6's fp16 reorders are scalar; its bf16 ones are JIT-compiled).
Status convert(const Tensor& src, Tensor& dst, Layout from_layout) {
  using namespace dnnl_internal;
  const Layout to_layout = from_layout == Layout::Plain ? Layout::Blocked : Layout::Plain;
  if (!blockable(src.dtype(), src.shape()) || dst.shape() != src.shape() ||
      dst.dtype() != src.dtype())
    return Status::errorf("layout conversion: cannot convert {} {}", dtype_name(src.dtype()),
                          shape_str(src.shape()));
  struct Entry {
    dnnl::memory from, to;
    dnnl::reorder prim;
  };
  thread_local ShapeCache<Entry> cache;
  const Shape key_b = {static_cast<int64_t>(from_layout), static_cast<int64_t>(src.dtype())};
  auto desc = [&](const dnnl::memory::dims& dims, Layout l) {
    switch (src.dtype()) {
      case DType::F32:
        return f32_desc(dims, l);
      case DType::F16:
      case DType::BF16:
        return channels_last_desc(dims, dnnl::memory::data_type::bf16, l);
      default:
        return int8_desc(dims, src.dtype(), l);
    }
  };
  try {
    Entry* e = cache.find(src.shape(), key_b);
    if (!e) {
      const dnnl::memory::dims dims = to_dims(src.shape());
      Entry fresh;
      fresh.from = dnnl::memory(desc(dims, from_layout), cpu_engine(), nullptr);
      fresh.to = dnnl::memory(desc(dims, to_layout), cpu_engine(), nullptr);
      fresh.prim = dnnl::reorder(fresh.from, fresh.to);
      e = &cache.insert(src.shape(), key_b, std::move(fresh));
    }
    e->from.set_data_handle(const_cast<void*>(src.raw()));
    e->to.set_data_handle(dst.raw());
    e->prim.execute(cpu_stream(), e->from, e->to);
    cpu_stream().wait();
  } catch (const dnnl::error& e) {
    return Status::errorf("layout conversion: oneDNN: {}", e.what());
  }
  return Status::ok();
}
}  // namespace

Status blocked_to_plain(const Tensor& src, Tensor& dst) {
  return convert(src, dst, Layout::Blocked);
}
Status plain_to_blocked(const Tensor& src, Tensor& dst) {
  return convert(src, dst, Layout::Plain);
}

}  // namespace condense
