// Shared, guarded tensor memory for foreign kernels. Each tensor gets its own
// MAP_SHARED mapping, so a child process forked after the allocation reads and
// writes the very pages lnbench verifies (nothing is copied around a run):
//
//   [guard page][tensor bytes ... | canary bytes up to the page end][guard page]
//
// The tensor starts on a page (the 4096-byte alignment backends are promised).
// The guard pages are PROT_NONE: touching them faults at once. Writes just past
// the end that stay in the last page land on canary bytes, checked after each run.
//
// A file-backed buffer keeps the tensor pages (canaries included) in a memfd,
// so a worker process started by exec (which inherits no mappings) can map the
// same pages with Attach() between guard pages of its own.
#ifndef LNBENCH_APP_GUARDED_MEMORY_H_
#define LNBENCH_APP_GUARDED_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace lnbench {

class GuardedBuffer {
 public:
  GuardedBuffer() = default;
  // Maps `bytes` (at least one page of canaries or a guard right after them).
  // `name` names the tensor in messages. Throws RuntimeError when mmap fails.
  GuardedBuffer(std::string name, size_t bytes);
  // As above, the tensor pages in a memfd (fd()) when `file_backed`.
  GuardedBuffer(std::string name, size_t bytes, bool file_backed);
  // Maps the pages of another process's file-backed buffer of `bytes` from
  // `fd` (owned from now on, closed at destruction), between guard pages of this process;
  // the canaries are left as they are. Throws RuntimeError.
  static GuardedBuffer Attach(std::string name, size_t bytes, int fd);
  GuardedBuffer(GuardedBuffer&& other) noexcept;
  GuardedBuffer& operator=(GuardedBuffer&& other) noexcept;
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  ~GuardedBuffer();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const std::string& name() const { return name_; }
  // The memfd of a file-backed or attached buffer, else -1.
  int fd() const { return fd_; }
  // The whole mapping, guard pages included: [begin, end).
  uintptr_t map_begin() const { return reinterpret_cast<uintptr_t>(base_); }
  uintptr_t map_end() const { return reinterpret_cast<uintptr_t>(base_) + mapped_; }

  // Returns "" when every canary byte is intact, else where the first and
  // last overwritten canaries are ("y: 4 bytes written past its end (bytes 0..3 after it)").
  std::string CheckCanaries() const;
  // Returns "" when `address` is not in one of its guard pages, else where it
  // is relative to the tensor ("y: 4096 bytes past its end").
  std::string DescribeGuardHit(uintptr_t address) const;
  // Returns a 64-bit hash of the tensor bytes (FNV-1a over 8-byte words).
  uint64_t Checksum() const;

 private:
  void Release();
  // Reserves [guard][body][guard] and maps the body from fd_ (or anonymous
  // MAP_SHARED memory when fd_ < 0); sets the canaries when `init_canaries`.
  void Map(bool init_canaries);

  std::string name_;
  uint8_t* base_ = nullptr;  // the mapping, from the front guard page
  size_t mapped_ = 0;
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
  size_t canary_bytes_ = 0;
  int fd_ = -1;
};

}  // namespace lnbench

#endif  // LNBENCH_APP_GUARDED_MEMORY_H_
