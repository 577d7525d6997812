// Recycles intermediate buffers between nodes and across runs (memory reuse without a static
// arena, so dynamic shapes need no re-planning).
#pragma once

#include <condense/tensor.h>

#include <map>
#include <memory>

namespace condense {

class BufferPool {
 public:
  // A buffer of at least `bytes`; reuses a free one no more than twice that size.
  std::shared_ptr<Storage> acquire(size_t bytes);
  // Takes the buffer back if nothing else holds it (views and user-held outputs keep it alive).
  void release(std::shared_ptr<Storage>&& s);
  size_t free_bytes() const;

 private:
  std::multimap<size_t, std::shared_ptr<Storage>> free_;
};

}  // namespace condense
