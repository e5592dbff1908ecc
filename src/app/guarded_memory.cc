#include "app/guarded_memory.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/errors.h"

namespace lnbench {

namespace {

constexpr uint8_t kCanary = 0xA7;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

GuardedBuffer::GuardedBuffer(std::string name, size_t bytes) : GuardedBuffer(std::move(name), bytes, false) {}

GuardedBuffer::GuardedBuffer(std::string name, size_t bytes, bool file_backed)
    : name_(std::move(name)), bytes_(bytes) {
  if (file_backed) {
    const size_t page = PageSize();
    fd_ = memfd_create(("lnbench-" + name_).c_str(), MFD_CLOEXEC);
    if (fd_ < 0)
      throw RuntimeError(fmt::format("memfd_create for tensor {} failed: {}", name_, std::strerror(errno)));
    if (ftruncate(fd_, static_cast<off_t>((bytes + page - 1) / page * page)) != 0) {
      const int err = errno;
      Release();
      throw RuntimeError(fmt::format("sizing the memfd of tensor {} ({} bytes) failed: {}", name_, bytes,
                                     std::strerror(err)));
    }
  }
  Map(true);
}

GuardedBuffer GuardedBuffer::Attach(std::string name, size_t bytes, int fd) {
  GuardedBuffer g;
  g.name_ = std::move(name);
  g.bytes_ = bytes;
  g.fd_ = fd;
  struct stat st {};
  const size_t page = PageSize();
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != (bytes + page - 1) / page * page)
    throw RuntimeError(fmt::format("the shared memory of tensor {} does not hold {} bytes", g.name_, bytes));
  g.Map(false);
  return g;
}

void GuardedBuffer::Map(bool init_canaries) {
  const size_t page = PageSize();
  const size_t body = (bytes_ + page - 1) / page * page;
  mapped_ = page + body + page;
  // Anonymous buffers are mapped whole and shared (a forked child sees them);
  // file-backed ones reserve the range, then map the file over the body.
  void* p = mmap(nullptr, mapped_, fd_ < 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
                 (fd_ < 0 ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    Release();
    throw RuntimeError(fmt::format("mmap of {} bytes for tensor {} failed: {}", mapped_, name_,
                                   std::strerror(err)));
  }
  base_ = static_cast<uint8_t*>(p);
  data_ = base_ + page;
  canary_bytes_ = body - bytes_;
  if (fd_ >= 0 && body > 0 &&
      mmap(data_, body, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_, 0) == MAP_FAILED) {
    const int err = errno;
    Release();
    throw RuntimeError(fmt::format("mmap of the shared memory of tensor {} failed: {}", name_,
                                   std::strerror(err)));
  }
  if (init_canaries) std::memset(data_ + bytes_, kCanary, canary_bytes_);
  if (fd_ < 0 && (mprotect(base_, page, PROT_NONE) != 0 || mprotect(data_ + body, page, PROT_NONE) != 0)) {
    const int err = errno;
    Release();
    throw RuntimeError(fmt::format("mprotect of the guard pages of tensor {} failed: {}", name_,
                                   std::strerror(err)));
  }
}

GuardedBuffer::GuardedBuffer(GuardedBuffer&& other) noexcept { *this = std::move(other); }

GuardedBuffer& GuardedBuffer::operator=(GuardedBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    base_ = std::exchange(other.base_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    canary_bytes_ = std::exchange(other.canary_bytes_, 0);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

GuardedBuffer::~GuardedBuffer() { Release(); }

void GuardedBuffer::Release() {
  if (base_ != nullptr) munmap(base_, mapped_);
  if (fd_ >= 0) close(fd_);
  base_ = nullptr;
  data_ = nullptr;
  fd_ = -1;
}

std::string GuardedBuffer::CheckCanaries() const {
  const uint8_t* c = data_ + bytes_;
  size_t first = canary_bytes_, last = 0;
  for (size_t i = 0; i < canary_bytes_; ++i) {
    if (c[i] != kCanary) {
      if (first == canary_bytes_) first = i;
      last = i;
    }
  }
  if (first == canary_bytes_) return "";
  return fmt::format("{}: written past its end of {} bytes (byte {} to byte {} after it)", name_,
                     bytes_, first, last);
}

std::string GuardedBuffer::DescribeGuardHit(uintptr_t address) const {
  if (base_ == nullptr) return "";
  const uintptr_t page = PageSize();
  const uintptr_t front = reinterpret_cast<uintptr_t>(base_);
  const uintptr_t start = reinterpret_cast<uintptr_t>(data_);
  const uintptr_t back = front + mapped_ - page;
  if (address >= front && address < start)
    return fmt::format("{}: {} bytes before its start", name_, start - address);
  if (address >= back && address < back + page)
    return fmt::format("{}: byte {} after its end of {} bytes (guard page)", name_,
                       address - (start + bytes_), bytes_);
  return "";
}

uint64_t GuardedBuffer::Checksum() const {
  uint64_t h = 1469598103934665603ull;
  size_t i = 0;
  for (; i + 8 <= bytes_; i += 8) {
    uint64_t w;
    std::memcpy(&w, data_ + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < bytes_; ++i) h = (h ^ data_[i]) * 1099511628211ull;
  return h;
}

}  // namespace lnbench
