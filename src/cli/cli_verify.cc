// `lnbench verify`: correctness only, every distribution and edge shape, fast.
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lnbench {

namespace {
// Edge shapes: empty, batch 1, benchdnn's CI shapes (15x3, 30x300, 257x768),
// loop tails (1, 3, 257, 1023, 2041), rows larger than any cache line
// multiple (65537) and H > 65536.
constexpr const char* kVerifyShapes =
    "0x768,1x1,1x4096,15x3,30x300,257x768,7x1,5x257,3x1023,2x2041,4x65537,2x131072";

struct VerifyOptions {
  ProblemOptions problem;
  std::string json;
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
  return [opts] {
    ProblemOptions po = opts->problem;
    if (po.shapes.empty() && po.cols.empty() && po.input.empty()) po.shapes = kVerifyShapes;
    if (!po.no_affine && !po.stats) po.both_modes = true;
    RunConfig config = MakeRunConfig(po, "verify");
    config.measure = false;
    return ExecuteAndReport(config, po, opts->json, "");
  };
}

}  // namespace lnbench
