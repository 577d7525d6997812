#include "runtime/buffer_pool.h"

namespace condense {

std::shared_ptr<Storage> BufferPool::acquire(size_t bytes) {
  auto it = free_.lower_bound(bytes);
  if (it != free_.end() && it->first <= 2 * bytes + 4096) {
    auto s = std::move(it->second);
    free_.erase(it);
    return s;
  }
  return Storage::allocate(bytes);
}

void BufferPool::release(std::shared_ptr<Storage>&& s) {
  if (!s || !s->owned || s.use_count() != 1) {
    s.reset();
    return;
  }
  size_t bytes = s->bytes;
  free_.emplace(bytes, std::move(s));
}

size_t BufferPool::free_bytes() const {
  size_t total = 0;
  for (const auto& [bytes, s] : free_) total += bytes;
  return total;
}

}  // namespace condense
