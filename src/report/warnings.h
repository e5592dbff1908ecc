// Warnings that keep numbers honest on a busy machine (issue 17): a noisy
// ceiling, a fraction of the ceiling above 100% beyond the noise, a case that
// stopped on its time budget with the median still uncertain, and a machine
// that looked busy. Each warning has a kind (a stable word for tools) and a
// message; the table shows the kinds, the report holds both.
#ifndef LNBENCH_REPORT_WARNINGS_H_
#define LNBENCH_REPORT_WARNINGS_H_

#include <string>
#include <vector>

#include "core/runner.h"
#include "report/report_model.h"

namespace lnbench {

struct Warning {
  std::string kind;  // noisy_ceiling, above_ceiling, budget_noise, busy_machine
  std::string message;
  std::string Text() const { return kind + ": " + message; }
};

// CPU time on this machine from /proc (root taken from $LNBENCH_PROC_ROOT
// when set: the tests' synthetic machine). Fields are NaN when unreadable.
struct MachineSample {
  double load1 = 0;        // 1-minute load average
  double busy_s = 0;       // CPU seconds spent busy by every process (user, nice, system, irq)
  double steal_s = 0;      // CPU seconds the hypervisor gave to other guests
  double total_s = 0;      // all CPU seconds, idle included
  double own_s = 0;        // CPU seconds of this process (every thread)
  double wall_s = 0;       // a monotonic clock
  int hardware_threads = 1;
};
MachineSample SampleMachine();

struct WarningLimits {
  double ceiling_noise = 0.10;     // relative stdev of a ceiling's samples
  double above_sigmas = 2;         // fraction > 1 + this many combined standard errors
  double budget_noise_min = 0.01;  // budget stop warned when the median's error exceeds
                                   // max(this, 2 x --max-noise)
  double busy_load_per_thread = 1;  // load average before the run, per hardware thread
  double busy_other_cores = 0.5;    // other processes' CPU use during the run, in cores
  double busy_steal = 0.02;         // share of CPU time stolen during the run
};

struct RunWarnings {
  std::vector<std::vector<Warning>> cases;  // one list per case, in result order
  std::vector<Warning> run;
};

// Returns the warnings of a finished run; `before` and `after` are samples
// taken around it.
RunWarnings ComputeWarnings(const RunResult& result, const RunConfig& config, const MachineSample& before,
                            const MachineSample& after, const WarningLimits& limits = {});

// Adds to a report built from `result` (cases in the same order): each case's
// `warnings` and its timing's `median_stderr_s` / `median_rel_stderr`, the
// run's `warnings`, and the summary's `warnings` (cases with any).
void AnnotateReport(Report& report, const RunResult& result, const RunWarnings& warnings);

// Returns `warnings` as the table's "kind: message" lines.
std::vector<std::vector<std::string>> CaseWarningTexts(const RunWarnings& warnings);
std::vector<std::string> RunWarningTexts(const RunWarnings& warnings);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_WARNINGS_H_
