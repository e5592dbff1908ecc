// Where plugin cases run (--plugin-isolation fork|exec|none, app/plugin_worker.h):
// every planted bug (tests/plugins/planted_bugs.c) is caught with the same
// status, reason and exit code in each mode that can catch it; an exec'd
// worker serves case after case and is replaced after a crash or a hang; the
// worker protocol refuses another version; the option's usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifdef LNBENCH_EXAMPLE_CUDA_PLUGIN
#include <cuda_runtime_api.h>
#endif

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

  test_support::BinaryResult Run(const std::string& args, const std::string& env = "") {
    return test_support::RunLnbench(env + " ", args, dir_);
  }

  // Verifies `bug` in `mode` on `shapes` and returns the report's cases.
  nlohmann::json Verify(const std::string& bug, const std::string& mode, int expected_code,
                        const std::string& shapes = "7x300", const std::string& env = "") {
    const fs::path json = dir_ / "report.json";
    const test_support::BinaryResult r =
        Run("verify --plugin " + Planted(bug) + " -b planted_" + bug + " --shape " + shapes +
                " --stats --dtype f32 --dist normal --quiet --plugin-timeout 1 --plugin-isolation " + mode +
                " --json " + json.string(),
            env);
    EXPECT_EQ(r.code, expected_code) << bug << " " << mode << "\n" << r.err << r.out;
    if (!fs::exists(json)) {
      ADD_FAILURE() << "no report for " << bug << " " << mode << ": " << r.err;
      return nlohmann::json::array();
    }
    const nlohmann::json report = nlohmann::json::parse(test_support::Slurp(json));
    test_support::ExpectReportMatchesSchema(report);
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
    // release() is called before the case's result is final: a crash or a
    // hang there is the case's error (it was a passed case, unreported).
    {"release_crash", 3, "error", "plugin crashed with SIGSEGV (Segmentation fault) at address 0x20 in release",
     true},
    {"release_hang", 3, "error", "plugin timed out after 1s in release", true},
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

// Plugins that misbehave in ways that reach past their own case: idling once
// they are timed, printing to standard output, calling exit(), ending their
// process with SIGTERM. Each is a `run` beside the scalar backend, the
// report on standard output (--json -).
TEST_P(PluginIsolationTest, TimedIdlingStdoutExitAndSignalsKeepTheRunHonest) {
  const std::string mode = GetParam();
  const auto run = [&](const std::string& bug, double timeout_s) {
    return Run("run --plugin " + Planted(bug) + " -b planted_" + bug + ",scalar --shape 7x300 --dtype f32 " +
               "--min-samples 3 --time-budget 0.02 --plugin-timeout " + std::to_string(timeout_s) +
               " --plugin-isolation " + mode + " -q --json -");
  };
  const auto cases_of = [](const test_support::BinaryResult& r) {
    const nlohmann::json report = nlohmann::json::parse(r.out);  // standard output is the report alone
    test_support::ExpectReportMatchesSchema(report);
    EXPECT_EQ(report["cases"].size(), 2u);
    EXPECT_EQ(report["cases"][1]["status"], "passed");  // scalar, after the plugin's case
    return report["cases"];
  };

  // Right while verified, idle while timed: failed, and no timing.
  test_support::BinaryResult r = run("idle_when_timed", 10);
  EXPECT_EQ(r.code, 1) << r.err;
  nlohmann::json c = cases_of(r)[0];
  EXPECT_EQ(c["status"], "failed");
  EXPECT_NE(c["reason"].get<std::string>().find("verification after timing failed: y: 2100 of 2100 unwritten"),
            std::string::npos)
      << c["reason"];
  EXPECT_TRUE(c["timing"].is_null());
  EXPECT_TRUE(c["throughput"].is_null());

  // Its prints go to stderr: standard output stays the report.
  r = run("stdout", 10);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cases_of(r)[0]["status"], "passed");
  EXPECT_NE(r.err.find("planted_stdout: call 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("planted_stdout: supports"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("planted_stdout: loaded"), std::string::npos) << r.err;

  // exit(0) in run(): in a child or worker, an error case at once (it used
  // to hang in the child's exit handlers until --plugin-timeout, then be
  // called a timeout); in lnbench's own process, one line and exit 3 instead
  // of a silent exit 0.
  r = run("exit", 30);
  if (mode == "none") {
    EXPECT_EQ(r.code, 3);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              "lnbench: error: plugin planted_exit called exit(0) in run; with --plugin-isolation none that ends "
              "lnbench too, and no report was written\n");
  } else {
    EXPECT_EQ(r.code, 3) << r.err;
    c = cases_of(r)[0];
    EXPECT_EQ(c["status"], "error");
    EXPECT_NE(c["reason"].get<std::string>().find("plugin exited with status 0 in run"), std::string::npos)
        << c["reason"];
  }

  // SIGTERM in a child or worker: an error case, and the report survives
  // (the forked child once ran lnbench's cleanup handler and removed the
  // report's temporary file: no report at all).
  if (mode != "none") {
    const fs::path json = dir_ / "term.json";
    r = Run("run --plugin " + Planted("term") + " -b planted_term,scalar --shape 7x300 --min-samples 3 "
            "--time-budget 0.02 --plugin-isolation " + mode + " -q --json " + json.string());
    EXPECT_EQ(r.code, 3) << r.err;
    ASSERT_TRUE(fs::exists(json)) << r.err;
    const nlohmann::json report = nlohmann::json::parse(test_support::Slurp(json));
    ASSERT_EQ(report["cases"].size(), 2u);
    EXPECT_EQ(report["cases"][0]["status"], "error");
    EXPECT_NE(report["cases"][0]["reason"].get<std::string>().find("SIGTERM"), std::string::npos);
    EXPECT_EQ(report["cases"][1]["status"], "passed");
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PluginIsolationTest, ::testing::Values("fork", "exec", "none"));

// lnbench loads a plugin and asks its supports() in its own process, in
// every isolation mode: an exit() there cannot be contained, so it is one
// line and exit 3, not the plugin's status 0 with no report.
TEST(PluginInProcessTest, ExitInSupportsIsOneLineAndExit3) {
  const fs::path dir = fs::temp_directory_path() / ("lnbench_plugin_supports_" + std::to_string(getpid()));
  fs::create_directories(dir);
  // The report's temporary file and the --plot folders made for the run are
  // removed before the exit (they were left behind).
  const fs::path out = dir / "outputs";  // RunLnbench keeps its own files (out, err) in dir
  fs::create_directories(out);
  const test_support::BinaryResult r = test_support::RunLnbench(
      " ", "run --plugin " + Planted("exit_in_supports") + " -b planted_exit_in_supports --shape 7x300 -q --json " +
               (out / "r.json").string() + " --plot " + (out / "charts" / "deep").string(),
      dir);
  EXPECT_TRUE(fs::is_empty(out)) << fs::directory_iterator(out)->path();
  fs::remove_all(dir);
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "lnbench: error: plugin planted_exit_in_supports called exit(0) in supports; lnbench makes that call in "
            "its own process: that ends lnbench too, and no report was written\n");
}

// A call that does not return, where there is no process to kill: under
// --plugin-isolation none (run, release) and in supports(), which every mode
// calls in lnbench's own process. --plugin-timeout ends lnbench with one line
// and exit 3 instead of a hang; no report is written.
TEST(PluginInProcessTest, HangsEndLnbenchAfterThePluginTimeout) {
  const fs::path dir = fs::temp_directory_path() / ("lnbench_plugin_hang_" + std::to_string(getpid()));
  const fs::path out = dir / "outputs";  // RunLnbench keeps its own files (out, err) in dir
  fs::create_directories(out);
  struct Expect {
    std::string bug, isolation, line;
  };
  const std::vector<Expect> expects = {
      {"hang", "none",
       "lnbench: error: plugin planted_hang timed out after 0.5s in run; with --plugin-isolation none that ends "
       "lnbench too, and no report was written\n"},
      {"release_hang", "none",
       "lnbench: error: plugin planted_release_hang timed out after 0.5s in release; with --plugin-isolation none "
       "that ends lnbench too, and no report was written\n"},
      {"hang_in_supports", "fork",
       "lnbench: error: plugin planted_hang_in_supports timed out after 0.5s in supports; lnbench makes that call "
       "in its own process: that ends lnbench too, and no report was written\n"},
  };
  for (const Expect& e : expects) {
    // A hang (the bug this guards against) fails here after 60 s, not at ctest's timeout.
    const test_support::BinaryResult r = test_support::RunLnbench(
        "timeout -s KILL 60 ",
        "run --plugin " + Planted(e.bug) + " -b planted_" + e.bug + " --shape 7x300 -q --plugin-timeout 0.5 " +
            "--plugin-isolation " + e.isolation + " --json " + (out / "report.json").string() + " --plot " +
            (out / "charts" / "deep").string(),
        dir);
    EXPECT_EQ(r.code, 3) << e.bug;
    EXPECT_EQ(r.out, "") << e.bug;
    EXPECT_EQ(r.err, e.line) << e.bug;
    EXPECT_LT(r.seconds, 30) << e.bug;
    // No report, and neither its temporary file nor the --plot folders made
    // for the run are left behind (they were).
    EXPECT_TRUE(fs::is_empty(out)) << e.bug << ": " << fs::directory_iterator(out)->path();
  }
  fs::remove_all(dir);
}

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
  const test_support::BinaryResult r = Run(std::string("run --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                                      " -b example_c --shape 64x1024 --time-budget 0.05 --plugin-isolation exec "
                                      "--json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json c = nlohmann::json::parse(test_support::Slurp(json))["cases"][0];
  EXPECT_EQ(c["status"], "passed");
  EXPECT_EQ(c["details"]["isolation"], "worker process");
  EXPECT_GT(c["timing"]["median_s"].get<double>(), 0);
}

TEST_F(ExecWorkerTest, OptionErrorsAreOneLine) {
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--plugin-isolation exec --no-isolation", "--no-isolation contradicts --plugin-isolation exec"},
           {"--plugin-isolation thread", "--plugin-isolation"}}) {
    const test_support::BinaryResult r = Run("verify --shape 2x8 -b scalar " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  // The worker's hidden subcommand is not for people.
  const test_support::BinaryResult r = Run(kPluginWorkerCommand);
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

#ifdef LNBENCH_EXAMPLE_CUDA_PLUGIN
// The CUDA side of the worker, driven through the protocol on the example
// CUDA plugin (CUDA builds). Without a GPU the setup is an error reply naming
// the failed CUDA call; with one, a 2x8 LayerNorm comes back through the
// shared memory and matches a float64 computation.
TEST(PluginWorkerProtocolTest, CudaWorkerRunsTheExampleCudaPlugin) {
  const int64_t rows = 2, cols = 8;
  GuardedBuffer x("x", rows * cols * 4, true), gamma("gamma", cols * 4, true), beta("beta", cols * 4, true),
      y("y", rows * cols * 4, true);
  float* xv = static_cast<float*>(x.data());
  for (int i = 0; i < rows * cols; ++i) xv[i] = static_cast<float>((i * 7) % 5) - 1.5f;
  for (int c = 0; c < cols; ++c) {
    static_cast<float*>(gamma.data())[c] = 1.0f + 0.25f * c;
    static_cast<float*>(beta.data())[c] = 0.5f - 0.125f * c;
  }
  SetupPayload s;
  std::snprintf(s.plugin_path, sizeof s.plugin_path, "%s", LNBENCH_EXAMPLE_CUDA_PLUGIN);
  std::snprintf(s.backend, sizeof s.backend, "example_cuda");
  std::snprintf(s.variant, sizeof s.variant, "rowblock");
  s.problem = {sizeof(lnb_problem), LNB_NORM_LAYERNORM, LNB_DIR_FWD, LNB_DTYPE_F32, rows, cols, 1e-5,
               LNB_FLAG_AFFINE, 0};
  s.tensor_count = 4;
  s.tensors[0] = {LNB_TENSOR_X, 0, LNB_DTYPE_F32, rows, cols, static_cast<uint64_t>(rows * cols * 4)};
  s.tensors[1] = {LNB_TENSOR_GAMMA, 0, LNB_DTYPE_F32, 1, cols, static_cast<uint64_t>(cols * 4)};
  s.tensors[2] = {LNB_TENSOR_BETA, 0, LNB_DTYPE_F32, 1, cols, static_cast<uint64_t>(cols * 4)};
  s.tensors[3] = {LNB_TENSOR_Y, 1, LNB_DTYPE_F32, rows, cols, static_cast<uint64_t>(rows * cols * 4)};
  auto w = WorkerProcess::Spawn(LNBENCH_BINARY, 60);
  Command c;
  c.kind = WorkerCommand::kSetup;
  const Reply setup = w->Call(c, "setup", &s, sizeof s, {x.fd(), gamma.fd(), beta.fd(), y.fd()});
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    EXPECT_EQ(setup.kind, WorkerReply::kError);
    EXPECT_NE(std::string(setup.text).find("cudaSetDevice"), std::string::npos) << setup.text;
    return;
  }
  ASSERT_EQ(setup.kind, WorkerReply::kOk) << setup.text;
  for (WorkerCommand k : {WorkerCommand::kPrepare, WorkerCommand::kPoison, WorkerCommand::kRun}) {
    c.kind = k;
    const Reply r = w->Call(c, "a command");
    ASSERT_EQ(r.kind, WorkerReply::kOk) << static_cast<int>(k) << ": " << r.text;
  }
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int k = 0; k < cols; ++k) mean += xv[r * cols + k] / double(cols);
    for (int k = 0; k < cols; ++k) var += (xv[r * cols + k] - mean) * (xv[r * cols + k] - mean) / double(cols);
    for (int k = 0; k < cols; ++k) {
      const double want = (xv[r * cols + k] - mean) / std::sqrt(var + 1e-5) * static_cast<float*>(gamma.data())[k] +
                          static_cast<float*>(beta.data())[k];
      EXPECT_NEAR(static_cast<float*>(y.data())[r * cols + k], want, 1e-4) << r << "," << k;
    }
  }
  c.kind = WorkerCommand::kTime;
  c.batch = 3;
  const Reply t = w->Call(c, "a timed batch");
  EXPECT_EQ(t.kind, WorkerReply::kOk) << t.text;
  EXPECT_GT(t.seconds, 0);
  EXPECT_TRUE(w->ReleaseCase(10));
}
#endif

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
