#include "core/timing.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/thread_pool.h"

namespace lnbench {

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

TimingResult Measure(PreparedCase& prepared, const TimingConfig& config,
                     const std::function<void()>& before_sample) {
  TimingResult r;
  r.mode = config.cold ? "cold" : "hot";
  // An external command measured its own samples (it warmed up itself).
  r.samples_s = prepared.SelfTimedSamples(config);
  if (!r.samples_s.empty()) {
    r.stop_reason = "external";
    r.stats = Summarize(r.samples_s);
    return r;
  }
  using Clock = std::chrono::steady_clock;
  // The pools' waits spin while timed runs follow each other (thread_pool.h).
  ScopedPoolSpinning spinning;
  // Warm-up: caches, clocks, lazy initialisation; also estimates one run's time.
  const auto warm_start = Clock::now();
  double one_run = 0;
  for (;;) {
    one_run = prepared.TimeBatch(1, config.cold);
    ++r.warmup_runs;
    const double spent = std::chrono::duration<double>(Clock::now() - warm_start).count();
    if (r.warmup_runs >= config.warmup_runs && spent >= config.warmup_s) break;
    if (r.warmup_runs >= 10000) break;
  }
  // Hot samples batch short runs so each sample is long against the clock's
  // resolution and per-call overhead; cold samples are one run after a flush.
  if (!config.cold && one_run < config.min_sample_s) {
    const double want = config.min_sample_s / std::max(one_run, 1e-9);
    r.batch = static_cast<int>(std::min(10000.0, std::ceil(want)));
  }
  const auto start = Clock::now();
  double hook_s = 0;  // before_sample's time, outside the budget
  for (;;) {
    if (before_sample) {
      const auto h0 = Clock::now();
      before_sample();
      hook_s += std::chrono::duration<double>(Clock::now() - h0).count();
    }
    const double s = prepared.TimeBatch(r.batch, config.cold);
    r.samples_s.push_back(s / r.batch);
    const int n = static_cast<int>(r.samples_s.size());
    const double spent = std::chrono::duration<double>(Clock::now() - start).count() - hook_s;
    if (n >= config.min_samples) {
      const SampleStats st = Summarize(r.samples_s);
      if (st.median_rel_err <= config.max_noise) {
        r.stop_reason = "noise";
        break;
      }
      if (spent >= config.time_budget_s) {
        r.stop_reason = "time_budget";
        break;
      }
    }
    if (n >= config.max_samples) {
      r.stop_reason = "max_samples";
      break;
    }
    // A very slow case still stops: never more than 4x the budget in total.
    if (spent >= 4 * config.time_budget_s && n >= 3) {
      r.stop_reason = "time_budget";
      break;
    }
  }
  r.stats = Summarize(r.samples_s);
  return r;
}

CeilingStats SummarizeCeiling(const CeilingMeasurement& m) {
  CeilingStats c;
  c.seconds = Summarize(m.seconds);
  c.bandwidth_gbps = c.seconds.median > 0 ? m.bytes_per_copy / c.seconds.median / 1e9 : 0;
  return c;
}

}  // namespace lnbench
