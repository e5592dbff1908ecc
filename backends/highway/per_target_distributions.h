// The distributions the Highway per-target tests sweep (highway_backend_test,
// highway_bwd_test). The Release build sweeps every one. The sanitizer build
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

#include <vector>

#include "core/problem.h"

namespace lnbench {

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
