// `lnbench run`: verify, then time, every selected case.
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lnbench {

namespace {
struct RunOptions {
  ProblemOptions problem;
  std::string json;
  std::string plot;
  int warmup = 2;
  int min_samples = 10;
  int max_samples = 2000;
  double max_noise_pct = 0.5;
  double time_budget = 0.5;
  bool cold = false;
  std::string ceiling = "shared";
  bool ceiling_per_case = false;  // the older spelling of --ceiling per-case
};

// The default job: every available backend on a short sweep of real model
// widths, inputs of 64 MiB (beyond the last-level cache of most CPUs).
constexpr const char* kDefaultCols = "models";
}  // namespace

CommandFn AddRunCommand(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "verify every case against the float64 reference, then time the ones that pass");
  AddProblemOptions(cmd, opts->problem, /*for_verify=*/false);
  cmd->add_option("--json", opts->json,
                  "write the JSON report here (atomically; '-' = standard output, the table then goes to stderr)")
      ->check(NonEmpty());
  cmd->add_option("--plot", opts->plot,
                  "after the run, draw charts into this folder, created if missing (needs matplotlib)")
      ->check(NonEmpty());
  cmd->add_option("--warmup", opts->warmup, "untimed runs before sampling")
      ->check(WholeNumber())->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--min-samples", opts->min_samples, "samples at least")
      ->check(WholeNumber())->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--max-samples", opts->max_samples, "samples at most")
      ->check(WholeNumber())->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--max-noise", opts->max_noise_pct,
                  "stop sampling when the median's relative standard error is below this (percent)")
      ->check(Finite())->check(CLI::Range(0.0, 100.0))->capture_default_str();
  cmd->add_option("--time-budget", opts->time_budget,
                  "sampling per case at most: seconds (0.5), or with a unit (0.5s, 200ms)")
      ->transform(Seconds())
      ->check(Finite())->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->add_flag("--cold", opts->cold,
                "flush caches before every sample (CPU: stream 4x the last-level cache; GPU: L2)");
  CLI::Option* ceiling =
      cmd->add_option("--ceiling", opts->ceiling,
                      "when the copy ceiling is measured: shared (once per device, thread count and size "
                      "for the whole run), per-case (again right before every timed case) or paired "
                      "(copies between every case's samples, each sample divided by its own; for "
                      "machines whose bandwidth drifts)")
          ->check(CLI::IsMember({"shared", "per-case", "paired"}))
          ->capture_default_str();
  cmd->add_flag("--ceiling-per-case", opts->ceiling_per_case, "the same as --ceiling per-case")
      ->excludes(ceiling);
  return [opts] {
    ProblemOptions po = opts->problem;
    if (po.shapes.empty() && po.cols.empty() && po.input.empty()) po.cols = kDefaultCols;
    RunConfig config = MakeRunConfig(po, "run");
    if (opts->min_samples > opts->max_samples)
      throw UsageError("--min-samples is larger than --max-samples");
    config.timing.warmup_runs = opts->warmup;
    config.timing.min_samples = opts->min_samples;
    config.timing.max_samples = opts->max_samples;
    config.timing.max_noise = opts->max_noise_pct / 100;
    config.timing.time_budget_s = opts->time_budget;
    config.timing.cold = opts->cold;
    config.ceiling = opts->ceiling_per_case || opts->ceiling == "per-case" ? CeilingMode::kPerCase
                     : opts->ceiling == "paired"                          ? CeilingMode::kPaired
                                                                          : CeilingMode::kShared;
    config.measure = true;
    return ExecuteAndReport(config, po, opts->json, opts->plot);
  };
}

}  // namespace lnbench
