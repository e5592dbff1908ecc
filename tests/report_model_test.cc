// The report model (src/report/report_model.h) is the one mapping between a
// report and its JSON: what the writer builds reads back into the same
// model and writes the same bytes; every fixture reads and writes the same
// JSON values; merge still gives the output it gave before the model
// existed (a golden file made by that lnbench).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "compare/merge.h"
#include "compare/report_json.h"
#include "core/bounded_read.h"
#include "core/errors.h"
#include "io/json_text.h"
#include "report/report.h"
#include "report/report_model.h"
#include "report/warnings.h"
#include "support/report_schema.h"

namespace lnbench {
namespace {

std::string Fixture(const std::string& dir, const std::string& name) {
  return std::string(LNBENCH_SOURCE_DIR) + "/tests/fixtures/" + dir + "/" + name;
}

// Returns the text of the model read back from `text`.
std::string Rewritten(const std::string& text) {
  return ReportText(ReportFromJson(ParseJsonText("report.json", text), "report.json"));
}

ErrorStats SomeErrors(double scale) {
  ErrorStats s;
  s.checked = 4096;
  s.failed = 3;
  s.nan_mismatch = 1;
  s.unwritten = 0;
  s.max_abs = 0.125 * scale;
  s.max_rel = std::numeric_limits<double>::quiet_NaN();
  s.max_ulp = std::numeric_limits<double>::infinity();
  s.max_bit_distance = 17;
  s.off_by_one = 5;
  s.rel_l2 = 1e-7 * scale;
  s.max_bound_ratio = 0.75;
  s.ulp_hist[0] = 4000;
  s.ulp_hist[1] = 96;
  s.worst_index = 1234;
  s.worst_got = -std::numeric_limits<double>::infinity();
  s.worst_ref = 1.5;
  return s;
}

// A run with every optional part of a report present: a plugin case with
// tuning, coverage, a file input, accuracy of every output, timing,
// throughput with a non-finite ceiling; an rmsnorm case; an untimed failed
// case; ceilings, GPUs and warnings.
Report FullReport() {
  RunConfig config;
  config.command = "run";
  config.backends = {"scalar", "plug"};
  config.norms = {Norm::kLayerNorm, Norm::kRmsNorm};
  config.shapes = {{64, 768}};

  RunResult result;
  CaseResult a;
  a.backend = "plug";
  a.variant = "v1";
  a.requested_variant = "v1";
  a.origin = BackendOrigin{"plugin", "/tmp/libplug.so", 1, false};
  a.device = "cpu";
  a.threads = 2;
  a.problem.rows = 64;
  a.problem.cols = 768;
  a.problem.stats = true;
  a.problem.dist = Distribution::kFile;
  a.input_file = "x.npy";
  a.input_counts = InputFileCounts{2, 5};
  a.status = CaseStatus::kPassed;
  a.accuracy.emplace();
  a.accuracy->passed = true;
  a.accuracy->thresholds = Thresholds{8, 0.5, 1e-30, 4};
  for (TensorId id : {TensorId::kY, TensorId::kMean, TensorId::kRstd}) (*a.accuracy)[id] = SomeErrors(1);
  a.timing.emplace();
  a.timing->mode = "hot";
  a.timing->batch = 4;
  a.timing->warmup_runs = 2;
  a.timing->samples_s = {1e-6, 1.25e-6, 9.5e-7};
  a.timing->stats = Summarize(a.timing->samples_s);
  a.timing->stop_reason = "noise";
  a.bytes = OpFor(a.problem).CountBytes(a.problem);
  a.throughput = Throughput{12.5, 3e9, std::numeric_limits<double>::quiet_NaN(),
                            std::numeric_limits<double>::quiet_NaN(), "memcpy"};
  a.details = {{"target", "AVX2"}, {"streaming_stores", "no"}};
  a.tuning = {{"stream_min_bytes", "0"}};
  a.coverage = "streaming stores";
  a.repro = "lnbench run -b plug --variant v1";
  result.cases.push_back(a);

  CaseResult b;
  b.backend = "scalar";
  b.variant = "default";
  b.device = "cpu";
  b.threads = 1;
  b.problem.norm = Norm::kRmsNorm;
  b.problem.rows = 3;
  b.problem.cols = 1000;
  b.problem.eps = 1e-6;
  b.problem.affine = false;
  b.problem.seed = std::numeric_limits<uint64_t>::max();
  b.status = CaseStatus::kFailed;
  b.reason = "y: 3 elements over bound";
  b.accuracy.emplace();
  b.accuracy->passed = false;
  (*b.accuracy)[TensorId::kY] = SomeErrors(2);
  b.bytes = OpFor(b.problem).CountBytes(b.problem);
  b.repro = "lnbench verify --op rmsnorm";
  result.cases.push_back(b);

  CeilingResult ceiling;
  ceiling.device = "cpu";
  ceiling.threads = 2;
  ceiling.measurement.method = "memcpy";
  ceiling.measurement.bytes_per_copy = 1 << 26;
  ceiling.measurement.seconds = {0.003, 0.0031};
  ceiling.stats.seconds = Summarize(ceiling.measurement.seconds);
  ceiling.stats.bandwidth_gbps = 21.5;
  result.ceilings.push_back(ceiling);

  RunContext ctx;
  ctx.date = "2026-01-01T00:00:00Z";
  ctx.argv = {"lnbench", "run", "--input", "x.npy"};
  ctx.hostname = "host";
  ctx.machine = "CPU X";
  ctx.os = "Linux";
  ctx.cpu_model = "CPU X";
  ctx.hardware_threads = 2;
  ctx.llc_bytes = 1 << 25;
  ctx.hwy_targets = {"AVX2", "SSE4"};
  ctx.transparent_hugepages = "madvise";
  ctx.gpus = {{{"id", "0"}, {"name", "GPU Y"}}};

  Report report = BuildReport(config, result, ctx);
  report.summary.peer_failed = 0;
  RunWarnings warnings;
  warnings.cases = {{{"noisy_ceiling", "ceiling noise 12%"}}, {}};
  warnings.run = {{"busy_machine", "load average 3.0"}};
  AnnotateReport(report, result, warnings);
  return report;
}

TEST(ReportModel, WriteReadWriteGivesTheSameBytes) {
  const Report report = FullReport();
  const std::string text = ReportText(report);
  EXPECT_EQ(Rewritten(text), text);
  // The parts the model keeps optional are all present, so the test covers them.
  const Json j = ReportToJson(report);
  const Json& c = j["cases"][0];
  for (const char* key : {"origin", "tuning", "coverage", "warnings"}) EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_TRUE(c["problem"].contains("input_file"));
  EXPECT_EQ(j["context"]["cpu"]["transparent_hugepages"], "madvise");
  EXPECT_TRUE(c["problem"].contains("input_nonfinite_rows"));
  EXPECT_TRUE(c["timing"].contains("median_rel_stderr"));
  EXPECT_EQ(c["accuracy"]["tensors"].size(), 3u);
  EXPECT_EQ(c["accuracy"]["tensors"]["y"]["max_rel"], "NaN");
  EXPECT_EQ(c["accuracy"]["tensors"]["y"]["worst"]["got"], "-Infinity");
  EXPECT_EQ(c["throughput"]["ceiling_gbps"], "NaN");
  EXPECT_EQ(j["cases"][1]["problem"]["op"], "rmsnorm");
  EXPECT_EQ(j["cases"][1]["problem"]["seed"], std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(j["cases"][1]["timing"].is_null());
  EXPECT_EQ(j["summary"]["warnings"], 1);
  EXPECT_EQ(j["warnings"][0]["kind"], "busy_machine");
  EXPECT_EQ(j["bytes_model"].size(), 2u);
  test_support::ExpectReportMatchesSchema(nlohmann::json::parse(text));
}

TEST(ReportModel, TheIdIsTheOneIdentity) {
  const Report report = FullReport();
  const ReportCase& c = report.cases[0];
  EXPECT_EQ(c.id, "layernorm/fwd/plug/v1/64x768/f32/file/eps=1e-05/affine=1/stats=1/seed=1/threads=2/hot"
                  "/stream_min_bytes=0");
  EXPECT_EQ(report.cases[1].id, CaseIdWithMode(report.cases[1], "verify"));
  EXPECT_EQ(CaseKey(c, false, ""), "layernorm fwd|plug|v1|64x768|f32|eps=1e-05|affine=1|stats=1|file|seed=1|"
                                   "threads=2|file=x.npy|tune stream_min_bytes=0|hot");
  EXPECT_EQ(CaseLabel(c, ""), "plug:v1 64x768 f32 file stats t2 stream_min_bytes=0 hot");
}

// Every readable fixture (schema 2 and 3, single and merged) reads into the
// model, a version 3 one writes the same JSON values, and what the model
// writes reads back to the same bytes.
TEST(ReportModel, FixturesKeepTheirValues) {
  int read = 0;
  for (const char* dir : {"compare", "plot"}) {
    for (const auto& entry : std::filesystem::directory_iterator(Fixture(dir, ""))) {
      if (entry.path().extension() != ".json") continue;
      const std::string path = entry.path().string();
      SCOPED_TRACE(path);
      Json doc;
      try {
        doc = ParseJsonFile(path);
      } catch (const UsageError&) {
        continue;  // the deliberately broken fixtures
      }
      Report report;
      try {
        report = ReportFromJson(doc, path);
      } catch (const UsageError&) {
        continue;
      }
      ++read;
      const std::string text = ReportText(report);
      EXPECT_EQ(Rewritten(text), text);
      const nlohmann::json written = nlohmann::json::parse(text);
      const nlohmann::json original = nlohmann::json::parse(doc.dump());
      EXPECT_EQ(written["schema_version"], 3);
      // Version 2 is rewritten as 3 (VersionsAndUnknownFields, MergeOutputIsUnchanged).
      if (original["schema_version"] == 3) EXPECT_EQ(written, original);
    }
  }
  EXPECT_GE(read, 20);
}

// Reports the lnbench before the model wrote (a run with a plugin, tuning,
// warnings and both ops; a verify of a file input) read and write again byte
// for byte.
TEST(ReportModel, ReportsOfTheOldWriterKeepTheirBytes) {
  for (const char* name : {"written_v3_run.json", "written_v3_verify.json"}) {
    SCOPED_TRACE(name);
    const std::string text = ReadWholeRegularFile(Fixture("compare", name), kMaxReportBytes, "a report");
    EXPECT_EQ(Rewritten(text), text);
  }
}

TEST(ReportModel, VersionsAndUnknownFields) {
  Json doc = ReportToJson(FullReport());
  doc["cases"][0]["from_the_future"] = {{"a", 1}};
  doc["also_new"] = "x";
  const Report r = ReportFromJson(doc, "new.json");
  const Json again = ReportToJson(r);
  EXPECT_EQ(again["cases"][0]["from_the_future"]["a"], 1);
  EXPECT_EQ(again["also_new"], "x");

  doc["schema_version"] = 1;
  try {
    ReportFromJson(doc, "old.json");
    ADD_FAILURE() << "version 1 read";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'old.json': schema_version 1 is not supported"), std::string::npos)
        << e.what();
  }
  doc["schema_version"] = 4;
  EXPECT_THROW(ReportFromJson(doc, "new.json"), UsageError);

  // A version-2 case: LayerNorm forward, its y/mean/rstd as tensors, the one
  // bytes model keyed by the op.
  Json v2 = ReportToJson(FullReport());
  v2["schema_version"] = 2;
  v2["bytes_model"] = "read = ...";
  Json& c = v2["cases"][0];
  c["problem"].erase("op");
  c["problem"].erase("dir");
  c["bytes"].erase("model");
  Json tensors = c["accuracy"]["tensors"];
  c["accuracy"].erase("tensors");
  for (const auto& [name, stats] : tensors.items()) c["accuracy"][name] = stats;
  v2["cases"].erase(1);
  const Report up = ReportFromJson(v2, "v2.json");
  EXPECT_EQ(up.cases[0].problem.op, "layernorm");
  EXPECT_EQ(up.cases[0].problem.dir, "fwd");
  ASSERT_EQ(up.bytes_model.size(), 1u);
  EXPECT_EQ(up.bytes_model[0].first, "layernorm fwd");
  EXPECT_EQ(up.cases[0].bytes.model, "read = ...");
  ASSERT_EQ(up.cases[0].accuracy->tensors.size(), 3u);
  EXPECT_EQ(up.cases[0].accuracy->tensors[2].first, "rstd");

  // The reader names the field.
  Json bad = ReportToJson(FullReport());
  bad["cases"][1]["details"]["k"] = 3;
  try {
    ReportFromJson(bad, "bad.json");
    ADD_FAILURE() << "read";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cases[1]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("details.k: is an integer, expected a string"), std::string::npos)
        << e.what();
  }
}

// context.cpu.pinned_cpus (`--cpus`): CPU numbers, each once, as the schema
// says (uniqueItems); the reader names the element it refuses.
TEST(ReportModel, PinnedCpusAreDistinctCpuNumbers) {
  Json doc = ReportToJson(FullReport());
  doc["context"]["cpu"]["pinned_cpus"] = {3, 0, 2};
  const Report r = ReportFromJson(doc, "pinned.json");
  ASSERT_TRUE(r.context.cpu.pinned_cpus.has_value());
  EXPECT_EQ(*r.context.cpu.pinned_cpus, (std::vector<int64_t>{3, 0, 2}));
  EXPECT_EQ(ReportToJson(r)["context"]["cpu"]["pinned_cpus"], doc["context"]["cpu"]["pinned_cpus"]);
  const struct {
    Json value;
    const char* message;
  } kBad[] = {
      {Json::array({1, 0, 1}), "pinned_cpus[2]: is CPU 1 again (each CPU is listed once)"},
      {Json::array({0, -1}), "pinned_cpus[1]: is -1, expected at least 0"},
      {Json::array({Json(uint64_t{1} << 63)}), "pinned_cpus[0]: is 9223372036854775808, expected at most"},
      {Json::array({"0"}), "pinned_cpus[0]: is a string, expected an integer"},
      {Json::array({1.5}), "pinned_cpus[0]: is a number, expected an integer"},
      {Json::array(), "pinned_cpus: is empty"},
  };
  for (const auto& bad : kBad) {
    doc["context"]["cpu"]["pinned_cpus"] = bad.value;
    try {
      ReportFromJson(doc, "pinned.json");
      ADD_FAILURE() << "read " << bad.value.dump();
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(bad.message), std::string::npos) << e.what();
    }
  }
}

// tests/fixtures/compare/merged_base_other_machine.json is what `lnbench
// merge base.json other_machine.json` wrote before the report model (main at
// 9f3f7f7); the merge writes the same values (the lnbench doing the merge and
// the date aside), and the order of version 3 reports: a version-2 input's
// op/dir come first in its problem, as lnbench writes them.
TEST(ReportModel, MergeOutputIsUnchanged) {
  const std::vector<LoadedReport> inputs = {
      CheckReport("base.json", ParseJsonFile(Fixture("compare", "base.json"))),
      CheckReport("other_machine.json", ParseJsonFile(Fixture("compare", "other_machine.json")))};
  nlohmann::json golden = nlohmann::json::parse(
      ParseJsonFile(Fixture("compare", "merged_base_other_machine.json")).dump());
  const Report merged = MergeReports(inputs, MergeInfo{golden["context"]["date"], golden["context"]["argv"]});
  nlohmann::json written = nlohmann::json::parse(ReportText(merged));
  written["tool"] = golden["tool"];
  EXPECT_EQ(written, golden);
  // And a merged report reads back into the same bytes.
  const std::string text = ReportText(merged);
  EXPECT_EQ(Rewritten(text), text);
}

}  // namespace
}  // namespace lnbench
