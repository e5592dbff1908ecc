// The two-sided Mann-Whitney U test (Wilcoxon rank-sum), as google/benchmark's
// tools/gbench/report.py applies it to repeated timings: it asks whether one
// set of samples tends to be larger than the other without assuming the
// timings are normal (they are skewed: a floor plus occasional slow samples).
#ifndef LNBENCH_COMPARE_MANN_WHITNEY_H_
#define LNBENCH_COMPARE_MANN_WHITNEY_H_

#include <cstddef>
#include <vector>

namespace lnbench {

// Fewest samples per side for which `compare` runs the test. With 4 per side
// the smallest p-value the normal approximation can give at all (every new
// sample slower than every old one) is 0.030, so a single overlapping pair
// already hides a real change at alpha 0.05; with 5 it is 0.012, and one or
// two overlaps still leave a clear shift significant. Below that we say
// "too few samples" instead of pretending to judge.
inline constexpr size_t kMinUTestSamples = 5;

struct MannWhitneyResult {
  double u = 0;        // U of the first sample: pairs (a_i, b_j) with a_i > b_j, ties count 1/2
  double z = 0;        // standardized max(U1, U2), after the continuity correction
  double p_value = 1;  // two-sided
};

// Returns the two-sided test of `a` against `b` with the normal approximation,
// the tie correction of the variance and the 0.5 continuity correction; the
// same numbers as scipy.stats.mannwhitneyu(a, b, alternative="two-sided",
// method="asymptotic"). When every value is tied (zero variance) the p-value
// is 1. Both samples must be non-empty.
MannWhitneyResult MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

// Returns the smallest two-sided p-value MannWhitneyU can return for samples
// of sizes n1 and n2 (complete separation, no ties).
double MinAttainablePValue(size_t n1, size_t n2);

}  // namespace lnbench

#endif  // LNBENCH_COMPARE_MANN_WHITNEY_H_
