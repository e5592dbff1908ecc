#include "cli/suggest.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

namespace lnbench {

int EditDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      const int cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string ClosestName(const std::string& word, const std::vector<std::string>& candidates) {
  const size_t len = word.size();
  const int allowed = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  std::string best;
  int best_distance = allowed + 1;
  for (const std::string& c : candidates) {
    const int d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string best = ClosestName(word, candidates);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

namespace {

// Returns the long names of `app`'s options as typed ("--json").
std::vector<std::string> LongOptions(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options())
    for (const std::string& n : opt->get_lnames()) names.push_back("--" + n);
  return names;
}

// Returns the subcommand of `app` called `name`, or nullptr.
const CLI::App* FindSubcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == name) return s;
  return nullptr;
}

}  // namespace

std::string ExplainConfigFailure(const CLI::App& app, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  // CLI11 reads it with a blocking open: a FIFO would hang here. The --config
  // check names such a file itself.
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  try {
    items = app.get_config_formatter_base()->from_file(path);
  } catch (const CLI::Error&) {
    return "";  // unreadable: CLI11's own message says so
  }
  std::vector<std::string> sections;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
    sections.push_back(s->get_name());
  const std::string where = "--config " + path + ": ";
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // a section opens or closes
    const CLI::App* scope = &app;
    std::string section;
    for (const std::string& parent : item.parents) {
      section += (section.empty() ? "" : ".") + parent;
      scope = scope == &app ? FindSubcommand(app, parent) : nullptr;
      if (scope == nullptr) {
        std::string have;
        for (const std::string& c : sections) have += (have.empty() ? "[" : ", [") + c + "]";
        const std::string near = ClosestName(parent, sections);
        return where + "unknown section [" + section + "]" + (near.empty() ? "" : " (did you mean [" + near + "]?)") +
               " (have: " + have + ")";
      }
    }
    if (scope->get_option_no_throw("--" + item.name) != nullptr ||
        (item.name.size() == 1 && scope->get_option_no_throw("-" + item.name) != nullptr))
      continue;
    std::vector<std::string> keys;
    for (const std::string& opt : LongOptions(*scope)) keys.push_back(opt.substr(2));
    if (scope == &app) {
      // A key of a command written outside its section.
      for (const std::string& c : sections)
        if (const CLI::App* sub = FindSubcommand(app, c); sub->get_option_no_throw("--" + item.name) != nullptr)
          return where + "key '" + item.name + "' outside a section: put it under [" + c + "] (or the section "
                 "of the command it is for)";
      return where + "unknown key '" + item.name + "'" + DidYouMean(item.name, keys) +
             " (keys go in a [run] or [verify] section)";
    }
    return where + "unknown key '" + item.name + "' in [" + section + "]" + DidYouMean(item.name, keys) +
           " (keys are the long options of lnbench " + section + " --help)";
  }
  return "";
}

std::string ExplainParseFailure(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  const CLI::App* sub = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (sub == nullptr) {
      if (!arg.empty() && arg[0] == '-') {
        // An option of lnbench itself before the command (--config FILE):
        // its value is not the command.
        const CLI::Option* opt = app.get_option_no_throw(arg);
        if (opt != nullptr && opt->get_items_expected_max() > 0) ++i;
        continue;  // --help, --version: CLI11's own
      }
      if (arg.empty()) continue;
      for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
        if (s->get_name() == arg) sub = s;
      if (sub == nullptr) {
        std::string have;
        for (const std::string& c : commands) have += (have.empty() ? "" : ", ") + c;
        return "unknown command '" + arg + "'" + DidYouMean(arg, commands) + " (have: " + have + ")";
      }
      continue;
    }
    if (arg == "--") break;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (name == "--help" || sub->get_option_no_throw(name) != nullptr || app.get_option_no_throw(name) != nullptr)
      continue;
    return "unknown option '" + name + "' for '" + sub->get_name() + "'" + DidYouMean(name, LongOptions(*sub)) +
           " (see lnbench " + sub->get_name() + " --help)";
  }
  // The command line is fine: a key of the --config file no command has.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string path;
    if (arg == "--config" && i + 1 < argc) path = argv[i + 1];
    else if (arg.rfind("--config=", 0) == 0) path = arg.substr(9);
    if (!path.empty()) return ExplainConfigFailure(app, path);
  }
  return "";
}

}  // namespace lnbench
