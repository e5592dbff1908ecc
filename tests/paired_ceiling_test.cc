// --ceiling paired: the runner times one copy of each method before every
// sample of a case and divides each sample by the copies of its own moment.
// A scripted machine whose bandwidth drifts (every timing multiplied by the
// same factor within a pair, a different one from pair to pair) shows that
// the drift cancels, that every sample is divided by the copy of the method
// that was faster in the median (not by the luckier copy of its pair), and
// how a backend
// that cannot pair falls back to a ceiling measured before the case.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "app/registry.h"
#include "backends/cpu/cpu_backend.h"
#include "core/runner.h"
#include "core/stats.h"

namespace lnbench {
namespace {

constexpr int kWarmup = 2;
constexpr int kSamples = 12;

// The machine's clock: the kernel's timed batches so far (kWarmup warm-up
// runs, then one per sample). Sample i and the copies just before it see
// the same moment.
struct DriftingMachine {
  int batches = 0;
  int kernel_runs = 0;  // untimed Run()s: verification, the hot re-warm after the copies
  int Sample() const { return std::max(batches - kWarmup, 0); }
  // The drift: the machine is four times slower from the seventh sample on.
  double Slowdown() const { return Sample() < 6 ? 1.0 : 4.0; }
};

constexpr double kKernelS = 1e-3;  // the kernel's own time per run
constexpr double kMemcpyS = 2e-4;  // memcpy's own time per copy
constexpr double kStreamS = 1.6e-4;
constexpr uint64_t kCopyBytes = 1 << 20;

// The kernel's own variation from sample to sample, which pairing keeps.
double KernelVariation(int sample) { return 1.0 + 0.01 * (sample % 5); }
// The stream copy (1.6e-4 s against memcpy's 2e-4 s) is the slower one in
// every third sample (2.4e-4 s), and the faster one in the median.
double StreamVariation(int sample) { return sample % 3 == 2 ? 1.5 : 1.0; }

// The scalar backend's case (so that it verifies), timed by the script.
class ScriptedCase : public PreparedCase {
 public:
  ScriptedCase(std::unique_ptr<PreparedCase> inner, DriftingMachine* m)
      : inner_(std::move(inner)), m_(m) {}
  std::string ResolvedVariant() const override { return inner_->ResolvedVariant(); }
  void Poison() override { inner_->Poison(); }
  void Run() override {
    ++m_->kernel_runs;
    inner_->Run();
  }
  void Download(const HostTensors& out) override { inner_->Download(out); }
  double TimeBatch(int batch, bool) override {
    const double s = batch * kKernelS * KernelVariation(m_->Sample()) * m_->Slowdown();
    ++m_->batches;
    return s;
  }

 private:
  std::unique_ptr<PreparedCase> inner_;
  DriftingMachine* m_;
};

class ScriptedSampler : public CopySampler {
 public:
  ScriptedSampler(DriftingMachine* m, bool two_methods, bool in_cache)
      : m_(m), two_methods_(two_methods), in_cache_(in_cache) {}
  std::vector<std::string> Methods() const override {
    if (two_methods_) return {"memcpy", "stream_copy"};
    return {"memcpy"};
  }
  uint64_t BytesPerCopy() const override { return kCopyBytes; }
  bool InCache() const override { return in_cache_; }
  double Time(size_t method) override {
    const double own = method == 0 ? kMemcpyS : kStreamS * StreamVariation(m_->Sample());
    return own * m_->Slowdown();
  }

 private:
  DriftingMachine* m_;
  bool two_methods_, in_cache_;
};

class ScriptedBackend : public CpuBackend {
 public:
  ScriptedBackend(bool can_pair, bool two_methods, bool in_cache)
      : can_pair_(can_pair), two_methods_(two_methods), in_cache_(in_cache) {}
  std::string Name() const override { return "scripted"; }
  std::string Description() const override { return "the scalar kernel on a scripted machine"; }
  Verdict Available() const override { return Verdict::Yes(); }
  std::vector<VariantInfo> Variants() const override { return {{"default", "scalar, scripted times"}}; }
  Verdict Supports(const Problem& p, const CaseOptions& o) const override {
    return FindBackend("scalar")->Supports(p, o);
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& p, const HostTensors& inputs,
                                        const CaseOptions& o) override {
    CaseOptions scalar = o;
    scalar.variant = "";
    return std::make_unique<ScriptedCase>(FindBackend("scalar")->Prepare(p, inputs, scalar), &machine);
  }
  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t, int, int, double) override {
    ++ceilings_measured;
    return {CeilingMeasurement{"memcpy", kCopyBytes, {kMemcpyS, kMemcpyS, kMemcpyS}}};
  }
  std::unique_ptr<CopySampler> PrepareCopySampler(uint64_t, int) override {
    if (!can_pair_) return nullptr;
    return std::make_unique<ScriptedSampler>(&machine, two_methods_, in_cache_);
  }

  DriftingMachine machine;
  int ceilings_measured = 0;

 private:
  bool can_pair_, two_methods_, in_cache_;
};

RunResult RunScripted(ScriptedBackend& backend, CeilingMode mode) {
  RunConfig c;
  c.backends = {backend.Name()};
  c.backend_objects = {&backend};
  c.skip_unavailable = false;
  c.shapes = {{64, 256}};
  c.threads = {1};
  c.ceiling = mode;
  c.timing.warmup_runs = kWarmup;
  c.timing.warmup_s = 0;
  c.timing.min_samples = kSamples;
  c.timing.max_samples = kSamples;
  return ExecuteRun(c, nullptr, nullptr);
}

// The fraction sample i has: its bandwidth over the copy's before it, of
// the method faster in the median (the stream copy when there are two),
// even in the samples where memcpy was the faster.
double PairFraction(uint64_t bytes, int i, bool two_methods) {
  const double copy = two_methods ? kStreamS * StreamVariation(i) : kMemcpyS;
  return (static_cast<double>(bytes) / (kKernelS * KernelVariation(i))) / (kCopyBytes / copy);
}

TEST(PairedCeiling, EachSampleIsDividedByTheFasterCopyOfItsOwnMoment) {
  for (const bool two_methods : {false, true}) {
    SCOPED_TRACE(two_methods ? "memcpy and stream_copy" : "memcpy only");
    ScriptedBackend backend(/*can_pair=*/true, two_methods, /*in_cache=*/false);
    const RunResult r = RunScripted(backend, CeilingMode::kPaired);
    ASSERT_EQ(r.cases.size(), 1u);
    const CaseResult& c = r.cases[0];
    ASSERT_EQ(c.status, CaseStatus::kPassed) << c.reason;
    ASSERT_TRUE(c.timing && c.throughput);
    ASSERT_EQ(c.timing->samples_s.size(), static_cast<size_t>(kSamples));
    EXPECT_EQ(backend.ceilings_measured, 0);
    EXPECT_EQ(backend.machine.kernel_runs, 1);  // verification only: out of cache, no re-warm

    // One measurement per method, a copy per sample.
    ASSERT_EQ(r.ceilings.size(), two_methods ? 2u : 1u);
    for (const CeilingResult& ceiling : r.ceilings) {
      EXPECT_TRUE(ceiling.paired);
      EXPECT_EQ(ceiling.measurement.seconds.size(), static_cast<size_t>(kSamples));
      EXPECT_EQ(ceiling.measurement.bytes_per_copy, kCopyBytes);
    }
    std::vector<double> expected;
    for (int i = 0; i < kSamples; ++i) expected.push_back(PairFraction(c.bytes.total(), i, two_methods));
    const SampleStats want = Summarize(expected);
    const Throughput& t = *c.throughput;
    EXPECT_EQ(t.pairs, kSamples);
    EXPECT_NEAR(t.fraction_of_ceiling, want.median, 1e-12);
    EXPECT_NEAR(t.fraction_p10, want.p10, 1e-12);
    EXPECT_NEAR(t.fraction_p90, want.p90, 1e-12);
    // The headline ceiling is the faster method's median bandwidth, one of
    // the run's ceilings.
    const CeilingResult* best = &r.ceilings[0];
    for (const CeilingResult& ceiling : r.ceilings)
      if (ceiling.stats.bandwidth_gbps > best->stats.bandwidth_gbps) best = &ceiling;
    EXPECT_EQ(t.ceiling_gbps, best->stats.bandwidth_gbps);
    EXPECT_EQ(t.ceiling_method, best->measurement.method);
    EXPECT_EQ(t.ceiling_method, two_methods ? "stream_copy" : "memcpy");
  }
}

// The machine slows down fourfold halfway through the case: a ceiling
// measured once, before the case (in the fast half), puts the case at about
// 40% of what it is; the paired fraction is that of a steady machine.
TEST(PairedCeiling, DriftWithinTheCaseCancels) {
  ScriptedBackend paired(/*can_pair=*/true, /*two_methods=*/false, /*in_cache=*/false);
  const CaseResult p = RunScripted(paired, CeilingMode::kPaired).cases.at(0);
  ScriptedBackend per_case(/*can_pair=*/true, /*two_methods=*/false, /*in_cache=*/false);
  const CaseResult q = RunScripted(per_case, CeilingMode::kPerCase).cases.at(0);
  ASSERT_TRUE(p.throughput && q.throughput);
  std::vector<double> steady;
  for (int i = 0; i < kSamples; ++i) steady.push_back(PairFraction(p.bytes.total(), i, false));
  EXPECT_NEAR(p.throughput->fraction_of_ceiling, Summarize(steady).median, 1e-12);
  // Per case the copies ran before the samples (at speed 1), and the
  // kernel's median lies between the halves.
  EXPECT_EQ(per_case.ceilings_measured, 1);
  EXPECT_LT(q.throughput->fraction_of_ceiling, 0.7 * p.throughput->fraction_of_ceiling);
}

// Data in cache: after the copies the kernel runs once untimed, so that its
// timed sample starts hot, as in back-to-back sampling.
TEST(PairedCeiling, InCacheTheKernelRunsAgainAfterTheCopies) {
  ScriptedBackend backend(/*can_pair=*/true, /*two_methods=*/false, /*in_cache=*/true);
  const RunResult r = RunScripted(backend, CeilingMode::kPaired);
  ASSERT_EQ(r.cases.at(0).status, CaseStatus::kPassed) << r.cases[0].reason;
  EXPECT_EQ(backend.machine.kernel_runs, 1 + kSamples);
}

// A backend without a sampler (a GPU, an external command) gets a ceiling
// measured right before each case instead, and says nothing of pairs.
TEST(PairedCeiling, WithoutASamplerTheCeilingIsMeasuredBeforeTheCase) {
  ScriptedBackend backend(/*can_pair=*/false, /*two_methods=*/false, /*in_cache=*/false);
  const RunResult r = RunScripted(backend, CeilingMode::kPaired);
  const CaseResult& c = r.cases.at(0);
  ASSERT_TRUE(c.throughput) << c.reason;
  EXPECT_EQ(backend.ceilings_measured, 1);
  ASSERT_EQ(r.ceilings.size(), 1u);
  EXPECT_FALSE(r.ceilings[0].paired);
  EXPECT_EQ(c.throughput->pairs, 0);
  EXPECT_DOUBLE_EQ(c.throughput->fraction_of_ceiling,
                   c.throughput->bandwidth_gbps / r.ceilings[0].stats.bandwidth_gbps);
}

TEST(PairedCeiling, ModeNames) {
  EXPECT_EQ(CeilingModeName(CeilingMode::kShared), "shared");
  EXPECT_EQ(CeilingModeName(CeilingMode::kPerCase), "per_case");
  EXPECT_EQ(CeilingModeName(CeilingMode::kPaired), "paired");
}

}  // namespace
}  // namespace lnbench
