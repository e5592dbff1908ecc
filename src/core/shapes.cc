#include "core/shapes.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/errors.h"

namespace lnbench {

namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t pos = s.find(',', start);
    std::string item = s.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    const size_t b = item.find_first_not_of(" \t");
    const size_t e = item.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? "" : item.substr(b, e - b + 1));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

// Whether s is a non-negative decimal integer (digits only).
bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Parses a non-negative decimal integer of at most 18 digits (so it fits
// int64 with room for the callers' checks); false otherwise.
bool ParseInt(const std::string& s, int64_t* out) {
  if (!AllDigits(s) || s.size() > 18) return false;
  *out = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

// Whether s is digits too many for ParseInt: a number, but too large.
bool TooManyDigits(const std::string& s) { return AllDigits(s) && s.size() > 18; }

constexpr int64_t kMaxCols = int64_t{1} << 31;
constexpr int64_t kMaxSweepPoints = 4096;

}  // namespace

const std::vector<ShapePreset>& ShapePresets() {
  static const std::vector<ShapePreset> presets = {
      {"models", "real model widths: BERT/GPT-2 768-1600, LLaMA 4096-8192",
       {768, 1024, 1280, 1600, 4096, 5120, 8192}},
      {"bert", "BERT-base 768, BERT-large 1024", {768, 1024}},
      {"gpt2", "GPT-2 small/medium/large/XL", {768, 1024, 1280, 1600}},
      {"llama", "LLaMA 7B/13B/33B/65B-70B", {4096, 5120, 6656, 8192}},
      {"awkward", "sizes that break kernels: tails, odd, > 65536",
       {1, 3, 257, 1023, 2041, 65537, 131072}},
      {"standard", "the GPU standard sweep 128..131072",
       {128, 256, 512, 768, 1024, 1536, 2048, 4096, 5120, 8192, 12288, 16384, 32768, 65536,
        131072}},
      {"cpu", "the CPU standard sweep", {128, 768, 1024, 4096, 8192, 16384, 65536}},
  };
  return presets;
}

std::vector<Shape> ParseShapeList(const std::string& spec) {
  std::vector<Shape> shapes;
  for (const std::string& item : SplitComma(spec)) {
    const size_t x = item.find_first_of("xX");
    int64_t rows = 0, cols = 0;
    if (x != std::string::npos && TooManyDigits(item.substr(0, x)) && AllDigits(item.substr(x + 1)))
      throw UsageError("bad shape '" + item + "': too many rows");
    if (x != std::string::npos && AllDigits(item.substr(0, x)) && TooManyDigits(item.substr(x + 1)))
      throw UsageError(fmt::format("bad shape '{}': hidden size too large (at most {})", item, kMaxCols));
    if (x == std::string::npos || !ParseInt(item.substr(0, x), &rows) ||
        !ParseInt(item.substr(x + 1), &cols))
      throw UsageError("bad shape '" + item + "': expected ROWSxCOLS with non-negative integers, e.g. 4096x768");
    if (cols < 1) throw UsageError("bad shape '" + item + "': hidden size (COLS) must be >= 1");
    if (cols > kMaxCols)
      throw UsageError(fmt::format("bad shape '{}': hidden size too large (at most {})", item, kMaxCols));
    if (rows > 0 && cols > std::numeric_limits<int64_t>::max() / rows / 8)
      throw UsageError("bad shape '" + item + "': too many elements");
    shapes.push_back({rows, cols});
  }
  return shapes;
}

std::vector<int64_t> ParseColsSpec(const std::string& spec) {
  std::vector<int64_t> cols;
  for (const std::string& item : SplitComma(spec)) {
    bool preset_found = false;
    for (const auto& p : ShapePresets()) {
      if (p.name == item) {
        cols.insert(cols.end(), p.cols.begin(), p.cols.end());
        preset_found = true;
      }
    }
    if (preset_found) continue;
    const size_t c1 = item.find(':');
    if (c1 == std::string::npos) {
      int64_t v = 0;
      const bool parsed = ParseInt(item, &v);
      if (TooManyDigits(item) || (parsed && v > kMaxCols))
        throw UsageError(
            fmt::format("bad hidden size '{}': too large (at most {})", item, kMaxCols));
      if (!parsed || v < 1)
        throw UsageError("bad hidden size '" + item + "': expected an integer >= 1, a sweep like 128:65536:*2, or a preset (" +
                         [] {
                           std::string s;
                           for (const auto& p : ShapePresets()) s += (s.empty() ? "" : ", ") + p.name;
                           return s;
                         }() + ")");
      cols.push_back(v);
      continue;
    }
    const size_t c2 = item.find(':', c1 + 1);
    int64_t lo = 0, hi = 0, step = 0;
    const std::string step_text = c2 == std::string::npos ? "*2" : item.substr(c2 + 1);
    const bool geometric = !step_text.empty() && step_text[0] == '*';
    const bool arithmetic = !step_text.empty() && step_text[0] == '+';
    if (!ParseInt(item.substr(0, c1), &lo) ||
        !ParseInt(item.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1), &hi) ||
        !(geometric || arithmetic) || !ParseInt(step_text.substr(1), &step) || lo < 1 || hi < lo ||
        hi > kMaxCols || (geometric && step < 2) || (arithmetic && step < 1))
      throw UsageError("bad sweep '" + item + "': expected LO:HI:*FACTOR (factor >= 2) or LO:HI:+STEP with 1 <= LO <= HI");
    // The next point is computed only when it is <= hi: v * step and
    // v + step would overflow int64 for steps of up to 18 digits.
    for (int64_t v = lo;;) {
      cols.push_back(v);
      if (static_cast<int64_t>(cols.size()) > kMaxSweepPoints)
        throw UsageError("sweep '" + item + "' has more than 4096 points");
      if (geometric ? v > hi / step : v > hi - step) break;
      v = geometric ? v * step : v + step;
    }
  }
  return cols;
}

uint64_t ParseByteSize(const std::string& text) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (end == s || errno != 0 || !(v >= 0)) throw UsageError("bad size '" + text + "': expected e.g. 256MiB");
  std::string unit(end);
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k") mult = 1024.0;
  else if (unit == "MiB" || unit == "M") mult = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB") mult = 1e3;
  else if (unit == "MB") mult = 1e6;
  else if (unit == "GB") mult = 1e9;
  else throw UsageError("bad size '" + text + "': unknown unit '" + unit + "' (use B, KiB, MiB, GiB, KB, MB, GB)");
  const double bytes = v * mult;
  if (bytes > 1e15) throw UsageError("bad size '" + text + "': too large");
  if (bytes < 1) throw UsageError("bad size '" + text + "': expected at least 1 byte");
  return static_cast<uint64_t>(bytes);
}

int64_t RowsForBytes(uint64_t bytes, int64_t cols, size_t element_size) {
  const uint64_t row_bytes = static_cast<uint64_t>(cols) * element_size;
  const uint64_t rows = row_bytes == 0 ? 1 : bytes / row_bytes;
  return rows < 1 ? 1 : static_cast<int64_t>(rows);
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.3g} {}", v, units[u]);
}

}  // namespace lnbench
