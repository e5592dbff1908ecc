#include "report/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/bounded_read.h"

namespace lnbench {

std::string FormatSeconds(double s) {
  if (!std::isfinite(s)) return "-";
  if (s < 1e-6) return fmt::format("{:.0f} ns", s * 1e9);
  if (s < 1e-3) return fmt::format("{:.3g} us", s * 1e6);
  if (s < 1) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} s", s);
}

std::string FormatAligned(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_align) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      const bool right = i < right_align.size() && right_align[i];
      const std::string& cell = rows[r][i];
      const std::string pad(width[i] - cell.size(), ' ');
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

std::string FormatResultsTable(const RunResult& result, bool with_timing) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"op", "backend", "variant", "shape", "dtype", "dist", "thr",
                                     "status", "max ulp", "1-ulp off", "err/bound"};
  if (with_timing)
    for (const char* h : {"median", "p10-p90", "GB/s", "ceiling", "of ceil"}) header.push_back(h);
  rows.push_back(header);
  for (const CaseResult& r : result.cases) {
    const Problem& p = r.problem;
    const OpDescriptor& op = OpFor(p);
    // The op's first output (y forward): its error in ulps of the element's
    // scale (metrics.h), and its share one representable value from the
    // correctly rounded result.
    const ErrorStats* main = nullptr;
    if (r.accuracy) {
      const auto outputs = op.TensorsOf(p, TensorRole::kOutput);
      if (!outputs.empty() && (*r.accuracy)[outputs.front().id]) main = &*(*r.accuracy)[outputs.front().id];
    }
    std::vector<std::string> row = {
        op.Name(),
        EscapeForTerminal(r.backend) + (r.peer ? " (peer)" : "") +
            (r.origin.kind.empty() ? "" : " (" + r.origin.kind + ")"),
        EscapeForTerminal(r.variant),
        fmt::format("{}x{}", p.rows, p.cols),
        std::string(DTypeName(p.dtype)) + (p.affine ? "" : " noaff") + (p.stats ? " +st" : ""),
        std::string(DistributionName(p.dist)),
        r.device == "cpu" ? std::to_string(r.threads) : "gpu",
        std::string(CaseStatusName(r.status)),
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
        for (int i = 0; i < 5; ++i) row.push_back("-");
      }
    }
    rows.push_back(row);
  }
  std::vector<bool> right = {false, false, false, true, false, false, true, false, true, true,
                             true,  true,  true,  true, true, true};
  std::string out = FormatAligned(rows, right);
  if (!result.ceilings.empty()) {
    out += "\nceilings (copy bandwidth measured in this run, read + written bytes):\n";
    for (const CeilingResult& c : result.ceilings)
      out += fmt::format("  {} {} {}: {:.2f} GB/s over {} (median of {}, noise {:.1f}%)\n",
                         c.device, c.device == "cpu" ? fmt::format("{} thr", c.threads) : "",
                         c.measurement.method, c.stats.bandwidth_gbps,
                         c.measurement.bytes_per_copy >= (1u << 20)
                             ? fmt::format("{} MiB", c.measurement.bytes_per_copy >> 20)
                             : fmt::format("{} KiB", c.measurement.bytes_per_copy >> 10),
                         c.measurement.seconds.size(), c.stats.seconds.noise * 100);
  }
  // User data (--input): what the table cannot show, once per dtype.
  std::vector<DType> told;
  for (const CaseResult& r : result.cases) {
    if (!r.input_counts || std::find(told.begin(), told.end(), r.problem.dtype) != told.end()) continue;
    if (told.empty()) out += fmt::format("\ninput {}:\n", EscapeForTerminal(r.input_file));
    told.push_back(r.problem.dtype);
    out += fmt::format("  {}: {} of {} rows hold NaN or Inf; {} finite values overflowed to +-Inf\n",
                       DTypeName(r.problem.dtype), r.input_counts->nonfinite_rows, r.problem.rows,
                       r.input_counts->overflowed_values);
  }
  int shown = 0;
  for (const CaseResult& r : result.cases) {
    if (r.status != CaseStatus::kFailed && r.status != CaseStatus::kError) continue;
    if (shown++ == 0) out += "\nproblems:\n";
    if (shown > 20) {
      out += "  ... (see the JSON report for the rest)\n";
      break;
    }
    out += fmt::format("  {} {}: {}\n    repro: {}\n", CaseStatusName(r.status), EscapeForTerminal(r.backend),
                       EscapeForTerminal(r.reason), EscapeForTerminal(r.repro));
  }
  return out;
}

}  // namespace lnbench
