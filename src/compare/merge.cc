#include "compare/merge.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "compare/compare.h"
#include "core/bounded_read.h"
#include "core/errors.h"
#include "io/file_io.h"
#include "io/json_text.h"
#include "report/report.h"

namespace lnbench {

namespace {

// Returns the distinct strings of `values`, in first-seen order, joined by "; ".
std::string JoinDistinct(const std::vector<std::string>& values) {
  std::set<std::string> seen;
  std::string out;
  for (const auto& v : values)
    if (!v.empty() && seen.insert(v).second) AppendJoined(out, "; ", v);
  return out;
}

// Returns obj[key] when it is a string, else "".
std::string StringField(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// Returns the context.machines entries an input contributes: its own context
// (with where it came from), or the entries of an already merged report.
std::vector<Json> MachineEntries(const LoadedReport& input) {
  const Report& r = input.report;
  if (r.merged() && r.context.machines) return *r.context.machines;
  Json entry;
  entry["report"] = input.path;
  const Json context = ToJson(r.context);
  for (const auto& [key, value] : context.items()) entry[key] = value;
  entry["tool"] = ToJson(r.tool);
  entry["config"] = r.config;
  return {entry};
}

}  // namespace

std::string UtcNowIso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

Report MergeReports(const std::vector<LoadedReport>& inputs, const MergeInfo& info) {
  if (inputs.empty()) throw UsageError("merge: no reports given");
  Report merged;
  merged.kind = kMergedReportKind;
  merged.tool = ThisTool();

  // Bytes decide what GB/s means; reports that count one op's bytes
  // differently cannot share one model. The merged models are the union.
  // (Looked up in maps: a report of 200,000 ops must not take minutes.)
  std::map<std::string, std::string> model_owner;  // op -> input path
  std::map<std::string, size_t> model_index;       // op -> index in merged.bytes_model
  for (const auto& in : inputs)
    for (const auto& [op, text] : in.report.bytes_model) {
      const auto [it, added] = model_index.emplace(op, merged.bytes_model.size());
      if (added) {
        merged.bytes_model.emplace_back(op, text);
        model_owner[op] = in.path;
      } else if (const std::string& have = merged.bytes_model[it->second].second; have != text) {
        throw UsageError(fmt::format("'{}' and '{}' count the bytes of {} differently (bytes_model \"{}\" vs \"{}\"): "
                                     "their GB/s cannot be merged",
                                     model_owner[op], in.path, EscapeForTerminal(op), EscapeForTerminal(have),
                                     EscapeForTerminal(text)));
      }
    }

  std::vector<Json> machines;
  for (const auto& in : inputs)
    for (auto& entry : MachineEntries(in)) machines.push_back(std::move(entry));

  // Cases keep their machine; the same case twice on one machine would make
  // every later comparison ambiguous.
  std::map<std::string, std::string> owner;  // key -> input path
  for (const auto& in : inputs) {
    const std::string mode = in.timing_mode();
    for (const ReportCase& c : in.cases()) {
      const auto [it, inserted] = owner.emplace(CaseKey(c, /*with_machine=*/true, mode), in.path);
      if (!inserted)
        throw UsageError(fmt::format(
            "'{}' and '{}' both hold the case {} on machine '{}': merge reports of different cases or machines "
            "(hosts of one CPU model: run each with --machine NAME)",
            it->second, in.path, EscapeForTerminal(CaseLabel(c, mode)), EscapeForTerminal(c.machine)));
      merged.cases.push_back(c);
    }
  }

  for (const auto& in : inputs)
    for (ReportCeiling ceiling : in.report.ceilings) {
      if (!ceiling.machine) ceiling.machine = in.machine();
      merged.ceilings.push_back(std::move(ceiling));
    }

  std::vector<std::string> hostnames, labels, oses, models;
  std::set<std::string> gpus_seen;  // each GPU once, by its JSON text
  ReportContext& context = merged.context;
  for (const Json& m : machines) {
    hostnames.push_back(StringField(m, "hostname"));
    labels.push_back(StringField(m, "machine"));
    oses.push_back(StringField(m, "os"));
    if (const auto cpu = m.find("cpu"); cpu != m.end() && cpu->is_object()) {
      models.push_back(StringField(*cpu, "model"));
      if (const auto t = cpu->find("hardware_threads"); t != cpu->end() && t->is_number_integer())
        context.cpu.hardware_threads = std::max(context.cpu.hardware_threads, t->get<int64_t>());
      if (const auto l = cpu->find("llc_bytes"); l != cpu->end() && l->is_number_integer())
        context.cpu.llc_bytes = std::max(context.cpu.llc_bytes, l->get<int64_t>());
    }
    if (const auto g = m.find("gpus"); g != m.end() && g->is_array())
      for (const Json& gpu : *g)
        if (gpus_seen.insert(gpu.dump()).second) context.gpus.push_back(gpu);
  }
  context.date = info.date;
  context.argv = info.argv;
  context.hostname = JoinDistinct(hostnames);
  context.machine = JoinDistinct(labels);
  context.os = JoinDistinct(oses);
  // Several machines have no one CPU: the models joined, and the largest
  // thread count and last-level cache (each machine's own is in `machines`).
  context.cpu.model = JoinDistinct(models);
  context.machines = std::move(machines);

  Json paths = Json::array();
  for (const auto& in : inputs) paths.push_back(in.path);
  merged.config = Json::object();
  merged.config["merged_reports"] = std::move(paths);

  ReportSummary& summary = merged.summary;
  summary.cases = static_cast<int64_t>(merged.cases.size());
  for (const ReportCase& c : merged.cases) {
    if (c.status == "passed") ++summary.passed;
    if (c.status == "failed") ++summary.failed;
    if (c.status == "skipped") ++summary.skipped;
    if (c.status == "unsupported") ++summary.unsupported;
    if (c.status == "error") ++summary.errors;
  }
  // What only a run knows is kept: its own warnings (a busy machine, ...),
  // each prefixed with its report, and the counts of peer failures and of
  // cases with warnings (the inputs hold no case twice, so they add up).
  for (const auto& in : inputs) {
    if (in.report.warnings) {
      if (!merged.warnings) merged.warnings.emplace();
      for (ReportWarning w : *in.report.warnings) {
        w.message = fmt::format("{}: {}", in.path, w.message);
        merged.warnings->push_back(std::move(w));
      }
    }
    if (in.report.summary.peer_failed)
      summary.peer_failed = summary.peer_failed.value_or(0) + *in.report.summary.peer_failed;
    if (in.report.summary.warnings)
      summary.warnings = summary.warnings.value_or(0) + *in.report.summary.warnings;
  }
  return merged;
}

int RunMerge(const MergeConfig& config, const std::vector<std::string>& argv, std::ostream& out) {
  if (config.input_paths.empty()) throw UsageError("merge: no reports given");
  for (const auto& path : config.input_paths) ProtectInput(path);
  CheckOutputFile("-o", config.output_path);

  std::string errors;
  const auto add_error = [&](const std::string& e) { AppendJoined(errors, "; ", e); };
  // Every input is read and checked before failing, so one run names every bad file.
  std::vector<std::pair<std::string, Json>> docs;
  for (const auto& path : config.input_paths) {
    try {
      docs.emplace_back(path, ParseJsonFile(path));
    } catch (const UsageError& e) {
      add_error(e.what());
    }
  }
  // Different schema versions first: that explains every other difference.
  // Version 2 reads as version 3 (layernorm fwd), so the two merge.
  const auto readable_as = [](std::optional<int64_t> v) {
    if (v && *v == 2) return std::optional<int64_t>(kReportSchemaVersion);
    return v;
  };
  for (const auto& [path, doc] : docs) {
    const auto v0 = SchemaVersionOf(docs[0].second);
    const auto v = SchemaVersionOf(doc);
    if (readable_as(v0) && readable_as(v) && *readable_as(v0) != *readable_as(v)) {
      add_error(fmt::format("schema versions differ: '{}' has {}, '{}' has {}: merge reads reports of one "
                            "schema version together (version 2 as 3)",
                            docs[0].first, *v0, path, *v));
      throw UsageError(errors);
    }
  }
  std::vector<LoadedReport> inputs;
  for (auto& [path, doc] : docs) {
    try {
      inputs.push_back(CheckReport(path, std::move(doc)));
    } catch (const UsageError& e) {
      add_error(e.what());
    }
  }
  if (!errors.empty()) throw UsageError(errors);

  const Report merged = MergeReports(inputs, MergeInfo{UtcNowIso8601(), argv});
  const std::string text = DumpJsonText(ReportToJson(merged));
  // With "-o -" the report is the standard output; the summary goes to stderr.
  const bool to_stdout = IsStdoutPath(config.output_path);
  if (to_stdout) {
    out << text;
  } else {
    WriteFileAtomically(config.output_path, text);
  }
  (to_stdout ? std::cerr : out) << fmt::format("merged {} report{} ({} cases from {} machine entr{}) into {}\n", inputs.size(),
                     inputs.size() == 1 ? "" : "s", merged.cases.size(),
                     merged.context.machines->size(),
                     merged.context.machines->size() == 1 ? "y" : "ies", to_stdout ? "standard output" : config.output_path);
  out.flush();
  return kExitOk;
}

}  // namespace lnbench
