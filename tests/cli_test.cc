// End-to-end tests of the lnbench binary: exit codes, one-line errors, the
// JSON report against its schema, repro lines, edge shapes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <set>
#include <string>

#include "core/npy.h"
#include "core/thread_pool.h"
#include "support/report_schema.h"
#include "support/run_binary.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;

using Result = test_support::BinaryResult;
using test_support::Slurp;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lnbench_cli_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs lnbench with `args` (a shell-quoted string) and returns code, stdout, stderr.
  Result Run(const std::string& args) {
    return test_support::RunLnbench("", args, dir_);
  }

  // Expects exit code 2, a single-line error naming `needle`, and nothing written.
  void ExpectUsageError(const std::string& args, const std::string& needle) {
    const fs::path json = dir_ / "report.json";
    Result r = Run(args + " --json " + json.string());
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line expected: " << r.err;
    EXPECT_FALSE(fs::exists(json)) << args;
  }

  nlohmann::json LoadReport(const fs::path& p) { return nlohmann::json::parse(Slurp(p)); }

  void ExpectSchemaValid(const nlohmann::json& report) { test_support::ExpectReportMatchesSchema(report); }

  // Runs lnbench with `args` and --json <dir>/report.json, asserts exit 0 and
  // stores the report, checked against the schema, then removes the file
  // (call under ASSERT_NO_FATAL_FAILURE).
  void RunForReport(const std::string& args, nlohmann::json* report) {
    const fs::path json = dir_ / "report.json";
    const Result r = Run(args + " --json " + json.string());
    ASSERT_EQ(r.code, 0) << args << "\n" << r.out << r.err;
    *report = LoadReport(json);
    fs::remove(json);  // later runs in the test may expect no report there
    ExpectSchemaValid(*report);
  }

  fs::path dir_;
};

// The schema check itself can fail: a report with a wrong dtype, a NaN
// ceiling written as a number and no repro line breaks it in three places.
TEST_F(CliTest, SchemaCheckRejectsABrokenReport) {
  const fs::path json = dir_ / "report.json";
  Result r = Run("run -b scalar --shape 3x5,2x7 --dtype f32 --time-budget 0.01 --quiet --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json report = LoadReport(json);
  ExpectSchemaValid(report);
  report["cases"][0]["problem"]["dtype"] = "f64";
  report["cases"][1].erase("repro");
  report["schema_version"] = "one";
  const fs::path broken = dir_ / "broken.json";
  std::ofstream(broken) << report.dump(1);
  std::string output;
  EXPECT_EQ(test_support::CheckReportSchemaFile(broken.string(), &output), 1) << output;
  EXPECT_NE(output.find("$.cases[0].problem.dtype"), std::string::npos) << output;
  EXPECT_NE(output.find("repro"), std::string::npos) << output;
  EXPECT_NE(output.find("$.schema_version"), std::string::npos) << output;
}

TEST_F(CliTest, VersionAndHelp) {
  Result r = Run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("lnbench"), std::string::npos);
  EXPECT_EQ(Run("--help").code, 0);
  EXPECT_EQ(Run("run --help").code, 0);
  EXPECT_EQ(Run("").code, 2);  // a subcommand is required
}

TEST_F(CliTest, ListShowsBackendsAndReasons) {
  Result r = Run("list");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("scalar: available"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("twopass"), std::string::npos);
  EXPECT_NE(r.out.find("models"), std::string::npos);
  // Any unavailable backend says why.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (line.find(": unavailable") != std::string::npos) {
      EXPECT_NE(line.find("("), std::string::npos) << line;
    }
}

TEST_F(CliTest, RunWritesSchemaValidReport) {
  const fs::path json = dir_ / "r.json";
  Result r = Run("run -b scalar --shape 64x768,3x257 --dtype f32,bf16 --threads 1 --time-budget 0.05 --json " +
                 json.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ceiling"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 passed, 0 failed"), std::string::npos) << r.out;
  const auto report = LoadReport(json);
  ExpectSchemaValid(report);
  EXPECT_EQ(report["schema_version"], 3);
  EXPECT_EQ(report["summary"]["passed"], 4);
  ASSERT_EQ(report["cases"].size(), 4u);
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed");
    ASSERT_TRUE(c["timing"].is_object());
    EXPECT_GE(c["timing"]["samples_s"].size(), 10u);
    EXPECT_GT(c["timing"]["median_s"].get<double>(), 0);
    ASSERT_TRUE(c["throughput"].is_object());
    EXPECT_GT(c["throughput"]["fraction_of_ceiling"].get<double>(), 0);
    EXPECT_EQ(c["threads"], 1);
    const std::string repro = c["repro"];
    EXPECT_EQ(repro.rfind("lnbench run -b scalar --shape ", 0), 0u) << repro;
    EXPECT_NE(repro.find("--threads 1"), std::string::npos) << repro;
    // Defaults are not repeated.
    EXPECT_EQ(repro.find("--seed"), std::string::npos) << repro;
    EXPECT_EQ(repro.find("--dist"), std::string::npos) << repro;
  }
  EXPECT_FALSE(report["ceilings"].empty());
  EXPECT_EQ(report["context"]["argv"][1], "run");
  // No temporary file is left next to the report.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.path().filename().string()[0] == '.';
  EXPECT_EQ(files, 0);
}

// --ceiling-per-case measures the copy ceiling again before every timed case
// and divides each case by its own; by default cases of one device, thread
// count and size bucket share one measurement. 64x768 and 60x768 f32 fall in
// the same bucket (512 KiB of read + written bytes, memcpy only: in cache).
TEST_F(CliTest, CeilingPerCaseMeasuresTheCeilingBeforeEveryTimedCase) {
  const std::string args = "run -b scalar --shape 64x768,60x768 --threads 1 --time-budget 0.02 --json ";
  const fs::path shared = dir_ / "shared.json";
  Result r = Run(args + shared.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto report = LoadReport(shared);
  ExpectSchemaValid(report);
  EXPECT_EQ(report["config"]["ceiling"], "shared");
  ASSERT_EQ(report["ceilings"].size(), 1u) << report["ceilings"].dump();
  ASSERT_EQ(report["cases"].size(), 2u);
  for (const auto& c : report["cases"])
    EXPECT_EQ(c["throughput"]["ceiling_gbps"], report["ceilings"][0]["bandwidth_gbps"]);
  EXPECT_EQ(r.out.find("one per case"), std::string::npos) << r.out;

  const fs::path per_case = dir_ / "per_case.json";
  r = Run(args + per_case.string() + " --ceiling-per-case");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  report = LoadReport(per_case);
  ExpectSchemaValid(report);
  EXPECT_EQ(report["config"]["ceiling"], "per_case");
  ASSERT_EQ(report["cases"].size(), 2u);
  ASSERT_EQ(report["ceilings"].size(), 2u) << report["ceilings"].dump();
  // In the order the cases ran, each against the measurement made just before it.
  for (size_t i = 0; i < 2; ++i) {
    const auto& c = report["cases"][i];
    const auto& ceiling = report["ceilings"][i];
    EXPECT_EQ(ceiling["method"], "memcpy");
    EXPECT_EQ(c["throughput"]["ceiling_gbps"], ceiling["bandwidth_gbps"]);
    EXPECT_NEAR(c["throughput"]["fraction_of_ceiling"].get<double>(),
                c["throughput"]["bandwidth_gbps"].get<double>() / ceiling["bandwidth_gbps"].get<double>(),
                1e-9);
  }
  // The table gives the two measurements one line, with their range.
  EXPECT_NE(r.out.find("cpu 1 thr memcpy: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(2 measurements, one per case;"), std::string::npos) << r.out;
}

// --ceiling paired times a copy before every sample of every case: each
// case has its own ceiling measurement with one copy per sample, and its
// fraction is the median of the samples' own fractions, which the report's
// samples reproduce. In cache (as here) only memcpy is timed.
// --cpus pins every case's threads: the report names the CPUs, --threads 0
// means one per listed CPU, and a thread count the list cannot hold, a CPU
// the process may not use or garbage is a usage error (exit 2, one line).
TEST_F(CliTest, CpusPinsThreadsAndTheReportSaysSo) {
  const std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  const std::string last = std::to_string(allowed.back());
  const fs::path json = dir_ / "pinned.json";
  Result r = Run("run -b scalar --shape 64x768 --threads 0 --cpus " + last + " --time-budget 0.02 -q --json " +
                 json.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto report = LoadReport(json);
  ExpectSchemaValid(report);
  EXPECT_EQ(report["context"]["cpu"]["pinned_cpus"], nlohmann::json::array({allowed.back()}));
  EXPECT_EQ(report["context"]["cpu"]["hardware_threads"], 1);
  ASSERT_EQ(report["cases"].size(), 1u);
  EXPECT_EQ(report["cases"][0]["threads"], 1);
  r = Run("run -b scalar --shape 64x768 --time-budget 0.02 -q --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_FALSE(LoadReport(json)["context"]["cpu"].contains("pinned_cpus"));
  // oneDNN's OpenMP team is pinned as lnbench's pool is: thread i on the i-th CPU.
  if (LNBENCH_BUILT_WITH_ONEDNN && allowed.size() >= 2) {
    const std::string list = last + "," + std::to_string(allowed.front());
    r = Run("run -b onednn,highway --shape 512x768 --threads 1,2 --cpus " + list +
            " --time-budget 0.02 -q --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    report = LoadReport(json);
    ASSERT_EQ(report["cases"].size(), 4u);
    for (const auto& c : report["cases"]) {
      if (c["backend"] != "onednn") continue;
      EXPECT_EQ(c["details"]["omp_cpus"], c["threads"] == 1 ? last : list) << c["details"].dump();
    }
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--cpus " + last + " --threads 2", "--threads 2 needs 2 CPUs, but --cpus '" + last + "' lists 1"},
      {"--cpus 99999", "--cpus '99999': CPU 99999 is not one this process may run on (allowed: "},
      {"--cpus 1-x", "--cpus '1-x': 'x' is not a CPU number"},
  };
  for (const auto& [args, says] : bad) {
    r = Run("run -b scalar --shape 4x8 " + args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST_F(CliTest, CeilingPairedDividesEverySampleByItsOwnCopy) {
  const fs::path json = dir_ / "paired.json";
  Result r = Run("run -b scalar --shape 64x768,60x768 --threads 1 --time-budget 0.02 --ceiling paired --json " +
                 json.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto report = LoadReport(json);
  ExpectSchemaValid(report);
  EXPECT_EQ(report["config"]["ceiling"], "paired");
  ASSERT_EQ(report["cases"].size(), 2u);
  ASSERT_EQ(report["ceilings"].size(), 2u) << report["ceilings"].dump();
  for (size_t i = 0; i < 2; ++i) {
    const auto& c = report["cases"][i];
    const auto& ceiling = report["ceilings"][i];
    const auto& t = c["throughput"];
    const auto& kernel = c["timing"]["samples_s"];
    const auto& copies = ceiling["samples_s"];
    EXPECT_EQ(ceiling["method"], "memcpy");
    ASSERT_EQ(copies.size(), kernel.size());
    EXPECT_EQ(t["pairs"], kernel.size());
    EXPECT_EQ(t["ceiling_gbps"], ceiling["bandwidth_gbps"]);
    std::vector<double> f;
    const double bytes = c["bytes"]["total"].get<double>(), copy_bytes = ceiling["bytes_per_copy"].get<double>();
    for (size_t k = 0; k < kernel.size(); ++k)
      f.push_back(bytes * copies[k].get<double>() / (kernel[k].get<double>() * copy_bytes));
    std::sort(f.begin(), f.end());
    const auto quantile = [&f](double q) {
      const double pos = q * static_cast<double>(f.size() - 1);
      const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, f.size() - 1);
      return f[lo] + (f[hi] - f[lo]) * (pos - static_cast<double>(lo));
    };
    EXPECT_NEAR(t["fraction_of_ceiling"].get<double>(), quantile(0.5), 1e-9 * quantile(0.5));
    EXPECT_NEAR(t["fraction_p10"].get<double>(), quantile(0.1), 1e-9 * quantile(0.5));
    EXPECT_NEAR(t["fraction_p90"].get<double>(), quantile(0.9), 1e-9 * quantile(0.5));
  }
  EXPECT_NE(r.out.find("(2 measurements, one per case, paired with its samples;"), std::string::npos) << r.out;

  // An unknown mode, or both spellings at once, is a usage error.
  r = Run("run -b scalar --shape 4x8 --ceiling sometimes");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--ceiling"), std::string::npos) << r.err;
  r = Run("run -b scalar --shape 4x8 --ceiling paired --ceiling-per-case");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
}

TEST_F(CliTest, ReproLineRerunsTheSameCase) {
  const fs::path json = dir_ / "r.json";
  ASSERT_EQ(Run("run -b scalar --shape 5x1023 --dtype f16 --dist offset1e4 --seed 7 --stats --time-budget 0.02 --json " +
                json.string()).code, 0);
  const auto first = LoadReport(json)["cases"][0];
  std::string repro = first["repro"];
  ASSERT_EQ(repro.rfind("lnbench ", 0), 0u);
  const fs::path json2 = dir_ / "r2.json";
  EXPECT_NE(repro.find(" --time-budget 0.02"), std::string::npos) << repro;  // not the default: kept
  Result r = Run(repro.substr(8) + " --json " + json2.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto second = LoadReport(json2)["cases"][0];
  EXPECT_EQ(first["id"], second["id"]);
  EXPECT_EQ(first["problem"], second["problem"]);
  EXPECT_EQ(first["accuracy"]["tensors"]["y"]["max_abs"], second["accuracy"]["tensors"]["y"]["max_abs"]);
}

// Every repro line reruns exactly its case, also where that once failed:
// verify's backward cases (verify runs both output modes unless one is
// named), a backward case on --input whose dy comes from --seed, and paths
// that need quoting in a shell.
TEST_F(CliTest, ReproLinesRerunExactlyTheirCase) {
  const fs::path folder = dir_ / "with space's";
  fs::create_directories(folder);
  const fs::path x = folder / "x y.npy";
  std::vector<float> values(6 * 40);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 37) % 11) - 5.0f;
  WriteNpy(x.string(), {6, 40}, NpyElement::kF32, values.data());
  const std::string quoted_x = "'" + dir_.string() + "/with space'\\''s/x y.npy'";
  for (const std::string& args :
       {std::string("verify -b scalar --dir bwd --op all --shape 5x64 --dist normal --dtype f32"),
        "verify -b scalar --dir bwd --seed 5 --input " + quoted_x}) {
    nlohmann::json report;
    ASSERT_NO_FATAL_FAILURE(RunForReport(args, &report));
    ASSERT_FALSE(report["cases"].empty());
    for (const auto& c : report["cases"]) {
      const std::string repro = c["repro"];
      const fs::path again = dir_ / "again.json";
      const Result r = Run(repro.substr(8) + " --json " + again.string());
      ASSERT_EQ(r.code, 0) << repro << "\n" << r.err;
      const auto cases = LoadReport(again)["cases"];
      ASSERT_EQ(cases.size(), 1u) << repro;
      EXPECT_EQ(cases[0]["id"], c["id"]) << repro;
      EXPECT_EQ(cases[0]["accuracy"]["tensors"]["dx"]["max_abs"], c["accuracy"]["tensors"]["dx"]["max_abs"]) << repro;
    }
  }
  // A run's repro keeps what shapes its timing: pinning, the ceiling mode,
  // the sampling options (it once dropped --cpus, --ceiling and --warmup).
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("run -b scalar --shape 4x64 --cpus 0 --ceiling paired --warmup 1 "
                                       "--min-samples 3 --max-samples 50 --max-noise 0.7 --time-budget 0.01",
                                       &report));
  ASSERT_EQ(report["cases"].size(), 1u);
  const std::string repro = report["cases"][0]["repro"];
  EXPECT_EQ(repro,
            "lnbench run -b scalar --shape 4x64 --cpus 0 --warmup 1 --min-samples 3 --max-samples 50 "
            "--max-noise 0.7 --time-budget 0.01 --ceiling paired");
  const fs::path again = dir_ / "again.json";
  const Result r = Run(repro.substr(8) + " --json " + again.string());
  ASSERT_EQ(r.code, 0) << repro << "\n" << r.err;
  const nlohmann::json rerun = LoadReport(again);
  EXPECT_EQ(rerun["cases"][0]["id"], report["cases"][0]["id"]);
  EXPECT_EQ(rerun["config"], report["config"]) << repro;
}

TEST_F(CliTest, VerifyEdgeShapesEveryDistribution) {
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b scalar --shape 0x768,1x1,1x3,2x257,1x131072,3x2041", &report));
  // 6 shapes x 3 dtypes x 9 distributions x 2 output modes.
  EXPECT_EQ(report["cases"].size(), 6u * 3 * 9 * 2);
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
    EXPECT_TRUE(c["timing"].is_null());
  }
}

// eps = 0 is allowed: a row of equal values then has var + eps = 0, so rstd
// is infinite and y is NaN in the reference too, but its mean is exact and
// finite, and is checked as a number (it once had to be NaN, failing every
// correct kernel on such rows and on every row of H = 1).
TEST_F(CliTest, EpsZeroKeepsTheMeanOfAConstantRowChecked) {
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b scalar,highway --eps 0 --shape 3x1,4x64 --op all "
                                       "--dir all --dist constant,normal --no-coverage",
                                       &report));
  int with_mean = 0;
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
    const auto& tensors = c["accuracy"]["tensors"];
    if (tensors.contains("mean")) {
      ++with_mean;
      EXPECT_EQ(tensors["mean"]["checked"], c["problem"]["rows"]) << c["id"];
    }
  }
  EXPECT_GT(with_mean, 0);
}

// Returns n values in [-0.5, 0.5) from a fixed linear congruential sequence.
std::vector<float> UniformAroundZero(size_t n, uint32_t seed) {
  std::vector<float> values(n);
  uint32_t state = seed;
  for (float& v : values) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  }
  return values;
}

// Rows of finite values whose squares overflow f32 (|x| up to 1e36; the
// blocks' f32 sums overflow from about 1e18 at H = 1000): Highway's forward
// takes their statistics again in double. It gave rstd 0 and y = beta (rrms 0
// and y = 0 for RMSNorm) on every target from 1e18 up.
TEST_F(CliTest, HighwayForwardRowsWhoseSquaresOverflowF32) {
  const fs::path x = dir_ / "x.npy";
  std::vector<float> values = UniformAroundZero(6 * 1000, 12345);
  for (size_t i = 0; i < values.size(); ++i) {
    const float scale = i < 2000 ? 1e18f : i < 4000 ? 1e24f : 1e36f;  // two rows of each
    values[i] = values[i] * scale + (i / 1000 == 5 ? 3e36f : 0.0f);     // the last row off zero
  }
  WriteNpy(x.string(), {6, 1000}, NpyElement::kF32, values.data());
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b highway --variant all --op all --dir fwd --dtype f32,bf16 --input " +
                                           x.string(),
                                       &report));
  ASSERT_GE(report["cases"].size(), 8u);
  for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
}

// The other end: rows of values near 2^-70, whose f32 squares are
// subnormal (2^-140), lose most of their bits in the f32 sums; with --eps 0
// nothing hides that in rstd. LayerNorm f32 failed on avx2, sse4 and the
// fallback (1.2-2.7x the allowance), RMSNorm bf16 on every target (about
// 1.5x): such rows' statistics are taken again in double when eps is too
// small to hide them.
TEST_F(CliTest, HighwayForwardRowsWhoseSquaresAreSubnormalWithEpsZero) {
  const fs::path x = dir_ / "x.npy";
  std::vector<float> values = UniformAroundZero(8 * 4096, 777);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = std::ldexp(values[i] + (i / 4096 % 2 == 1 ? 0.75f : 0.0f), -70);  // odd rows off zero
  WriteNpy(x.string(), {8, 4096}, NpyElement::kF32, values.data());
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b highway --variant all --op all --dir fwd --dtype f32,bf16 --eps 0 "
                                       "--input " + x.string(),
                                       &report));
  ASSERT_GE(report["cases"].size(), 8u);
  for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
}

// The backward on rows far from magnitude 1: spreads of 1e18 to 1e36 (rstd
// near 1e-36, whose square underflows f32), and with --eps 0 spreads of 2^-70
// and 2^-100 (rstd near 2^100, whose square overflows). dx's coefficient
// -rstd^2 * b left f32's range: dx was 4.7e4 to 9.7e4 times the allowance
// off, or infinite, on every target and path. Such rows' dx is written again
// in double (ExactDxRow in norm_bwd_highway-inl.h). Widths through each path
// (with gamma and without): one lane at a time (7), register partials (128),
// single rows (1000), f32 row pairs and 16-bit chunked groups (4096), and
// streamed fused groups (4096 with stream_min_bytes=0).
TEST_F(CliTest, HighwayBackwardRowsOfExtremeScale) {
  for (const bool tiny : {false, true}) {
    for (const int64_t cols : {int64_t{7}, int64_t{128}, int64_t{1000}, int64_t{4096}}) {
      const fs::path x = dir_ / ("x" + std::to_string(cols) + (tiny ? "t" : "h") + ".npy");
      constexpr int64_t kRows = 8;
      std::vector<float> values = UniformAroundZero(static_cast<size_t>(kRows * cols), 4321);
      for (size_t i = 0; i < values.size(); ++i) {
        const int64_t row = static_cast<int64_t>(i) / cols;
        const float off = row % 2 == 1 ? 0.75f : 0.0f;  // odd rows off zero
        values[i] = tiny ? std::ldexp(values[i] + off, row < 4 ? -70 : -100)
                         : (values[i] + off) * (row < 4 ? 1e18f : row < 6 ? 1e24f : 1e36f);
      }
      WriteNpy(x.string(), {kRows, cols}, NpyElement::kF32, values.data());
      for (const char* tune : {"", " --tune stream_min_bytes=0"}) {
        if (*tune != '\0' && cols != 4096) continue;
        nlohmann::json report;
        ASSERT_NO_FATAL_FAILURE(RunForReport(std::string("verify -b highway --variant all --op all --dir bwd ") +
                                                 "--dtype f32,bf16 --both-modes" + (tiny ? " --eps 0" : "") + tune +
                                                 " --input " + x.string(),
                                             &report));
        ASSERT_GE(report["cases"].size(), 16u);
        for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
      }
    }
  }
}

// dy of subnormal size (rows of 1e-36 down to 1e-45): f32 dx a subnormal step
// or two from the float64 value is all an f32 kernel can do there, and the
// bound's floor (kF32MinNormal, docs/verification.md "Underflow") allows it.
// Without the floor the scalar and Highway backwards failed f32 dx on these
// rows ("2.2e4x the compute allowance").
TEST_F(CliTest, BackwardOnSubnormalDyPasses) {
  for (const int64_t cols : {int64_t{128}, int64_t{1000}}) {
    constexpr int64_t kRows = 6;
    const fs::path x = dir_ / "x.npy", dy = dir_ / "dy.npy";
    std::vector<float> xs = UniformAroundZero(static_cast<size_t>(kRows * cols), 99);
    std::vector<float> dys = UniformAroundZero(static_cast<size_t>(kRows * cols), 7);
    const float scales[kRows] = {1e-36f, 1e-38f, 1e-40f, 1e-42f, 1e-44f, 1e-45f};
    for (size_t i = 0; i < dys.size(); ++i) dys[i] *= 2 * scales[i / static_cast<size_t>(cols)];
    WriteNpy(x.string(), {kRows, cols}, NpyElement::kF32, xs.data());
    WriteNpy(dy.string(), {kRows, cols}, NpyElement::kF32, dys.data());
    nlohmann::json report;
    ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b scalar,highway --variant all --op all --dir bwd --dtype f32 "
                                         "--both-modes --input " + x.string() + " --dy " + dy.string(),
                                         &report));
    ASSERT_GE(report["cases"].size(), 12u);
    for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
  }
}

// eps far above the variance (1e16-1e30 on rows of about 1): y is tiny and
// the mean's error weighs sigma * rstd = sqrt(var / (var + eps)) in the
// bound. Taken as 1 - eps rstd^2, that cancelled to 0 from about eps = 1e16,
// and correct Highway kernels failed up to 5.1x the allowance (eps 1e20:
// "got -6.41195064e-14 expected -6.41189137e-14").
TEST_F(CliTest, EpsFarAboveTheVarianceKeepsTheMeansShareOfTheBound) {
  const fs::path x = dir_ / "x.npy";
  const std::vector<float> values = UniformAroundZero(8 * 128, 3);
  WriteNpy(x.string(), {8, 128}, NpyElement::kF32, values.data());
  for (const char* eps : {"1e16", "1e20", "1e30"}) {
    nlohmann::json report;
    ASSERT_NO_FATAL_FAILURE(RunForReport(std::string("verify -b scalar,highway --variant all --dtype f32,bf16 --both-modes --eps ") +
                                             eps + " --input " + x.string(),
                                         &report));
    ASSERT_GE(report["cases"].size(), 12u);
    for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << eps << " " << c["id"] << c["reason"];
  }
}

// Outputs at the overflow edge: a y one compute error from the dtype's
// overflow threshold may round either way, to the largest finite value or to
// Inf, and both pass. f32: x = (1, -1), eps 1e-8 (1 + eps is 1 in f32), gamma
// FLT_MAX and beta 2^103 give y = FLT_MAX + 2^103 (1 - 4e-9): Highway's Inf
// failed ("got inf expected 3.40282347e+38"). f16: gamma 65504, beta 16 give
// 65519.998, which rounds to 65504, but the checker's double -> f32 -> f16
// rounding made it 65520, Inf, and failed the right answer. A wrong Inf (far
// from the threshold) still fails.
TEST_F(CliTest, OutputsAtTheOverflowEdgePassEitherWay) {
  struct Edge {
    const char* dtype;
    double eps;
    float gamma, beta;
  };
  for (const Edge e : {Edge{"f32", 1e-8, 3.40282347e38f, 0x1p103f}, Edge{"f16", 5.961e-8, 65504.0f, 16.0f}}) {
    const std::vector<float> x = {1.0f, -1.0f}, gamma(2, e.gamma), beta(2, e.beta);
    WriteNpy((dir_ / "x.npy").string(), {1, 2}, NpyElement::kF32, x.data());
    WriteNpy((dir_ / "g.npy").string(), {2}, NpyElement::kF32, gamma.data());
    WriteNpy((dir_ / "b.npy").string(), {2}, NpyElement::kF32, beta.data());
    nlohmann::json report;
    ASSERT_NO_FATAL_FAILURE(RunForReport(fmt::format("verify -b scalar,highway --variant all --dtype {} --eps {} --input {} "
                                                     "--gamma {} --beta {}",
                                                     e.dtype, e.eps, (dir_ / "x.npy").string(),
                                                     (dir_ / "g.npy").string(), (dir_ / "b.npy").string()),
                                         &report));
    // scalar and every Highway variant of this build (the sanitizer build
    // compiles fewer targets), both modes.
    ASSERT_GE(report["cases"].size(), 10u);
    for (const auto& c : report["cases"]) EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
  }
}

// No output replaces a file the same command reads: --json onto --input (by
// its name or a link), onto the --config file, compare's and merge's -o onto
// one of their reports. Each is a one-line usage error before any work, and
// the input keeps its bytes. A --config that is a FIFO is refused at once
// (CLI11 would block opening it).
TEST_F(CliTest, OutputsNeverReplaceTheirInputs) {
  const fs::path x = dir_ / "x.npy", link = dir_ / "link.json", toml = dir_ / "c.toml", fifo = dir_ / "f.toml";
  const std::vector<float> values(4 * 8, 1.5f);
  WriteNpy(x.string(), {4, 8}, NpyElement::kF32, values.data());
  const std::string x_bytes = Slurp(x);
  fs::create_symlink(x, link);
  std::ofstream(toml) << "[run]\nshape = \"4x64\"\n";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto expect_refused = [&](const std::string& args, const std::string& needle) {
    const Result r = Run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  expect_refused("run -b scalar --input " + x.string() + " --json " + x.string(),
                 "--json '" + x.string() + "': is also an input of this run: write the output elsewhere");
  expect_refused("verify -b scalar --input " + x.string() + " --json " + link.string(),
                 "--json '" + link.string() + "': is '" + x.string() + "', an input of this run");
  EXPECT_EQ(Slurp(x), x_bytes);
  EXPECT_TRUE(fs::is_symlink(link));
  expect_refused("run -b scalar --config " + toml.string() + " --json " + toml.string(), "is also an input");
  expect_refused("run -b scalar --config " + fifo.string(), "--config: '" + fifo.string() + "': not a regular file");
  expect_refused("run -b scalar --input " + x.string() + " --dist uniform", "--input holds the values: drop --dist");
  // An array of tables, which CLI11 skipped in silence.
  const fs::path tables = dir_ / "tables.toml";
  std::ofstream(tables) << "[run]\nshape = \"4x64\"\n\n  [[run]]\nshape = \"8x64\"\n";
  expect_refused("run -b scalar --config " + tables.string(),
                 "[[run]] (an array of tables) is not read: give one [run] or [verify] section");
  const fs::path array = dir_ / "array.toml";
  std::ofstream(array) << "[run]\nshape = [\"4x64\", \"8x64\"]\n";
  expect_refused("run -b scalar --config " + array.string(), "or as a TOML array in the --config file");
  // A loop of links is named with its option.
  fs::create_symlink(dir_ / "loop2.json", dir_ / "loop1.json");
  fs::create_symlink(dir_ / "loop1.json", dir_ / "loop2.json");
  expect_refused("run -b scalar --shape 2x8 --json " + (dir_ / "loop1.json").string(),
                 "--json '" + (dir_ / "loop1.json").string() + "': too many levels of symbolic links");
  const fs::path a = dir_ / "a.json";
  ASSERT_EQ(Run("run -b scalar --shape 2x8 --time-budget 0.01 --min-samples 3 -q --json " + a.string()).code, 0);
  const std::string a_bytes = Slurp(a);
  expect_refused("compare " + a.string() + " " + a.string() + " -o " + a.string(), "-o '" + a.string() + "': is also an input");
  expect_refused("merge " + a.string() + " -o " + a.string(), "-o '" + a.string() + "': is also an input");
  EXPECT_EQ(Slurp(a), a_bytes);
}

// The same case named twice runs once: a backend in two spellings, a shape
// twice, --threads 0 beside the count it resolves to. A report with a case
// twice is refused by compare and merge ("compare needs one result per case").
TEST_F(CliTest, ACaseNamedTwiceRunsOnce) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const std::string all = std::to_string(CPU_COUNT(&set));
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("run -b scalar,Scalar --shape 4x64,4x64 --threads 0," + all +
                                           " --time-budget 0.01 --min-samples 3",
                                       &report));
  EXPECT_EQ(report["cases"].size(), 1u) << report["cases"].dump();
  const fs::path json = dir_ / "once.json";
  std::ofstream(json) << report.dump();
  const Result r = Run("compare " + json.string() + " " + json.string());
  EXPECT_EQ(r.code, 0) << r.err;
}

// The default verify adds each backend's coverage cases (code paths the
// default shapes miss); their repro lines carry the tuning and rerun them.
TEST_F(CliTest, DefaultVerifyRunsCoverageCases) {
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b highway --variant auto --dtype f32 --dist normal", &report));
  int coverage = 0, streamed = 0;
  std::string stream_repro, stream_id;
  for (const auto& c : report["cases"]) {
    if (!c.contains("coverage")) continue;
    ++coverage;
    EXPECT_EQ(c["status"], "passed") << c["id"] << c["reason"];
    if (c.contains("tuning")) {
      ++streamed;
      EXPECT_EQ(c["tuning"]["stream_min_bytes"], "0");
      EXPECT_EQ(c["details"]["streaming_stores"], "yes") << c["id"];
      stream_repro = c["repro"];
      stream_id = c["id"];
    }
  }
  EXPECT_GT(coverage, 0);
  EXPECT_GT(streamed, 0);
  ASSERT_NE(stream_repro.find("--tune stream_min_bytes=0"), std::string::npos) << stream_repro;
  const fs::path json2 = dir_ / "v2.json";
  ASSERT_EQ(Run(stream_repro.substr(8) + " --json " + json2.string()).code, 0);
  EXPECT_EQ(LoadReport(json2)["cases"][0]["id"], stream_id);
  // --no-coverage: the default shapes only.
  const fs::path json3 = dir_ / "v3.json";
  ASSERT_EQ(Run("verify -b highway --variant auto --dtype f32 --dist normal --no-coverage --json " +
                json3.string()).code, 0);
  EXPECT_EQ(LoadReport(json3)["cases"].size(), report["cases"].size() - coverage * 1u);
  ExpectUsageError("run -b scalar --shape 4x4 --tune nosuch=1", "unknown --tune key 'nosuch' (have: none)");
  ExpectUsageError("run -b highway --shape 4x4 --tune stream_min_bytes", "bad --tune 'stream_min_bytes'");
  ExpectUsageError("verify -b highway --shape 4x300 --tune stream_min_bytes=-3",
                   "stream_min_bytes must be a number of bytes >= 0");
}

TEST_F(CliTest, BadInputsAreOneLineUsageErrors) {
  ExpectUsageError("run -b nosuch --shape 4x4", "unknown backend 'nosuch'");
  ExpectUsageError("run -b scalar --shape 4x4 --dtype f64", "unknown dtype 'f64'");
  ExpectUsageError("run -b scalar --shape 4x4 --dist gauss", "unknown distribution 'gauss'");
  ExpectUsageError("run -b scalar --shape 12x", "bad shape '12x'");
  ExpectUsageError("run -b scalar --shape -5x3", "bad shape '-5x3'");
  ExpectUsageError("run -b scalar --shape 4x0", "hidden size");
  ExpectUsageError("run -b scalar --shape 4xabc", "bad shape");
  ExpectUsageError("run -b scalar --cols 0", "bad hidden size '0'");
  ExpectUsageError("run -b scalar --cols 64:8:*2", "bad sweep");
  ExpectUsageError("run -b scalar --shape 100000000x100000", "host memory");
  ExpectUsageError("run -b scalar --shape 4x4 --variant fastest", "unknown variant 'fastest'");
  ExpectUsageError("run -b scalar --shape 4x4 --threads -1", "--threads");
  ExpectUsageError("run -b scalar --shape 4x4 --eps nan", "eps");
  ExpectUsageError("run -b scalar --shape 4x4 --input-bytes 1MiB", "--input-bytes");
  ExpectUsageError("run -b scalar --shape 4x4 --bogus", "bogus");
  // Empty values and empty list items are refused, not read as the default
  // or skipped; options that contradict each other are refused.
  ExpectUsageError("run -b scalar --shape 4x4 --dtype f32,,bf16", "--dtype: an empty item in 'f32,,bf16'");
  ExpectUsageError("run -b scalar --shape 4x4 --variant ''", "--variant: empty value");
  ExpectUsageError("run -b scalar --shape 4x4 --threads ,", "--threads: an empty item in ','");
  ExpectUsageError("run -b scalar --shape 4x4 --eps ''", "--eps: empty value");
  ExpectUsageError("run -b scalar --cols 64 --input-bytes 0", "bad size '0': expected at least 1 byte");
  // What is not a number is said so (CLI11's range check said "Value 1.5 not
  // in range", and read 0x3 as 3).
  ExpectUsageError("run -b scalar --cols 64 --rows 1.5", "--rows: '1.5' is not a whole number");
  ExpectUsageError("run -b scalar --shape 4x4 --min-samples 0x3", "--min-samples: '0x3' is not a whole number");
  ExpectUsageError("run -b scalar --shape 4x4 --time-budget 1h", "--time-budget: '1h' is not a duration");
  ExpectUsageError("run -b scalar --shape 4x4 --max-noise abc", "--max-noise: 'abc' is not a number");
  ExpectUsageError("verify -b scalar --shape 4x4 --both-modes --no-affine", "--both-modes runs both output modes");
  ExpectUsageError("run -b highway --shape 4x4 --hwy-target AVX2 --variant avx3", "give it or --variant, not both");
  // --filter is matched without backtracking: a pattern that is exponential
  // for a backtracking matcher ends at once (no case matches it).
  ExpectUsageError("run -b scalar --shape 4x64 --filter '(.*)*Q'", "--filter '(.*)*Q' matches no case");
  ExpectUsageError("run -b scalar --shape 4x64 --filter '(a)\\1'", "back-references (\\1) are not supported");
  // A line break in a value is escaped: the error stays one line.
  ExpectUsageError("run -b \"$(printf 'sca\\nlar')\" --shape 4x4", "unknown backend 'sca\\nlar'");
  // Several problems are reported together.
  Result r = Run("run -b nosuch --shape 4x4 --dtype f64");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nosuch"), std::string::npos);
  EXPECT_NE(r.err.find("f64"), std::string::npos);
}

TEST_F(CliTest, UnwritableReportPathIsUsageError) {
  Result r = Run("run -b scalar --shape 4x4 --json /nonexistent-folder/x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent-folder"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("passed"), std::string::npos) << "nothing should run";
}

TEST_F(CliTest, BadNpyInputIsUsageError) {
  const fs::path bad = dir_ / "bad.npy";
  std::ofstream(bad) << "this is not an npy file";
  ExpectUsageError("run -b scalar --input " + bad.string(), "bad.npy");
  ExpectUsageError("run -b scalar --input " + (dir_ / "missing.npy").string(), "missing.npy");
}

TEST_F(CliTest, UnavailableBackendNamedExplicitlyIsUsageError) {
  Result list = Run("list");
  std::istringstream lines(list.out);
  for (std::string line; std::getline(lines, line);) {
    const auto pos = line.find(": unavailable (");
    if (pos == std::string::npos || line[0] == ' ') continue;
    std::string name = line.substr(0, pos);
    if (const auto peer = name.find(" (peer)"); peer != std::string::npos) name = name.substr(0, peer);
    ExpectUsageError("run -b " + name + " --shape 4x4", name + ": unavailable");
    // With -b all it is skipped, with its reason in the report.
    const fs::path json = dir_ / "all.json";
    Result r = Run("run -b all --shape 2x64 --time-budget 0.01 --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.err;
    bool found = false;
    const auto report = LoadReport(json);
    for (const auto& c : report["cases"])
      if (c["backend"] == name) {
        EXPECT_EQ(c["status"], "skipped");
        EXPECT_NE(c["reason"].get<std::string>().find("unavailable"), std::string::npos);
        found = true;
      }
    EXPECT_TRUE(found) << name;
  }
}

}  // namespace
}  // namespace lnbench

namespace lnbench {
namespace {

// --dump writes the inputs, reference and outputs as .npy; --input runs on
// such a file and must reproduce the same problem's verdict and outputs.
TEST_F(CliTest, DumpThenInputRoundTrip) {
  const fs::path dump = dir_ / "dump";
  fs::create_directories(dump);
  Result r = Run("verify -b scalar --shape 6x257 --dtype f32 --dist offset1e4 --stats --dump " +
                 dump.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string tag = "6x257_f32_offset1e4_aff1_st1_seed1_";
  for (const char* name : {"x", "gamma", "beta", "ref_y", "ref_mean", "ref_rstd"})
    EXPECT_TRUE(fs::exists(dump / (tag + name + ".npy"))) << name;
  bool output_found = false;
  for (const auto& e : fs::directory_iterator(dump))
    output_found |= e.path().filename().string().find("_scalar_twopass_t") != std::string::npos;
  EXPECT_TRUE(output_found);

  const fs::path json = dir_ / "in.json";
  r = Run("run -b scalar,highway --input " + (dump / (tag + "x.npy")).string() + " --gamma " +
          (dump / (tag + "gamma.npy")).string() + " --beta " + (dump / (tag + "beta.npy")).string() +
          " --stats --time-budget 0.02 --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto report = LoadReport(json);
  ExpectSchemaValid(report);
  ASSERT_EQ(report["cases"].size(), 2u);
  for (const auto& c : report["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c["reason"];
    EXPECT_EQ(c["problem"]["dist"], "file");
    EXPECT_EQ(c["problem"]["rows"], 6);
    EXPECT_EQ(c["problem"]["cols"], 257);
    EXPECT_NE(c["repro"].get<std::string>().find("--input "), std::string::npos);
  }
  // A gamma of the wrong length is a usage error naming the file.
  ExpectUsageError("run -b scalar --input " + (dump / (tag + "x.npy")).string() + " --gamma " +
                       (dump / (tag + "ref_mean.npy")).string(),
                   "ref_mean.npy");
}

// An f16 case's dump holds x as float16 ('<f2'); read back with --input it is the
// same problem, so the same kernel gives the same outputs, bit for bit.
TEST_F(CliTest, F16DumpReadsBackAsInput) {
  const fs::path first = dir_ / "first", again = dir_ / "again";
  fs::create_directories(first);
  fs::create_directories(again);
  Result r = Run("run -b highway --shape 5x96 --dtype f16 --threads 1 --time-budget 0.02 -q --dump " +
                 first.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string tag = "5x96_f16_normal_aff1_st0_seed1_";
  const NpyArray x = ReadNpy((first / (tag + "x.npy")).string());
  EXPECT_EQ(x.descr, "<f2");
  r = Run("run -b highway --dtype f16 --threads 1 --time-budget 0.02 -q --input " +
          (first / (tag + "x.npy")).string() + " --gamma " + (first / (tag + "gamma.npy")).string() +
          " --beta " + (first / (tag + "beta.npy")).string() + " --dump " + again.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string again_tag = "5x96_f16_file_aff1_st0_seed1_";
  for (const std::string name : {"x", "ref_y"}) {
    EXPECT_EQ(ReadNpy((again / (again_tag + name + ".npy")).string()).data,
              ReadNpy((first / (tag + name + ".npy")).string()).data)
        << name;
  }
  const auto output = [](const fs::path& folder) {
    for (const auto& e : fs::directory_iterator(folder)) {
      const std::string name = e.path().filename().string();
      if (name.find("_highway_") != std::string::npos && name.size() > 6 &&
          name.compare(name.size() - 6, 6, "_y.npy") == 0)
        return ReadNpy(e.path().string());
    }
    ADD_FAILURE() << "no highway y in " << folder;
    return NpyArray{};
  };
  const NpyArray y1 = output(first), y2 = output(again);
  EXPECT_EQ(y1.descr, "<f2");
  EXPECT_EQ(y1.data, y2.data);
}

TEST_F(CliTest, OpAllVerifiesRmsNormBesideLayerNorm) {
  const fs::path dump = dir_ / "dump";
  fs::create_directories(dump);
  // Every backend: ours pass, the peers say why they cannot.
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b all --op rmsnorm --shape 7x300 --dtype all --dist "
                                       "normal,offset1e6,special --stats --dump " + dump.string() + " -q",
                                       &report));
  EXPECT_EQ(report["bytes_model"].size(), 1u);
  ASSERT_TRUE(report["bytes_model"].contains("rmsnorm fwd"));
  int rms_passed = 0;
  for (const auto& c : report["cases"]) {
    const auto& p = c["problem"];
    EXPECT_EQ(p["dir"], "fwd");
    if (p["op"] != "rmsnorm") continue;
    const std::string repro = c["repro"];
    EXPECT_NE(repro.find("--op rmsnorm"), std::string::npos) << repro;
    EXPECT_EQ(c["bytes"]["model"], report["bytes_model"]["rmsnorm fwd"]);
    // x and y of 7x300 plus gamma (300 f32) read, rrms (7 f32) written: no beta, no mean.
    const int64_t es = p["dtype"] == "f32" ? 4 : 2;
    EXPECT_EQ(c["bytes"]["read"], 7 * 300 * es + 300 * 4);
    EXPECT_EQ(c["bytes"]["written"], 7 * 300 * es + 7 * 4);
    if (c["backend"] == "scalar" || c["backend"] == "highway") {
      EXPECT_EQ(c["status"], "passed") << c["reason"];
      rms_passed += c["status"] == "passed";
      const auto& t = c["accuracy"]["tensors"];
      EXPECT_TRUE(t.contains("y") && t.contains("rstd") && !t.contains("mean")) << t.dump();
    } else if (c["backend"] == "onednn") {
      EXPECT_EQ(c["status"], "unsupported");
      EXPECT_NE(c["reason"].get<std::string>().find("no RMS normalization"), std::string::npos)
          << c["reason"];
    }
  }
  // Two backends x three dtypes x three distributions, plus highway's coverage cases.
  EXPECT_GE(rms_passed, 2 * 3 * 3);
  // Dumps are named by tensor, the op in the tag.
  const std::string tag = "rmsnorm_fwd_7x300_f32_normal_aff1_st1_seed1_";
  for (const char* name : {"x", "gamma", "ref_y", "ref_rstd", "scalar_twopass_t"})
    EXPECT_TRUE(std::any_of(fs::directory_iterator(dump), fs::directory_iterator(),
                            [&](const fs::directory_entry& e) {
                              return e.path().filename().string().rfind(tag + name, 0) == 0;
                            }))
        << name;
  EXPECT_FALSE(fs::exists(dump / (tag + "beta.npy")));

  // --op all: both ops, each case says which; the table's first column is the op.
  const fs::path both = dir_ / "both.json";
  Result r = Run("verify -b scalar --op all --shape 3x8 --json " + both.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("layernorm fwd  scalar"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rmsnorm fwd    scalar"), std::string::npos) << r.out;
  const auto two = LoadReport(both);
  ExpectSchemaValid(two);
  EXPECT_TRUE(two["bytes_model"].contains("layernorm fwd") && two["bytes_model"].contains("rmsnorm fwd"));
  std::set<std::string> ops;
  for (const auto& c : two["cases"]) ops.insert(c["problem"]["op"].get<std::string>());
  EXPECT_EQ(ops, (std::set<std::string>{"layernorm", "rmsnorm"}));
  ExpectUsageError("verify -b scalar --op groupnorm --shape 2x8", "unknown op 'groupnorm'");
}


// --dir bwd: both backward ops on every backend, scalar passing, each case
// with its tensors, bytes and repro line; dumps named by tensor; --dy for
// user data; the options' mistakes are one-line usage errors.
TEST_F(CliTest, DirBwdVerifiesTheBackwardOps) {
  const fs::path dump = dir_ / "dump";
  fs::create_directories(dump);
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b all --op all --dir bwd --shape 7x300 --dtype all --dist "
                                       "normal,offset1e6,constant,special --dump " + dump.string() + " -q",
                                       &report));
  EXPECT_EQ(report["config"]["dirs"], nlohmann::json::array({"bwd"}));
  ASSERT_TRUE(report["bytes_model"].contains("layernorm bwd"));
  ASSERT_TRUE(report["bytes_model"].contains("rmsnorm bwd"));
  int scalar_passed = 0;
  for (const auto& c : report["cases"]) {
    const auto& p = c["problem"];
    EXPECT_EQ(p["dir"], "bwd");
    EXPECT_FALSE(p["stats"].get<bool>());  // the statistics are inputs
    const std::string repro = c["repro"];
    EXPECT_NE(repro.find("--dir bwd"), std::string::npos) << repro;
    const bool layernorm = p["op"] == "layernorm";
    const bool affine = p["affine"];
    // verify names the affine mode alone as --stats (it runs both modes
    // unless one is named); the backward has no statistics outputs.
    EXPECT_EQ(repro.find("--stats") != std::string::npos, affine) << repro;
    const int64_t es = p["dtype"] == "f32" ? 4 : 2;
    // x and dy read, dx written; gamma read and dgamma (dbeta) written when affine.
    EXPECT_EQ(c["bytes"]["read"], 2 * 7 * 300 * es + (layernorm ? 2 : 1) * 7 * 4 + (affine ? 300 * 4 : 0));
    EXPECT_EQ(c["bytes"]["written"], 7 * 300 * es + (affine ? (layernorm ? 2 : 1) * 300 * 4 : 0));
    EXPECT_NE(c["status"], "failed") << c["backend"] << " " << c["reason"];
    if (c["backend"] == "scalar") {
      EXPECT_EQ(c["status"], "passed") << c["reason"];
      scalar_passed += c["status"] == "passed";
      const auto& t = c["accuracy"]["tensors"];
      std::vector<std::string> names;
      for (const auto& [k, v] : t.items()) names.push_back(k);
      std::vector<std::string> want = {"dx"};
      if (affine) want.push_back("dgamma");
      if (affine && layernorm) want.push_back("dbeta");
      std::sort(want.begin(), want.end());  // nlohmann::json sorts keys
      EXPECT_EQ(names, want);
    } else if (c["status"] == "unsupported") {
      EXPECT_FALSE(c["reason"].get<std::string>().empty());
    }
  }
  // Two ops x three dtypes x four distributions x two modes (--shape: no coverage cases).
  EXPECT_EQ(scalar_passed, 2 * 3 * 4 * 2);
  const std::string tag = "layernorm_bwd_7x300_f32_normal_aff1_st0_seed1_";
  for (const char* name : {"x", "gamma", "dy", "mean", "rstd", "ref_dx", "ref_dgamma", "ref_dbeta"})
    EXPECT_TRUE(fs::exists(dump / (tag + name + ".npy"))) << name;
  for (const char* name : {"beta", "y", "ref_y", "ref_mean"})
    EXPECT_FALSE(fs::exists(dump / (tag + name + ".npy"))) << name;
  for (const char* name : {"dx", "dgamma", "dbeta"})
    EXPECT_TRUE(fs::exists(dump / (tag + "scalar_twopass_t1_" + name + ".npy"))) << name;
  EXPECT_TRUE(fs::exists(dump / "rmsnorm_bwd_7x300_f32_normal_aff1_st0_seed1_ref_dgamma.npy"));
  EXPECT_FALSE(fs::exists(dump / "rmsnorm_bwd_7x300_f32_normal_aff1_st0_seed1_mean.npy"));

  // User data: x, gamma and dy from the dump; the repro line names --dy.
  const std::string x = (dump / (tag + "x.npy")).string();
  const std::string gamma = (dump / (tag + "gamma.npy")).string();
  const std::string dy = (dump / (tag + "dy.npy")).string();
  nlohmann::json user;
  ASSERT_NO_FATAL_FAILURE(RunForReport("verify -b scalar --op all --dir all --input " + x + " --gamma " + gamma +
                                           " --dy " + dy,
                                       &user));
  int backward = 0;
  for (const auto& c : user["cases"]) {
    EXPECT_EQ(c["status"], "passed") << c["reason"];
    const std::string repro = c["repro"];
    const bool bwd = c["problem"]["dir"] == "bwd";
    backward += bwd;
    EXPECT_EQ(repro.find("--dy " + dy) != std::string::npos, bwd) << repro;
  }
  EXPECT_EQ(backward, 12);  // two ops x three dtypes x two modes
  EXPECT_EQ(user["config"]["dy"], dy);
  // dx from the file's dy equals dx from the generated dy it was dumped from.
  const fs::path again = dir_ / "again";
  fs::create_directories(again);
  Result r = Run("verify -b scalar --dir bwd --input " + x + " --gamma " + gamma + " --dy " + dy +
                 " --dump " + again.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Slurp(again / "layernorm_bwd_7x300_f32_file_aff1_st0_seed1_ref_dx.npy"),
            Slurp(dump / (tag + "ref_dx.npy")));

  ExpectUsageError("verify -b scalar --dir sideways --shape 2x8", "unknown direction 'sideways'");
  ExpectUsageError("verify -b scalar --input " + x + " --dy " + dy, "--dy goes with --dir bwd");
  ExpectUsageError("verify -b scalar --dir bwd --shape 7x300 --dy " + dy, "go with --input");
  ExpectUsageError("verify -b scalar --dir bwd --input " + x + " --dy " + gamma, "gamma.npy");
  ExpectUsageError("verify -b scalar --dir all --input " + x + " --beta " + gamma,
                   "--beta goes with --dir fwd");
}

}  // namespace
}  // namespace lnbench
