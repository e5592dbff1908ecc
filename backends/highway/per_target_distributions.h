// The targets and distributions the Highway per-target tests sweep
// (highway_backend_test, highway_bwd_test). The Release build sweeps every
// target this CPU supports and every distribution.
//
// Targets: the sanitizer build leaves out the one-lane fallback (`scalar`,
// HWY_SCALAR; EMU128 with a newer compiler): its every load and store is one
// element, through the same loops that the vector targets run for rows
// shorter than a vector (the tests' edge shapes of 1 and 3 columns), and
// under ASan it
// was the slowest target to test (44 of the per-target tests' 125 s of
// CPU in CI, AVX2 37 s). Release tests it like every target. Where the CPU has
// no vector target that the sanitizer build compiles (AVX2, AVX3), the
// fallback is kept, so the suites are never empty.
//
// Distributions: the sanitizer build
// (scripts/setup.sh test, second half) is there for the kernels' memory
// accesses, which depend on the distribution only through the path a row
// takes: the direct or the offset form of the scale (normal, offset1e6), a
// constant row (variance 0), NaN and Inf rows (special), and heavy tails
// (outliers) for good measure. Uniform and exact data take normal's paths,
// offset1e4 and tiny variance offset1e6's. Under ASan these
// sweeps spend their time in the reference, the checker and page faults, not
// in the kernels: the four repeats cost about 45 s of CPU per CI run.
#ifndef LNBENCH_BACKENDS_HIGHWAY_PER_TARGET_DISTRIBUTIONS_H_
#define LNBENCH_BACKENDS_HIGHWAY_PER_TARGET_DISTRIBUTIONS_H_

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "core/problem.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "hwy/tests/hwy_gtest.h"

namespace lnbench {

inline std::vector<int64_t> PerTargetTargets() {
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
#if defined(LNBENCH_SANITIZER_BUILD)
  std::vector<int64_t> vector_targets;
  std::copy_if(targets.begin(), targets.end(), std::back_inserter(vector_targets),
               [](int64_t t) { return t != HWY_SCALAR && t != HWY_EMU128; });
  if (!vector_targets.empty()) targets = vector_targets;
#endif
  return targets;
}

// One gtest suite per target of PerTargetTargets() (HWY_BEFORE_TEST's shape:
// hwy::TestWithParamTarget selects the target, so "auto" dispatches to it).
#define LNBENCH_PER_TARGET_TEST(suite)                                                      \
  class suite : public hwy::TestWithParamTarget {};                                          \
  INSTANTIATE_TEST_SUITE_P(suite##Group, suite, testing::ValuesIn(lnbench::PerTargetTargets()), \
                           hwy::TestParamTargetName);                                        \
  static_assert(true, "a trailing semicolon")

inline const std::vector<Distribution>& PerTargetDistributions() {
#if defined(LNBENCH_SANITIZER_BUILD)
  static const std::vector<Distribution> paths = {Distribution::kNormal, Distribution::kOffset1e6,
                                                  Distribution::kConstant, Distribution::kOutliers,
                                                  Distribution::kSpecial};
  return paths;
#else
  return AllDistributions();
#endif
}

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_PER_TARGET_DISTRIBUTIONS_H_
