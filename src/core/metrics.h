// Error metrics and the pass/fail rule. See README "Verification" for how the
// thresholds are derived.
#ifndef LNBENCH_CORE_METRICS_H_
#define LNBENCH_CORE_METRICS_H_

#include <array>
#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench {

// Histogram of ulp errors: bins for 0, 1, 2, 3-4, 5-8, 9-16, 17-64, 65-256,
// 257-4096, > 4096 (and non-finite/unwritten elements are counted separately).
inline constexpr int kUlpBins = 10;
// Returns the label of bin i ("0", "1", "2", "3-4", ...).
const char* UlpBinLabel(int bin);

// Error statistics of one output tensor (y, mean or rstd) against the
// reference rounded to the output dtype.
struct ErrorStats {
  uint64_t checked = 0;       // elements compared
  uint64_t failed = 0;        // elements over their bound (including the two below)
  uint64_t nan_mismatch = 0;  // NaN/Inf where the reference has none, or the reverse
  uint64_t unwritten = 0;     // elements still holding the poison pattern
  double max_abs = 0;         // max |got - ref|
  double max_rel = 0;         // max |got - ref| / max(|ref|, rel_floor)
  uint64_t max_ulp = 0;       // max ulp distance, in the output dtype
  double rel_l2 = 0;          // ||got - ref||_2 / ||ref||_2 over finite elements
  double max_bound_ratio = 0; // max |got - ref| / bound: passes when <= 1
  std::array<uint64_t, kUlpBins> ulp_hist{};
  int64_t worst_index = -1;   // element with the largest bound ratio (or first failure)
  double worst_got = 0;
  double worst_ref = 0;
};

// The tolerances in force for a problem (documented in README).
struct Thresholds {
  double compute_eps_units = 0;  // allowed f32 arithmetic error, in units of eps_f32 * scale
  double output_ulps = 0;        // allowed rounding error, in ulps of the output dtype
  double rel_floor = 0;          // |ref| floor of the relative error
  double stats_eps_units = 0;    // mean and rstd tolerance, in units of eps_f32
};
Thresholds ThresholdsFor(const Problem& problem);

// The outcome of checking every output of a run.
struct Accuracy {
  bool passed = false;
  std::string reason;  // why it failed ("y: 12 elements over bound, worst at row 3 col 7 ...")
  Thresholds thresholds;
  ErrorStats y, mean, rstd;  // mean/rstd only when problem.stats
};

// Checks `got` against the reference. x is the input (for the scale of each
// element's bound), gamma/beta as given to the backend (nullptr when !affine).
Accuracy CheckOutputs(const Problem& problem, const HostInputs& inputs, const HostOutputs& got,
                      const Reference& ref, ThreadPool& pool);

}  // namespace lnbench

#endif  // LNBENCH_CORE_METRICS_H_
