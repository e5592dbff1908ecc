// Options shared by `run` and `verify`: backends, variants, shapes, dtypes,
// distributions, numerics, input files. Bound as text, then turned into a
// RunConfig by one function that collects every problem and reports them together.
#ifndef LNBENCH_CLI_CLI_COMMON_H_
#define LNBENCH_CLI_CLI_COMMON_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/runner.h"
#include "report/table.h"

namespace lnbench {

// Foreign backends: plugins (shared libraries) and external commands, loaded
// into the registry before the configuration is checked.
struct ForeignOptions {
  std::vector<std::string> plugins;  // --plugin PATH.so (LNBENCH_PLUGIN_PATH adds more)
  std::vector<std::string> externals;  // --external NAME=COMMAND
  bool no_isolation = false;         // run plugins in lnbench's own process (--plugin-isolation none)
  std::string isolation = "auto";    // --plugin-isolation: auto, fork, exec, none
  double timeout_s = 60;             // per command to a plugin's child process or external command
  int device = 0;                    // --device N: the GPU (set before any backend is queried)
};

// Adds --plugin, --external, --plugin-isolation, --no-isolation, --plugin-timeout
// and --device to `cmd`.
void AddForeignOptions(CLI::App* cmd, ForeignOptions& opts);

// Selects the GPU (--device), then loads the plugins (and LNBENCH_PLUGIN_PATH's)
// and the external commands into the registry, once per process. Throws UsageError.
void RegisterForeignBackends(const ForeignOptions& opts);

struct ProblemOptions {
  ForeignOptions foreign;
  std::string backends = "all";
  std::string variants;  // "" = each backend's default
  std::string hwy_target;
  std::string shapes;        // "RxC,..."
  std::string cols;          // widths, sweeps, presets
  int64_t rows = -1;         // with --cols; -1 = from --input-bytes
  std::string input_bytes;   // with --cols
  std::string ops = "layernorm";  // --op: layernorm, rmsnorm, comma-separated, or 'all'
  std::string dirs = "fwd";       // --dir: fwd, bwd, comma-separated, or 'all'
  std::string dtypes = "f32";
  std::string dists = "normal";
  bool dists_given = false;  // --dist on the command line or in --config
  double eps = 1e-5;
  bool no_affine = false;
  bool stats = false;
  bool both_modes = false;   // verify: affine+stats and neither
  std::string seed = "1";   // text: parsed by ParseUint64, so -1 and 2^64 are refused
  std::string threads = "auto";
  std::string cpus;  // --cpus LIST ("" = not pinned)
  std::string input, gamma, beta, dy, dump;
  std::vector<std::string> tune;  // KEY=VALUE backend tuning (CaseOptions::tuning)
  bool coverage = false;          // add each backend's coverage cases (verify's default)
  bool quiet = false;
  bool show_skipped = false;
  std::string format = "table";  // standard output: table, md, csv, json
  std::string filter;             // --filter REGEX on case ids
  std::string machine;            // --machine LABEL: the report's machine ("" = the CPU model, + GPUs)
};

// Returns which failures set the exit code: with 'all' among the backends,
// peers not named are counted apart.
CountingRule CountingRuleFor(const ProblemOptions& opts);

// A CLI11 check refusing "": an empty --shape, --json... would silently mean
// "the default" or "nothing".
CLI::Validator NonEmpty();

// A CLI11 transform for durations: "0.2", "0.2s", "200ms", "500us" become
// seconds ("0.2", "0.0005").
CLI::Validator Seconds();

// A CLI11 check refusing what is not a number, NaN and infinities
// (CLI::Range lets NaN through).
CLI::Validator Finite();

// A CLI11 check refusing what is not a decimal whole number (1.5, 0x3, "").
CLI::Validator WholeNumber();

// Returns `text` as a decimal integer in 0..2^64-1. Throws UsageError naming
// `option` for a sign, another base, garbage or an out-of-range value (strtoull
// would wrap -1 and saturate 2^64 silently).
uint64_t ParseUint64(const std::string& option, const std::string& text);

// Adds the shared options to `cmd`, bound to `opts` (whose values are the defaults shown).
void AddProblemOptions(CLI::App* cmd, ProblemOptions& opts, bool for_verify);

// Builds the run configuration; throws UsageError listing every problem found.
RunConfig MakeRunConfig(const ProblemOptions& opts, const std::string& command);

// Returns the last part of the case ids of this configuration: "verify", "hot" or "cold".
std::string CaseIdMode(const RunConfig& config);

// Returns `config` with select set to the cases whose id matches `filter`
// (ECMAScript, searched); unchanged for "".
RunConfig WithFilter(const RunConfig& config, const std::string& filter);

// lnbench list --cases (cli_list.cc): prints the cases `config` plans, one
// id per line or as --format md/csv/json, and returns the exit code. Throws
// UsageError for outputs that belong to a run (--json, --plot) and for a
// --filter matching nothing.
int PrintPlannedCases(const RunConfig& config, const ProblemOptions& opts, const std::string& json_path,
                      const std::string& plot_dir);

// Runs the configuration with a progress line on stderr (when it is a
// terminal and not quiet), prints the table, writes the report if asked, and
// returns the exit code.
int ExecuteAndReport(const RunConfig& config, const ProblemOptions& opts,
                     const std::string& json_path, const std::string& plot_dir);

}  // namespace lnbench

#endif  // LNBENCH_CLI_CLI_COMMON_H_
