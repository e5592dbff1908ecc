#include "core/bounded_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/shapes.h"

namespace lnbench {

namespace {

// Returns what a non-regular file is, for messages.
const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

RegularFile::RegularFile(const std::string& path) : path_(path) {
  fd_ = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOENT) throw UsageError(fmt::format("'{}': no such file", path));
    throw UsageError(fmt::format("'{}': cannot be opened: {}", path, std::strerror(err)));
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    const int err = errno;
    close(fd_);
    throw UsageError(fmt::format("'{}': cannot be read: {}", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd_);
    throw UsageError(fmt::format("'{}': is {}, expected a regular file", path, FileKind(st.st_mode)));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) close(fd_);
}

void RegularFile::ReadAt(uint64_t offset, void* dst, size_t n) const {
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(fmt::format("'{}': read error: {}", path_, std::strerror(errno)));
    }
    if (got == 0)
      throw UsageError(fmt::format("'{}': the file ended after {} bytes while reading it (was it changed?)",
                                   path_, offset + done));
    done += static_cast<size_t>(got);
  }
}

std::string ReadWholeRegularFile(const std::string& path, uint64_t max_bytes, const char* what) {
  const RegularFile file(path);
  if (file.size() > max_bytes)
    throw UsageError(fmt::format("'{}': the file ({}) is larger than {}, the most lnbench reads as {}", path,
                                 FormatBytes(file.size()), FormatBytes(max_bytes), what));
  const MemoryLimit limit = HostMemoryLimit();
  if (file.size() > limit.bytes)
    throw UsageError(fmt::format("'{}': {} does not fit in memory ({} left under the {})", path,
                                 FormatBytes(file.size()), FormatBytes(limit.bytes), limit.source));
  std::string text;
  try {
    text.resize(file.size());
  } catch (const std::bad_alloc&) {
    throw RuntimeError(fmt::format("'{}': out of memory reading {}", path, FormatBytes(file.size())));
  }
  file.ReadAt(0, text.data(), text.size());
  return text;
}

std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [&out](unsigned char b) { out += fmt::format("\\x{:02x}", b); };
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      if (b == '\n') out += "\\n";
      else if (b == '\t') out += "\\t";
      else if (b == '\r') out += "\\r";
      else if (b < 0x20 || b == 0x7f) hex(b);
      else out += static_cast<char>(b);
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, then continuation
    // bytes, no overlong forms, no surrogates, nothing above U+10FFFF.
    size_t len = 0;
    uint32_t cp = 0;
    if (b >= 0xc2 && b <= 0xdf) len = 2, cp = b & 0x1f;
    else if (b >= 0xe0 && b <= 0xef) len = 3, cp = b & 0x0f;
    else if (b >= 0xf0 && b <= 0xf4) len = 4, cp = b & 0x07;
    bool valid = len > 0 && i + len <= n;
    for (size_t k = 1; valid && k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) valid = false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (valid) {
      const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
      valid = cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    // C1 controls (U+0080..U+009F) include CSI, which some terminals obey.
    if (valid && cp >= 0x80 && cp <= 0x9f) valid = false;
    if (!valid) {
      hex(b);
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

std::string EscapeLinesForTerminal(std::string_view text) {
  std::string out;
  for (size_t start = 0;;) {
    const size_t end = text.find('\n', start);
    out += EscapeForTerminal(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    out += '\n';
    start = end + 1;
  }
}

}  // namespace lnbench
