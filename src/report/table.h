// Console output: an aligned results table, the summary line, the list of
// problems, and the rule that decides which failures set the exit code.
#ifndef LNBENCH_REPORT_TABLE_H_
#define LNBENCH_REPORT_TABLE_H_

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/runner.h"

namespace lnbench {

// Which failures count toward the exit code. With the default `-b all`, a
// peer's failures (oneDNN's offsets) are findings about someone else's
// library: reported and counted apart. A peer named with -b counts like any
// backend.
struct CountingRule {
  bool peers_apart = false;                 // -b all (or a list holding 'all')
  std::vector<std::string> named_backends;  // backends named explicitly with -b
};

// Returns true when `result` is a peer's case whose failure is counted apart.
bool CountedApart(const CaseResult& result, const CountingRule& rule);

struct RunSummary {
  int passed = 0;
  int failed = 0;        // counted failures (exit code 1)
  int peer_failed = 0;   // failures counted apart (CountedApart)
  int errors = 0;        // runtime errors (exit code 3 when nothing failed)
  int unsupported = 0;   // the backend does not support that problem or variant
  int skipped = 0;       // the backend is unavailable on this machine
  int warnings = 0;      // cases with at least one warning (see report/warnings.h)
};

RunSummary SummarizeRun(const RunResult& result, const CountingRule& rule);

// Returns the exit code: 1 if a counted case failed, 3 if a case erred (and
// none failed), else 0.
int SummaryExitCode(const RunSummary& summary);

// Returns "12 passed, 0 failed, 3 peer failures (not counted), 2 unsupported, 7 skipped".
std::string SummaryLine(const RunSummary& summary, bool colour);

struct TableOptions {
  bool timing = false;        // run: median, spread, GB/s, ceiling columns
  bool colour = false;        // ANSI colours (see UseColour)
  bool show_skipped = false;  // one row per skipped case instead of one line per backend
  CountingRule rule;
  // Warnings per case index (report/warnings.h); empty = none.
  std::vector<std::vector<std::string>> case_warnings;
  std::vector<std::string> run_warnings;
};

// Returns an aligned text table: one row per case (skipped cases collapsed to
// one line per backend unless show_skipped), then the ceilings, then the
// warnings, then the problems (at most 20).
std::string FormatResultsTable(const RunResult& result, const TableOptions& options);

// Returns the same rows as a GitHub markdown table (no colour, cells escaped).
std::string FormatMarkdownResults(const RunResult& result, const TableOptions& options);

// Returns one line per case as CSV (RFC 4180 quoting), with a header: the
// case's identity, status, accuracy, timing, throughput, warnings and repro.
std::string FormatCsvResults(const RunResult& result, const TableOptions& options);

// Returns one block per failed or errored case (a line naming it and its
// reason, then its repro line); peers counted apart come last under their own
// heading. `limit` < 0 means every case (what -q prints).
std::string FormatProblems(const RunResult& result, const TableOptions& options, int limit);

// Returns the text shown in the variant column: "auto→avx3" when the case
// asked for "auto" and ran another name, else the variant that ran.
std::string VariantLabel(const CaseResult& result);

// Returns the output mode of a problem: "affine+stats", "affine", "stats" or "plain".
std::string OutputModeName(const Problem& problem);

// Returns a right-aligned, column-padded table of `rows` (first row = header).
// `colour(row, col)`, when given, returns an ANSI code put around that cell.
std::string FormatAligned(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_align,
                          const std::function<std::string(size_t, size_t)>& colour = {});

// Returns a human duration: "812 ns", "12.3 us", "4.56 ms", "1.23 s".
std::string FormatSeconds(double seconds);

// Returns true when output to `stream` should be coloured: NO_COLOR (set and
// not empty) turns colour off; CLICOLOR_FORCE (set, not empty and not "0")
// turns it on; otherwise colour when the stream is a terminal and TERM is not "dumb".
bool UseColour(std::FILE* stream);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_TABLE_H_
