#include "report/warnings.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/thread_pool.h"

namespace lnbench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string ProcPath(const char* name) {
  const char* root = std::getenv("LNBENCH_PROC_ROOT");
  return std::string(root != nullptr && *root != '\0' ? root : "/proc") + "/" + name;
}

// Returns the ceiling a case was measured against, or nullptr.
const CeilingResult* CeilingOf(const RunResult& result, const CaseResult& r) {
  if (!r.throughput) return nullptr;
  for (const CeilingResult& c : result.ceilings)
    if (c.device == r.device && c.threads == r.threads && c.measurement.method == r.throughput->ceiling_method &&
        c.stats.bandwidth_gbps == r.throughput->ceiling_gbps)
      return &c;
  return nullptr;
}

}  // namespace

MachineSample SampleMachine() {
  MachineSample s;
  s.hardware_threads = OnlineCpus();  // the load and /proc/stat are machine-wide
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  {
    std::ifstream in(ProcPath("loadavg"));
    if (!(in >> s.load1)) s.load1 = kNaN;
  }
  {
    // The first line: cpu user nice system idle iowait irq softirq steal ... (in clock ticks).
    std::ifstream in(ProcPath("stat"));
    std::string line, label;
    double v[8] = {};
    if (std::getline(in, line)) {
      std::istringstream fields(line);
      fields >> label;
      int n = 0;
      while (n < 8 && fields >> v[n]) ++n;
      if (label == "cpu" && n >= 8) {
        const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
        s.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
        s.steal_s = v[7] * tick;
        s.total_s = (v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]) * tick;
      } else {
        s.busy_s = s.steal_s = s.total_s = kNaN;
      }
    } else {
      s.busy_s = s.steal_s = s.total_s = kNaN;
    }
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0)
    s.own_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  return s;
}

RunWarnings ComputeWarnings(const RunResult& result, const RunConfig& config, const MachineSample& before,
                            const MachineSample& after, const WarningLimits& limits) {
  RunWarnings w;
  w.cases.resize(result.cases.size());
  for (size_t i = 0; i < result.cases.size(); ++i) {
    const CaseResult& r = result.cases[i];
    auto& out = w.cases[i];
    if (!r.timing || !r.throughput) continue;
    const SampleStats& st = r.timing->stats;
    if (const CeilingResult* c = CeilingOf(result, r)) {
      const SampleStats& cs = c->stats.seconds;
      if (cs.noise > limits.ceiling_noise)
        out.push_back({"noisy_ceiling",
                       fmt::format("the {} ceiling ({:.2f} GB/s) has {:.0f}% noise: its fraction of the ceiling "
                                   "is unreliable",
                                   c->measurement.method, c->stats.bandwidth_gbps, cs.noise * 100)});
      // Both medians are uncertain; their relative errors add in quadrature.
      const double margin = limits.above_sigmas * std::hypot(st.median_rel_err, cs.median_rel_err);
      const double f = r.throughput->fraction_of_ceiling;
      if (std::isfinite(f) && f > 1 + margin)
        out.push_back({"above_ceiling",
                       fmt::format("{:.1f}% of the ceiling, beyond the noise (+-{:.1f}%): the ceiling was measured "
                                   "low (a busy machine, or a copy slower than this kernel's access pattern)",
                                   f * 100, margin * 100)});
    }
    const double budget_limit = std::max(limits.budget_noise_min, 2 * config.timing.max_noise);
    if (r.timing->stop_reason == "time_budget" && st.median_rel_err > budget_limit)
      out.push_back({"budget_noise",
                     fmt::format("stopped on the time budget with the median known to +-{:.1f}% (target {:.1f}%): "
                                 "raise --time-budget or quiet the machine",
                                 st.median_rel_err * 100, config.timing.max_noise * 100)});
  }
  if (!config.measure) return w;  // load matters to timings only
  const int threads = std::max(1, before.hardware_threads);
  if (std::isfinite(before.load1) && before.load1 > limits.busy_load_per_thread * threads)
    w.run.push_back({"busy_machine", fmt::format("load average {:.1f} on {} hardware thread{} before the run",
                                                 before.load1, threads, threads == 1 ? "" : "s")});
  const double wall = after.wall_s - before.wall_s;
  if (wall > 0.05 && std::isfinite(after.busy_s) && std::isfinite(before.busy_s)) {
    const double others = ((after.busy_s - before.busy_s) - (after.own_s - before.own_s)) / wall;
    if (others > limits.busy_other_cores)
      w.run.push_back({"busy_machine", fmt::format("other processes used {:.1f} of {} hardware thread{} during the "
                                                   "run",
                                                   others, threads, threads == 1 ? "" : "s")});
    const double total = after.total_s - before.total_s;
    const double steal = total > 0 ? (after.steal_s - before.steal_s) / total : 0;
    if (steal > limits.busy_steal)
      w.run.push_back({"busy_machine", fmt::format("{:.1f}% of CPU time was stolen by the hypervisor during "
                                                   "the run",
                                                   steal * 100)});
  }
  return w;
}

namespace {
std::vector<ReportWarning> WarningsModel(const std::vector<Warning>& list) {
  std::vector<ReportWarning> out;
  for (const Warning& w : list) out.push_back({w.kind, w.message});
  return out;
}
}  // namespace

void AnnotateReport(Report& report, const RunResult& result, const RunWarnings& warnings) {
  int with_warnings = 0;
  for (size_t i = 0; i < result.cases.size() && i < report.cases.size(); ++i) {
    const CaseResult& r = result.cases[i];
    ReportCase& c = report.cases[i];
    if (r.timing && c.timing) {
      // The stop rule's figure: the median's standard error (relative, and in seconds).
      c.timing->median_rel_stderr = r.timing->stats.median_rel_err;
      c.timing->median_stderr_s = r.timing->stats.median_rel_err * r.timing->stats.median;
    }
    const std::vector<Warning> none;
    const auto& list = i < warnings.cases.size() ? warnings.cases[i] : none;
    c.warnings = WarningsModel(list);
    with_warnings += !list.empty();
  }
  report.warnings = WarningsModel(warnings.run);
  report.summary.warnings = with_warnings;
}

std::vector<std::vector<std::string>> CaseWarningTexts(const RunWarnings& warnings) {
  std::vector<std::vector<std::string>> out;
  for (const auto& list : warnings.cases) {
    out.emplace_back();
    for (const Warning& w : list) out.back().push_back(w.Text());
  }
  return out;
}

std::vector<std::string> RunWarningTexts(const RunWarnings& warnings) {
  std::vector<std::string> out;
  for (const Warning& w : warnings.run) out.push_back(w.Text());
  return out;
}

}  // namespace lnbench
