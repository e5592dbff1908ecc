// `lnbench list`: backends with availability, variants and reasons; presets;
// distributions. --format md/csv/json for tools; --cases for the planned cases.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "app/registry.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/suggest.h"
#include "core/bounded_read.h"
#include "core/errors.h"
#include "core/runner.h"
#include "core/shapes.h"
#include "io/json_text.h"
#include "report/report.h"
#include "report/table.h"

namespace lnbench {

namespace {

struct ListOptions {
  std::string format = "table";
};

struct VariantRow {
  std::string name, description;
  bool supported = true;
  std::string reason;
};

struct BackendRow {
  std::string name, description, device, reason;
  std::string origin;  // "" built in, else " (plugin PATH, ABI N)" / " (external: CMD)"
  bool peer = false, available = false;
  std::map<std::string, std::string> info;
  std::vector<VariantRow> variants;
};

std::vector<BackendRow> Backends() {
  std::vector<BackendRow> rows;
  for (Backend* b : AllBackends()) {
    BackendRow row;
    const Verdict v = b->Available();
    row.name = b->Name();
    row.description = b->Description();
    row.peer = b->IsPeer();
    row.available = v.ok;
    row.reason = v.ok ? "" : v.reason;
    row.device = b->DeviceId();
    const BackendOrigin origin = b->Origin();
    if (origin.kind == "plugin")
      row.origin = fmt::format(" (plugin {}, ABI {})", origin.path, origin.abi_version);
    else if (!origin.kind.empty())
      row.origin = fmt::format(" ({}: {})", origin.kind, origin.path);
    if (v.ok) row.info = b->DeviceInfo();
    for (const auto& var : b->Variants()) {
      CaseOptions options{var.name, 0, {}};
      // A probe in the variant's own direction (oneDNN's `backward` serves
      // --dir bwd alone): 1x1024 LayerNorm f32.
      Problem probe;
      probe.rows = 1;
      probe.cols = 1024;
      if (var.dir) probe.dir = *var.dir;
      const Verdict s = v.ok ? b->Supports(probe, options) : Verdict::Yes();
      row.variants.push_back({var.name, var.description, s.ok, s.ok ? "" : s.reason});
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string DistributionList() {
  std::string d;
  for (Distribution k : AllDistributions()) d += (d.empty() ? "" : ", ") + std::string(DistributionName(k));
  return d;
}

std::string PresetCols(const ShapePreset& p) {
  return fmt::format("{}", fmt::join(p.cols, ","));
}

void PrintTable(const std::vector<BackendRow>& backends) {
  for (const BackendRow& b : backends) {
    fmt::print("{}{}{}: {}{}\n  {}\n", b.name, b.peer ? " (peer)" : "", EscapeForTerminal(b.origin),
               b.available ? "available" : "unavailable",
               b.available ? "" : " (" + EscapeForTerminal(b.reason) + ")", EscapeForTerminal(b.description));
    if (b.available && !b.info.empty()) {
      std::string line;
      for (const auto& [k, val] : b.info) line += (line.empty() ? "" : ", ") + k + "=" + val;
      fmt::print("  device {}: {}\n", b.device, EscapeForTerminal(line));
    }
    for (const VariantRow& v : b.variants)
      fmt::print("    {:<12} {}{}\n", EscapeForTerminal(v.name), EscapeForTerminal(v.description),
                 v.supported ? "" : " [unsupported here: " + EscapeForTerminal(v.reason) + "]");
  }
  fmt::print("\nshape presets (--cols NAME):\n");
  for (const auto& p : ShapePresets()) fmt::print("  {:<9} {} [{}]\n", p.name, p.description, PresetCols(p));
  fmt::print("\ndistributions (--dist): {}\n", DistributionList());
}

void PrintJson(const std::vector<BackendRow>& backends) {
  nlohmann::ordered_json j;
  j["kind"] = "lnbench-list";
  j["backends"] = nlohmann::ordered_json::array();
  for (const BackendRow& b : backends) {
    nlohmann::ordered_json bj = {{"name", b.name},         {"peer", b.peer},
                                 {"available", b.available}, {"reason", b.reason},
                                 {"description", b.description}, {"device", b.device},
                                 {"origin", b.origin}};
    bj["device_info"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : b.info) bj["device_info"][k] = v;
    bj["variants"] = nlohmann::ordered_json::array();
    for (const VariantRow& v : b.variants)
      bj["variants"].push_back(
          {{"name", v.name}, {"description", v.description}, {"supported", v.supported}, {"reason", v.reason}});
    j["backends"].push_back(bj);
  }
  j["shape_presets"] = nlohmann::ordered_json::array();
  for (const auto& p : ShapePresets())
    j["shape_presets"].push_back({{"name", p.name}, {"description", p.description}, {"cols", p.cols}});
  j["distributions"] = nlohmann::ordered_json::array();
  for (Distribution k : AllDistributions()) j["distributions"].push_back(std::string(DistributionName(k)));
  fmt::print("{}", DumpJsonText(j));
}

// One row per variant: the backend's fields repeated.
std::vector<std::vector<std::string>> VariantRows(const std::vector<BackendRow>& backends) {
  std::vector<std::vector<std::string>> rows = {
      {"backend", "peer", "available", "variant", "supported", "reason", "description"}};
  for (const BackendRow& b : backends)
    for (const VariantRow& v : b.variants)
      rows.push_back({b.name, b.peer ? "1" : "0", b.available ? "1" : "0", v.name, v.supported ? "1" : "0",
                      b.available ? v.reason : b.reason, v.description});
  return rows;
}

// Prints `rows` (the first is the header) as csv or md (a GitHub table).
void PrintRows(const std::vector<std::vector<std::string>>& rows, const std::string& format) {
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t k = 0; k < rows[r].size(); ++k) {
      // A plugin's or command's own text (descriptions, reasons) may hold
      // line breaks or escape sequences: escaped, one row per line.
      const std::string cell = EscapeForTerminal(rows[r][k]);
      if (format == "csv") {
        const bool quote = cell.find_first_of(",\"\n") != std::string::npos;
        std::string q;
        for (char c : cell) q += c == '"' ? std::string("\"\"") : std::string(1, c);
        if (k) line += ',';
        line += quote ? "\"" + q + "\"" : cell;
      } else {
        std::string e;
        for (char c : cell) {
          if (c == '|' || c == '*' || c == '_' || c == '`') e += '\\';
          e += c == '\n' ? ' ' : c;
        }
        line += k ? " " : "| ";
        line += e;
        line += " |";
      }
    }
    fmt::print("{}\n", line);
    if (r == 0 && format == "md") {
      std::string sep = "|";
      for (size_t k = 0; k < rows[0].size(); ++k) sep += " --- |";
      fmt::print("{}\n", sep);
    }
  }
}

bool list_cases_mode = false;

// Returns "key=value,..." of a case's tuning.
std::string TuningText(const std::map<std::string, std::string>& tuning) {
  std::string t;
  for (const auto& [k, v] : tuning) t += (t.empty() ? "" : ",") + k + "=" + v;
  return t;
}

// Returns what becomes of a planned case: "run", "skipped" or "unsupported".
std::string Outcome(const PlannedCaseInfo& c) {
  if (c.runs) return "run";
  return std::string(CaseStatusName(c.identity.status));
}

}  // namespace

bool ListCasesMode() { return list_cases_mode; }

std::vector<std::string> RewriteListCases(const std::vector<std::string>& argv) {
  // The subcommand is the first word that is not an option or the value of
  // the one top-level option that takes a value (--config FILE).
  size_t sub = 0;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "--config") {
      ++i;
      continue;
    }
    if (!argv[i].empty() && argv[i][0] == '-') continue;
    sub = i;
    break;
  }
  if (sub == 0 || argv[sub] != "list") return argv;
  std::vector<std::string> out(argv.begin(), argv.begin() + static_cast<std::ptrdiff_t>(sub));
  std::string command;
  bool cases = false;
  std::vector<std::string> rest;
  for (size_t i = sub + 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      rest.insert(rest.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (a == "--cases" || a.rfind("--cases=", 0) == 0) {
      cases = true;
      std::string value = a.size() > 7 ? a.substr(8) : "";
      if (value.empty() && i + 1 < argv.size() && !argv[i + 1].empty() && argv[i + 1][0] != '-') value = argv[++i];
      if (!value.empty()) {
        if (value != "run" && value != "verify")
          throw UsageError("list --cases '" + value + "': expected run or verify (the command whose cases to list)" +
                           DidYouMean(value, {"run", "verify"}));
        command = value;
      }
      continue;
    }
    rest.push_back(a);
  }
  if (!cases) return argv;
  list_cases_mode = true;
  out.push_back(command.empty() ? "run" : command);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

int PrintPlannedCases(const RunConfig& config, const ProblemOptions& opts, const std::string& json_path,
                      const std::string& plot_dir) {
  if (!json_path.empty()) throw UsageError("--json goes with a run, not with list --cases (use --format json)");
  if (!plot_dir.empty()) throw UsageError("--plot goes with a run, not with list --cases");
  const std::vector<PlannedCaseInfo> cases = PlanCases(config);
  if (!opts.filter.empty() && cases.empty())
    throw UsageError("--filter '" + opts.filter + "' matches no case (list the ids without --filter)");
  const std::string mode = CaseIdMode(config);
  size_t skipped = 0, unsupported = 0;
  for (const PlannedCaseInfo& c : cases) {
    skipped += c.identity.status == CaseStatus::kSkipped && !c.runs;
    unsupported += c.identity.status == CaseStatus::kUnsupported && !c.runs;
  }
  if (opts.format == "table") {
    // One id per line, as googletest's --gtest_list_tests and google/benchmark's
    // --benchmark_list_tests: the names --filter matches.
    for (const PlannedCaseInfo& c : cases) fmt::print("{}\n", EscapeForTerminal(CaseIdWithMode(c.identity, mode)));
  } else if (opts.format == "json") {
    nlohmann::ordered_json j;
    j["kind"] = "lnbench-cases";
    j["command"] = config.command;
    j["cases"] = nlohmann::ordered_json::array();
    for (const PlannedCaseInfo& c : cases) {
      const CaseResult& r = c.identity;
      const Problem& p = r.problem;
      nlohmann::ordered_json cj;
      cj["id"] = CaseIdWithMode(r, mode);
      cj["backend"] = r.backend;
      cj["requested_variant"] = r.requested_variant;
      cj["peer"] = r.peer;
      cj["device"] = r.device;
      cj["threads"] = r.threads;
      cj["problem"] = {{"op", std::string(NormName(p.norm))},
                       {"dir", std::string(DirectionName(p.dir))},
                       {"rows", p.rows},
                       {"cols", p.cols},
                       {"dtype", std::string(DTypeName(p.dtype))},
                       {"dist", std::string(DistributionName(p.dist))},
                       {"eps", p.eps},
                       {"affine", p.affine},
                       {"stats", p.stats},
                       {"seed", p.seed}};
      cj["tuning"] = r.tuning;
      cj["coverage"] = r.coverage;
      cj["outcome"] = Outcome(c);
      cj["reason"] = r.reason;
      cj["repro"] = r.repro;
      j["cases"].push_back(cj);
    }
    fmt::print("{}", DumpJsonText(j));
  } else {
    std::vector<std::vector<std::string>> rows = {{"id", "op", "dir", "backend", "variant", "peer", "shape",
                                                   "dtype", "dist", "affine", "stats", "threads", "device", "tuning",
                                                   "coverage", "outcome", "reason", "repro"}};
    for (const PlannedCaseInfo& c : cases) {
      const CaseResult& r = c.identity;
      const Problem& p = r.problem;
      rows.push_back({CaseIdWithMode(r, mode), std::string(NormName(p.norm)), std::string(DirectionName(p.dir)),
                      r.backend, r.requested_variant.empty() ? "default" : r.requested_variant, r.peer ? "1" : "0",
                      fmt::format("{}x{}", p.rows, p.cols), std::string(DTypeName(p.dtype)),
                      std::string(DistributionName(p.dist)), p.affine ? "1" : "0", p.stats ? "1" : "0",
                      std::to_string(r.threads), r.device, TuningText(r.tuning), r.coverage, Outcome(c), r.reason,
                      r.repro});
    }
    PrintRows(rows, opts.format);
  }
  // The count on stderr, so standard output holds the list alone.
  fmt::print(stderr, "{} cases planned ({} to run, {} skipped, {} unsupported); nothing was run\n", cases.size(),
             cases.size() - skipped - unsupported, skipped, unsupported);
  return 0;
}

CommandFn AddListCommand(CLI::App& app) {
  auto opts = std::make_shared<ListOptions>();
  CLI::App* cmd =
      app.add_subcommand("list", "backends (availability, variants, reasons), shape presets, distributions");
  auto foreign = std::make_shared<ForeignOptions>();
  AddForeignOptions(cmd, *foreign);
  cmd->add_option("--format", opts->format,
                  "an aligned listing, md (markdown), csv (one line per variant) or json (everything)")
      ->check(CLI::IsMember({"table", "md", "csv", "json"}))
      ->capture_default_str();
  // Shown in the help only: `list --cases` is turned into the command whose
  // cases it lists before parsing (RewriteListCases).
  std::string cases_help;
  cmd->add_option("--cases", cases_help,
                  "list the cases `lnbench run` (--cases verify: `lnbench verify`) would run with the options "
                  "that follow (-b, --op, --shape, --cols, --dtype, --dist, --threads, --filter, --config ...), "
                  "one id per line (--format md/csv/json: with their fields), without running them");
  return [opts, foreign] {
    RegisterForeignBackends(*foreign);
    const std::vector<BackendRow> backends = Backends();
    if (opts->format == "table") {
      PrintTable(backends);
    } else if (opts->format == "json") {
      PrintJson(backends);
    } else {
      PrintRows(VariantRows(backends), opts->format);
    }
    return 0;
  };
}

}  // namespace lnbench
