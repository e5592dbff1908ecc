// Measurement loop, nvbench-style: warm up, collect at least a minimum of
// samples, stop when the median is known to within a relative noise
// threshold, or when a time budget or a sample cap is reached.
#ifndef LNBENCH_CORE_TIMING_H_
#define LNBENCH_CORE_TIMING_H_

#include <functional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/stats.h"

namespace lnbench {

struct TimingConfig {
  int warmup_runs = 2;          // untimed runs before sampling (at least)
  double warmup_s = 0.02;       // ... and at least this long
  int min_samples = 10;
  int max_samples = 2000;
  double max_noise = 0.005;     // stop when the median's relative standard error is below this
  double time_budget_s = 0.5;   // per case, sampling only
  double min_sample_s = 50e-6;  // hot samples batch runs up to at least this duration
  bool cold = false;            // flush caches before each sample (batch 1)
};

struct TimingResult {
  std::string mode;  // "hot" or "cold"
  int batch = 1;
  int warmup_runs = 0;
  std::vector<double> samples_s;  // seconds per run, one per sample
  SampleStats stats;
  std::string stop_reason;  // "noise", "time_budget", "max_samples", "external"
};

// Times `prepared` under `config`. `before_sample`, when set, runs before
// each timed sample (after the warm-up), untimed: the runner's paired copies
// (--ceiling paired). Not for an externally timed case, which times itself.
TimingResult Measure(PreparedCase& prepared, const TimingConfig& config,
                     const std::function<void()>& before_sample = {});

// Returns the CPU time of this process (all threads, user and system) in seconds.
double ProcessCpuSeconds();

// Returns the statistics of a ceiling measurement as bandwidth.
struct CeilingStats {
  SampleStats seconds;
  double bandwidth_gbps = 0;  // bytes_per_copy / median seconds / 1e9
};
CeilingStats SummarizeCeiling(const CeilingMeasurement& m);

}  // namespace lnbench

#endif  // LNBENCH_CORE_TIMING_H_
