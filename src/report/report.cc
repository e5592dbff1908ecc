#include "report/report.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "core/build_info.h"
#include "core/default_threads.h"
#include "io/file_io.h"
#include "io/json_text.h"

namespace lnbench {

using Json = nlohmann::ordered_json;

Json JsonNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

namespace {

// `extent` says how the worst element is located: row and col, row only
// (per-row tensors) or col only (per-column tensors).
Json ErrorStatsJson(const ErrorStats& s, Extent extent, int64_t cols) {
  Json j;
  j["checked"] = s.checked;
  j["failed"] = s.failed;
  j["nan_mismatch"] = s.nan_mismatch;
  j["unwritten"] = s.unwritten;
  j["max_abs"] = JsonNumber(s.max_abs);
  j["max_rel"] = JsonNumber(s.max_rel);
  j["max_ulp"] = JsonNumber(s.max_ulp);
  j["max_bit_distance"] = s.max_bit_distance;
  j["off_by_one"] = s.off_by_one;
  j["rel_l2"] = JsonNumber(s.rel_l2);
  j["max_bound_ratio"] = JsonNumber(s.max_bound_ratio);
  j["ulp_hist"] = Json::array();
  for (uint64_t h : s.ulp_hist) j["ulp_hist"].push_back(h);
  if (s.worst_index >= 0) {
    Json w;
    w["index"] = s.worst_index;
    if (extent == Extent::kRowsCols) {
      w["row"] = cols > 0 ? s.worst_index / cols : 0;
      w["col"] = cols > 0 ? s.worst_index % cols : 0;
    } else if (extent == Extent::kRows) {
      w["row"] = s.worst_index;
      w["col"] = 0;
    } else {
      w["col"] = s.worst_index;
    }
    w["got"] = JsonNumber(s.worst_got);
    w["ref"] = JsonNumber(s.worst_ref);
    j["worst"] = w;
  }
  return j;
}

Json ProblemJson(const Problem& p, const std::string& input_file,
                 const std::optional<InputFileCounts>& counts) {
  Json j;
  j["op"] = std::string(NormName(p.norm));
  j["dir"] = std::string(DirectionName(p.dir));
  j["rows"] = p.rows;
  j["cols"] = p.cols;
  j["dtype"] = std::string(DTypeName(p.dtype));
  j["eps"] = p.eps;
  j["affine"] = p.affine;
  j["stats"] = p.stats;
  j["dist"] = std::string(DistributionName(p.dist));
  j["seed"] = p.seed;
  if (!input_file.empty()) j["input_file"] = input_file;
  if (counts) {
    j["input_nonfinite_rows"] = counts->nonfinite_rows;
    j["input_overflowed_values"] = counts->overflowed_values;
  }
  return j;
}

}  // namespace

std::string CaseIdWithMode(const CaseResult& r, const std::string& mode) {
  const Problem& p = r.problem;
  std::string id = fmt::format("{}/{}/{}/{}/{}x{}/{}/{}/eps={}/affine={}/stats={}/seed={}/threads={}/{}",
                               NormName(p.norm), DirectionName(p.dir), r.backend,
                               r.requested_variant.empty() ? "default" : r.requested_variant,
                               p.rows, p.cols, DTypeName(p.dtype), DistributionName(p.dist), p.eps,
                               p.affine ? 1 : 0, p.stats ? 1 : 0, p.seed, r.threads, mode);
  // Tuning selects other code paths: another case (a coverage case with
  // stream_min_bytes=0 is not the same case as the plain shape).
  for (const auto& [key, value] : r.tuning) id += fmt::format("/{}={}", key, value);
  return id;
}

namespace {

std::string CaseId(const CaseResult& r) { return CaseIdWithMode(r, r.timing ? r.timing->mode : "verify"); }

Json CaseJson(const CaseResult& r, const std::string& machine) {
  Json j;
  j["id"] = CaseId(r);
  j["backend"] = r.backend;
  j["variant"] = r.variant;
  j["requested_variant"] = r.requested_variant;
  j["peer"] = r.peer;
  if (!r.origin.kind.empty()) {
    Json o;
    o["kind"] = r.origin.kind;
    o["path"] = r.origin.path;
    if (r.origin.kind == "plugin") o["abi_version"] = r.origin.abi_version;
    o["externally_timed"] = r.origin.externally_timed;
    j["origin"] = o;
  }
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["machine"] = machine;
  j["problem"] = ProblemJson(r.problem, r.input_file, r.input_counts);
  j["status"] = std::string(CaseStatusName(r.status));
  j["reason"] = r.reason;
  if (!r.tuning.empty()) j["tuning"] = r.tuning;
  if (!r.coverage.empty()) j["coverage"] = r.coverage;
  if (r.accuracy) {
    const Accuracy& a = *r.accuracy;
    Json acc;
    acc["passed"] = a.passed;
    acc["thresholds"] = {{"compute_eps_units", a.thresholds.compute_eps_units},
                         {"output_ulps", a.thresholds.output_ulps},
                         {"rel_floor", a.thresholds.rel_floor},
                         {"stats_eps_units", a.thresholds.stats_eps_units}};
    acc["ulp_bins"] = Json::array();
    for (int i = 0; i < kUlpBins; ++i) acc["ulp_bins"].push_back(UlpBinLabel(i));
    // Every output tensor of the op, in TensorId order.
    Json tensors = Json::object();
    for (const TensorSpec& t : OpFor(r.problem).TensorsOf(r.problem, TensorRole::kOutput))
      if (a[t.id])
        tensors[std::string(TensorName(t.id))] =
            ErrorStatsJson(*a[t.id], t.extent, r.problem.cols);
    acc["tensors"] = tensors;
    j["accuracy"] = acc;
  } else {
    j["accuracy"] = nullptr;
  }
  if (r.timing) {
    const TimingResult& t = *r.timing;
    Json tj;
    tj["mode"] = t.mode;
    tj["batch"] = t.batch;
    tj["warmup_runs"] = t.warmup_runs;
    tj["samples_s"] = t.samples_s;
    tj["min_s"] = t.stats.min;
    tj["median_s"] = t.stats.median;
    tj["mean_s"] = t.stats.mean;
    tj["max_s"] = t.stats.max;
    tj["p10_s"] = t.stats.p10;
    tj["p90_s"] = t.stats.p90;
    tj["noise"] = JsonNumber(t.stats.noise);
    tj["stop_reason"] = t.stop_reason;
    j["timing"] = tj;
  } else {
    j["timing"] = nullptr;
  }
  j["bytes"] = {{"read", r.bytes.read},
                {"written", r.bytes.written},
                {"total", r.bytes.total()},
                {"model", std::string(OpFor(r.problem).BytesModelText())}};
  if (r.throughput) {
    const Throughput& t = *r.throughput;
    j["throughput"] = {{"bandwidth_gbps", t.bandwidth_gbps},
                       {"elements_per_s", t.elements_per_s},
                       {"ceiling_gbps", JsonNumber(t.ceiling_gbps)},
                       {"fraction_of_ceiling", JsonNumber(t.fraction_of_ceiling)},
                       {"ceiling_method", t.ceiling_method}};
  } else {
    j["throughput"] = nullptr;
  }
  Json details = Json::object();
  for (const auto& [k, v] : r.details) details[k] = v;
  j["details"] = details;
  j["repro"] = r.repro;
  return j;
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
  j["timing"] = {{"mode", c.timing.cold ? "cold" : "hot"},
                 {"warmup_runs", c.timing.warmup_runs},
                 {"warmup_s", c.timing.warmup_s},
                 {"min_samples", c.timing.min_samples},
                 {"max_samples", c.timing.max_samples},
                 {"max_noise", c.timing.max_noise},
                 {"time_budget_s", c.timing.time_budget_s},
                 {"min_sample_s", c.timing.min_sample_s}};
  if (!c.input_path.empty()) {
    j["input"] = c.input_path;
    j["gamma"] = c.gamma_path;
    j["beta"] = c.beta_path;
    if (!c.dy_path.empty()) j["dy"] = c.dy_path;
  }
  return j;
}

}  // namespace

Json BuildReport(const RunConfig& config, const RunResult& result, const RunContext& ctx) {
  Json j;
  j["schema_version"] = kReportSchemaVersion;
  j["kind"] = "lnbench-report";
  j["tool"] = {{"name", "lnbench"},
               {"version", LNBENCH_VERSION},
               {"git_sha", LNBENCH_GIT_SHA},
               {"build_type", LNBENCH_BUILD_TYPE},
               {"compiler", LNBENCH_CXX_COMPILER},
               {"cxx_flags", LNBENCH_CXX_FLAGS},
               {"cuda_compiler", std::string(LNBENCH_CUDA_COMPILER) == " " ? "none" : LNBENCH_CUDA_COMPILER},
               {"cuda_architectures", std::string(LNBENCH_CUDA_ARCHITECTURES).empty() ? "none" : LNBENCH_CUDA_ARCHITECTURES}};
  Json gpus = Json::array();
  for (const auto& g : ctx.gpus) {
    Json gj = Json::object();
    for (const auto& [k, v] : g) gj[k] = v;
    gpus.push_back(gj);
  }
  j["context"] = {{"date", ctx.date},
                  {"argv", ctx.argv},
                  {"hostname", ctx.hostname},
                  {"machine", ctx.machine},
                  {"os", ctx.os},
                  {"cpu",
                   {{"model", ctx.cpu_model},
                    {"hardware_threads", ctx.hardware_threads},
                    {"llc_bytes", ctx.llc_bytes},
                    {"hwy_targets", ctx.hwy_targets}}},
                  {"gpus", gpus}};
  j["config"] = ConfigJson(config);
  // The bytes model of every op of the run, keyed by the op's name.
  Json models = Json::object();
  for (Norm norm : config.norms)
    for (Direction dir : config.dirs)
      if (HasOp(norm, dir)) {
        const OpDescriptor& op = OpFor(norm, dir);
        models[op.Name()] = std::string(op.BytesModelText());
      }
  j["bytes_model"] = models;
  Json ceilings = Json::array();
  for (const CeilingResult& c : result.ceilings) {
    ceilings.push_back({{"device", c.device},
                        {"machine", ctx.machine},
                        {"threads", c.threads},
                        {"method", c.measurement.method},
                        {"bytes_per_copy", c.measurement.bytes_per_copy},
                        {"samples_s", c.measurement.seconds},
                        {"median_s", c.stats.seconds.median},
                        {"bandwidth_gbps", c.stats.bandwidth_gbps},
                        {"noise", JsonNumber(c.stats.seconds.noise)}});
  }
  j["ceilings"] = ceilings;
  Json cases = Json::array();
  int passed = 0, failed = 0, skipped = 0, unsupported = 0, errors = 0;
  for (const CaseResult& r : result.cases) {
    cases.push_back(CaseJson(r, ctx.machine));
    switch (r.status) {
      case CaseStatus::kPassed: ++passed; break;
      case CaseStatus::kFailed: ++failed; break;
      case CaseStatus::kSkipped: ++skipped; break;
      case CaseStatus::kUnsupported: ++unsupported; break;
      case CaseStatus::kError: ++errors; break;
    }
  }
  j["cases"] = cases;
  j["summary"] = {{"cases", result.cases.size()}, {"passed", passed},     {"failed", failed},
                  {"skipped", skipped},           {"unsupported", unsupported}, {"errors", errors}};
  return j;
}

std::string ReportText(const Json& report) { return DumpJsonText(report); }

void WriteReport(const std::string& path, const Json& report) {
  WriteFileAtomically(path, ReportText(report));
}

}  // namespace lnbench
