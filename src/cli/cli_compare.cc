// `lnbench compare BASE.json NEW.json`: options into a CompareConfig, then
// compare/compare.h does the work.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compare/compare.h"
#include "core/errors.h"

namespace lnbench {

namespace {

// The options as typed; ToConfig turns them into a CompareConfig.
struct CompareCliOptions {
  std::string base_path;
  std::string new_path;
  double alpha = CompareOptions{}.alpha;
  std::string max_slowdown = "5%";
  double max_ulp_growth = CompareOptions{}.max_ulp_growth;
  bool fail_on_missing = false;
  bool absolute = false;
  bool only_changes = false;
  std::string format = "table";
  std::string output_path;
};

// Returns the config, after checking every option; all problems are reported
// together in one UsageError.
CompareConfig ToConfig(const CompareCliOptions& o) {
  std::vector<std::string> errors;
  CompareConfig config;
  config.base_path = o.base_path;
  config.new_path = o.new_path;
  config.output_path = o.output_path;
  if (!(o.alpha > 0 && o.alpha < 1))
    errors.push_back(fmt::format("--alpha {}: expected a significance level between 0 and 1 (exclusive)", o.alpha));
  config.options.alpha = o.alpha;
  try {
    config.options.max_slowdown = ParseSlowdown(o.max_slowdown);
  } catch (const UsageError& e) {
    errors.push_back(e.what());
  }
  config.options.max_ulp_growth = o.max_ulp_growth;
  config.options.fail_on_missing = o.fail_on_missing;
  config.options.absolute = o.absolute;
  config.options.only_changes = o.only_changes;
  config.format = o.format == "md" ? CompareFormat::kMarkdown
                  : o.format == "json" ? CompareFormat::kJson
                                       : CompareFormat::kTable;
  if (!errors.empty()) {
    std::string text;
    for (const auto& e : errors) AppendJoined(text, "; ", e);
    throw UsageError(text);
  }
  return config;
}

}  // namespace

CommandFn AddCompareCommand(CLI::App& app) {
  auto options = std::make_shared<CompareCliOptions>();
  CLI::App* sc = app.add_subcommand(
      "compare", "compare two reports case by case: timing (Mann-Whitney U test) and accuracy");
  sc->footer(
      "A regression: a slowdown over --max-slowdown that the U test finds significant at --alpha, "
      "a case that passed and now fails, or (same machine only) a max ulp growth over --max-ulp-growth.\n"
      "Reports from different machines are compared as fractions of each run's copy ceiling.\n"
      "Exit: 0 no regression, 1 regression, 2 bad input (missing, empty, truncated or foreign file).");
  auto& o = *options;

  // clang-format off
  // No CLI11 ExistingFile check: it stops at the first missing file, where
  // the reader names every bad input on one line.
  sc->add_option("base", o.base_path, "the baseline report (lnbench run --json)")
      ->required();
  sc->add_option("new", o.new_path, "the report to judge against the baseline")
      ->required();
  sc->add_option("--alpha", o.alpha,
                 "significance level of the two-sided Mann-Whitney U test on the timing samples")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sc->add_option("--max-slowdown", o.max_slowdown,
                 "slowdown of the median tolerated even when significant: a percentage (5%) or a fraction (0.05)")
      ->capture_default_str();
  sc->add_option("--max-ulp-growth", o.max_ulp_growth,
                 "how much the max ulp error of a case (ulps of the element's scale) may grow before it is a regression")
      ->check(Finite())
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sc->add_flag("--fail-on-missing", o.fail_on_missing,
               "a case present in only one report is a regression")
      ->capture_default_str();
  sc->add_flag("--absolute", o.absolute,
               "compare absolute times even when the reports come from different machines "
               "(by default those are compared as fractions of each run's copy ceiling)")
      ->capture_default_str();
  sc->add_flag("--only-changes", o.only_changes,
               "list only regressions, improvements and ambiguous cases (the verdict still covers every case)");
  sc->add_option("--format", o.format, "output: an aligned table, markdown (md, for a PR comment) or json")
      ->check(CLI::IsMember({"table", "md", "json"}))
      ->capture_default_str();
  sc->add_option("-o,--output", o.output_path,
                 "write the comparison to FILE (atomically) instead of standard output ('-')")
      ->check(NonEmpty());
  // clang-format on

  return [options]() { return RunCompare(ToConfig(*options), std::cout); };
}

}  // namespace lnbench
