// Console output: an aligned results table and a progress line.
#ifndef LNBENCH_REPORT_TABLE_H_
#define LNBENCH_REPORT_TABLE_H_

#include <string>
#include <vector>

#include "core/runner.h"

namespace lnbench {

// Returns an aligned text table: one row per case, then the ceilings, then
// one line per failed/errored case with its reason and repro line.
std::string FormatResultsTable(const RunResult& result, bool with_timing);

// Returns a right-aligned, column-padded table of `rows` (first row = header).
std::string FormatAligned(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_align);

// Returns a human duration: "812 ns", "12.3 us", "4.56 ms", "1.23 s".
std::string FormatSeconds(double seconds);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_TABLE_H_
