// compare for people and pipelines (issue 17): the "ambiguous: the machine's
// state changed" verdict, --only-changes, verify reports without thousands of
// "not timed" rows, and the JSON verdict the scripts read.
#include <gtest/gtest.h>

#include <string>

#include "compare/compare.h"
#include "compare/report_json.h"

namespace lnbench {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(LNBENCH_SOURCE_DIR) + "/tests/fixtures/compare/" + name;
}

Comparison CompareFixtures(const std::string& base, const std::string& next, CompareOptions options = {}) {
  return CompareReports(LoadReport(Fixture(base)), LoadReport(Fixture(next)), options);
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

// The same machine, its ceiling halved and every case twice as slow (the
// fraction of the ceiling unchanged): ambiguous, not 5 regressions.
TEST(CompareUx, CeilingThatMovedBeyondItsNoiseMakesTheVerdictAmbiguous) {
  const Comparison c = CompareFixtures("base.json", "busy_machine.json");
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(c.ambiguous, 5u);
  EXPECT_EQ(c.VerdictWord(), "ambiguous");
  EXPECT_EQ(c.Headline().rfind("ambiguous: the machine's state changed", 0), 0u) << c.Headline();
  for (const auto& cc : c.cases) {
    if (!cc.base.median_s) continue;
    EXPECT_EQ(cc.timing, TimingVerdict::kAmbiguous) << cc.label;
    EXPECT_TRUE(cc.regressions.empty()) << cc.label;
    EXPECT_NE(cc.ceiling_detail.find("-49.9%"), std::string::npos) << cc.ceiling_detail;
  }
  const Json j = Json::parse(FormatComparison(c, CompareFormat::kJson));
  EXPECT_EQ(j["summary"]["verdict"], "ambiguous");
  EXPECT_EQ(j["summary"]["ambiguous"], 5);
  EXPECT_EQ(j["cases"][0]["timing"]["verdict"], "ambiguous: the machine's state changed");
  // Reversed: ceiling doubled and everything faster, also ambiguous.
  EXPECT_EQ(CompareFixtures("busy_machine.json", "base.json").ambiguous, 5u);
  // A real slowdown with a steady ceiling stays a regression.
  const Comparison slow = CompareFixtures("base.json", "slow.json");
  EXPECT_TRUE(slow.regression());
  EXPECT_EQ(slow.ambiguous, 0u);
  EXPECT_EQ(slow.VerdictWord(), "regression");
  EXPECT_EQ(CompareFixtures("base.json", "noise.json").VerdictWord(), "no regression");
}

TEST(CompareUx, OnlyChangesListsRegressionsAndImprovements) {
  CompareOptions o;
  o.only_changes = true;
  const Comparison c = CompareFixtures("base.json", "slow.json", o);
  const std::string table = FormatComparison(c, CompareFormat::kTable);
  EXPECT_NE(table.find("REGRESSION: slower"), std::string::npos) << table;
  EXPECT_NE(table.find("  faster"), std::string::npos) << table;
  EXPECT_EQ(table.find("small change"), std::string::npos) << table;
  EXPECT_EQ(Count(table, "no change"), 0u) << table;  // no unchanged row listed
  EXPECT_NE(table.find("4 of 6 compared cases not listed: no regression, improvement or ambiguity (--only-changes)"), std::string::npos) << table;
  const Json j = Json::parse(FormatComparison(c, CompareFormat::kJson));
  EXPECT_EQ(j["cases"].size(), 2u);
  EXPECT_EQ(j["summary"]["compared"], 6);  // the verdict still covers every case
  const std::string md = FormatComparison(c, CompareFormat::kMarkdown);
  EXPECT_NE(md.find("Listed: 2 compared cases"), std::string::npos) << md;
}

// Verify reports have no timing: unchanged cases are counted, not listed.
TEST(CompareUx, UntimedUnchangedCasesAreNotListed) {
  LoadedReport base = LoadReport(Fixture("base.json"));
  for (ReportCase& c : base.report.cases) {
    c.timing.reset();
    c.throughput.reset();
  }
  LoadedReport next = base;
  next.report.cases[1].status = "failed";
  next.report.cases[1].accuracy->passed = false;
  const Comparison c = CompareReports(base, next, {});
  const std::string table = FormatComparison(c, CompareFormat::kTable);
  EXPECT_EQ(Count(table, "not timed"), 1u) << table;  // the count line; the changed row is a regression
  EXPECT_NE(table.find("5 of 6 compared cases not listed: not timed (verify reports) and unchanged"), std::string::npos) << table;
  EXPECT_NE(table.find("passed -> failed"), std::string::npos) << table;
  EXPECT_TRUE(c.regression());
}

}  // namespace
}  // namespace lnbench
