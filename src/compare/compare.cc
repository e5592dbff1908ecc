#include "compare/compare.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "core/bounded_read.h"
#include "core/errors.h"
#include "core/stats.h"
#include "io/file_io.h"
#include "io/json_text.h"

namespace lnbench {

const char* TimingVerdictName(TimingVerdict verdict) {
  switch (verdict) {
    case TimingVerdict::kNotTimed: return "not timed";
    case TimingVerdict::kNoCeiling: return "no ceiling";
    case TimingVerdict::kTooFewSamples: return "too few samples";
    case TimingVerdict::kNoChange: return "no change";
    case TimingVerdict::kSmallChange: return "small change";
    case TimingVerdict::kSlower: return "slower";
    case TimingVerdict::kFaster: return "faster";
    case TimingVerdict::kAmbiguous: return "ambiguous: the machine's state changed";
  }
  return "?";
}

const char* AccuracyVerdictName(AccuracyVerdict verdict) {
  switch (verdict) {
    case AccuracyVerdict::kNotChecked: return "not checked";
    case AccuracyVerdict::kSame: return "same";
    case AccuracyVerdict::kImproved: return "improved";
    case AccuracyVerdict::kUlpGrowth: return "max ulp grew";
    case AccuracyVerdict::kUlpWithin: return "max ulp grew within allowance";
    case AccuracyVerdict::kUlpOtherMachine: return "max ulp grew on another machine (not judged)";
    case AccuracyVerdict::kNowFails: return "now fails";
  }
  return "?";
}

namespace {

// Returns (new - old) / |old|, google/benchmark's calculate_change: 0 when
// both are 0, and relative to the mean when only the old one is 0.
double RelativeChange(double old_value, double new_value) {
  if (old_value == 0 && new_value == 0) return 0;
  if (old_value == 0) return (new_value - old_value) / ((old_value + new_value) / 2);
  return (new_value - old_value) / std::abs(old_value);
}

// Returns `x` when it is finite and positive (a usable ceiling).
std::optional<double> FinitePositive(double x) {
  if (std::isfinite(x) && x > 0) return x;
  return std::nullopt;
}

// Returns what compare needs of one case of a report.
CaseSide ReadSide(const ReportCase& c) {
  CaseSide side;
  side.id = c.id;
  side.machine = c.machine;
  side.status = c.status;
  side.reason = c.reason;
  side.repro = c.repro;
  if (c.timing) {
    side.samples_s = c.timing->samples_s;
    side.median_s = c.timing->median_s;
  }
  if (c.throughput) {
    side.bandwidth_gbps = c.throughput->bandwidth_gbps;
    side.ceiling_gbps = FinitePositive(c.throughput->ceiling_gbps);
    if (std::isfinite(c.throughput->fraction_of_ceiling)) side.fraction_of_ceiling = c.throughput->fraction_of_ceiling;
  }
  if (c.accuracy) {
    side.accuracy_passed = c.accuracy->passed;
    // Tensors are written in TensorId order: inputs never appear, so the
    // first is the op's main output (y forward).
    for (const auto& [name, stats] : c.accuracy->tensors) {
      const std::optional<double> ulp = stats.max_ulp;
      if (side.tensor_max_ulp.empty()) {
        side.max_ulp = ulp;
        side.max_abs = stats.max_abs;
      }
      side.tensor_max_ulp.emplace_back(name, ulp);
      if (name == "mean") side.mean_max_ulp = ulp;
      if (name == "rstd") side.rstd_max_ulp = ulp;
    }
  }
  return side;
}

// Returns the relative standard error of the median of the ceiling a case was
// measured against (matched by device, threads, method and bandwidth), or nullopt.
std::optional<double> CeilingRelErr(const LoadedReport& report, const ReportCase& c) {
  if (!c.throughput) return std::nullopt;
  for (const ReportCeiling& ceiling : report.report.ceilings) {
    if (ceiling.device != c.device || ceiling.threads != c.threads ||
        ceiling.method != c.throughput->ceiling_method || ceiling.bandwidth_gbps != c.throughput->ceiling_gbps)
      continue;
    std::vector<double> samples;
    for (double x : ceiling.samples_s)
      if (std::isfinite(x)) samples.push_back(x);
    if (samples.size() < 2) return std::nullopt;
    return Summarize(samples).median_rel_err;
  }
  return std::nullopt;
}

// Returns a signed percentage: "+5.3%".
std::string Percent(double change) { return fmt::format("{:+.1f}%", 100 * change); }

// Sets cc's timing verdict, change, ratio and U test; adds a regression reason
// for a significant slowdown over the threshold.
void JudgeTiming(CaseComparison& cc, const CompareOptions& options) {
  const CaseSide& b = cc.base;
  const CaseSide& n = cc.next;
  if (!b.median_s || !n.median_s) {
    cc.timing = TimingVerdict::kNotTimed;
    return;
  }
  // On different machines absolute times say more about the machines than
  // about the code; time x ceiling bandwidth (bytes per ceiling-second, the
  // inverse of the fraction of ceiling up to the case's byte count) is what
  // each run measured against its own memory system.
  cc.by_ceiling = !cc.same_machine && !options.absolute;
  double scale_b = 1;
  double scale_n = 1;
  if (cc.by_ceiling) {
    if (!b.ceiling_gbps || !n.ceiling_gbps) {
      cc.timing = TimingVerdict::kNoCeiling;
      return;
    }
    scale_b = *b.ceiling_gbps;
    scale_n = *n.ceiling_gbps;
  }
  const double metric_b = *b.median_s * scale_b;
  const double metric_n = *n.median_s * scale_n;
  cc.change = RelativeChange(metric_b, metric_n);
  if (metric_b > 0 && metric_n > 0) cc.ratio = metric_n / metric_b;

  if (b.samples_s.empty() || n.samples_s.empty()) {
    cc.timing = TimingVerdict::kTooFewSamples;
    return;
  }
  std::vector<double> sb = b.samples_s;
  std::vector<double> sn = n.samples_s;
  for (double& x : sb) x *= scale_b;
  for (double& x : sn) x *= scale_n;
  cc.utest = MannWhitneyU(sb, sn);
  if (sb.size() < kMinUTestSamples || sn.size() < kMinUTestSamples ||
      MinAttainablePValue(sb.size(), sn.size()) >= options.alpha) {
    cc.timing = TimingVerdict::kTooFewSamples;
    return;
  }
  if (cc.utest->p_value >= options.alpha) {
    cc.timing = TimingVerdict::kNoChange;
  } else if (*cc.change > options.max_slowdown) {
    cc.timing = TimingVerdict::kSlower;
    cc.regressions.push_back(fmt::format("slower {}{} (p={:.2g})", Percent(*cc.change),
                                         cc.by_ceiling ? " vs ceiling" : "", cc.utest->p_value));
  } else if (*cc.change < -options.max_slowdown) {
    cc.timing = TimingVerdict::kFaster;
  } else {
    cc.timing = TimingVerdict::kSmallChange;
  }
  // On one machine, a copy ceiling that moved beyond its noise (and beyond the
  // tolerated slowdown) says the machine itself changed (other load, clocks,
  // a cache-resident copy): a significant change of the case cannot be laid
  // on the code (issue 17: 21 of 21 "regressions" while the fraction of the
  // ceiling improved). Compared by ceiling, the machine is already factored out.
  if ((cc.timing == TimingVerdict::kSlower || cc.timing == TimingVerdict::kFaster) && cc.same_machine &&
      !cc.by_ceiling &&
      b.ceiling_gbps && n.ceiling_gbps) {
    const double moved = std::abs(*n.ceiling_gbps / *b.ceiling_gbps - 1);
    const double noise = 2 * std::hypot(b.ceiling_rel_err.value_or(0), n.ceiling_rel_err.value_or(0));
    if (moved > noise && moved > options.max_slowdown) {
      if (cc.timing == TimingVerdict::kSlower) cc.regressions.pop_back();
      cc.timing = TimingVerdict::kAmbiguous;
      cc.ceiling_detail = fmt::format("ceiling {:.3g} -> {:.3g} GB/s ({}, noise +-{:.1f}%)", *b.ceiling_gbps,
                                      *n.ceiling_gbps, Percent(*n.ceiling_gbps / *b.ceiling_gbps - 1),
                                      noise * 100);
    }
  }
}

// Accuracy is deterministic for one build on one machine (same seed, same
// inputs, same summation order), so any max ulp growth there has a cause in
// the code. Across machines the SIMD width (AVX2 vs AVX-512, warp layouts)
// changes the summation order and near-zero outputs of ill-conditioned rows
// move by many ulps while staying well inside their bounds, so growth is only
// shown there; a case that passed and now fails is judged everywhere.
void JudgeAccuracy(CaseComparison& cc, const CompareOptions& options) {
  const CaseSide& b = cc.base;
  const CaseSide& n = cc.next;
  if (b.status == "passed" && (n.status == "failed" || n.status == "error")) {
    cc.accuracy = AccuracyVerdict::kNowFails;
    cc.accuracy_detail = "passed -> " + n.status;
    if (!n.reason.empty()) cc.accuracy_detail += ": " + n.reason;
    cc.regressions.push_back(n.status == "failed" ? "now fails verification" : "now ends in error");
    return;
  }
  if (b.max_ulp && n.max_ulp) {
    bool grew_within = false;
    bool fell = false;
    std::vector<std::string> grown, changes;
    const auto check = [&](const char* tensor, std::optional<double> ub, std::optional<double> un) {
      if (!ub || !un) return;
      // NaN (a report may hold "NaN"): no number at all. A NaN that was a
      // number is growth beyond any allowance; a number that was NaN fell.
      const bool base_nan = std::isnan(*ub), next_nan = std::isnan(*un);
      if (base_nan && next_nan) return;
      if (!base_nan && !next_nan && *ub == *un) return;
      const std::string text = fmt::format("{} max ulp {:.4g} -> {:.4g}", tensor, *ub, *un);
      changes.push_back(text);
      if (next_nan) {
        grown.push_back(text);
      } else if (base_nan || *un < *ub) {
        fell = true;
      } else if (*un - *ub > options.max_ulp_growth) {
        grown.push_back(text);
      } else {
        grew_within = true;
      }
    };
    for (const auto& [name, ub] : b.tensor_max_ulp)
      for (const auto& [next_name, un] : n.tensor_max_ulp)
        if (name == next_name) check(name.c_str(), ub, un);
    std::string detail;
    for (const auto& c : changes) AppendJoined(detail, "; ", c);
    cc.accuracy_detail = detail;
    if (!grown.empty() && !cc.same_machine) {
      cc.accuracy = AccuracyVerdict::kUlpOtherMachine;
    } else if (!grown.empty()) {
      cc.accuracy = AccuracyVerdict::kUlpGrowth;
      for (const auto& g : grown) cc.regressions.push_back(g);
    } else if (b.status != "passed" && n.status == "passed") {
      cc.accuracy = AccuracyVerdict::kImproved;
      cc.accuracy_detail = b.status + " -> passed";
      if (!detail.empty()) cc.accuracy_detail += "; " + detail;
    } else if (grew_within) {
      cc.accuracy = AccuracyVerdict::kUlpWithin;
    } else if (fell) {
      cc.accuracy = AccuracyVerdict::kImproved;
    } else {
      cc.accuracy = AccuracyVerdict::kSame;
    }
    return;
  }
  if (b.status != "passed" && n.status == "passed") {
    cc.accuracy = AccuracyVerdict::kImproved;
    cc.accuracy_detail = b.status + " -> passed";
    return;
  }
  cc.accuracy = AccuracyVerdict::kNotChecked;
}

// Returns key -> index of the cases of `report`; throws UsageError on a repeated key.
std::map<std::string, size_t> IndexCases(const LoadedReport& report, bool with_machine) {
  std::map<std::string, size_t> index;
  const std::vector<ReportCase>& cases = report.cases();
  const std::string mode = report.timing_mode();
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto [it, inserted] = index.emplace(CaseKey(cases[i], with_machine, mode), i);
    if (!inserted)
      throw UsageError(fmt::format(
          "'{}': cases[{}] and cases[{}] are the same case ({}): compare needs one result per case",
          report.path, it->second, i, EscapeForTerminal(CaseLabel(cases[i], mode))));
  }
  return index;
}

}  // namespace

std::string Comparison::VerdictWord() const {
  if (regression()) return "regression";
  return ambiguous > 0 ? "ambiguous" : "no regression";
}

std::string Comparison::Headline() const {
  const size_t compared = cases.size();
  if (!regression() && ambiguous > 0)
    return fmt::format("ambiguous: the machine's state changed: {} of {} compared cases changed while their "
                       "copy ceiling moved beyond its noise; rerun both on a quiet machine",
                       ambiguous, compared);
  if (!regression())
    return fmt::format("no regression in {} compared case{}", compared, compared == 1 ? "" : "s");
  std::string text;
  if (regressed_cases > 0)
    text = fmt::format("REGRESSION: {} of {} compared cases regressed ({} timing, {} accuracy)",
                       regressed_cases, compared, timing_regressions, accuracy_regressions);
  if (missing_is_regression) {
    text += text.empty() ? "REGRESSION: " : "; ";
    text += fmt::format("{} case{} missing (--fail-on-missing)", only_in_base.size() + only_in_new.size(),
                        only_in_base.size() + only_in_new.size() == 1 ? "" : "s");
  }
  return text;
}

Comparison CompareReports(const LoadedReport& base, const LoadedReport& next,
                          const CompareOptions& options) {
  const bool with_machine = base.merged() || next.merged();
  const auto base_index = IndexCases(base, with_machine);
  const auto new_index = IndexCases(next, with_machine);
  const std::vector<ReportCase>& base_cases = base.cases();
  const std::vector<ReportCase>& new_cases = next.cases();

  const std::string base_mode = base.timing_mode();
  const std::string new_mode = next.timing_mode();

  std::vector<std::pair<size_t, size_t>> pairs;
  std::vector<bool> base_used(base_cases.size(), false), new_used(new_cases.size(), false);
  std::vector<bool> by_id(base_cases.size(), false);
  const auto pair_up = [&](size_t i, size_t j) {
    pairs.emplace_back(i, j);
    base_used[i] = new_used[j] = true;
  };
  // 1. Equal keys.
  for (size_t i = 0; i < base_cases.size(); ++i) {
    const auto it = new_index.find(CaseKey(base_cases[i], with_machine, base_mode));
    if (it != new_index.end()) pair_up(i, it->second);
  }
  // 2. Equal keys but for a mode one side does not know (an untimed case of
  // a merged report), when exactly one candidate is left on each side.
  std::map<std::string, std::vector<size_t>> base_left, new_left;
  for (size_t i = 0; i < base_cases.size(); ++i)
    if (!base_used[i]) base_left[CaseKeyWithoutMode(base_cases[i], with_machine)].push_back(i);
  for (size_t j = 0; j < new_cases.size(); ++j)
    if (!new_used[j]) new_left[CaseKeyWithoutMode(new_cases[j], with_machine)].push_back(j);
  for (const auto& [key, list] : base_left) {
    const auto it = new_left.find(key);
    if (list.size() != 1 || it == new_left.end() || it->second.size() != 1) continue;
    const size_t i = list[0];
    const size_t j = it->second[0];
    if (CaseMode(base_cases[i], base_mode).empty() || CaseMode(new_cases[j], new_mode).empty()) pair_up(i, j);
  }
  // 3. Equal ids.
  std::map<std::string, size_t> new_left_by_id;
  for (size_t j = 0; j < new_cases.size(); ++j)
    if (!new_used[j]) new_left_by_id.emplace(new_cases[j].id, j);
  for (size_t i = 0; i < base_cases.size(); ++i) {
    if (base_used[i]) continue;
    const auto it = new_left_by_id.find(base_cases[i].id);
    if (it == new_left_by_id.end() || new_used[it->second]) continue;
    if (with_machine && base_cases[i].machine != new_cases[it->second].machine) continue;
    pair_up(i, it->second);
    by_id[i] = true;
  }
  std::sort(pairs.begin(), pairs.end());

  Comparison cmp;
  cmp.base_path = base.path;
  cmp.new_path = next.path;
  cmp.base_machine = base.machine();
  cmp.new_machine = next.machine();
  cmp.base_date = base.report.context.date;
  cmp.new_date = next.report.context.date;
  cmp.base_git_sha = base.report.tool.git_sha;
  cmp.new_git_sha = next.report.tool.git_sha;
  cmp.options = options;

  // Returns the label of a case, with its machine when machines are part of the key.
  const auto label = [with_machine](const ReportCase& c, const std::string& mode) {
    std::string text = CaseLabel(c, mode);
    if (with_machine) text += " @" + c.machine;
    return text;
  };
  for (size_t i = 0; i < base_cases.size(); ++i)
    if (!base_used[i])
      cmp.only_in_base.push_back({base_cases[i].id, label(base_cases[i], base_mode), base_cases[i].status});
  for (size_t j = 0; j < new_cases.size(); ++j)
    if (!new_used[j])
      cmp.only_in_new.push_back({new_cases[j].id, label(new_cases[j], new_mode), new_cases[j].status});
  if (pairs.empty())
    throw UsageError(fmt::format("'{}' and '{}' have no cases in common ({} and {} cases): nothing to compare",
                                 base.path, next.path, base_cases.size(), new_cases.size()));

  double log_sum = 0;
  for (const auto& [i, j] : pairs) {
    CaseComparison cc;
    cc.key = CaseKey(base_cases[i], with_machine, base_mode);
    cc.label = label(base_cases[i], base_mode);
    cc.matched_by_id = by_id[i];
    cc.base = ReadSide(base_cases[i]);
    cc.next = ReadSide(new_cases[j]);
    cc.base.ceiling_rel_err = CeilingRelErr(base, base_cases[i]);
    cc.next.ceiling_rel_err = CeilingRelErr(next, new_cases[j]);
    cc.same_machine = cc.base.machine == cc.next.machine;
    JudgeTiming(cc, options);
    const bool timing_regressed = !cc.regressions.empty();
    JudgeAccuracy(cc, options);
    const bool accuracy_regressed = cc.regressions.size() > (timing_regressed ? 1u : 0u);

    if (!cc.same_machine) ++cmp.pairs_on_different_machines;
    if (cc.by_ceiling) ++cmp.pairs_by_ceiling;
    if (timing_regressed) ++cmp.timing_regressions;
    if (accuracy_regressed) ++cmp.accuracy_regressions;
    if (cc.regression()) ++cmp.regressed_cases;
    if (cc.timing == TimingVerdict::kFaster) ++cmp.faster;
    if (cc.timing == TimingVerdict::kTooFewSamples) ++cmp.too_few_samples;
    if (cc.timing == TimingVerdict::kAmbiguous) ++cmp.ambiguous;
    if (cc.ratio && std::isfinite(*cc.ratio)) {
      log_sum += std::log(*cc.ratio);
      ++cmp.geomean_cases;
    }
    cmp.cases.push_back(std::move(cc));
  }
  if (cmp.geomean_cases > 0) cmp.geomean_ratio = std::exp(log_sum / static_cast<double>(cmp.geomean_cases));
  cmp.missing_is_regression =
      options.fail_on_missing && !(cmp.only_in_base.empty() && cmp.only_in_new.empty());
  return cmp;
}

// ---------------------------------------------------------------------------
// Output.

namespace {

// Returns a duration with a unit chosen for it: "812.3 ns", "1.235 ms".
std::string Seconds(double s) {
  if (!std::isfinite(s)) return fmt::format("{}", s);
  const double a = std::abs(s);
  if (a == 0) return "0 s";
  if (a < 1e-6) return fmt::format("{:.4g} ns", s * 1e9);
  if (a < 1e-3) return fmt::format("{:.4g} us", s * 1e6);
  if (a < 1) return fmt::format("{:.4g} ms", s * 1e3);
  return fmt::format("{:.4g} s", s);
}

// Returns a p-value with 4 decimals, or in scientific notation when smaller.
std::string PValue(double p) { return p < 1e-4 ? fmt::format("{:.1e}", p) : fmt::format("{:.4f}", p); }

// Returns "a -> b", or "a" when both texts are equal, "-" when both are empty.
std::string Pair(const std::string& a, const std::string& b) {
  if (a.empty() && b.empty()) return "-";
  if (a == b) return a;
  return (a.empty() ? "-" : a) + " -> " + (b.empty() ? "-" : b);
}

// Returns format(*v), or "" when v is empty.
template <typename T, typename F>
std::string Opt(const std::optional<T>& v, F format) {
  return v ? format(*v) : std::string();
}

// Returns the verdict cell: the regression reasons, or the timing verdict and any accuracy news.
std::string Verdict(const CaseComparison& cc) {
  if (cc.regression()) {
    std::string reasons;
    for (const auto& r : cc.regressions) AppendJoined(reasons, "; ", r);
    return "REGRESSION: " + reasons;
  }
  std::string text = TimingVerdictName(cc.timing);
  if (!cc.ceiling_detail.empty()) text += " (" + cc.ceiling_detail + ")";
  if (cc.accuracy == AccuracyVerdict::kImproved || cc.accuracy == AccuracyVerdict::kUlpWithin ||
      cc.accuracy == AccuracyVerdict::kUlpOtherMachine)
    text += std::string(", accuracy ") + AccuracyVerdictName(cc.accuracy);
  if (cc.matched_by_id) text += " (matched by id)";
  return text;
}

// Returns true when a case changed: a regression, an improvement, or ambiguous.
bool Changed(const CaseComparison& cc) {
  return cc.regression() || cc.timing == TimingVerdict::kSlower || cc.timing == TimingVerdict::kFaster ||
         cc.timing == TimingVerdict::kAmbiguous || cc.accuracy == AccuracyVerdict::kImproved ||
         cc.accuracy == AccuracyVerdict::kNowFails || cc.accuracy == AccuracyVerdict::kUlpGrowth;
}

// Which cases the table and markdown list: with --only-changes the changed
// ones; when no case was timed on both sides (verify reports: thousands of
// cases, every one "not timed") the ones that changed status or accuracy;
// otherwise every case. Whether any case was timed is found once per
// comparison (asking it per case made listing 51084 cases quadratic: 10 s).
class ListFilter {
 public:
  explicit ListFilter(const Comparison& c)
      : only_changes_(c.options.only_changes),
        any_timed_(std::any_of(c.cases.begin(), c.cases.end(), [](const CaseComparison& x) {
          return x.timing != TimingVerdict::kNotTimed;
        })) {}

  bool operator()(const CaseComparison& cc) const {
    if (only_changes_) return Changed(cc);
    if (any_timed_) return true;
    const bool unchanged_untimed =
        cc.timing == TimingVerdict::kNotTimed && !Changed(cc) && cc.base.status == cc.next.status &&
        (cc.accuracy == AccuracyVerdict::kSame || cc.accuracy == AccuracyVerdict::kNotChecked);
    return !unchanged_untimed;
  }

 private:
  bool only_changes_;
  bool any_timed_;
};

// Returns the line saying how many cases the table leaves out, or "".
std::string UnlistedText(const Comparison& c) {
  const ListFilter listed(c);
  size_t unlisted = 0;
  for (const auto& cc : c.cases) unlisted += !listed(cc);
  if (unlisted == 0) return "";
  return fmt::format("{} of {} compared case{} not listed: {}", unlisted, c.cases.size(),
                     c.cases.size() == 1 ? "" : "s",
                     c.options.only_changes ? "no regression, improvement or ambiguity (--only-changes)"
                                            : "not timed (verify reports) and unchanged");
}

const std::vector<std::string> kColumns = {"case",   "status", "base",       "new",     "change",
                                           "p",      "GB/s",   "of ceiling", "max ulp", "verdict"};
// Right-aligned (numeric) columns.
const std::vector<bool> kRightAligned = {false, false, true, true, true, true, true, true, true, false};

// Returns the table cells of one case, in kColumns order.
std::vector<std::string> Cells(const CaseComparison& cc) {
  const auto gbps = [](double v) { return fmt::format("{:.3g}", v); };
  const auto frac = [](double v) { return fmt::format("{:.1f}%", 100 * v); };
  const auto ulp = [](double v) { return fmt::format("{:.3g}", v); };
  std::string change = Opt(cc.change, Percent);
  if (!change.empty() && cc.by_ceiling) change += "*";
  // Text from the reports is escaped: a name with control characters must not
  // drive the terminal the table is printed on.
  return {EscapeForTerminal(cc.label),
          EscapeForTerminal(Pair(cc.base.status, cc.next.status)),
          cc.base.median_s ? Seconds(*cc.base.median_s) : "-",
          cc.next.median_s ? Seconds(*cc.next.median_s) : "-",
          change.empty() ? "-" : change,
          cc.utest ? PValue(cc.utest->p_value) : "-",
          Pair(Opt(cc.base.bandwidth_gbps, gbps), Opt(cc.next.bandwidth_gbps, gbps)),
          Pair(Opt(cc.base.fraction_of_ceiling, frac), Opt(cc.next.fraction_of_ceiling, frac)),
          Pair(Opt(cc.base.max_ulp, ulp), Opt(cc.next.max_ulp, ulp)),
          EscapeForTerminal(Verdict(cc))};
}

// Returns the regression rule in force, in words.
std::string RulesText(const CompareOptions& o) {
  return fmt::format(
      "a regression is a slowdown over {:g}% that a Mann-Whitney U test finds significant (p < {:g}), "
      "a case that passed and now fails, or (same machine only) a max ulp growth (ulps of the element's scale) over {:g}",
      100 * o.max_slowdown, o.alpha, o.max_ulp_growth);
}

// Returns the note on differing machines, or "" when all pairs share one.
std::string MachinesText(const Comparison& c) {
  if (c.pairs_on_different_machines == 0) return "";
  if (c.pairs_by_ceiling > 0)
    return fmt::format(
        "machines differ ('{}' vs '{}'): {} case{} compared as time x ceiling bandwidth, i.e. by "
        "fraction of each run's own copy ceiling (marked *); --absolute compares times",
        c.base_machine, c.new_machine, c.pairs_by_ceiling, c.pairs_by_ceiling == 1 ? "" : "s");
  return fmt::format("machines differ ('{}' vs '{}'): absolute times compared (--absolute)",
                     c.base_machine, c.new_machine);
}

// Returns the geomean line.
std::string GeomeanText(const Comparison& c) {
  if (!c.geomean_ratio) return "geomean time ratio (new/base): n/a (no case timed in both)";
  return fmt::format("geomean time ratio (new/base{}) over {} case{}: {:.4f} ({})",
                     c.pairs_by_ceiling > 0 ? ", time x ceiling where marked *" : "", c.geomean_cases,
                     c.geomean_cases == 1 ? "" : "s", *c.geomean_ratio, Percent(*c.geomean_ratio - 1));
}

// Returns "machine, date, git sha" of one report.
std::string SideText(const std::string& machine, const std::string& date, const std::string& sha) {
  std::string t = machine;
  if (!date.empty()) t += ", " + date;
  if (!sha.empty()) t += ", git " + sha;
  return t;
}

// Returns the aligned text table with its header and footer lines.
std::string FormatTable(const Comparison& c) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back(kColumns);
  const ListFilter listed(c);
  for (const auto& cc : c.cases)
    if (listed(cc)) rows.push_back(Cells(cc));
  std::vector<size_t> width(kColumns.size(), 0);
  for (const auto& r : rows)
    for (size_t k = 0; k < r.size(); ++k) width[k] = std::max(width[k], r[k].size());

  std::string out;
  out += fmt::format("base: {}  ({})\n", EscapeForTerminal(c.base_path),
                     EscapeForTerminal(SideText(c.base_machine, c.base_date, c.base_git_sha)));
  out += fmt::format("new:  {}  ({})\n", EscapeForTerminal(c.new_path),
                     EscapeForTerminal(SideText(c.new_machine, c.new_date, c.new_git_sha)));
  if (const auto m = MachinesText(c); !m.empty()) out += "note: " + EscapeForTerminal(m) + "\n";
  out += "\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t k = 0; k < rows[r].size(); ++k) {
      const bool last = k + 1 == rows[r].size();
      if (k) line += "  ";
      if (last)
        line += rows[r][k];
      else if (kRightAligned[k])
        line += fmt::format("{:>{}}", rows[r][k], width[k]);
      else
        line += fmt::format("{:<{}}", rows[r][k], width[k]);
    }
    out += line + "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t k = 0; k < width.size(); ++k) total += width[k] + (k ? 2 : 0);
      out += std::string(total, '-') + "\n";
    }
  }
  if (const auto u = UnlistedText(c); !u.empty()) out += u + "\n";
  out += "\n" + GeomeanText(c) + "\n";
  for (const auto& [title, list] : {std::pair{"only in base", &c.only_in_base}, std::pair{"only in new", &c.only_in_new}}) {
    if (list->empty()) continue;
    out += fmt::format("{} ({}):\n", title, list->size());
    for (const auto& u : *list)
      out += fmt::format("  {}  [{}] {}\n", EscapeForTerminal(u.label), EscapeForTerminal(u.status),
                         EscapeForTerminal(u.id));
  }
  for (const auto& cc : c.cases)
    if (!cc.accuracy_detail.empty() && cc.accuracy != AccuracyVerdict::kSame)
      out += fmt::format("accuracy: {}: {}\n", EscapeForTerminal(cc.label), EscapeForTerminal(cc.accuracy_detail));
  if (c.too_few_samples > 0)
    out += fmt::format("{} case{} had too few samples for the U test (fewer than {} per side, or too few to reach p < alpha): not judged\n",
                       c.too_few_samples, c.too_few_samples == 1 ? "" : "s", kMinUTestSamples);
  out += "rule: " + RulesText(c.options) + "\n";
  out += "result: " + c.Headline() + "\n";
  return out;
}

// Returns `s` safe inside a markdown table cell: no column breaks, emphasis or HTML.
std::string MarkdownEscape(const std::string& text) {
  const std::string s = EscapeForTerminal(text);
  std::string out;
  for (char ch : s) {
    if (ch == '<') {
      out += "&lt;";
      continue;
    }
    // [ and ] as well: a backend name "![i](http://host/i.png)" must not
    // become a remote image (a tracking pixel) or a link in a PR comment.
    if (ch == '|' || ch == '*' || ch == '_' || ch == '`' || ch == '[' || ch == ']' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

// Returns `text` as a markdown code span inside a table cell: a backtick in
// it would end the span early, a | split the cell (GitHub reads \| in a
// span as |).
std::string MarkdownCode(const std::string& text) {
  std::string out = "`";
  for (char ch : EscapeForTerminal(text)) {
    if (ch == '`') ch = '\'';
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out + "`";
}

// Returns a markdown table of the given cases.
std::string MarkdownTable(const std::vector<const CaseComparison*>& cases) {
  std::string out = "|";
  for (const auto& col : kColumns) out += " " + col + " |";
  out += "\n|";
  for (bool right : kRightAligned) out += right ? " ---: |" : " :--- |";
  out += "\n";
  for (const CaseComparison* cc : cases) {
    const auto cells = Cells(*cc);
    out += "|";
    for (size_t k = 0; k < cells.size(); ++k) {
      std::string cell = MarkdownEscape(cells[k]);
      if (k + 1 == cells.size() && cc->regression()) cell = "**" + cell + "**";
      out += " " + cell + " |";
    }
    out += "\n";
  }
  return out;
}

// A PR comment: the verdict first, the regressed cases in the open, every
// case in a collapsed block (a sweep has hundreds).
std::string FormatMarkdown(const Comparison& c) {
  std::string out;
  out += fmt::format("### lnbench compare: {}\n\n", c.regression() ? "**" + c.Headline() + "**" : c.Headline());
  out += "| | base | new |\n| :--- | :--- | :--- |\n";
  out += fmt::format("| report | {} | {} |\n", MarkdownCode(c.base_path), MarkdownCode(c.new_path));
  out += fmt::format("| machine | {} | {} |\n", MarkdownEscape(c.base_machine), MarkdownEscape(c.new_machine));
  out += fmt::format("| date | {} | {} |\n", MarkdownEscape(c.base_date), MarkdownEscape(c.new_date));
  out += fmt::format("| git | {} | {} |\n\n", MarkdownCode(c.base_git_sha), MarkdownCode(c.new_git_sha));
  if (const auto m = MachinesText(c); !m.empty()) out += "> " + MarkdownEscape(m) + "\n\n";

  std::vector<const CaseComparison*> all, regressed;
  const ListFilter listed(c);
  for (const auto& cc : c.cases) {
    if (listed(cc)) all.push_back(&cc);
    if (cc.regression()) regressed.push_back(&cc);
  }
  if (!regressed.empty()) out += "Regressions:\n\n" + MarkdownTable(regressed) + "\n";
  out += fmt::format("<details><summary>{} {} compared case{}</summary>\n\n",
                     all.size() == c.cases.size() ? "All" : "Listed:", all.size(), all.size() == 1 ? "" : "s");
  out += MarkdownTable(all) + "\n</details>\n";
  if (const auto u = UnlistedText(c); !u.empty()) out += "\n" + MarkdownEscape(u) + "\n";
  out += "\n" + MarkdownEscape(GeomeanText(c)) + "\n";
  for (const auto& [title, list] : {std::pair{"Only in base", &c.only_in_base}, std::pair{"Only in new", &c.only_in_new}}) {
    if (list->empty()) continue;
    out += fmt::format("\n<details><summary>{} ({})</summary>\n\n", title, list->size());
    for (const auto& u : *list)
      out += fmt::format("- {} ({}) {}\n", MarkdownEscape(u.label), MarkdownEscape(u.status), MarkdownCode(u.id));
    out += "\n</details>\n";
  }
  std::string accuracy;
  for (const auto& cc : c.cases)
    if (!cc.accuracy_detail.empty() && cc.accuracy != AccuracyVerdict::kSame)
      accuracy += fmt::format("- {}: {}\n", MarkdownEscape(cc.label), MarkdownEscape(cc.accuracy_detail));
  if (!accuracy.empty()) out += "\nAccuracy changes:\n\n" + accuracy;
  if (c.too_few_samples > 0)
    out += fmt::format("\n{} case{} had too few samples for the U test (fewer than {} per side, or too few to reach p < alpha): not judged.\n",
                       c.too_few_samples, c.too_few_samples == 1 ? "" : "s", kMinUTestSamples);
  out += "\n<sub>Rule: " + MarkdownEscape(RulesText(c.options)) + ".</sub>\n";
  return out;
}

Json OptNumber(const std::optional<double>& v) { return v ? JsonNumber(*v) : Json(nullptr); }
Json OptUlp(const std::optional<double>& v) { return OptNumber(v); }

// Returns one side of a case for --format json.
Json SideJson(const CaseSide& s) {
  Json j;
  j["id"] = s.id;
  j["machine"] = s.machine;
  j["status"] = s.status;
  j["reason"] = s.reason;
  j["median_s"] = OptNumber(s.median_s);
  j["samples"] = s.samples_s.size();
  j["bandwidth_gbps"] = OptNumber(s.bandwidth_gbps);
  j["ceiling_gbps"] = OptNumber(s.ceiling_gbps);
  j["fraction_of_ceiling"] = OptNumber(s.fraction_of_ceiling);
  j["accuracy_passed"] = s.accuracy_passed ? Json(*s.accuracy_passed) : Json(nullptr);
  j["max_ulp"] = OptUlp(s.max_ulp);
  j["max_abs"] = OptNumber(s.max_abs);
  j["mean_max_ulp"] = OptUlp(s.mean_max_ulp);
  j["rstd_max_ulp"] = OptUlp(s.rstd_max_ulp);
  j["repro"] = s.repro;
  return j;
}

// Returns the whole comparison as JSON (non-finite numbers as strings, as in reports).
std::string FormatJson(const Comparison& c) {
  Json j;
  j["kind"] = "lnbench-comparison";
  j["schema_version"] = 2;
  j["base"] = {{"path", c.base_path}, {"machine", c.base_machine}, {"date", c.base_date}, {"git_sha", c.base_git_sha}};
  j["new"] = {{"path", c.new_path}, {"machine", c.new_machine}, {"date", c.new_date}, {"git_sha", c.new_git_sha}};
  j["options"] = {{"alpha", c.options.alpha},
                  {"max_slowdown", c.options.max_slowdown},
                  {"max_ulp_growth", c.options.max_ulp_growth},
                  {"fail_on_missing", c.options.fail_on_missing},
                  {"absolute", c.options.absolute},
                  {"only_changes", c.options.only_changes},
                  {"min_samples", kMinUTestSamples}};
  j["machines_differ"] = c.pairs_on_different_machines > 0;
  Json cases = Json::array();
  for (const auto& cc : c.cases) {
    if (c.options.only_changes && !Changed(cc)) continue;
    Json k;
    k["key"] = cc.key;
    k["label"] = cc.label;
    k["matched_by"] = cc.matched_by_id ? "id" : "key";
    k["same_machine"] = cc.same_machine;
    k["metric"] = cc.by_ceiling ? "time_x_ceiling" : "time";
    k["base"] = SideJson(cc.base);
    k["new"] = SideJson(cc.next);
    k["timing"] = {{"verdict", TimingVerdictName(cc.timing)},
                   {"change", OptNumber(cc.change)},
                   {"ratio", OptNumber(cc.ratio)},
                   {"u", cc.utest ? JsonNumber(cc.utest->u) : Json(nullptr)},
                   {"p_value", cc.utest ? JsonNumber(cc.utest->p_value) : Json(nullptr)},
                   {"ceiling_detail", cc.ceiling_detail}};
    k["accuracy"] = {{"verdict", AccuracyVerdictName(cc.accuracy)}, {"detail", cc.accuracy_detail}};
    k["regression"] = cc.regression();
    k["regressions"] = cc.regressions;
    cases.push_back(std::move(k));
  }
  j["cases"] = std::move(cases);
  for (const auto& [name, list] : {std::pair{"only_in_base", &c.only_in_base}, std::pair{"only_in_new", &c.only_in_new}}) {
    Json a = Json::array();
    for (const auto& u : *list) a.push_back({{"id", u.id}, {"label", u.label}, {"status", u.status}});
    j[name] = std::move(a);
  }
  j["geomean"] = {{"time_ratio", OptNumber(c.geomean_ratio)}, {"cases", c.geomean_cases}};
  j["summary"] = {{"compared", c.cases.size()},
                  {"regressed_cases", c.regressed_cases},
                  {"timing_regressions", c.timing_regressions},
                  {"accuracy_regressions", c.accuracy_regressions},
                  {"faster", c.faster},
                  {"too_few_samples", c.too_few_samples},
                  {"only_in_base", c.only_in_base.size()},
                  {"only_in_new", c.only_in_new.size()},
                  {"ambiguous", c.ambiguous},
                  {"regression", c.regression()},
                  {"verdict", c.VerdictWord()},
                  {"headline", c.Headline()}};
  return DumpJsonText(j);
}

}  // namespace

std::string FormatComparison(const Comparison& comparison, CompareFormat format) {
  switch (format) {
    case CompareFormat::kTable: return FormatTable(comparison);
    case CompareFormat::kMarkdown: return FormatMarkdown(comparison);
    case CompareFormat::kJson: return FormatJson(comparison);
  }
  return "";
}

double ParseSlowdown(const std::string& text) {
  std::string s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  const bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v) || v < 0)
    throw UsageError("--max-slowdown '" + text + "': expected a percentage like 5% or a fraction like 0.05");
  if (!percent && v >= 1)
    throw UsageError("--max-slowdown '" + text + "': a bare number is a fraction; write " + s +
                     "% for a percentage (or a fraction below 1 like 0.05)");
  return percent ? v / 100 : v;
}

int RunCompare(const CompareConfig& config, std::ostream& out) {
  ProtectInput(config.base_path);
  ProtectInput(config.new_path);
  if (!config.output_path.empty()) CheckOutputFile("-o", config.output_path);
  // Load both before failing, so one run names every bad input (on one line).
  std::optional<LoadedReport> base, next;
  std::string errors;
  try {
    base = LoadReport(config.base_path);
  } catch (const UsageError& e) {
    errors = e.what();
  }
  try {
    next = LoadReport(config.new_path);
  } catch (const UsageError& e) {
    AppendJoined(errors, "; ", e.what());
  }
  if (!errors.empty()) throw UsageError(errors);

  const Comparison comparison = CompareReports(*base, *next, config.options);
  const std::string text = FormatComparison(comparison, config.format);
  if (config.output_path.empty() || IsStdoutPath(config.output_path)) {
    out << text;
  } else {
    WriteFileAtomically(config.output_path, text);
    out << "wrote " << config.output_path << ": " << comparison.Headline() << "\n";
  }
  out.flush();
  return comparison.regression() ? kExitFailure : kExitOk;
}

}  // namespace lnbench
