// Output paths and odd option values (issue 10): the io module's rules, end
// to end through the lnbench binary, in temporary folders only. Symlinks and
// FIFOs are made here; nothing under /dev is touched.
#include <fcntl.h>
#include <limits.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "io/file_io.h"
#include "io/json_text.h"
#include "support/run_binary.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

using Result = test_support::BinaryResult;
using test_support::Slurp;

class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lnbench_io_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "io");
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  Result Run(const std::vector<std::string>& args, const std::function<void()>& in_child = {}) {
    return test_support::RunLnbench(args, dir_ / "io", in_child);
  }

  // A fast run of one small case; `extra` adds options.
  Result RunSmall(std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", "-b", "scalar", "--shape", "4x64", "--threads", "1",
                                     "--time-budget", "0.01"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }

  // Expects exit 2 with one line on stderr containing every `needles`.
  void ExpectUsage(const Result& r, const std::vector<std::string>& needles, const std::string& what) {
    EXPECT_EQ(r.code, 2) << what << "\n" << r.err;
    EXPECT_EQ(Lines(r.err), 1) << what << ": one line expected: " << r.err;
    for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << what << ": " << r.err;
  }

  // Returns the names in `folder` (not the io/ helper folder).
  std::vector<std::string> Listing(const fs::path& folder) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(folder))
      if (e.path().filename() != "io") names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Returns how many leftover temporary files `folder` holds.
  int Leftovers(const fs::path& folder) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(folder))
      n += e.path().filename().string().find(".lnbench-tmp.") != std::string::npos;
    return n;
  }

  fs::path dir_;
};

// ---- The io module in process -------------------------------------------------

TEST(JsonText, InvalidUtf8IsEscapedValidTextUnchanged) {
  EXPECT_EQ(EscapeInvalidUtf8("plain"), "plain");
  EXPECT_EQ(EscapeInvalidUtf8("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(EscapeInvalidUtf8("r\xFF\xFE.json"), "r\\xFF\\xFE.json");
  EXPECT_EQ(EscapeInvalidUtf8("\xC0\xAF"), "\\xC0\\xAF");           // overlong '/'
  EXPECT_EQ(EscapeInvalidUtf8("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a surrogate
  EXPECT_EQ(EscapeInvalidUtf8("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(EscapeInvalidUtf8("a\xE2\x82"), "a\\xE2\\x82");         // truncated at the end

  nlohmann::ordered_json j;
  j["argv"] = {"run", "--json", "r\xFF.json"};
  j["k\xFE"] = 1;
  EXPECT_THROW(j.dump(), nlohmann::json::type_error);  // why DumpJsonText exists
  const auto back = nlohmann::json::parse(DumpJsonText(j));
  EXPECT_EQ(back["argv"][2], "r\\xFF.json");
  EXPECT_EQ(back["k\\xFE"], 1);
}

TEST_F(IoTest, SymlinkIsFollowedAndStaysALink) {
  fs::create_directories(dir_ / "real");
  std::ofstream(dir_ / "real" / "target.json") << "old";
  fs::permissions(dir_ / "real" / "target.json", fs::perms(0640));
  fs::create_symlink("real/target.json", dir_ / "link.json");  // relative to the link's folder
  fs::create_symlink("link.json", dir_ / "link2.json");          // a chain
  WriteFileAtomically((dir_ / "link2.json").string(), "new");
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.json"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "link2.json"));
  EXPECT_EQ(Slurp(dir_ / "real" / "target.json"), "new");
  // An existing file keeps its mode.
  EXPECT_EQ(fs::status(dir_ / "real" / "target.json").permissions(), fs::perms(0640));
  EXPECT_EQ(Leftovers(dir_ / "real"), 0);
  // A dangling link: the file is created where it points.
  fs::create_symlink("real/new.json", dir_ / "dangling.json");
  WriteFileAtomically((dir_ / "dangling.json").string(), "made");
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.json"));
  EXPECT_EQ(Slurp(dir_ / "real" / "new.json"), "made");
}

TEST_F(IoTest, LongestNameGetsAShortenedTemporaryName) {
  const fs::path target = dir_ / std::string(NAME_MAX, 'x');
  EXPECT_NO_THROW(CheckOutputFile("--json", target.string()));
  WriteFileAtomically(target.string(), "ok");
  EXPECT_EQ(Slurp(target), "ok");
  EXPECT_EQ(Leftovers(dir_), 0);
}

TEST_F(IoTest, UncommittedTemporaryFileIsRemoved) {
  const fs::path target = dir_ / "r.json";
  std::ofstream(target) << "before";
  {
    OutputFile file(target.string());
    EXPECT_EQ(Leftovers(dir_), 1);  // reserved at once, named so it is obvious
  }
  EXPECT_EQ(Leftovers(dir_), 0);
  EXPECT_EQ(Slurp(target), "before");
}

TEST_F(IoTest, CheckOutputFileRefusesBadPathsWithOneLine) {
  std::ofstream(dir_ / "file") << "x";
  const std::string long_name(300, 'n');
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty path"},
      {dir_.string(), "is a folder"},
      {(dir_ / "sub/").string(), "names a folder"},
      {(dir_ / "missing" / "r.json").string(), "does not exist"},
      {(dir_ / "file" / "r.json").string(), "is not a folder"},
      {(dir_ / long_name).string(), "name too long"},
      {"/" + std::string(5000, 'p'), "path too long"},
  };
  for (const auto& [path, why] : bad) {
    try {
      CheckOutputFile("--json", path);
      ADD_FAILURE() << "accepted '" << path << "'";
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  EXPECT_NO_THROW(CheckOutputFile("--json", "-"));
  EXPECT_NO_THROW(CheckOutputFile("--json", (dir_ / "new.json").string()));
  EXPECT_NO_THROW(CheckOutputFolder("--plot", (dir_ / "a" / "b" / "c").string(), true));
  EXPECT_THROW(CheckOutputFolder("--dump", (dir_ / "a").string(), false), UsageError);
  EXPECT_THROW(CheckOutputFolder("--plot", (dir_ / "file" / "b").string(), true), UsageError);
  EXPECT_FALSE(fs::exists(dir_ / "a"));  // checks create nothing
}

// ---- End to end ---------------------------------------------------------------

TEST_F(IoTest, ReportThroughASymlink) {
  std::ofstream(dir_ / "target.json") << "old";
  fs::create_symlink("target.json", dir_ / "link.json");
  Result r = RunSmall({"-q", "--json", (dir_ / "link.json").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.json"));
  EXPECT_EQ(nlohmann::json::parse(Slurp(dir_ / "target.json"))["summary"]["passed"], 1);
  EXPECT_EQ(Leftovers(dir_), 0);
}

TEST_F(IoTest, FifoIsWrittenInPlace) {
  const fs::path fifo = dir_ / "report.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    const int fd = open(fifo.c_str(), O_RDONLY);
    if (fd < 0) return;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) received.append(buf, static_cast<size_t>(n));
    close(fd);
  });
  Result r = RunSmall({"-q", "--json", fifo.string()});
  // If lnbench never opened the FIFO, release the reader (it sees end of file).
  const int unblock = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (unblock >= 0) close(unblock);
  reader.join();
  ASSERT_EQ(r.code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(nlohmann::json::parse(received)["summary"]["passed"], 1);
  EXPECT_EQ(Leftovers(dir_), 0);
}

TEST_F(IoTest, DashIsStandardOutputAndTheTableGoesToStderr) {
  Result r = RunSmall({"--json", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);  // stdout is the report alone
  EXPECT_EQ(report["summary"]["passed"], 1);
  EXPECT_NE(r.err.find("1 passed, 0 failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("twopass"), std::string::npos) << r.err;
  EXPECT_EQ(Listing(dir_).size(), 0u);
  Result v = Run({"verify", "-b", "scalar", "--shape", "2x8", "--dtype", "f32", "--dist", "normal", "-q",
                  "--json", "-"});
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(nlohmann::json::parse(v.out)["summary"]["passed"], 2);
}

// /dev/stdout is a link to /proc/self/fd/1; /proc is used here so the test stays out of /dev.
TEST_F(IoTest, PathOfStandardOutputJoinsTheStream) {
  const fs::path out = dir_ / "io" / "out";
  Result r = RunSmall({"--json", "/proc/self/fd/1"});
  ASSERT_EQ(r.code, 0) << r.err;
  // The table, then the report, then the summary: one stream, nothing replaced or rewound.
  EXPECT_EQ(r.out.find("op "), 0u) << r.out;
  const size_t begin = r.out.find("{\n"), end = r.out.rfind("}\n");
  ASSERT_TRUE(begin != std::string::npos && end != std::string::npos) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(begin, end + 1 - begin))["summary"]["passed"], 1);
  EXPECT_NE(r.out.find("1 passed", end), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(out)));
  EXPECT_EQ(Leftovers(dir_ / "io"), 0);
}

TEST_F(IoTest, BadOutputPathsFailAtOnceAndCreateNothing) {
  std::ofstream(dir_ / "file") << "x";
  const std::string long_name(300, 'n');
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {{"--json", dir_.string()}, {"--json", "is a folder"}},
      {{"--json", (dir_ / "missing" / "r.json").string()}, {"--json", "'" + (dir_ / "missing").string() + "' does not exist"}},
      {{"--json", (dir_ / long_name).string()}, {"--json", "name too long"}},
      {{"--json", (dir_ / "file" / "r.json").string()}, {"--json", "is not a folder"}},
      {{"--json", ""}, {"--json", "empty"}},
      {{"--plot", (dir_ / "file" / "charts").string()}, {"--plot", "is not a folder"}},
      {{"--plot", (dir_ / "file").string()}, {"--plot", "not a folder"}},
      {{"--plot", ""}, {"--plot", "empty"}},
      {{"--dump", (dir_ / "nodump").string()}, {"--dump", "does not exist"}},
      {{"--dump", (dir_ / "file").string()}, {"--dump", "not a folder"}},
      {{"--dump", ""}, {"--dump", "empty"}},
  };
  for (const Case& c : cases) {
    // A job that would run for seconds: the refusal must come before it.
    std::vector<std::string> args = {"run", "-b", "scalar", "--shape", "2048x4096", "--time-budget", "3"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = Run(args);
    ExpectUsage(r, c.needles, c.args[0] + " " + c.args[1]);
    EXPECT_LT(r.seconds, 2.0) << "refused only after the run: " << c.args[1];
    EXPECT_EQ(r.out, "") << "nothing should run";
  }
  EXPECT_EQ(Listing(dir_), std::vector<std::string>{"file"});
}

TEST_F(IoTest, UsageErrorAfterPlotLeavesNoFolders) {
  const fs::path plot = dir_ / "a" / "b" / "c";
  ExpectUsage(RunSmall({"--plot", plot.string(), "--variant", "bogus"}), {"unknown variant 'bogus'"},
              "bad variant");
  EXPECT_TRUE(Listing(dir_).empty()) << "left behind: " << Listing(dir_).front();
  // A usage error found during the run (an ill-formed input file) removes the folders made for it.
  std::ofstream(dir_ / "bad.npy") << "this is not an npy file";
  ExpectUsage(Run({"run", "-b", "scalar", "--input", (dir_ / "bad.npy").string(), "--plot", plot.string()}),
              {"bad.npy"}, "bad npy");
  EXPECT_EQ(Listing(dir_), std::vector<std::string>{"bad.npy"});
}

TEST_F(IoTest, NonUtf8PathWorksAndIsEscapedInTheReport) {
  const std::string name = "r\xFF\xFE.json";
  Result r = RunSmall({"-q", "--json", (dir_ / name).string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(Slurp(dir_ / name));
  const auto& argv = report["context"]["argv"];
  EXPECT_NE(argv.back().get<std::string>().find("r\\xFF\\xFE.json"), std::string::npos) << argv;
  // merge and compare take such names too.
  const std::string merged = "m\xFF.json";
  r = Run({"merge", (dir_ / name).string(), "-o", (dir_ / merged).string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(Slurp(dir_ / merged))["cases"].size(), 1u);
  r = Run({"compare", (dir_ / name).string(), (dir_ / name).string(), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(nlohmann::json::parse(r.out)["base"]["path"].get<std::string>().find("\\xFF"), std::string::npos);
}

TEST_F(IoTest, CompareAndMergeOutputRules) {
  const fs::path report = dir_ / "r.json";
  ASSERT_EQ(RunSmall({"-q", "--json", report.string()}).code, 0);
  // merge -o -: the merged report on stdout, the summary on stderr.
  Result r = Run({"merge", report.string(), "-o", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["kind"], "lnbench-merged-report");
  EXPECT_NE(r.err.find("merged 1 report"), std::string::npos) << r.err;
  // compare -o -: the comparison on stdout.
  r = Run({"compare", report.string(), report.string(), "--format", "json", "-o", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out)["summary"]["regression"]);
  // Through a symlink.
  std::ofstream(dir_ / "cmp.md") << "old";
  fs::create_symlink("cmp.md", dir_ / "cmp-link.md");
  r = Run({"compare", report.string(), report.string(), "--format", "md", "-o", (dir_ / "cmp-link.md").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "cmp-link.md"));
  EXPECT_NE(Slurp(dir_ / "cmp.md").find("| case |"), std::string::npos);
  // Bad -o paths: exit 2 before reading the reports, nothing written.
  for (const std::string& cmd : {"merge", "compare"}) {
    std::vector<std::string> base = {cmd, report.string()};
    if (cmd == "compare") base.push_back(report.string());
    for (const auto& [path, why] : std::vector<std::pair<std::string, std::string>>{
             {"", "empty"}, {dir_.string(), "is a folder"}, {(dir_ / "no" / "x.json").string(), "does not exist"},
             {(report / "x.json").string(), "is not a folder"}, {(dir_ / std::string(300, 'm')).string(), "too long"}}) {
      auto args = base;
      args.insert(args.end(), {"-o", path});
      ExpectUsage(Run(args), {why}, cmd + " -o " + path.substr(0, 40));
    }
  }
  EXPECT_EQ(Listing(dir_), (std::vector<std::string>{"cmp-link.md", "cmp.md", "r.json"}));
}

TEST_F(IoTest, TemporaryFileIsRemovedOnSigtermAndSigint) {  // and the --plot folders made
  for (int sig : {SIGTERM, SIGINT}) {
    const fs::path json = dir_ / "long.json";
    // About a minute of sampling: the signal comes long before the end.
    test_support::LnbenchProcess run({"run", "-b", "scalar", "--shape", "1024x4096,1023x4096", "--threads", "1",
                                      "--min-samples", "1000000", "--max-samples", "1000000", "--time-budget", "30",
                                      "-q", "--json", json.string(), "--plot", (dir_ / "charts" / "deep").string()},
                                     dir_ / "io");
    // The temporary file is made before the run starts.
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Leftovers(dir_) == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(Leftovers(dir_), 1) << "no temporary file appeared";
    kill(run.pid(), sig);
    Result r = run.Wait();
    EXPECT_EQ(r.signal, sig) << "exit " << r.code << ": " << r.err;
    EXPECT_EQ(Leftovers(dir_), 0) << "signal " << sig;
    EXPECT_FALSE(fs::exists(json));
    // The --plot folders the run made go too (they were left behind).
    EXPECT_FALSE(fs::exists(dir_ / "charts")) << "signal " << sig;
  }
}

TEST_F(IoTest, FailedWriteIsExit3AndLeavesNothing) {
  // A file-size limit makes write() fail (EFBIG), the way a full disk (ENOSPC) does.
  const fs::path json = dir_ / "r.json";
  const auto limit = [] {
    struct rlimit rl = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &rl);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
  };
  Result r = Run({"run", "-b", "scalar", "--shape", "4x64", "--time-budget", "0.01", "-q", "--json",
                  json.string()},
                 [&] {
                   limit();
                   signal(SIGXFSZ, SIG_IGN);
                 });
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("cannot write '" + json.string() + "'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(json));
  EXPECT_EQ(Leftovers(dir_), 0);
  // With SIGXFSZ at its default action the process dies, and still removes its temporary file.
  r = Run({"run", "-b", "scalar", "--shape", "4x64", "--time-budget", "0.01", "-q", "--json", json.string()},
          limit);
  EXPECT_EQ(r.signal, SIGXFSZ) << r.code << r.err;
  EXPECT_FALSE(fs::exists(json));
  EXPECT_EQ(Leftovers(dir_), 0);
}

TEST_F(IoTest, OddValuesAreOneLineUsageErrors) {
  const fs::path json = dir_ / "r.json";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--seed", "-1"}, "--seed"},
      {{"--seed", "18446744073709551616"}, "--seed"},
      {{"--seed", "99999999999999999999999"}, "--seed"},
      {{"--seed", "0x10"}, "--seed"},
      {{"--seed", ""}, "--seed"},
      {{"--time-budget", "nan"}, "--time-budget"},
      {{"--time-budget", "inf"}, "--time-budget"},
      {{"--time-budget", "-1"}, "--time-budget"},
      {{"--max-noise", "nan"}, "--max-noise"},
      {{"--max-noise", "-inf"}, "--max-noise"},
      {{"--eps", "inf"}, "--eps"},
      {{"--shape", ""}, "--shape"},
      {{"--cols", ""}, "--cols"},
      {{"--dtype", ""}, "--dtype"},
      {{"--threads", ""}, "--threads"},
      {{"--hwy-target", ""}, "--hwy-target"},
  };
  for (const auto& [opt, needle] : cases) {
    std::vector<std::string> args = {"run", "-b", "scalar", "--json", json.string()};
    if (needle != "--shape" && needle != "--cols") args.insert(args.end(), {"--shape", "4x4"});
    args.insert(args.end(), opt.begin(), opt.end());
    ExpectUsage(Run(args), {needle}, opt[0] + " '" + opt[1] + "'");
    EXPECT_FALSE(fs::exists(json));
  }
  // The largest seed is valid and reaches the report unsaturated.
  Result r = RunSmall({"-q", "--seed", "18446744073709551615", "--json", json.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(Slurp(json))["config"]["seed"].get<uint64_t>(), 18446744073709551615ull);
  // compare: a negative or non-finite ulp growth (in ulps of the element's
  // scale: a real number, so 2^64 is a valid if useless tolerance).
  for (const std::string v : {"-1", "nan", "inf", "-inf"})
    ExpectUsage(Run({"compare", json.string(), json.string(), "--max-ulp-growth", v}), {"--max-ulp-growth"}, v);
}

}  // namespace
}  // namespace lnbench
