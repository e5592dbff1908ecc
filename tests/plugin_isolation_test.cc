// Where plugin cases run (--plugin-isolation fork|exec|none, app/plugin_worker.h):
// every planted bug (tests/plugins/planted_bugs.c) is caught with the same
// status, reason and exit code in each mode that can catch it; an exec'd
// worker serves case after case and is replaced after a crash or a hang; the
// worker protocol refuses another version; the option's usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/guarded_memory.h"
#include "app/plugin_worker.h"
#include "support/report_schema.h"
#include "support/run_binary.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;

std::string Planted(const std::string& bug) {
  return std::string(LNBENCH_PLANTED_DIR) + "/libplanted_" + bug + ".so";
}

class PluginIsolationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name)
      if (c == '/') c = '_';
    dir_ = fs::temp_directory_path() / ("lnbench_plugin_iso_" + std::to_string(getpid()) + "_" + name);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  testing::BinaryResult Run(const std::string& args, const std::string& env = "") {
    return testing::RunLnbench(env + " ", args, dir_);
  }

  // Verifies `bug` in `mode` on `shapes` and returns the report's cases.
  nlohmann::json Verify(const std::string& bug, const std::string& mode, int expected_code,
                        const std::string& shapes = "7x300", const std::string& env = "") {
    const fs::path json = dir_ / "report.json";
    const testing::BinaryResult r =
        Run("verify --plugin " + Planted(bug) + " -b planted_" + bug + " --shape " + shapes +
                " --stats --dtype f32 --dist normal --quiet --plugin-timeout 1 --plugin-isolation " + mode +
                " --json " + json.string(),
            env);
    EXPECT_EQ(r.code, expected_code) << bug << " " << mode << "\n" << r.err << r.out;
    if (!fs::exists(json)) {
      ADD_FAILURE() << "no report for " << bug << " " << mode << ": " << r.err;
      return nlohmann::json::array();
    }
    const nlohmann::json report = nlohmann::json::parse(testing::Slurp(json));
    testing::ExpectReportMatchesSchema(report);
    return report["cases"];
  }

  fs::path dir_;
};

struct PlantedBug {
  const char* name;
  int code;
  const char* status;
  const char* reason;
  bool needs_process;  // crashes lnbench itself without a child or worker
};

const PlantedBug kBugs[] = {
    {"ok", 0, "passed", "", false},
    {"oob_near", 1, "failed", "out-of-bounds write: y: written past its end of 8400 bytes (byte 0 to byte 3 after it)",
     false},
    {"oob_far", 1, "failed", "out-of-bounds write in run: y: byte 3988 after its end of 8400 bytes (guard page)", true},
    {"mutate", 1, "failed", "the kernel changed its input x (inputs must not be written)", false},
    {"cache", 1, "failed", "second verification on fresh inputs (normal seed 2) failed", false},
    {"crash", 3, "error", "plugin crashed with SIGSEGV (Segmentation fault) at address 0x10 in run", true},
    {"hang", 3, "error", "plugin timed out after 1s in run", true},
    {"fail", 3, "error", "planted_fail: run failed: planted failure", false},
};

TEST_P(PluginIsolationTest, EveryPlantedBugIsCaught) {
  const std::string mode = GetParam();
  for (const PlantedBug& bug : kBugs) {
    if (mode == "none" && bug.needs_process) continue;
    const nlohmann::json cases = Verify(bug.name, mode, bug.code);
    ASSERT_EQ(cases.size(), 1u) << bug.name;
    const nlohmann::json& c = cases[0];
    EXPECT_EQ(c["status"], bug.status) << bug.name << ": " << c.dump();
    EXPECT_NE(c.value("reason", "").find(bug.reason), std::string::npos) << bug.name << ": " << c["reason"];
    if (std::string(bug.name) == "ok") {
      const char* isolation = mode == "fork" ? "child process" : mode == "exec" ? "worker process"
                                                                               : "none (--plugin-isolation none)";
      EXPECT_EQ(c["details"]["isolation"], isolation);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PluginIsolationTest, ::testing::Values("fork", "exec", "none"));

class ExecWorkerTest : public PluginIsolationTest {};

// One worker serves the cases of a backend one after another; the case after
// a crash or a hang gets a fresh one, and the cases around it pass.
TEST_F(ExecWorkerTest, ServesCaseAfterCaseAndIsReplacedAfterACrashOrAHang) {
  nlohmann::json cases = Verify("ok", "exec", 0, "1x64,2x64,3x64");
  ASSERT_EQ(cases.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cases[i]["details"]["worker_case"], std::to_string(i + 1)) << cases[i];
  for (const char* bug : {"crash", "hang"}) {
    cases = Verify(bug, "exec", 3, "1x64,2x64,3x64,4x64", "PLANTED_BUG_ROWS=2");
    ASSERT_EQ(cases.size(), 4u);
    std::vector<std::string> status, worker_case;
    for (const auto& c : cases) {
      status.push_back(c["status"]);
      worker_case.push_back(c["details"].value("worker_case", "-"));
    }
    EXPECT_EQ(status, (std::vector<std::string>{"passed", "error", "passed", "passed"})) << bug;
    // The failing case's details are lost with its worker; the next case starts a fresh one.
    EXPECT_EQ(worker_case, (std::vector<std::string>{"1", "-", "1", "2"})) << bug;
  }
}

// A timed run through the worker: the samples are the worker's host clock
// around back-to-back run() calls, as in the other modes.
TEST_F(ExecWorkerTest, TimesTheKernelLikeTheOtherModes) {
  const fs::path json = dir_ / "report.json";
  const testing::BinaryResult r = Run(std::string("run --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                                      " -b example_c --shape 64x1024 --time-budget 0.05 --plugin-isolation exec "
                                      "--json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json c = nlohmann::json::parse(testing::Slurp(json))["cases"][0];
  EXPECT_EQ(c["status"], "passed");
  EXPECT_EQ(c["details"]["isolation"], "worker process");
  EXPECT_GT(c["timing"]["median_s"].get<double>(), 0);
}

TEST_F(ExecWorkerTest, OptionErrorsAreOneLine) {
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--plugin-isolation exec --no-isolation", "--no-isolation contradicts --plugin-isolation exec"},
           {"--plugin-isolation thread", "--plugin-isolation"}}) {
    const testing::BinaryResult r = Run("verify --shape 2x8 -b scalar " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  // The worker's hidden subcommand is not for people.
  const testing::BinaryResult r = Run(kPluginWorkerCommand);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is lnbench's own plugin worker, not a command"), std::string::npos) << r.err;
}

// The protocol: a command of another version is refused, a run before a case
// is set up is refused, and a hanging worker is killed after the timeout.
TEST(PluginWorkerProtocolTest, RefusesAnotherVersionAndCommandsOutOfOrder) {
  {
    auto w = WorkerProcess::Spawn(LNBENCH_BINARY, 10);
    Command c;
    c.kind = WorkerCommand::kRun;
    const Reply r = w->Call(c, "run");
    EXPECT_EQ(r.kind, WorkerReply::kError);
    EXPECT_STREQ(r.text, "no case set up");
  }
  {
    auto w = WorkerProcess::Spawn(LNBENCH_BINARY, 10);
    Command c;
    c.version = kWorkerProtocolVersion + 1;
    c.kind = WorkerCommand::kSetup;
    const Reply r = w->Call(c, "setup");
    EXPECT_EQ(r.kind, WorkerReply::kError);
    EXPECT_STREQ(r.text, "plugin worker protocol mismatch");
  }
  {
    // A setup naming a file that is not a plugin: an error reply, the worker lives on.
    auto w = WorkerProcess::Spawn(LNBENCH_BINARY, 10);
    SetupPayload s;
    std::snprintf(s.plugin_path, sizeof s.plugin_path, "%s", LNBENCH_BINARY);
    std::snprintf(s.backend, sizeof s.backend, "x");
    Command c;
    c.kind = WorkerCommand::kSetup;
    const Reply r = w->Call(c, "setup", &s, sizeof s);
    EXPECT_EQ(r.kind, WorkerReply::kError);
    EXPECT_NE(std::string(r.text).find("the worker cannot load"), std::string::npos) << r.text;
    EXPECT_FALSE(w->dead());
  }
  {
    // A process that never answers is killed after the timeout.
    auto w = WorkerProcess::Fork([](int) { for (;;) pause(); }, 0.2);
    Command c;
    c.kind = WorkerCommand::kRun;
    try {
      w->Call(c, "run");
      ADD_FAILURE() << "no timeout";
    } catch (const RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("plugin timed out after 0.2s in run (its child process was killed)"),
                std::string::npos)
          << e.what();
    }
    EXPECT_TRUE(w->dead());
  }
}

// A file-backed buffer and its attached twin share the tensor bytes and the
// canaries, each between guard pages of its own.
TEST(GuardedBufferFileTest, AttachSharesBytesAndCanaries) {
  GuardedBuffer a("y", 100, true);
  ASSERT_GE(a.fd(), 0);
  GuardedBuffer b = GuardedBuffer::Attach("y", 100, dup(a.fd()));
  ASSERT_NE(a.data(), b.data());
  static_cast<unsigned char*>(a.data())[7] = 42;
  EXPECT_EQ(static_cast<unsigned char*>(b.data())[7], 42);
  EXPECT_EQ(a.Checksum(), b.Checksum());
  EXPECT_EQ(b.CheckCanaries(), "");
  static_cast<unsigned char*>(b.data())[101] = 0;
  EXPECT_EQ(a.CheckCanaries(), "y: written past its end of 100 bytes (byte 1 to byte 1 after it)");
  const uintptr_t start = reinterpret_cast<uintptr_t>(b.data());
  EXPECT_EQ(b.DescribeGuardHit(start + 4096 + 10), "y: byte 4006 after its end of 100 bytes (guard page)");
  EXPECT_EQ(b.DescribeGuardHit(start - 1), "y: 1 bytes before its start");
  // The size must match what the parent made.
  EXPECT_THROW(GuardedBuffer::Attach("y", 10000, dup(a.fd())), RuntimeError);
  GuardedBuffer empty("mean", 0, true);
  EXPECT_EQ(GuardedBuffer::Attach("mean", 0, dup(empty.fd())).CheckCanaries(), "");
}

}  // namespace
}  // namespace lnbench
