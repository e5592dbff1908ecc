#include "cli/cli_common.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <regex.h>

#include "app/external_command.h"
#include "app/gpu_select.h"
#include "app/plugin_loader.h"
#include "app/registry.h"
#include "cli/commands.h"
#include "cli/suggest.h"
#include "core/bounded_read.h"
#include "core/build_info.h"
#include "core/context.h"
#include "core/default_threads.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "io/file_io.h"
#include "report/report.h"
#include "report/table.h"
#include "report/warnings.h"

namespace lnbench {

namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t pos = s.find(',', start);
    std::string item = s.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Runs argv (no shell) and returns its exit status, or -1 if it did not run.
int RunProgram(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const ChildAffinity affinity;  // --cpus: the program may use every listed CPU
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ForgetTempFilesAfterFork();
    affinity.Apply();
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Returns the path of scripts/plot: $LNBENCH_PLOT, in the source tree above the binary, or
// PREFIX/share/lnbench/scripts/plot of an installed one.
std::string FindPlotScript() {
  if (const char* env = std::getenv("LNBENCH_PLOT")) return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      // The source tree (build/lnbench), or an install prefix (bin/lnbench).
      for (const auto& candidate : {dir / "scripts" / "plot", dir / "share" / "lnbench" / "scripts" / "plot"})
        if (std::filesystem::exists(candidate, ec)) return candidate.string();
    }
  }
  return "";
}

void MakePlots(const std::string& report_path, const std::string& plot_dir) {
  const std::string script = FindPlotScript();
  if (script.empty()) {
    fmt::print(stderr, "lnbench: --plot: scripts/plot not found (set LNBENCH_PLOT to its path)\n");
    return;
  }
  if (RunProgram({"/usr/bin/python3", "-c", "import matplotlib, numpy"}) != 0) {
    fmt::print(stderr,
               "lnbench: --plot needs matplotlib and numpy for /usr/bin/python3: "
               "sudo apt-get install python3-matplotlib python3-numpy\n");
    return;
  }
  const int rc = RunProgram({"/usr/bin/python3", script, report_path, "-o", plot_dir});
  if (rc != 0) fmt::print(stderr, "lnbench: --plot: scripts/plot exited with {}\n", rc);
}

// Returns m:ss (or h:mm:ss) for the progress line.
std::string FormatClock(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

CountingRule CountingRuleFor(const ProblemOptions& o) {
  CountingRule rule;
  for (const std::string& name : SplitList(o.backends)) {
    const std::string n = Lower(name);
    if (n == "all") rule.peers_apart = true;
    else rule.named_backends.push_back(n);
  }
  return rule;
}

// --filter's pattern: a POSIX extended regular expression (egrep's), matched
// by glibc without backtracking (REG_NOSUB), so no pattern can take
// exponential time the way std::regex's ECMAScript matcher did on '(.*)*x'.
// Back-references, the one feature that needs backtracking, are refused.
class CaseFilter {
 public:
  explicit CaseFilter(const std::string& pattern) {
    for (size_t i = 0; i + 1 < pattern.size(); ++i) {
      if (pattern[i] != '\\') continue;
      if (pattern[i + 1] >= '1' && pattern[i + 1] <= '9')
        throw UsageError("--filter '" + pattern + "': back-references (\\" + pattern[i + 1] + ") are not supported");
      ++i;
    }
    if (const int rc = regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB); rc != 0) {
      char what[256];
      regerror(rc, &re_, what, sizeof what);
      throw UsageError("--filter '" + pattern + "': not a regular expression (" + what + ")");
    }
  }
  ~CaseFilter() { regfree(&re_); }
  CaseFilter(const CaseFilter&) = delete;
  CaseFilter& operator=(const CaseFilter&) = delete;
  bool Matches(const std::string& text) const { return regexec(&re_, text.c_str(), 0, nullptr, 0) == 0; }

 private:
  regex_t re_;
};

CLI::Validator NonEmpty() {
  return CLI::Validator([](std::string& s) { return s.empty() ? std::string("empty value") : std::string(); },
                        "", "NonEmpty");
}

// A comma-separated list: no empty value and no empty item ('f32,,bf16',
// ',' and '' were taken as the items given, or as the default).
CLI::Validator NonEmptyItems() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s.empty()) return "empty value";
        for (size_t start = 0;;) {
          const size_t pos = s.find(',', start);
          const std::string item = s.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
          if (item.find_first_not_of(" \t") == std::string::npos) return "an empty item in '" + s + "'";
          if (pos == std::string::npos) return "";
          start = pos + 1;
        }
      },
      "", "NonEmptyItems");
}

CLI::Validator Finite() {
  return CLI::Validator(
      [](std::string& s) {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        // (CLI11's range check would say "Value 1h not in range" of a word.)
        if (end == s.c_str() || *end != '\0') return "'" + s + "' is not a number";
        if (!std::isfinite(v)) return "'" + s + "' is not a finite number";
        return std::string();  // the range check follows
      },
      "", "Finite");
}

CLI::Validator WholeNumber() {
  return CLI::Validator(
      [](std::string& s) {
        // Decimal digits, a sign allowed (the range check names negatives):
        // CLI11 would read 0x3 as 3 and say "not in range" of 1.5.
        const size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (s.size() == start || s.find_first_not_of("0123456789", start) != std::string::npos)
          return "'" + s + "' is not a whole number";
        return std::string();
      },
      "", "WholeNumber");
}

CLI::Validator Seconds() {
  return CLI::Validator(
      [](std::string& s) {
        // A number, with a unit suffix or without (seconds); a suffix is
        // turned into plain seconds. The range check follows.
        struct Unit {
          const char* suffix;
          double scale;
        };
        static constexpr Unit kUnits[] = {{"ms", 1e-3}, {"us", 1e-6}, {"s", 1.0}};
        const Unit* unit = nullptr;
        for (const Unit& u : kUnits) {
          const size_t n = std::strlen(u.suffix);
          if (s.size() > n && s.compare(s.size() - n, n, u.suffix) == 0) {
            unit = &u;
            break;
          }
        }
        const std::string number = unit ? s.substr(0, s.size() - std::strlen(unit->suffix)) : s;
        char* end = nullptr;
        const double v = std::strtod(number.c_str(), &end);
        if (end == number.c_str() || *end != '\0') return "'" + s + "' is not a duration (e.g. 0.2, 0.2s, 200ms)";
        if (unit) s = fmt::format("{}", v * unit->scale);
        return std::string();
      },
      "", "Seconds");
}

uint64_t ParseUint64(const std::string& option, const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 20 &&
                      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = digits ? std::strtoull(text.c_str(), &end, 10) : 0;
  if (!digits || errno == ERANGE || end != text.c_str() + text.size())
    throw UsageError(option + " '" + text + "': expected an integer from 0 to 18446744073709551615");
  return static_cast<uint64_t>(v);
}

void AddForeignOptions(CLI::App* cmd, ForeignOptions& o) {
  cmd->add_option("--plugin", o.plugins,
                  "load a plugin backend (a shared library built against include/lnbench/plugin.h; "
                  "repeatable; LNBENCH_PLUGIN_PATH adds more)")
      ->check(NonEmpty());
  cmd->add_option("--external", o.externals,
                  "NAME=COMMAND: a backend run as a program with the protocol of docs/plugins.md "
                  "(inputs as .npy, outputs read back, timed by the command; repeatable)")
      ->check(NonEmpty());
  cmd->add_option("--plugin-isolation", o.isolation,
                  "where plugin cases run: fork (a forked child per case), exec (a worker process started by "
                  "exec, serving case after case), none (lnbench's own process), auto (fork for CPU plugins, "
                  "exec for CUDA plugins)")
      ->check(CLI::IsMember({"auto", "fork", "exec", "none"}))
      ->capture_default_str();
  cmd->add_flag("--no-isolation", o.no_isolation,
                "same as --plugin-isolation none (faster start; a crashing or hanging plugin takes lnbench down)");
  cmd->add_option("--plugin-timeout", o.timeout_s,
                  "seconds one call into a plugin (prepare, a run, a timed batch) or one run of an external "
                  "command may take (with --plugin-isolation none, and in supports(), a call past it ends lnbench: "
                  "exit 3)")
      ->check(Finite())->check(CLI::Range(0.001, 86400.0))->capture_default_str();
  cmd->add_option("--device", o.device,
                  "the GPU of the GPU backends (cuda, cudnn), CUDA plugins and GPU external commands: an index "
                  "from 0 (see nvidia-smi); the report names it")
      ->check(WholeNumber())
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
}

void RegisterForeignBackends(const ForeignOptions& o) {
  if (o.no_isolation && o.isolation != "auto" && o.isolation != "none")
    throw UsageError(fmt::format("--no-isolation contradicts --plugin-isolation {}", o.isolation));
  SelectGpuDevice(o.device);
  PluginSettings settings;
  settings.isolation = o.no_isolation || o.isolation == "none" ? PluginIsolation::kNone
                       : o.isolation == "fork"                 ? PluginIsolation::kFork
                       : o.isolation == "exec"                 ? PluginIsolation::kExec
                                                               : PluginIsolation::kAuto;
  settings.timeout_s = o.timeout_s;
  settings.cuda_device = o.device;
  RegisterPlugins(o.plugins, settings);
  static bool externals_done = false;
  if (externals_done) return;
  externals_done = true;
  for (const std::string& spec : o.externals) AddBackend(MakeExternalBackend(spec, o.timeout_s));
}

void AddProblemOptions(CLI::App* cmd, ProblemOptions& o, bool for_verify) {
  AddForeignOptions(cmd, o.foreign);
  cmd->add_option("-b,--backend", o.backends,
                  "backends, comma-separated, or 'all' (every available one; see `lnbench list`)")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--variant", o.variants,
                  "kernel variants, comma-separated, or 'all' (default: each backend's default)")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--hwy-target", o.hwy_target,
                  "force one Highway target (e.g. AVX2, AVX3, SSE4): the highway variant of that name")
      ->check(NonEmpty());
  cmd->add_option("--shape", o.shapes, "shapes ROWSxCOLS, comma-separated (e.g. 4096x768,1x4096)")
      ->check(NonEmpty());
  cmd->add_option("--cols", o.cols,
                  "hidden sizes: list (768,4096), sweep (128:65536:*2, 256:2048:+256) or preset "
                  "(models, bert, gpt2, llama, awkward, standard, cpu); rows from --rows or --input-bytes")
      ->check(NonEmpty());
  cmd->add_option("--rows", o.rows, "rows for --cols")
      ->check(WholeNumber())
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--input-bytes", o.input_bytes,
                  "with --cols: rows chosen so each input is about this size (e.g. 256MiB)")
      ->check(NonEmpty());
  cmd->add_option("--op", o.ops, "normalizations: layernorm, rmsnorm, comma-separated, or 'all'")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--dir", o.dirs,
                  "directions: fwd (forward), bwd (backward: dx, dgamma, dbeta from x, dy, gamma and the "
                  "saved statistics), comma-separated, or 'all'")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--dtype", o.dtypes, "f32, bf16, f16, comma-separated, or 'all'")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--dist", o.dists,
                  "input distributions, comma-separated, or 'all': normal, uniform, offset1e4, "
                  "offset1e6, tinyvar, constant, outliers, exact, special")
      ->each([&o](const std::string&) { o.dists_given = true; })
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--eps", o.eps, "epsilon added to the variance")
      ->check(NonEmpty())
      ->check(Finite())
      ->capture_default_str();
  cmd->add_flag("--no-affine", o.no_affine, "no gamma/beta (y = normalized x)");
  cmd->add_flag("--stats", o.stats, "also produce and check mean and rstd per row");
  if (for_verify)
    cmd->add_flag("--both-modes", o.both_modes,
                  "check both affine+stats and neither (default for verify when neither flag is given)");
  cmd->add_option("--seed", o.seed, "seed of the input generators (0 to 2^64-1)")->capture_default_str();
  cmd->add_option("--threads", o.threads,
                  "CPU threads over rows, comma-separated list: auto (one per 512 KiB of traffic, so a tiny "
                  "problem runs on one core), N exactly, or 0 (all cores)")
      ->check(NonEmptyItems())
      ->capture_default_str();
  cmd->add_option("--cpus", o.cpus,
                  "pin CPU threads: thread i of every case on the i-th CPU of this list (as taskset -c: "
                  "1, 0,2, 0-3), the main thread on the first; every --threads count must fit in it, and "
                  "0 (all cores) means one thread per listed CPU. Keeps a one-thread case on one core")
      ->check(NonEmpty());
  cmd->add_option("--input", o.input, "run on user data: 2-D float32/float64/float16 .npy (rows x cols)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--gamma", o.gamma, "gamma for --input: 1-D .npy of length cols")->check(CLI::ExistingFile);
  cmd->add_option("--beta", o.beta, "beta for --input: 1-D .npy of length cols")->check(CLI::ExistingFile);
  cmd->add_option("--dy", o.dy,
                  "output gradient for --input with --dir bwd: 2-D .npy of x's shape (default: generated from "
                  "the seed)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dump", o.dump,
                  "write inputs, the float64 reference and every backend's outputs as .npy into this "
                  "existing folder")
      ->check(NonEmpty());
  cmd->add_option("--machine", o.machine,
                  "the machine's name in the report (default: the CPU model, with the GPUs used): compare "
                  "and merge tell machines apart by it, e.g. two hosts of one CPU model")
      ->check(NonEmpty());
  cmd->add_option("--tune", o.tune,
                  "backend tuning KEY=VALUE (repeatable) that moves its code-path switch points, "
                  "e.g. stream_min_bytes=0 (highway: streaming stores for any size)");
  cmd->add_option("--filter", o.filter,
                  "run only the cases whose report id matches this regular expression (POSIX extended, as egrep; searched), "
                  "e.g. 'highway/.*/bf16/' or '/4096x'")
      ->check(NonEmpty());
  cmd->add_option("--format", o.format,
                  "standard output: an aligned table, md (markdown), csv (one line per case) or json (the "
                  "report); with md/csv/json the problems and summary go to stderr")
      ->check(CLI::IsMember({"table", "md", "csv", "json"}))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o.quiet,
                "no table and no progress line: only the failed cases (each with its repro line) and the summary");
  cmd->add_flag("--show-skipped", o.show_skipped,
                "one table row per skipped case (default: one line per unavailable backend)");
}

RunConfig MakeRunConfig(const ProblemOptions& o, const std::string& command) {
  RegisterForeignBackends(o.foreign);
  RunConfig c;
  c.command = command;
  c.backend_objects = AllBackends();
  std::vector<std::string> problems;
  auto attempt = [&](auto&& fn) {
    try {
      fn();
    } catch (const UsageError& e) {
      problems.push_back(e.what());
    }
  };

  // Backends: 'all' keeps only compiled-in ones and skips unavailable ones with a reason.
  // Names are case-insensitive (-b Highway, --dtype BF16, --variant AVX2).
  std::vector<std::string> names;
  for (const std::string& n : SplitList(o.backends)) names.push_back(Lower(n));
  if (names.empty()) problems.push_back("--backend: empty list");
  std::vector<std::string> backend_names;
  for (Backend* k : AllBackends()) backend_names.push_back(k->Name());
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    for (Backend* b : AllBackends()) c.backends.push_back(b->Name());
    c.skip_unavailable = true;
  } else {
    c.backends = names;
    c.skip_unavailable = false;
  }
  for (const std::string& n : names)
    if (n != "all" && FindBackend(n) == nullptr) {
      std::string known;
      for (const std::string& k : backend_names) known += (known.empty() ? "" : ", ") + k;
      backend_names.push_back("all");
      problems.push_back("unknown backend '" + n + "'" + DidYouMean(n, backend_names) + " (have: " + known +
                         ", all)");
      backend_names.pop_back();
    }

  for (const std::string& v : SplitList(o.variants)) c.variants.push_back(Lower(v));
  if (!o.hwy_target.empty()) c.variants.push_back(Lower(o.hwy_target));
  // A variant no selected backend has: one error listing each backend's own.
  {
    std::vector<std::string> all_variants;
    std::string have;
    for (const std::string& name : c.backends) {
      Backend* b = FindBackend(name);
      if (b == nullptr) continue;
      std::string list;
      for (const VariantInfo& info : b->Variants()) {
        list += (list.empty() ? "" : ", ") + info.name;
        if (std::find(all_variants.begin(), all_variants.end(), info.name) == all_variants.end())
          all_variants.push_back(info.name);
      }
      have += (have.empty() ? "" : "; ") + b->Name() + ": " + list;
    }
    std::string unknown;
    for (const std::string& v : c.variants) {
      if (v == "all" || have.empty() || std::find(all_variants.begin(), all_variants.end(), v) != all_variants.end())
        continue;
      // A name a selected backend knows but cannot run here (another CPU's
      // Highway target, one this build did not compile) says why.
      std::string why;
      for (const std::string& name : c.backends) {
        const Backend* b = FindBackend(name);
        const std::string reason = b == nullptr ? "" : b->UnlistedVariantReason(v);
        if (!reason.empty()) why += (why.empty() ? "" : "; ") + b->Name() + ": " + reason;
      }
      if (!why.empty()) {
        problems.push_back("variant '" + v + "': " + why + " (have: " + have + "; or all)");
        continue;
      }
      unknown += (unknown.empty() ? "'" : ", '") + v + "'" + DidYouMean(v, all_variants);
    }
    if (!unknown.empty()) problems.push_back("unknown variant " + unknown + " (have: " + have + "; or all)");
  }
  attempt([&] {
    if (!o.shapes.empty()) {
      auto s = ParseShapeList(o.shapes);
      c.shapes.insert(c.shapes.end(), s.begin(), s.end());
    }
  });
  std::vector<Norm> norms;
  for (const std::string& typed : SplitList(o.ops)) {
    const std::string name = Lower(typed);
    if (name == "all") {
      for (Norm n : AllNorms())
        if (std::find(norms.begin(), norms.end(), n) == norms.end()) norms.push_back(n);
      continue;
    }
    const auto n = ParseNorm(name);
    if (!n)
      problems.push_back("unknown op '" + typed + "'" +
                         DidYouMean(name, {"layernorm", "rmsnorm", "all"}) + " (have: layernorm, rmsnorm, all)");
    else if (std::find(norms.begin(), norms.end(), *n) == norms.end()) norms.push_back(*n);
  }
  if (norms.empty() && problems.empty()) problems.push_back("--op: empty list");
  c.norms = norms;
  std::vector<Direction> dirs;
  for (const std::string& typed : SplitList(o.dirs)) {
    const std::string name = Lower(typed);
    std::vector<Direction> named;
    if (name == "all") {
      named = {Direction::kForward, Direction::kBackward};
    } else if (const auto d = ParseDirection(name)) {
      named = {*d};
    } else {
      problems.push_back("unknown direction '" + typed + "'" + DidYouMean(name, {"fwd", "bwd", "all"}) +
                         " (have: fwd, bwd, all)");
    }
    for (Direction d : named)
      if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  if (dirs.empty() && problems.empty()) problems.push_back("--dir: empty list");
  c.dirs = dirs;
  std::vector<DType> dtypes;
  for (const std::string& typed : SplitList(o.dtypes)) {
    const std::string d = Lower(typed);
    if (d == "all") {
      dtypes = {DType::kF32, DType::kBF16, DType::kF16};
      continue;
    }
    auto dt = ParseDType(d);
    if (!dt)
      problems.push_back("unknown dtype '" + typed + "'" +
                         DidYouMean(d, {"f32", "bf16", "f16", "fp32", "float32", "fp16", "half", "float16",
                                        "bfloat16", "all"}) +
                         " (have: f32 (fp32, float32), bf16 (bfloat16), f16 (fp16, half, float16), all)");
    else if (std::find(dtypes.begin(), dtypes.end(), *dt) == dtypes.end()) dtypes.push_back(*dt);
  }
  c.dtypes = dtypes;
  attempt([&] {
    if (o.cols.empty()) {
      if (!o.input_bytes.empty() || o.rows >= 0)
        throw UsageError("--rows and --input-bytes go with --cols");
      return;
    }
    if (o.rows >= 0 && !o.input_bytes.empty())
      throw UsageError("give either --rows or --input-bytes with --cols, not both");
    const auto cols = ParseColsSpec(o.cols);
    const uint64_t bytes = o.input_bytes.empty() ? 64ull << 20 : ParseByteSize(o.input_bytes);
    // Rows follow the widest dtype of the run, so every dtype runs the same shape.
    size_t esize = 2;
    for (DType d : c.dtypes) esize = std::max(esize, DTypeSize(d));
    for (int64_t h : cols)
      c.shapes.push_back({o.rows >= 0 ? o.rows : RowsForBytes(bytes, h, esize), h});
  });
  std::vector<Distribution> dists;
  for (const std::string& typed : SplitList(o.dists)) {
    const std::string d = Lower(typed);
    if (d == "all") {
      dists = AllDistributions();
      continue;
    }
    auto dist = ParseDistribution(d);
    if (!dist) {
      std::string known;
      std::vector<std::string> candidates = {"all"};
      for (Distribution k : AllDistributions()) {
        known += (known.empty() ? "" : ", ") + std::string(DistributionName(k));
        candidates.emplace_back(DistributionName(k));
      }
      problems.push_back("unknown distribution '" + typed + "'" + DidYouMean(d, candidates) + " (have: " + known +
                         ", all)");
    } else if (std::find(dists.begin(), dists.end(), *dist) == dists.end()) {
      dists.push_back(*dist);
    }
  }
  c.dists = dists;
  if (!(o.eps >= 0) || !std::isfinite(o.eps)) problems.push_back("--eps must be a finite number >= 0");
  if (o.machine.size() > 200 || std::any_of(o.machine.begin(), o.machine.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      }))
    problems.push_back("--machine must be one line of at most 200 bytes, without control characters");
  c.eps = o.eps;
  attempt([&] { c.seed = ParseUint64("--seed", o.seed); });
  // Options that contradict each other are refused, not resolved in silence.
  if (o.both_modes && (o.no_affine || o.stats))
    problems.push_back("--both-modes runs both output modes: drop --no-affine and --stats");
  if (!o.hwy_target.empty() && !o.variants.empty())
    problems.push_back("--hwy-target names the highway variant to run: give it or --variant, not both");
  if (o.no_affine && (!o.gamma.empty() || !o.beta.empty()))
    problems.push_back("--gamma and --beta go with the affine mode: drop --no-affine");
  if (o.both_modes) {
    c.modes = {{true, true}, {false, false}};
  } else {
    c.modes = {{!o.no_affine, o.stats}};
  }
  c.threads.clear();
  for (const std::string& t : SplitList(o.threads)) {
    char* end = nullptr;
    const bool automatic = Lower(t) == "auto";
    const long v = automatic ? kAutoThreads : std::strtol(t.c_str(), &end, 10);
    if (!automatic && (end == t.c_str() || *end != '\0' || v < 0 || v > 4096))
      problems.push_back("bad --threads value '" + t +
                         "': expected auto, or an integer from 0 (all cores) to 4096");
    else if (std::find(c.threads.begin(), c.threads.end(), static_cast<int>(v)) == c.threads.end())
      c.threads.push_back(static_cast<int>(v));
  }
  if (c.threads.empty()) c.threads = {kAutoThreads};
  if (!o.cpus.empty()) {
    attempt([&] { c.cpus = ParseCpuList("--cpus", o.cpus, AllowedCpus()); });
    for (const int t : c.threads) {
      if (!c.cpus.empty() && t > static_cast<int>(c.cpus.size()))
        problems.push_back(fmt::format("--threads {} needs {} CPUs, but --cpus '{}' lists {}", t, t, o.cpus,
                                       c.cpus.size()));
    }
  }
  for (const std::string& kv : o.tune) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
      problems.push_back("bad --tune '" + kv + "': expected KEY=VALUE");
    else if (!c.tuning.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second)
      problems.push_back("--tune " + kv.substr(0, eq) + " given twice");
  }
  c.coverage = o.coverage;
  c.gpu_device = o.foreign.device;
  if (!o.filter.empty()) {
    attempt([&] { CaseFilter check(o.filter); });  // checked here; used by ExecuteAndReport
  }
  if (!o.input.empty()) {
    if (!o.shapes.empty() || !o.cols.empty()) problems.push_back("--input sets the shape: drop --shape/--cols");
    if (o.dists_given) problems.push_back("--input holds the values: drop --dist");
    c.input_path = o.input;
    c.gamma_path = o.gamma;
    c.beta_path = o.beta;
    c.dy_path = o.dy;
    // No output of this run (--json, --dump's files) may replace them.
    for (const std::string* path : {&o.input, &o.gamma, &o.beta, &o.dy}) ProtectInput(*path);
    c.shapes.clear();
    const bool backward = std::find(dirs.begin(), dirs.end(), Direction::kBackward) != dirs.end();
    if (!o.dy.empty() && !backward) problems.push_back("--dy goes with --dir bwd (or all)");
    if (!o.beta.empty() && backward)
      problems.push_back("--beta goes with --dir fwd: the backward pass has no beta input");
  } else if (!o.gamma.empty() || !o.beta.empty() || !o.dy.empty()) {
    problems.push_back("--gamma, --beta and --dy go with --input");
  }
  if (!o.dump.empty()) {
    attempt([&] { CheckOutputFolder("--dump", o.dump, /*may_create=*/false); });
    c.dump_dir = o.dump;
  }
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) msg += "; " + problems[i];
    throw UsageError(msg);
  }
  return c;
}

std::string CaseIdMode(const RunConfig& config) {
  return !config.measure ? "verify" : config.timing.cold ? "cold" : "hot";
}

RunConfig WithFilter(const RunConfig& config, const std::string& filter) {
  RunConfig selected = config;
  if (filter.empty()) return selected;
  auto re = std::make_shared<CaseFilter>(filter);
  const std::string mode = CaseIdMode(config);
  selected.select = [re, mode](const CaseResult& r) { return re->Matches(CaseIdWithMode(r, mode)); };
  return selected;
}

int ExecuteAndReport(const RunConfig& config, const ProblemOptions& opts,
                     const std::string& json_path, const std::string& plot_dir) {
  // lnbench list --cases: the same options, planned and listed, nothing run.
  if (ListCasesMode()) return PrintPlannedCases(WithFilter(config, opts.filter), opts, json_path, plot_dir);
  // Every output path is checked and the whole configuration validated before
  // anything is created, so a usage error leaves nothing behind.
  if (!json_path.empty()) CheckOutputFile("--json", json_path);
  if (opts.format != "table" && IsStdoutPath(json_path))
    throw UsageError("--json - and --format " + opts.format + " both write to standard output: give --json a file");
  if (!plot_dir.empty()) CheckOutputFolder("--plot", plot_dir, /*may_create=*/true);
  // --filter: the selector sees the id each case will have in the report.
  const RunConfig selected = WithFilter(config, opts.filter);
  ValidateRunConfig(config);
  // --cpus: pinned before anything runs (inputs, references and timing alike).
  if (!config.cpus.empty()) SetThreadCpus(config.cpus);
  // Declared before the files, so on an error the files go first, then the folders.
  CreatedFolders made;
  if (!plot_dir.empty()) CreateOutputFolder("--plot", plot_dir, &made);
  // The report's temporary file is made now: a folder that refuses files fails
  // before the run, and a leftover from a killed run is named .NAME.lnbench-tmp.*
  std::optional<OutputFile> report_file, plot_report_file;
  if (!json_path.empty()) report_file.emplace(json_path);
  // The charts read a report from a file: with --json - (or no --json) it goes into the folder.
  std::string plot_report = json_path;
  if (!plot_dir.empty() && (json_path.empty() || IsStdoutPath(json_path))) {
    plot_report = (std::filesystem::path(plot_dir) / "report.json").string();  // no "//" after "DIR/"
    plot_report_file.emplace(plot_report);
  }
  // With --json - the standard output is the report alone; the table goes to
  // stderr. So with --format csv/md/json: standard output holds that format
  // alone, the problems and summary go to stderr.
  const bool data_out = opts.format != "table";
  std::FILE* const table_out = IsStdoutPath(json_path) || data_out ? stderr : stdout;

  const bool progress = !opts.quiet && isatty(STDERR_FILENO);
  const auto started = std::chrono::steady_clock::now();
  auto on_start = [&](size_t done, size_t total, const std::string& what) {
    if (!progress) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The ETA assumes the cases left take as long as the ones done on average.
    const std::string eta =
        done > 0 ? " ETA " + FormatClock(elapsed / static_cast<double>(done) * static_cast<double>(total - done))
                 : "";
    fmt::print(stderr, "\r\033[K[{}/{}] {}{} {}", done + 1, total, FormatClock(elapsed), eta, what);
  };
  // A case that errs (out of memory, a device failure) is said on stderr at
  // once, even with --quiet: the table and report come only at the end.
  auto on_done = [&](size_t, size_t, const CaseResult& r) {
    if (r.status != CaseStatus::kError) return;
    if (progress) fmt::print(stderr, "\r\033[K");
    fmt::print(stderr, "lnbench: error in case {} {} {}: {}\n", EscapeForTerminal(r.backend),
               EscapeForTerminal(r.variant), r.problem.ShortName(), EscapeForTerminal(r.reason));
  };
  const MachineSample before = SampleMachine();
  RunResult result = ExecuteRun(selected, on_start, on_done);
  if (!opts.filter.empty() && result.cases.empty())
    throw UsageError("--filter '" + opts.filter + "' matches no case (ids look like " +
                     "'layernorm/fwd/scalar/default/4096x768/f32/normal/eps=1e-05/affine=1/stats=0/seed=1/threads=2/hot')");
  const MachineSample after = SampleMachine();
  if (progress) fmt::print(stderr, "\r\033[K");
  const RunWarnings warnings = ComputeWarnings(result, config, before, after);

  TableOptions table;
  table.timing = config.measure;
  table.colour = UseColour(table_out);
  table.show_skipped = opts.show_skipped;
  table.rule = CountingRuleFor(opts);
  table.case_warnings = CaseWarningTexts(warnings);
  table.run_warnings = RunWarningTexts(warnings);
  RunSummary summary = SummarizeRun(result, table.rule);
  for (const auto& list : warnings.cases) summary.warnings += !list.empty();
  if (!opts.quiet && !data_out) fmt::print(table_out, "{}", FormatResultsTable(result, table));
  if (opts.format == "csv") fmt::print(stdout, "{}", FormatCsvResults(result, table));
  if (opts.format == "md") fmt::print(stdout, "{}", FormatMarkdownResults(result, table));
  // -q keeps what a CI log needs: every failed case with its repro line.
  if (opts.quiet || data_out) fmt::print(table_out, "{}", FormatProblems(result, table, -1));
  if (opts.quiet)
    for (const std::string& w : table.run_warnings) fmt::print(table_out, "warning: {}\n", w);
  if (report_file || plot_report_file || opts.format == "json") {
    RunContext ctx = CollectContext(ProcessArgv(), config.backends, AllBackends());
    if (!opts.machine.empty()) ctx.machine = opts.machine;
    Report report = BuildReport(config, result, ctx);
    report.summary.peer_failed = summary.peer_failed;
    AnnotateReport(report, result, warnings);
    const std::string text = ReportText(report);
    std::fflush(table_out);
    if (report_file) report_file->Commit(text);
    if (plot_report_file) plot_report_file->Commit(text);
    if (opts.format == "json") {
      fmt::print(stdout, "{}", text);
      std::fflush(stdout);
    }
    // (With --format json and no file, the report went to stdout: no path to name.)
    if (!opts.quiet && !plot_report.empty() && !IsStdoutPath(plot_report))
      fmt::print(table_out, "report: {}\n", plot_report);
  }
  made.Keep();
  if (!plot_dir.empty()) MakePlots(plot_report, plot_dir);
  fmt::print(table_out, "{}\n", SummaryLine(summary, table.colour));
  return SummaryExitCode(summary);
}

}  // namespace lnbench
