// The console table, summary line and exit-code rule, on synthetic results:
// collapsed skipped backends, peers counted apart, auto→target, the mode
// column, colours.
#include "report/table.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "core/errors.h"

namespace lnbench {
namespace {

CaseResult Case(const std::string& backend, const std::string& variant, CaseStatus status,
                bool peer = false) {
  CaseResult r;
  r.backend = backend;
  r.variant = variant;
  r.requested_variant = variant;
  r.status = status;
  r.peer = peer;
  r.device = "cpu";
  r.threads = 1;
  r.problem.rows = 8;
  r.problem.cols = 768;
  r.repro = "lnbench verify -b " + backend + " --shape 8x768";
  if (status == CaseStatus::kFailed) r.reason = "y: 1 of 6144 over bound";
  return r;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

TEST(TableTest, UnavailableBackendCollapsesToOneLine) {
  RunResult result;
  result.cases.push_back(Case("scalar", "twopass", CaseStatus::kPassed));
  for (int i = 0; i < 7; ++i) {
    CaseResult r = Case("cuda", "", CaseStatus::kSkipped);
    r.reason = "cuda: unavailable (no NVIDIA GPU or driver found)";
    result.cases.push_back(r);
  }
  TableOptions o;
  const std::string table = FormatResultsTable(result, o);
  EXPECT_NE(table.find("cuda: 7 cases skipped: no NVIDIA GPU or driver found\n"), std::string::npos) << table;
  EXPECT_EQ(Count(table, "cuda"), 1u) << table;  // no row per case
  o.show_skipped = true;
  const std::string all = FormatResultsTable(result, o);
  EXPECT_EQ(Count(all, "cuda "), 7u) << all;
  EXPECT_EQ(all.find("cases skipped"), std::string::npos) << all;
}

// An unsupported case keeps its row; its reason is said once per backend
// and reason under the table (it was only in the report).
TEST(TableTest, UnsupportedReasonsAreSaidOncePerBackendAndReason) {
  RunResult result;
  result.cases.push_back(Case("scalar", "twopass", CaseStatus::kPassed));
  for (int i = 0; i < 3; ++i) {
    CaseResult r = Case("onednn", "inference", CaseStatus::kUnsupported, /*peer=*/true);
    r.reason = i < 2 ? "rmsnorm: no RMS normalization" : "no f16 layer normalization on this CPU";
    result.cases.push_back(r);
  }
  for (const bool show_skipped : {false, true}) {
    TableOptions o;
    o.show_skipped = show_skipped;
    const std::string table = FormatResultsTable(result, o);
    EXPECT_NE(table.find("onednn: 2 cases unsupported: rmsnorm: no RMS normalization\n"), std::string::npos)
        << table;
    EXPECT_NE(table.find("onednn: 1 case unsupported: no f16 layer normalization on this CPU\n"),
              std::string::npos)
        << table;
    EXPECT_EQ(Count(table, "onednn "), 3u) << table;  // a row per case, as before
  }
}

TEST(TableTest, PeerFailuresUnderAllAreCountedApart) {
  RunResult result;
  result.cases.push_back(Case("scalar", "twopass", CaseStatus::kPassed));
  result.cases.push_back(Case("onednn", "training", CaseStatus::kFailed, /*peer=*/true));
  result.cases.push_back(Case("onednn", "inference", CaseStatus::kUnsupported, /*peer=*/true));
  CountingRule all{true, {}};
  RunSummary s = SummarizeRun(result, all);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.peer_failed, 1);
  EXPECT_EQ(s.unsupported, 1);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(SummaryExitCode(s), kExitOk);
  EXPECT_EQ(SummaryLine(s, false),
            "1 passed, 0 failed, 1 peer failure (not counted in the exit code), 1 unsupported, 0 skipped");
  // Named with -b (alone, or beside 'all'), the peer counts like any backend.
  for (const CountingRule& named : {CountingRule{false, {"onednn"}}, CountingRule{true, {"onednn"}}}) {
    s = SummarizeRun(result, named);
    EXPECT_EQ(s.failed, 1);
    EXPECT_EQ(s.peer_failed, 0);
    EXPECT_EQ(SummaryExitCode(s), kExitFailure);
  }
  // Our own backend's failure always counts.
  result.cases.push_back(Case("highway", "avx2", CaseStatus::kFailed));
  EXPECT_EQ(SummaryExitCode(SummarizeRun(result, all)), kExitFailure);
}

TEST(TableTest, ProblemsListEveryFailureWithItsReproAndPeersLast) {
  RunResult result;
  result.cases.push_back(Case("onednn", "training", CaseStatus::kFailed, true));
  for (int i = 0; i < 25; ++i) result.cases.push_back(Case("highway", "avx2", CaseStatus::kFailed));
  TableOptions o;
  o.rule = {true, {}};
  const std::string every = FormatProblems(result, o, -1);
  EXPECT_EQ(Count(every, "repro: lnbench verify -b highway"), 25u);
  EXPECT_EQ(Count(every, "repro: lnbench verify -b onednn"), 1u);
  EXPECT_LT(every.find("problems:"), every.find("peer findings"));
  EXPECT_LT(every.find("peer findings"), every.find("-b onednn"));
  const std::string capped = FormatProblems(result, o, 20);
  EXPECT_EQ(Count(capped, "repro: lnbench verify -b highway"), 20u);
}

TEST(TableTest, AutoShowsItsTargetOnceAndModeHasItsOwnColumn) {
  RunResult result;
  CaseResult a = Case("highway", "avx3_dl", CaseStatus::kPassed);
  a.requested_variant = "auto";
  a.problem.stats = true;
  result.cases.push_back(a);
  CaseResult same = Case("highway", "avx3_dl", CaseStatus::kPassed);  // same kernel, same outcome
  same.problem.stats = true;
  result.cases.push_back(same);
  result.cases.push_back(Case("highway", "avx2", CaseStatus::kPassed));
  CaseResult plain = Case("highway", "avx2", CaseStatus::kPassed);
  plain.problem.affine = false;
  result.cases.push_back(plain);
  const std::string table = FormatResultsTable(result, TableOptions{});
  EXPECT_EQ(Count(table, "auto\u2192avx3_dl"), 1u) << table;
  EXPECT_EQ(Count(table, "avx3_dl"), 1u) << table;
  EXPECT_NE(table.find("affine+stats"), std::string::npos) << table;
  EXPECT_NE(table.find(" plain "), std::string::npos) << table;
  EXPECT_EQ(table.find(" +st"), std::string::npos) << table;
  EXPECT_EQ(table.find("noaff"), std::string::npos) << table;
  // The arrow is one column: the rows stay aligned.
  std::istringstream lines(table);
  std::string header, rule, first, second;
  std::getline(lines, header);
  std::getline(lines, rule);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.size() - 2, second.size()) << table;  // "→" is 3 bytes, 1 column
}

TEST(TableTest, ColourOnlyWhenAsked) {
  RunResult result;
  result.cases.push_back(Case("scalar", "twopass", CaseStatus::kPassed));
  result.cases.push_back(Case("highway", "avx2", CaseStatus::kFailed));
  TableOptions o;
  EXPECT_EQ(FormatResultsTable(result, o).find('\033'), std::string::npos);
  o.colour = true;
  const std::string coloured = FormatResultsTable(result, o);
  EXPECT_NE(coloured.find("\033[32mpassed\033[0m"), std::string::npos) << coloured;
  EXPECT_NE(coloured.find("\033[31mfailed\033[0m"), std::string::npos) << coloured;
}

TEST(TableTest, NoColorWinsOverForce) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  setenv("CLICOLOR_FORCE", "1", 1);
  unsetenv("NO_COLOR");
  EXPECT_TRUE(UseColour(f));
  setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(UseColour(f));
  setenv("NO_COLOR", "", 1);  // empty NO_COLOR does not count (no-color.org)
  EXPECT_TRUE(UseColour(f));
  unsetenv("CLICOLOR_FORCE");
  unsetenv("NO_COLOR");
  EXPECT_FALSE(UseColour(f));  // a file is not a terminal
  std::fclose(f);
}

TEST(TableTest, WarningsHaveAColumnAndASection) {
  RunResult result;
  result.cases.push_back(Case("scalar", "twopass", CaseStatus::kPassed));
  result.cases.push_back(Case("highway", "avx2", CaseStatus::kPassed));
  TableOptions o;
  o.case_warnings = {{}, {"noisy_ceiling: the ceiling's noise is 120%"}};
  o.run_warnings = {"busy_machine: load average 9.1 on 2 hardware threads"};
  const std::string table = FormatResultsTable(result, o);
  EXPECT_NE(table.find("warnings\n"), std::string::npos) << table;  // the column header
  EXPECT_NE(table.find("noisy_ceiling\n"), std::string::npos) << table;
  EXPECT_NE(table.find("busy_machine: load average 9.1"), std::string::npos) << table;
  EXPECT_NE(table.find("noisy_ceiling (1 case, e.g. the ceiling's noise is 120%)"), std::string::npos) << table;
}

}  // namespace
}  // namespace lnbench
