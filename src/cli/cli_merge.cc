// `lnbench merge A.json B.json ... -o ALL.json`: options into a MergeConfig,
// then compare/merge.h does the work.
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compare/merge.h"

namespace lnbench {

CommandFn AddMergeCommand(CLI::App& app) {
  auto config = std::make_shared<MergeConfig>();
  CLI::App* sc = app.add_subcommand(
      "merge", "combine reports from several machines or runs into one merged report");
  sc->footer(
      "The merged report follows the same schema (kind lnbench-merged-report): context.machines "
      "lists each input's context, every case and ceiling keeps its machine, and each run's own "
      "warnings are kept, prefixed with its file. Refuses reports of schema versions it cannot read "
      "as one (version 2 is read as 3), different bytes models, and the same case twice on one machine.");

  // clang-format off
  sc->add_option("reports", config->input_paths, "the reports to merge (lnbench run --json, or merged reports)")
      ->required()
      ->expected(1, std::numeric_limits<int>::max());  // the reader names every missing one
  sc->add_option("-o,--output", config->output_path,
                 "the merged report to write (atomically; '-' = standard output)")
      ->required()
      ->check(NonEmpty());
  // clang-format on

  return [config]() { return RunMerge(*config, ProcessArgv(), std::cout); };
}

}  // namespace lnbench
