// `lnbench verify`: correctness only, every distribution and edge shape, fast.
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/shapes.h"

namespace lnbench {

namespace {
struct VerifyOptions {
  ProblemOptions problem;
  std::string json;
  bool no_coverage = false;
};
}  // namespace

CommandFn AddVerifyCommand(CLI::App& app) {
  auto opts = std::make_shared<VerifyOptions>();
  opts->problem.dists = "all";
  opts->problem.dtypes = "all";
  opts->problem.variants = "all";
  CLI::App* cmd = app.add_subcommand(
      "verify", "correctness only: every variant, dtype, distribution and edge shape; no timing");
  AddProblemOptions(cmd, opts->problem, /*for_verify=*/true);
  cmd->add_option("--json", opts->json,
                  "write the JSON report here (atomically; '-' = standard output, the table then goes to stderr)")
      ->check(NonEmpty());
  cmd->add_flag("--no-coverage", opts->no_coverage,
                "without --shape/--cols: skip the backends' coverage cases (shapes and tuning "
                "that reach each of their code paths)");
  return [opts] {
    ProblemOptions po = opts->problem;
    if (po.shapes.empty() && po.cols.empty() && po.input.empty()) {
      po.shapes = kDefaultVerifyShapes;
      po.coverage = !opts->no_coverage;
    }
    if (!po.no_affine && !po.stats && !po.both_modes) po.both_modes = true;
    // --hwy-target names the one highway variant: it replaces verify's
    // default of every variant (it ran beside all of them).
    if (!po.hwy_target.empty() && po.variants == "all") po.variants.clear();
    RunConfig config = MakeRunConfig(po, "verify");
    config.measure = false;
    return ExecuteAndReport(config, po, opts->json, "");
  };
}

}  // namespace lnbench
