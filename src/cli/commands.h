// The subcommands. Each Add*Command builds one subcommand on `app` (options
// bound to a config struct with defaults, checks attached) and returns the
// function that runs it after parsing; that function returns the exit code
// (0 ok, 1 verification failure or regression) or throws UsageError (2) /
// RuntimeError (3). Parsing and validation only here; no measurement.
#ifndef LNBENCH_CLI_COMMANDS_H_
#define LNBENCH_CLI_COMMANDS_H_

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lnbench {

using CommandFn = std::function<int()>;

CommandFn AddRunCommand(CLI::App& app);      // cli_run.cc
CommandFn AddVerifyCommand(CLI::App& app);   // cli_verify.cc
CommandFn AddListCommand(CLI::App& app);     // cli_list.cc
CommandFn AddCompareCommand(CLI::App& app);  // cli_compare.cc
CommandFn AddMergeCommand(CLI::App& app);    // cli_merge.cc

// The argv of this process, for reports.
const std::vector<std::string>& ProcessArgv();

}  // namespace lnbench

#endif  // LNBENCH_CLI_COMMANDS_H_
