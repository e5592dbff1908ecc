// `lnbench list`: backends with availability, variants and reasons; presets;
// distributions. --format md/csv/json for tools; --cases for the planned cases.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "app/registry.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/bounded_read.h"
#include "core/shapes.h"
#include "io/json_text.h"
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
      Problem probe;
      probe.rows = 1;
      probe.cols = 1024;
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
               b.available ? "" : " (" + EscapeForTerminal(b.reason) + ")", b.description);
    if (b.available && !b.info.empty()) {
      std::string line;
      for (const auto& [k, val] : b.info) line += (line.empty() ? "" : ", ") + k + "=" + val;
      fmt::print("  device {}: {}\n", b.device, EscapeForTerminal(line));
    }
    for (const VariantRow& v : b.variants)
      fmt::print("    {:<12} {}{}\n", v.name, v.description,
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

}  // namespace

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
  return [opts, foreign] {
    RegisterForeignBackends(*foreign);
    const std::vector<BackendRow> backends = Backends();
    if (opts->format == "table") {
      PrintTable(backends);
    } else if (opts->format == "json") {
      PrintJson(backends);
    } else {
      const auto rows = VariantRows(backends);
      for (size_t r = 0; r < rows.size(); ++r) {
        std::string line;
        for (size_t k = 0; k < rows[r].size(); ++k) {
          const std::string& cell = rows[r][k];
          if (opts->format == "csv") {
            const bool quote = cell.find_first_of(",\"\n") != std::string::npos;
            std::string q;
            for (char c : cell) q += c == '"' ? std::string("\"\"") : std::string(1, c);
            if (k) line += ',';
            line += quote ? "\"" + q + "\"" : cell;
          } else {
            std::string e;
            for (char c : cell) {
              if (c == '|' || c == '*' || c == '_' || c == '`') e += '\\';
              e += c;
            }
            line += k ? " " : "| ";
            line += e;
            line += " |";
          }
        }
        fmt::print("{}\n", line);
        if (r == 0 && opts->format == "md") {
          std::string sep = "|";
          for (size_t k = 0; k < rows[0].size(); ++k) sep += " --- |";
          fmt::print("{}\n", sep);
        }
      }
    }
    return 0;
  };
}

}  // namespace lnbench
