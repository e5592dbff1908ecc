#include "report/report_model.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string_view>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/bounded_read.h"
#include "core/errors.h"
#include "core/op.h"

namespace lnbench {

std::optional<double> ReadNumber(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return std::nullopt;
}

Json JsonNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

std::string Report::TimingMode() const {
  const auto timing = config.find("timing");
  if (timing == config.end() || !timing->is_object()) return "";
  const auto mode = timing->find("mode");
  if (mode == timing->end() || !mode->is_string()) return "";
  const std::string m = mode->get<std::string>();
  return (m == "hot" || m == "cold") ? m : "";
}

// ---------------------------------------------------------------------------
// Writing. The field order is the schema's (and the order lnbench always wrote).

Json ToJson(const ReportTool& t) {
  Json j;
  j["name"] = t.name;
  j["version"] = t.version;
  j["git_sha"] = t.git_sha;
  j["build_type"] = t.build_type;
  j["compiler"] = t.compiler;
  j["cxx_flags"] = t.cxx_flags;
  if (t.cuda_compiler) j["cuda_compiler"] = *t.cuda_compiler;
  if (t.cuda_architectures) j["cuda_architectures"] = *t.cuda_architectures;
  return j;
}

Json ToJson(const ReportContext& c) {
  Json j;
  j["date"] = c.date;
  j["argv"] = c.argv;
  j["hostname"] = c.hostname;
  j["machine"] = c.machine;
  j["os"] = c.os;
  Json cpu;
  cpu["model"] = c.cpu.model;
  cpu["hardware_threads"] = c.cpu.hardware_threads;
  cpu["llc_bytes"] = c.cpu.llc_bytes;
  if (c.cpu.hwy_targets) cpu["hwy_targets"] = *c.cpu.hwy_targets;
  if (c.cpu.transparent_hugepages) cpu["transparent_hugepages"] = *c.cpu.transparent_hugepages;
  if (c.cpu.pinned_cpus) cpu["pinned_cpus"] = *c.cpu.pinned_cpus;
  j["cpu"] = cpu;
  j["gpus"] = c.gpus;
  if (c.machines) j["machines"] = *c.machines;
  return j;
}

namespace {

Json PairsJson(const StringPairs& pairs) {
  Json j = Json::object();
  for (const auto& [k, v] : pairs) j[k] = v;
  return j;
}

Json WarningsJson(const std::vector<ReportWarning>& list) {
  Json j = Json::array();
  for (const ReportWarning& w : list) j.push_back({{"kind", w.kind}, {"message", w.message}});
  return j;
}

Json ToJson(const ReportCeiling& c) {
  Json j;
  j["device"] = c.device;
  if (c.machine) j["machine"] = *c.machine;
  j["threads"] = c.threads;
  j["method"] = c.method;
  j["bytes_per_copy"] = c.bytes_per_copy;
  j["samples_s"] = c.samples_s;
  j["median_s"] = c.median_s;
  j["bandwidth_gbps"] = c.bandwidth_gbps;
  j["noise"] = JsonNumber(c.noise);
  return j;
}

Json ToJson(const ReportProblem& p) {
  Json j;
  j["op"] = p.op;
  j["dir"] = p.dir;
  j["rows"] = p.rows;
  j["cols"] = p.cols;
  j["dtype"] = p.dtype;
  j["eps"] = p.eps;
  j["affine"] = p.affine;
  j["stats"] = p.stats;
  j["dist"] = p.dist;
  j["seed"] = p.seed;
  if (p.input_file) j["input_file"] = *p.input_file;
  if (p.input_nonfinite_rows) j["input_nonfinite_rows"] = *p.input_nonfinite_rows;
  if (p.input_overflowed_values) j["input_overflowed_values"] = *p.input_overflowed_values;
  if (p.input_dy_nonfinite_rows) j["input_dy_nonfinite_rows"] = *p.input_dy_nonfinite_rows;
  return j;
}

Json ToJson(const ReportErrorStats& s) {
  Json j;
  j["checked"] = s.checked;
  j["failed"] = s.failed;
  j["nan_mismatch"] = s.nan_mismatch;
  j["unwritten"] = s.unwritten;
  j["max_abs"] = JsonNumber(s.max_abs);
  j["max_rel"] = JsonNumber(s.max_rel);
  j["max_ulp"] = JsonNumber(s.max_ulp);
  if (s.max_bit_distance) j["max_bit_distance"] = *s.max_bit_distance;
  if (s.off_by_one) j["off_by_one"] = *s.off_by_one;
  j["rel_l2"] = JsonNumber(s.rel_l2);
  j["max_bound_ratio"] = JsonNumber(s.max_bound_ratio);
  if (s.ulp_hist) j["ulp_hist"] = *s.ulp_hist;
  if (s.worst) {
    Json w;
    w["index"] = s.worst->index;
    if (s.worst->row) w["row"] = *s.worst->row;
    w["col"] = s.worst->col;
    w["got"] = JsonNumber(s.worst->got);
    w["ref"] = JsonNumber(s.worst->ref);
    j["worst"] = w;
  }
  return j;
}

Json ToJson(const ReportAccuracy& a) {
  Json j;
  j["passed"] = a.passed;
  if (a.thresholds)
    j["thresholds"] = {{"compute_eps_units", a.thresholds->compute_eps_units},
                       {"output_ulps", a.thresholds->output_ulps},
                       {"rel_floor", a.thresholds->rel_floor},
                       {"stats_eps_units", a.thresholds->stats_eps_units}};
  if (a.ulp_bins) j["ulp_bins"] = *a.ulp_bins;
  Json tensors = Json::object();
  for (const auto& [name, stats] : a.tensors) tensors[name] = ToJson(stats);
  j["tensors"] = tensors;
  return j;
}

Json ToJson(const ReportTiming& t) {
  Json j;
  j["mode"] = t.mode;
  j["batch"] = t.batch;
  if (t.warmup_runs) j["warmup_runs"] = *t.warmup_runs;
  j["samples_s"] = t.samples_s;
  j["min_s"] = t.min_s;
  j["median_s"] = t.median_s;
  j["mean_s"] = t.mean_s;
  j["max_s"] = t.max_s;
  j["p10_s"] = t.p10_s;
  j["p90_s"] = t.p90_s;
  j["noise"] = JsonNumber(t.noise);
  if (t.stop_reason) j["stop_reason"] = *t.stop_reason;
  if (t.median_rel_stderr) j["median_rel_stderr"] = *t.median_rel_stderr;
  if (t.median_stderr_s) j["median_stderr_s"] = *t.median_stderr_s;
  return j;
}

Json ToJson(const ReportCase& c) {
  Json j;
  j["id"] = c.id;
  j["backend"] = c.backend;
  j["variant"] = c.variant;
  j["requested_variant"] = c.requested_variant;
  j["peer"] = c.peer;
  if (c.origin) {
    Json o;
    o["kind"] = c.origin->kind;
    o["path"] = c.origin->path;
    if (c.origin->abi_version) o["abi_version"] = *c.origin->abi_version;
    o["externally_timed"] = c.origin->externally_timed;
    j["origin"] = o;
  }
  j["device"] = c.device;
  j["threads"] = c.threads;
  j["machine"] = c.machine;
  j["problem"] = ToJson(c.problem);
  j["status"] = c.status;
  j["reason"] = c.reason;
  if (c.tuning) j["tuning"] = PairsJson(*c.tuning);
  if (c.coverage) j["coverage"] = *c.coverage;
  j["accuracy"] = c.accuracy ? ToJson(*c.accuracy) : Json(nullptr);
  j["timing"] = c.timing ? ToJson(*c.timing) : Json(nullptr);
  Json bytes;
  bytes["read"] = c.bytes.read;
  bytes["written"] = c.bytes.written;
  bytes["total"] = c.bytes.total;
  if (c.bytes.model) bytes["model"] = *c.bytes.model;
  j["bytes"] = bytes;
  if (c.throughput) {
    const ReportThroughput& t = *c.throughput;
    j["throughput"] = {{"bandwidth_gbps", t.bandwidth_gbps},
                       {"elements_per_s", t.elements_per_s},
                       {"ceiling_gbps", JsonNumber(t.ceiling_gbps)},
                       {"fraction_of_ceiling", JsonNumber(t.fraction_of_ceiling)},
                       {"ceiling_method", t.ceiling_method}};
    if (t.pairs) {
      j["throughput"]["pairs"] = *t.pairs;
      j["throughput"]["fraction_p10"] = JsonNumber(t.fraction_p10.value_or(0));
      j["throughput"]["fraction_p90"] = JsonNumber(t.fraction_p90.value_or(0));
    }
  } else {
    j["throughput"] = nullptr;
  }
  j["details"] = PairsJson(c.details);
  j["repro"] = c.repro;
  if (c.warnings) j["warnings"] = WarningsJson(*c.warnings);
  for (const auto& [k, v] : c.extra.items()) j[k] = v;
  return j;
}

}  // namespace

Json ReportToJson(const Report& r) {
  Json j;
  j["schema_version"] = kReportSchemaVersion;
  j["kind"] = r.kind;
  j["tool"] = ToJson(r.tool);
  j["context"] = ToJson(r.context);
  j["config"] = r.config;
  j["bytes_model"] = PairsJson(r.bytes_model);
  Json ceilings = Json::array();
  for (const ReportCeiling& c : r.ceilings) ceilings.push_back(ToJson(c));
  j["ceilings"] = std::move(ceilings);
  Json cases = Json::array();
  for (const ReportCase& c : r.cases) cases.push_back(ToJson(c));
  j["cases"] = std::move(cases);
  const ReportSummary& s = r.summary;
  Json summary = {{"cases", s.cases},     {"passed", s.passed},           {"failed", s.failed},
                  {"skipped", s.skipped}, {"unsupported", s.unsupported}, {"errors", s.errors}};
  if (s.peer_failed) summary["peer_failed"] = *s.peer_failed;
  if (s.warnings) summary["warnings"] = *s.warnings;
  j["summary"] = std::move(summary);
  if (r.warnings) j["warnings"] = WarningsJson(*r.warnings);
  for (const auto& [k, v] : r.extra.items()) j[k] = v;
  return j;
}

// ---------------------------------------------------------------------------
// Reading.

namespace {

}  // namespace

std::string JsonTypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unknown value";
  }
}

namespace {

// Reads a report into the model and throws UsageError("'file': where:
// problem") at the first field of the wrong type. Unknown extra fields are
// allowed, as the schema allows them: a case's and the report's are kept.
class ReportReader {
 public:
  explicit ReportReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void Fail(const std::string& where, const std::string& problem) const {
    throw UsageError(fmt::format("'{}': {}: {}", path_, where, problem));
  }

  static std::string Join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }

  // Returns obj[key], failing when obj has no such key.
  const Json& Get(const Json& obj, const char* key, const std::string& where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) Fail(Join(where, key), "missing");
    return *it;
  }
  const Json& Object(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_object()) Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected an object");
    return v;
  }
  const Json& Array(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_array()) Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected an array");
    return v;
  }
  std::string StringValue(const Json& v, const std::string& where) const {
    if (!v.is_string()) Fail(where, "is " + JsonTypeName(v) + ", expected a string");
    return v.get<std::string>();
  }
  std::string String(const Json& obj, const char* key, const std::string& where) const {
    return StringValue(Get(obj, key, where), Join(where, key));
  }
  std::optional<std::string> OptionalString(const Json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return std::nullopt;
    return String(obj, key, where);
  }
  std::vector<std::string> Strings(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Array(obj, key, where);
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(StringValue(v[i], fmt::format("{}[{}]", Join(where, key), i)));
    return out;
  }
  // An object of strings, in its order.
  StringPairs StringObject(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Object(obj, key, where);
    StringPairs out;
    for (const auto& [k, value] : v.items()) out.emplace_back(k, StringValue(value, Join(Join(where, key), k)));
    return out;
  }
  bool Bool(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_boolean()) Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected true or false");
    return v.get<bool>();
  }
  // An integer in [min, INT64_MAX]; `where` names the value.
  int64_t IntegerValue(const Json& v, const std::string& where, int64_t min) const {
    if (!v.is_number_integer()) Fail(where, "is " + JsonTypeName(v) + ", expected an integer");
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      Fail(where, fmt::format("is {}, expected at most {}", v.dump(), std::numeric_limits<int64_t>::max()));
    if (v.get<int64_t>() < min) Fail(where, fmt::format("is {}, expected at least {}", v.dump(), min));
    return v.get<int64_t>();
  }
  int64_t Integer(const Json& obj, const char* key, const std::string& where, int64_t min) const {
    return IntegerValue(Get(obj, key, where), Join(where, key), min);
  }
  std::optional<int64_t> OptionalInteger(const Json& obj, const char* key, const std::string& where,
                                         int64_t min) const {
    if (!obj.contains(key)) return std::nullopt;
    return Integer(obj, key, where, min);
  }
  // A count or seed: an integer >= 0, up to 2^64-1.
  uint64_t Unsigned(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_number_integer()) Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected an integer");
    if (!v.is_number_unsigned() && v.get<int64_t>() < 0)
      Fail(Join(where, key), fmt::format("is {}, expected at least 0", v.dump()));
    return v.get<uint64_t>();
  }
  std::optional<uint64_t> OptionalUnsigned(const Json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return std::nullopt;
    return Unsigned(obj, key, where);
  }
  // A plain JSON number (the schema's "type": "number").
  double Number(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_number()) Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected a number");
    return v.get<double>();
  }
  std::optional<double> OptionalNumber(const Json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return std::nullopt;
    return Number(obj, key, where);
  }
  // A schema number: a JSON number or "NaN" / "Infinity" / "-Infinity".
  double SchemaNumber(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    const auto d = ReadNumber(v);
    if (!d)
      Fail(Join(where, key), "is " + JsonTypeName(v) + ", expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
    return *d;
  }
  // Timing samples: at least one, each a finite number of seconds >= 0 (a
  // negative or non-finite time is a corrupt report, not a measurement).
  std::vector<double> SecondsArray(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Array(obj, key, where);
    if (v.empty()) Fail(Join(where, key), "is empty, expected at least one sample");
    std::vector<double> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(CheckSeconds(v[i], fmt::format("{}[{}]", Join(where, key), i)));
    return out;
  }
  double Seconds(const Json& obj, const char* key, const std::string& where) const {
    return CheckSeconds(Get(obj, key, where), Join(where, key));
  }
  double CheckSeconds(const Json& v, const std::string& where) const {
    const std::optional<double> d = v.is_number() || v.is_string() ? ReadNumber(v) : std::nullopt;
    if (!d) Fail(where, "is " + JsonTypeName(v) + ", expected a number of seconds");
    if (!std::isfinite(*d)) Fail(where, fmt::format("is {}, expected a finite number of seconds", v.dump()));
    if (*d < 0) Fail(where, fmt::format("is {}, expected a number of seconds >= 0", v.dump()));
    return *d;
  }
  std::string OneOf(const Json& obj, const char* key, const std::string& where,
                    std::initializer_list<const char*> allowed) const {
    const std::string s = String(obj, key, where);
    std::string list;
    for (const char* a : allowed) {
      if (s == a) return s;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    Fail(Join(where, key), fmt::format("is \"{}\", expected one of {}", EscapeForTerminal(s), list));
  }
  std::vector<ReportWarning> Warnings(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Array(obj, key, where);
    std::vector<ReportWarning> out;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string w = fmt::format("{}[{}]", Join(where, key), i);
      if (!v[i].is_object()) Fail(w, "is " + JsonTypeName(v[i]) + ", expected an object");
      out.push_back({String(v[i], "kind", w), String(v[i], "message", w)});
    }
    return out;
  }

  ReportTool Tool(const Json& doc) const {
    const Json& t = Object(doc, "tool", "");
    ReportTool tool;
    tool.name = String(t, "name", "tool");
    tool.version = String(t, "version", "tool");
    tool.git_sha = String(t, "git_sha", "tool");
    tool.build_type = String(t, "build_type", "tool");
    tool.compiler = String(t, "compiler", "tool");
    tool.cxx_flags = String(t, "cxx_flags", "tool");
    tool.cuda_compiler = OptionalString(t, "cuda_compiler", "tool");
    tool.cuda_architectures = OptionalString(t, "cuda_architectures", "tool");
    return tool;
  }

  ReportContext Context(const Json& doc, bool merged) const {
    const Json& ctx = Object(doc, "context", "");
    ReportContext c;
    c.date = String(ctx, "date", "context");
    c.hostname = String(ctx, "hostname", "context");
    c.machine = String(ctx, "machine", "context");
    c.os = String(ctx, "os", "context");
    c.argv = Strings(ctx, "argv", "context");
    const Json& cpu = Object(ctx, "cpu", "context");
    c.cpu.model = String(cpu, "model", "context.cpu");
    c.cpu.hardware_threads = Integer(cpu, "hardware_threads", "context.cpu", 1);
    c.cpu.llc_bytes = Integer(cpu, "llc_bytes", "context.cpu", 0);
    if (cpu.contains("hwy_targets")) c.cpu.hwy_targets = Strings(cpu, "hwy_targets", "context.cpu");
    if (cpu.contains("transparent_hugepages"))
      c.cpu.transparent_hugepages = String(cpu, "transparent_hugepages", "context.cpu");
    if (cpu.contains("pinned_cpus")) {
      const Json& pinned = Array(cpu, "pinned_cpus", "context.cpu");
      if (pinned.empty()) Fail("context.cpu.pinned_cpus", "is empty");
      c.cpu.pinned_cpus.emplace();
      std::set<int64_t> seen;  // a set: a list of a million CPUs must not take minutes
      for (size_t i = 0; i < pinned.size(); ++i) {
        const std::string where = fmt::format("context.cpu.pinned_cpus[{}]", i);
        const int64_t cpu_number = IntegerValue(pinned[i], where, 0);
        if (!seen.insert(cpu_number).second)
          Fail(where, fmt::format("is CPU {} again (each CPU is listed once)", cpu_number));
        c.cpu.pinned_cpus->push_back(cpu_number);
      }
    }
    c.gpus = Array(ctx, "gpus", "context");
    if (merged || ctx.contains("machines")) {
      const Json& machines = Array(ctx, "machines", "context");
      c.machines.emplace();
      for (size_t i = 0; i < machines.size(); ++i) {
        if (!machines[i].is_object())
          Fail(fmt::format("context.machines[{}]", i), "is " + JsonTypeName(machines[i]) + ", expected an object");
        c.machines->push_back(machines[i]);
      }
    }
    return c;
  }

  ReportCeiling Ceiling(const Json& c, const std::string& where) const {
    if (!c.is_object()) Fail(where, "is " + JsonTypeName(c) + ", expected an object");
    ReportCeiling out;
    out.device = String(c, "device", where);
    out.machine = OptionalString(c, "machine", where);
    out.threads = Integer(c, "threads", where, 0);
    out.method = String(c, "method", where);
    out.bytes_per_copy = Integer(c, "bytes_per_copy", where, 0);
    out.samples_s = SecondsArray(c, "samples_s", where);
    out.median_s = Seconds(c, "median_s", where);
    out.bandwidth_gbps = Number(c, "bandwidth_gbps", where);
    out.noise = SchemaNumber(c, "noise", where);
    return out;
  }

  ReportErrorStats ErrorStats(const Json& s, const std::string& where) const {
    if (!s.is_object()) Fail(where, "is " + JsonTypeName(s) + ", expected an object");
    ReportErrorStats e;
    e.checked = Unsigned(s, "checked", where);
    e.failed = Unsigned(s, "failed", where);
    e.nan_mismatch = Unsigned(s, "nan_mismatch", where);
    e.unwritten = Unsigned(s, "unwritten", where);
    e.max_abs = SchemaNumber(s, "max_abs", where);
    e.max_rel = SchemaNumber(s, "max_rel", where);
    e.max_ulp = SchemaNumber(s, "max_ulp", where);
    e.max_bit_distance = OptionalUnsigned(s, "max_bit_distance", where);
    e.off_by_one = OptionalUnsigned(s, "off_by_one", where);
    e.rel_l2 = SchemaNumber(s, "rel_l2", where);
    e.max_bound_ratio = SchemaNumber(s, "max_bound_ratio", where);
    if (s.contains("ulp_hist")) {
      const Json& h = Array(s, "ulp_hist", where);
      e.ulp_hist.emplace();
      for (size_t i = 0; i < h.size(); ++i) {
        if (!h[i].is_number_unsigned() && !(h[i].is_number_integer() && h[i].get<int64_t>() >= 0))
          Fail(fmt::format("{}.ulp_hist[{}]", where, i), "is " + JsonTypeName(h[i]) + ", expected a count");
        e.ulp_hist->push_back(h[i].get<uint64_t>());
      }
    }
    if (s.contains("worst")) {
      const std::string ww = where + ".worst";
      const Json& w = Object(s, "worst", where);
      e.worst = ReportWorst{Integer(w, "index", ww, 0), std::nullopt, Integer(w, "col", ww, 0),
                            SchemaNumber(w, "got", ww), SchemaNumber(w, "ref", ww)};
      if (w.contains("row")) e.worst->row = Integer(w, "row", ww, 0);
    }
    return e;
  }

  ReportAccuracy Accuracy(const Json& a, const std::string& aw) const {
    if (!a.is_object()) Fail(aw, "is " + JsonTypeName(a) + ", expected an object or null");
    ReportAccuracy out;
    out.passed = Bool(a, "passed", aw);
    if (a.contains("thresholds")) {
      const std::string tw = aw + ".thresholds";
      const Json& t = Object(a, "thresholds", aw);
      out.thresholds = ReportThresholds{Number(t, "compute_eps_units", tw), Number(t, "output_ulps", tw),
                                        Number(t, "rel_floor", tw), Number(t, "stats_eps_units", tw)};
    }
    if (a.contains("ulp_bins")) out.ulp_bins = Strings(a, "ulp_bins", aw);
    const Json& tensors = Object(a, "tensors", aw);
    for (const auto& [name, stats] : tensors.items()) {
      if (!ParseTensorName(name)) Fail(Join(aw + ".tensors", name), "is not a tensor name");
      out.tensors.emplace_back(name, ErrorStats(stats, Join(aw + ".tensors", name)));
    }
    return out;
  }

  ReportTiming Timing(const Json& t, const std::string& tw) const {
    if (!t.is_object()) Fail(tw, "is " + JsonTypeName(t) + ", expected an object or null");
    ReportTiming out;
    out.mode = OneOf(t, "mode", tw, {"hot", "cold"});
    out.batch = Integer(t, "batch", tw, 1);
    out.warmup_runs = OptionalInteger(t, "warmup_runs", tw, 0);
    out.samples_s = SecondsArray(t, "samples_s", tw);
    out.min_s = Seconds(t, "min_s", tw);
    out.median_s = Seconds(t, "median_s", tw);
    out.mean_s = Seconds(t, "mean_s", tw);
    out.max_s = Seconds(t, "max_s", tw);
    out.p10_s = Seconds(t, "p10_s", tw);
    out.p90_s = Seconds(t, "p90_s", tw);
    out.noise = SchemaNumber(t, "noise", tw);
    out.stop_reason = OptionalString(t, "stop_reason", tw);
    out.median_rel_stderr = OptionalNumber(t, "median_rel_stderr", tw);
    out.median_stderr_s = OptionalNumber(t, "median_stderr_s", tw);
    return out;
  }

  ReportProblem Problem(const Json& c, const std::string& where) const {
    const std::string pw = where + ".problem";
    const Json& p = Object(c, "problem", where);
    ReportProblem out;
    out.rows = Integer(p, "rows", pw, 0);
    out.cols = Integer(p, "cols", pw, 1);
    out.dtype = OneOf(p, "dtype", pw, {"f32", "bf16", "f16"});
    out.eps = Number(p, "eps", pw);
    out.affine = Bool(p, "affine", pw);
    out.stats = Bool(p, "stats", pw);
    out.dist = String(p, "dist", pw);
    out.seed = Unsigned(p, "seed", pw);
    out.op = OneOf(p, "op", pw, {"layernorm", "rmsnorm"});
    out.dir = OneOf(p, "dir", pw, {"fwd", "bwd"});
    out.input_file = OptionalString(p, "input_file", pw);
    out.input_nonfinite_rows = OptionalInteger(p, "input_nonfinite_rows", pw, 0);
    out.input_overflowed_values = OptionalInteger(p, "input_overflowed_values", pw, 0);
    out.input_dy_nonfinite_rows = OptionalInteger(p, "input_dy_nonfinite_rows", pw, 0);
    return out;
  }

  ReportCase Case(const Json& c, size_t index) const {
    std::string where = fmt::format("cases[{}]", index);
    if (!c.is_object()) Fail(where, "is " + JsonTypeName(c) + ", expected an object");
    ReportCase out;
    out.id = String(c, "id", where);
    where += " (" + EscapeForTerminal(out.id) + ")";
    out.backend = String(c, "backend", where);
    out.variant = String(c, "variant", where);
    out.requested_variant = String(c, "requested_variant", where);
    out.device = String(c, "device", where);
    out.machine = String(c, "machine", where);
    out.reason = String(c, "reason", where);
    out.repro = String(c, "repro", where);
    out.peer = Bool(c, "peer", where);
    out.threads = Integer(c, "threads", where, 0);
    out.status = OneOf(c, "status", where, {"passed", "failed", "skipped", "unsupported", "error"});
    out.problem = Problem(c, where);
    if (c.contains("origin")) {
      const std::string ow = where + ".origin";
      const Json& o = Object(c, "origin", where);
      out.origin = ReportOrigin{String(o, "kind", ow), String(o, "path", ow),
                                OptionalInteger(o, "abi_version", ow, 0), Bool(o, "externally_timed", ow)};
    }
    if (c.contains("tuning")) out.tuning = StringObject(c, "tuning", where);
    out.coverage = OptionalString(c, "coverage", where);
    if (const Json& a = Get(c, "accuracy", where); !a.is_null()) out.accuracy = Accuracy(a, where + ".accuracy");
    if (const Json& t = Get(c, "timing", where); !t.is_null()) out.timing = Timing(t, where + ".timing");
    const std::string bw = where + ".bytes";
    const Json& bytes = Object(c, "bytes", where);
    out.bytes.read = Integer(bytes, "read", bw, 0);
    out.bytes.written = Integer(bytes, "written", bw, 0);
    out.bytes.total = Integer(bytes, "total", bw, 0);
    out.bytes.model = OptionalString(bytes, "model", bw);
    if (const Json& t = Get(c, "throughput", where); !t.is_null()) {
      const std::string hw = where + ".throughput";
      if (!t.is_object()) Fail(hw, "is " + JsonTypeName(t) + ", expected an object or null");
      ReportThroughput& rt = out.throughput.emplace();
      rt.bandwidth_gbps = Number(t, "bandwidth_gbps", hw);
      rt.elements_per_s = Number(t, "elements_per_s", hw);
      rt.ceiling_gbps = SchemaNumber(t, "ceiling_gbps", hw);
      rt.fraction_of_ceiling = SchemaNumber(t, "fraction_of_ceiling", hw);
      rt.ceiling_method = String(t, "ceiling_method", hw);
      out.throughput->pairs = OptionalInteger(t, "pairs", hw, 1);
      if (out.throughput->pairs) {
        out.throughput->fraction_p10 = SchemaNumber(t, "fraction_p10", hw);
        out.throughput->fraction_p90 = SchemaNumber(t, "fraction_p90", hw);
      }
    }
    out.details = StringObject(c, "details", where);
    if (c.contains("warnings")) out.warnings = Warnings(c, "warnings", where);
    out.extra = Unknown(c, kCaseFields);
    return out;
  }

  ReportSummary Summary(const Json& doc) const {
    const Json& s = Object(doc, "summary", "");
    ReportSummary out;
    out.cases = Integer(s, "cases", "summary", 0);
    out.passed = Integer(s, "passed", "summary", 0);
    out.failed = Integer(s, "failed", "summary", 0);
    out.skipped = Integer(s, "skipped", "summary", 0);
    out.unsupported = Integer(s, "unsupported", "summary", 0);
    out.errors = Integer(s, "errors", "summary", 0);
    out.peer_failed = OptionalInteger(s, "peer_failed", "summary", 0);
    out.warnings = OptionalInteger(s, "warnings", "summary", 0);
    return out;
  }

  // Returns the members of `obj` whose keys are not in `known`, in order.
  template <size_t N>
  static Json Unknown(const Json& obj, const char* const (&known)[N]) {
    Json extra = Json::object();
    for (const auto& [k, v] : obj.items())
      if (std::find(std::begin(known), std::end(known), std::string_view(k)) == std::end(known)) extra[k] = v;
    return extra;
  }
  static constexpr const char* kCaseFields[] = {
      "id",       "backend", "variant", "requested_variant", "peer",    "origin", "device",
      "threads",  "machine", "problem", "status",            "reason",  "tuning", "coverage",
      "accuracy", "timing",  "bytes",   "throughput",        "details", "repro",  "warnings"};
  static constexpr const char* kReportFields[] = {"schema_version", "kind",  "tool",    "context", "config",
                                                  "bytes_model",    "ceilings", "cases", "summary", "warnings"};

 private:
  std::string path_;
};

// Rewrites a version-2 report (LayerNorm forward only, accuracy as y / mean /
// rstd fields, one bytes model string) as version 3, in place: every case
// becomes layernorm fwd, its y/mean/rstd become accuracy.tensors, the bytes
// model is keyed by the op. Fields of the wrong type are left for the reader
// to name.
void UpgradeVersion2(Json& doc) {
  doc["schema_version"] = kReportSchemaVersion;
  const std::string op_name = "layernorm fwd";
  Json model;
  if (doc.contains("bytes_model") && doc.at("bytes_model").is_string()) {
    model = doc.at("bytes_model");
    doc["bytes_model"] = Json{{op_name, model}};
  }
  if (!doc.contains("cases") || !doc.at("cases").is_array()) return;
  for (Json& c : doc.at("cases")) {
    if (!c.is_object()) continue;
    if (c.contains("problem") && c.at("problem").is_object()) {
      Json& p = c.at("problem");
      if (!p.contains("op")) p["op"] = "layernorm";
      if (!p.contains("dir")) p["dir"] = "fwd";
    }
    if (model.is_string() && c.contains("bytes") && c.at("bytes").is_object() && !c.at("bytes").contains("model"))
      c.at("bytes")["model"] = model;
    if (c.contains("accuracy") && c.at("accuracy").is_object()) {
      Json& a = c.at("accuracy");
      Json tensors = Json::object();
      for (const char* name : {"y", "mean", "rstd"}) {
        const auto it = a.find(name);
        if (it == a.end()) continue;
        if (!it->is_null()) tensors[name] = *it;
        a.erase(it);
      }
      a["tensors"] = std::move(tensors);
    }
  }
}

}  // namespace

Report ReportFromJson(Json doc, const std::string& path) {
  const ReportReader read(path);
  if (!doc.is_object())
    throw UsageError(fmt::format("'{}': not an lnbench report (the document is {}, expected an object)", path,
                                 JsonTypeName(doc)));
  const auto version_it = doc.find("schema_version");
  if (version_it == doc.end()) throw UsageError("'" + path + "': not an lnbench report (no schema_version)");
  if (!version_it->is_number_integer())
    read.Fail("schema_version", "is " + JsonTypeName(*version_it) + ", expected an integer");
  const int64_t version = version_it->get<int64_t>();
  if (version == 1)
    throw UsageError(fmt::format("'{}': schema_version 1 is not supported (this lnbench reads version {}): "
                                 "its max_ulp is a bit distance, not ulps of the element's scale; "
                                 "rerun that case with this lnbench to compare",
                                 path, kReportSchemaVersion));
  if (version != kReportSchemaVersion && version != 2)
    throw UsageError(fmt::format("'{}': schema_version {} is not supported (this lnbench reads versions 2 and {})",
                                 path, version, kReportSchemaVersion));
  if (version == 2) UpgradeVersion2(doc);

  Report r;
  r.kind = read.String(doc, "kind", "");
  if (r.kind != kReportKind && r.kind != kMergedReportKind)
    throw UsageError(fmt::format("'{}': kind \"{}\" is not an lnbench report (expected \"{}\" or \"{}\")", path,
                                 EscapeForTerminal(r.kind), kReportKind, kMergedReportKind));
  r.tool = read.Tool(doc);
  r.context = read.Context(doc, r.merged());
  r.config = read.Object(doc, "config", "");
  r.bytes_model = read.StringObject(doc, "bytes_model", "");
  const Json& ceilings = read.Array(doc, "ceilings", "");
  for (size_t i = 0; i < ceilings.size(); ++i) r.ceilings.push_back(read.Ceiling(ceilings[i], fmt::format("ceilings[{}]", i)));
  const Json& cases = read.Array(doc, "cases", "");
  for (size_t i = 0; i < cases.size(); ++i) r.cases.push_back(read.Case(cases[i], i));
  r.summary = read.Summary(doc);
  if (doc.contains("warnings")) r.warnings = read.Warnings(doc, "warnings", "");
  r.extra = ReportReader::Unknown(doc, ReportReader::kReportFields);
  return r;
}

// ---------------------------------------------------------------------------
// The case identity.

namespace {

// Returns `prefix` + "k=v,k=v" of the case's backend tuning (--tune, coverage
// cases), or "" when it has none: tuning selects other code paths, so a tuned
// case is another case than the same shape without it.
std::string TuningText(const ReportCase& c, const char* prefix) {
  if (!c.tuning || c.tuning->empty()) return "";
  std::string text;
  for (const auto& [k, v] : *c.tuning) text += (text.empty() ? "" : ",") + k + "=" + v;
  return prefix + text;
}

}  // namespace

std::string CaseIdWithMode(const ReportCase& c, const std::string& mode) {
  const ReportProblem& p = c.problem;
  std::string id = fmt::format("{}/{}/{}/{}/{}x{}/{}/{}/eps={}/affine={}/stats={}/seed={}/threads={}/{}", p.op,
                               p.dir, c.backend, c.requested_variant.empty() ? "default" : c.requested_variant,
                               p.rows, p.cols, p.dtype, p.dist, p.eps, p.affine ? 1 : 0, p.stats ? 1 : 0, p.seed,
                               c.threads, mode);
  // Tuning selects other code paths: another case (a coverage case with
  // stream_min_bytes=0 is not the same case as the plain shape).
  if (c.tuning)
    for (const auto& [key, value] : *c.tuning) id += fmt::format("/{}={}", key, value);
  return id;
}

std::string CaseMode(const ReportCase& c, const std::string& report_mode) {
  if (c.timing) return c.timing->mode;
  const auto slash = c.id.rfind('/');
  const std::string last = slash == std::string::npos ? c.id : c.id.substr(slash + 1);
  if (last == "hot" || last == "cold") return last;
  return report_mode;
}

std::string CaseKeyWithoutMode(const ReportCase& c, bool with_machine) {
  const ReportProblem& p = c.problem;
  std::string key = fmt::format("{} {}|{}|{}|{}x{}|{}|eps={}|affine={}|stats={}|{}|seed={}|threads={}", p.op, p.dir,
                                c.backend, c.requested_variant.empty() ? "(default)" : c.requested_variant, p.rows,
                                p.cols, p.dtype, p.eps, p.affine ? 1 : 0, p.stats ? 1 : 0, p.dist, p.seed, c.threads);
  if (p.input_file) key += "|file=" + *p.input_file;
  key += TuningText(c, "|tune ");
  if (with_machine) key += "|@" + c.machine;
  return key;
}

std::string CaseKey(const ReportCase& c, bool with_machine, const std::string& report_mode) {
  return CaseKeyWithoutMode(c, with_machine) + "|" + CaseMode(c, report_mode);
}

std::string CaseLabel(const ReportCase& c, const std::string& report_mode) {
  const ReportProblem& p = c.problem;
  // The op first when it is not LayerNorm forward, as Problem::ShortName does.
  std::string label = p.op == "layernorm" && p.dir == "fwd" ? "" : p.op + " " + p.dir + " ";
  label += c.backend;
  if (!c.requested_variant.empty()) label += ":" + c.requested_variant;
  label += fmt::format(" {}x{} {} {}", p.rows, p.cols, p.dtype, p.dist);
  if (p.eps != 1e-5) label += fmt::format(" eps={}", p.eps);
  if (!p.affine) label += " noaffine";
  if (p.stats) label += " stats";
  if (p.seed != 1) label += fmt::format(" seed={}", p.seed);
  if (c.threads > 0) label += fmt::format(" t{}", c.threads);
  label += TuningText(c, " ");
  const std::string mode = CaseMode(c, report_mode);
  if (!mode.empty()) label += " " + mode;
  return label;
}

}  // namespace lnbench
