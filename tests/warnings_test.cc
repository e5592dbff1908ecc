// The warnings of report/warnings.h on synthetic results and machine samples:
// each fires on the case it is for and stays quiet on a sound one.
#include "report/warnings.h"

#include <gtest/gtest.h>

#include <string>

namespace lnbench {
namespace {

// A timed case at `fraction` of a ceiling whose samples have `ceiling_noise`.
RunResult OneTimedCase(double fraction, double ceiling_noise, double ceiling_rel_err, double case_rel_err,
                       const std::string& stop_reason) {
  RunResult result;
  CeilingResult c;
  c.device = "cpu";
  c.threads = 1;
  c.measurement.method = "memcpy";
  c.stats.bandwidth_gbps = 10;
  c.stats.seconds.noise = ceiling_noise;
  c.stats.seconds.median_rel_err = ceiling_rel_err;
  result.ceilings.push_back(c);
  CaseResult r;
  r.backend = "highway";
  r.device = "cpu";
  r.threads = 1;
  r.status = CaseStatus::kPassed;
  TimingResult t;
  t.stats.median = 1e-6;
  t.stats.median_rel_err = case_rel_err;
  t.stop_reason = stop_reason;
  r.timing = t;
  Throughput tp;
  tp.ceiling_gbps = 10;
  tp.ceiling_method = "memcpy";
  tp.bandwidth_gbps = 10 * fraction;
  tp.fraction_of_ceiling = fraction;
  r.throughput = tp;
  result.cases.push_back(r);
  return result;
}

std::string Kinds(const std::vector<Warning>& list) {
  std::string s;
  for (const Warning& w : list) s += (s.empty() ? "" : ",") + w.kind;
  return s;
}

MachineSample Quiet(double wall) {
  MachineSample s;
  s.hardware_threads = 2;
  s.load1 = 0.1;
  s.wall_s = wall;
  return s;
}

TEST(WarningsTest, SoundCaseHasNone) {
  RunConfig config;
  const RunWarnings w = ComputeWarnings(OneTimedCase(0.8, 0.02, 0.002, 0.003, "noise"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "");
  EXPECT_TRUE(w.run.empty());
}

TEST(WarningsTest, NoisyCeilingAndAboveItBeyondTheNoise) {
  RunConfig config;
  RunWarnings w = ComputeWarnings(OneTimedCase(1.412, 1.15, 0.05, 0.01, "noise"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "noisy_ceiling,above_ceiling");
  EXPECT_NE(w.cases[0][0].message.find("115% noise"), std::string::npos) << w.cases[0][0].message;
  EXPECT_NE(w.cases[0][1].message.find("141.2% of the ceiling"), std::string::npos) << w.cases[0][1].message;
  // 102% with +-2.2% (two standard errors of 1.1%) is within the noise: no warning.
  w = ComputeWarnings(OneTimedCase(1.02, 0.05, 0.01, 0.005, "noise"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "");
}

TEST(WarningsTest, BudgetStopWithHighNoise) {
  RunConfig config;  // --max-noise 0.5%: warned beyond max(1%, 2 x 0.5%)
  RunWarnings w = ComputeWarnings(OneTimedCase(0.5, 0.01, 0.001, 0.59, "time_budget"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "budget_noise");
  w = ComputeWarnings(OneTimedCase(0.5, 0.01, 0.001, 0.008, "time_budget"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "");
  w = ComputeWarnings(OneTimedCase(0.5, 0.01, 0.001, 0.59, "max_samples"), config, Quiet(0), Quiet(1));
  EXPECT_EQ(Kinds(w.cases[0]), "");
}

TEST(WarningsTest, BusyMachineFromLoadOthersAndSteal) {
  RunConfig config;
  const RunResult result = OneTimedCase(0.5, 0.01, 0.001, 0.001, "noise");
  MachineSample before = Quiet(0), after = Quiet(10);
  before.load1 = 9.1;
  RunWarnings w = ComputeWarnings(result, config, before, after);
  ASSERT_EQ(w.run.size(), 1u);
  EXPECT_EQ(w.run[0].Text(), "busy_machine: load average 9.1 on 2 hardware threads before the run");
  // 10 s of wall time: 25 busy CPU seconds, 10 of them ours: others used 1.5 cores.
  before = Quiet(0);
  after.busy_s = 25;
  after.own_s = 10;
  after.total_s = 20;
  after.steal_s = 1;  // 5% stolen
  w = ComputeWarnings(result, config, before, after);
  ASSERT_EQ(w.run.size(), 2u);
  EXPECT_EQ(w.run[0].message, "other processes used 1.5 of 2 hardware threads during the run");
  EXPECT_EQ(w.run[1].message, "5.0% of CPU time was stolen by the hypervisor during the run");
  // verify does not time: no load warnings.
  config.measure = false;
  EXPECT_TRUE(ComputeWarnings(result, config, before, after).run.empty());
}

TEST(WarningsTest, ReportGetsWarningsAndTheMediansStandardError) {
  RunConfig config;
  const RunResult result = OneTimedCase(1.412, 1.15, 0.05, 0.01, "noise");
  const RunWarnings w = ComputeWarnings(result, config, Quiet(0), Quiet(1));
  Report model;
  model.cases.emplace_back().timing.emplace().median_s = 1e-6;
  AnnotateReport(model, result, w);
  const nlohmann::ordered_json report = ReportToJson(model);
  EXPECT_DOUBLE_EQ(report["cases"][0]["timing"]["median_rel_stderr"].get<double>(), 0.01);
  EXPECT_DOUBLE_EQ(report["cases"][0]["timing"]["median_stderr_s"].get<double>(), 1e-8);
  EXPECT_EQ(report["cases"][0]["warnings"].size(), 2u);
  EXPECT_EQ(report["cases"][0]["warnings"][0]["kind"], "noisy_ceiling");
  EXPECT_EQ(report["summary"]["warnings"], 1);
  EXPECT_TRUE(report["warnings"].is_array());
}

}  // namespace
}  // namespace lnbench
