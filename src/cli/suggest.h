// "Did you mean" for misspelled names: subcommands, options, backends,
// variants, dtypes, distributions. CLI11 2.1 has no suggestions of its own,
// so main() and the option checks ask here.
#ifndef LNBENCH_CLI_SUGGEST_H_
#define LNBENCH_CLI_SUGGEST_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lnbench {

// Returns the optimal-string-alignment distance (insertions, deletions,
// substitutions and swaps of neighbours), ignoring ASCII case.
int EditDistance(const std::string& a, const std::string& b);

// Returns the candidate closest to `word`, or "" when none is close enough to
// be a typo of it (at most 1 edit for words up to 4 characters, 2 up to 8, 3 beyond).
std::string ClosestName(const std::string& word, const std::vector<std::string>& candidates);

// Returns " (did you mean 'x'?)" or "".
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);

// Looks at the command line a parse failed on and returns a better message
// when the cause is an unknown subcommand or option ("unknown command 'runn'
// (did you mean 'run'?)") or an unknown key of its --config file; "" when it
// finds none.
std::string ExplainParseFailure(const CLI::App& app, int argc, const char* const* argv);

}  // namespace lnbench

// Returns what is wrong with the --config file `path` for `app`: the first
// section no command has or key no option of its section has, with the
// nearest name ("--config f.toml: unknown key 'bakend' in [verify] (did you
// mean 'backend'?) ..."); "" when every key is known or the file is unreadable.
std::string ExplainConfigFailure(const CLI::App& app, const std::string& path);

#endif  // LNBENCH_CLI_SUGGEST_H_
