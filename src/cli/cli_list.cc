// `lnbench list`: backends with availability, variants and reasons; presets.
#include <fmt/format.h>

#include <memory>

#include "app/registry.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/shapes.h"

namespace lnbench {

CommandFn AddListCommand(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("list", "backends (availability, variants, reasons), shape presets, distributions");
  auto foreign = std::make_shared<ForeignOptions>();
  AddForeignOptions(cmd, *foreign);
  return [foreign] {
    RegisterForeignBackends(*foreign);
    for (Backend* b : AllBackends()) {
      const Verdict v = b->Available();
      const BackendOrigin origin = b->Origin();
      std::string from;
      if (origin.kind == "plugin")
        from = fmt::format(" (plugin {}, ABI {})", origin.path, origin.abi_version);
      else if (!origin.kind.empty())
        from = fmt::format(" ({}: {})", origin.kind, origin.path);
      fmt::print("{}{}{}: {}{}\n  {}\n", b->Name(), b->IsPeer() ? " (peer)" : "", from,
                 v.ok ? "available" : "unavailable", v.ok ? "" : " (" + v.reason + ")",
                 b->Description());
      const auto info = b->DeviceInfo();
      if (v.ok && !info.empty()) {
        std::string line;
        for (const auto& [k, val] : info) line += (line.empty() ? "" : ", ") + k + "=" + val;
        fmt::print("  device {}: {}\n", b->DeviceId(), line);
      }
      for (const auto& var : b->Variants()) {
        CaseOptions options{var.name, 0};
        Problem probe;
        probe.rows = 1;
        probe.cols = 1024;
        const Verdict s = v.ok ? b->Supports(probe, options) : Verdict::Yes();
        fmt::print("    {:<12} {}{}\n", var.name, var.description,
                   s.ok ? "" : " [unsupported here: " + s.reason + "]");
      }
    }
    fmt::print("\nshape presets (--cols NAME):\n");
    for (const auto& p : ShapePresets()) {
      std::string cols;
      for (int64_t c : p.cols) cols += (cols.empty() ? "" : ",") + std::to_string(c);
      fmt::print("  {:<9} {} [{}]\n", p.name, p.description, cols);
    }
    fmt::print("\ndistributions (--dist): ");
    std::string d;
    for (Distribution k : AllDistributions()) d += (d.empty() ? "" : ", ") + std::string(DistributionName(k));
    fmt::print("{}\n", d);
    return 0;
  };
}

}  // namespace lnbench
