// Reading files that came from outside (reports, .npy inputs) with bounds:
// regular files only, opened so that a FIFO or a device never blocks, sizes
// known before anything is read; and escaping their text for the terminal.
#ifndef LNBENCH_CORE_BOUNDED_READ_H_
#define LNBENCH_CORE_BOUNDED_READ_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lnbench {

// A regular file open for reading. The constructor opens with O_NONBLOCK (a
// FIFO without a writer would block open() forever) and checks with fstat
// that the path is a regular file before a byte is read.
class RegularFile {
 public:
  // Throws UsageError naming `path` when it is missing, unreadable, a folder,
  // or not a regular file (FIFO, device, socket).
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  const std::string& path() const { return path_; }
  // Returns the size fstat reported when the file was opened.
  uint64_t size() const { return size_; }
  // Reads `n` bytes at `offset` into `dst`. Throws UsageError when the file
  // ends early (it shrank after it was opened), RuntimeError on a read error.
  void ReadAt(uint64_t offset, void* dst, size_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Returns the whole of a regular file. Throws UsageError when the file is
// larger than `max_bytes` (saying what `what` is, e.g. "a report") or than the
// memory this process may still use (core/cpu_memory.h HostMemoryLimit).
std::string ReadWholeRegularFile(const std::string& path, uint64_t max_bytes, const char* what);

// Returns `text` safe to print on a terminal: control characters (C0, DEL,
// C1) and bytes that are not valid UTF-8 become \n, \t, \r or \xNN, so a name
// read from a file cannot move the cursor, recolour or retitle the terminal,
// or break a one-line message.
std::string EscapeForTerminal(std::string_view text);
// Returns `text` escaped as EscapeForTerminal does, line by line: its line
// breaks are kept (messages that list one problem per line).
std::string EscapeLinesForTerminal(std::string_view text);

}  // namespace lnbench

#endif  // LNBENCH_CORE_BOUNDED_READ_H_
