#include "report/table.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "core/bounded_read.h"
#include "core/errors.h"
#include "core/op.h"

namespace lnbench {

namespace {

constexpr const char* kReset = "\033[0m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kDim = "\033[2m";
constexpr const char* kBold = "\033[1m";

std::string Paint(bool colour, const char* code, const std::string& text) {
  return colour ? std::string(code) + text + kReset : text;
}

// Returns the error of the case's first output tensor (y forward), or nullptr
// when the case was not checked.
const ErrorStats* MainOutputError(const CaseResult& r) {
  if (!r.accuracy) return nullptr;
  const auto outputs = OpFor(r.problem).TensorsOf(r.problem, TensorRole::kOutput);
  if (outputs.empty() || !(*r.accuracy)[outputs.front().id]) return nullptr;
  return &*(*r.accuracy)[outputs.front().id];
}

const char* StatusColour(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPassed: return kGreen;
    case CaseStatus::kFailed:
    case CaseStatus::kError: return kRed;
    case CaseStatus::kUnsupported:
    case CaseStatus::kSkipped: return kDim;
  }
  return "";
}

// The reason of an unavailable backend without the "NAME: unavailable (...)"
// wrapping the runner puts around it.
std::string UnavailableReason(const CaseResult& r) {
  const std::string prefix = r.backend + ": unavailable (";
  if (r.reason.rfind(prefix, 0) == 0 && !r.reason.empty() && r.reason.back() == ')')
    return r.reason.substr(prefix.size(), r.reason.size() - prefix.size() - 1);
  return r.reason;
}

// True when the table shows `r` in a row of its own. A row that asked for a
// variant by name is folded into the 'auto' row that ran the same kernel on
// the same problem with the same outcome (verify tables only: timed rows are
// separate measurements).
std::vector<bool> VisibleRows(const RunResult& result, const TableOptions& o) {
  std::vector<bool> visible(result.cases.size(), true);
  for (size_t i = 0; i < result.cases.size(); ++i) {
    const CaseResult& r = result.cases[i];
    if (r.status == CaseStatus::kSkipped && !o.show_skipped) visible[i] = false;
  }
  if (o.timing) return visible;
  for (size_t i = 0; i < result.cases.size(); ++i) {
    const CaseResult& a = result.cases[i];
    if (a.requested_variant != "auto" || a.variant == "auto") continue;
    for (size_t j = 0; j < result.cases.size(); ++j) {
      const CaseResult& b = result.cases[j];
      if (j == i || !visible[j] || b.requested_variant != a.variant || b.backend != a.backend) continue;
      const Problem &p = a.problem, &q = b.problem;
      const bool same = p.rows == q.rows && p.cols == q.cols && p.dtype == q.dtype && p.dist == q.dist &&
                        p.affine == q.affine && p.stats == q.stats && p.eps == q.eps && p.seed == q.seed &&
                        a.threads == b.threads && a.tuning == b.tuning && a.status == b.status &&
                        a.coverage == b.coverage;
      if (same) visible[j] = false;
    }
  }
  return visible;
}

}  // namespace

bool CountedApart(const CaseResult& r, const CountingRule& rule) {
  if (!r.peer || !rule.peers_apart) return false;
  return std::find(rule.named_backends.begin(), rule.named_backends.end(), r.backend) ==
         rule.named_backends.end();
}

RunSummary SummarizeRun(const RunResult& result, const CountingRule& rule) {
  RunSummary s;
  for (const CaseResult& r : result.cases) {
    switch (r.status) {
      case CaseStatus::kPassed: ++s.passed; break;
      case CaseStatus::kFailed: ++(CountedApart(r, rule) ? s.peer_failed : s.failed); break;
      case CaseStatus::kError: ++s.errors; break;
      case CaseStatus::kUnsupported: ++s.unsupported; break;
      case CaseStatus::kSkipped: ++s.skipped; break;
    }
  }
  return s;
}

int SummaryExitCode(const RunSummary& s) {
  if (s.failed > 0) return kExitFailure;
  if (s.errors > 0) return kExitRuntime;
  return kExitOk;
}

std::string SummaryLine(const RunSummary& s, bool colour) {
  std::string line = Paint(colour && s.passed > 0, kGreen, fmt::format("{} passed", s.passed));
  line += ", " + Paint(colour && s.failed > 0, kRed, fmt::format("{} failed", s.failed));
  if (s.peer_failed > 0)
    line += ", " + Paint(colour, kYellow,
                         fmt::format("{} peer failure{} (not counted in the exit code)", s.peer_failed,
                                     s.peer_failed == 1 ? "" : "s"));
  if (s.errors > 0) line += ", " + Paint(colour, kRed, fmt::format("{} error{}", s.errors, s.errors == 1 ? "" : "s"));
  line += fmt::format(", {} unsupported, {} skipped", s.unsupported, s.skipped);
  if (s.warnings > 0)
    line += ", " + Paint(colour, kYellow,
                         fmt::format("{} case{} with warnings", s.warnings, s.warnings == 1 ? "" : "s"));
  return line;
}

std::string FormatSeconds(double s) {
  if (!std::isfinite(s)) return "-";
  if (s < 1e-6) return fmt::format("{:.0f} ns", s * 1e9);
  if (s < 1e-3) return fmt::format("{:.3g} us", s * 1e6);
  if (s < 1) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} s", s);
}

// Width in terminal columns: UTF-8 continuation bytes take none ("→" is one column).
static size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string FormatAligned(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_align,
                          const std::function<std::string(size_t, size_t)>& colour) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], DisplayWidth(row[i]));
    }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      const bool right = i < right_align.size() && right_align[i];
      std::string cell = rows[r][i];
      const std::string pad(width[i] - DisplayWidth(cell), ' ');
      const std::string code = colour && !cell.empty() ? colour(r, i) : std::string();
      if (!code.empty()) cell = code + cell + kReset;
      line += (i ? "  " : "") + (right ? pad + cell : cell + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
    }
  }
  return out;
}

std::string VariantLabel(const CaseResult& r) {
  const std::string variant = EscapeForTerminal(r.variant);
  if (r.requested_variant == "auto" && r.variant != "auto") return "auto\u2192" + variant;
  return variant;
}

std::string OutputModeName(const Problem& p) {
  if (p.affine && p.stats) return "affine+stats";
  if (p.affine) return "affine";
  if (p.stats) return "stats";
  return "plain";
}

namespace {

// The table's rows (header first) and each row's status.
struct TableRows {
  std::vector<std::vector<std::string>> rows;
  std::vector<CaseStatus> status;
  bool any_warnings = false;
};

TableRows BuildRows(const RunResult& result, const TableOptions& o) {
  const bool with_timing = o.timing;
  const bool any_warnings = std::any_of(o.case_warnings.begin(), o.case_warnings.end(),
                                        [](const auto& w) { return !w.empty(); });
  std::vector<std::vector<std::string>> rows;
  std::vector<CaseStatus> row_status = {CaseStatus::kPassed};  // header: unused
  std::vector<std::string> header = {"op",   "backend", "variant", "shape",     "dtype",    "mode",
                                     "dist", "thr",     "status",  "max ulp", "1-ulp off", "err/bound"};
  if (with_timing)
    for (const char* h : {"median", "p10-p90", "GB/s", "ceiling", "of ceil"}) header.push_back(h);
  if (any_warnings) header.push_back("warnings");
  rows.push_back(header);
  const std::vector<bool> visible = VisibleRows(result, o);
  for (size_t i = 0; i < result.cases.size(); ++i) {
    if (!visible[i]) continue;
    const CaseResult& r = result.cases[i];
    const Problem& p = r.problem;
    const OpDescriptor& op = OpFor(p);
    // The op's first output (y forward): its error in ulps of the element's
    // scale (metrics.h), and its share one representable value from the
    // correctly rounded result.
    const ErrorStats* main = MainOutputError(r);
    std::vector<std::string> row = {
        op.Name(),
        EscapeForTerminal(r.backend) + (r.peer ? " (peer)" : "") +
            (r.origin.kind.empty() ? "" : " (" + r.origin.kind + ")"),
        VariantLabel(r),
        fmt::format("{}x{}", p.rows, p.cols),
        std::string(DTypeName(p.dtype)),
        OutputModeName(p),
        std::string(DistributionName(p.dist)),
        r.device == "cpu" ? std::to_string(r.threads) : "gpu",
        std::string(CaseStatusName(r.status)) + (r.status == CaseStatus::kFailed && CountedApart(r, o.rule) ? "*" : ""),
        main ? fmt::format("{:.3g}", main->max_ulp) : "-",
        main && main->checked > 0
            ? fmt::format("{:.2g}%", 100.0 * static_cast<double>(main->off_by_one) /
                                         static_cast<double>(main->checked))
            : "-",
        main ? fmt::format("{:.3f}", main->max_bound_ratio) : "-"};
    if (with_timing) {
      if (r.timing && r.throughput) {
        const auto& st = r.timing->stats;
        row.push_back(FormatSeconds(st.median));
        row.push_back(fmt::format("{:+.1f}/{:+.1f}%", (st.p10 / st.median - 1) * 100,
                                  (st.p90 / st.median - 1) * 100));
        row.push_back(fmt::format("{:.2f}", r.throughput->bandwidth_gbps));
        row.push_back(fmt::format("{:.2f}", r.throughput->ceiling_gbps));
        row.push_back(std::isfinite(r.throughput->fraction_of_ceiling)
                          ? fmt::format("{:.1f}%", r.throughput->fraction_of_ceiling * 100)
                          : "-");
      } else {
        for (int k = 0; k < 5; ++k) row.push_back("-");
      }
    }
    if (any_warnings) {
      std::string w;
      if (i < o.case_warnings.size())
        for (const std::string& k : o.case_warnings[i]) {
          if (!w.empty()) w += ',';
          w.append(k, 0, k.find(':'));
        }
      row.push_back(w);
    }
    rows.push_back(row);
    row_status.push_back(r.status);
  }
  return {rows, row_status, any_warnings};
}

}  // namespace

std::string FormatMarkdownResults(const RunResult& result, const TableOptions& options) {
  TableOptions o = options;
  o.colour = false;
  const TableRows t = BuildRows(result, o);
  std::string out;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    out += "|";
    for (const std::string& cell : t.rows[r]) {
      std::string escaped;
      for (char ch : cell) {
        if (ch == '|' || ch == '*' || ch == '_' || ch == '`') escaped += '\\';
        escaped += ch;
      }
      out += " " + escaped + " |";
    }
    out += "\n";
    if (r == 0) {
      out += "|";
      for (size_t k = 0; k < t.rows[0].size(); ++k) out += " --- |";
      out += "\n";
    }
  }
  return out;
}

namespace {

// Returns one line per backend and reason of the cases of `status`
// ("cuda: 7 cases skipped: no NVIDIA GPU ..."), in first-seen order;
// skipped cases give the unavailable backend's reason alone.
std::string ReasonLines(const RunResult& result, CaseStatus status, const char* verb, bool colour) {
  std::vector<std::pair<std::string, std::string>> order;  // backend, reason
  std::map<std::pair<std::string, std::string>, int> counts;
  for (const CaseResult& r : result.cases) {
    if (r.status != status) continue;
    const auto key = std::make_pair(r.backend, status == CaseStatus::kSkipped ? UnavailableReason(r) : r.reason);
    if (counts[key]++ == 0) order.push_back(key);
  }
  std::string out;
  for (const auto& key : order)
    out += Paint(colour, kDim,
                 fmt::format("{}: {} case{} {}: {}", EscapeForTerminal(key.first), counts[key],
                             counts[key] == 1 ? "" : "s", verb, EscapeForTerminal(key.second))) +
           "\n";
  return out;
}

}  // namespace

std::string FormatResultsTable(const RunResult& result, const TableOptions& o) {
  const TableRows t = BuildRows(result, o);
  const auto& rows = t.rows;
  const auto& row_status = t.status;
  const bool any_warnings = t.any_warnings;
  const auto& header = rows[0];
  const size_t status_col = 8, warn_col = header.size() - 1;
  std::vector<bool> right = {false, false, false, true, false, false, false, true, false,
                             true,  true,  true,  true, true,  true,  true,  true};
  if (any_warnings) {
    right.resize(header.size(), true);
    right[warn_col] = false;
  }
  std::string out = FormatAligned(rows, right, [&](size_t row, size_t col) -> std::string {
    if (!o.colour || row == 0) return "";
    if (col == status_col) return StatusColour(row_status[row]);
    if (any_warnings && col == warn_col) return kYellow;
    return "";
  });
  // Unavailable backends: one line each, not one row per case.
  if (!o.show_skipped) {
    const std::string lines = ReasonLines(result, CaseStatus::kSkipped, "skipped", o.colour);
    out += lines;
    if (!lines.empty()) out += "(--show-skipped lists every skipped case)\n";
  }
  // Unsupported cases have a row each; their reasons, one line per backend
  // and reason, so the table says why (the reason was in the report only).
  out += ReasonLines(result, CaseStatus::kUnsupported, "unsupported", o.colour);
  if (!result.ceilings.empty()) {
    out += "\nceilings (copy bandwidth measured in this run, read + written bytes):\n";
    // One line per kind of copy (device, threads, method, size); a kind
    // measured again for every case (--ceiling per-case or paired) gets one
    // line with the range of its measurements.
    std::vector<std::vector<const CeilingResult*>> kinds;
    for (const CeilingResult& c : result.ceilings) {
      auto same = [&c](const std::vector<const CeilingResult*>& k) {
        return k[0]->device == c.device && k[0]->threads == c.threads &&
               k[0]->measurement.method == c.measurement.method &&
               k[0]->measurement.bytes_per_copy == c.measurement.bytes_per_copy;
      };
      auto it = std::find_if(kinds.begin(), kinds.end(), same);
      if (it == kinds.end()) {
        kinds.push_back({&c});
      } else {
        it->push_back(&c);
      }
    }
    for (const auto& k : kinds) {
      const CeilingResult& c = *k[0];
      const std::string what = fmt::format(
          "  {} {} {}", c.device, c.device == "cpu" ? fmt::format("{} thr", c.threads) : "",
          c.measurement.method);
      const std::string size = c.measurement.bytes_per_copy >= (1u << 20)
                                   ? fmt::format("{} MiB", c.measurement.bytes_per_copy >> 20)
                                   : fmt::format("{} KiB", c.measurement.bytes_per_copy >> 10);
      if (k.size() == 1) {
        out += fmt::format("{}: {:.2f} GB/s over {} (median of {}, noise {:.1f}%)\n", what,
                           c.stats.bandwidth_gbps, size, c.measurement.seconds.size(),
                           c.stats.seconds.noise * 100);
        continue;
      }
      double lo = c.stats.bandwidth_gbps, hi = lo, noise = 0;
      for (const CeilingResult* m : k) {
        lo = std::min(lo, m->stats.bandwidth_gbps);
        hi = std::max(hi, m->stats.bandwidth_gbps);
        noise = std::max(noise, m->stats.seconds.noise);
      }
      out += fmt::format("{}: {:.2f}-{:.2f} GB/s over {} ({} measurements, one per case{}; noise up to {:.1f}%)\n",
                         what, lo, hi, size, k.size(), c.paired ? ", paired with its samples" : "", noise * 100);
    }
  }
  // User data (--input): what the table cannot show, once per dtype, and
  // the --dy file's rows once (they do not depend on the dtype).
  std::vector<DType> told;
  const CaseResult* dy_case = nullptr;
  for (const CaseResult& r : result.cases) {
    if (r.input_counts && r.input_counts->dy_nonfinite_rows && dy_case == nullptr) dy_case = &r;
    if (!r.input_counts || std::find(told.begin(), told.end(), r.problem.dtype) != told.end()) continue;
    if (told.empty()) out += fmt::format("\ninput {}:\n", EscapeForTerminal(r.input_file));
    told.push_back(r.problem.dtype);
    out += fmt::format("  {}: {} of {} rows hold NaN or Inf; {} finite values overflowed to +-Inf\n",
                       DTypeName(r.problem.dtype), r.input_counts->nonfinite_rows, r.problem.rows,
                       r.input_counts->overflowed_values);
  }
  if (dy_case != nullptr) {
    out += fmt::format("  dy {}: {} of {} rows hold NaN or Inf\n",
                       EscapeForTerminal(dy_case->input_dy_file),
                       *dy_case->input_counts->dy_nonfinite_rows, dy_case->problem.rows);
  }
  // Warnings: each kind once, with how many cases it concerns.
  if (any_warnings || !o.run_warnings.empty()) {
    out += fmt::format("\n{}\n", Paint(o.colour, kYellow, "warnings:"));
    for (const std::string& w : o.run_warnings) out += "  " + EscapeForTerminal(w) + "\n";
    std::vector<std::string> kinds;
    std::map<std::string, int> counts;
    for (const auto& list : o.case_warnings)
      for (const std::string& w : list) {
        const std::string kind = w.substr(0, w.find(':'));
        if (counts[kind]++ == 0) kinds.push_back(w);
      }
    for (const std::string& w : kinds) {
      const std::string kind = w.substr(0, w.find(':'));
      out += fmt::format("  {} ({} case{}, e.g.{})\n", kind, counts[kind], counts[kind] == 1 ? "" : "s",
                         EscapeForTerminal(w.substr(kind.size() + (kind.size() < w.size() ? 1 : 0))));
    }
  }
  out += FormatProblems(result, o, 20);
  return out;
}

std::string FormatProblems(const RunResult& result, const TableOptions& o, int limit) {
  std::string out;
  for (const bool apart : {false, true}) {
    int shown = 0;
    for (const CaseResult& r : result.cases) {
      if (r.status != CaseStatus::kFailed && r.status != CaseStatus::kError) continue;
      if ((r.status == CaseStatus::kFailed && CountedApart(r, o.rule)) != apart) continue;
      if (shown++ == 0)
        out += fmt::format("\n{}\n",
                           apart ? Paint(o.colour, kYellow,
                                         "peer findings (another library's results; not counted in the exit "
                                         "code; name the peer with -b to count them):")
                                 : Paint(o.colour, kBold, "problems:"));
      if (limit >= 0 && shown > limit) {
        out += "  ... (see the JSON report, or -q, for the rest)\n";
        break;
      }
      const Problem& p = r.problem;
      out += fmt::format("  {} {} {} {} {}x{} {} {} {}: {}\n    repro: {}\n",
                         Paint(o.colour, apart ? kYellow : kRed, std::string(CaseStatusName(r.status))),
                         EscapeForTerminal(r.backend), VariantLabel(r), OpName(p.norm, p.dir), p.rows, p.cols,
                         DTypeName(p.dtype),
                         OutputModeName(p), DistributionName(p.dist), EscapeForTerminal(r.reason),
                         EscapeForTerminal(r.repro));
    }
  }
  return out;
}

bool UseColour(std::FILE* stream) {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour != nullptr && *no_colour != '\0') return false;
  const char* force = std::getenv("CLICOLOR_FORCE");
  if (force != nullptr && *force != '\0' && std::string(force) != "0") return true;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string(term) == "dumb") return false;
  return isatty(fileno(stream)) != 0;
}

}  // namespace lnbench

namespace lnbench {

namespace {
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
std::string CsvNumber(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : ""; }
}  // namespace

std::string FormatCsvResults(const RunResult& result, const TableOptions& o) {
  std::string out =
      "op,dir,backend,variant,requested_variant,peer,device,threads,rows,cols,dtype,mode,dist,status,"
      "counted,max_ulp,max_bound_ratio,median_s,p10_s,p90_s,median_rel_stderr,bandwidth_gbps,ceiling_gbps,"
      "fraction_of_ceiling,warnings,reason,repro\n";
  for (size_t i = 0; i < result.cases.size(); ++i) {
    const CaseResult& r = result.cases[i];
    const Problem& p = r.problem;
    std::string warnings;
    if (i < o.case_warnings.size())
      for (const std::string& w : o.case_warnings[i]) {
        if (!warnings.empty()) warnings += ';';
        warnings.append(w, 0, w.find(':'));
      }
    const ErrorStats* main = MainOutputError(r);
    std::vector<std::string> f = {
        std::string(NormName(p.norm)), std::string(DirectionName(p.dir)), r.backend, r.variant, r.requested_variant, r.peer ? "1" : "0", r.device, std::to_string(r.threads),
        std::to_string(p.rows), std::to_string(p.cols), std::string(DTypeName(p.dtype)), OutputModeName(p),
        std::string(DistributionName(p.dist)), std::string(CaseStatusName(r.status)),
        // "counted": 0 for a peer's failure counted apart (CountingRule).
        r.status == CaseStatus::kFailed && CountedApart(r, o.rule) ? "0" : "1",
        main ? CsvNumber(main->max_ulp) : "", main ? CsvNumber(main->max_bound_ratio) : "",
        r.timing ? CsvNumber(r.timing->stats.median) : "", r.timing ? CsvNumber(r.timing->stats.p10) : "",
        r.timing ? CsvNumber(r.timing->stats.p90) : "", r.timing ? CsvNumber(r.timing->stats.median_rel_err) : "",
        r.throughput ? CsvNumber(r.throughput->bandwidth_gbps) : "",
        r.throughput ? CsvNumber(r.throughput->ceiling_gbps) : "",
        r.throughput ? CsvNumber(r.throughput->fraction_of_ceiling) : "", warnings, r.reason, r.repro};
    for (size_t k = 0; k < f.size(); ++k) {
      if (k) out += ',';
      out += CsvField(f[k]);
    }
    out += "\n";
  }
  return out;
}

}  // namespace lnbench
