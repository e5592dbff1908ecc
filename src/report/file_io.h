// Output files are written atomically: a temporary file in the same folder,
// flushed, then renamed over the target, so readers never see a partial file.
#ifndef LNBENCH_REPORT_FILE_IO_H_
#define LNBENCH_REPORT_FILE_IO_H_

#include <string>

namespace lnbench {

// Writes `content` to `path` atomically. Throws RuntimeError naming the path
// when the folder is missing or not writable (the target is left untouched).
void WriteFileAtomically(const std::string& path, const std::string& content);

// Checks up front that `path` could be written (its folder exists and is
// writable), so a long run does not end with an unwritable report.
// Throws UsageError naming the path.
void CheckWritable(const std::string& path);

// Reads a whole file. Throws UsageError naming the path when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_FILE_IO_H_
