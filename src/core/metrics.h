// Error metrics and the pass/fail rule. See README "Verification" for how the
// thresholds are derived.
#ifndef LNBENCH_CORE_METRICS_H_
#define LNBENCH_CORE_METRICS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench {

// Errors are measured against the unrounded float64 reference, in ulps of
// the output dtype at the element's scale (ScaleUlps): the scale the bound
// uses, given per tensor by the op (OpDescriptor::ErrorScales; for
// LayerNorm |gamma|(|n|+1)+|beta| for y, |mean|+stddev for the mean, rstd
// for rstd). A correctly rounded output is within 0.5 of them; a near-zero output
// of an ill-conditioned element does not blow the figure up (a bit distance
// from a reference of 1e-8 counts every float in between).
//
// Histogram of those errors: bins <=0.5, 0.5-1, 1-2, 2-4, 4-8, 8-16, 16-64,
// 64-256, 256-4096, >4096 (non-finite/unwritten elements counted separately).
inline constexpr int kUlpBins = 10;
// Returns the label of bin i ("<=0.5", "0.5-1", "1-2", ...).
const char* UlpBinLabel(int bin);
// Returns the histogram bin of an error of `ulps` scale ulps.
int UlpBin(double ulps);
// Returns the spacing of `dtype`'s values at |v| (the ulp: 2^(e - mantissa
// bits), e = floor(log2 |v|) clamped to the dtype's smallest normal exponent).
double DTypeUlp(DType dtype, double v);

// Error statistics of one output tensor.
struct ErrorStats {
  uint64_t checked = 0;       // elements compared
  uint64_t failed = 0;        // elements over their bound (including the two below)
  uint64_t nan_mismatch = 0;  // NaN/Inf where the reference has none, or the reverse
  uint64_t unwritten = 0;     // elements still holding the poison pattern
  double max_abs = 0;         // max |got - ref|, ref unrounded
  double max_rel = 0;         // max |got - ref| / max(|ref|, rel_floor)
  double max_ulp = 0;         // max |got - ref| / DTypeUlp(dtype, scale): scale ulps
  // Raw bit distance: representable values between got and the reference
  // rounded to the dtype (+0 == -0). Counts every value across zero, so it is
  // huge for near-zero references; kept for debugging, never judged.
  uint64_t max_bit_distance = 0;
  // Elements exactly one representable value from the rounded reference: the
  // correctly rounded result's neighbour (a truncating 16-bit kernel has ~half).
  uint64_t off_by_one = 0;
  double rel_l2 = 0;          // ||got - ref||_2 / ||ref||_2 over finite elements
  // max (|got - ref| - rounding allowance)+ / compute allowance: passes when
  // <= 1 (then |got - ref| <= bound). The share of the f32 arithmetic's
  // allowance a kernel uses; 1 / it is the headroom of docs/verification.md.
  double max_bound_ratio = 0;
  std::array<uint64_t, kUlpBins> ulp_hist{};  // of the scale-ulp errors
  int64_t worst_index = -1;   // element with the largest bound ratio (or first failure)
  double worst_got = 0;
  double worst_ref = 0;
};

// The tolerances in force for a problem (docs/verification.md derives them).
struct Thresholds {
  double compute_eps_units = 0;  // allowed f32 arithmetic error, in units of eps_f32 * scale
  // Allowed error of the final rounding, in ulps of the output dtype at
  // max(|got|, |ref|): 0.5 (round to nearest), against the unrounded reference.
  double output_ulps = 0;
  double rel_floor = 0;          // |ref| floor of the relative error
  double stats_eps_units = 0;    // per-row statistics' tolerance, in units of eps_f32 * scale
};
Thresholds ThresholdsFor(const Problem& problem);

// The outcome of checking every output of a run.
struct Accuracy {
  bool passed = false;
  std::string reason;  // why it failed ("y: 12 elements over bound, worst at row 3 col 7 ...")
  Thresholds thresholds;
  // One entry per output tensor of the problem, indexed by TensorId; empty
  // for tensors that are not outputs.
  std::array<std::optional<ErrorStats>, kTensorCount> tensors;
  const std::optional<ErrorStats>& operator[](TensorId id) const {
    return tensors[static_cast<size_t>(id)];
  }
  std::optional<ErrorStats>& operator[](TensorId id) { return tensors[static_cast<size_t>(id)]; }
};

// Checks every output tensor in `got` against the reference. `inputs` are
// the tensors given to the backend (for the scale of each element's bound).
Accuracy CheckOutputs(const Problem& problem, const HostTensors& inputs, const HostTensors& got,
                      const Reference& ref, ThreadPool& pool);

}  // namespace lnbench

#endif  // LNBENCH_CORE_METRICS_H_
