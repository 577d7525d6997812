#include <condense/tensor.h>
#include <fmt/format.h>

#include <cstdlib>

#include "core/dispatch.h"

namespace condense {

int64_t shape_numel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes) {
  auto s = std::make_shared<Storage>();
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  s->data = std::aligned_alloc(64, rounded);
  CONDENSE_CHECK_MSG(s->data != nullptr, "out of memory");
  s->bytes = bytes;
  s->owned = true;
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, std::shared_ptr<void> keepalive) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->bytes = bytes;
  s->keepalive = std::move(keepalive);
  return s;
}

Storage::~Storage() {
  if (owned) std::free(data);
}

Tensor Tensor::with_storage(DType dtype, Shape shape, std::shared_ptr<Storage> storage,
                            size_t offset) {
  Tensor t;
  t.dtype_ = dtype;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  CONDENSE_CHECK(storage && storage->bytes >= offset + t.nbytes());
  t.storage_ = std::move(storage);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  size_t bytes = dtype_storage_bytes(dtype, shape_numel(shape));
  return with_storage(dtype, std::move(shape), Storage::allocate(bytes));
}

Tensor Tensor::placeholder(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t = empty(dtype, std::move(shape));
  if (t.nbytes()) std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  CONDENSE_CHECK(shape_numel(shape) == numel_);
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

static int64_t packed_get(const Tensor& t, int64_t i) {
  uint8_t byte = t.data<uint8_t>()[i / 2];
  int v = (i % 2 == 0) ? (byte & 0xf) : (byte >> 4);
  if (t.dtype() == DType::I4 && v >= 8) v -= 16;
  return v;
}

double Tensor::get_f64(int64_t i) const {
  if (dtype_ == DType::I4 || dtype_ == DType::U4) return static_cast<double>(packed_get(*this, i));
  return visit_dtype(dtype_, [&]<typename T>() { return convert<double>(data<T>()[i]); });
}

int64_t Tensor::get_i64(int64_t i) const {
  if (dtype_ == DType::I4 || dtype_ == DType::U4) return packed_get(*this, i);
  return visit_dtype(dtype_, [&]<typename T>() {
    if constexpr (std::is_same_v<T, uint64_t>) return static_cast<int64_t>(data<T>()[i]);
    return convert<int64_t>(data<T>()[i]);
  });
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(numel_);
  for (int64_t i = 0; i < numel_; ++i) v[i] = get_i64(i);
  return v;
}

std::vector<float> Tensor::to_f32_vector() const {
  std::vector<float> v(numel_);
  for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<float>(get_f64(i));
  return v;
}

bool Tensor::identical(const Tensor& o) const {
  if (dtype_ != o.dtype_ || shape_ != o.shape_) return false;
  if (!defined() || !o.defined()) return defined() == o.defined();
  return nbytes() == 0 || std::memcmp(raw(), o.raw(), nbytes()) == 0;
}

}  // namespace condense
