// Page-aligned, uninitialized host arrays. Large buffers are not zeroed on
// allocation (that would be a second pass over hundreds of MiB); callers fill them.
// Buffers of 4 MiB or more are aligned to 2 MiB and advised as transparent
// huge pages (see HostBuffer).
#ifndef LNBENCH_CORE_HOST_BUFFER_H_
#define LNBENCH_CORE_HOST_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include <sys/mman.h>

#include "core/errors.h"

namespace lnbench {

inline constexpr size_t kHostAlignment = 4096;
// A transparent huge page on x86-64 (and aarch64 with 4 KiB base pages).
inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// Buffers from this size on get huge pages: two of them at least, so the
// rounding up to whole huge pages adds less than one (2 MiB), under half of
// the buffer's own size (4 MiB + 1 byte takes 6 MiB).
inline constexpr size_t kHugePageMinBytes = 2 * kHugePageBytes;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Owns `bytes` of uninitialized memory aligned to 4096 bytes. From
// kHugePageMinBytes on, aligned to and rounded up to 2 MiB, and advised as
// transparent huge pages (madvise MADV_HUGEPAGE: the kernel's `madvise` mode,
// Debian's default, gives huge pages only to memory so advised; `never`
// ignores it, `always` gives them anyway). Inputs, outputs and the copy
// ceiling's buffers all come from here, so kernels and ceiling see the same
// pages. Why: on a 2-vCPU VM (Zen 5, Firecracker) each 4 KiB first touch cost
// about 10 us, and `lnbench run -b highway,onednn --cols 128,4096 --dtype
// f32,bf16 --threads 1,2` spent half its wall time in page faults: 49-57 s
// (24-28 s system time) with 4 KiB pages, 26-30 s (7-8 s) with huge pages,
// three alternating runs; the kernels' fractions of the ceiling moved within
// the noise. lnbench_highway_bench dram, which frees and allocates the
// ceiling's buffers between kernel samples, timed the kernel itself 1.7x
// slower on 4 KiB pages (docs/results.md).
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
    const size_t align = bytes >= kHugePageMinBytes ? kHugePageBytes : kHostAlignment;
    const size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr)
      throw RuntimeError("out of host memory allocating " + std::to_string(bytes) + " bytes");
    data_.reset(p);
#ifdef MADV_HUGEPAGE
    if (align == kHugePageBytes) huge_pages_ = madvise(p, rounded, MADV_HUGEPAGE) == 0;
#endif
  }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T>
  T* as() { return static_cast<T*>(data_.get()); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data_.get()); }
  size_t bytes() const { return bytes_; }
  // Whether the kernel took the huge-page advice (it may still give 4 KiB
  // pages: THP mode `never`, or no free 2 MiB of physical memory).
  bool huge_pages_advised() const { return huge_pages_; }

 private:
  std::unique_ptr<void, FreeDeleter> data_;
  size_t bytes_ = 0;
  bool huge_pages_ = false;
};

}  // namespace lnbench

#endif  // LNBENCH_CORE_HOST_BUFFER_H_
