// The report model: one C++ type for an lnbench JSON report
// (results/schema/report.schema.json, version 3) with one JSON mapping, used
// by the writer (report/report.h), the reader (compare/report_json.h) and
// merge. A field the schema makes optional is a std::optional here, written
// only when present, so a report read and written again keeps its bytes.
// The case identity (the written id and the compare/merge match key) is
// defined here, once, from the case's fields.
#ifndef LNBENCH_REPORT_REPORT_MODEL_H_
#define LNBENCH_REPORT_REPORT_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lnbench {

using Json = nlohmann::ordered_json;

// The schema version written, and the newest one read. Version 2 reports
// (LayerNorm forward only) are read as version 3 layernorm fwd cases;
// version 1 is refused.
inline constexpr int kReportSchemaVersion = 3;
inline constexpr const char* kReportKind = "lnbench-report";
inline constexpr const char* kMergedReportKind = "lnbench-merged-report";

// Ordered string pairs: JSON objects whose key order is kept.
using StringPairs = std::vector<std::pair<std::string, std::string>>;

struct ReportTool {
  std::string name = "lnbench";
  std::string version, git_sha, build_type, compiler, cxx_flags;
  std::optional<std::string> cuda_compiler, cuda_architectures;
};

struct ReportCpu {
  std::string model;
  int64_t hardware_threads = 1;
  int64_t llc_bytes = 0;
  std::optional<std::vector<std::string>> hwy_targets;
  // The kernel's transparent huge page mode ("always", "madvise", "never"),
  // which decides whether lnbench's buffers of 4 MiB or more get 2 MiB pages.
  std::optional<std::string> transparent_hugepages;
  // --cpus: the CPUs the run pinned its threads to (thread i on the i-th).
  std::optional<std::vector<int64_t>> pinned_cpus;
};

struct ReportContext {
  std::string date;
  std::vector<std::string> argv;
  std::string hostname, machine, os;
  ReportCpu cpu;
  Json gpus = Json::array();  // one object of strings per GPU, as the driver names them
  // Merged reports: each input's context with its report path, tool and config.
  std::optional<std::vector<Json>> machines;
};

struct ReportCeiling {
  std::string device;
  std::optional<std::string> machine;
  int64_t threads = 0;
  std::string method;
  int64_t bytes_per_copy = 0;
  std::vector<double> samples_s;
  double median_s = 0;
  double bandwidth_gbps = 0;
  double noise = 0;
};

struct ReportProblem {
  std::string op = "layernorm", dir = "fwd";
  int64_t rows = 0, cols = 1;
  std::string dtype = "f32";
  double eps = 1e-5;
  bool affine = true, stats = false;
  std::string dist = "normal";
  uint64_t seed = 1;
  std::optional<std::string> input_file;
  std::optional<int64_t> input_nonfinite_rows, input_overflowed_values;
  std::optional<int64_t> input_dy_nonfinite_rows;  // with a --dy file (backward)
};

struct ReportWorst {
  int64_t index = 0;
  std::optional<int64_t> row;  // absent for per-column tensors (dgamma, dbeta)
  int64_t col = 0;
  double got = 0, ref = 0;
};

// One output tensor's errors (core/metrics.h ErrorStats as written).
struct ReportErrorStats {
  uint64_t checked = 0, failed = 0, nan_mismatch = 0, unwritten = 0;
  double max_abs = 0, max_rel = 0, max_ulp = 0;
  std::optional<uint64_t> max_bit_distance, off_by_one;
  double rel_l2 = 0, max_bound_ratio = 0;
  std::optional<std::vector<uint64_t>> ulp_hist;
  std::optional<ReportWorst> worst;
};

struct ReportThresholds {
  double compute_eps_units = 0, output_ulps = 0, rel_floor = 0, stats_eps_units = 0;
};

struct ReportAccuracy {
  bool passed = false;
  std::optional<ReportThresholds> thresholds;
  std::optional<std::vector<std::string>> ulp_bins;
  // Every checked output tensor, by name, in TensorId order.
  std::vector<std::pair<std::string, ReportErrorStats>> tensors;
};

struct ReportTiming {
  std::string mode = "hot";
  int64_t batch = 1;
  std::optional<int64_t> warmup_runs;
  std::vector<double> samples_s;
  double min_s = 0, median_s = 0, mean_s = 0, max_s = 0, p10_s = 0, p90_s = 0;
  double noise = 0;
  std::optional<std::string> stop_reason;
  std::optional<double> median_rel_stderr, median_stderr_s;
};

struct ReportBytes {
  int64_t read = 0, written = 0, total = 0;
  std::optional<std::string> model;
};

struct ReportThroughput {
  double bandwidth_gbps = 0, elements_per_s = 0;
  double ceiling_gbps = 0, fraction_of_ceiling = 0;
  std::string ceiling_method;
  // Paired ceilings (config.ceiling "paired"): samples paired with copies,
  // and the 10th and 90th percentiles of their fractions.
  std::optional<int64_t> pairs;
  std::optional<double> fraction_p10, fraction_p90;
};

struct ReportOrigin {
  std::string kind, path;
  std::optional<int64_t> abi_version;
  bool externally_timed = false;
};

struct ReportWarning {
  std::string kind, message;
};

struct ReportCase {
  std::string id, backend, variant, requested_variant;
  bool peer = false;
  std::optional<ReportOrigin> origin;
  std::string device;
  int64_t threads = 0;
  std::string machine;
  ReportProblem problem;
  std::string status = "skipped";  // passed, failed, skipped, unsupported, error
  std::string reason;
  std::optional<StringPairs> tuning;
  std::optional<std::string> coverage;
  std::optional<ReportAccuracy> accuracy;
  std::optional<ReportTiming> timing;
  ReportBytes bytes;
  std::optional<ReportThroughput> throughput;
  StringPairs details;
  std::string repro;
  std::optional<std::vector<ReportWarning>> warnings;
  Json extra = Json::object();  // fields this lnbench does not know, kept as they were
};

struct ReportSummary {
  int64_t cases = 0, passed = 0, failed = 0, skipped = 0, unsupported = 0, errors = 0;
  std::optional<int64_t> peer_failed, warnings;
};

struct Report {
  std::string kind = kReportKind;
  ReportTool tool;
  ReportContext context;
  Json config = Json::object();  // the run's options (or a merge's inputs), as the writer chose
  StringPairs bytes_model;       // op name ("layernorm fwd") -> its bytes model text
  std::vector<ReportCeiling> ceilings;
  std::vector<ReportCase> cases;
  ReportSummary summary;
  std::optional<std::vector<ReportWarning>> warnings;  // the run's own
  Json extra = Json::object();

  bool merged() const { return kind == kMergedReportKind; }
  // Returns config.timing.mode ("hot" / "cold"), the mode of every timed case
  // of a single run; "" when the report does not say (merged reports).
  std::string TimingMode() const;
};

// Returns the report as JSON, in the schema's field order.
Json ReportToJson(const Report& report);
// Returns the report's tool / context block as JSON (as ReportToJson writes it).
Json ToJson(const ReportTool& tool);
Json ToJson(const ReportContext& context);

// Returns the report in `doc` after checking its schema_version (2 is read as
// 3, layernorm fwd; 1 and unknown versions are refused), its kind and the
// type of every field the model holds. Throws UsageError("'path': where:
// problem") naming `path` and the first offending field.
Report ReportFromJson(Json doc, const std::string& path);

// Returns the JSON type of `value` as messages name it ("an array", "null", ...).
std::string JsonTypeName(const Json& value);

// Returns a schema number: a JSON number, or NaN / +-infinity for the strings
// "NaN", "Infinity", "-Infinity"; nullopt for anything else (null included).
std::optional<double> ReadNumber(const Json& value);
// Returns `value` as a schema number: finite values as numbers, non-finite
// ones as their strings (nlohmann would write them as null, which reads back
// as "no data").
Json JsonNumber(double value);

// Returns a case's report id ("layernorm/fwd/scalar/default/4096x768/f32/normal/
// eps=1e-05/.../threads=1/hot") with `mode` as its last part ("hot", "cold",
// or "verify" for an untimed case).
std::string CaseIdWithMode(const ReportCase& report_case, const std::string& mode);

// Returns the timing mode of a case: timing.mode, else the last component of
// its id when that is "hot" or "cold", else `report_mode` (the report's
// config.timing.mode; an untimed case, e.g. one that failed, has no timing).
std::string CaseMode(const ReportCase& report_case, const std::string& report_mode);
// Returns the match key of a case without its mode: op, direction, backend,
// requested variant, problem (rows, cols, dtype, eps, affine, stats, dist,
// seed, input file), threads and tuning, plus the case's machine when
// `with_machine` (merged reports hold several machines).
std::string CaseKeyWithoutMode(const ReportCase& report_case, bool with_machine);
// Returns the full match key: CaseKeyWithoutMode, then CaseMode.
std::string CaseKey(const ReportCase& report_case, bool with_machine, const std::string& report_mode);
// Returns a short label of a case: "scalar 1024x768 f32 normal t1 hot".
std::string CaseLabel(const ReportCase& report_case, const std::string& report_mode);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_REPORT_MODEL_H_
