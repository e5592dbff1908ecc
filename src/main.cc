// lnbench: verify and benchmark LayerNorm kernels. main() is the one place
// that catches errors and maps them to exit codes: 0 ok, 1 verification
// failure or regression, 2 usage error, 3 runtime error.
#include <fmt/format.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <new>
#include <string_view>

#include "app/plugin_worker.h"
#include "cli/commands.h"
#include "cli/suggest.h"
#include "core/bounded_read.h"
#include "core/build_info.h"
#include "core/errors.h"
#include "io/file_io.h"

namespace lnbench {
namespace {

// Returns an error message as the one line it is printed as: control
// characters (a line break in a value, an escape sequence) escaped, and a
// message over 1000 bytes (a 3 MB key of a --config file) cut in the middle.
std::string OneLine(std::string_view message) {
  std::string text = EscapeForTerminal(message);
  constexpr size_t kMax = 1000;
  if (text.size() > kMax) {
    // Cut between characters, not inside a UTF-8 sequence.
    const auto boundary = [&](size_t i) {
      while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
      return i;
    };
    const size_t head = boundary(kMax / 2), tail = boundary(text.size() - kMax / 2);
    text = text.substr(0, head) + fmt::format("...({} bytes left out)...", tail - head) + text.substr(tail);
  }
  return text;
}

std::vector<std::string>& MutableArgv() {
  static std::vector<std::string> argv;
  return argv;
}
}  // namespace

const std::vector<std::string>& ProcessArgv() { return MutableArgv(); }

}  // namespace lnbench

int main(int argc, char** argv) {
  using namespace lnbench;
  // lnbench started as a plugin worker by itself (app/plugin_worker.h): not a
  // command of the CLI, and nothing of the CLI runs in it.
  if (argc >= 2 && std::string_view(argv[1]) == kPluginWorkerCommand) return PluginWorkerMain(argc, argv);
  for (int i = 0; i < argc; ++i) MutableArgv().push_back(argv[i]);
  CLI::App app{"lnbench: verify and benchmark LayerNorm kernels against a float64 reference"};
  app.set_version_flag("--version", fmt::format("lnbench {} ({})", LNBENCH_VERSION, LNBENCH_GIT_SHA));
  app.require_subcommand(1, 1);
  // Sweep files for CI (benchdnn's batch files): a TOML file with a [run] or
  // [verify] section of long option names; the command line wins. Given after
  // the subcommand too (fallthrough), as `lnbench verify --config ci.toml`.
  app.set_config("--config", "", "read options from a TOML file: [run] / [verify] sections (see examples/*.toml)")
      ->check(CLI::Validator(
          [](std::string& path) -> std::string {
            // A regular file only: CLI11 reads it with a blocking open, so a
            // FIFO would hang the run. A file read here is an input no output may replace.
            struct stat st;
            if (stat(path.c_str(), &st) != 0) return "'" + path + "': " + std::strerror(errno);
            if (!S_ISREG(st.st_mode)) return "'" + path + "': not a regular file";
            // CLI11 reads [run] and skips an array of tables ([[run]]) in silence.
            std::string text;
            try {
              text = ReadWholeRegularFile(path, 16u << 20, "a --config file");
            } catch (const UsageError& e) {
              return e.what();
            }
            for (size_t at = 0; at < text.size();) {
              const size_t end = std::min(text.find('\n', at), text.size());
              const size_t first = text.find_first_not_of(" \t", at);
              if (first < end && text.compare(first, 2, "[[") == 0)
                return "'" + path + "': " + text.substr(first, std::min<size_t>(end - first, 80)) +
                       " (an array of tables) is not read: give one [run] or [verify] section";
              at = end + 1;
            }
            ProtectInput(path);
            return "";
          },
          "FILE"));
  app.fallthrough();
  std::map<std::string, CommandFn> commands = {
      {"run", AddRunCommand(app)},         {"verify", AddVerifyCommand(app)},
      {"list", AddListCommand(app)},       {"compare", AddCompareCommand(app)},
      {"merge", AddMergeCommand(app)},
  };
  // A misspelled key in a sweep file is an error, not a silently ignored line.
  app.allow_config_extras(CLI::config_extras_mode::error);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    sub->allow_config_extras(CLI::config_extras_mode::error);
  // `list --cases [run|verify] ...` is parsed as the command whose cases it lists.
  std::vector<std::string> args;
  try {
    args = RewriteListCases(MutableArgv());
  } catch (const UsageError& e) {
    fmt::print(stderr, "lnbench: error: {}\n", OneLine(e.what()));
    return kExitUsage;
  }
  std::vector<const char*> arg_ptrs;
  for (const std::string& a : args) arg_ptrs.push_back(a.c_str());
  const int parse_argc = static_cast<int>(arg_ptrs.size());
  const char* const* parse_argv = arg_ptrs.data();
  try {
    app.parse(parse_argc, parse_argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // An unknown subcommand or option gets a "did you mean"; CLI11 says only
    // "The following arguments were not expected".
    std::string message = ExplainParseFailure(app, parse_argc, parse_argv);
    if (message.empty()) message = e.what();
    // An option given twice: with a --config file, the likely cause is there.
    if (message.find("At Most 1 required but received") != std::string::npos &&
        std::any_of(parse_argv, parse_argv + parse_argc, [](const char* a) {
          return std::string_view(a) == "--config" || std::string_view(a).rfind("--config=", 0) == 0;
        }))
      message += " (given twice, or as a TOML array in the --config file: give one value, comma-separated)";
    fmt::print(stderr, "lnbench: error: {}\n", OneLine(message));
    return kExitUsage;
  }
  try {
    return commands.at(app.get_subcommands().front()->get_name())();
  } catch (const UsageError& e) {
    // Messages quote file names and text read from files: escaped, so they
    // cannot drive the terminal or break the one line.
    fmt::print(stderr, "lnbench: error: {}\n", OneLine(e.what()));
    return kExitUsage;
  } catch (const RuntimeError& e) {
    fmt::print(stderr, "lnbench: runtime error: {}\n", OneLine(e.what()));
    return kExitRuntime;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "lnbench: runtime error: out of memory\n");
    return kExitRuntime;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lnbench: runtime error: {}\n", OneLine(e.what()));
    return kExitRuntime;
  }
}
