#include "compare/report_json.h"

#include "core/op.h"

#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/bounded_read.h"

namespace lnbench {

namespace {

// Returns the JSON type name used in messages ("a string", "null", ...).
std::string Describe(const Json& v) {
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

// Walks a report and throws UsageError("'file': where: problem") at the first
// field of the wrong type. Only the fields compare and merge read are checked;
// unknown extra fields are allowed, as the schema allows them.
class ReportChecker {
 public:
  explicit ReportChecker(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void Fail(const std::string& where, const std::string& problem) const {
    throw UsageError(fmt::format("'{}': {}: {}", path_, where, problem));
  }

  // Returns obj[key], failing when obj has no such key.
  const Json& Get(const Json& obj, const char* key, const std::string& where) const {
    const auto it = obj.find(key);
    if (it == obj.end()) Fail(Join(where, key), "missing");
    return *it;
  }

  const Json& Object(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_object()) Fail(Join(where, key), "is " + Describe(v) + ", expected an object");
    return v;
  }
  const Json& Array(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_array()) Fail(Join(where, key), "is " + Describe(v) + ", expected an array");
    return v;
  }
  void String(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_string()) Fail(Join(where, key), "is " + Describe(v) + ", expected a string");
  }
  void OptionalString(const Json& obj, const char* key, const std::string& where) const {
    if (obj.contains(key)) String(obj, key, where);
  }
  void Bool(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_boolean()) Fail(Join(where, key), "is " + Describe(v) + ", expected true or false");
  }
  void Integer(const Json& obj, const char* key, const std::string& where, int64_t min) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_number_integer())
      Fail(Join(where, key), "is " + Describe(v) + ", expected an integer");
    if (v.is_number_unsigned() ? false : v.get<int64_t>() < min)
      Fail(Join(where, key), fmt::format("is {}, expected at least {}", v.dump(), min));
  }
  // A plain JSON number (the schema's "type": "number").
  void Number(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!v.is_number()) Fail(Join(where, key), "is " + Describe(v) + ", expected a number");
  }
  // A schema number: a JSON number or "NaN" / "Infinity" / "-Infinity".
  void SchemaNumber(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Get(obj, key, where);
    if (!ReadNumber(v))
      Fail(Join(where, key), "is " + Describe(v) +
                                 ", expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
  }
  // Timing samples: at least one, each a finite number of seconds >= 0 (a
  // negative or non-finite time is a corrupt report, not a measurement).
  void SecondsArray(const Json& obj, const char* key, const std::string& where) const {
    const Json& v = Array(obj, key, where);
    if (v.empty()) Fail(Join(where, key), "is empty, expected at least one sample");
    for (size_t i = 0; i < v.size(); ++i) CheckSeconds(v[i], fmt::format("{}[{}]", Join(where, key), i));
  }
  void Seconds(const Json& obj, const char* key, const std::string& where) const {
    CheckSeconds(Get(obj, key, where), Join(where, key));
  }
  void CheckSeconds(const Json& v, const std::string& where) const {
    const std::optional<double> d = v.is_number() || v.is_string() ? ReadNumber(v) : std::nullopt;
    if (!d) Fail(where, "is " + Describe(v) + ", expected a number of seconds");
    if (!std::isfinite(*d)) Fail(where, fmt::format("is {}, expected a finite number of seconds", v.dump()));
    if (*d < 0) Fail(where, fmt::format("is {}, expected a number of seconds >= 0", v.dump()));
  }
  void OneOf(const Json& obj, const char* key, const std::string& where,
             std::initializer_list<const char*> allowed) const {
    String(obj, key, where);
    const std::string s = obj.at(key).get<std::string>();
    std::string list;
    for (const char* a : allowed) {
      if (s == a) return;
      AppendJoined(list, ", ", a);
    }
    Fail(Join(where, key), fmt::format("is \"{}\", expected one of {}", EscapeForTerminal(s), list));
  }

  static std::string Join(const std::string& where, const char* key) {
    return where.empty() ? std::string(key) : where + "." + key;
  }

  void CheckTool(const Json& doc) const {
    const Json& tool = Object(doc, "tool", "");
    for (const char* key : {"name", "version", "git_sha", "build_type", "compiler", "cxx_flags"})
      String(tool, key, "tool");
  }

  void CheckContext(const Json& doc, bool merged) const {
    const Json& ctx = Object(doc, "context", "");
    for (const char* key : {"date", "hostname", "machine", "os"}) String(ctx, key, "context");
    Array(ctx, "argv", "context");
    const Json& cpu = Object(ctx, "cpu", "context");
    String(cpu, "model", "context.cpu");
    Integer(cpu, "hardware_threads", "context.cpu", 1);
    Integer(cpu, "llc_bytes", "context.cpu", 0);
    Array(ctx, "gpus", "context");
    if (merged) {
      const Json& machines = Array(ctx, "machines", "context");
      for (size_t i = 0; i < machines.size(); ++i)
        if (!machines[i].is_object())
          Fail(fmt::format("context.machines[{}]", i), "is " + Describe(machines[i]) + ", expected an object");
    }
  }

  void CheckCeiling(const Json& c, const std::string& where) const {
    if (!c.is_object()) Fail(where, "is " + Describe(c) + ", expected an object");
    String(c, "device", where);
    OptionalString(c, "machine", where);
    Integer(c, "threads", where, 0);
    String(c, "method", where);
    Integer(c, "bytes_per_copy", where, 0);
    SecondsArray(c, "samples_s", where);
    Seconds(c, "median_s", where);
    Number(c, "bandwidth_gbps", where);
    SchemaNumber(c, "noise", where);
  }

  void CheckErrorStats(const Json& s, const std::string& where) const {
    if (!s.is_object()) Fail(where, "is " + Describe(s) + ", expected an object");
    for (const char* key : {"checked", "failed", "nan_mismatch", "unwritten"})
      Integer(s, key, where, 0);
    for (const char* key : {"max_abs", "max_rel", "max_ulp", "rel_l2", "max_bound_ratio"})
      SchemaNumber(s, key, where);
  }

  void CheckCase(const Json& c, size_t index) const {
    std::string where = fmt::format("cases[{}]", index);
    if (!c.is_object()) Fail(where, "is " + Describe(c) + ", expected an object");
    String(c, "id", where);
    where += " (" + EscapeForTerminal(c.at("id").get<std::string>()) + ")";
    for (const char* key : {"backend", "variant", "requested_variant", "device", "machine", "reason", "repro"})
      String(c, key, where);
    Bool(c, "peer", where);
    Integer(c, "threads", where, 0);
    OneOf(c, "status", where, {"passed", "failed", "skipped", "unsupported", "error"});

    const std::string pw = where + ".problem";
    const Json& problem = Object(c, "problem", where);
    Integer(problem, "rows", pw, 0);
    Integer(problem, "cols", pw, 1);
    OneOf(problem, "dtype", pw, {"f32", "bf16", "f16"});
    Number(problem, "eps", pw);
    Bool(problem, "affine", pw);
    Bool(problem, "stats", pw);
    String(problem, "dist", pw);
    Integer(problem, "seed", pw, 0);
    OneOf(problem, "op", pw, {"layernorm", "rmsnorm"});
    OneOf(problem, "dir", pw, {"fwd", "bwd"});

    const Json& accuracy = Get(c, "accuracy", where);
    if (!accuracy.is_null()) {
      const std::string aw = where + ".accuracy";
      if (!accuracy.is_object()) Fail(aw, "is " + Describe(accuracy) + ", expected an object or null");
      Bool(accuracy, "passed", aw);
      const Json& tensors = Object(accuracy, "tensors", aw);
      for (const auto& [name, stats] : tensors.items()) {
        if (!ParseTensorName(name)) Fail(Join(aw + ".tensors", name.c_str()), "is not a tensor name");
        CheckErrorStats(stats, Join(aw + ".tensors", name.c_str()));
      }
    }

    const Json& timing = Get(c, "timing", where);
    if (!timing.is_null()) {
      const std::string tw = where + ".timing";
      if (!timing.is_object()) Fail(tw, "is " + Describe(timing) + ", expected an object or null");
      OneOf(timing, "mode", tw, {"hot", "cold"});
      Integer(timing, "batch", tw, 1);
      SecondsArray(timing, "samples_s", tw);
      for (const char* key : {"min_s", "median_s", "mean_s", "max_s", "p10_s", "p90_s"})
        Seconds(timing, key, tw);
      SchemaNumber(timing, "noise", tw);
    }

    const Json& bytes = Object(c, "bytes", where);
    for (const char* key : {"read", "written", "total"}) Integer(bytes, key, where + ".bytes", 0);

    const Json& throughput = Get(c, "throughput", where);
    if (!throughput.is_null()) {
      const std::string hw = where + ".throughput";
      if (!throughput.is_object())
        Fail(hw, "is " + Describe(throughput) + ", expected an object or null");
      Number(throughput, "bandwidth_gbps", hw);
      Number(throughput, "elements_per_s", hw);
      SchemaNumber(throughput, "ceiling_gbps", hw);
      SchemaNumber(throughput, "fraction_of_ceiling", hw);
      String(throughput, "ceiling_method", hw);
    }
    Object(c, "details", where);
  }

  void CheckSummary(const Json& doc) const {
    const Json& summary = Object(doc, "summary", "");
    for (const char* key : {"cases", "passed", "failed", "skipped", "unsupported", "errors"})
      Integer(summary, key, "summary", 0);
  }

 private:
  std::string path_;
};

}  // namespace

std::string LoadedReport::machine() const {
  return json.at("context").at("machine").get<std::string>();
}

std::string LoadedReport::timing_mode() const {
  const Json& config = json.at("config");
  const auto timing = config.find("timing");
  if (timing == config.end() || !timing->is_object()) return "";
  const auto mode = timing->find("mode");
  if (mode == timing->end() || !mode->is_string()) return "";
  const std::string m = mode->get<std::string>();
  return (m == "hot" || m == "cold") ? m : "";
}

namespace {

// Builds the document like nlohmann's own DOM parser, and also keeps the path
// of the value being read (for messages) and the nesting depth: a document
// nested deeper than kMaxJsonDepth is refused before it can exhaust the stack
// of anything that walks it (the parser itself does not recurse).
class BoundedDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;
  BoundedDomParser(Json& root, const std::string& path) : Base(root, true), path_(path) {}

  bool null() { return Value() && Base::null(); }
  bool boolean(bool v) { return Value() && Base::boolean(v); }
  bool number_integer(Json::number_integer_t v) { return Value() && Base::number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Value() && Base::number_unsigned(v); }
  bool number_float(Json::number_float_t v, const std::string& s) { return Value() && Base::number_float(v, s); }
  bool string(std::string& v) { return Value() && Base::string(v); }
  bool binary(Json::binary_t& v) { return Value() && Base::binary(v); }
  bool start_object(std::size_t n) { return Open(false) && Base::start_object(n); }
  bool start_array(std::size_t n) { return Open(true) && Base::start_array(n); }
  bool end_object() { return Close() && Base::end_object(); }
  bool end_array() { return Close() && Base::end_array(); }
  bool key(std::string& k) {
    frames_.back().key = k;
    return Base::key(k);
  }

  template <class Exception>
  bool parse_error(std::size_t byte, const std::string& last_token, const Exception& ex) {
    // nlohmann reports a number too large for a double (1e309) as
    // out_of_range 406; name the field it was meant for.
    if (ex.id == 406) {
      if (!frames_.empty() && frames_.back().array) frames_.back().index = frames_.back().count;
      throw UsageError(fmt::format("'{}': {}: number {} is out of range (larger than a double holds)",
                                   path_, Where(), EscapeForTerminal(last_token)));
    }
    return Base::parse_error(byte, last_token, ex);
  }

 private:
  struct Frame {
    bool array = false;
    size_t count = 0;  // arrays: values seen so far
    size_t index = 0;  // arrays: index of the value being read
    std::string key;   // objects: key of the value being read
  };

  // Called at the start of every value: advances the index of the enclosing array.
  bool Value() {
    if (!frames_.empty() && frames_.back().array) frames_.back().index = frames_.back().count++;
    return true;
  }
  bool Open(bool array) {
    Value();
    if (frames_.size() >= kMaxJsonDepth)
      throw UsageError(fmt::format("'{}': nested too deeply (more than {} levels of arrays and objects)",
                                   path_, kMaxJsonDepth));
    frames_.push_back(Frame{array, 0, 0, {}});
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }
  // Returns the path of the value being read ("cases[3].timing.samples_s[0]").
  std::string Where() const {
    std::string out;
    for (const Frame& f : frames_) {
      if (f.array) out += fmt::format("[{}]", f.index);
      else if (!f.key.empty()) out += (out.empty() ? "" : ".") + EscapeForTerminal(f.key);
    }
    return out.empty() ? "document" : out;
  }

  std::string path_;
  std::vector<Frame> frames_;
};

}  // namespace

Json ParseJsonText(const std::string& path, const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw UsageError("'" + path + "': empty file, expected an lnbench JSON report");
  Json doc;
  try {
    BoundedDomParser sax(doc, path);
    Json::sax_parse(text, &sax);
  } catch (const Json::parse_error& e) {
    // nlohmann's text starts "[json.exception.parse_error.101] parse error at ...".
    std::string what = e.what();
    if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    // ... and may end with "; last read: '<up to a whole line of the file>'".
    if (const auto pos = what.find("; last read:"); pos != std::string::npos) what.resize(pos);
    const bool truncated =
        e.byte >= text.size() || what.find("unexpected end of input") != std::string::npos;
    throw UsageError(fmt::format("'{}': {}: {}", path,
                                 truncated ? "truncated or incomplete JSON" : "not valid JSON",
                                 EscapeForTerminal(what)));
  } catch (const Json::exception& e) {
    // Any other library error (none is expected): still a bad file, exit 2.
    throw UsageError(fmt::format("'{}': not valid JSON: {}", path, EscapeForTerminal(e.what())));
  }
  if (!doc.is_object())
    throw UsageError(fmt::format("'{}': not an lnbench report (the document is {}, expected an object)",
                                 path, Describe(doc)));
  return doc;
}

Json ParseJsonFile(const std::string& path) {
  return ParseJsonText(path, ReadWholeRegularFile(path, kMaxReportBytes, "a report"));
}

std::optional<int64_t> SchemaVersionOf(const Json& doc) {
  const auto it = doc.find("schema_version");
  if (it == doc.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

namespace {

// Rewrites a version-2 report (LayerNorm forward only, accuracy as y / mean /
// rstd fields, one bytes model string) as version 3, in place: every case
// becomes layernorm fwd, its y/mean/rstd become accuracy.tensors, the bytes
// model is keyed by the op. Fields of the wrong type are left for the checks
// that follow to name.
void UpgradeVersion2(Json& doc) {
  doc["schema_version"] = kReadableReportSchemaVersion;
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
    if (model.is_string() && c.contains("bytes") && c.at("bytes").is_object() &&
        !c.at("bytes").contains("model"))
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

LoadedReport CheckReport(const std::string& path, Json doc) {
  const ReportChecker check(path);
  if (!doc.contains("schema_version"))
    throw UsageError("'" + path + "': not an lnbench report (no schema_version)");
  const auto version = SchemaVersionOf(doc);
  if (!version) check.Fail("schema_version", "is " + Describe(doc.at("schema_version")) + ", expected an integer");
  if (*version == 1)
    throw UsageError(fmt::format("'{}': schema_version 1 is not supported (this lnbench reads version {}): "
                                 "its max_ulp is a bit distance, not ulps of the element's scale; "
                                 "rerun that case with this lnbench to compare",
                                 path, kReadableReportSchemaVersion));
  if (*version != kReadableReportSchemaVersion && *version != 2)
    throw UsageError(fmt::format("'{}': schema_version {} is not supported (this lnbench reads versions 2 and {})",
                                 path, *version, kReadableReportSchemaVersion));
  if (*version == 2) UpgradeVersion2(doc);
  check.String(doc, "kind", "");
  const std::string kind = doc.at("kind").get<std::string>();
  if (kind != kReportKind && kind != kMergedReportKind)
    throw UsageError(fmt::format("'{}': kind \"{}\" is not an lnbench report (expected \"{}\" or \"{}\")",
                                 path, EscapeForTerminal(kind), kReportKind, kMergedReportKind));
  check.CheckTool(doc);
  check.CheckContext(doc, kind == kMergedReportKind);
  check.Object(doc, "config", "");
  const Json& models = check.Object(doc, "bytes_model", "");
  for (const auto& [op, text] : models.items()) check.String(models, op.c_str(), "bytes_model");
  const Json& ceilings = check.Array(doc, "ceilings", "");
  for (size_t i = 0; i < ceilings.size(); ++i) check.CheckCeiling(ceilings[i], fmt::format("ceilings[{}]", i));
  const Json& cases = check.Array(doc, "cases", "");
  for (size_t i = 0; i < cases.size(); ++i) check.CheckCase(cases[i], i);
  check.CheckSummary(doc);
  return LoadedReport{path, std::move(doc)};
}

LoadedReport LoadReport(const std::string& path) { return CheckReport(path, ParseJsonFile(path)); }

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

Json NumberToJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

void AppendJoined(std::string& text, const std::string& separator, const std::string& item) {
  if (!text.empty()) text += separator;
  text += item;
}

std::vector<double> TimingSamples(const Json& report_case) {
  std::vector<double> samples;
  const Json& timing = report_case.at("timing");
  if (timing.is_null()) return samples;
  for (const Json& s : timing.at("samples_s")) samples.push_back(s.get<double>());
  return samples;
}

}  // namespace lnbench
