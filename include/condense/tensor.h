// Tensor: a dense, row-major (C order), 64-byte aligned n-d array with shared storage.
// Copies share storage (like a shared_ptr); `clone()` makes a deep copy. Sub-byte types (I4/U4)
// are packed two per byte, element 0 in the low nibble (ONNX's layout).
//
//   condense::Tensor x = condense::Tensor::zeros(condense::DType::F32, {1, 3, 32, 32});
//   float* p = x.data<float>();
//   p[0] = 1.0f;
#pragma once

#include <condense/dtype.h>

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace condense {

using Shape = std::vector<int64_t>;

int64_t shape_numel(std::span<const int64_t> shape);
std::string shape_str(std::span<const int64_t> shape);  // "[1, 3, 32, 32]"

// Owned aligned bytes, or a view of bytes owned elsewhere (kept alive by `keepalive`).
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> keepalive;  // owner of external memory; empty when self-owned
  bool owned = false;

  static std::shared_ptr<Storage> allocate(size_t bytes);
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, std::shared_ptr<void> keepalive);
  ~Storage();
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized contents.
  static Tensor empty(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  // Uses `storage` (at least nbytes) for a tensor of this dtype and shape.
  static Tensor with_storage(DType dtype, Shape shape, std::shared_ptr<Storage> storage,
                             size_t offset = 0);
  // Dtype and shape without storage (defined() is false): how the runtime tells a kernel the
  // inferred shape of an output the kernel produces itself (a view of an input).
  static Tensor placeholder(DType dtype, Shape shape);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape) {
    Tensor t = empty(dtype_of<T>(), std::move(shape));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size(); ++i) t.data<bool>()[i] = values[i];
    } else if (!values.empty()) {
      std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
    }
    return t;
  }
  template <typename T>
  static Tensor scalar(T v) {
    return from_vector<T>(std::vector<T>{v}, {});
  }

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return dtype_storage_bytes(dtype_, numel_); }

  void* raw() { return static_cast<char*>(storage_->data) + offset_; }
  const void* raw() const { return static_cast<const char*>(storage_->data) + offset_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(raw());
  }

  // Same storage, new shape of equal numel (a view).
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Element i converted to double / int64 (any dtype). For tests, attributes and small tensors.
  double get_f64(int64_t i) const;
  int64_t get_i64(int64_t i) const;
  std::vector<int64_t> to_i64_vector() const;
  std::vector<float> to_f32_vector() const;

  // Byte-wise equality of dtype, shape and contents.
  bool identical(const Tensor& other) const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
};

}  // namespace condense
