// Per-target RMSNorm forward kernels (included once per SIMD target by
// rmsnorm_highway.cc through foreach_target.h; no include guard on purpose,
// as Highway's skeleton-inl.h). The code paths are those of the LayerNorm
// kernel (layernorm_highway-inl.h), and rows are loaded, converted and
// written by the same helpers (norm_rows-inl.h):
//   sum of squares  one read of x, in blocks of 128 vectors: q = sum x^2 in
//                   f32 vectors (two accumulators, so each lane adds at most
//                   64 terms per block on every target), the block sums added
//                   in double. The error of q stays near (64 + H / block)
//                   eps_f32 relative for any H (one f32 chain over a
//                   2^20-wide row would drift by thousands of ulps), well
//                   inside docs/verification.md's bound. rrms =
//                   1/sqrt(q/H + eps) in double, once per row.
//   scale           y = (x * rrms) * gamma in f32: a second read of x from
//                   L1/L2 (a block was summed just before), y written with
//                   ordinary stores, or streaming stores when the output
//                   does not fit in the last-level cache.
// Rows are pipelined block by block (scale block k of row r, then sum block k
// of row r+1), rows that start on cache lines may go four at a time, short
// rows streamed to DRAM in batches of four, and every
// path sums in the same order, so a row's bits do not depend on the path or
// on how rows are split over threads.
#if defined(LNBENCH_RMSNORM_HIGHWAY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LNBENCH_RMSNORM_HIGHWAY_INL_H_
#undef LNBENCH_RMSNORM_HIGHWAY_INL_H_
#else
#define LNBENCH_RMSNORM_HIGHWAY_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>

#include "backends/highway/norm_rows-inl.h"
#include "backends/highway/rmsnorm_highway.h"
#include "core/dtype.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {
namespace rms {

namespace hn = hwy::HWY_NAMESPACE;

// Elements per sum-of-squares block: 128 vectors (see the file comment), at
// most 8 KiB of f32, so a block is still in L1 when it is scaled. A multiple
// of a cache line of any element type.
template <class D>
HWY_INLINE size_t BlockElements(D d) {
  return 128 * hn::Lanes(d);
}

// Sets q to sum x^2 over x[begin, end) from RawSums (bf16 rows on CPUs with
// AVX512_BF16: one VDPBF16PS per 32 elements) and returns true, unless the
// target or CPU lacks it or q is below (end - begin) * kRawSumsMinMeanSquare
// (or NaN), where the widened loops below give the bits they always did.
template <class D, typename T>
HWY_INLINE bool RawSquares(D d, const T* HWY_RESTRICT x, size_t begin, size_t end, float& q) {
  float unused = 0;
  return RawSums<false>(d, x, begin, end, unused, q) &&
         q >= static_cast<double>(end - begin) * kRawSumsMinMeanSquare;
}

// Sets q[j] to sum x^2 over block [begin, end) of the kRows rows whose bases
// are x[j], widened, the rows side by side. x[j] holds at least Lanes(d)
// elements before `end`, so a last partial vector is read as the full vector
// ending at `end`, its earlier lanes masked off. The terms are added in the
// order SumSquaresGroup uses for rows of whole vectors.
template <size_t kRows, class D, typename T>
HWY_INLINE void WidenedSquaresRows(D d, const T* const* x, size_t begin, size_t end, float* q) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const size_t body_end = begin + (end - begin) / N * N;
  const size_t rest = end - body_end;
  V q0[kRows], q1[kRows];
  for (size_t j = 0; j < kRows; ++j) q0[j] = q1[j] = hn::Zero(d);
  size_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N) {
    for (size_t j = 0; j < kRows; ++j) {
      V v0, v1;
      LoadTwoUnordered(d, x[j] + i, v0, v1);
      q0[j] = hn::MulAdd(v0, v0, q0[j]);
      q1[j] = hn::MulAdd(v1, v1, q1[j]);
    }
  }
  for (size_t j = 0; j < kRows; ++j) {
    if (i < body_end) {
      const V v = LoadF32(d, x[j] + i);
      q0[j] = hn::MulAdd(v, v, q0[j]);
    }
    if (rest != 0) {
      const auto rest_mask = hn::Not(hn::FirstN(d, N - rest));
      const V v = hn::IfThenElseZero(rest_mask, LoadF32(d, x[j] + end - N));
      q1[j] = hn::MulAdd(v, v, q1[j]);
    }
    q[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(q0[j], q1[j])));
  }
}

// Returns sum x^2 over x[begin, end) in f32 (x is the row base, as in
// WidenedSquaresRows): the raw sums where they are safe, else widened.
template <class D, typename T>
HWY_INLINE float SumSquares(D d, const T* HWY_RESTRICT x, size_t begin, size_t end) {
  float q;
  if (RawSquares(d, x, begin, end, q)) return q;
  const T* rows[1] = {x};
  WidenedSquaresRows<1>(d, rows, begin, end, &q);
  return q;
}

// SumSquares of block [begin, end) of the kRows rows whose bases are x[j],
// side by side; each row gets SumSquares' bits.
template <size_t kRows, class D, typename T>
HWY_INLINE void SumSquaresRows(D d, const T* const* x, size_t begin, size_t end, float* q) {
  float unused[kRows];
  if (RawSumsRows<false, kRows>(d, x, begin, end, unused, q)) {
    const double min_q = static_cast<double>(end - begin) * kRawSumsMinMeanSquare;
    for (size_t j = 0; j < kRows; ++j) {
      if (!(q[j] >= min_q)) WidenedSquaresRows<1>(d, x + j, begin, end, q + j);
    }
    return;
  }
  WidenedSquaresRows<kRows>(d, x, begin, end, q);
}

// Returns the sum of squares of a row of `cols` >= Lanes(d) elements: the
// f32 sums of its blocks (SumSquares) added in double, in block order. Whole
// blocks of rows of at most kSideBySideMaxRowBytes go four or two side by
// side (SumSquaresRows), as in LayerNorm's RowMoments: one block's two
// chains of FMAs are bound by their latency.
template <class D, typename T>
HWY_INLINE double RowSumSquares(D d, const T* HWY_RESTRICT x, size_t cols) {
  const size_t block = BlockElements(d);
  double q = 0;
  size_t b = 0;
  const auto side_by_side = [&]<size_t kBlocks>() HWY_ATTR {
    for (; b + kBlocks * block <= cols; b += kBlocks * block) {
      const T* bases[kBlocks];
      for (size_t k = 0; k < kBlocks; ++k) bases[k] = x + b + k * block;
      float f[kBlocks];
      SumSquaresRows<kBlocks>(d, bases, 0, block, f);
      for (size_t k = 0; k < kBlocks; ++k) q += f[k];
    }
  };
  if (cols * sizeof(T) <= kSideBySideMaxRowBytes) {
    side_by_side.template operator()<4>();
    side_by_side.template operator()<2>();
  }
  for (; b < cols; b += block) q += SumSquares(d, x, b, std::min(cols, b + block));
  return q;
}

// Returns the sum of squares of a row in double. For rows of finite values
// whose f32 block sums overflow, or whose squares are f32 subnormals (Rrms).
template <typename T>
HWY_NOINLINE double ExactSumSquares(const T* HWY_RESTRICT x, size_t cols) {
  double q = 0;
  for (size_t i = 0; i < cols; ++i) {
    const double v = ::lnbench::LoadAsDouble(ElementDType<T>(), x, i);
    q += v * v;
  }
  return q;
}

// Returns 1/sqrt(q/cols + eps), rounded once to float, for the row `x` of
// sum of squares q. A q that is not finite is taken again exactly
// (ExactSumSquares): the blocks' f32 sums overflow on finite values from
// about sqrt(FLT_MAX / block) up (rrms 0 and y = 0 at 1e18, H = 1000). A row
// holding NaN or Inf comes out non-finite either way. So is a q of tiny
// squares where eps does not hide it (TinySums: values under 2^-63 square to
// f32 subnormals; bf16 rows near 2^-70 with --eps 0 failed by 1.5x).
template <typename T>
HWY_INLINE float Rrms(double q, const T* HWY_RESTRICT x, size_t cols, double inv_cols, double eps) {
  if (HWY_UNLIKELY(!std::isfinite(q) || TinySums(q, static_cast<double>(cols), eps))) q = ExactSumSquares(x, cols);
  return static_cast<float>(1.0 / std::sqrt(q * inv_cols + eps));
}

// Scales elements [begin, end) of a row of `cols` >= Lanes(d) elements into
// y (see WriteRowRange for kStream and prefetch).
template <bool kAffine, bool kStream, bool kIntoL2 = false, class D, typename T>
HWY_INLINE void ScaleRange(D d, const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                           const float* HWY_RESTRICT gamma, size_t begin, size_t end,
                           size_t cols, float rrms, const T* prefetch) {
  const hn::Vec<D> vr = hn::Set(d, rrms);
  const auto value = [d, x, gamma, vr](size_t i) HWY_ATTR {
    const hn::Vec<D> t = hn::Mul(LoadF32(d, x + i), vr);
    return kAffine ? hn::Mul(t, hn::LoadU(d, gamma + i)) : t;
  };
  WriteRowRange<kStream, kIntoL2>(d, y, begin, end, cols, prefetch, value);
}

// Computes rows [begin, end) as a pipeline over blocks: block k of row r is
// scaled, then block k of row r+1 is summed, so the reads of row r+1 overlap
// the writes of row r and the row being scaled stays in cache.
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void RowsWithTag(D d, const HwyRmsArgs& args, int64_t begin, int64_t end) {
  if (begin >= end) return;
  const size_t cols = static_cast<size_t>(args.cols);
  const size_t block = BlockElements(d);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  double q = RowSumSquares(d, x + static_cast<size_t>(begin) * cols, cols);
  for (int64_t r = begin; r < end; ++r) {
    const T* xr = x + static_cast<size_t>(r) * cols;
    T* yr = y + static_cast<size_t>(r) * cols;
    const T* next_row = r + 1 < end ? xr + cols : nullptr;
    const float rrms = Rrms(q, xr, cols, inv_cols, args.eps);
    if (args.rstd != nullptr) args.rstd[r] = rrms;
    // Scale ranges end on cache lines of y (past the row's unaligned head),
    // sum blocks on multiples of the block size.
    const size_t head = kStream ? HeadElements(yr) : 0;
    double next_q = 0;
    for (size_t k = 0;; ++k) {
      const RowRange range = RangeOfRow(k, head, block, cols);
      const size_t block_begin = k * block;
      const bool scale = range.begin < cols;
      const bool sum = next_row != nullptr && block_begin < cols;
      if (!scale && !sum) break;
      if (scale) {
        ScaleRange<kAffine, kStream>(d, xr, yr, args.gamma, range.begin, range.end, cols, rrms,
                                     next_row);
      }
      if (sum) next_q += SumSquares(d, next_row, block_begin, std::min(cols, block_begin + block));
    }
    q = next_q;
  }
}

// ------------------------------ Short rows in batches (as in layernorm_highway-inl.h)

// Computes rows [begin, end) of at most one block each in batches of
// kBatchRows consecutive rows (when: BatchShortRows in norm_rows-inl.h): the
// sums of squares of the batch's rows one after the other, then the rows
// scaled in order, the next batch summed after this one is written. Every row
// gets RowsWithTag's bits (the same SumSquares over the row's one block).
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void ShortRowsWithTag(D d, const HwyRmsArgs& args, int64_t begin, int64_t end) {
  constexpr int64_t R = kBatchRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto row = [x, cols](int64_t r) { return x + static_cast<size_t>(r) * cols; };
  const bool prefetch = BatchPrefetchesNextRows<T>(cols);
  double q[R];
  const auto batch_sums = [&](int64_t first, int64_t count) HWY_ATTR {
    for (int64_t j = 0; j < count; ++j) q[j] = 0.0 + SumSquares(d, row(first + j), 0, cols);
  };
  const auto scale = [&](int64_t j, int64_t r, int64_t next) HWY_ATTR {
    const float rrms = Rrms(q[j], row(r), cols, inv_cols, args.eps);
    if (args.rstd != nullptr) args.rstd[r] = rrms;
    ScaleRange<kAffine, kStream>(d, row(r), y + static_cast<size_t>(r) * cols, args.gamma,
                                 size_t{0}, cols, cols, rrms,
                                 next < 0 || !prefetch ? nullptr : row(next));
  };
  ForEachBatch(begin, end, batch_sums, scale);
}

// ------------------------------ Row groups (as in layernorm_highway-inl.h)

#undef LNBENCH_HWY_RMS_HAVE_GROUPS
#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
#define LNBENCH_HWY_RMS_HAVE_GROUPS 1
#else
#define LNBENCH_HWY_RMS_HAVE_GROUPS 0
#endif

#if LNBENCH_HWY_RMS_HAVE_GROUPS
constexpr size_t kGroupRows = 4;

// Adds sum x^2 over elements [begin, end) of the rows x[0, kGroupRows) to
// q[], in the order SumSquares uses for each row alone (four independent
// chains side by side). end - begin is a multiple of Lanes(d).
template <class D, typename T>
HWY_INLINE void SumSquaresGroup(D d, const T* const* x, size_t begin, size_t end, double* q) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr size_t R = kGroupRows;
  bool raw[R];
  bool all_raw = true;
  for (size_t j = 0; j < R; ++j) {
    float qj;
    raw[j] = RawSquares(d, x[j], begin, end, qj);
    if (raw[j]) q[j] += qj;
    all_raw = all_raw && raw[j];
  }
  if (all_raw) return;
  float widened[R];
  WidenedSquaresRows<R>(d, x, begin, end, widened);
  for (size_t j = 0; j < R; ++j) {
    if (!raw[j]) q[j] += widened[j];
  }
}

// Scales elements [begin, end) of the rows x[0, kGroupRows) into y[], each
// gamma vector loaded once for all rows. Rows start on cache lines and
// end - begin is a whole number of cache lines of T. Pairs of vectors go
// through WithPairStores.
template <bool kAffine, bool kStream, class D, typename T>
HWY_INLINE void ScaleGroup(D d, const T* const* x, T* const* y, const float* HWY_RESTRICT gamma,
                           size_t begin, size_t end, const float* rrms,
                           const T* const* prefetch) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  constexpr size_t R = kGroupRows;
  V vr[R];
  for (size_t j = 0; j < R; ++j) vr[j] = hn::Set(d, rrms[j]);
  static_assert(R <= kPairSlots, "a slot of the pair stores per row");
  size_t i = begin;
  WithPairStores<T>(d, [&](auto& store) HWY_ATTR LNBENCH_HWY_INLINE_LAMBDA {
    for (i = begin; i + 2 * N <= end; i += 2 * N) {
      const V g0 = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
      const V g1 = kAffine ? hn::LoadU(d, gamma + i + N) : hn::Zero(d);
      for (size_t j = 0; j < R; ++j) {
        if (kStream && prefetch != nullptr) PrefetchNextRowPair(d, prefetch[j] + i);
        V y0 = hn::Mul(LoadF32(d, x[j] + i), vr[j]);
        V y1 = hn::Mul(LoadF32(d, x[j] + i + N), vr[j]);
        if (kAffine) {
          y0 = hn::Mul(y0, g0);
          y1 = hn::Mul(y1, g1);
        }
        store.template Store<kStream>(d, y0, y1, y[j] + i, j);
      }
    }
  });
  if (i < end) {  // f32: one vector (one cache line) left
    const V g = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
    for (size_t j = 0; j < R; ++j) {
      V yv = hn::Mul(LoadF32(d, x[j] + i), vr[j]);
      if (kAffine) yv = hn::Mul(yv, g);
      if constexpr (kStream && sizeof(T) == sizeof(float)) {
        hn::Stream(yv, d, reinterpret_cast<float*>(y[j] + i));
      } else {
        StoreF32(d, yv, y[j] + i);
      }
    }
  }
}

// Computes rows [begin, begin + groups * kGroupRows) in groups, pipelined as
// RowsWithTag does for single rows.
template <typename T, bool kAffine, bool kStream, class D>
HWY_NOINLINE void GroupsWithTag(D d, const HwyRmsArgs& args, int64_t begin, int64_t groups) {
  constexpr size_t R = kGroupRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const size_t block = BlockElements(d);
  const T* x = static_cast<const T*>(args.x);
  T* y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto row_of = [&](int64_t g, size_t j) {
    return static_cast<size_t>(begin + g * static_cast<int64_t>(R)) + j;
  };
  double q[R] = {0, 0, 0, 0};
  static_assert(R == 4, "one initializer per row");
  {
    const T* xs[R];
    for (size_t j = 0; j < R; ++j) xs[j] = x + row_of(0, j) * cols;
    for (size_t b = 0; b < cols; b += block) SumSquaresGroup(d, xs, b, std::min(cols, b + block), q);
  }
  for (int64_t g = 0; g < groups; ++g) {
    const T* xs[R];
    T* ys[R];
    const T* next_xs[R] = {};  // set only when has_next
    const bool has_next = g + 1 < groups;
    float rrms[R];
    for (size_t j = 0; j < R; ++j) {
      const size_t r = row_of(g, j);
      xs[j] = x + r * cols;
      ys[j] = y + r * cols;
      if (has_next) next_xs[j] = x + row_of(g + 1, j) * cols;
      rrms[j] = Rrms(q[j], xs[j], cols, inv_cols, args.eps);
      if (args.rstd != nullptr) args.rstd[r] = rrms[j];
      q[j] = 0;
    }
    for (size_t b = 0; b < cols; b += block) {
      const size_t e = std::min(cols, b + block);
      ScaleGroup<kAffine, kStream>(d, xs, ys, args.gamma, b, e, rrms,
                                   has_next ? next_xs : nullptr);
      if (has_next) SumSquaresGroup(d, next_xs, b, e, q);
    }
  }
}

// Interleaved groups, as LayerNorm's InterleavedGroupsWithTag (when:
// args.interleaved_16bit, and rows of the chunked groups' widths on cache
// lines): each row's sums of squares in turn, then the group of four scaled
// vector by vector (ScaleGroup), prefetching the next group's rows.
// RowsWithTag's bits.
template <typename T, class D>
HWY_NOINLINE void InterleavedGroupsWithTag(D d, const HwyRmsArgs& args, int64_t begin,
                                           int64_t end) {
  constexpr size_t R = kGroupRows;
  const size_t cols = static_cast<size_t>(args.cols);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const int64_t groups = (end - begin) / static_cast<int64_t>(R);
  float rrms[R];
  ForEachInterleavedGroup<R>(
      begin, groups, static_cast<const T*>(args.x), static_cast<T*>(args.y), cols,
      BlockElements(d),
      [&](size_t j, int64_t r, const T* xr) HWY_ATTR {
        rrms[j] = Rrms(RowSumSquares(d, xr, cols), xr, cols, inv_cols, args.eps);
        if (args.rstd != nullptr) args.rstd[r] = rrms[j];
      },
      [&](const T* const* xs, T* const* ys, size_t b, size_t e, const T* const* next) HWY_ATTR {
        ScaleGroup</*kAffine=*/true, /*kStream=*/true>(d, xs, ys, args.gamma, b, e, rrms, next);
      });
  begin += groups * static_cast<int64_t>(R);  // leftover rows alone
  if (begin < end) RowsWithTag<T, /*kAffine=*/true, /*kStream=*/true>(d, args, begin, end);
}

// Chunked row groups, as LayerNorm's ChunkedRowsWithTag (when:
// ChunkedRowGroup in norm_rows-inl.h with 4 bytes of gamma a column): each
// row's sums of squares in turn, then the group scaled in chunks of
// kChunkCols columns, chunk k of each row in turn (the chunk's gamma stays
// in L1), the next group prefetched into L2. RowsWithTag's bits.
template <typename T, class D>
HWY_NOINLINE void ChunkedRowsWithTag(D d, const HwyRmsArgs& args, int64_t begin, int64_t end) {
  const size_t cols = static_cast<size_t>(args.cols);
  const T* HWY_RESTRICT x = static_cast<const T*>(args.x);
  T* HWY_RESTRICT y = static_cast<T*>(args.y);
  const double inv_cols = 1.0 / static_cast<double>(cols);
  const auto row = [x, cols](int64_t r) { return x + static_cast<size_t>(r) * cols; };
  float rrms[kChunkRows];
  ForEachChunkedGroup(
      begin, end, y, cols,
      [&](int64_t j, int64_t r) HWY_ATTR {
        rrms[j] = Rrms(RowSumSquares(d, row(r), cols), row(r), cols, inv_cols, args.eps);
        if (args.rstd != nullptr) args.rstd[r] = rrms[j];
      },
      [&](int64_t j, int64_t r, size_t b, size_t e, int64_t next) HWY_ATTR {
        ScaleRange</*kAffine=*/true, /*kStream=*/true, /*kIntoL2=*/true>(
            d, row(r), y + static_cast<size_t>(r) * cols, args.gamma, b, e, cols, rrms[j],
            next < 0 ? nullptr : row(next));
      });
}
#endif  // LNBENCH_HWY_RMS_HAVE_GROUPS

// Computes rows [begin, end) of a problem whose x and y hold T, choosing the
// path as LayerNormRows does (same thresholds, same reasons).
template <typename T>
HWY_INLINE void RmsNormRows(const HwyRmsArgs& args, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> d;
  const size_t cols = static_cast<size_t>(args.cols);
  const bool affine = args.gamma != nullptr;
  if (cols < hn::Lanes(d)) {
    // Rows shorter than a vector: one lane at a time.
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
                     /*cached_max_cols=*/0)) {  // streamed rows only
    WithPathFlags</*kStreamOnly=*/true>(affine, stream, [&]<bool kAffine, bool kStream>() HWY_ATTR {
      ShortRowsWithTag<T, kAffine, kStream>(d, args, begin, end);
    });
    return;
  }
#if LNBENCH_HWY_RMS_HAVE_GROUPS
  if (ChunkedRowGroup(sizeof(T), row_bytes, cols, affine ? 4 : 0, stream, args.row_groups)) {
    if (args.interleaved_16bit && RowsOnCacheLines(row_bytes, args.x, args.y)) {
      InterleavedGroupsWithTag<T>(d, args, begin, end);
    } else {
      ChunkedRowsWithTag<T>(d, args, begin, end);
    }
    hwy::FlushStream();  // as WithPathFlags after streaming stores
    return;
  }
  const int64_t groups =
      RowGroupCount(row_bytes, cols, affine ? 4 : 0, args.stream, args.x, args.y,
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

}  // namespace rms
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#endif  // LNBENCH_RMSNORM_HIGHWAY_INL_H_
