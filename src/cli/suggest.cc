#include "cli/suggest.h"

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

}  // namespace

std::string ExplainParseFailure(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  const CLI::App* sub = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (sub == nullptr) {
      if (arg.empty() || arg[0] == '-') continue;  // --help, --version: CLI11's own
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
  return "";
}

}  // namespace lnbench
