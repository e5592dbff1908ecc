#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/build_info.h"
#include "core/default_threads.h"
#include "io/json_text.h"

namespace lnbench {

namespace {

// `extent` says how the worst element is located: row and col, row only
// (per-row tensors, col 0) or col only (per-column tensors: no row).
ReportErrorStats ErrorStatsModel(const ErrorStats& s, Extent extent, int64_t cols) {
  ReportErrorStats e;
  e.checked = s.checked;
  e.failed = s.failed;
  e.nan_mismatch = s.nan_mismatch;
  e.unwritten = s.unwritten;
  e.max_abs = s.max_abs;
  e.max_rel = s.max_rel;
  e.max_ulp = s.max_ulp;
  e.max_bit_distance = s.max_bit_distance;
  e.off_by_one = s.off_by_one;
  e.rel_l2 = s.rel_l2;
  e.max_bound_ratio = s.max_bound_ratio;
  e.ulp_hist = std::vector<uint64_t>(s.ulp_hist.begin(), s.ulp_hist.end());
  if (s.worst_index >= 0) {
    ReportWorst w{s.worst_index, std::nullopt, 0, s.worst_got, s.worst_ref};
    if (extent == Extent::kRowsCols) {
      w.row = cols > 0 ? s.worst_index / cols : 0;
      w.col = cols > 0 ? s.worst_index % cols : 0;
    } else if (extent == Extent::kRows) {
      w.row = s.worst_index;
    } else {
      w.col = s.worst_index;
    }
    e.worst = w;
  }
  return e;
}

// Returns the fields of a case that make its identity (report_model.h).
ReportCase CaseIdentity(const CaseResult& r) {
  ReportCase c;
  const Problem& p = r.problem;
  c.backend = r.backend;
  c.requested_variant = r.requested_variant;
  c.threads = r.threads;
  c.problem.op = std::string(NormName(p.norm));
  c.problem.dir = std::string(DirectionName(p.dir));
  c.problem.rows = p.rows;
  c.problem.cols = p.cols;
  c.problem.dtype = std::string(DTypeName(p.dtype));
  c.problem.eps = p.eps;
  c.problem.affine = p.affine;
  c.problem.stats = p.stats;
  c.problem.dist = std::string(DistributionName(p.dist));
  c.problem.seed = p.seed;
  if (!r.tuning.empty()) c.tuning = StringPairs(r.tuning.begin(), r.tuning.end());
  return c;
}

ReportCase CaseModel(const CaseResult& r, const std::string& machine) {
  ReportCase c = CaseIdentity(r);
  c.id = CaseIdWithMode(c, r.timing ? r.timing->mode : "verify");
  c.variant = r.variant;
  c.peer = r.peer;
  if (!r.origin.kind.empty()) {
    c.origin = ReportOrigin{r.origin.kind, r.origin.path, std::nullopt, r.origin.externally_timed};
    if (r.origin.kind == "plugin") c.origin->abi_version = r.origin.abi_version;
  }
  c.device = r.device;
  c.machine = machine;
  if (!r.input_file.empty()) c.problem.input_file = r.input_file;
  if (r.input_counts) {
    c.problem.input_nonfinite_rows = r.input_counts->nonfinite_rows;
    c.problem.input_overflowed_values = r.input_counts->overflowed_values;
    c.problem.input_dy_nonfinite_rows = r.input_counts->dy_nonfinite_rows;
  }
  c.status = std::string(CaseStatusName(r.status));
  c.reason = r.reason;
  if (!r.coverage.empty()) c.coverage = r.coverage;
  if (r.accuracy) {
    const Accuracy& a = *r.accuracy;
    ReportAccuracy& acc = c.accuracy.emplace();
    acc.passed = a.passed;
    acc.thresholds = ReportThresholds{a.thresholds.compute_eps_units, a.thresholds.output_ulps,
                                      a.thresholds.rel_floor, a.thresholds.stats_eps_units};
    acc.ulp_bins.emplace();
    for (int i = 0; i < kUlpBins; ++i) acc.ulp_bins->push_back(UlpBinLabel(i));
    // Every output tensor of the op, in TensorId order.
    for (const TensorSpec& t : OpFor(r.problem).TensorsOf(r.problem, TensorRole::kOutput))
      if (a[t.id])
        acc.tensors.emplace_back(std::string(TensorName(t.id)),
                                 ErrorStatsModel(*a[t.id], t.extent, r.problem.cols));
  }
  if (r.timing) {
    const TimingResult& t = *r.timing;
    ReportTiming& tm = c.timing.emplace();
    tm.mode = t.mode;
    tm.batch = t.batch;
    tm.warmup_runs = t.warmup_runs;
    tm.samples_s = t.samples_s;
    tm.min_s = t.stats.min;
    tm.median_s = t.stats.median;
    tm.mean_s = t.stats.mean;
    tm.max_s = t.stats.max;
    tm.p10_s = t.stats.p10;
    tm.p90_s = t.stats.p90;
    tm.noise = t.stats.noise;
    tm.stop_reason = t.stop_reason;
  }
  c.bytes = ReportBytes{static_cast<int64_t>(r.bytes.read), static_cast<int64_t>(r.bytes.written),
                        static_cast<int64_t>(r.bytes.total()), std::string(OpFor(r.problem).BytesModelText())};
  if (r.throughput) {
    const Throughput& t = *r.throughput;
    ReportThroughput& rt = c.throughput.emplace();
    rt.bandwidth_gbps = t.bandwidth_gbps;
    rt.elements_per_s = t.elements_per_s;
    rt.ceiling_gbps = t.ceiling_gbps;
    rt.fraction_of_ceiling = t.fraction_of_ceiling;
    rt.ceiling_method = t.ceiling_method;
    if (t.pairs > 0) {
      rt.pairs = t.pairs;
      rt.fraction_p10 = t.fraction_p10;
      rt.fraction_p90 = t.fraction_p90;
    }
  }
  c.details = StringPairs(r.details.begin(), r.details.end());
  c.repro = r.repro;
  return c;
}

Json ConfigJson(const RunConfig& c) {
  Json j;
  j["command"] = c.command;
  j["backends"] = c.backends;
  j["variants"] = c.variants;
  Json shapes = Json::array();
  for (const Shape& s : c.shapes) shapes.push_back(fmt::format("{}x{}", s.rows, s.cols));
  j["shapes"] = shapes;
  Json dtypes = Json::array();
  for (DType d : c.dtypes) dtypes.push_back(std::string(DTypeName(d)));
  j["dtypes"] = dtypes;
  Json dists = Json::array();
  // A file input has no distribution: the data is the user's.
  if (!c.input_path.empty()) {
    dists.push_back(std::string(DistributionName(Distribution::kFile)));
  } else {
    for (Distribution d : c.dists) dists.push_back(std::string(DistributionName(d)));
  }
  j["dists"] = dists;
  Json modes = Json::array();
  for (const OutputMode& m : c.modes) modes.push_back({{"affine", m.affine}, {"stats", m.stats}});
  j["output_modes"] = modes;
  Json ops = Json::array();
  for (Norm n : c.norms) ops.push_back(std::string(NormName(n)));
  j["ops"] = ops;
  Json dirs = Json::array();
  for (Direction d : c.dirs) dirs.push_back(std::string(DirectionName(d)));
  j["dirs"] = dirs;
  j["eps"] = c.eps;
  j["seed"] = c.seed;
  Json threads = Json::array();  // kAutoThreads is written "auto" (chosen per problem)
  for (int t : c.threads) threads.push_back(t == kAutoThreads ? Json("auto") : Json(t));
  j["threads"] = threads;
  j["measure"] = c.measure;
  j["device"] = c.gpu_device;  // --device: the GPU index; context.gpus has its facts when it was used
  j["timing"] = {{"mode", c.timing.cold ? "cold" : "hot"},
                 {"warmup_runs", c.timing.warmup_runs},
                 {"warmup_s", c.timing.warmup_s},
                 {"min_samples", c.timing.min_samples},
                 {"max_samples", c.timing.max_samples},
                 {"max_noise", c.timing.max_noise},
                 {"time_budget_s", c.timing.time_budget_s},
                 {"min_sample_s", c.timing.min_sample_s}};
  // How often the copy ceiling was measured: once per device, thread count
  // and size bucket ("shared"), before every timed case ("per_case"), or
  // between the samples of every timed case ("paired"): CeilingMode.
  if (c.measure) j["ceiling"] = CeilingModeName(c.ceiling);
  if (!c.input_path.empty()) {
    j["input"] = c.input_path;
    j["gamma"] = c.gamma_path;
    j["beta"] = c.beta_path;
    if (!c.dy_path.empty()) j["dy"] = c.dy_path;
  }
  return j;
}

}  // namespace

std::string CaseIdWithMode(const CaseResult& r, const std::string& mode) {
  return CaseIdWithMode(CaseIdentity(r), mode);
}

ReportTool ThisTool() {
  ReportTool tool;
  tool.name = "lnbench";
  tool.version = LNBENCH_VERSION;
  tool.git_sha = LNBENCH_GIT_SHA;
  tool.build_type = LNBENCH_BUILD_TYPE;
  tool.compiler = LNBENCH_CXX_COMPILER;
  tool.cxx_flags = LNBENCH_CXX_FLAGS;
  return tool;
}

Report BuildReport(const RunConfig& config, const RunResult& result, const RunContext& ctx) {
  Report report;
  report.kind = kReportKind;
  ReportTool& tool = report.tool;
  tool = ThisTool();
  tool.cuda_compiler = std::string(LNBENCH_CUDA_COMPILER) == " " ? "none" : LNBENCH_CUDA_COMPILER;
  tool.cuda_architectures =
      std::string(LNBENCH_CUDA_ARCHITECTURES).empty() ? "none" : LNBENCH_CUDA_ARCHITECTURES;

  ReportContext& context = report.context;
  context.date = ctx.date;
  context.argv = ctx.argv;
  context.hostname = ctx.hostname;
  context.machine = ctx.machine;
  context.os = ctx.os;
  context.cpu.model = ctx.cpu_model;
  context.cpu.hardware_threads = ctx.hardware_threads;
  context.cpu.llc_bytes = static_cast<int64_t>(ctx.llc_bytes);
  context.cpu.hwy_targets = ctx.hwy_targets;
  if (!ctx.transparent_hugepages.empty())
    context.cpu.transparent_hugepages = ctx.transparent_hugepages;
  if (!ctx.pinned_cpus.empty())
    context.cpu.pinned_cpus = std::vector<int64_t>(ctx.pinned_cpus.begin(), ctx.pinned_cpus.end());
  for (const auto& g : ctx.gpus) {
    Json gj = Json::object();
    for (const auto& [k, v] : g) gj[k] = v;
    context.gpus.push_back(gj);
  }
  report.config = ConfigJson(config);
  // The bytes model of every op of the run, keyed by the op's name.
  for (Norm norm : config.norms)
    for (Direction dir : config.dirs)
      if (HasOp(norm, dir)) {
        const OpDescriptor& op = OpFor(norm, dir);
        const std::string name(op.Name());
        if (std::none_of(report.bytes_model.begin(), report.bytes_model.end(),
                         [&](const auto& m) { return m.first == name; }))
          report.bytes_model.emplace_back(name, std::string(op.BytesModelText()));
      }
  for (const CeilingResult& c : result.ceilings)
    report.ceilings.push_back(ReportCeiling{c.device, ctx.machine, c.threads, c.measurement.method,
                                            static_cast<int64_t>(c.measurement.bytes_per_copy),
                                            c.measurement.seconds, c.stats.seconds.median,
                                            c.stats.bandwidth_gbps, c.stats.seconds.noise});
  ReportSummary& summary = report.summary;
  for (const CaseResult& r : result.cases) {
    report.cases.push_back(CaseModel(r, ctx.machine));
    switch (r.status) {
      case CaseStatus::kPassed: ++summary.passed; break;
      case CaseStatus::kFailed: ++summary.failed; break;
      case CaseStatus::kSkipped: ++summary.skipped; break;
      case CaseStatus::kUnsupported: ++summary.unsupported; break;
      case CaseStatus::kError: ++summary.errors; break;
    }
  }
  summary.cases = static_cast<int64_t>(result.cases.size());
  return report;
}

std::string ReportText(const Report& report) { return DumpJsonText(ReportToJson(report)); }

}  // namespace lnbench
