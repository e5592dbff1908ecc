// The problem model: one normalization problem (op, shape, dtype, data),
// independent of backends.
#ifndef LNBENCH_CORE_PROBLEM_H_
#define LNBENCH_CORE_PROBLEM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {

// How input rows are drawn. Every distribution is reproducible from
// (seed, row) alone; see core/generators.h. The comments give the f32 rows;
// bf16/f16 rows of offset1e4, offset1e6 and tinyvar keep their intent within
// what the format holds (docs/verification.md: wider noise, f16's 1e6 centre
// becomes 32768, tinyvar's centre moves to 2^-9 / 2^-6).
enum class Distribution {
  kNormal,        // N(0, 1)
  kUniform,       // U(-1, 1)
  kOffset1e4,     // 1e4 + N(0, 1): breaks single-pass E[x^2] - E[x]^2 variance
  kOffset1e6,     // 1e6 + N(0, 1): also breaks an f32 mean that is not shifted
  kTinyVariance,  // 1 + 1e-4 N(0, 1)
  kConstant,      // each row one value of magnitude up to 1e4: variance 0, y = beta
  kOutliers,      // N(0, 1) with about 1% heavy-tailed outliers up to 1e4
  kExact,         // small integers in +/- pairs: sums exact in any order
  kSpecial,       // N(0, 1) with NaN / +Inf / -Inf placed in some rows
  kFile,          // user data from --input FILE.npy
};

// Returns the canonical name (e.g. "offset1e4").
std::string_view DistributionName(Distribution dist);
std::optional<Distribution> ParseDistribution(std::string_view name);
// Returns every generated distribution (all but kFile), in a fixed order.
const std::vector<Distribution>& AllDistributions();

struct Problem {
  Norm norm = Norm::kLayerNorm;
  Direction dir = Direction::kForward;
  int64_t rows = 0;  // N; 0 is a valid empty problem
  int64_t cols = 1;  // H >= 1
  DType dtype = DType::kF32;
  double eps = 1e-5;
  bool affine = true;  // gamma (and for layernorm beta) applied
  bool stats = false;  // the op's per-row statistics are outputs (fwd)
  Distribution dist = Distribution::kNormal;
  uint64_t seed = 1;

  int64_t elements() const { return rows * cols; }
  // Returns "4096x768 f32 normal" style text for tables and messages,
  // prefixed with the op ("rmsnorm fwd 4096x768 ...") when it is not layernorm fwd.
  std::string ShortName() const;
};

// Returns the op's bytes model of `problem` (OpDescriptor::CountBytes).
BytesModel CountBytes(const Problem& problem);

}  // namespace lnbench

#endif  // LNBENCH_CORE_PROBLEM_H_
