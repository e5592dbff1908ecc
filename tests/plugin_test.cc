// Plugins end to end: the example plugin passes verify and runs; each
// planted-bug plugin (tests/plugins/planted_bugs.c) is caught by its guard
// with the right status, reason and exit code; a crash or a hang leaves the
// other cases and the report intact; bad files are one-line usage errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/guarded_memory.h"
#include "app/plugin_tensors.h"
#include "core/problem.h"
#include "support/report_schema.h"
#include "support/run_binary.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;

using Result = test_support::BinaryResult;
using test_support::Slurp;

std::string Planted(const std::string& bug) {
  return std::string(LNBENCH_PLANTED_DIR) + "/libplanted_" + bug + ".so";
}

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lnbench_plugin_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs lnbench with `args` (shell-quoted), `env` prepended (VAR=value ...).
  Result Run(const std::string& args, const std::string& env = "") {
    return test_support::RunLnbench(env + " ", args, dir_);
  }

  // Verifies one planted-bug plugin on a shape whose y does not end on a page
  // and returns its only case from the report.
  nlohmann::json VerifyOne(const std::string& bug, int expected_code, const std::string& extra = "") {
    const fs::path json = dir_ / "report.json";
    Result r = Run("verify --plugin " + Planted(bug) + " -b planted_" + bug +
                   " --shape 7x300 --stats --dtype f32 --dist normal --quiet " + extra + " --json " + json.string());
    EXPECT_EQ(r.code, expected_code) << bug << "\n" << r.err << r.out;
    if (!fs::exists(json)) {
      ADD_FAILURE() << "no report for " << bug << ": " << r.err;
      return {};
    }
    const nlohmann::json report = nlohmann::json::parse(Slurp(json));
    test_support::ExpectReportMatchesSchema(report);
    EXPECT_EQ(report["cases"].size(), 1u);
    return report["cases"][0];
  }

  fs::path dir_;
};

TEST_F(PluginTest, ExamplePluginPassesVerifyAndIsReportedAsAPlugin) {
  const fs::path json = dir_ / "report.json";
  Result r = Run(std::string("verify --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                 " -b example_c --shape 1x1,7x300,64x1024,3x4097 --dtype f32 --dist all --both-modes --quiet --json " +
                 json.string());
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  ASSERT_GE(report["cases"].size(), 30u);
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c.dump();
    EXPECT_EQ(c["origin"]["kind"], "plugin");
    EXPECT_EQ(c["origin"]["abi_version"], 1);
    EXPECT_EQ(c["origin"]["path"], fs::absolute(LNBENCH_EXAMPLE_PLUGIN).string());
    EXPECT_NE(c["repro"].get<std::string>().find("--plugin "), std::string::npos);
  }
}

// The op comes from the problem: the example plugin implements RMSNorm forward
// too (x, gamma in; y, rstd out; no beta, no mean), and a backend's own
// supports callback says why not for what it lacks.
TEST_F(PluginTest, ExamplePluginRunsRmsNormAndSaysWhyNotForTheRest) {
  const fs::path json = dir_ / "report.json";
  Result r = Run(std::string("verify --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                 " -b example_c --op all --shape 7x300,3x4097 --dtype f32,bf16 --dist normal,offset1e4 --both-modes "
                 "--quiet --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  int rms_passed = 0;
  for (const auto& c : report["cases"]) {
    const auto& p = c["problem"];
    if (p["dtype"] != "f32") {
      EXPECT_EQ(c["status"], "unsupported");
      EXPECT_EQ(c["reason"], "example_c: only f32 is implemented");
      continue;
    }
    EXPECT_EQ(c["status"], "passed") << c.dump();
    if (p["op"] != "rmsnorm") continue;
    ++rms_passed;
    const auto& tensors = c["accuracy"]["tensors"];
    EXPECT_TRUE(tensors.contains("y"));
    EXPECT_FALSE(tensors.contains("mean"));
    EXPECT_EQ(tensors.contains("rstd"), p["stats"].get<bool>());
    EXPECT_NE(c["repro"].get<std::string>().find("--op rmsnorm"), std::string::npos) << c["repro"];
  }
  EXPECT_EQ(rms_passed, 8);
  // The external NumPy command does not implement RMSNorm: its own reason.
  r = Run("verify --external '" + std::string("npy=/usr/bin/python3 ") + LNBENCH_SOURCE_DIR +
          "/tests/external/numpy_layernorm.py' -b npy --op rmsnorm --shape 2x8 --dtype f32 --dist normal "
          "--quiet --json " + json.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(Slurp(json))["cases"][0]["reason"], "npy: not written yet");
}

// The example plugin implements both directions of both norms: every case
// of the default verify sweep over --op all --dir all passes, and the
// backward's outputs are checked tensor by tensor.
TEST_F(PluginTest, ExamplePluginPassesVerifyInBothDirections) {
  const fs::path json = dir_ / "report.json";
  Result r = Run(std::string("verify --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                 " -b example_c --op all --dir all --shape 1x1,7x300,64x1024,3x4097 --dtype f32 --dist all "
                 "--both-modes --quiet --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  int bwd_passed = 0, rms_bwd_passed = 0;
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c.dump();
    const auto& p = c["problem"];
    if (p["dir"] != "bwd") continue;
    ++bwd_passed;
    const auto& tensors = c["accuracy"]["tensors"];
    const bool affine = p["affine"].get<bool>(), rms = p["op"] == "rmsnorm";
    EXPECT_TRUE(tensors.contains("dx")) << c.dump();
    EXPECT_EQ(tensors.contains("dgamma"), affine) << c.dump();
    EXPECT_EQ(tensors.contains("dbeta"), affine && !rms) << c.dump();
    EXPECT_FALSE(tensors.contains("y"));
    EXPECT_NE(c["repro"].get<std::string>().find("--dir bwd"), std::string::npos) << c["repro"];
    if (rms) ++rms_bwd_passed;
  }
  EXPECT_GE(bwd_passed, 2 * 4 * 9);  // 2 norms x 4 shapes x 9 distributions, at least one mode
  EXPECT_GE(rms_bwd_passed, 4 * 9);
}

// The tensors a plugin gets are its op's: the backward's inputs (x, gamma,
// dy, mean, rstd) and outputs (dx, dgamma, dbeta) with their shapes, so the
// guards, which iterate over these bindings, cover every one of them.
TEST(PluginTensorsTest, BackwardBindsItsInputsAndOutputs) {
  Problem p;
  p.dir = Direction::kBackward;
  p.rows = 7;
  p.cols = 300;
  p.dtype = DType::kBF16;
  struct Expected {
    lnb_tensor_id id;
    const char* name;
    bool is_output;
    int64_t rows, cols;
    lnb_dtype dtype;
    size_t bytes;
  };
  const std::vector<Expected> layernorm = {
      {LNB_TENSOR_X, "x", false, 7, 300, LNB_DTYPE_BF16, 4200},
      {LNB_TENSOR_GAMMA, "gamma", false, 1, 300, LNB_DTYPE_F32, 1200},
      {LNB_TENSOR_DY, "dy", false, 7, 300, LNB_DTYPE_BF16, 4200},
      {LNB_TENSOR_MEAN, "mean", false, 7, 1, LNB_DTYPE_F32, 28},
      {LNB_TENSOR_RSTD, "rstd", false, 7, 1, LNB_DTYPE_F32, 28},
      {LNB_TENSOR_DX, "dx", true, 7, 300, LNB_DTYPE_BF16, 4200},
      {LNB_TENSOR_DGAMMA, "dgamma", true, 1, 300, LNB_DTYPE_F32, 1200},
      {LNB_TENSOR_DBETA, "dbeta", true, 1, 300, LNB_DTYPE_F32, 1200},
  };
  auto check = [](const Problem& problem, const std::vector<Expected>& want) {
    const std::vector<PluginTensor> got = BindPluginTensors(problem, nullptr, nullptr);
    ASSERT_EQ(got.size(), want.size()) << problem.ShortName();
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].id, want[i].id) << want[i].name;
      EXPECT_STREQ(got[i].name, want[i].name);
      EXPECT_EQ(got[i].is_output, want[i].is_output) << want[i].name;
      EXPECT_EQ(got[i].rows, want[i].rows) << want[i].name;
      EXPECT_EQ(got[i].cols, want[i].cols) << want[i].name;
      EXPECT_EQ(got[i].dtype, want[i].dtype) << want[i].name;
      EXPECT_EQ(got[i].bytes, want[i].bytes) << want[i].name;
    }
  };
  check(p, layernorm);
  EXPECT_EQ(ToPluginProblem(p, 2).dir, LNB_DIR_BWD);
  // RMSNorm: no mean, no dbeta; without affine no gamma and no dgamma.
  p.norm = Norm::kRmsNorm;
  check(p, {layernorm[0], layernorm[1], layernorm[2], layernorm[4], layernorm[5], layernorm[6]});
  p.affine = false;
  check(p, {layernorm[0], layernorm[2], layernorm[4], layernorm[5]});
  EXPECT_EQ(ToPluginProblem(p, 2).flags, 0u);
}

TEST_F(PluginTest, ExamplePluginIsTimedNextToBuiltInBackends) {
  const fs::path json = dir_ / "report.json";
  Result r = Run(std::string("run --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                 " -b example_c,scalar --shape 64x1024 --time-budget 0.05 --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("example_c (plugin)"), std::string::npos) << r.out;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  ASSERT_EQ(report["cases"].size(), 2u);
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed");
    EXPECT_GT(c["timing"]["median_s"].get<double>(), 0) << c.dump();
  }
  EXPECT_EQ(report["cases"][0]["details"]["isolation"], "child process");
  EXPECT_FALSE(report["cases"][1].contains("origin"));
}

TEST_F(PluginTest, ChartsMarkThePluginBackend) {
  const fs::path json = dir_ / "report.json", plots = dir_ / "plots";
  Result r = Run(std::string("run --plugin ") + LNBENCH_EXAMPLE_PLUGIN +
                 " -b example_c,scalar --shape 64x1024,8x4096 --time-budget 0.02 -q --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string cmd = std::string("/usr/bin/python3 ") + LNBENCH_SOURCE_DIR + "/scripts/plot " + json.string() +
                          " -o " + plots.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string manifest = Slurp(plots / "plots.json");
  EXPECT_NE(manifest.find("\"example_c/twopass (plugin)\""), std::string::npos) << manifest.substr(0, 2000);
  EXPECT_NE(manifest.find("\"scalar/twopass\""), std::string::npos);
}

TEST_F(PluginTest, CorrectPlantedKernelPassesBothIsolationModes) {
  EXPECT_EQ(VerifyOne("ok", 0)["status"], "passed");
  EXPECT_EQ(VerifyOne("ok", 0, "--no-isolation")["status"], "passed");
}

TEST_F(PluginTest, WriteJustPastTheOutputHitsTheCanaries) {
  for (const char* mode : {"", "--no-isolation"}) {
    const nlohmann::json c = VerifyOne("oob_near", 1, mode);
    EXPECT_EQ(c["status"], "failed");
    const std::string reason = c["reason"];
    EXPECT_NE(reason.find("out-of-bounds write"), std::string::npos) << reason;
    EXPECT_NE(reason.find("y: written past its end of 8400 bytes (byte 0 to byte 3 after it)"), std::string::npos)
        << reason;
  }
}

TEST_F(PluginTest, WriteFarPastTheOutputHitsTheGuardPage) {
  const nlohmann::json c = VerifyOne("oob_far", 1);
  EXPECT_EQ(c["status"], "failed");
  const std::string reason = c["reason"];
  EXPECT_NE(reason.find("out-of-bounds write in run: y: byte 3988 after its end of 8400 bytes (guard page)"),
            std::string::npos)
      << reason;
}

TEST_F(PluginTest, MutatedInputFails) {
  for (const char* mode : {"", "--no-isolation"}) {
    const nlohmann::json c = VerifyOne("mutate", 1, mode);
    EXPECT_EQ(c["status"], "failed");
    EXPECT_NE(c["reason"].get<std::string>().find("changed its input x"), std::string::npos) << c["reason"];
  }
}

TEST_F(PluginTest, CachedOutputsFailTheSecondVerification) {
  const nlohmann::json c = VerifyOne("cache", 1);
  EXPECT_EQ(c["status"], "failed");
  EXPECT_NE(c["reason"].get<std::string>().find("second verification on fresh inputs (normal seed 2) failed"),
            std::string::npos)
      << c["reason"];
}

// The backward's tensors behind the same guards (tests/plugins/planted_bwd.c):
// a write past dbeta, a kernel that changes dy or rstd, and one that replays
// its first dgamma/dbeta.
TEST_F(PluginTest, BackwardTensorsAreGuarded) {
  auto verify = [&](const std::string& bug, int code, const std::string& extra) {
    const fs::path json = dir_ / "report.json";
    Result r = Run("verify --plugin " + Planted("bwd_" + bug) + " -b planted_bwd_" + bug +
                   " --dir bwd --shape 7x300 --dtype f32 --dist normal --quiet " + extra + " --json " + json.string());
    EXPECT_EQ(r.code, code) << bug << "\n" << r.err << r.out;
    const nlohmann::json report = nlohmann::json::parse(Slurp(json));
    test_support::ExpectReportMatchesSchema(report);
    // verify runs both modes; the plugin takes the affine one (the plain one is unsupported).
    EXPECT_EQ(report["cases"].size(), 2u);
    for (const auto& c : report["cases"])
      if (c["problem"]["affine"].get<bool>()) return c;
    ADD_FAILURE() << "no affine case for " << bug;
    return nlohmann::json();
  };
  for (const char* mode : {"", "--no-isolation"}) {
    EXPECT_EQ(verify("ok", 0, mode)["status"], "passed") << mode;
    nlohmann::json c = verify("oob_dbeta", 1, mode);
    EXPECT_EQ(c["status"], "failed");
    EXPECT_NE(c["reason"].get<std::string>().find(
                  "out-of-bounds write: dbeta: written past its end of 1200 bytes (byte 0 to byte 3 after it)"),
              std::string::npos)
        << c["reason"];
    c = verify("mutate_dy", 1, mode);
    EXPECT_EQ(c["status"], "failed");
    EXPECT_NE(c["reason"].get<std::string>().find("changed its input dy"), std::string::npos) << c["reason"];
    c = verify("mutate_rstd", 1, mode);
    EXPECT_EQ(c["status"], "failed");
    EXPECT_NE(c["reason"].get<std::string>().find("changed its input rstd"), std::string::npos) << c["reason"];
  }
  const nlohmann::json c = verify("cache_dgamma", 1, "");
  EXPECT_EQ(c["status"], "failed");
  EXPECT_NE(c["reason"].get<std::string>().find("second verification on fresh inputs (normal seed 2) failed"),
            std::string::npos)
      << c["reason"];
  EXPECT_NE(c["reason"].get<std::string>().find("dgamma"), std::string::npos) << c["reason"];
}

TEST_F(PluginTest, CrashIsAnErrorWithTheSignal) {
  const nlohmann::json c = VerifyOne("crash", 3);
  EXPECT_EQ(c["status"], "error");
  EXPECT_NE(c["reason"].get<std::string>().find("crashed with SIGSEGV"), std::string::npos) << c["reason"];
  EXPECT_NE(c["reason"].get<std::string>().find("at address 0x10 in run"), std::string::npos) << c["reason"];
}

TEST_F(PluginTest, HangIsAnErrorAfterTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  const nlohmann::json c = VerifyOne("hang", 3, "--plugin-timeout 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c["status"], "error");
  EXPECT_NE(c["reason"].get<std::string>().find("timed out after 1s in run"), std::string::npos) << c["reason"];
  EXPECT_LT(seconds, 20);
}

TEST_F(PluginTest, ReportedFailureIsAnErrorWithThePluginsReason) {
  const nlohmann::json c = VerifyOne("fail", 3);
  EXPECT_EQ(c["status"], "error");
  EXPECT_NE(c["reason"].get<std::string>().find("planted_fail: run failed: planted failure"), std::string::npos)
      << c["reason"];
}

TEST_F(PluginTest, OtherCasesAndTheReportSurviveACrashAndAHang) {
  const fs::path json = dir_ / "report.json";
  Result r = Run("verify --plugin " + Planted("crash") + " --plugin " + Planted("hang") + " --plugin " +
                 Planted("ok") + " -b planted_crash,planted_hang,planted_ok,scalar --shape 7x300,2x64 --stats "
                 "--dtype f32 --dist normal --plugin-timeout 1 --quiet --json " + json.string());
  EXPECT_EQ(r.code, 3) << r.err;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  ASSERT_EQ(report["cases"].size(), 8u);
  int errors = 0, passed = 0;
  for (const auto& c : report["cases"]) {
    const std::string b = c["backend"];
    if (b == "planted_crash" || b == "planted_hang") {
      EXPECT_EQ(c["status"], "error") << c.dump();
      ++errors;
    } else {
      EXPECT_EQ(c["status"], "passed") << c.dump();
      ++passed;
    }
  }
  EXPECT_EQ(errors, 4);
  EXPECT_EQ(passed, 4);
}

TEST_F(PluginTest, BadFilesAreOneLineUsageErrors) {
  const fs::path text = dir_ / "not_a_plugin.so";
  std::ofstream(text) << "hello\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Planted("wrong_abi"), "built against plugin ABI 99, this lnbench reads ABI 1"},
      {Planted("no_entry"), "not a plugin (no 'lnbench_plugin' entry point)"},
      {text.string(), "not a plugin (it cannot be loaded as a shared library"},
      {(dir_ / "missing.so").string(), "no such file"},
      {dir_.string(), "is a folder, not a shared library"},
  };
  for (const auto& [path, needle] : cases) {
    for (const char* cmd : {"verify --shape 2x8", "list"}) {
      Result r = Run(std::string(cmd) + " --plugin " + path);
      EXPECT_EQ(r.code, 2) << path << "\n" << r.err;
      EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
  // The same backend name twice.
  Result r = Run("list --plugin " + Planted("ok") + " --plugin " + Planted("ok"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("backend name 'planted_ok' of " + Planted("ok") + " is already taken (" + Planted("ok") +
                       "): rename the plugin's backend, or load it once"),
            std::string::npos)
      << r.err;
  // A command's description: an integer protocol, each variant once.
  for (const auto& [body, needle] : std::vector<std::pair<std::string, std::string>>{
           {"{'protocol': 1.9, 'variants': [{'name': 'v'}], 'supports': {}}", "protocol must be an integer, not 1.9"},
           {"{'protocol': 1, 'variants': [{'name': 'v'}, {'name': 'v'}], 'supports': {}}",
            "variant 'v' is listed twice"}}) {
    const fs::path script = dir_ / "describe.py";
    std::ofstream(script) << "import json, os, sys\njson.dump(" << body
                          << ", open(os.path.join(sys.argv[-1], 'describe.json'), 'w'))\n";
    r = Run("list --external 'd=/usr/bin/python3 " + script.string() + "'");
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
}

TEST_F(PluginTest, PluginPathEnvironmentAndList) {
  const fs::path plugins = dir_ / "plugins";
  fs::create_directories(plugins);
  fs::copy_file(LNBENCH_EXAMPLE_PLUGIN, plugins / "example.so");
  Result r = Run("list", "LNBENCH_PLUGIN_PATH=" + plugins.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("example_c (plugin " + (plugins / "example.so").string() + ", ABI 1): available"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("twopass"), std::string::npos);
  // Unsupported problems say why, in the plugin's words.
  const fs::path json = dir_ / "report.json";
  r = Run("verify -b example_c --shape 2x8 --dtype bf16 --dist normal --stats --quiet --json " + json.string(),
          "LNBENCH_PLUGIN_PATH=" + plugins.string());
  EXPECT_EQ(r.code, 0) << r.err;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  ASSERT_EQ(report["cases"].size(), 1u);
  EXPECT_EQ(report["cases"][0]["status"], "unsupported");
  EXPECT_EQ(report["cases"][0]["reason"], "example_c: only f32 is implemented");
}

// The external-command protocol with a small NumPy command
// (tests/external/numpy_layernorm.py) and its planted bugs.
std::string NumpyCommand() {
  return std::string("npy=/usr/bin/python3 ") + LNBENCH_SOURCE_DIR + "/tests/external/numpy_layernorm.py";
}

// A command's own text (its description, a variant's) is foreign: `lnbench
// list` prints it escaped, one line, in every format but json.
TEST_F(PluginTest, ListEscapesTheTextOfACommand) {
  const fs::path script = dir_ / "describe.py";
  std::ofstream(script) << "import json, os, sys\n"
                           "json.dump({'protocol': 1, 'description': 'evil\\nline\\u001b[2J', 'device': 'cpu',\n"
                           "           'variants': [{'name': 'v', 'description': 'v1\\nv2'}],\n"
                           "           'supports': {'layernorm/fwd': ['f32']}},\n"
                           "          open(os.path.join(sys.argv[-1], 'describe.json'), 'w'))\n";
  const std::string ext = " --external 'esc=/usr/bin/python3 " + script.string() + "'";
  for (const std::string& format : {"table", "md", "csv"}) {
    const Result r = Run("list --format " + format + ext);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << format;
    EXPECT_EQ(r.out.find("evil\n"), std::string::npos) << format << r.out;
    EXPECT_EQ(r.out.find("v1\nv2"), std::string::npos) << format << r.out;
    EXPECT_NE(r.out.find("v1\\nv2"), std::string::npos) << format << r.out;
  }
}

TEST_F(PluginTest, ExternalCommandIsVerifiedAndTimedAndMarked) {
  const fs::path json = dir_ / "report.json";
  Result r = Run("run --external '" + NumpyCommand() + "' -b npy --shape 7x300 --stats --min-samples 3 "
                 "--time-budget 0.05 --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json report = nlohmann::json::parse(Slurp(json));
  test_support::ExpectReportMatchesSchema(report);
  const auto& c = report["cases"][0];
  EXPECT_EQ(c["status"], "passed");
  EXPECT_EQ(c["origin"]["kind"], "external");
  EXPECT_TRUE(c["origin"]["externally_timed"].get<bool>());
  EXPECT_EQ(c["timing"]["stop_reason"], "external");
  EXPECT_EQ(c["timing"]["samples_s"].size(), 3u);
  EXPECT_EQ(c["accuracy"]["tensors"]["y"]["checked"], 2100);
  EXPECT_NE(c["repro"].get<std::string>().find("--external '" + NumpyCommand() + "'"), std::string::npos);
  // Unsupported problems carry the command's own words.
  r = Run("verify --external '" + NumpyCommand() + "' -b npy --shape 2x8 --dtype bf16 --dist normal --stats "
          "--json " + json.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(Slurp(json))["cases"][0]["reason"], "npy: dtype bf16 not supported");
}

TEST_F(PluginTest, ExternalCommandBugsAreCaught) {
  struct Bug {
    const char* name;
    int code;
    const char* status;
    const char* reason;
  };
  const Bug bugs[] = {
      {"wrong", 1, "failed", "y: 2100 of 2100 over bound"},
      {"nooutput", 3, "error", "the external command wrote no y.npy"},
      {"crash", 3, "error", "the external command exited with status 3: planted crash (action run)"},
      {"badtiming", 3, "error", "every sample must be a positive number of seconds"},
      {"tinytiming", 3, "error", "npy: timing.json: a sample of 4.94066e-324 s is below a nanosecond"},
  };
  for (const Bug& bug : bugs) {
    const fs::path json = dir_ / "report.json";
    Result r = Run("run --external '" + NumpyCommand() + "' -b npy --shape 7x300 --min-samples 3 "
                   "--time-budget 0.05 --dist normal --quiet --json " + json.string(),
                   std::string("NUMPY_LN_BUG=") + bug.name);
    EXPECT_EQ(r.code, bug.code) << bug.name << ": " << r.err;
    const auto c = nlohmann::json::parse(Slurp(json))["cases"][0];
    EXPECT_EQ(c["status"], bug.status) << bug.name;
    EXPECT_NE(c["reason"].get<std::string>().find(bug.reason), std::string::npos) << bug.name << ": " << c["reason"];
  }
  // Files the command leaves where lnbench writes its own (a FIFO at x.npy, a
  // folder at gamma.npy, a link to another file at problem.json) are
  // replaced, never written through: the case passes, the linked file is
  // untouched. (lnbench used to hang on the FIFO, stop the whole run with a
  // usage error on the folder, and overwrite the linked file.)
  {
    const fs::path json = dir_ / "plant.json", victim = dir_ / "victim.txt";
    std::ofstream(victim) << "not lnbench's";
    Result r = Run("run --external '" + NumpyCommand() + "' -b npy,scalar --shape 7x300 --min-samples 3 "
                   "--time-budget 0.05 --dist normal --plugin-timeout 20 --quiet --json " + json.string(),
                   "NUMPY_LN_BUG=plant NUMPY_LN_VICTIM=" + victim.string() + " NUMPY_LN_MARKER=" +
                       (dir_ / "planted").string());
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir_ / "planted"));
    EXPECT_EQ(Slurp(victim), "not lnbench's");
    const auto cases = nlohmann::json::parse(Slurp(json))["cases"];
    ASSERT_EQ(cases.size(), 2u);
    EXPECT_EQ(cases[0]["status"], "passed") << cases[0]["reason"];
  }
  // A command that cannot describe itself, and a bad spec: one-line usage errors.
  for (const auto& [spec, needle] : std::vector<std::pair<std::string, std::string>>{
           {"bad=/bin/false", "--external bad: the command cannot describe itself: it exited with status 1"},
           {"npy", "expected NAME=COMMAND"},
           {"Upper=/bin/true", "expected NAME=COMMAND"},
           {"quiet=/bin/true", "the command wrote no describe.json"}}) {
    Result r = Run("verify --shape 2x8 --external '" + spec + "'");
    EXPECT_EQ(r.code, 2) << spec << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// A command that declares "serve": true is started once and fed case after
// case; one that ends in the middle of a case, or hangs, makes that case an
// error, and the next case starts a new one. A status it answers (exit 3)
// leaves it running.
TEST_F(PluginTest, ServedExternalCommandRunsCaseAfterCaseAndIsReplacedWhenItDies) {
  struct Mode {
    const char* bug;
    int code;
    const char* status;
    const char* reason;
    bool one_process;
  };
  const Mode modes[] = {
      {"", 0, "passed", "", true},
      {"crash", 3, "error", "the external command exited with status 3: planted crash (action run)", true},
      {"die", 3, "error", "the external command exited with status 9: planted death (action run)", false},
      {"hang", 3, "error", "the external command timed out after 1s (killed) (action run)", false},
  };
  for (const Mode& m : modes) {
    const fs::path json = dir_ / "report.json", pids = dir_ / (std::string("pids") + m.bug);
    Result r = Run("run --external '" + NumpyCommand() + "' -b npy --shape 7x300,3x64 --stats --min-samples 3 "
                   "--time-budget 0.05 --dist normal --plugin-timeout 1 --quiet --json " + json.string(),
                   std::string("NUMPY_LN_SERVE=1 NUMPY_LN_PIDS=") + pids.string() + " NUMPY_LN_BUG=" + m.bug);
    EXPECT_EQ(r.code, m.code) << m.bug << ": " << r.err;
    const auto cases = nlohmann::json::parse(Slurp(json))["cases"];
    ASSERT_EQ(cases.size(), 2u) << m.bug;
    for (const auto& c : cases) {
      EXPECT_EQ(c["status"], m.status) << m.bug;
      EXPECT_NE(c["reason"].get<std::string>().find(m.reason), std::string::npos) << m.bug << ": " << c["reason"];
    }
    std::istringstream lines(Slurp(pids));
    std::vector<std::string> served;
    for (std::string line; std::getline(lines, line);) served.push_back(line);
    // A passing case runs four times (two verifications, the timing, the
    // verification after it); a failing one stops at its first run.
    ASSERT_EQ(served.size(), m.code == 0 ? 8u : 2u) << m.bug;
    const size_t processes = std::set<std::string>(served.begin(), served.end()).size();
    EXPECT_EQ(processes, m.one_process ? 1u : served.size()) << m.bug;
  }
}

TEST(GuardedBufferTest, CanariesChecksumsAndGuardHits) {
  GuardedBuffer g("y", 100);
  auto* p = static_cast<unsigned char*>(g.data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  EXPECT_EQ(g.CheckCanaries(), "");
  const uint64_t sum = g.Checksum();
  p[5] ^= 1;
  EXPECT_NE(g.Checksum(), sum);
  p[102] = 0;
  EXPECT_EQ(g.CheckCanaries(), "y: written past its end of 100 bytes (byte 2 to byte 2 after it)");
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  EXPECT_EQ(g.DescribeGuardHit(start - 8), "y: 8 bytes before its start");
  EXPECT_EQ(g.DescribeGuardHit(start + 4096 + 10), "y: byte 4006 after its end of 100 bytes (guard page)");
  EXPECT_EQ(g.DescribeGuardHit(start + 50), "");
}

}  // namespace
}  // namespace lnbench
