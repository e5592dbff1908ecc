// `lnbench merge A.json B.json ... -o ALL.json`: combine reports from several
// machines or runs into one "lnbench-merged-report" that follows the same
// schema: context.machines lists each input's context (with its report path,
// tool and config), every case keeps its `machine`, every ceiling gets one.
#ifndef LNBENCH_COMPARE_MERGE_H_
#define LNBENCH_COMPARE_MERGE_H_

#include <ostream>
#include <string>
#include <vector>

#include "compare/report_json.h"

namespace lnbench {

// Facts about the merge itself, written into the merged report's context.
struct MergeInfo {
  std::string date;                // UTC, ISO 8601
  std::vector<std::string> argv;   // the merging command line
};

// Returns the merged report of `inputs` (each already checked). Throws
// UsageError when the inputs use different bytes models or two inputs hold
// the same case on the same machine.
Report MergeReports(const std::vector<LoadedReport>& inputs, const MergeInfo& info);

// Returns the current UTC time as "2025-01-31T12:34:56Z".
std::string UtcNowIso8601();

struct MergeConfig {
  std::vector<std::string> input_paths;
  std::string output_path;
};

// Runs a whole merge: parses every input, refuses mismatched schema versions,
// checks each, merges, writes config.output_path atomically and prints one
// summary line to `out`. Returns 0; throws UsageError for bad input (every
// bad input file, one line each) and RuntimeError when the output cannot be
// written.
int RunMerge(const MergeConfig& config, const std::vector<std::string>& argv, std::ostream& out);

}  // namespace lnbench

#endif  // LNBENCH_COMPARE_MERGE_H_
