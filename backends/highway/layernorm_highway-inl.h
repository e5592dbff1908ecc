// Per-target LayerNorm row kernels, in the shape of Highway's skeleton-inl.h:
// layernorm_highway.cc includes this once per target through foreach_target.h,
// so every function below exists once per SIMD target in its own namespace.
//
// One row, any length H:
//   statistics  one read of x, in blocks of 128 vectors: the sum and sum of
//               squares of x - shift, where the shift is the row's running
//               mean (for the first block, the mean of the row's first 16
//               vectors). A block whose
//               mean turns out far from its shift (where sum_sq - sum^2/n
//               would cancel) is summed again around its own mean. Blocks
//               are merged in double with Chan's formula. The f32 sums never
//               see the offset of the data (1e6 + N(0,1) loses nothing) and
//               never cancel, and a constant row gives exactly mean = x,
//               variance 0.
//   normalize   a second read of x (from L1/L2 for rows that fit), y written
//               with ordinary stores, or streaming stores when the output does
//               not fit in the last-level cache.
// Rows are pipelined block by block (normalize block k of row r, then sum
// block k of row r+1, prefetched meanwhile), so DRAM reads overlap the
// writes. Rows that start on cache lines may go four at a time (see "Row
// groups"), and short rows in batches of four (see "Short rows in
// batches"). Every path sums in the same order: a row's bits do not depend
// on the path or on how rows are split over threads. Loading, converting and
// writing rows (the part an RMSNorm kernel shares) is in norm_rows-inl.h.

// Per-target include guard, toggled by foreach_target.h.
#if defined(LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_INL_H_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_INL_H_
#undef LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_INL_H_
#else
#define LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>

#include "backends/highway/layernorm_highway.h"
#include "backends/highway/norm_rows-inl.h"
#include "core/dtype.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Returns the elements per statistics block: 128 vectors, so each of the two
// f32 accumulators of a lane sums at most 64 terms on every target (rounding
// grows with that count), and a block (at most 8 KiB of f32) is still in L1
// for its second sum. A multiple of a cache line of any element type.
template <class D>
HWY_INLINE size_t BlockElements(D d) {
  return 128 * hn::Lanes(d);
}

// ------------------------------ Statistics

// Returns a + t, computed as t * 1 + a by an FMA where the target has one:
// the same bits (t * 1 is exact; a NaN stays a NaN). The statistics loops
// subtract and add for every vector and multiply-add once (the shift's loop
// only adds); Zen 4 runs additions and FMAs on separate pipes, so the
// accumulators of every second vector add on the FMA pipes. Hot, 256 KiB,
// one thread, five alternating runs of `lnbench_highway_bench hot` (sums
// only): bf16 H = 768-16384 4-6% less time, f32 H = 768 3%, f32 H = 4096 and
// 16384 within +-3%; at 256 MiB no change beyond the noise of three
// alternating runs. Where additions and FMAs share ports (Intel), the same.
template <class D>
HWY_INLINE hn::Vec<D> AddOnFmaUnit(D d, hn::Vec<D> a, hn::Vec<D> t) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return hn::MulAdd(t, hn::Set(d, 1.0f), a);
#else
  (void)d;
  return hn::Add(a, t);
#endif
}

// Running statistics of a row: count, mean and M2 = sum (x - mean)^2.
struct Moments {
  double count = 0;
  double mean = 0;
  double m2 = 0;

  // Merges a block's statistics (Chan et al.); exact when the means agree.
  void Merge(double n, double block_mean, double block_m2) {
    if (count == 0) {
      count = n;
      mean = block_mean;
      m2 = block_m2;
      return;
    }
    const double total = count + n;
    const double delta = block_mean - mean;
    mean += delta * (n / total);
    m2 += block_m2 + delta * delta * (count * n / total);
    count = total;
  }
};

// Returns v / count. Where count is a power of two (every whole statistics
// block, rows of 128, 256, ... columns) as v * 2^-k: the exact quotient
// rounded once, so the same double as the division (zeros and Inf
// included; NaN stays NaN), without the division's latency on the row's
// chain of statistics. The callers' v are float sums or their exact squares,
// so v * 2^-k is exact (far from double's subnormals): an FMA the compiler
// forms with it rounds as the division did. Checked against the division on
// every target with `lnbench verify --dump` over 12 shapes, both norms and
// directions: the same bits, except the sign of some NaN outputs of the
// `special` rows on the targets without AVX (which of two NaN operands an
// SSE addition keeps follows the compiler's operand order). A small gain:
// one thread, 4 MiB of x in cache, eight alternating runs of
// `lnbench_highway_bench hot` against the division, median of the paired
// time ratios, H = 128 / 256 / 768 / 1024 / 4096: f32 0.98 / 0.98 / 1.00 /
// 0.97 / 0.98, bf16 1.00 / 0.96 / 0.99 / 0.96 / 0.98 (a first, noisier set
// of ten runs gave 0.79-0.92 at H = 128-256). At 256 MiB no change beyond
// the spread (`dram`, H = 128, one thread, eight alternating runs, median
// fraction of the copy: f32 0.74 -> 0.73, bf16 0.57 -> 0.55).
HWY_INLINE double DivideByCount(double v, size_t count) {
  if ((count & (count - 1)) == 0) {
    const uint64_t bits = static_cast<uint64_t>(1023 - __builtin_ctzll(count)) << 52;
    double inverse;
    hwy::CopyBytes<sizeof(double)>(&bits, &inverse);
    return v * inverse;
  }
  return v / static_cast<double>(count);
}

// Vectors at the start of a row whose mean is the shift of its first block.
constexpr size_t kShiftVectors = 16;

// Returns the shift the sums of block x[begin, end) are taken around. After
// the row's first block: the row's running mean, one read per block. For the
// first block: the mean of its first kShiftVectors vectors (an extra sum
// around the first element, of data then in L1). The sums of a block carry
// its distance from the shift in every term, and the f32 rounding of the
// mean grows with it: 16 vectors put the shift within a quarter (SSE4) to a
// sixteenth (AVX-512) of a standard deviation, where one vector made the
// mean's errors several times larger. x - shift is exact for offset data
// (Sterbenz), and a constant row gets shift = x exactly, so its sums are
// exactly zero. x is the row base (see SumsAround).
template <class D, typename T>
HWY_INLINE float BlockShift(D d, const T* HWY_RESTRICT x, size_t begin, size_t end,
                            const Moments& moments) {
  if (moments.count != 0) return static_cast<float>(moments.mean);
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  end = std::min(end, begin + kShiftVectors * N);
  const size_t count = end - begin;
  const size_t body_end = begin + (count / N) * N;
  const size_t rest = end - body_end;
  const float first = ScalarToFloat(x + begin);
  const V shift0 = hn::Set(d, first);
  V a0 = hn::Zero(d), a1 = hn::Zero(d);
  size_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N) {
    V v0, v1;
    LoadTwoUnordered(d, x + i, v0, v1);
    a0 = hn::Add(a0, hn::Sub(v0, shift0));
    a1 = AddOnFmaUnit(d, a1, hn::Sub(v1, shift0));
  }
  if (i < body_end) a0 = hn::Add(a0, hn::Sub(LoadF32(d, x + i), shift0));
  if (rest != 0) {
    const auto rest_mask = hn::Not(hn::FirstN(d, N - rest));
    a1 = hn::Add(a1, hn::IfThenElseZero(rest_mask, hn::Sub(LoadF32(d, x + end - N), shift0)));
  }
  const float sum0 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  return first + sum0 / static_cast<float>(count);
}

// Sets sum and sum_sq to the sums of t = x - shift and t^2 over x[begin, end),
// one read. x is the row base and holds at least Lanes(d) elements before
// `end`, so a last partial vector is read as the full vector ending at `end`,
// its earlier lanes masked off. The terms are summed in the same order as
// AccumulateBlockGroup does for rows of whole vectors, so a row gets the same
// bits on either path (and for any split of rows over threads).
template <class D, typename T>
HWY_INLINE void SumsAround(D d, const T* HWY_RESTRICT x, size_t begin, size_t end, float shift,
                           float& sum, float& sum_sq) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const size_t count = end - begin;
  const size_t body_end = begin + (count / N) * N;
  const size_t rest = end - body_end;
  const V vshift = hn::Set(d, shift);
  V s0 = hn::Zero(d), s1 = hn::Zero(d), q0 = hn::Zero(d), q1 = hn::Zero(d);
  size_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N) {
    V v0, v1;
    LoadTwoUnordered(d, x + i, v0, v1);
    const V t0 = hn::Sub(v0, vshift);
    const V t1 = hn::Sub(v1, vshift);
    s0 = hn::Add(s0, t0);
    s1 = AddOnFmaUnit(d, s1, t1);
    q0 = hn::MulAdd(t0, t0, q0);
    q1 = hn::MulAdd(t1, t1, q1);
  }
  if (i < body_end) {
    const V t = hn::Sub(LoadF32(d, x + i), vshift);
    s0 = hn::Add(s0, t);
    q0 = hn::MulAdd(t, t, q0);
  }
  if (rest != 0) {
    const auto rest_mask = hn::Not(hn::FirstN(d, N - rest));
    const V t = hn::IfThenElseZero(rest_mask, hn::Sub(LoadF32(d, x + end - N), vshift));
    s1 = hn::Add(s1, t);
    q1 = hn::MulAdd(t, t, q1);
  }
  sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  sum_sq = hn::GetLane(hn::SumOfLanes(d, hn::Add(q0, q1)));
}

// Merges block x[begin, end) into `moments`, given its sums around `shift`.
// M2 = sum_sq - sum^2 / n cancels only when the shift is far from the
// block's mean; if sum^2 / n exceeds a quarter of sum_sq (under half a bit
// lost), the block, still in L1, is summed again around its own mean (the
// corrected two-pass formula). Shifts from the running mean almost never
// need that: a row that changes level, or an unlucky first vector, does.
// NaN and Inf sums fail the test and go straight to the merge.
// Whether M2 = sum_sq - sum^2 / n would cancel for a block of n elements
// summed around some shift (sum^2 / n over a quarter of sum_sq: half a bit
// or more lost; the shift is far from the block's mean). False for NaN sums.
HWY_INLINE bool SumsCancel(double n, float sum, float sum_sq) {
  return static_cast<double>(sum) * sum > 0.25 * n * static_cast<double>(sum_sq);
}

template <class D, typename T>
HWY_INLINE void FinishBlock(D d, const T* HWY_RESTRICT x, size_t begin, size_t end, float shift,
                            float sum, float sum_sq, Moments& moments) {
  const size_t count = end - begin;
  const double n = static_cast<double>(count);
  if (SumsCancel(n, sum, sum_sq)) {
    shift += sum / static_cast<float>(count);
    SumsAround(d, x, begin, end, shift, sum, sum_sq);
  }
  const double block_mean =
      static_cast<double>(shift) + DivideByCount(static_cast<double>(sum), count);
  double block_m2 =
      static_cast<double>(sum_sq) - DivideByCount(static_cast<double>(sum) * sum, count);
  if (block_m2 < 0) block_m2 = 0;  // not std::max: a NaN must stay NaN
  moments.Merge(n, block_mean, block_m2);
}

// Widened raw sums, sum x and sum x^2 with no shift, of rows whose type has
// no native raw sums (HasRawSums: bf16 on CPUs with AVX512_BF16): one
// addition and one FMA per f32 vector, where the shifted sums (SumsAround)
// take a subtraction, an addition and an FMA, and a first block also the
// shift's pass over its first kShiftVectors vectors. Two accumulators per
// sum, so each lane adds at most 64 terms of a block, as in the shifted
// sums; each FMA rounds x * x + q once. Issue 15: with one thread the f32
// kernels were bound by the statistics' operations even at DRAM (256 MiB,
// `lnbench_highway_bench dram`, f32 H = 4096 and 16384: 0.57 of the copy
// with the shifted sums, 0.69 with raw sums, 0.79 with a bare load and add
// per vector; a throw-away build).
//
// Sets sum[j] and sum_sq[j] for block [begin, end) of the kRows rows whose
// bases are x[j] (see SumsAround), the rows side by side: single rows
// (kRows = 1) and row groups add each row's terms in the same order, so
// every path gives the same bits.
template <size_t kRows, class D, typename T>
HWY_INLINE void WidenedRawSums(D d, const T* const* x, size_t begin, size_t end, float* sum,
                               float* sum_sq) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const size_t body_end = begin + (end - begin) / N * N;
  const size_t rest = end - body_end;
  V s0[kRows], s1[kRows], q0[kRows], q1[kRows];
  for (size_t j = 0; j < kRows; ++j) {
    s0[j] = s1[j] = q0[j] = q1[j] = hn::Zero(d);
  }
  size_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N) {
    for (size_t j = 0; j < kRows; ++j) {
      V v0, v1;
      LoadTwoUnordered(d, x[j] + i, v0, v1);
      s0[j] = hn::Add(s0[j], v0);
      s1[j] = hn::Add(s1[j], v1);
      q0[j] = hn::MulAdd(v0, v0, q0[j]);
      q1[j] = hn::MulAdd(v1, v1, q1[j]);
    }
  }
  if (i < body_end) {  // a last whole vector
    for (size_t j = 0; j < kRows; ++j) {
      const V v = LoadF32(d, x[j] + i);
      s0[j] = hn::Add(s0[j], v);
      q0[j] = hn::MulAdd(v, v, q0[j]);
    }
  }
  if (rest != 0) {  // a last partial vector: the full vector ending at `end`, earlier lanes zeroed
    const auto rest_mask = hn::Not(hn::FirstN(d, N - rest));
    for (size_t j = 0; j < kRows; ++j) {
      const V v = hn::IfThenElseZero(rest_mask, LoadF32(d, x[j] + end - N));
      s1[j] = hn::Add(s1[j], v);
      q1[j] = hn::MulAdd(v, v, q1[j]);
    }
  }
  for (size_t j = 0; j < kRows; ++j) {
    sum[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0[j], s1[j])));
    sum_sq[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(q0[j], q1[j])));
  }
}

// The raw sums of block [begin, end) of the kRows rows whose bases are x[j]
// (see SumsAround), side by side: RawSumsRows where the CPU has them
// (HasRawSums), else widened. Each row gets the bits it gets alone.
template <size_t kRows, class D, typename T>
HWY_INLINE void BlockRawSumsRows(D d, const T* const* x, size_t begin, size_t end, float* sum,
                                 float* sum_sq) {
  if (RawSumsRows<true, kRows>(d, x, begin, end, sum, sum_sq)) return;
  WidenedRawSums<kRows>(d, x, begin, end, sum, sum_sq);
}

// The raw sums of block x[begin, end) of a row whose base is x.
template <class D, typename T>
HWY_INLINE void BlockRawSums(D d, const T* HWY_RESTRICT x, size_t begin, size_t end,
                             float& sum, float& sum_sq) {
  const T* rows[1] = {x};
  BlockRawSumsRows<1>(d, rows, begin, end, &sum, &sum_sq);
}

// Whether a row's next block tries the raw sums: not after a block whose
// running mean was already far from zero (mean^2 > variance / 4).
HWY_INLINE bool TriesRawSums(const Moments& moments) {
  return moments.count == 0 || 4 * moments.mean * moments.mean * moments.count <= moments.m2;
}

// Merges block x[begin, end) into `moments` from its raw sums and returns
// true, when they are safe: the block's mean within sqrt(1/3) standard
// deviations of zero (the sums around 0 do not cancel: SumsCancel), sum_sq
// finite and at least n * kRawSumsMinMeanSquare (squares far from f32's
// subnormals, and from bf16's flushing in RawSums). Otherwise (offset,
// constant, tiny, NaN or Inf data) returns false with `moments` untouched.
template <class D, typename T>
HWY_INLINE bool MergeRawSums(D d, const T* HWY_RESTRICT x, size_t begin, size_t end, float sum,
                             float sum_sq, Moments& moments) {
  const double n = static_cast<double>(end - begin);
  if (!std::isfinite(sum_sq) || SumsCancel(n, sum, sum_sq) ||
      sum_sq < n * kRawSumsMinMeanSquare) {
    return false;
  }
  FinishBlock(d, x, begin, end, 0.0f, sum, sum_sq, moments);
  return true;
}

// Merges block x[begin, end) into `moments` from its raw sums (BlockRawSums,
// FinishBlock with shift 0) and returns true, when TriesRawSums and
// MergeRawSums allow it. Otherwise returns false with `moments` untouched,
// and the caller takes the shifted sums. The outcome depends on the block's values
// only, so every path and thread split takes the same one (tested:
// RowGroupsMatchSingleRows).
template <class D, typename T>
HWY_INLINE bool RawBlock(D d, const T* HWY_RESTRICT x, size_t begin, size_t end,
                         Moments& moments) {
  if (!TriesRawSums(moments)) return false;
  float sum, sum_sq;
  BlockRawSums(d, x, begin, end, sum, sum_sq);
  return MergeRawSums(d, x, begin, end, sum, sum_sq, moments);
}

// Adds the statistics of x[begin, end) to `moments` from sums around a
// shift: the path of blocks whose raw sums are not safe.
template <class D, typename T>
HWY_INLINE void ShiftedBlock(D d, const T* HWY_RESTRICT x, size_t begin, size_t end,
                             Moments& moments) {
  const float shift = BlockShift(d, x, begin, end, moments);
  float sum, sum_sq;
  SumsAround(d, x, begin, end, shift, sum, sum_sq);
  FinishBlock(d, x, begin, end, shift, sum, sum_sq, moments);
}

// Adds the statistics of x[begin, end) to `moments` (see SumsAround for x).
template <class D, typename T>
HWY_INLINE void AccumulateBlock(D d, const T* HWY_RESTRICT x, size_t begin, size_t end,
                                Moments& moments) {
  if (RawBlock(d, x, begin, end, moments)) return;
  ShiftedBlock(d, x, begin, end, moments);
}

// Adds whole blocks [begin, begin + kBlocks * block), ... of a row to
// `moments` while at least kBlocks whole blocks are left and the row still
// tries raw sums, and returns where it stopped. The blocks' raw sums are
// taken side by side, ahead of knowing whether each block uses them; each
// block is then merged in order exactly as AccumulateBlock merges it (a block
// whose raw sums are not tried or not safe is summed around its shift), so
// the row gets AccumulateBlock's bits. A row's blocks otherwise go one after
// the other, each bound by the latency of its two chains of FMAs (four
// cycles per two vectors): for the first row of a call, whose statistics
// nothing overlaps (batch 1), that was most of the statistics' time.
template <size_t kBlocks, class D, typename T>
HWY_INLINE size_t WholeBlocksSideBySide(D d, const T* HWY_RESTRICT x, size_t cols, size_t block,
                                        size_t begin, Moments& moments) {
  for (; begin + kBlocks * block <= cols && TriesRawSums(moments); begin += kBlocks * block) {
    const T* bases[kBlocks];
    for (size_t k = 0; k < kBlocks; ++k) bases[k] = x + begin + k * block;
    float sum[kBlocks], sum_sq[kBlocks];
    BlockRawSumsRows<kBlocks>(d, bases, 0, block, sum, sum_sq);
    for (size_t k = 0; k < kBlocks; ++k) {
      const size_t b = begin + k * block;
      if (!TriesRawSums(moments) ||
          !MergeRawSums(d, x, b, b + block, sum[k], sum_sq[k], moments)) {
        ShiftedBlock(d, x, b, b + block, moments);
      }
    }
  }
  return begin;
}

// Returns the mean and M2 of a row of `cols` >= Lanes(d) elements: whole
// blocks four or two side by side (WholeBlocksSideBySide) in rows of at most
// kSideBySideMaxRowBytes, the rest one by one, every block merged in order.
template <class D, typename T>
HWY_INLINE Moments RowMoments(D d, const T* HWY_RESTRICT x, size_t cols) {
  Moments moments;
  const size_t block = BlockElements(d);
  size_t begin = 0;
  if (cols * sizeof(T) <= kSideBySideMaxRowBytes) {
    begin = WholeBlocksSideBySide<4>(d, x, cols, block, begin, moments);
    begin = WholeBlocksSideBySide<2>(d, x, cols, block, begin, moments);
  }
  for (; begin < cols; begin += block) {
    AccumulateBlock(d, x, begin, std::min(cols, begin + block), moments);
  }
  return moments;
}

// ------------------------------ Normalize

// The per-row constants of y = (x - mean) * rstd, in one of two forms.
//
// Offset form: y = (x - mean_hi) * rstd + (-mean_lo * rstd), where
// mean_hi + mean_lo is the double mean split in two floats: x - mean_hi is
// exact for offset data (Sterbenz), so y keeps the accuracy of N(0,1) data
// even at 1e6 + N(0,1). A constant row gives 0 * rstd + (-0) = 0, so
// y = beta exactly.
//
// Direct form, for rows whose mean is within a standard deviation of zero
// (mean^2 <= var) and whose variance is not zero: y = x * rstd + c with
// c = -mean * rstd rounded once from double. Then |c| <= sigma * rstd, so c's
// own rounding (2^-24 |c|) and, on targets without FMA, the rounding of
// x * rstd (2^-24 (|y| + |c|)) stay within 2^-24 of the verifier's scale
// |n| + sigma * rstd; with an FMA x * rstd + c rounds once. The accuracy is
// that of the offset form, with one 512-bit subtraction fewer per vector
// (issue 15: the bf16 loops are bound by the count of vector operations).
// Until 2026-12-05 the test was |mean * rstd| <= 1, i.e. |mean| <= sqrt(var +
// eps): where eps dominates the variance that let rows whose mean is many
// standard deviations from zero in (bf16 tinyvar rows: mean 19.5 sigma,
// c = -0.62, sigma * rstd = 0.03), whose y then carried c's rounding, 20 times
// y's own share of the bound; 7 elements of 16.7M failed on the targets
// without FMA (SSE4, SSSE3, EMU128: `lnbench verify -b highway --cols 128
// --dtype bf16`, 131072x128 tinyvar, 1.02x the compute allowance). The test
// HighwayTargetTest.EpsDominatedRowsNearZeroTakeTheOffsetForm fails the old
// rule on every target. The choice depends on the row's statistics only, so
// every path and thread split takes the same one; the offset form's code
// computes the direct form bit for bit with mean_hi = 0 (x - 0 = x), so a row
// group may mix rows of both forms in one loop.
template <class D>
struct RowScale {
  hn::Vec<D> mean_hi, rstd, offset;  // offset = -mean_lo * rstd, or c
  bool direct;

  RowScale() : direct(false) {}
  // var = m2 / cols.
  RowScale(D d, double mean, double m2, double var, float rstd_f) {
    const double c = -mean * static_cast<double>(rstd_f);
    direct = m2 > 0 && std::isfinite(m2) && mean * mean <= var;  // false for NaN
    if (direct) {
      mean_hi = hn::Zero(d);
      rstd = hn::Set(d, rstd_f);
      offset = hn::Set(d, static_cast<float>(c));
      return;
    }
    const float hi = static_cast<float>(mean);
    const float lo = static_cast<float>(mean - static_cast<double>(hi));
    mean_hi = hn::Set(d, hi);
    rstd = hn::Set(d, rstd_f);
    offset = hn::Set(d, -(lo * rstd_f));
  }
};

// Returns the mean and M2 of a row in double, two passes, as the reference
// takes them. For rows of finite values whose f32 block sums overflow, or
// whose deviations' squares are f32 subnormals (FinishRow).
template <typename T>
HWY_NOINLINE Moments ExactMoments(const T* HWY_RESTRICT x, size_t cols) {
  constexpr ::lnbench::DType kDType = ElementDType<T>();
  double sum = 0;
  for (size_t i = 0; i < cols; ++i) sum += ::lnbench::LoadAsDouble(kDType, x, i);
  Moments m;
  m.count = static_cast<double>(cols);
  m.mean = sum / m.count;
  for (size_t i = 0; i < cols; ++i) {
    const double dev = ::lnbench::LoadAsDouble(kDType, x, i) - m.mean;
    m.m2 += dev * dev;
  }
  return m;
}

// Returns row r's scale from its moments, and writes the row's mean and rstd
// when they are asked for (args.mean): every path finishes a row this way.
// Moments that are not finite are taken again exactly (ExactMoments): the
// blocks' f32 sums of squares overflow on finite values from about
// sqrt(FLT_MAX / block) up (1e18 at H = 1000 gave rstd 0 and y = beta). A row
// holding NaN or Inf comes out non-finite either way. So are moments of a
// tiny variance where eps does not hide it (TinySums: f32 squares of
// deviations under 2^-63 are subnormals; rows near 2^-70 with --eps 0 failed
// by 1.2-2.7x the allowance).
template <typename T, class D>
HWY_INLINE RowScale<D> FinishRow(D d, const HwyRowsArgs& args, int64_t r, Moments m, double inv_cols) {
  if (HWY_UNLIKELY(!std::isfinite(m.mean) || !std::isfinite(m.m2) || TinySums(m.m2, m.count, args.eps)))
    m = ExactMoments(static_cast<const T*>(args.x) + static_cast<size_t>(r) * static_cast<size_t>(args.cols),
                     static_cast<size_t>(args.cols));
  const double var = m.m2 * inv_cols;
  const double rstd = 1.0 / std::sqrt(var + args.eps);
  if (args.mean != nullptr) {
    args.mean[r] = static_cast<float>(m.mean);
    args.rstd[r] = static_cast<float>(rstd);
  }
  return RowScale<D>(d, m.mean, m.m2, var, static_cast<float>(rstd));
}

// Returns the normalized vector of x values xv [* g + b]; kDirect: the row's
// scale is in the direct form (skips the subtraction of mean_hi = 0).
template <bool kAffine, bool kDirect, class D>
HWY_INLINE hn::Vec<D> NormalizeVector(const RowScale<D>& s, hn::Vec<D> xv, hn::Vec<D> g,
                                      hn::Vec<D> b) {
  const hn::Vec<D> t = hn::MulAdd(kDirect ? xv : hn::Sub(xv, s.mean_hi), s.rstd, s.offset);
  return kAffine ? hn::MulAdd(t, g, b) : t;
}

// Normalizes elements [begin, end) of a row of `cols` >= Lanes(d) elements
// into y (see WriteRowRange for kStream and prefetch).
template <bool kAffine, bool kStream, bool kDirect, bool kIntoL2 = false, class D, typename T>
HWY_INLINE void NormalizeRangeAs(D d, const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                                 const float* HWY_RESTRICT gamma, const float* HWY_RESTRICT beta,
                                 size_t begin, size_t end, size_t cols, const RowScale<D>& scale,
                                 const T* prefetch) {
  const RowScale<D> s = scale;
  const auto value = [d, x, gamma, beta, s](size_t i) HWY_ATTR {
    const hn::Vec<D> g = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
    const hn::Vec<D> b = kAffine ? hn::LoadU(d, beta + i) : hn::Zero(d);
    return NormalizeVector<kAffine, kDirect>(s, LoadF32(d, x + i), g, b);
  };
  WriteRowRange<kStream, kIntoL2>(d, y, begin, end, cols, prefetch, value);
}

// As NormalizeRangeAs, in the form the row's scale chose.
template <bool kAffine, bool kStream, bool kIntoL2 = false, class D, typename T>
HWY_INLINE void NormalizeRange(D d, const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                               const float* HWY_RESTRICT gamma, const float* HWY_RESTRICT beta,
                               size_t begin, size_t end, size_t cols, const RowScale<D>& scale,
                               const T* prefetch) {
  if (scale.direct) {
    NormalizeRangeAs<kAffine, kStream, true, kIntoL2>(d, x, y, gamma, beta, begin, end, cols,
                                                      scale, prefetch);
  } else {
    NormalizeRangeAs<kAffine, kStream, false, kIntoL2>(d, x, y, gamma, beta, begin, end, cols,
                                                       scale, prefetch);
  }
}

// ------------------------------ Rows

// Computes rows [begin, end) as a pipeline over blocks: block k of row r is
// normalized, then block k of row r+1 is summed. The reads of row r+1 (from
// DRAM for large problems) then overlap the writes of row r instead of
// alternating with them a whole row at a time, and only about one block of
// the next row is in flight, so the row being normalized stays in cache.
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void RowsWithTag(D d, const HwyRowsArgs& args, int64_t begin, int64_t end) {
  if (begin >= end) return;
  const size_t cols = static_cast<size_t>(args.cols);
  const size_t block = BlockElements(d);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  Moments moments = RowMoments(d, x + static_cast<size_t>(begin) * cols, cols);
  for (int64_t r = begin; r < end; ++r) {
    const T* xr = x + static_cast<size_t>(r) * cols;
    T* yr = y + static_cast<size_t>(r) * cols;
    const T* next_row = r + 1 < end ? xr + cols : nullptr;
    const RowScale<D> scale = FinishRow<T>(d, args, r, moments, inv_cols);
    const T* prefetch = next_row;

    // Normalize ranges end on cache lines of y (past the row's unaligned
    // head), statistics blocks on multiples of the block size.
    const size_t head = kStream ? HeadElements(yr) : 0;
    Moments next;
    for (size_t k = 0;; ++k) {
      const RowRange range = RangeOfRow(k, head, block, cols);
      const size_t block_begin = k * block;
      const bool normalize = range.begin < cols;
      const bool sum = next_row != nullptr && block_begin < cols;
      if (!normalize && !sum) break;
      if (normalize) {
        NormalizeRange<kAffine, kStream>(d, xr, yr, args.gamma, args.beta, range.begin,
                                         range.end, cols, scale, prefetch);
      }
      if (sum) {
        AccumulateBlock(d, next_row, block_begin, std::min(cols, block_begin + block), next);
      }
    }
    moments = next;
  }
}

// ------------------------------ Short rows in batches

// Rows of at most kCachedBatchMaxCols columns (layernorm_highway.h) go in
// batches when they stay in cache, and 16-bit ones at any size.

// Computes rows [begin, end) of at most one statistics block each in batches
// of kBatchRows consecutive rows (when: BatchShortRows in norm_rows-inl.h,
// and kCachedBatchMaxCols above): the shifts of the batch's rows, then their
// sums, then their moments, each row after the other, so that the rows'
// chains overlap while the addresses stay in order; then the rows normalized
// in order. The statistics of the next batch follow the normalize of this
// one, as in RowsWithTag, with the same functions, so every row gets
// RowsWithTag's bits.
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void ShortRowsWithTag(D d, const HwyRowsArgs& args, int64_t begin, int64_t end) {
  constexpr int64_t R = kBatchRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto row = [x, cols](int64_t r) { return x + static_cast<size_t>(r) * cols; };
  const bool prefetch = BatchPrefetchesNextRows<T>(cols);
  Moments moments[R];
  const auto batch_moments = [&](int64_t first, int64_t count) HWY_ATTR {
    float shift[R], sum[R], sum_sq[R];
    bool raw[R];
    for (int64_t j = 0; j < count; ++j) {
      moments[j] = Moments();
      raw[j] = RawBlock(d, row(first + j), 0, cols, moments[j]);
    }
    for (int64_t j = 0; j < count; ++j) {
      if (!raw[j]) shift[j] = BlockShift(d, row(first + j), 0, cols, moments[j]);
    }
    for (int64_t j = 0; j < count; ++j) {
      if (!raw[j]) SumsAround(d, row(first + j), 0, cols, shift[j], sum[j], sum_sq[j]);
    }
    for (int64_t j = 0; j < count; ++j) {
      if (!raw[j]) {
        FinishBlock(d, row(first + j), 0, cols, shift[j], sum[j], sum_sq[j], moments[j]);
      }
    }
  };
  const auto normalize = [&](int64_t j, int64_t r, int64_t next) HWY_ATTR {
    const RowScale<D> scale = FinishRow<T>(d, args, r, moments[j], inv_cols);
    NormalizeRange<kAffine, kStream>(d, row(r), y + static_cast<size_t>(r) * cols, args.gamma,
                                     args.beta, size_t{0}, cols, cols, scale,
                                     next < 0 || !prefetch ? nullptr : row(next));
  };
  ForEachBatch(begin, end, batch_moments, normalize);
}

// ------------------------------ Row groups

// Groups of kGroupRows rows whose starts are cache-line aligned (every row,
// when a row is a whole number of lines: all common hidden sizes) go
// through the pipeline together. Their statistics run as independent
// chains side by side (short rows are otherwise bound by the latency of one
// row's reductions), and each gamma/beta vector is loaded once for all rows
// of the group (long rows are otherwise bound by those loads from L2). The
// group keeps arrays of vectors, so it exists only for fixed-size vectors.
#undef LNBENCH_HWY_HAVE_GROUPS
#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
#define LNBENCH_HWY_HAVE_GROUPS 1
#else
#define LNBENCH_HWY_HAVE_GROUPS 0
#endif

#if LNBENCH_HWY_HAVE_GROUPS
constexpr size_t kGroupRows = 4;

// Adds the statistics of elements [begin, end) of the rows x[0, kGroupRows)
// to moments[], exactly as AccumulateBlock does for each row alone.
// end - begin is a multiple of Lanes(d).
template <class D, typename T>
HWY_INLINE void AccumulateBlockGroup(D d, const T* const* x, size_t begin, size_t end,
                                     Moments* moments) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr size_t R = kGroupRows;
  const bool first_block = moments[0].count == 0;  // the same for all rows of a group
  bool raw[R];
  bool all_raw = true;
  if (!HasRawSums(d, x[0])) {
    // The four rows' widened raw sums side by side.
    bool tries = false;
    for (size_t j = 0; j < R; ++j) tries = tries || TriesRawSums(moments[j]);
    if (tries) {
      float sum[R], sum_sq[R];
      WidenedRawSums<R>(d, x, begin, end, sum, sum_sq);
      for (size_t j = 0; j < R; ++j) {
        raw[j] = TriesRawSums(moments[j]) &&
                 MergeRawSums(d, x[j], begin, end, sum[j], sum_sq[j], moments[j]);
        all_raw = all_raw && raw[j];
      }
    } else {
      for (size_t j = 0; j < R; ++j) raw[j] = false;
      all_raw = false;
    }
  } else {
    for (size_t j = 0; j < R; ++j) {
      raw[j] = RawBlock(d, x[j], begin, end, moments[j]);
      all_raw = all_raw && raw[j];
    }
  }
  if (all_raw) return;
  float shift_f[R];
  if (!first_block) {
    for (size_t j = 0; j < R; ++j) shift_f[j] = static_cast<float>(moments[j].mean);
  } else {
    // BlockShift's estimate for each row, the rows' chains side by side.
    float first[R];
    V shift0[R], a0[R], a1[R];
    for (size_t j = 0; j < R; ++j) {
      first[j] = ScalarToFloat(x[j] + begin);
      shift0[j] = hn::Set(d, first[j]);
      a0[j] = hn::Zero(d);
      a1[j] = hn::Zero(d);
    }
    const size_t shift_end = std::min(end, begin + kShiftVectors * N);
    size_t i = begin;
    for (; i + 2 * N <= shift_end; i += 2 * N) {
      for (size_t j = 0; j < R; ++j) {
        V v0, v1;
        LoadTwoUnordered(d, x[j] + i, v0, v1);
        a0[j] = hn::Add(a0[j], hn::Sub(v0, shift0[j]));
        a1[j] = AddOnFmaUnit(d, a1[j], hn::Sub(v1, shift0[j]));
      }
    }
    if (i < shift_end) {
      for (size_t j = 0; j < R; ++j) {
        a0[j] = hn::Add(a0[j], hn::Sub(LoadF32(d, x[j] + i), shift0[j]));
      }
    }
    for (size_t j = 0; j < R; ++j) {
      const float sum0 = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0[j], a1[j])));
      shift_f[j] = first[j] + sum0 / static_cast<float>(shift_end - begin);
    }
  }
  V shift[R], s0[R], s1[R], q0[R], q1[R];
  for (size_t j = 0; j < R; ++j) {
    shift[j] = hn::Set(d, shift_f[j]);
    s0[j] = hn::Zero(d);
    s1[j] = hn::Zero(d);
    q0[j] = hn::Zero(d);
    q1[j] = hn::Zero(d);
  }
  size_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N) {
    for (size_t j = 0; j < R; ++j) {
      V v0, v1;
      LoadTwoUnordered(d, x[j] + i, v0, v1);
      const V t0 = hn::Sub(v0, shift[j]);
      const V t1 = hn::Sub(v1, shift[j]);
      s0[j] = hn::Add(s0[j], t0);
      s1[j] = AddOnFmaUnit(d, s1[j], t1);
      q0[j] = hn::MulAdd(t0, t0, q0[j]);
      q1[j] = hn::MulAdd(t1, t1, q1[j]);
    }
  }
  if (i < end) {
    for (size_t j = 0; j < R; ++j) {
      const V t = hn::Sub(LoadF32(d, x[j] + i), shift[j]);
      s0[j] = hn::Add(s0[j], t);
      q0[j] = hn::MulAdd(t, t, q0[j]);
    }
  }
  for (size_t j = 0; j < R; ++j) {
    const float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0[j], s1[j])));
    const float sum_sq = hn::GetLane(hn::SumOfLanes(d, hn::Add(q0[j], q1[j])));
    if (!raw[j]) FinishBlock(d, x[j], begin, end, shift_f[j], sum, sum_sq, moments[j]);
  }
}

// Normalizes elements [begin, end) of the rows x[0, kGroupRows) into y[],
// each gamma/beta vector loaded once for all rows. Rows start on cache lines
// and end - begin is a whole number of cache lines of T. Pairs of vectors go
// through WithPairStores (for bf16, the pairs of all rows watched together).
template <bool kAffine, bool kStream, bool kDirect, class D, typename T>
HWY_INLINE void NormalizeGroupAs(D d, const T* const* x, T* const* y,
                               const float* HWY_RESTRICT gamma, const float* HWY_RESTRICT beta,
                               size_t begin, size_t end, const RowScale<D>* scale,
                               const T* const* prefetch) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr size_t R = kGroupRows;
  const T* xs[R];
  T* ys[R];
  for (size_t j = 0; j < R; ++j) {
    xs[j] = x[j];
    ys[j] = y[j];
  }
  static_assert(R <= kPairSlots, "a slot of the pair stores per row");
  size_t i = begin;
  WithPairStores<T>(d, [&](auto& store) HWY_ATTR LNBENCH_HWY_INLINE_LAMBDA {
    for (i = begin; i + 2 * N <= end; i += 2 * N) {
      const V g0 = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
      const V g1 = kAffine ? hn::LoadU(d, gamma + i + N) : hn::Zero(d);
      const V b0 = kAffine ? hn::LoadU(d, beta + i) : hn::Zero(d);
      const V b1 = kAffine ? hn::LoadU(d, beta + i + N) : hn::Zero(d);
      for (size_t j = 0; j < R; ++j) {
        if (kStream && prefetch != nullptr) PrefetchNextRowPair(d, prefetch[j] + i);
        const V y0 = NormalizeVector<kAffine, kDirect>(scale[j], LoadF32(d, xs[j] + i), g0, b0);
        const V y1 =
            NormalizeVector<kAffine, kDirect>(scale[j], LoadF32(d, xs[j] + i + N), g1, b1);
        store.template Store<kStream>(d, y0, y1, ys[j] + i, j);
      }
    }
  });
  if (i < end) {  // f32: one vector (one cache line) left
    const V g = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
    const V b = kAffine ? hn::LoadU(d, beta + i) : hn::Zero(d);
    for (size_t j = 0; j < R; ++j) {
      const V yv = NormalizeVector<kAffine, kDirect>(scale[j], LoadF32(d, xs[j] + i), g, b);
      if constexpr (kStream && sizeof(T) == sizeof(float)) {
        hn::Stream(yv, d, reinterpret_cast<float*>(ys[j] + i));
      } else {
        StoreF32(d, yv, ys[j] + i);
      }
    }
  }
}

// As NormalizeGroupAs: without the subtraction when every row of the group
// has a direct-form scale; otherwise with it, which computes direct-form rows
// bit for bit as well (their mean_hi is 0).
template <bool kAffine, bool kStream, class D, typename T>
HWY_INLINE void NormalizeGroup(D d, const T* const* x, T* const* y,
                               const float* HWY_RESTRICT gamma, const float* HWY_RESTRICT beta,
                               size_t begin, size_t end, const RowScale<D>* scale,
                               const T* const* prefetch) {
  bool all_direct = true;
  for (size_t j = 0; j < kGroupRows; ++j) all_direct = all_direct && scale[j].direct;
  if (all_direct) {
    NormalizeGroupAs<kAffine, kStream, true>(d, x, y, gamma, beta, begin, end, scale, prefetch);
  } else {
    NormalizeGroupAs<kAffine, kStream, false>(d, x, y, gamma, beta, begin, end, scale, prefetch);
  }
}

// Computes rows [begin, begin + groups * kGroupRows) in groups, pipelined as
// RowsWithTag does for single rows.
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void GroupsWithTag(D d, const HwyRowsArgs& args, int64_t begin, int64_t groups) {
  constexpr size_t R = kGroupRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const size_t block = BlockElements(d);
  const T* x = static_cast<const T*>(args.x);
  T* y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto rows_of = [&](int64_t g, const T** xs, T** ys) {
    for (size_t j = 0; j < R; ++j) {
      const size_t r = static_cast<size_t>(begin + g * static_cast<int64_t>(R)) + j;
      xs[j] = x + r * cols;
      if (ys != nullptr) ys[j] = y + r * cols;
    }
  };
  Moments moments[R];
  {
    const T* xs[R];
    rows_of(0, xs, nullptr);
    for (size_t b = 0; b < cols; b += block) {
      AccumulateBlockGroup(d, xs, b, std::min(cols, b + block), moments);
    }
  }
  for (int64_t g = 0; g < groups; ++g) {
    const T* xs[R];
    T* ys[R];
    rows_of(g, xs, ys);
    const bool has_next = g + 1 < groups;
    const T* next_xs[R];
    if (has_next) rows_of(g + 1, next_xs, nullptr);
    RowScale<D> scale[R];
    for (size_t j = 0; j < R; ++j) {
      const int64_t r = begin + g * static_cast<int64_t>(R) + static_cast<int64_t>(j);
      scale[j] = FinishRow<T>(d, args, r, moments[j], inv_cols);
    }
    Moments next[R];
    for (size_t b = 0; b < cols; b += block) {
      const size_t e = std::min(cols, b + block);
      NormalizeGroup<kAffine, kStream>(d, xs, ys, args.gamma, args.beta, b, e, scale,
                                       has_next ? next_xs : nullptr);
      if (has_next) AccumulateBlockGroup(d, next_xs, b, e, next);
    }
    for (size_t j = 0; j < R; ++j) moments[j] = next[j];
  }
}

// Streamed 16-bit rows of the chunked groups' widths (ChunkedRowGroup) whose
// rows start on cache lines, when args.interleaved_16bit (the backend's
// choice per CPU): groups of kGroupRows rows (leftover rows one at a time),
// first each row's statistics in turn (whole rows, in address order), then
// the group normalized vector by vector (NormalizeGroup: each gamma/beta
// vector loaded once for the four rows, four streams of y written side by
// side), each pair of vectors prefetching the same columns of the next
// group's rows (prefetcht0). The same functions as single rows in the same
// order: the same bits. On the Zen 5
// VM (2026-12-05, `lnbench_highway_bench dram --dtypes bf16 --cols
// 4096,8192,16384 --threads 1,2`, three alternating rounds, medians of the
// fraction of the copy) the chunked groups reached 0.49-0.65 and these
// 0.70-0.97, one thread and two; scripts/microbench/bf16_params.cc agrees
// (grp8_C1024_t2 0.61-0.68, ilv4 0.78-0.87). On the Zen 4 VM the same
// microbenchmark ranked them the other way (0.73-0.76 against 0.53-0.54), so
// other CPUs keep the chunked groups.
template <typename T, class D>
HWY_NOINLINE void InterleavedGroupsWithTag(D d, const HwyRowsArgs& args, int64_t begin,
                                           int64_t end) {
  constexpr size_t R = kGroupRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const int64_t groups = (end - begin) / static_cast<int64_t>(R);
  RowScale<D> scale[R];
  ForEachInterleavedGroup<R>(
      begin, groups, static_cast<const T*>(args.x), static_cast<T*>(args.y), cols,
      BlockElements(d),
      [&](size_t j, int64_t r, const T* xr) HWY_ATTR {
        scale[j] = FinishRow<T>(d, args, r, RowMoments(d, xr, cols), inv_cols);
      },
      [&](const T* const* xs, T* const* ys, size_t b, size_t e, const T* const* next) HWY_ATTR {
        NormalizeGroup</*kAffine=*/true, /*kStream=*/true>(d, xs, ys, args.gamma, args.beta, b,
                                                           e, scale, next);
      });
  begin += groups * static_cast<int64_t>(R);  // leftover rows alone
  if (begin < end) RowsWithTag<T, /*kAffine=*/true, /*kStream=*/true>(d, args, begin, end);
}

// ------------------------------ Chunked row groups

// Streamed 16-bit rows whose gamma and beta crowd L1 (ChunkedRowGroup in
// norm_rows-inl.h) go in groups of kChunkRows consecutive rows: first the
// statistics of each row of the group in turn (whole rows, in address order,
// which the hardware prefetcher follows), then the group normalized in
// column chunks of kChunkCols: chunk k of each row in turn, so the chunk's
// gamma and beta (8 KiB) are loaded from L2 once for the group and stay in
// L1 for its other rows. Each line of y written prefetches the same line of
// the next group's row into L2 (prefetcht2), so the next statistics read
// from L2 while this group's y goes out. Single rows instead reload the
// whole of gamma and beta (8 bytes a column, four times the bytes of a bf16
// row) from L2 for every row. The same functions as RowsWithTag in the same
// order: the same bits. Affine rows only; y streamed.
template <typename T, class D>
HWY_NOINLINE void ChunkedRowsWithTag(D d, const HwyRowsArgs& args, int64_t begin, int64_t end) {
  const size_t cols = static_cast<size_t>(args.cols);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto row = [x, cols](int64_t r) { return x + static_cast<size_t>(r) * cols; };
  RowScale<D> scale[kChunkRows];
  ForEachChunkedGroup(
      begin, end, y, cols,
      [&](int64_t j, int64_t r) HWY_ATTR {
        scale[j] = FinishRow<T>(d, args, r, RowMoments(d, row(r), cols), inv_cols);
      },
      [&](int64_t j, int64_t r, size_t b, size_t e, int64_t next) HWY_ATTR {
        NormalizeRange</*kAffine=*/true, /*kStream=*/true, /*kIntoL2=*/true>(
            d, row(r), y + static_cast<size_t>(r) * cols, args.gamma, args.beta, b, e, cols,
            scale[j], next < 0 ? nullptr : row(next));
      });
}
#endif  // LNBENCH_HWY_HAVE_GROUPS

// Computes rows [begin, end) of a problem whose x and y hold T.
template <typename T>
HWY_INLINE void LayerNormRows(const HwyRowsArgs& args, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> d;
  const size_t cols = static_cast<size_t>(args.cols);
  const bool affine = args.gamma != nullptr;
  if (cols < hn::Lanes(d)) {
    // Rows shorter than a vector: the one-lane loop of Highway's examples.
    const hn::CappedTag<float, 1> d1;
    if (affine) {
      RowsWithTag<T, true, false>(d1, args, begin, end);
    } else {
      RowsWithTag<T, false, false>(d1, args, begin, end);
    }
    return;
  }
  const size_t row_bytes = cols * sizeof(T);
  const bool stream = StreamRows<T>(d, cols, args.stream);
  if (BatchShortRows(row_bytes, cols, BlockElements(d), args.stream, stream, args.row_groups,
                     kCachedBatchMaxCols)) {
    WithPathFlags(affine, stream, [&]<bool kAffine, bool kStream>() HWY_ATTR {
      ShortRowsWithTag<T, kAffine, kStream>(d, args, begin, end);
    });
    return;
  }
#if LNBENCH_HWY_HAVE_GROUPS
  if (ChunkedRowGroup(sizeof(T), row_bytes, cols, affine ? 8 : 0, stream, args.row_groups)) {
    if (args.interleaved_16bit && RowsOnCacheLines(row_bytes, args.x, args.y)) {
      InterleavedGroupsWithTag<T>(d, args, begin, end);
    } else {
      ChunkedRowsWithTag<T>(d, args, begin, end);
    }
    hwy::FlushStream();  // as WithPathFlags after streaming stores
    return;
  }
  // When row groups pay off: RowGroupCount (norm_rows-inl.h).
  const int64_t groups =
      RowGroupCount(row_bytes, cols, affine ? 8 : 0, args.stream, args.x, args.y,
                    args.row_groups, end - begin, kGroupRows);
  if (groups > 0) {
    WithPathFlags(affine, args.stream, [&]<bool kAffine, bool kStream>() HWY_ATTR {
      GroupsWithTag<T, kAffine, kStream>(d, args, begin, groups);
    });
    begin += groups * static_cast<int64_t>(kGroupRows);
    if (begin == end) return;
  }
#endif
  WithPathFlags(affine, stream, [&]<bool kAffine, bool kStream>() HWY_ATTR {
    RowsWithTag<T, kAffine, kStream>(d, args, begin, end);
  });
}

// Stores in[0, n) as T with the kernels' conversions (full vectors, then
// one lane at a time).
template <typename T>
HWY_INLINE void StoreValues(const float* HWY_RESTRICT in, T* HWY_RESTRICT out, size_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  size_t i = 0;
#if LNBENCH_HWY_CAN_STREAM
  // Whole vectors of T as the normalize loops store them (bf16: in pairs).
  const size_t N = hn::Lanes(d);
  for (; i + 2 * N <= n; i += 2 * N) {
    StorePair<false>(d, hn::LoadU(d, in + i), hn::LoadU(d, in + i + N), out + i);
  }
#endif
  for (; i + hn::Lanes(d) <= n; i += hn::Lanes(d)) StoreF32(d, hn::LoadU(d, in + i), out + i);
  for (; i < n; ++i) StoreF32(d1, hn::LoadU(d1, in + i), out + i);
}

// Loads in[0, n) of T as float with the kernels' conversions.
template <typename T>
HWY_INLINE void LoadValues(const T* HWY_RESTRICT in, float* HWY_RESTRICT out, size_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  size_t i = 0;
  for (; i + hn::Lanes(d) <= n; i += hn::Lanes(d)) hn::StoreU(LoadF32(d, in + i), d, out + i);
  for (; i < n; ++i) hn::StoreU(LoadF32(d1, in + i), d1, out + i);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
