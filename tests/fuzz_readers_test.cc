// A fuzz test of the two readers of untrusted files: reports (compare, merge)
// and .npy inputs. Thousands of files mutated from valid seeds with a fixed
// seed (bit flips, truncation, insertions, deletions, duplicated runs, and
// edits of the fields each format's header or body holds) must each give
// either a result or a UsageError / RuntimeError with a one-line message:
// never a crash, a hang or another exception. Run under ASan/UBSan as well.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compare/compare.h"
#include "compare/merge.h"
#include "compare/report_json.h"
#include "core/errors.h"
#include "core/npy.h"
#include "io/json_text.h"
#include "support/temp_dir_test.h"

namespace lnbench {
namespace {

namespace fs = std::filesystem;

// Fixed so a failure can be replayed; the iteration is in the failure message.
constexpr uint64_t kFuzzSeed = 20261203;
constexpr int kReportMutations = 2000;
constexpr int kNpyMutations = 3000;

class FuzzReadersTest : public test_support::TempDirTest {
 protected:
  FuzzReadersTest() : TempDirTest("lnbench-fuzz") {}

  std::string Write(const std::string& name, const std::string& bytes) const {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }

};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Returns a random integer in [lo, hi].
size_t Pick(std::mt19937_64& rng, size_t lo, size_t hi) {
  return std::uniform_int_distribution<size_t>(lo, hi)(rng);
}

// Text a mutation may put where a number, a string or a structure was.
const std::vector<std::string> kReportTokens = {
    "1e309", "-1e309", "-1", "-0.0", "0", "1e-400", "18446744073709551616", "-9223372036854775809",
    "\"NaN\"", "\"Infinity\"", "null", "true", "[]", "{}", "\"\"", "\"\\u0000\"", "\"\x1b[31m\"",
    "\"\xff\xfe\"", "[[[[[[[[[[", "]]]]", "}}}", "{\"a\":", "\"\\ud800\"", ",", ":"};
const std::vector<std::string> kNpyTokens = {
    "'<f4'", "'<f8'", "'<f2'", "'>f4'", "'|u1'", "'<c8'", "True", "False", "()", "(0,)", "(0, 4)",
    "(1,)", "(3, 4)", "(4, 3)", "(2, 3, 4)", "(99999999999999999999, 2)", "(4294967296, 4294967296)",
    "(-1, 3)", "'shape'", "'descr'", "'fortran_order'", "{", "}", ",", ":", "'\x1b]0;x\x07'"};

// Returns `seed` changed by one to four random mutations; `tokens` are the
// format's field values for the edit mutation.
std::string Mutate(const std::string& seed, std::mt19937_64& rng, const std::vector<std::string>& tokens,
                   size_t header_end) {
  std::string s = seed;
  const int count = static_cast<int>(Pick(rng, 1, 4));
  for (int m = 0; m < count; ++m) {
    const size_t pos = s.empty() ? 0 : Pick(rng, 0, s.size() - 1);
    switch (Pick(rng, 0, 6)) {
      case 0:  // flip a few bits
        for (size_t k = Pick(rng, 1, 8); k > 0 && !s.empty(); --k)
          s[Pick(rng, 0, s.size() - 1)] ^= static_cast<char>(1u << Pick(rng, 0, 7));
        break;
      case 1:  // truncate
        s.resize(Pick(rng, 0, s.size()));
        break;
      case 2: {  // insert random bytes
        std::string bytes(Pick(rng, 1, 16), '\0');
        for (char& c : bytes) c = static_cast<char>(Pick(rng, 0, 255));
        s.insert(std::min(pos, s.size()), bytes);
        break;
      }
      case 3:  // delete a run
        if (!s.empty()) s.erase(pos, Pick(rng, 1, 32));
        break;
      case 4:  // duplicate a run
        if (!s.empty()) s.insert(pos, s.substr(pos, Pick(rng, 1, 64)));
        break;
      case 5: {  // edit a field: replace a token near the header (or anywhere) by a hostile one
        const size_t limit = std::min(s.size(), header_end > 0 ? header_end : s.size());
        const size_t at = limit == 0 ? 0 : Pick(rng, 0, limit - 1);
        const size_t len = Pick(rng, 0, 12);
        s.replace(std::min(at, s.size()), len, tokens[Pick(rng, 0, tokens.size() - 1)]);
        break;
      }
      default:  // overwrite one byte with a boundary value
        if (!s.empty()) s[pos] = static_cast<char>(std::vector<int>{0, 0x7f, 0x80, 0xff, '"', '\\', '\n'}[Pick(rng, 0, 6)]);
        break;
    }
  }
  return s;
}

// Runs `read` and fails the test unless it succeeds or throws a UsageError or
// RuntimeError with a non-empty one-line message. Returns whether it succeeded.
template <class Read>
bool ExpectCleanOutcome(const Read& read, const std::string& what, int iteration) {
  try {
    read();
    return true;
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_FALSE(msg.empty()) << what << " #" << iteration;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << what << " #" << iteration << ": " << msg;
  } catch (const RuntimeError& e) {
    const std::string msg = e.what();
    EXPECT_FALSE(msg.empty()) << what << " #" << iteration;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << what << " #" << iteration << ": " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << " #" << iteration << ": unexpected exception type: " << e.what();
  }
  return false;
}

TEST_F(FuzzReadersTest, MutatedReportsAreReadOrRefusedCleanly) {
  const std::string fixtures = std::string(LNBENCH_SOURCE_DIR) + "/tests/fixtures/compare/";
  const std::vector<std::string> seeds = {ReadAll(fixtures + "base.json"),
                                          ReadAll(fixtures + "few_samples.json")};
  ASSERT_FALSE(seeds[0].empty());
  const LoadedReport base = LoadReport(fixtures + "base.json");
  std::mt19937_64 rng(kFuzzSeed);
  int loaded = 0;
  for (int i = 0; i < kReportMutations; ++i) {
    const std::string& seed = seeds[i % seeds.size()];
    const std::string path = Write("report.json", Mutate(seed, rng, kReportTokens, 0));
    const bool ok = ExpectCleanOutcome([&] { (void)LoadReport(path); }, "report", i);
    if (!ok) continue;
    ++loaded;
    // What the reader accepted must not crash what consumes it.
    ExpectCleanOutcome(
        [&] {
          const LoadedReport next = LoadReport(path);
          const Comparison c = CompareReports(base, next, CompareOptions{});
          for (CompareFormat f : {CompareFormat::kTable, CompareFormat::kMarkdown, CompareFormat::kJson})
            (void)FormatComparison(c, f);
          (void)MergeReports({next}, MergeInfo{"2026-01-01T00:00:00Z", {"lnbench", "merge"}});
          // What the model writes reads back to the same text (a fixed point).
          const std::string text = DumpJsonText(ReportToJson(next.report));
          EXPECT_EQ(DumpJsonText(ReportToJson(CheckReport("again", ParseJsonText("again", text)).report)), text);
        },
        "compare/merge of report", i);
  }
  // The mutations must leave some files readable, or the consumers go untested.
  EXPECT_GT(loaded, kReportMutations / 50);
}

TEST_F(FuzzReadersTest, MutatedNpyFilesAreReadOrRefusedCleanly) {
  const std::vector<float> f32 = {1, -2, 3.5f, 0, 1e30f, -0.25f};
  const std::vector<double> f64 = {0.1, 0.2, 0.3, 0.4};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const std::vector<std::string> seeds = {EncodeNpy({2, 3}, NpyElement::kF32, f32.data()),
                                          EncodeNpy({4}, NpyElement::kF64, f64.data()),
                                          EncodeNpy({2, 2}, NpyElement::kF16, f16.data())};
  std::mt19937_64 rng(kFuzzSeed + 1);
  int loaded = 0;
  for (int i = 0; i < kNpyMutations; ++i) {
    const std::string& seed = seeds[i % seeds.size()];
    // Most edits go to the header (the first 128 bytes), where the parsing is.
    const std::string path = Write("x.npy", Mutate(seed, rng, kNpyTokens, 128));
    loaded += ExpectCleanOutcome([&] { (void)ReadNpy(path); }, "npy", i);
    ExpectCleanOutcome([&] { (void)ReadNpyMatrix(path); }, "npy matrix", i);
    ExpectCleanOutcome([&] { (void)ReadNpyHeader(path); }, "npy header", i);
  }
  EXPECT_GT(loaded, kNpyMutations / 50);
}

}  // namespace
}  // namespace lnbench
