// Page-aligned, uninitialized host arrays. Large buffers are not zeroed on
// allocation (that would be a second pass over hundreds of MiB); callers fill them.
#ifndef LNBENCH_CORE_HOST_BUFFER_H_
#define LNBENCH_CORE_HOST_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "core/errors.h"

namespace lnbench {

inline constexpr size_t kHostAlignment = 4096;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Owns `bytes` of uninitialized memory aligned to 4096 bytes.
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    const size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    void* p = std::aligned_alloc(kHostAlignment, rounded);
    if (p == nullptr)
      throw RuntimeError("out of host memory allocating " + std::to_string(bytes) + " bytes");
    data_.reset(p);
  }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T>
  T* as() { return static_cast<T*>(data_.get()); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data_.get()); }
  size_t bytes() const { return bytes_; }

 private:
  std::unique_ptr<void, FreeDeleter> data_;
  size_t bytes_ = 0;
};

}  // namespace lnbench

#endif  // LNBENCH_CORE_HOST_BUFFER_H_
