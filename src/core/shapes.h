// Shapes: explicit lists, sweeps of H, and presets of real model widths and
// of the awkward sizes that break kernels.
#ifndef LNBENCH_CORE_SHAPES_H_
#define LNBENCH_CORE_SHAPES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace lnbench {

struct Shape {
  int64_t rows = 0;
  int64_t cols = 0;
  bool operator==(const Shape&) const = default;
};

struct ShapePreset {
  std::string name;
  std::string description;
  std::vector<int64_t> cols;
};
// Returns the named width presets ("models", "bert", "gpt2", "llama", "awkward", "standard", "cpu").
const std::vector<ShapePreset>& ShapePresets();

// The shapes of the default `lnbench verify`: empty, batch 1, benchdnn's CI
// shapes (15x3, 30x300, 257x768), loop tails (1, 3, 257, 1023, 2041), rows
// larger than any cache line multiple (65537) and H > 65536. The backends'
// coverage cases (Backend::CoverageCases) are added to them.
inline constexpr const char* kDefaultVerifyShapes =
    "0x768,1x1,1x4096,15x3,30x300,257x768,7x1,5x257,3x1023,2x2041,4x65537,2x131072";

// Parses "4096x768[,1x1024...]". Throws UsageError naming the bad item.
std::vector<Shape> ParseShapeList(const std::string& spec);
// Parses a list of widths: "768,4096", a geometric sweep "128:65536:*2", an
// arithmetic sweep "256:2048:+256", a preset name, or a mix separated by commas.
// Throws UsageError naming the bad item.
std::vector<int64_t> ParseColsSpec(const std::string& spec);
// Parses "256MiB", "1GiB", "4096", "64KiB", "1e6". Throws UsageError.
uint64_t ParseByteSize(const std::string& text);
// Returns the row count that makes an input of about `bytes` (at least 1).
int64_t RowsForBytes(uint64_t bytes, int64_t cols, size_t element_size);
// Returns "256 MiB" style text.
std::string FormatBytes(uint64_t bytes);

}  // namespace lnbench

#endif  // LNBENCH_CORE_SHAPES_H_
