// End-to-end tests of the lnbench binary on hostile inputs: reports nested
// 100000 deep, numbers out of range, corrupt timing samples, control
// characters in names; .npy inputs that are FIFOs, whose data does not match
// their header, or hold non-finite values; runs larger than `ulimit -v`.
// Everything happens in a temporary folder the test makes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/bounded_read.h"
#include "core/npy.h"
#include "support/run_binary.h"
#include "support/temp_dir_test.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

using Result = test_support::BinaryResult;
using test_support::Slurp;

std::string Fixture(const std::string& name) {
  return std::string(LNBENCH_SOURCE_DIR) + "/tests/fixtures/compare/" + name;
}

class UntrustedInputTest : public test_support::TempDirTest {
 protected:
  UntrustedInputTest() : TempDirTest("lnbench-untrusted") {}

  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary | std::ios::trunc) << bytes;
    return Path(name);
  }

  // Runs `prefix` lnbench `args` (shell text) and returns code, stdout, stderr, time.
  Result Run(const std::string& args, const std::string& prefix = "") {
    return test_support::RunLnbench(prefix, args, dir_);
  }

  // Expects exit 2 with one line on stderr holding every one of `needles`.
  void ExpectRefused(const Result& r, const std::vector<std::string>& needles) {
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << n << " in: " << r.err;
  }

  // Returns the base fixture with `edit` applied, written to `name`; numbers
  // set to the placeholder 12345.678 are replaced by `number_text`.
  template <class Edit>
  std::string EditedReport(const std::string& name, const Edit& edit, const std::string& number_text = "") {
    Json doc = Json::parse(Slurp(Fixture("base.json")));
    edit(doc);
    std::string text = doc.dump(1);
    if (!number_text.empty()) {
      const auto pos = text.find("12345.678");
      EXPECT_NE(pos, std::string::npos);
      text.replace(pos, 9, number_text);
    }
    return Write(name, text);
  }

  // Returns the index of the first case of the base fixture that has timing.
  static size_t FirstTimedCase(const Json& doc) {
    for (size_t i = 0; i < doc["cases"].size(); ++i)
      if (!doc["cases"][i]["timing"].is_null()) return i;
    ADD_FAILURE() << "no timed case in the fixture";
    return 0;
  }

};

TEST_F(UntrustedInputTest, CompareAndMergeRefuseReportsNestedTooDeeply) {
  const int levels = 100000;
  const std::string arrays = Write("arrays.json", std::string(levels, '[') + std::string(levels, ']'));
  std::string objects;
  for (int i = 0; i < levels; ++i) objects += "{\"a\":";
  objects += "1" + std::string(levels, '}');
  const std::string objs = Write("objects.json", objects);
  for (const std::string& deep : {arrays, objs}) {
    ExpectRefused(Run("compare " + Fixture("base.json") + " " + deep), {deep, "nested too deeply"});
    ExpectRefused(Run("compare " + deep + " " + Fixture("base.json")), {deep, "nested too deeply"});
    // Both inputs bad: both named, still one line.
    ExpectRefused(Run("compare " + deep + " " + deep), {deep, "objects); '"});
    ExpectRefused(Run("merge " + deep + " -o " + Path("merged.json")), {deep, "nested too deeply"});
    EXPECT_FALSE(fs::exists(Path("merged.json")));
  }
}

// Small reports that used to take minutes or hours: a list of a million
// pinned CPUs (a linear duplicate check per CPU), 200,000 GPUs merged (the
// same), an object of 20,000 keys (ordered_json inserts a key by a linear
// search). Now seconds, or refused in one line.
TEST_F(UntrustedInputTest, LongListsAndObjectsInReportsTakeSecondsNotHours) {
  const Json base = Json::parse(Slurp(Fixture("base.json")));
  Json pinned = base, gpus = base, wide = base;
  pinned["context"]["cpu"]["pinned_cpus"] = Json::array();
  for (int i = 0; i < 1000000; ++i) pinned["context"]["cpu"]["pinned_cpus"].push_back(i);
  gpus["context"]["gpus"] = Json::array();
  for (int i = 0; i < 200000; ++i) gpus["context"]["gpus"].push_back(i);
  std::string ops = "{";
  for (int i = 0; i < 20000; ++i) ops += (i ? ",\"op" : "\"op") + std::to_string(i) + "\":\"x\"";
  wide["bytes_model"] = Json::parse(ops + "}");  // (parsed once, not inserted key by key)
  const std::string p = Write("pinned.json", pinned.dump()), g = Write("gpus.json", gpus.dump()),
                    w = Write("wide.json", wide.dump());
  Result r = Run("compare " + Fixture("base.json") + " " + p, "timeout 60 ");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_LT(r.seconds, 20);
  r = Run("merge " + g + " -o " + Path("m.json"), "timeout 60 ");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_LT(r.seconds, 20);
  r = Run("merge " + w + " -o " + Path("w.json"), "timeout 60 ");
  ExpectRefused(r, {w, "bytes_model has more than 10000 keys"});
  EXPECT_LT(r.seconds, 20);
  EXPECT_FALSE(fs::exists(Path("w.json")));
}

TEST_F(UntrustedInputTest, ReportsThatAreNotRegularFilesOrTooLargeAreRefusedUnread) {
  const std::string fifo = Path("fifo.json");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Result r = Run("compare " + Fixture("base.json") + " " + fifo, "timeout 20 ");
  ExpectRefused(r, {fifo, "FIFO", "expected a regular file"});
  EXPECT_LT(r.seconds, 10);
  ExpectRefused(Run("merge " + fifo + " -o " + Path("m.json"), "timeout 20 "), {fifo, "FIFO"});
  // A sparse file just over 1 GiB: refused from its size, never read.
  const std::string big = Write("big.json", "{");
  fs::resize_file(big, (1ull << 30) + 1);
  r = Run("compare " + Fixture("base.json") + " " + big);
  ExpectRefused(r, {big, "larger than 1", "the most lnbench reads as a report"});
  EXPECT_LT(r.seconds, 10);
}

TEST(EscapeForTerminal, EscapesControlsAndInvalidUtf8AndKeepsText) {
  EXPECT_EQ(EscapeForTerminal("plain text, caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"),
            "plain text, caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
  EXPECT_EQ(EscapeForTerminal("a\x1b[31mb\x07\x7f\n\t\r"), "a\\x1b[31mb\\x07\\x7f\\n\\t\\r");
  EXPECT_EQ(EscapeForTerminal(std::string("nul\0end", 7)), "nul\\x00end");
  // C1 controls (CSI U+009B), stray continuation bytes, overlong forms,
  // surrogates, code points past U+10FFFF, truncated sequences.
  EXPECT_EQ(EscapeForTerminal("\xc2\x9b"), "\\xc2\\x9b");
  EXPECT_EQ(EscapeForTerminal("\x9b\xff"), "\\x9b\\xff");
  EXPECT_EQ(EscapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(EscapeForTerminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(EscapeForTerminal("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(EscapeForTerminal("\xe2\x9c"), "\\xe2\\x9c");
  EXPECT_EQ(EscapeLinesForTerminal("one\x1b\ntwo"), "one\\x1b\ntwo");
}

TEST_F(UntrustedInputTest, NumberOutOfRangeNamesTheField) {
  size_t timed = 0;
  const std::string path = EditedReport("overflow.json", [&](Json& doc) {
    timed = FirstTimedCase(doc);
    doc["cases"][timed]["timing"]["samples_s"][1] = 12345.678;
  }, "1e309");
  const std::string field = "cases[" + std::to_string(timed) + "].timing.samples_s[1]";
  ExpectRefused(Run("compare " + Fixture("base.json") + " " + path), {path, field, "1e309", "out of range"});
  ExpectRefused(Run("merge " + path + " -o " + Path("merged.json")), {field, "out of range"});
  EXPECT_FALSE(fs::exists(Path("merged.json")));
}

TEST_F(UntrustedInputTest, CorruptTimingSamplesAreRefusedNamingTheField) {
  struct Bad {
    std::string name;
    std::function<void(Json&)> edit;
    std::string needle;
  };
  size_t t = 0;
  const std::vector<Bad> bad = {
      {"negative", [&](Json& c) { c["timing"]["samples_s"][0] = -1e-6; }, "samples_s[0]: is -1e-06, expected a number of seconds >= 0"},
      {"nan", [&](Json& c) { c["timing"]["samples_s"][2] = "NaN"; }, "samples_s[2]: is \"NaN\", expected a finite number of seconds"},
      {"infinite median", [&](Json& c) { c["timing"]["median_s"] = "Infinity"; }, "timing.median_s: is \"Infinity\", expected a finite"},
      {"missing", [&](Json& c) { c["timing"].erase("samples_s"); }, "timing.samples_s: missing"},
      {"empty", [&](Json& c) { c["timing"]["samples_s"] = Json::array(); }, "timing.samples_s: is empty"},
      {"not numbers", [&](Json& c) { c["timing"]["samples_s"][0] = "fast"; }, "samples_s[0]: is a string"},
  };
  for (const Bad& b : bad) {
    const std::string path = EditedReport("bad.json", [&](Json& doc) {
      t = FirstTimedCase(doc);
      b.edit(doc["cases"][t]);
    });
    ExpectRefused(Run("compare " + Fixture("base.json") + " " + path),
                  {path, "cases[" + std::to_string(t) + "]", b.needle});
    ExpectRefused(Run("merge " + path + " -o " + Path("merged.json")), {b.needle});
  }
}

TEST_F(UntrustedInputTest, ControlCharactersFromReportsArePrintedEscaped) {
  // A backend name that would recolour the terminal and set its title.
  // \xc2\x9b is U+009B, CSI in a single code point.
  const std::string evil = "evil\x1b[31m\x1b]0;pwned\x07\xc2\x9b" "2J\nname";
  const std::string path = EditedReport("evil.json", [&](Json& doc) {
    doc["cases"][0]["backend"] = evil;
    doc["context"]["machine"] = evil;
  });
  for (const char* format : {"table", "md"}) {
    const Result r = Run(std::string("compare --absolute --format ") + format + " " + Fixture("base.json") + " " + path);
    EXPECT_LE(r.code, 1) << r.err;
    const std::string all = r.out + r.err;
    EXPECT_EQ(all.find('\x1b'), std::string::npos) << format;
    EXPECT_EQ(all.find('\x07'), std::string::npos) << format;
    EXPECT_EQ(all.find('\x9b'), std::string::npos) << format;
    // (Markdown escapes its own \\, [ and ] again: it renders as the table's text.)
    const std::string shown = std::string(format) == "md" ? "evil\\\\x1b\\[31m\\\\x1b\\]0;pwned\\\\x07\\\\xc2\\\\x9b2J\\\\nname"
                                                           : "evil\\x1b[31m\\x1b]0;pwned\\x07\\xc2\\x9b2J\\nname";
    EXPECT_NE(r.out.find(shown), std::string::npos) << r.out;
  }
  // ... and in error messages: the kind of a foreign document.
  const std::string kind = EditedReport("kind.json", [&](Json& doc) { doc["kind"] = "x\x1b[2J\ny"; });
  const Result r = Run("compare " + Fixture("base.json") + " " + kind);
  ExpectRefused(r, {"kind \"x\\x1b[2J\\ny\""});
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
}

// Returns an .npy file (version 1.0) with the header dict `dict` and
// `data_bytes` zero bytes of data.
std::string NpyWithHeader(const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY\x01";
  out.push_back('\0');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + std::string(data_bytes, '\0');
}

// Returns an .npy file of `rows` x `cols` float64 values.
std::string NpyF64(int64_t rows, int64_t cols, const std::vector<double>& values) {
  return EncodeNpy({rows, cols}, NpyElement::kF64, values.data());
}

TEST_F(UntrustedInputTest, NpyFifoIsRefusedAtOnce) {
  const std::string fifo = Path("x.npy");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens the FIFO: a reader that blocks would hang until timeout kills it.
  for (const std::string& opt : {"--input " + fifo, "--input " + Write("ok.npy", NpyF64(2, 3, {1, 2, 3, 4, 5, 6})) + " --gamma " + fifo}) {
    const Result r = Run("verify -b scalar " + opt, "timeout 20 ");
    ExpectRefused(r, {fifo, "FIFO", "expected a regular file"});
    EXPECT_LT(r.seconds, 10) << "the FIFO was waited on";
  }
}

TEST_F(UntrustedInputTest, NpyDataMustMatchTheHeaderExactly) {
  const std::string good = NpyF64(4, 3, std::vector<double>(12, 1.0));
  const std::string short_file = Write("short.npy", good.substr(0, good.size() - 4));
  ExpectRefused(Run("verify -b scalar --input " + short_file), {short_file, "truncated", "needs 96 data bytes, the file has 92"});
  const std::string long_file = Write("long.npy", good + std::string(8, '\0'));
  ExpectRefused(Run("verify -b scalar --input " + long_file), {long_file, "size mismatch", "needs 96 data bytes, the file has 104"});
  // A header promising far more than the file holds is refused from the header alone.
  const std::string huge_file =
      Write("huge.npy", NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (400000000000, 3), }", 96));
  const Result r = Run("verify -b scalar --input " + huge_file);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(UntrustedInputTest, ControlCharactersFromNpyHeadersArePrintedEscaped) {
  const std::string descr = Write(
      "descr.npy", NpyWithHeader("{'descr': '\x1b[31m\x1b]0;t\x07', 'fortran_order': False, 'shape': (1, 1), }", 8));
  Result r = Run("verify -b scalar --input " + descr);
  ExpectRefused(r, {"unsupported dtype '\\x1b[31m\\x1b]0;t\\x07'"});
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  const std::string key = Write(
      "key.npy", NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), '\x1b[2J\n': 1}", 8));
  r = Run("verify -b scalar --input " + key);
  ExpectRefused(r, {"unexpected header key '\\x1b[2J\\n'"});
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

TEST_F(UntrustedInputTest, NonFiniteInputRowsAndOverflowsAreCountedInReportAndTable) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Row 1 has a NaN, row 2 an infinity, row 3 a finite value beyond f32 (and f16).
  const std::vector<double> x = {1, 2, 3, 4, nan, 6, 7, -inf, 9, 1e39, 11, 12, 13, 14, 15};
  const std::string input = Write("x.npy", NpyF64(5, 3, x));
  const std::string json = Path("report.json");
  const Result r = Run("verify -b scalar --dtype f32,f16 --input " + input + " --json " + json);
  ASSERT_TRUE(fs::exists(json)) << r.err;
  const Json report = Json::parse(Slurp(json));
  EXPECT_EQ(report["config"]["dists"], Json::array({"file"}));
  ASSERT_FALSE(report["cases"].empty());
  for (const Json& c : report["cases"]) {
    EXPECT_EQ(c["problem"]["dist"], "file");
    EXPECT_EQ(c["problem"]["input_nonfinite_rows"], 2) << c.dump();
    // f32: 1e39 overflows. f16 (max 65504): 1e39 does too; 11..15 do not.
    EXPECT_EQ(c["problem"]["input_overflowed_values"], 1) << c.dump();
  }
  EXPECT_NE(r.out.find("f32: 2 of 5 rows hold NaN or Inf; 1 finite values overflowed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("f16: 2 of 5 rows hold NaN or Inf; 1 finite values overflowed"), std::string::npos) << r.out;

  // A value that fits f32 but not f16 counts for f16 only.
  const std::string wide = Write("wide.npy", NpyF64(1, 3, {1, 70000, 3}));
  const Result w = Run("verify -b scalar --dtype f32,f16 --input " + wide + " --json " + json);
  const Json wr = Json::parse(Slurp(json));
  for (const Json& c : wr["cases"])
    EXPECT_EQ(c["problem"]["input_overflowed_values"], c["problem"]["dtype"] == "f16" ? 1 : 0) << c.dump();
  EXPECT_NE(w.out.find("f16: 0 of 1 rows hold NaN or Inf; 1 finite values overflowed"), std::string::npos) << w.out;
}

// A --dy file (backward) is counted too: its rows holding NaN or Inf once per
// run under the table and in every backward case (problem.input_dy_nonfinite_rows),
// never in forward cases; its finite values that overflow the dtype add to
// input_overflowed_values like x's.
TEST_F(UntrustedInputTest, NonFiniteDyRowsAreCountedInReportAndTable) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> x = {1, 2, 3, 4, 5, 7, 7, 8, 9, 10, 12, 12, 13, 14, 16};
  // Row 0 has a NaN, row 3 an infinity, row 4 a value beyond f16 (not f32).
  const std::vector<double> dy = {nan, 1, 2, 3, 4, 5, 6, 7, 8, -inf, 1, 2, 70000, 1, 2};
  const std::string input = Write("x.npy", NpyF64(5, 3, x));
  const std::string dy_file = Write("dy.npy", NpyF64(5, 3, dy));
  const std::string json = Path("report.json");
  const Result r = Run("verify -b scalar --dir all --dtype f32,f16 --input " + input + " --dy " +
                       dy_file + " --json " + json);
  ASSERT_TRUE(fs::exists(json)) << r.err;
  const Json report = Json::parse(Slurp(json));
  int bwd = 0, fwd = 0;
  for (const Json& c : report["cases"]) {
    const Json& p = c["problem"];
    EXPECT_EQ(p["input_nonfinite_rows"], 0) << c.dump();
    if (p["dir"] == "bwd") {
      ++bwd;
      EXPECT_EQ(p["input_dy_nonfinite_rows"], 2) << c.dump();
      EXPECT_EQ(p["input_overflowed_values"], p["dtype"] == "f16" ? 1 : 0) << c.dump();
    } else {
      ++fwd;
      EXPECT_FALSE(p.contains("input_dy_nonfinite_rows")) << c.dump();
      EXPECT_EQ(p["input_overflowed_values"], 0) << c.dump();
    }
  }
  EXPECT_GT(bwd, 0);
  EXPECT_GT(fwd, 0);
  const std::string line = "dy " + dy_file + ": 2 of 5 rows hold NaN or Inf\n";
  const size_t at = r.out.find(line);
  EXPECT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(line, at + 1), std::string::npos) << "once per run: " << r.out;
  // Without --dy the line is not there.
  const Result plain = Run("verify -b scalar --dir bwd --input " + input + " --json " + json);
  EXPECT_EQ(plain.out.find("dy "), std::string::npos) << plain.out;
  for (const Json& c : Json::parse(Slurp(json))["cases"])
    EXPECT_FALSE(c["problem"].contains("input_dy_nonfinite_rows")) << c.dump();
}

// AddressSanitizer reserves terabytes of address space at start: a binary built
// with it cannot run under `ulimit -v` at all. (This file itself is compiled
// without instrumentation there: LNBENCH_SANITIZER_BUILD says so.)
#if defined(__SANITIZE_ADDRESS__) || defined(LNBENCH_SANITIZER_BUILD)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST_F(UntrustedInputTest, RunsLargerThanTheAddressSpaceLimitAreRefusedBeforeAllocating) {
  if (kAddressSanitizer) GTEST_SKIP() << "ASan build: cannot run under ulimit -v (the Release build runs this)";
  // 4096x4096 f32 needs about 600 MB at its peak; allow the process 400 MB.
  const std::string limit = "bash -c 'ulimit -v 400000; exec \"$0\" \"$@\"' ";
  Result r = Run("run -b scalar --shape 4096x4096 --time-budget 0.01", limit);
  ExpectRefused(r, {"4096x4096", "address-space limit (ulimit -v 400000 KiB)"});
  // The same for an input file, sized from its header alone (the data is never read).
  // A valid 128 MiB file of zeros: 4096x4096 float64.
  const std::string input = Write(
      "big.npy", NpyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4096, 4096), }", 4096ull * 4096 * 8));
  r = Run("verify -b scalar --input " + input, limit);
  ExpectRefused(r, {input, "4096x4096", "address-space limit"});
  // Within the limit the same kind of run works.
  r = Run("run -b scalar --shape 256x256 --time-budget 0.01", limit);
  EXPECT_EQ(r.code, 0) << r.err;
}

// A report's parsed document takes many times its text. One that would not
// fit is refused while it is parsed, in one line: it used to run out of
// memory and end in std::terminate (SIGABRT), since nlohmann's destructor
// allocates while the exception unwinds.
TEST_F(UntrustedInputTest, ReportsLargerThanTheAddressSpaceLimitAreRefusedWhileParsed) {
  if (kAddressSanitizer) GTEST_SKIP() << "ASan build: cannot run under ulimit -v (the Release build runs this)";
  const std::string small = Path("small.json");
  ASSERT_EQ(Run("run -b scalar --shape 2x8 --time-budget 0.01 --min-samples 3 -q --json " + small).code, 0);
  // 8 million samples in one case: 16 MB of text, over 500 MB parsed.
  std::string text = Slurp(small);
  const std::string key = "\"samples_s\":";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos);
  const size_t open = text.find('[', at), close = text.find(']', open);
  std::string samples = "[1e-6";
  samples.reserve(16u << 20);
  for (int i = 1; i < 8000000; ++i) samples += ",0";
  text.replace(open, close - open + 1, samples + "]");
  const std::string big = Write("big.json", text);
  const Result r = Run("compare " + small + " " + big, "timeout 120 bash -c 'ulimit -v 300000; exec \"$0\" \"$@\"' ");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("'" + big + "': too large to read: its "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(left under the address-space limit (ulimit -v 300000 KiB))"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(UntrustedInputTest, ACaseThatRunsOutOfMemoryIsAnErrorCaseSaidOnStderr) {
  if (kAddressSanitizer) GTEST_SKIP() << "ASan build: cannot run under ulimit -v (the Release build runs this)";
  // 300 threads do not fit in 300 MB of address space (8 MiB of stack each):
  // the case cannot start its thread pool. It used to hang (a half-built pool).
  const std::string json = Path("report.json");
  const Result r = Run("verify -b scalar --shape 64x64 --threads 300 --json " + json,
                       "timeout 120 bash -c 'ulimit -v 300000; exec \"$0\" \"$@\"' ");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("lnbench: error in case scalar twopass 64x64 f32 normal: out of memory or threads"),
            std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(json));
  const Json report = Json::parse(Slurp(json));
  ASSERT_FALSE(report["cases"].empty());
  for (const Json& c : report["cases"]) EXPECT_EQ(c["status"], "error") << c.dump();
}

}  // namespace
}  // namespace lnbench
