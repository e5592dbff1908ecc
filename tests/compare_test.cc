// Tests of `lnbench compare` and `lnbench merge`: the Mann-Whitney U test
// against values computed by hand and by scipy, the report reader against
// bad files, the comparison rules against the checked-in fixtures of
// tests/fixtures/compare/ (made by make_fixtures.py there), and the lnbench
// binary end to end.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare/compare.h"
#include "compare/mann_whitney.h"
#include "compare/merge.h"
#include "compare/report_json.h"
#include "core/errors.h"
#include "io/file_io.h"
#include "support/report_schema.h"

namespace lnbench {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(LNBENCH_SOURCE_DIR) + "/tests/fixtures/compare/" + name;
}

LoadedReport Load(const std::string& name) { return LoadReport(Fixture(name)); }
// Returns a fixture as the JSON the report model writes (version 2 read as 3), to edit.
Json LoadJson(const std::string& name) { return ReportToJson(Load(name).report); }

Comparison CompareFixtures(const std::string& base, const std::string& next, CompareOptions options = {}) {
  return CompareReports(Load(base), Load(next), options);
}

// Returns the comparison of the case whose label starts with `label`.
const CaseComparison& Find(const Comparison& c, const std::string& label) {
  for (const auto& cc : c.cases)
    if (cc.label.rfind(label, 0) == 0) return cc;
  ADD_FAILURE() << "no compared case labelled " << label;
  static const CaseComparison none;
  return none;
}

// Returns the message of the UsageError `fn` throws ("" if it throws none).
template <typename F>
std::string UsageMessage(F fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

// A fresh folder for files a test writes, removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("lnbench_compare_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------
// Mann-Whitney U test.

// Two-sided asymptotic p-values and U statistics from
// scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
// (scipy 1.10.1), each checked by hand below where small enough.
TEST(CompareMannWhitney, ScipyDocumentationExample) {
  // scipy's own docs example (males vs females). By hand: 11 12 16 17 19 20
  // 22 24 29 rank 1..9, so a ranks 5, 7, 3, 9, 8 -> R = 32, U = 32 - 15 = 17; mu = 10,
  // sigma = sqrt(20 * 10 / 12) = 4.0825, z = (17 - 10 - 0.5) / 4.0825 = 1.5922,
  // p = 2 * (1 - Phi(1.5922)) = 0.11135.
  const auto r = MannWhitneyU({19, 22, 16, 29, 24}, {20, 11, 17, 12});
  EXPECT_DOUBLE_EQ(r.u, 17.0);
  EXPECT_NEAR(r.p_value, 0.11134688653314041, 1e-12);
}

TEST(CompareMannWhitney, TiesUseMidranksAndTheTieCorrection) {
  // By hand: midranks 1, 2.5 x2, 5.5 x4, 9 x3, 11.5 x2, 13; R(a) = 31.5,
  // U = 31.5 - 28 = 3.5. Ties t = 2, 4, 3, 2: sum(t^3 - t) = 96;
  // var = 42/12 * (14 - 96/156) = 46.846; z = (38.5 - 21 - 0.5) / 6.8444 = 2.4838;
  // p = 0.0130.
  const auto r = MannWhitneyU({1, 2, 2, 3, 3, 3, 4}, {3, 4, 4, 5, 5, 6});
  EXPECT_DOUBLE_EQ(r.u, 3.5);
  EXPECT_NEAR(r.p_value, 0.012999854364387305, 1e-12);
}

TEST(CompareMannWhitney, MoreScipyValues) {
  std::vector<double> a, b;
  for (int i = 1; i <= 20; ++i) a.push_back(i);
  for (int i = 11; i <= 30; ++i) b.push_back(i);
  auto r = MannWhitneyU(a, b);
  EXPECT_DOUBLE_EQ(r.u, 50.0);
  EXPECT_NEAR(r.p_value, 5.2125496206037515e-05, 1e-15);

  r = MannWhitneyU({6, 7, 8, 9, 10, 11}, {1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(r.u, 30.0);
  EXPECT_NEAR(r.p_value, 0.00811311726556578, 1e-12);

  // Complete separation, 5 vs 5: z = (12.5 - 0.5) / sqrt(25 * 11 / 12) = 2.5067.
  r = MannWhitneyU({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_DOUBLE_EQ(r.u, 0.0);
  EXPECT_NEAR(r.p_value, 0.012185780355344813, 1e-12);
}

TEST(CompareMannWhitney, NoEvidenceGivesPOfOne) {
  // U = mu: the continuity correction pushes z below 0; scipy clips p to 1.
  auto r = MannWhitneyU({1.5, 2.5, 3.5, 4.5, 5.5}, {1.5, 2.5, 3.5, 4.5, 5.5});
  EXPECT_DOUBLE_EQ(r.u, 12.5);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
  // Every value tied: zero variance.
  r = MannWhitneyU({1, 1, 1}, {1, 1});
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
}

TEST(CompareMannWhitney, IsSymmetric) {
  const std::vector<double> a = {3.1, 2.9, 3.3, 3.0, 3.2, 3.05};
  const std::vector<double> b = {3.4, 3.1, 3.6, 3.5, 3.3};
  const auto ab = MannWhitneyU(a, b);
  const auto ba = MannWhitneyU(b, a);
  EXPECT_DOUBLE_EQ(ab.p_value, ba.p_value);
  EXPECT_DOUBLE_EQ(ab.u + ba.u, static_cast<double>(a.size() * b.size()));
}

TEST(CompareMannWhitney, MinimumSampleCountCanReachAlpha) {
  EXPECT_NEAR(MinAttainablePValue(5, 5), 0.012185780355344813, 1e-12);
  // 4 per side can only just reach 0.05, 3 per side never can: hence kMinUTestSamples = 5.
  EXPECT_GT(MinAttainablePValue(4, 4), 0.025);
  EXPECT_LT(MinAttainablePValue(4, 4), 0.05);
  EXPECT_GT(MinAttainablePValue(3, 3), 0.05);
  EXPECT_EQ(kMinUTestSamples, 5u);
}

// ---------------------------------------------------------------------------
// Reading reports.

TEST(CompareReportJson, SchemaNumbers) {
  EXPECT_TRUE(std::isnan(*ReadNumber(Json("NaN"))));
  EXPECT_EQ(*ReadNumber(Json("Infinity")), INFINITY);
  EXPECT_EQ(*ReadNumber(Json("-Infinity")), -INFINITY);
  EXPECT_EQ(*ReadNumber(Json(1.5)), 1.5);
  EXPECT_EQ(*ReadNumber(Json(3)), 3.0);
  EXPECT_FALSE(ReadNumber(Json("nan")));
  EXPECT_FALSE(ReadNumber(Json(nullptr)));
  EXPECT_EQ(JsonNumber(NAN), Json("NaN"));
  EXPECT_EQ(JsonNumber(-INFINITY), Json("-Infinity"));
  EXPECT_EQ(JsonNumber(0.25), Json(0.25));
}

TEST(CompareReportJson, ReadsTheFixtures) {
  for (const char* name : {"base.json", "noise.json", "slow.json", "accuracy.json", "missing.json",
                           "other_machine.json", "other_machine_slow.json", "few_samples.json",
                           "disjoint.json", "duplicate.json", "real_run.json"}) {
    SCOPED_TRACE(name);
    const LoadedReport r = Load(name);
    EXPECT_FALSE(r.merged());
    EXPECT_FALSE(r.cases().empty());
    EXPECT_EQ(r.timing_mode(), "hot");
  }
}

// real_run.json is a real `lnbench run` report (see tests/fixtures/compare/make_fixtures.py).
TEST(Compare, RealReport) {
  const LoadedReport real = Load("real_run.json");
  ASSERT_EQ(real.cases().size(), 8u);
  Comparison c = CompareReports(real, real, {});
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(c.cases.size(), 8u);
  EXPECT_EQ(c.geomean_cases, 8u);

  // The highway 64x768 f32 case 1.5x slower.
  Json slow = ReportToJson(real.report);
  Json& timing = slow["cases"][1]["timing"];
  ASSERT_EQ(slow["cases"][1]["backend"], "highway");
  for (auto& sample : timing["samples_s"]) sample = sample.get<double>() * 1.5;
  timing["median_s"] = timing["median_s"].get<double>() * 1.5;
  c = CompareReports(real, CheckReport("slow.json", slow), {});
  EXPECT_EQ(c.regressed_cases, 1u);
  EXPECT_EQ(c.cases[1].label, "highway 64x768 f32 normal t1 hot");
  EXPECT_EQ(c.cases[1].timing, TimingVerdict::kSlower);
  EXPECT_NEAR(*c.cases[1].change, 0.5, 1e-9);

  // The scalar 64x768 f32 case now failing, written the way `run` writes an
  // untimed case (no timing, no throughput, an id ending in "verify").
  Json failed = ReportToJson(real.report);
  Json& f = failed["cases"][0];
  f["status"] = "failed";
  f["reason"] = "y: 3 elements over bound";
  f["accuracy"]["passed"] = false;
  f["timing"] = nullptr;
  f["throughput"] = nullptr;
  std::string id = f["id"].get<std::string>();
  f["id"] = id.substr(0, id.rfind('/')) + "/verify";
  c = CompareReports(real, CheckReport("failed.json", failed), {});
  EXPECT_EQ(c.cases.size(), 8u);
  EXPECT_EQ(c.accuracy_regressions, 1u);
  EXPECT_EQ(c.cases[0].accuracy, AccuracyVerdict::kNowFails);
}

TEST(CompareReportJson, BadFilesNameTheFileAndTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty.json", "empty file"},
      {"truncated.json", "truncated or incomplete JSON"},
      {"not_json.json", "not valid JSON"},
      {"array.json", "not an lnbench report (the document is an array"},
      {"schema_v4.json", "schema_version 4 is not supported"},
      {"schema_v1.json", "schema_version 1 is not supported (this lnbench reads version 3): its max_ulp is a bit distance"},
      {"wrong_kind.json", "kind \"nvbench-report\" is not an lnbench report"},
      {"bad_field.json", "timing.samples_s[4]: is a string, expected a number"},
      {"no_such_file.json", "no such file"},
  };
  for (const auto& [name, phrase] : cases) {
    SCOPED_TRACE(name);
    const std::string message = UsageMessage([&] { Load(name); });
    EXPECT_NE(message.find("'" + Fixture(name) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(phrase), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
  // A NUL byte ended nlohmann's input: a report followed by "\0 garbage" was read.
  TempDir dir;
  const std::string nul = dir.File("nul.json");
  std::stringstream base;
  base << std::ifstream(Fixture("base.json")).rdbuf();
  std::ofstream(nul, std::ios::binary) << base.str() << std::string(1, '\0') << " garbage {{{";
  const std::string message = UsageMessage([&] { LoadReport(nul); });
  EXPECT_NE(message.find("'" + nul + "': not valid JSON: a NUL byte at offset"), std::string::npos) << message;
  // A gzipped report is named as one (it was "not valid JSON: invalid literal").
  const std::string gz = dir.File("r.json.gz");
  std::ofstream(gz, std::ios::binary) << std::string("\x1f\x8b\x08\x00", 4) << "compressed bytes";
  const std::string gz_message = UsageMessage([&] { LoadReport(gz); });
  EXPECT_NE(gz_message.find("'" + gz + "': a gzip file: decompress it first (gzip -dk)"), std::string::npos)
      << gz_message;
}

TEST(CompareReportJson, MissingAndMistypedFields) {
  Json doc = LoadJson("base.json");
  doc["cases"][1].erase("problem");
  EXPECT_NE(UsageMessage([&] { CheckReport("x.json", doc); }).find("cases[1]"), std::string::npos);
  doc = LoadJson("base.json");
  doc["cases"][0]["status"] = "great";
  EXPECT_NE(UsageMessage([&] { CheckReport("x.json", doc); }).find("expected one of passed"), std::string::npos);
  doc = LoadJson("base.json");
  doc.erase("schema_version");
  EXPECT_NE(UsageMessage([&] { CheckReport("x.json", doc); }).find("no schema_version"), std::string::npos);
  doc = LoadJson("base.json");
  doc["context"]["machine"] = 7;
  EXPECT_NE(UsageMessage([&] { CheckReport("x.json", doc); }).find("context.machine: is an integer"),
            std::string::npos);
}

// ---------------------------------------------------------------------------
// Comparing.

TEST(Compare, SlowdownParsing) {
  EXPECT_DOUBLE_EQ(ParseSlowdown("5%"), 0.05);
  EXPECT_DOUBLE_EQ(ParseSlowdown("0.05"), 0.05);
  EXPECT_DOUBLE_EQ(ParseSlowdown(" 12.5% "), 0.125);
  EXPECT_DOUBLE_EQ(ParseSlowdown("150%"), 1.5);
  EXPECT_DOUBLE_EQ(ParseSlowdown("0"), 0.0);
  for (const char* bad : {"5", "-1%", "abc", "", "%", "5%%", "nan", "0.05x"})
    EXPECT_THROW(ParseSlowdown(bad), UsageError) << bad;
}

TEST(Compare, KeysIgnoreTheVariantThatRanAndIncludeTheMode) {
  const LoadedReport base = Load("base.json");
  const ReportCase& c = base.cases()[0];
  ReportCase other = c;
  other.variant = "something-else";  // the variant that ran; the key uses the requested one
  other.id = "different";
  EXPECT_EQ(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  other.timing->mode = "cold";
  EXPECT_NE(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  other = c;
  other.problem.eps = 1e-6;
  EXPECT_NE(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  other = c;
  other.problem.op = "rmsnorm";
  EXPECT_NE(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  other = c;
  other.problem.dir = "bwd";
  EXPECT_NE(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  other = c;
  other.machine = "elsewhere";
  EXPECT_EQ(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  EXPECT_NE(CaseKey(c, true, "hot"), CaseKey(other, true, "hot"));
  EXPECT_EQ(CaseLabel(c, "hot"), "scalar 1024x768 f32 normal t1 hot");
  // Another op and direction: in the key, and first in the label.
  other = c;
  other.problem.dir = "bwd";
  EXPECT_NE(CaseKey(c, false, "hot"), CaseKey(other, false, "hot"));
  EXPECT_EQ(CaseLabel(other, "hot"), "layernorm bwd scalar 1024x768 f32 normal t1 hot");
  other.problem.op = "rmsnorm";
  other.problem.dir = "fwd";
  EXPECT_EQ(CaseLabel(other, "hot"), "rmsnorm fwd scalar 1024x768 f32 normal t1 hot");
}

TEST(Compare, IdenticalReports) {
  const Comparison c = CompareFixtures("base.json", "base.json");
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(c.cases.size(), 6u);
  EXPECT_TRUE(c.only_in_base.empty());
  EXPECT_TRUE(c.only_in_new.empty());
  for (const auto& cc : c.cases) {
    SCOPED_TRACE(cc.label);
    if (cc.base.status != "passed") {
      EXPECT_EQ(cc.timing, TimingVerdict::kNotTimed);
      continue;
    }
    EXPECT_EQ(cc.timing, TimingVerdict::kNoChange);
    EXPECT_DOUBLE_EQ(*cc.change, 0.0);
    EXPECT_DOUBLE_EQ(cc.utest->p_value, 1.0);
    EXPECT_EQ(cc.accuracy, AccuracyVerdict::kSame);
  }
  ASSERT_TRUE(c.geomean_ratio);
  EXPECT_DOUBLE_EQ(*c.geomean_ratio, 1.0);
  EXPECT_EQ(c.geomean_cases, 5u);
}

TEST(Compare, NoiseOnlyIsNoRegression) {
  const Comparison c = CompareFixtures("base.json", "noise.json");
  EXPECT_FALSE(c.regression()) << FormatComparison(c, CompareFormat::kTable);
  for (const auto& cc : c.cases) {
    EXPECT_NE(cc.timing, TimingVerdict::kSlower) << cc.label;
    if (cc.change) EXPECT_LT(std::abs(*cc.change), 0.02) << cc.label;
  }
  EXPECT_NEAR(*c.geomean_ratio, 1.0, 0.01);
}

TEST(Compare, ClearSlowdownIsARegression) {
  const Comparison c = CompareFixtures("base.json", "slow.json");
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.regressed_cases, 1u);
  EXPECT_EQ(c.timing_regressions, 1u);
  EXPECT_EQ(c.accuracy_regressions, 0u);
  const auto& slow = Find(c, "scalar 1024x768 f32 normal");
  EXPECT_EQ(slow.timing, TimingVerdict::kSlower);
  EXPECT_NEAR(*slow.change, 0.20, 0.03);
  EXPECT_LT(slow.utest->p_value, 1e-6);
  ASSERT_EQ(slow.regressions.size(), 1u);
  EXPECT_NE(slow.regressions[0].find("slower +"), std::string::npos);
  // +2%: significant, but within the 5% threshold.
  EXPECT_NE(Find(c, "scalar 1024x768 bf16").timing, TimingVerdict::kSlower);
  EXPECT_EQ(Find(c, "scalar 4096x1024 f32 offset1e4").timing, TimingVerdict::kFaster);
  EXPECT_EQ(c.faster, 1u);
}

TEST(Compare, SlowdownNeedsBothSignificanceAndSize) {
  CompareOptions loose;
  loose.max_slowdown = 0.25;  // the 20% slowdown is now within the threshold
  Comparison c = CompareFixtures("base.json", "slow.json", loose);
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(Find(c, "scalar 1024x768 f32 normal").timing, TimingVerdict::kSmallChange);

  // With no size threshold, a slowdown still has to be significant: noise.json's
  // +0.4% on 4096x1024 (p = 0.11) is not, its +0.8% on 15x3 (p = 0.018) is.
  CompareOptions no_threshold;
  no_threshold.max_slowdown = 0;
  c = CompareFixtures("base.json", "noise.json", no_threshold);
  const auto& insignificant = Find(c, "scalar 4096x1024 f32 offset1e4");
  EXPECT_GT(*insignificant.change, 0.0);
  EXPECT_GT(insignificant.utest->p_value, 0.05);
  EXPECT_EQ(insignificant.timing, TimingVerdict::kNoChange);
  const auto& significant = Find(c, "scalar 15x3 f32 exact");
  EXPECT_LT(significant.utest->p_value, 0.05);
  EXPECT_EQ(significant.timing, TimingVerdict::kSlower);
  EXPECT_EQ(c.timing_regressions, 1u);

  // An alpha that 20 samples per side cannot reach (the smallest p is 6.8e-8):
  // the test is not run rather than called "no change".
  CompareOptions strict_alpha;
  strict_alpha.alpha = 1e-12;
  c = CompareFixtures("base.json", "slow.json", strict_alpha);
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(Find(c, "scalar 1024x768 f32 normal").timing, TimingVerdict::kTooFewSamples);
}

TEST(Compare, AccuracyRegressions) {
  Comparison c = CompareFixtures("base.json", "accuracy.json");
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.accuracy_regressions, 2u);
  EXPECT_EQ(c.timing_regressions, 0u);
  // The failed case has no timing and an id ending in "verify"; it still pairs.
  EXPECT_TRUE(c.only_in_base.empty());
  EXPECT_TRUE(c.only_in_new.empty());
  const auto& failed = Find(c, "scalar 1024x768 bf16");
  EXPECT_EQ(failed.accuracy, AccuracyVerdict::kNowFails);
  EXPECT_EQ(failed.timing, TimingVerdict::kNotTimed);
  EXPECT_NE(failed.accuracy_detail.find("passed -> failed: y: 12 elements"), std::string::npos);
  const auto& grown = Find(c, "scalar 257x768 f16 normal stats");
  EXPECT_EQ(grown.accuracy, AccuracyVerdict::kUlpGrowth);
  EXPECT_EQ(grown.accuracy_detail, "y max ulp 1 -> 3");

  CompareOptions allow2;
  allow2.max_ulp_growth = 2;
  c = CompareFixtures("base.json", "accuracy.json", allow2);
  EXPECT_TRUE(c.regression());  // the failure remains
  EXPECT_EQ(c.accuracy_regressions, 1u);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kUlpWithin);

  // A case with backend tuning (a coverage case) is another case than the
  // same shape without it: no duplicate, matched by its tuning.
  Json tuned = LoadJson("base.json");
  Json extra = tuned["cases"][0];
  extra["tuning"] = {{"stream_min_bytes", "0"}};
  tuned["cases"].push_back(extra);
  const LoadedReport tuned_report = CheckReport("tuned.json", tuned);
  c = CompareReports(tuned_report, tuned_report, {});
  EXPECT_EQ(c.cases.size(), Load("base.json").cases().size() + 1);
  EXPECT_TRUE(std::any_of(c.cases.begin(), c.cases.end(), [](const CaseComparison& cc) {
    return cc.label.find("stream_min_bytes=0") != std::string::npos;
  }));

  // Scale ulps are fractional: growth is judged on the numbers, not on bits.
  Json frac = LoadJson("accuracy.json");
  frac["cases"][4]["accuracy"]["tensors"]["y"]["max_ulp"] = 1.375;
  CompareOptions allow_half;
  allow_half.max_ulp_growth = 0.5;
  c = CompareReports(Load("base.json"), CheckReport("frac.json", frac), allow_half);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kUlpWithin);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy_detail, "y max ulp 1 -> 1.375");
  c = CompareReports(Load("base.json"), CheckReport("frac.json", frac), {});
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kUlpGrowth);

  // A max ulp that became NaN is growth beyond any allowance (NaN compared
  // with anything is false: it used to pass as "within allowance"); a NaN
  // that became a number fell.
  Json nan = LoadJson("accuracy.json");
  nan["cases"][4]["accuracy"]["tensors"]["y"]["max_ulp"] = "NaN";
  CompareOptions allow_all;
  allow_all.max_ulp_growth = 1e9;
  c = CompareReports(Load("base.json"), CheckReport("nan.json", nan), allow_all);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kUlpGrowth);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy_detail, "y max ulp 1 -> nan");
  c = CompareReports(CheckReport("nan.json", nan), Load("base.json"), {});
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kImproved);
  c = CompareReports(CheckReport("nan.json", nan), CheckReport("nan.json", nan), {});
  EXPECT_FALSE(Find(c, "scalar 257x768 f16 normal stats").accuracy == AccuracyVerdict::kUlpGrowth);

  // The other way round: failed -> passed and ulp 3 -> 1 are improvements.
  c = CompareFixtures("accuracy.json", "base.json");
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(Find(c, "scalar 1024x768 bf16").accuracy, AccuracyVerdict::kImproved);
  EXPECT_EQ(Find(c, "scalar 257x768 f16 normal stats").accuracy, AccuracyVerdict::kImproved);
}

TEST(Compare, MissingCasesAreListed) {
  Comparison c = CompareFixtures("base.json", "missing.json");
  EXPECT_FALSE(c.regression());
  ASSERT_EQ(c.only_in_base.size(), 1u);
  ASSERT_EQ(c.only_in_new.size(), 1u);
  EXPECT_EQ(c.only_in_base[0].label, "scalar 15x3 f32 exact t1 hot");
  EXPECT_EQ(c.only_in_new[0].label, "scalar 30x300 f32 normal t1 hot");
  const std::string table = FormatComparison(c, CompareFormat::kTable);
  EXPECT_NE(table.find("only in base (1)"), std::string::npos);
  EXPECT_NE(table.find("only in new (1)"), std::string::npos);

  CompareOptions fail;
  fail.fail_on_missing = true;
  c = CompareFixtures("base.json", "missing.json", fail);
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.regressed_cases, 0u);
  EXPECT_NE(c.Headline().find("2 cases missing"), std::string::npos);
}

TEST(Compare, DifferentMachinesCompareFractionsOfTheCeiling) {
  // Machine B: 0.7x the ceiling and every time 1/0.7 = 1.43x longer.
  Comparison c = CompareFixtures("base.json", "other_machine.json");
  EXPECT_FALSE(c.regression()) << FormatComparison(c, CompareFormat::kTable);
  EXPECT_EQ(c.pairs_on_different_machines, 6u);
  EXPECT_EQ(c.pairs_by_ceiling, 5u);
  for (const auto& cc : c.cases) {
    if (!cc.change) continue;
    EXPECT_TRUE(cc.by_ceiling);
    EXPECT_LT(std::abs(*cc.change), 0.03) << cc.label;
  }
  EXPECT_NE(FormatComparison(c, CompareFormat::kTable).find("machines differ"), std::string::npos);

  CompareOptions absolute;
  absolute.absolute = true;
  c = CompareFixtures("base.json", "other_machine.json", absolute);
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.timing_regressions, 5u);
  EXPECT_NEAR(*Find(c, "scalar 1024x768 f32 normal").change, 1 / 0.7 - 1, 0.03);
  EXPECT_FALSE(Find(c, "scalar 1024x768 f32 normal").by_ceiling);

  // Max ulp growth across machines is shown, not judged (the SIMD width
  // changes the summation order); a new failure still is.
  Json grown = LoadJson("other_machine.json");
  grown["cases"][4]["accuracy"]["tensors"]["y"]["max_ulp"] = 5;
  grown["cases"][1]["status"] = "failed";
  c = CompareReports(Load("base.json"), CheckReport("grown.json", grown), {});
  EXPECT_EQ(c.cases[4].accuracy, AccuracyVerdict::kUlpOtherMachine);
  EXPECT_FALSE(c.cases[4].regression());
  EXPECT_EQ(c.cases[1].accuracy, AccuracyVerdict::kNowFails);
  EXPECT_EQ(c.accuracy_regressions, 1u);

  // Without a finite ceiling on a side there is nothing to normalize by.
  Json no_ceiling = LoadJson("other_machine.json");
  no_ceiling["cases"][0]["throughput"]["ceiling_gbps"] = "NaN";
  no_ceiling["cases"][0]["throughput"]["fraction_of_ceiling"] = "NaN";
  c = CompareReports(Load("base.json"), CheckReport("nc.json", no_ceiling), {});
  EXPECT_EQ(c.cases[0].timing, TimingVerdict::kNoCeiling);
  EXPECT_FALSE(c.cases[0].change);

  // A real slowdown against the ceiling is still found across machines.
  c = CompareFixtures("base.json", "other_machine_slow.json");
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.regressed_cases, 1u);
  const auto& slow = Find(c, "scalar 1024x768 f32 normal");
  EXPECT_TRUE(slow.by_ceiling);
  EXPECT_NEAR(*slow.change, 0.30, 0.03);
}

TEST(Compare, TooFewSamplesAreNotJudged) {
  const Comparison c = CompareFixtures("base.json", "few_samples.json");
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(c.too_few_samples, 5u);
  EXPECT_EQ(Find(c, "scalar 1024x768 f32 normal").timing, TimingVerdict::kTooFewSamples);
  EXPECT_NEAR(*Find(c, "scalar 1024x768 f32 normal").change, 1.0, 0.05);
}

TEST(Compare, UnmatchableInputIsAUsageError) {
  std::string m = UsageMessage([] { CompareFixtures("base.json", "disjoint.json"); });
  EXPECT_NE(m.find("no cases in common"), std::string::npos) << m;
  EXPECT_NE(m.find("disjoint.json"), std::string::npos) << m;
  m = UsageMessage([] { CompareFixtures("base.json", "duplicate.json"); });
  EXPECT_NE(m.find("are the same case"), std::string::npos) << m;
}

TEST(Compare, Formats) {
  const Comparison c = CompareFixtures("base.json", "slow.json");
  const std::string table = FormatComparison(c, CompareFormat::kTable);
  EXPECT_NE(table.find("REGRESSION: slower +"), std::string::npos);
  EXPECT_NE(table.find("geomean time ratio"), std::string::npos);
  EXPECT_NE(table.find("result: REGRESSION: 1 of 6"), std::string::npos);

  const std::string md = FormatComparison(c, CompareFormat::kMarkdown);
  EXPECT_EQ(md.rfind("### lnbench compare: **REGRESSION", 0), 0u) << md;
  EXPECT_NE(md.find("| case | status |"), std::string::npos);
  EXPECT_NE(md.find("Regressions:\n\n| case"), std::string::npos) << md;
  EXPECT_NE(md.find("<details><summary>All 6 compared cases</summary>"), std::string::npos) << md;
  EXPECT_NE(md.find(" -> "), std::string::npos) << md;
  EXPECT_EQ(md.find("\\>"), std::string::npos) << "no escaped arrows: " << md;
  EXPECT_NE(md.find("| :--- | :--- | ---: |"), std::string::npos);

  // Text from the reports cannot become a link, an image or a cell break in a
  // PR comment: a backend named as a remote image, a git sha with a backtick
  // and a |.
  Json hostile = LoadJson("slow.json");
  for (Json& cs : hostile["cases"]) cs["backend"] = "![i](http://e/i.png)";
  hostile["tool"]["git_sha"] = "abc`|**x**";
  Json base = LoadJson("base.json");
  for (Json& cs : base["cases"]) cs["backend"] = "![i](http://e/i.png)";
  const std::string hmd = FormatComparison(
      CompareReports(CheckReport("b.json", base), CheckReport("h.json", hostile), {}), CompareFormat::kMarkdown);
  EXPECT_EQ(hmd.find("![i]("), std::string::npos) << hmd;
  EXPECT_NE(hmd.find("!\\[i\\](http://e/i.png)"), std::string::npos) << hmd;
  EXPECT_NE(hmd.find("`abc'\\|**x**`"), std::string::npos) << hmd;

  const Json j = Json::parse(FormatComparison(c, CompareFormat::kJson));
  EXPECT_EQ(j["kind"], "lnbench-comparison");
  EXPECT_EQ(j["summary"]["regression"], true);
  EXPECT_EQ(j["summary"]["regressed_cases"], 1);
  ASSERT_EQ(j["cases"].size(), 6u);
  EXPECT_EQ(j["cases"][0]["timing"]["verdict"], "slower");
  EXPECT_EQ(j["cases"][0]["regression"], true);
  EXPECT_EQ(j["cases"][5]["timing"]["change"], nullptr);  // the unsupported case
}

TEST(Compare, RunCompareExitCodesAndOutputFile) {
  std::ostringstream out;
  CompareConfig config;
  config.base_path = Fixture("base.json");
  config.new_path = Fixture("noise.json");
  EXPECT_EQ(RunCompare(config, out), 0);
  config.new_path = Fixture("slow.json");
  EXPECT_EQ(RunCompare(config, out), 1);

  TempDir dir;
  config.output_path = dir.File("cmp.md");
  config.format = CompareFormat::kMarkdown;
  std::ostringstream summary;
  EXPECT_EQ(RunCompare(config, summary), 1);
  EXPECT_NE(summary.str().find("wrote " + config.output_path), std::string::npos);
  const std::string written = ReadFile(config.output_path);
  EXPECT_EQ(written, FormatComparison(CompareFixtures("base.json", "slow.json"), CompareFormat::kMarkdown));

  config.output_path = dir.File("no/such/folder/cmp.md");
  EXPECT_THROW(RunCompare(config, out), UsageError);

  // Both inputs bad: both named, one line each.
  config.output_path.clear();
  config.base_path = Fixture("empty.json");
  config.new_path = Fixture("truncated.json");
  const std::string m = UsageMessage([&] { RunCompare(config, out); });
  EXPECT_NE(m.find("empty.json': empty file"), std::string::npos) << m;
  // Both named, on one line.
  EXPECT_NE(m.find("; '" + Fixture("truncated.json") + "': truncated"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

// ---------------------------------------------------------------------------
// Merging.

TEST(CompareMerge, TwoMachines) {
  const LoadedReport a = Load("base.json");
  const LoadedReport b = Load("other_machine.json");
  const Json merged = ReportToJson(MergeReports({a, b}, MergeInfo{"2025-11-22T00:00:00Z", {"lnbench", "merge"}}));
  EXPECT_EQ(merged["schema_version"], 3);
  EXPECT_EQ(merged["kind"], "lnbench-merged-report");
  EXPECT_EQ(merged["tool"]["name"], "lnbench");
  ASSERT_EQ(merged["cases"].size(), a.cases().size() + b.cases().size());
  // Every case and ceiling keeps its machine; every input context is listed.
  for (size_t i = 0; i < merged["cases"].size(); ++i)
    EXPECT_EQ(merged["cases"][i]["machine"], i < a.cases().size() ? a.machine() : b.machine());
  ASSERT_EQ(merged["ceilings"].size(), 4u);
  EXPECT_EQ(merged["ceilings"][0]["machine"], a.machine());
  EXPECT_EQ(merged["ceilings"][3]["machine"], b.machine());
  const Json& machines = merged["context"]["machines"];
  ASSERT_EQ(machines.size(), 2u);
  EXPECT_EQ(machines[0]["report"], a.path);
  EXPECT_EQ(machines[0]["machine"], a.machine());
  EXPECT_EQ(machines[1]["machine"], b.machine());
  EXPECT_EQ(machines[1]["tool"], ToJson(b.report.tool));
  EXPECT_EQ(machines[1]["config"], b.report.config);
  EXPECT_EQ(merged["context"]["machine"], a.machine() + "; " + b.machine());
  EXPECT_EQ(merged["summary"]["cases"], 12);
  EXPECT_EQ(merged["summary"]["passed"], 10);
  EXPECT_EQ(merged["summary"]["unsupported"], 2);
  EXPECT_EQ(merged["bytes_model"], ReportToJson(a.report)["bytes_model"]);

  // It reads back as a report, compares with itself, and still matches a single report.
  const LoadedReport back = CheckReport("merged.json", merged);
  EXPECT_TRUE(back.merged());
  Comparison c = CompareReports(back, back, {});
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(c.cases.size(), 12u);
  c = CompareReports(back, Load("slow.json"), {});
  EXPECT_TRUE(c.regression());
  EXPECT_EQ(c.cases.size(), 6u);
  EXPECT_EQ(c.only_in_base.size(), 6u);  // machine B's cases
  EXPECT_EQ(c.pairs_on_different_machines, 0u);

  // Merging a merged report flattens its machines.
  const Json again = ReportToJson(MergeReports({back, Load("disjoint.json")}, MergeInfo{"d", {}}));
  EXPECT_EQ(again["context"]["machines"].size(), 3u);
  EXPECT_EQ(again["cases"].size(), 13u);
  EXPECT_EQ(again["context"]["machine"], a.machine() + "; " + b.machine());
}

TEST(CompareMerge, RefusesAmbiguousOrMismatchedInputs) {
  // The same case on the same machine twice.
  std::string m = UsageMessage([] { MergeReports({Load("base.json"), Load("noise.json")}, MergeInfo{}); });
  EXPECT_NE(m.find("both hold the case"), std::string::npos) << m;

  TempDir dir;
  std::ostringstream out;
  MergeConfig config;
  config.output_path = dir.File("all.json");
  config.input_paths = {Fixture("base.json"), Fixture("schema_v4.json")};
  m = UsageMessage([&] { RunMerge(config, {}, out); });
  EXPECT_NE(m.find("schema versions differ"), std::string::npos) << m;
  EXPECT_FALSE(std::filesystem::exists(config.output_path));

  config.input_paths = {Fixture("base.json"), Fixture("empty.json"), Fixture("wrong_kind.json")};
  m = UsageMessage([&] { RunMerge(config, {}, out); });
  EXPECT_NE(m.find("empty.json': empty file"), std::string::npos) << m;
  EXPECT_NE(m.find("wrong_kind.json': kind"), std::string::npos) << m;
  EXPECT_FALSE(std::filesystem::exists(config.output_path));
}

TEST(CompareMerge, RunMergeWritesAValidCompleteReport) {
  TempDir dir;
  std::ostringstream out;
  MergeConfig config;
  config.output_path = dir.File("all.json");
  // A run's own warnings and the counts only it knows are kept (they were dropped).
  Json warned = LoadJson("other_machine.json");
  warned["warnings"] = Json::array({{{"kind", "busy_machine"}, {"message", "other processes used 1.0 of 2"}}});
  warned["summary"]["warnings"] = 3;
  warned["summary"]["peer_failed"] = 2;
  const std::string warned_path = dir.File("warned.json");
  std::ofstream(warned_path) << warned.dump();
  config.input_paths = {Fixture("base.json"), warned_path};
  EXPECT_EQ(RunMerge(config, {"lnbench", "merge"}, out), 0);
  EXPECT_NE(out.str().find("merged 2 reports (12 cases from 2 machine entries)"), std::string::npos) << out.str();
  const LoadedReport merged = LoadReport(config.output_path);
  EXPECT_EQ(merged.cases().size(), 12u);
  EXPECT_EQ(merged.report.context.argv, std::vector<std::string>({"lnbench", "merge"}));
  ASSERT_TRUE(merged.report.warnings.has_value());
  ASSERT_EQ(merged.report.warnings->size(), 1u);
  EXPECT_EQ((*merged.report.warnings)[0].kind, "busy_machine");
  EXPECT_EQ((*merged.report.warnings)[0].message, warned_path + ": other processes used 1.0 of 2");
  EXPECT_EQ(merged.report.summary.warnings, 3);
  EXPECT_EQ(merged.report.summary.peer_failed, 2);

  // The whole schema, checked by python3-jsonschema.
  test_support::ExpectReportFileMatchesSchema(config.output_path);
}

// ---------------------------------------------------------------------------
// The binary, end to end.

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

Outcome RunLnbench(const std::string& args) {
  TempDir dir;
  const std::string out = dir.File("out"), err = dir.File("err");
  const std::string cmd = std::string("'") + LNBENCH_BINARY + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream fo(out), fe(err);
  std::stringstream so, se;
  so << fo.rdbuf();
  se << fe.rdbuf();
  o.out = so.str();
  o.err = se.str();
  return o;
}

class CompareEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    // The default build target builds lnbench; a missing binary is a broken
    // build, not a reason to skip (the tests no longer depend on it in CMake).
    if (!std::filesystem::exists(LNBENCH_BINARY)) FAIL() << "no lnbench binary at " << LNBENCH_BINARY;
  }
  static std::string F(const std::string& name) { return "'" + Fixture(name) + "'"; }
};

TEST_F(CompareEndToEnd, CompareExitCodes) {
  EXPECT_EQ(RunLnbench("compare " + F("base.json") + " " + F("base.json")).exit_code, 0);
  EXPECT_EQ(RunLnbench("compare " + F("base.json") + " " + F("noise.json")).exit_code, 0);
  Outcome o = RunLnbench("compare " + F("base.json") + " " + F("slow.json"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("REGRESSION: slower"), std::string::npos) << o.out;
  EXPECT_EQ(RunLnbench("compare " + F("base.json") + " " + F("accuracy.json")).exit_code, 1);
  EXPECT_EQ(RunLnbench("compare " + F("base.json") + " " + F("missing.json")).exit_code, 0);
  EXPECT_EQ(RunLnbench("compare --fail-on-missing " + F("base.json") + " " + F("missing.json")).exit_code, 1);
  EXPECT_EQ(RunLnbench("compare " + F("base.json") + " " + F("other_machine.json")).exit_code, 0);
  EXPECT_EQ(RunLnbench("compare --absolute " + F("base.json") + " " + F("other_machine.json")).exit_code, 1);
  EXPECT_EQ(RunLnbench("compare --max-slowdown 25% " + F("base.json") + " " + F("slow.json")).exit_code, 0);
  EXPECT_EQ(RunLnbench("compare --max-slowdown 0.25 " + F("base.json") + " " + F("slow.json")).exit_code, 0);
  EXPECT_EQ(RunLnbench("compare --max-ulp-growth 2 " + F("base.json") + " " + F("accuracy.json")).exit_code, 1);
}

// Every bad input is named on the one line, a missing file too (CLI11's
// existence check stopped at the first missing one: "base: File does not
// exist: ...", the other input unsaid).
TEST_F(CompareEndToEnd, MissingAndBadInputsAreAllNamed) {
  const std::string missing = "'" + Fixture("no_such_file.json") + "'";
  for (const std::string& args : {"compare " + missing + " " + F("empty.json"),
                                  "compare " + F("empty.json") + " " + missing,
                                  "merge " + missing + " " + F("empty.json") + " -o -"}) {
    SCOPED_TRACE(args);
    const Outcome o = RunLnbench(args);
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_NE(o.err.find("no_such_file.json': no such file"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("empty.json': empty file"), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_EQ(o.out, "");
  }
}

TEST_F(CompareEndToEnd, CompareBadInputExitsTwoWithOneLine) {
  for (const char* name : {"empty.json", "truncated.json", "not_json.json", "array.json", "schema_v4.json",
                           "wrong_kind.json", "bad_field.json", "disjoint.json", "duplicate.json"}) {
    SCOPED_TRACE(name);
    const Outcome o = RunLnbench("compare " + F("base.json") + " " + F(name));
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_NE(o.err.find(name), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
  Outcome o = RunLnbench("compare " + F("base.json") + " " + F("no_such_file.json"));
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("no_such_file.json"), std::string::npos) << o.err;
  EXPECT_EQ(RunLnbench("compare --max-slowdown 5 " + F("base.json") + " " + F("base.json")).exit_code, 2);
  EXPECT_EQ(RunLnbench("compare --alpha 0 " + F("base.json") + " " + F("base.json")).exit_code, 2);
  EXPECT_EQ(RunLnbench("compare --format xml " + F("base.json") + " " + F("base.json")).exit_code, 2);
}

TEST_F(CompareEndToEnd, CompareFormatsAndOutputFile) {
  Outcome o = RunLnbench("compare --format json " + F("base.json") + " " + F("slow.json"));
  EXPECT_EQ(o.exit_code, 1);
  const Json j = Json::parse(o.out);
  EXPECT_EQ(j["summary"]["regressed_cases"], 1);

  TempDir dir;
  const std::string md = dir.File("cmp.md");
  o = RunLnbench("compare --format md -o '" + md + "' " + F("base.json") + " " + F("slow.json"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(ReadFile(md).find("| case | status |"), std::string::npos);
  o = RunLnbench("compare -o '" + dir.File("missing/x.md") + "' " + F("base.json") + " " + F("slow.json"));
  EXPECT_EQ(o.exit_code, 2);
}

TEST_F(CompareEndToEnd, Merge) {
  TempDir dir;
  const std::string all = dir.File("all.json");
  Outcome o = RunLnbench("merge " + F("base.json") + " " + F("other_machine.json") + " -o '" + all + "'");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  const LoadedReport merged = LoadReport(all);
  EXPECT_TRUE(merged.merged());
  EXPECT_EQ(merged.cases().size(), 12u);
  EXPECT_EQ(RunLnbench("compare '" + all + "' '" + all + "'").exit_code, 0);

  const std::string bad = dir.File("bad.json");
  o = RunLnbench("merge " + F("base.json") + " " + F("schema_v4.json") + " -o '" + bad + "'");
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("schema versions differ"), std::string::npos) << o.err;
  EXPECT_FALSE(std::filesystem::exists(bad));
  EXPECT_EQ(RunLnbench("merge " + F("base.json")).exit_code, 2);  // -o is required
}

}  // namespace
}  // namespace lnbench
