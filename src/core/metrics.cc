#include "core/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {
namespace {

constexpr double kEpsF32 = 0x1p-23;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Elements per block of the parallel check. Blocks are fixed by the problem,
// not by the thread count, and partials are merged in block order, so every
// statistic is identical for any number of threads.
constexpr int64_t kCheckBlock = int64_t{1} << 15;

// Returns 2^k as a double (k within the normal double range).
inline double Pow2(int k) {
  uint64_t bits = static_cast<uint64_t>(k + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

// Fast per-dtype access to raw bits for the hot loop: rounding a double to
// the dtype's bits, widening bits to float, and the ulp of a value.
struct F32Traits {
  static constexpr DType kDType = DType::kF32;
  static constexpr uint32_t kSign = 0x80000000u;
  static constexpr int kMantBits = 23, kMinExp = -126;
  static constexpr int kMaxExp = 127;
  static uint32_t Load(const void* p, int64_t i) { return static_cast<const uint32_t*>(p)[i]; }
  static uint32_t Round(double v) { return FloatBits(static_cast<float>(v)); }
  static float ToFloat(uint32_t b) { return BitsToFloat(b); }
};
struct BF16Traits {
  static constexpr DType kDType = DType::kBF16;
  static constexpr uint32_t kSign = 0x8000u;
  static constexpr int kMantBits = 7, kMinExp = -126;
  static constexpr int kMaxExp = 127;
  static uint32_t Load(const void* p, int64_t i) { return static_cast<const uint16_t*>(p)[i]; }
  static uint32_t Round(double v) { return FloatToBF16(static_cast<float>(v)); }
  static float ToFloat(uint32_t b) { return BF16ToFloat(static_cast<uint16_t>(b)); }
};
struct F16Traits {
  static constexpr DType kDType = DType::kF16;
  static constexpr uint32_t kSign = 0x8000u;
  static constexpr int kMantBits = 10, kMinExp = -14;
  static constexpr int kMaxExp = 15;
  static uint32_t Load(const void* p, int64_t i) { return static_cast<const uint16_t*>(p)[i]; }
  static uint32_t Round(double v) { return FloatToF16(static_cast<float>(v)); }
  static float ToFloat(uint32_t b) { return F16ToFloat(static_cast<uint16_t>(b)); }
};

// Returns the spacing of the dtype's values at the finite float v (as UlpOf).
template <class T>
inline double FastUlp(float v) {
  const int biased = static_cast<int>((FloatBits(v) >> 23) & 0xFF);
  int e = biased == 0 ? -126 : biased - 127;
  if (e < T::kMinExp) e = T::kMinExp;
  return Pow2(e - T::kMantBits);
}

// Returns the overflow threshold of T: the least magnitude a round-to-nearest
// store turns into Inf (the largest finite value plus half its ulp, e.g.
// 65520 for f16, 2^128 (1 - 2^-25) for f32).
template <class T>
inline double OverflowThreshold() {
  return std::ldexp(1.0 - std::ldexp(1.0, -(T::kMantBits + 2)), T::kMaxExp + 1);
}

// Returns a key that is monotonic in the value of raw bits (+0 and -0 equal).
template <class T>
inline int64_t OrderedKey(uint32_t bits) {
  const int64_t mag = bits & ~T::kSign;
  return (bits & T::kSign) ? -mag : mag;
}

// Statistics of one block (or, after merging, of a whole tensor).
struct Partial {
  ErrorStats s;
  double sum_sq_diff = 0, sum_sq_ref = 0;
  double worst_rank = -1;  // bound ratio of worst_index; +inf for NaN mismatch / unwritten
  int64_t first_unwritten = -1, first_nan_mismatch = -1;
  // The finite comparison with the largest bound ratio (for the failure reason
  // when an unwritten or NaN element holds the worst slot).
  double finite_ratio = -1, finite_got = 0, finite_ref = 0;
  int64_t finite_index = -1;
};

void NoteWorst(Partial& p, int64_t index, double rank, double got, double ref) {
  // Strictly greater: among equals the lowest index wins (blocks run in order).
  if (rank > p.worst_rank) {
    p.worst_rank = rank;
    p.s.worst_index = index;
    p.s.worst_got = got;
    p.s.worst_ref = ref;
  }
}

// Records an element still holding the poison pattern (`ref`: what it should hold).
void RecordUnwritten(Partial& p, int64_t index, double ref) {
  ++p.s.checked;
  ++p.s.unwritten;
  ++p.s.failed;
  if (p.first_unwritten < 0) p.first_unwritten = index;
  NoteWorst(p, index, kInf, std::numeric_limits<double>::quiet_NaN(), ref);
}

void RecordNanMismatch(Partial& p, int64_t index, double got, double ref) {
  ++p.s.nan_mismatch;
  ++p.s.failed;
  if (p.first_nan_mismatch < 0) p.first_nan_mismatch = index;
  NoteWorst(p, index, kInf, got, ref);
}

// Records one finite comparison: `ref` is the unrounded reference; the bound
// is `rounding` (the final rounding's allowance) plus `compute` (the f32
// arithmetic's); `ulps` is the error in scale ulps, `bits` the raw bit
// distance from the rounded reference. The ratio is the share of the compute
// allowance used by the error beyond the rounding allowance: <= 1 exactly when
// the error is within the bound, and it measures a kernel's arithmetic even
// where one output ulp dwarfs it (bf16, f16).
void RecordFinite(Partial& p, int64_t index, double got, double ref, double rounding,
                  double compute, double ulps, uint64_t bits, double rel_floor) {
  const double diff = std::fabs(got - ref);
  const double excess = std::max(0.0, diff - rounding);
  const double ratio = compute > 0 ? excess / compute : (excess > 0 ? kInf : 0.0);
  ErrorStats& s = p.s;
  s.max_abs = std::max(s.max_abs, diff);
  s.max_rel = std::max(s.max_rel, diff / std::max(std::fabs(ref), rel_floor));
  s.max_ulp = std::max(s.max_ulp, ulps);
  s.max_bit_distance = std::max(s.max_bit_distance, bits);
  s.off_by_one += bits == 1;
  s.max_bound_ratio = std::max(s.max_bound_ratio, ratio);
  ++s.ulp_hist[UlpBin(ulps)];
  p.sum_sq_diff += diff * diff;
  p.sum_sq_ref += ref * ref;
  if (ratio > 1) ++s.failed;
  if (ratio > p.finite_ratio) {
    p.finite_ratio = ratio;
    p.finite_index = index;
    p.finite_got = got;
    p.finite_ref = ref;
  }
  NoteWorst(p, index, ratio, got, ref);
}

// Folds `b` (the next block) into `a`.
void Merge(Partial& a, const Partial& b) {
  ErrorStats& s = a.s;
  const ErrorStats& t = b.s;
  s.checked += t.checked;
  s.failed += t.failed;
  s.nan_mismatch += t.nan_mismatch;
  s.unwritten += t.unwritten;
  s.max_abs = std::max(s.max_abs, t.max_abs);
  s.max_rel = std::max(s.max_rel, t.max_rel);
  s.max_ulp = std::max(s.max_ulp, t.max_ulp);
  s.max_bit_distance = std::max(s.max_bit_distance, t.max_bit_distance);
  s.off_by_one += t.off_by_one;
  s.max_bound_ratio = std::max(s.max_bound_ratio, t.max_bound_ratio);
  for (int i = 0; i < kUlpBins; ++i) s.ulp_hist[i] += t.ulp_hist[i];
  a.sum_sq_diff += b.sum_sq_diff;
  a.sum_sq_ref += b.sum_sq_ref;
  if (b.worst_rank > a.worst_rank) {
    a.worst_rank = b.worst_rank;
    s.worst_index = t.worst_index;
    s.worst_got = t.worst_got;
    s.worst_ref = t.worst_ref;
  }
  if (a.first_unwritten < 0) a.first_unwritten = b.first_unwritten;
  if (a.first_nan_mismatch < 0) a.first_nan_mismatch = b.first_nan_mismatch;
  if (b.finite_ratio > a.finite_ratio) {
    a.finite_ratio = b.finite_ratio;
    a.finite_index = b.finite_index;
    a.finite_got = b.finite_got;
    a.finite_ref = b.finite_ref;
  }
}

void Finish(Partial& p) {
  if (p.sum_sq_diff == 0) {
    p.s.rel_l2 = 0;
  } else {
    p.s.rel_l2 = p.sum_sq_ref > 0 ? std::sqrt(p.sum_sq_diff / p.sum_sq_ref) : kInf;
  }
}

// Elements whose scales are computed at once (one virtual call per run).
constexpr int64_t kScaleChunk = 1024;

// Checks one output tensor element by element: `got` holds `count` values of
// T::kDType, `ref_values` the unrounded reference; the op gives each
// element's scale. A per-row tensor whose scale is NaN has no finite
// statistics in that row: any non-finite value is right there (NaN or Inf
// depends on the order of operations), a number is not.
template <class T>
Partial CheckTensor(const Problem& problem, const OpDescriptor& op, TensorId id, int64_t count,
                    bool per_row, const HostTensors& inputs, const void* got,
                    const double* ref_values, const Reference& ref, double compute_units,
                    const Thresholds& th, ThreadPool& pool) {
  const uint32_t poison = PoisonBits(T::kDType);
  const double compute_tol = compute_units * kEpsF32;
  const int64_t blocks = (count + kCheckBlock - 1) / kCheckBlock;
  std::vector<Partial> partials(static_cast<size_t>(blocks));
  pool.ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    double scales[kScaleChunk];
    for (int64_t b = b0; b < b1; ++b) {
      Partial& p = partials[static_cast<size_t>(b)];
      const int64_t end = std::min(count, (b + 1) * kCheckBlock);
      for (int64_t c0 = b * kCheckBlock; c0 < end; c0 += kScaleChunk) {
        const int64_t c1 = std::min(end, c0 + kScaleChunk);
        op.ErrorScales(problem, id, inputs, ref, c0, c1, scales);
        for (int64_t i = c0; i < c1; ++i) {
          const uint32_t got_bits = T::Load(got, i);
          // Raw bits first: the poison pattern is a NaN, and converting it would lose
          // the difference between "never written" and "computed NaN".
          if (got_bits == poison) {
            RecordUnwritten(p, i, T::ToFloat(T::Round(ref_values[i])));
            continue;
          }
          ++p.s.checked;
          const double g = T::ToFloat(got_bits);
          const uint32_t ref_bits = T::Round(ref_values[i]);
          const double ref_r = T::ToFloat(ref_bits);
          const double scale = scales[i - c0];
          const bool row_finite = !per_row || !std::isnan(scale);
          const double v = ref_values[i];
          // At the overflow edge the bound decides: a finite reference whose
          // rounding is Inf, met by a finite value, or an Inf of the finite
          // reference's sign within a factor 2 of the threshold, is judged as
          // a number, the Inf standing for the threshold. The same Inf on
          // both sides is a match, as before. (An f32 y of FLT_MAX plus a
          // third of its half ulp may come out Inf; f16 65519.998 rounds to
          // 65504, but to 65520, Inf, through f32 as T::Round takes it.)
          const bool edge = row_finite && std::isfinite(v) && !std::isnan(g) && !std::isnan(scale) && ref_r != g &&
                            (std::isfinite(g) || (std::signbit(g) == std::signbit(v) &&
                                                  std::fabs(v) >= 0.5 * OverflowThreshold<T>()));
          if (!edge && (!row_finite || !std::isfinite(ref_r) || !std::isfinite(g))) {
            // NaN must meet NaN; an infinity must meet the same infinity.
            const bool match = !row_finite ? !std::isfinite(g)
                                           : ((std::isnan(ref_r) && std::isnan(g)) || ref_r == g);
            if (!match) RecordNanMismatch(p, i, g, ref_r);
            continue;
          }
          const double g_num = std::isfinite(g) ? g : std::copysign(OverflowThreshold<T>(), g);
          // Against the unrounded reference: a round-to-nearest kernel is off by its
          // compute error plus half an ulp of its result, a truncating one by up to
          // a whole ulp (docs/verification.md, "16-bit outputs").
          const double rounding =
              th.output_ulps *
              FastUlp<T>(static_cast<float>(std::min(std::max(std::fabs(g_num), std::fabs(v)),
                                                     static_cast<double>(std::numeric_limits<float>::max()))));
          const double ulps = std::fabs(g_num - v) / FastUlp<T>(static_cast<float>(scale));
          const uint64_t bits = static_cast<uint64_t>(
              std::llabs(OrderedKey<T>(got_bits) - OrderedKey<T>(ref_bits)));
          RecordFinite(p, i, g_num, v, rounding, compute_tol * scale, ulps, bits, th.rel_floor);
        }
      }
    }
  });
  Partial total;
  for (const Partial& p : partials) Merge(total, p);
  Finish(total);
  return total;
}

// Returns "row R col C" for element `index` of a rows x cols tensor.
std::string Where(int64_t index, int64_t cols) {
  return fmt::format("row {} col {}", index / cols, index % cols);
}

// Returns the failure description of one tensor of `extent`, or "" when it
// passed. `value_at(i)` returns (got, expected) for element i.
template <class ValueAt>
std::string Describe(std::string_view name, const Partial& p, int64_t cols, Extent extent,
                     const ValueAt& value_at) {
  const ErrorStats& s = p.s;
  if (s.failed == 0) return "";
  auto where = [&](int64_t i) {
    switch (extent) {
      case Extent::kRows: return fmt::format("row {}", i);
      case Extent::kCols: return fmt::format("col {}", i);
      case Extent::kRowsCols: break;
    }
    return Where(i, cols);
  };
  std::vector<std::string> parts;
  if (s.unwritten > 0)
    parts.push_back(fmt::format("{} of {} unwritten (first at {})", s.unwritten, s.checked,
                                where(p.first_unwritten)));
  if (s.nan_mismatch > 0) {
    const auto [got, want] = value_at(p.first_nan_mismatch);
    parts.push_back(fmt::format("{} NaN/Inf mismatches (first at {}: got {} expected {})",
                                s.nan_mismatch, where(p.first_nan_mismatch), got, want));
  }
  const uint64_t over = s.failed - s.unwritten - s.nan_mismatch;
  if (over > 0) {
    parts.push_back(fmt::format(
        "{} of {} over bound (worst {:.3g}x the compute allowance at {}: got {:.9g} expected {:.9g})", over,
        s.checked, p.finite_ratio, where(p.finite_index), p.finite_got, p.finite_ref));
  }
  std::string out = std::string(name) + ": ";
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? ", " : "") + parts[k];
  return out;
}

}  // namespace

const char* UlpBinLabel(int bin) {
  static const char* const kLabels[kUlpBins] = {"<=0.5", "0.5-1", "1-2",     "2-4",      "4-8",
                                                "8-16",  "16-64", "64-256", "256-4096", ">4096"};
  return bin >= 0 && bin < kUlpBins ? kLabels[bin] : "?";
}

int UlpBin(double ulps) {
  static constexpr double kUpper[kUlpBins - 1] = {0.5, 1, 2, 4, 8, 16, 64, 256, 4096};
  for (int b = 0; b < kUlpBins - 1; ++b)
    if (ulps <= kUpper[b]) return b;
  return kUlpBins - 1;  // also NaN, which never occurs for finite pairs
}

double DTypeUlp(DType dtype, double v) {
  const float f = static_cast<float>(std::fabs(v));
  switch (dtype) {
    case DType::kF32: return FastUlp<F32Traits>(f);
    case DType::kBF16: return FastUlp<BF16Traits>(f);
    case DType::kF16: return FastUlp<F16Traits>(f);
  }
  return 0;
}

Thresholds ThresholdsFor(const Problem& problem) {
  Thresholds t;
  // See docs/verification.md for the derivation.
  const OpDescriptor& op = OpFor(problem);
  t.compute_eps_units = op.ComputeEpsUnits(problem, Extent::kRowsCols);
  t.output_ulps = 0.5;
  t.rel_floor = 1e-3;
  t.stats_eps_units = op.ComputeEpsUnits(problem, Extent::kRows);
  return t;
}

Accuracy CheckOutputs(const Problem& problem, const HostTensors& inputs, const HostTensors& got,
                      const Reference& ref, ThreadPool& pool) {
  Accuracy acc;
  acc.thresholds = ThresholdsFor(problem);
  const Thresholds& th = acc.thresholds;
  const OpDescriptor& op = OpFor(problem);
  std::vector<std::string> reasons;
  for (const TensorSpec& t : op.TensorsOf(problem, TensorRole::kOutput)) {
    const std::string_view name = TensorName(t.id);
    const void* g = got.get(t.id);
    const DType dtype = TensorDType(problem, t.extent);
    const int64_t count = TensorElements(problem, t.extent);
    // An empty tensor (no rows) has nothing to return.
    if (g == nullptr && count > 0) {
      reasons.push_back(std::string(name) + ": not returned");
      continue;
    }
    const bool per_row = t.extent != Extent::kRowsCols;
    // Per-row and per-column tensors have the op's own allowance (the
    // backward's dgamma/dbeta: a sum over rows).
    const double units = per_row ? op.ComputeEpsUnits(problem, t.extent) : th.compute_eps_units;
    const double* ref_values = ref.data(t.id);
    Partial part;
    switch (dtype) {
      case DType::kF32:
        part = CheckTensor<F32Traits>(problem, op, t.id, count, per_row, inputs, g, ref_values, ref,
                                      units, th, pool);
        break;
      case DType::kBF16:
        part = CheckTensor<BF16Traits>(problem, op, t.id, count, per_row, inputs, g, ref_values,
                                       ref, units, th, pool);
        break;
      case DType::kF16:
        part = CheckTensor<F16Traits>(problem, op, t.id, count, per_row, inputs, g, ref_values, ref,
                                      units, th, pool);
        break;
    }
    acc[t.id] = part.s;
    // Per-row tensors are reported by row, per-column ones by col; a
    // (rows x cols) one by row and col.
    const std::string why = Describe(name, part, problem.cols, t.extent, [&](int64_t i) {
      return std::pair<double, double>(LoadAsDouble(dtype, g, i), RoundToDType(ref_values[i], dtype));
    });
    if (!why.empty()) reasons.push_back(why);
  }
  acc.passed = reasons.empty();
  for (size_t k = 0; k < reasons.size(); ++k) acc.reason += (k ? "; " : "") + reasons[k];
  return acc;
}

}  // namespace lnbench
