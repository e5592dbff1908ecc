// `lnbench compare BASE.json NEW.json`: match the cases of two reports, judge
// each change (timing with a Mann-Whitney U test plus a relative threshold,
// accuracy exactly), and format the result as a table, markdown or JSON.
// Works on reports alone (compare/report_json.h), from any machine.
#ifndef LNBENCH_COMPARE_COMPARE_H_
#define LNBENCH_COMPARE_COMPARE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "compare/mann_whitney.h"
#include "compare/report_json.h"

namespace lnbench {

struct CompareOptions {
  double alpha = 0.05;          // significance level of the U test
  double max_slowdown = 0.05;   // relative slowdown tolerated even when significant
  double max_ulp_growth = 0;    // max ulp (scale ulps, see metrics.h) may grow by this much before it is a regression
  bool fail_on_missing = false; // a case present in only one report is a regression
  bool absolute = false;        // compare times even when the machines differ
  bool only_changes = false;    // list only regressions, improvements and ambiguous cases
};

// What the timing of one matched case did.
enum class TimingVerdict {
  kNotTimed,       // a side has no timing (failed, skipped, unsupported case)
  kNoCeiling,      // machines differ and a side has no finite ceiling to normalize by
  kTooFewSamples,  // fewer than kMinUTestSamples, or the test cannot reach alpha
  kNoChange,       // not significant
  kSmallChange,    // significant, but within +-max_slowdown
  kSlower,         // significant and slower than max_slowdown: a regression
  kFaster,         // significant and faster than max_slowdown
  kAmbiguous,      // slower or faster, but on the same machine the case's copy ceiling
                   // changed beyond its noise and max_slowdown: the machine's state changed
};
// Returns the short text of a verdict ("no change", "slower", ...).
const char* TimingVerdictName(TimingVerdict verdict);

// What the accuracy of one matched case did.
enum class AccuracyVerdict {
  kNotChecked,  // a side has no accuracy and no status change to judge
  kSame,        // same status, no max ulp growth
  kImproved,    // max ulp fell, or failed -> passed
  kUlpGrowth,   // max ulp grew by more than max_ulp_growth: a regression
  kUlpWithin,   // max ulp grew, within max_ulp_growth
  kUlpOtherMachine,  // max ulp grew, but on another machine: not judged (see JudgeAccuracy)
  kNowFails,    // passed -> failed or error: a regression
};
// Returns the short text of a verdict ("same", "now fails", ...).
const char* AccuracyVerdictName(AccuracyVerdict verdict);

// One side (base or new) of a matched case, as read from its report.
struct CaseSide {
  std::string id;
  std::string machine;
  std::string status;
  std::string reason;
  std::string repro;
  // Timing: all empty / nullopt when the case was not timed.
  std::vector<double> samples_s;
  std::optional<double> median_s;
  std::optional<double> bandwidth_gbps;
  std::optional<double> ceiling_gbps;         // finite and > 0 only
  std::optional<double> fraction_of_ceiling;  // finite only
  std::optional<double> ceiling_rel_err;      // the ceiling median's relative standard error
  // Accuracy: nullopt when the case has no accuracy block.
  std::optional<bool> accuracy_passed;
  // The op's first output tensor (y forward), in ulps of the element's scale (metrics.h).
  std::optional<double> max_ulp;
  std::optional<double> max_abs;  // the first output tensor
  // Max ulp of every checked output tensor, by name, in the report's order.
  std::vector<std::pair<std::string, std::optional<double>>> tensor_max_ulp;
  std::optional<double> mean_max_ulp, rstd_max_ulp;  // LayerNorm's statistics, when checked
};

struct CaseComparison {
  std::string key;         // the match key (see CaseKey)
  std::string label;       // short text for tables
  bool matched_by_id = false;  // the keys differed; the ids matched
  CaseSide base, next;
  bool same_machine = true;
  bool by_ceiling = false;  // timing compared as time x ceiling (fraction of ceiling)

  // Timing. change = (new - base) / |base| of the compared metric's median
  // (time, or time x ceiling when by_ceiling); ratio = new / base.
  TimingVerdict timing = TimingVerdict::kNotTimed;
  std::optional<double> change;
  std::optional<double> ratio;
  std::optional<MannWhitneyResult> utest;
  std::string ceiling_detail;  // kAmbiguous: "ceiling 14.2 -> 0.16 GB/s (+-1.2%)"

  AccuracyVerdict accuracy = AccuracyVerdict::kNotChecked;
  std::string accuracy_detail;  // "y max ulp 1 -> 4", "passed -> failed: <reason>"

  std::vector<std::string> regressions;  // why this case is a regression; empty if it is not
  bool regression() const { return !regressions.empty(); }
};

// A case found in one report only.
struct UnmatchedCase {
  std::string id;
  std::string label;
  std::string status;
};

struct Comparison {
  std::string base_path, new_path;
  std::string base_machine, new_machine;
  std::string base_date, new_date;
  std::string base_git_sha, new_git_sha;
  CompareOptions options;
  std::vector<CaseComparison> cases;  // in the base report's order
  std::vector<UnmatchedCase> only_in_base, only_in_new;
  // Geometric mean of the timing ratios (new / base) over `geomean_cases` cases.
  std::optional<double> geomean_ratio;
  size_t geomean_cases = 0;

  size_t pairs_on_different_machines = 0;
  size_t pairs_by_ceiling = 0;
  size_t timing_regressions = 0;
  size_t accuracy_regressions = 0;
  size_t regressed_cases = 0;
  size_t faster = 0;
  size_t too_few_samples = 0;
  size_t ambiguous = 0;  // cases judged kAmbiguous
  bool missing_is_regression = false;  // fail_on_missing and a case is missing

  // Returns true when `compare` must exit 1.
  bool regression() const { return regressed_cases > 0 || missing_is_regression; }
  // Returns "regression", "ambiguous" (no regression, but ambiguous cases) or "no regression".
  std::string VerdictWord() const;
  // Returns the one-line verdict ("2 regressions in 14 compared cases", ...).
  std::string Headline() const;
};

// Cases are matched by CaseKey (report/report_model.h, the one case identity).

// Returns the comparison of `next` against `base`. Cases pair by CaseKey;
// the rest pair when only their mode is unknown on one side (an untimed case)
// and one candidate is left; the rest by equal `id`. Throws UsageError when a
// report has two cases with the same key or the reports have no case in common.
Comparison CompareReports(const LoadedReport& base, const LoadedReport& next,
                          const CompareOptions& options);

enum class CompareFormat { kTable, kMarkdown, kJson };
// Returns the comparison as an aligned text table, GitHub markdown or JSON.
std::string FormatComparison(const Comparison& comparison, CompareFormat format);

// Returns the fraction a --max-slowdown text means: "5%" -> 0.05, "0.05" -> 0.05.
// Throws UsageError for anything else (negative, not a number, a bare number >= 1).
double ParseSlowdown(const std::string& text);

// Everything `lnbench compare` needs, filled by the CLI.
struct CompareConfig {
  std::string base_path;
  std::string new_path;
  CompareOptions options;
  CompareFormat format = CompareFormat::kTable;
  std::string output_path;  // "" = print to `out`
};

// Runs a whole comparison: loads both reports, compares, writes the output to
// config.output_path atomically (then a one-line summary to `out`) or to
// `out`. Returns 0 (no regression) or 1 (regression); throws UsageError for
// bad input (both files' problems, one line each) and RuntimeError when the
// output cannot be written.
int RunCompare(const CompareConfig& config, std::ostream& out);

}  // namespace lnbench

#endif  // LNBENCH_COMPARE_COMPARE_H_
