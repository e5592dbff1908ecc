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

// `lnbench list --cases [run|verify] OPTIONS` (cli_list.cc): returns the argv
// of `lnbench run|verify OPTIONS` (run when neither is named) and turns
// ListCasesMode() on, so the cases are planned by exactly the options, defaults
// and --config sections that would run them; any other argv comes back as it
// is. Throws UsageError for a --cases value other than run or verify.
std::vector<std::string> RewriteListCases(const std::vector<std::string>& argv);
// Whether this process lists planned cases instead of running them.
bool ListCasesMode();

// The argv of this process, for reports.
const std::vector<std::string>& ProcessArgv();

}  // namespace lnbench

#endif  // LNBENCH_CLI_COMMANDS_H_
