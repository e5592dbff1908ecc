// Per-target row helpers shared by the Highway norm kernels (LayerNorm in
// layernorm_highway-inl.h; an RMSNorm kernel loads, converts and writes its
// rows the same way): f32/bf16/f16 loads widened to f32 vectors, stores
// rounded to nearest even, and WriteRowRange, which writes a row range from
// an f32 vector functor with ordinary or streaming stores. Included by a
// kernel's -inl.h inside foreach_target.h, so everything here exists once
// per SIMD target.

// Per-target include guard, toggled by foreach_target.h.
#if defined(LNBENCH_BACKENDS_HIGHWAY_NORM_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LNBENCH_BACKENDS_HIGHWAY_NORM_ROWS_INL_H_
#undef LNBENCH_BACKENDS_HIGHWAY_NORM_ROWS_INL_H_
#else
#define LNBENCH_BACKENDS_HIGHWAY_NORM_ROWS_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "backends/highway/cache_sizes.h"
#include "core/dtype.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x86 targets from AVX2 up have F16C: f16 conversions in hardware, rounding to
// nearest even and keeping Inf/NaN. Highway 1.0.3 emulates them elsewhere by
// truncating and turns Inf/NaN into finite values, so those targets use the
// exact integer conversions below instead.
#undef LNBENCH_HWY_HAVE_F16C
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
#define LNBENCH_HWY_HAVE_F16C 1
#else
#define LNBENCH_HWY_HAVE_F16C 0
#endif

// HWY_SCALAR (the fallback of GCC < 12.3) has one lane and no Combine:
// it writes y with ordinary stores only.
#undef LNBENCH_HWY_CAN_STREAM
#if HWY_TARGET == HWY_SCALAR
#define LNBENCH_HWY_CAN_STREAM 0
#else
#define LNBENCH_HWY_CAN_STREAM 1
#endif

constexpr size_t kCacheLineBytes = 64;

// Returns the DType of a row's element type (float, hwy::bfloat16_t,
// hwy::float16_t), for core's scalar helpers (LoadAsDouble): the rare rows
// whose statistics are taken again exactly (ExactMoments, ExactSumSquares).
template <typename T>
constexpr ::lnbench::DType ElementDType() {
  if constexpr (sizeof(T) == 4) return ::lnbench::DType::kF32;
  return std::is_same_v<T, hwy::bfloat16_t> ? ::lnbench::DType::kBF16 : ::lnbench::DType::kF16;
}

// Whether a row's f32 sum of squares `sum_sq` over `count` elements (of
// deviations for LayerNorm, of values for RMSNorm) is too small to trust
// where eps does not hide it: a mean square under 2^-100 holds squares of
// elements under 2^-63, f32 subnormals with few bits or none (rows near 2^-70
// with --eps 0 failed verification), and eps under 2^-68 no longer makes
// such a mean square negligible (under 2^-32 of eps). Zero counts too: a row
// of values near 2^-80 sums to 0. Such a row's statistics are taken again in
// double (ExactMoments, ExactSumSquares). At the default eps (1e-5) this is
// never true.
HWY_INLINE bool TinySums(double sum_sq, double count, double eps) {
  return eps < 0x1p-68 && sum_sq < count * 0x1p-100;
}

// Prefetches the line at p of the next row while a row is written (see
// WriteRowRange). f32 rows: into L2 only (prefetcht2). The line is summed
// soon after, from L2, and the L1 miss buffers stay free for the row being
// normalized: `lnbench_highway_bench dram`, 256 MiB, one thread, three
// alternating runs against prefetcht0 (issue 15): f32 H = 4096 62 -> 67% and
// H = 16384 60 -> 64% of the copy ceiling; the backward (x and dy of the next
// row) f32 41-43% -> 53-55%. In a bare two-pass copy with the kernels' row
// pipeline and no arithmetic (scripts/microbench/twopass.cc) the same change
// went from 59% to 80% of a streaming copy. 16-bit rows keep prefetcht0: bf16
// measured 1-5 points lower with prefetcht2.
// kIntoL2: prefetcht2 for any T (the chunked row groups of 16-bit rows).
template <bool kIntoL2 = false, typename T>
HWY_INLINE void PrefetchNextRow(const T* p) {
#if HWY_ARCH_X86 && !defined(HWY_DISABLE_CACHE_CONTROL)
  if constexpr (kIntoL2 || sizeof(T) == sizeof(float)) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T2);
    return;
  }
#endif
  hwy::Prefetch(p);
}

// PrefetchNextRow for every line of the two vectors of T at p (one line for
// 16-bit types on 512-bit vectors, two for f32), as the normalize loops write
// them in pairs.
template <bool kIntoL2 = false, class D, typename T>
HWY_INLINE void PrefetchNextRowPair(D d, const T* p) {
  PrefetchNextRow<kIntoL2>(p);
  if (sizeof(T) * 2 * hn::Lanes(d) > kCacheLineBytes) PrefetchNextRow<kIntoL2>(p + hn::Lanes(d));
}

// Whether every row of row_bytes of x and of y starts on a cache line (what
// the row groups' vector-by-vector loops need).
HWY_INLINE bool RowsOnCacheLines(size_t row_bytes, const void* x, const void* y) {
  return row_bytes % kCacheLineBytes == 0 &&
         reinterpret_cast<uintptr_t>(x) % kCacheLineBytes == 0 &&
         reinterpret_cast<uintptr_t>(y) % kCacheLineBytes == 0;
}

// Returns how many groups of `group_rows` rows, out of `rows` rows of
// `row_bytes` bytes each, take a norm kernel's row-group path (0: single rows).
// Row groups need every row to start on a cache line (so whole vectors and
// streaming stores line up in all rows). They pay off for short rows
// (latency-bound: four independent chains instead of one) and for rows of
// 16 KiB and more (bound by gamma/beta loads from L2, now shared by four
// rows); in between, a group and the next one no longer fit in L1 while
// single rows still do, and single rows were measured faster. `enabled` is
// the backend's row_groups setting.
//
// Issue 15 added two cases, for kernels with gamma (and beta) vectors,
// `param_bytes` of them per column (LayerNorm 8, RMSNorm 4, 0 without):
// rows whose row plus parameters exceed three quarters of a 32 KiB L1 (bf16
// H = 4096: a single row reloads 32 KiB of gamma/beta from L2 for 8 KiB of x;
// 26% less time hot in groups), and rows small enough that two groups of
// four plus the parameters fit in it (f32 H = 768, bf16/f16 H = 768-1024:
// 20-24% less time). f32 H = 2048 (neither) was 20-40% slower in groups. Both only for
// cache-sized outputs (`stream` false): with y streamed to DRAM the same
// groups of 3-8 KiB rows took 20-40% longer than single rows (four read
// streams a few KiB apart instead of one sequential stream).
// The first case started at a whole L1 (32 KiB) until 2026-12-05; from 24
// KiB (as the backward's groups, BwdGroupsRows) it also takes LayerNorm rows
// of 2560 columns (f32, bf16, f16) and 3072 (bf16, f16), and RMSNorm f32
// rows of 3584: in the L3 (`lnbench_highway_bench hot --kib 4096`, three
// alternating rounds of one build switched by a temporary environment
// variable) LayerNorm bf16 H = 2560 and 3072 took 15% and 22% less time, f16
// 7-10%, f32 2560 17%, RMSNorm f32 3584 13%. From 20 KiB, f32 H = 2048 took
// 31% more (LayerNorm) and RMSNorm f32 3072 13% more.
//
// Streamed f32 rows of more than 8 KiB (H > 2048) go in groups too (since
// 2026-12-05): single rows fall from 0.87 of the copy at 4 KiB to 0.60 at
// 10-12 KiB with one thread, where groups stay at 0.66-0.72 for any row of
// 4 KiB or more. `lnbench_highway_bench dram`, three alternating rounds of
// one build switched by a temporary environment variable, fraction of the
// copy, single rows -> groups: LayerNorm H = 2304 0.63 -> 0.66, 2560 0.60 ->
// 0.70, 3072 0.59 -> 0.70 (two threads 0.61-0.72 -> 0.64-0.80), RMSNorm
// 2560 0.70 -> 0.76, 3072 0.67 -> 0.74; at H = 1024-2048 single rows were as
// fast or faster (0.73-0.87 against 0.71-0.72). 16-bit rows of that size
// take the chunked groups (ChunkedRowGroup) when affine; the others were
// not measured and stay single.
HWY_INLINE int64_t RowGroupCount(size_t row_bytes, size_t cols, size_t param_bytes,
                                 bool stream, const void* x, const void* y, bool enabled,
                                 int64_t rows, size_t group_rows) {
  const bool aligned = RowsOnCacheLines(row_bytes, x, y);
  const size_t params = param_bytes * cols;
  const bool cached = param_bytes != 0 && !stream;
  const bool params_spill = cached && row_bytes + params > kL1DataBytes / 4 * 3;
  const bool groups_fit = cached && 2 * group_rows * row_bytes + params <= kL1DataBytes;
  const bool streamed_f32 = stream && row_bytes == 4 * cols && row_bytes > 8192;
  const bool worth_it =
      row_bytes <= 1024 || row_bytes >= 16384 || params_spill || groups_fit || streamed_f32;
  return aligned && worth_it && enabled ? rows / static_cast<int64_t>(group_rows) : 0;
}

// Chunked row groups (ChunkedRowsWithTag of LayerNorm and RMSNorm): rows per group and
// columns per chunk (8 KiB of f32 gamma and beta).
constexpr int64_t kChunkRows = 8;
constexpr size_t kChunkCols = 1024;

// Returns whether a norm kernel takes the chunked row groups: 16-bit rows
// streamed to DRAM (`stream`), with gamma/beta (`param_bytes` per column),
// whose row and parameters exceed half of a 32 KiB L1, up to rows of 32 KiB
// (a group and the next one prefetched, 512 KiB, within L2). Issue 15,
// `lnbench_highway_bench dram`, one thread, bf16, three alternating rounds,
// fraction of the copy ceiling, single rows -> chunked groups: H = 4096
// 0.46-0.49 -> 0.60-0.68, 8192 0.48-0.50 -> 0.60-0.68, 16384 0.50-0.51 ->
// 0.60-0.65; H = 2048 0.54-0.58 -> 0.66-0.69 and 3072 0.46 -> 0.63-0.65
// (two rounds; single rows there with prefetcht2, as the groups use). Two
// threads, H = 4096: 0.45-0.67 -> 0.70-0.72. Not taken: f32 rows (their
// groups of four measured 0.61-0.68 at H = 4096, chunked 0.51-0.56), rows of
// 64 KiB and more (no gain beyond the noise at bf16 H = 32768 and 65536; two
// threads 0.73 -> 0.59-0.63 at 65536). RMSNorm (4 bytes of gamma a column),
// bf16, one thread, three alternating rounds: H = 4096 0.56-0.58 ->
// 0.63-0.87, 8192 0.56-0.58 -> 0.64-0.68, 16384 0.58-0.61 -> 0.60-0.67.
HWY_INLINE bool ChunkedRowGroup(size_t elem_bytes, size_t row_bytes, size_t cols,
                                size_t param_bytes, bool stream, bool enabled) {
  constexpr size_t kMaxRowBytes = 32 * 1024;
  return enabled && stream && elem_bytes == 2 && param_bytes != 0 &&
         row_bytes + param_bytes * cols > kL1DataBytes / 2 && row_bytes <= kMaxRowBytes;
}

// Returns whether a kernel writes rows of `cols` elements of T with streaming
// stores: when asked (`stream`: the output exceeds the last-level cache) and
// the target can, for rows that hold two whole cache lines past any
// unaligned head (WriteRowRange writes a head and a tail with ordinary
// stores).
template <typename T, class D>
HWY_INLINE bool StreamRows(D d, size_t cols, bool stream) {
  return LNBENCH_HWY_CAN_STREAM && stream &&
         cols * sizeof(T) >= 2 * kCacheLineBytes + hn::Lanes(d) * sizeof(T);
}

// Runs path.template operator()<kAffine, kStream>() with the run-time flags
// as template arguments (every row path of a norm kernel is templated on
// both). After streaming stores it makes them visible (FlushStream) before the
// thread pool reports the chunk as done: they are weakly ordered.
// kStreamOnly: the caller only ever streams, and the paths without streaming
// stores are not instantiated.
template <bool kStreamOnly = false, class Path>
HWY_INLINE void WithPathFlags(bool affine, bool stream, const Path& path) {
  if (kStreamOnly || stream) {
    if (affine) {
      path.template operator()<true, true>();
    } else {
      path.template operator()<false, true>();
    }
    hwy::FlushStream();
  } else if constexpr (!kStreamOnly) {
    if (affine) {
      path.template operator()<true, false>();
    } else {
      path.template operator()<false, false>();
    }
  }
}

// Returns whether a norm kernel computes its rows in batches of kBatchRows
// consecutive rows (LayerNorm's ShortRowsWithTag, RMSNorm's likewise): rows of
// 512 bytes to 1 KiB (16-bit rows to 2 KiB, below), each a single statistics
// block of `block` elements,
// whose output is streamed to DRAM (`stream`: StreamRows). A batch
// sums its rows one after the other, then writes them one after the other. Row
// groups interleave four rows vector by vector, and for rows this short that
// order (four streams of 256-1024 bytes inside 1-4 KiB) defeats the hardware
// prefetcher: a statistics pass alone over 256 MiB of f32 rows of 128 takes
// 28.4 ms in that order, 21.2 ms four rows one after the other and 13.7 ms row
// by row, against 14.9 ms for a plain read (one thread,
// scripts/microbench/short_rows.cc, whose rows carry less work than the
// kernels'). The kernels' single rows in order were no faster than groups at
// f32 H = 128: they are bound by the latency of one row's chain of reductions,
// shift, sums, rstd in double. A batch gives the core four independent chains
// and keeps the addresses in order. Issue 15, paired in one process
// (lnbench_highway_bench dram, 256 MiB, one thread), time against row groups:
// f32 H = 128 0.71-0.75, H = 256 0.60-0.69; bf16 H = 256 0.77-0.81, H = 512
// 0.67-0.75, H = 128 unchanged (bound by the work per row; RMSNorm bf16 H =
// 128 measured 0.67 of the copy in groups and 0.61 in batches, so rows under
// 512 bytes keep the groups). Batches of 2, 8 and 16 rows were no faster than
// 4. Longer rows lost (f32 H = 512: 1.24x the time of single rows), and
// cache-resident outputs keep row groups (hot bf16 H = 256-512 took 8-10%
// longer in batches; LayerNorm's rows of at most 128 columns excepted, see
// kCachedBatchMaxCols). RMSNorm, three runs of the same measurement, medians,
// fraction of the copy: f32 H = 128 0.69 -> 0.82, H = 256 0.62 -> 0.86; bf16 H
// = 256 0.49 -> 0.63, H = 512 0.44 -> 0.70.
// 16-bit rows go in batches up to 2 KiB (bf16/f16 H = 1024) since
// 2026-12-06: single rows of 1-2 KiB were bound by the same chain (hot,
// `perf record`: a tenth of the samples on the division and conversion of
// each row's rstd). Issue 15, paired in one process (`lnbench_highway_bench
// dram --ab`, 256 MiB, a throw-away build switching the limit), time in batches
// / single rows, median of 15 pairs per run, 2-4 runs: LayerNorm one thread bf16
// H = 768 0.92, 0.97, 0.97, 0.78, H = 1024 0.91, 1.03, 0.88, 0.79; f16 768
// 0.72, 0.80, 0.92, 1024 0.83, 0.89, 1.00; two threads 0.87-1.02 (12 cells);
// RMSNorm 0.78-1.07 (20 cells, 18 under 1). The same code on both sides gave
// 0.88-1.06 (16 cells, two processes): the gain is clear for f16 at H = 768
// on one thread, 5-10% in the other one-thread cells, and within that spread on
// two threads. Not for f32 rows of 1.5-2 KiB (H = 384 0.95 and 1.00, 512 1.03
// and 1.00) nor bf16 rows of 3 KiB (0.96, 0.93); bf16 H = 2048 took 1.29x (its
// chunked groups are faster).
// `cached_max_cols`: cache-resident rows (`stream_asked` false) of at most
// this many columns go in batches too (LayerNorm's kCachedBatchMaxCols; 0:
// none). `enabled` is the backend's row_groups setting, which turns batches
// off with groups, for tests that compare the paths.
constexpr int64_t kBatchRows = 4;
constexpr size_t kBatchMinRowBytes = 512, kBatchMaxRowBytes = 1024, kBatchMaxRowBytes16 = 2048;
HWY_INLINE bool BatchShortRows(size_t row_bytes, size_t cols, size_t block, bool stream_asked,
                               bool stream, bool enabled, size_t cached_max_cols) {
  if (!enabled || cols > block) return false;
  if (stream) {
    const bool narrow = row_bytes == 2 * cols;  // bf16, f16
    return row_bytes >= kBatchMinRowBytes &&
           row_bytes <= (narrow ? kBatchMaxRowBytes16 : kBatchMaxRowBytes);
  }
  return !stream_asked && cols <= cached_max_cols;
}

// Whether a batch of short rows prefetches the next batch's rows while it
// writes its own (the `next` row of ForEachBatch's write): not for f32 rows of
// at most 512 bytes (H <= 128), which the hardware prefetcher keeps ahead of
// on its own; their 16 prefetcht2 per row cost time. Issue 15, one thread,
// 256 MiB, both forms of the kernel timed on the same buffers in one process
// in random order (a throw-away build of scripts/microbench/minimal_ln.cc with
// the kernel's switch), time without / with the prefetch, median of 15
// processes: LayerNorm f32 H = 128 0.93 (0.89-1.04, 14 of 15 under 1),
// RMSNorm f32 H = 128 0.90 (0.85-1.00, 14 of 15). Wider and 16-bit rows keep
// it: LayerNorm f32 H = 256 0.98 (0.91-1.22), RMSNorm f32 H = 256 1.06; bf16
// H = 256 and 512 1.04/1.03 (LayerNorm) and 1.15/1.06 (RMSNorm, 10 runs).
template <typename T>
HWY_INLINE bool BatchPrefetchesNextRows(size_t cols) {
  return sizeof(T) != sizeof(float) || cols * sizeof(T) > 512;
}

// Rows of at most this many bytes sum their whole statistics blocks side by
// side when nothing else overlaps their statistics (RowMoments,
// RowSumSquares: the first row of a call). Longer rows come from L2, whose
// bandwidth bounds them rather than the latency of a block's chains, and
// four blocks read side by side were slower there than one after the other.
// Issue 15, one row in cache (`lnbench_highway_bench hot --kib` one row's
// size), one thread on one vCPU, five alternating runs against blocks one
// by one, median of the paired time ratios: LayerNorm f32 H = 4096 / 8192 /
// 16384 0.92 / 0.87 / 0.95, bf16 0.86 / 0.85 / 0.91; RMSNorm f32 0.78 /
// 0.84 / 0.96, bf16 1.05 / 0.83 / 0.93; at H = 65536 (128-256 KiB) LayerNorm
// f32 1.05, bf16 0.89, RMSNorm f32 1.03, bf16 1.20.
constexpr size_t kSideBySideMaxRowBytes = 64 * 1024;

// Runs rows [begin, end) in batches of kBatchRows consecutive rows:
// sum(first, count) computes the statistics of rows [first, first + count)
// into slots [0, count); write(j, r, next) writes row r from slot j, with
// `next` the same row of the next batch (-1 when there is none: the row to
// prefetch while this one is written). The statistics of the next batch
// follow the writes of this one, so they reuse the slots.
template <class Sum, class Write>
HWY_INLINE void ForEachBatch(int64_t begin, int64_t end, const Sum& sum, const Write& write) {
  constexpr int64_t R = kBatchRows;
  sum(begin, std::min(R, end - begin));
  for (int64_t b = begin; b < end; b += R) {
    const int64_t count = std::min(R, end - b);
    const int64_t next = b + R;
    const int64_t next_count = next < end ? std::min(R, end - next) : 0;
    for (int64_t j = 0; j < count; ++j) write(j, b + j, j < next_count ? next + j : -1);
    if (next_count > 0) sum(next, next_count);
  }
}

// ------------------------------ Conversions

// Returns element p[0] as float (the shift of a block; exact).
HWY_INLINE float ScalarToFloat(const float* p) { return *p; }
HWY_INLINE float ScalarToFloat(const hwy::bfloat16_t* p) { return BF16ToFloat(p->bits); }
HWY_INLINE float ScalarToFloat(const hwy::float16_t* p) {
  uint16_t bits;
  hwy::CopyBytes<2>(p, &bits);
  return F16ToFloat(bits);
}

// Returns Lanes(d) elements from p (any alignment) as f32; exact.
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const float* HWY_RESTRICT p) {
  return hn::LoadU(d, p);
}

template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const hwy::bfloat16_t* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, D> du16;
  const hn::RebindToUnsigned<D> du32;
  const auto bits = hn::PromoteTo(du32, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p)));
  return hn::BitCast(d, hn::ShiftLeft<16>(bits));
}

template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const hwy::float16_t* HWY_RESTRICT p) {
#if LNBENCH_HWY_HAVE_F16C
  const hn::Rebind<hwy::float16_t, D> df16;
  return hn::PromoteTo(d, hn::LoadU(df16, p));
#else
  const hn::Rebind<uint16_t, D> du16;
  const hn::RebindToUnsigned<D> du32;
  const hn::RebindToSigned<D> di32;
  const auto bits = hn::PromoteTo(du32, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p)));
  const auto sign = hn::ShiftLeft<16>(hn::And(bits, hn::Set(du32, 0x8000u)));
  const auto magnitude = hn::And(bits, hn::Set(du32, 0x7FFFu));
  const auto exponent = hn::And(bits, hn::Set(du32, 0x7C00u));
  // Normal: rebias the exponent from 15 to 127.
  const auto normal = hn::Add(hn::ShiftLeft<13>(magnitude), hn::Set(du32, (127u - 15u) << 23));
  const auto inf_nan = hn::Or(hn::ShiftLeft<13>(magnitude), hn::Set(du32, 0x7F800000u));
  // Subnormal and zero: mantissa * 2^-24, exact in f32.
  const auto subnormal = hn::BitCast(
      du32, hn::Mul(hn::ConvertTo(d, hn::BitCast(di32, magnitude)), hn::Set(d, 0x1p-24f)));
  auto out = hn::IfThenElse(hn::Eq(exponent, hn::Zero(du32)), subnormal, normal);
  out = hn::IfThenElse(hn::Eq(exponent, hn::Set(du32, 0x7C00u)), inf_nan, out);
  return hn::BitCast(d, hn::Or(out, sign));
#endif
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// AVX-512BW: 16 bf16 widened in order by one VPERMW (word i to the upper
// half of lane i, the lower halves zeroed by the mask) instead of
// VPMOVZXWD and VPSLLD: one vector operation fewer per 16 elements where the
// normalize loops of bf16 rows are bound by the count of 512-bit
// operations (issue 15). Exact, as the generic version.
HWY_INLINE hn::Vec512<float> LoadF32(hn::Full512<float> d, const hwy::bfloat16_t* HWY_RESTRICT p) {
  alignas(64) static constexpr uint16_t kToUpperHalves[32] = {
      0, 0, 0, 1, 0, 2,  0, 3,  0, 4,  0, 5,  0, 6,  0, 7,
      0, 8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15};
  const __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m512i bits = _mm512_maskz_permutexvar_epi16(
      0xAAAAAAAAu, _mm512_load_si512(kToUpperHalves), _mm512_castsi256_si512(half));
  return hn::BitCast(d, hn::Vec512<uint32_t>{bits});
}
#endif

// Loads elements [0, 2 * Lanes(d)) of p as two f32 vectors in an order of
// its choosing: for sums, where the order of terms does not matter.
template <class D, typename T>
HWY_INLINE void LoadTwoUnordered(D d, const T* HWY_RESTRICT p, hn::Vec<D>& v0, hn::Vec<D>& v1) {
  v0 = LoadF32(d, p);
  v1 = LoadF32(d, p + hn::Lanes(d));
}

#if HWY_TARGET != HWY_SCALAR
// bf16 is the upper half of an f32: a full vector of bf16 splits into its
// even elements (shifted up) and odd elements (masked) with two plain
// integer operations, where an ordered widening needs a shuffle per vector.
template <class D>
HWY_INLINE void LoadTwoUnordered(D d, const hwy::bfloat16_t* HWY_RESTRICT p, hn::Vec<D>& v0,
                                 hn::Vec<D>& v1) {
  const hn::Repartition<uint16_t, D> d16;
  const hn::RebindToUnsigned<D> du32;
  const auto a = hn::BitCast(du32, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p)));
  v0 = hn::BitCast(d, hn::ShiftLeft<16>(a));
  v1 = hn::BitCast(d, hn::And(a, hn::Set(du32, 0xFFFF0000u)));
}
#endif

// Returns the f32 bits of v with bits 31..16 holding v rounded to bf16 to
// nearest, ties to even (a NaN becomes a quiet NaN: no carry can turn it into
// Inf). Highway 1.0.3's DemoteTo(bf16) truncates on x86.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<D>> RoundedBF16InU32(D d, hn::Vec<D> v) {
  const hn::RebindToUnsigned<D> du32;
  const auto bits = hn::BitCast(du32, v);
  const auto odd = hn::And(hn::ShiftRight<16>(bits), hn::Set(du32, 1u));
  const auto rounded = hn::Add(hn::Add(bits, hn::Set(du32, 0x7FFFu)), odd);
  const auto quiet_nan = hn::Or(bits, hn::Set(du32, 0x00400000u));
  (void)d;
  return hn::IfThenElse(hn::RebindMask(du32, hn::IsNaN(v)), quiet_nan, rounded);
}

// Returns the bf16 bit patterns of v (see RoundedBF16InU32).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> BitsBF16(D d, hn::Vec<D> v) {
  const hn::Rebind<uint16_t, D> du16;
  const hn::RebindToSigned<D> di32;
  return hn::DemoteTo(du16, hn::BitCast(di32, hn::ShiftRight<16>(RoundedBF16InU32(d, v))));
}

#if LNBENCH_HWY_CAN_STREAM
// Returns the bf16 bit patterns of lo then hi as one full vector: one
// ConcatOdd of the upper halves instead of two demotions and a Combine. The
// integer rounding of every target (ExactPairs below).
template <class D>
HWY_INLINE hn::Vec<hn::Repartition<uint16_t, D>> ExactBitsBF16Pair(D d, hn::Vec<D> lo,
                                                                    hn::Vec<D> hi) {
  const hn::Repartition<uint16_t, D> d16;
  return hn::ConcatOdd(d16, hn::BitCast(d16, RoundedBF16InU32(d, hi)),
                       hn::BitCast(d16, RoundedBF16InU32(d, lo)));
}

// The bf16 bit patterns of lo then hi (see ExactBitsBF16Pair; the overload
// below converts natively where the CPU can).
template <class D>
HWY_INLINE hn::Vec<hn::Repartition<uint16_t, D>> BitsBF16Pair(D d, hn::Vec<D> lo,
                                                               hn::Vec<D> hi) {
  return ExactBitsBF16Pair(d, lo, hi);
}
#endif

#undef LNBENCH_HWY_NATIVE_BF16
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define LNBENCH_HWY_NATIVE_BF16 1
// AVX512_BF16 (Cooper Lake, Zen 4) rounds two f32 vectors to bf16 in one
// instruction, VCVTNE2PS2BF16: nearest even, NaN kept (quiet), the same bits
// as BitsBF16Pair except that f32 subnormals become zero. Highway 1.0.3 has
// no target or op for it, so the CPU is asked once at start-up and the
// instruction is written as inline assembly (this target's attributes lack
// avx512bf16, so its intrinsic cannot be called here). With the integer
// rounding, bf16 output was compute-bound: 13 operations per vector pair
// against one.
static const bool kHaveAvx512BF16 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") != 0;
}();

// The bf16 bits of lo then hi by VCVTNE2PS2BF16 (the CPU has AVX512_BF16).
HWY_INLINE __m512i NativeBitsBF16Pair(hn::Vec512<float> lo, hn::Vec512<float> hi) {
  __m512i bits;
  asm("vcvtne2ps2bf16 %2, %1, %0" : "=v"(bits) : "v"(hi.raw), "v"(lo.raw));
  return bits;
}

HWY_INLINE hn::Vec512<uint16_t> BitsBF16Pair(hn::Full512<float> d, hn::Vec512<float> lo,
                                             hn::Vec512<float> hi) {
  if (HWY_LIKELY(kHaveAvx512BF16)) {
    const __m512i bits = NativeBitsBF16Pair(lo, hi);
    // A subnormal input gives a (signed) zero, and only a zero or subnormal
    // input does (bf16 has f32's exponent range): one test of the 32 results
    // against 0x7FFF instead of a VFPCLASSPS of each input (one 512-bit
    // operation fewer per pair). Pairs with a zero, rare outside constant
    // rows, take the integer rounding. (The row writers watch whole ranges
    // instead: WithPairStores.)
    if (HWY_LIKELY(_mm512_testn_epi16_mask(bits, _mm512_set1_epi16(0x7FFF)) == 0)) {
      return hn::Vec512<uint16_t>{bits};
    }
  }
  return ExactBitsBF16Pair(d, lo, hi);
}
#else
#define LNBENCH_HWY_NATIVE_BF16 0
#endif

// ------------------------------ Native bf16 sums

// Raw sums of a row's elements x[begin, end), sum x and sum x^2 (no shift),
// for the statistics of bf16 rows where the CPU sums bf16 natively:
// VDPBF16PS (AVX512_BF16) adds a[2i] * b[2i] + a[2i+1] * b[2i+1] to each f32
// lane, so one instruction sums 32 elements (b = 1.0) or their squares
// (b = a) with no widening: one operation per 32 elements for a sum where
// the widened loops take four (issue 15: the bf16 kernels are bound by the
// count of vector operations). The products are exact (8-bit significands)
// and each addition rounds to nearest even, as an FMA into an f32
// accumulator does; two accumulators per sum take turns, so in a block of
// 128 f32 vectors each lane adds at most 64 terms, as in the widened loops.
// The instruction flushes bf16 subnormal inputs and subnormal sums to zero,
// an error of at most 2^-126 per addition: callers use the sums only when
// sum x^2 >= count * 2^-60, where that is far below the f32 rounding of the
// results. A last vector shorter than 32 elements is summed widened (the full
// vector ending at `end`, earlier lanes masked, as in the widened loops).
//
// Returns false (and sets nothing) where the target or the CPU lacks it
// (HasRawSums).
//
// RawSumsRows sums block [begin, end) of kRows rows whose bases are x[j]
// side by side (RowMoments: whole blocks of one row, each its own chain),
// each row's terms in RawSums' order, so each gets RawSums' bits.
template <bool kWithSum, size_t kRows, class D, typename T>
HWY_INLINE bool RawSumsRows(D, const T* const*, size_t, size_t, float*, float*) {
  return false;
}

// Whether RawSums sums rows of T on this target and CPU.
template <class D, typename T>
HWY_INLINE bool HasRawSums(D, const T*) {
  return false;
}

#if LNBENCH_HWY_NATIVE_BF16
// acc + a[2i] * b[2i] + a[2i+1] * b[2i+1] in each f32 lane, by VDPBF16PS
// (inline assembly, as VCVTNE2PS2BF16 above).
HWY_INLINE __m512 DotBF16(__m512 acc, __m512i a, __m512i b) {
  asm("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

HWY_INLINE bool HasRawSums(hn::Full512<float>, const hwy::bfloat16_t*) { return kHaveAvx512BF16; }

template <bool kWithSum, size_t kRows>
HWY_INLINE bool RawSumsRows(hn::Full512<float> d, const hwy::bfloat16_t* const* x, size_t begin,
                            size_t end, float* sum, float* sum_sq) {
  if (!kHaveAvx512BF16) return false;
  using V = hn::Vec512<float>;
  const size_t N = hn::Lanes(d);
  const size_t body_end = begin + (end - begin) / N * N;
  const size_t rest = end - body_end;
  const __m512i ones = _mm512_set1_epi16(0x3F80);  // bf16 1.0
  __m512 s0[kRows], s1[kRows], q0[kRows], q1[kRows];
  for (size_t j = 0; j < kRows; ++j) s0[j] = s1[j] = q0[j] = q1[j] = _mm512_setzero_ps();
  size_t i = begin;
  for (; i + 4 * N <= end; i += 4 * N) {
    for (size_t j = 0; j < kRows; ++j) {
      const __m512i a = _mm512_loadu_si512(x[j] + i);
      const __m512i b = _mm512_loadu_si512(x[j] + i + 2 * N);
      if (kWithSum) s0[j] = DotBF16(s0[j], a, ones);
      q0[j] = DotBF16(q0[j], a, a);
      if (kWithSum) s1[j] = DotBF16(s1[j], b, ones);
      q1[j] = DotBF16(q1[j], b, b);
    }
  }
  if (i + 2 * N <= end) {
    for (size_t j = 0; j < kRows; ++j) {
      const __m512i a = _mm512_loadu_si512(x[j] + i);
      if (kWithSum) s0[j] = DotBF16(s0[j], a, ones);
      q0[j] = DotBF16(q0[j], a, a);
    }
    i += 2 * N;
  }
  for (size_t j = 0; j < kRows; ++j) {
    V vs1{s1[j]}, vq1{q1[j]};
    if (i < body_end) {
      const V t = LoadF32(d, x[j] + i);
      vs1 = hn::Add(vs1, t);
      vq1 = hn::MulAdd(t, t, vq1);
    }
    if (rest != 0) {
      const auto rest_mask = hn::Not(hn::FirstN(d, N - rest));
      const V t = hn::IfThenElseZero(rest_mask, LoadF32(d, x[j] + end - N));
      vs1 = hn::Add(vs1, t);
      vq1 = hn::MulAdd(t, t, vq1);
    }
    if (kWithSum) sum[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(V{s0[j]}, vs1)));
    sum_sq[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(V{q0[j]}, vq1)));
  }
  return true;
}
#endif

// RawSums of one row (declared after the overloads above, which a call from a
// template only finds if they precede it).
template <bool kWithSum, class D, typename T>
HWY_INLINE bool RawSums(D d, const T* HWY_RESTRICT x, size_t begin, size_t end, float& sum,
                        float& sum_sq) {
  const T* rows[1] = {x};
  return RawSumsRows<kWithSum, 1>(d, rows, begin, end, &sum, &sum_sq);
}

// The smallest sum x^2 per element for which RawSums' flushing of subnormals
// is negligible (see RawSums).
constexpr double kRawSumsMinMeanSquare = 0x1p-60;

// Returns the IEEE binary16 bit patterns of v rounded to nearest, ties to
// even, with subnormals and overflow to infinity.
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> BitsF16(D d, hn::Vec<D> v) {
  const hn::Rebind<uint16_t, D> du16;
#if LNBENCH_HWY_HAVE_F16C
  const hn::Rebind<hwy::float16_t, D> df16;
  return hn::BitCast(du16, hn::DemoteTo(df16, v));
#else
  const hn::RebindToUnsigned<D> du32;
  const hn::RebindToSigned<D> di32;
  const auto bits = hn::BitCast(du32, v);
  const auto sign = hn::And(bits, hn::Set(du32, 0x80000000u));
  const auto abs_bits = hn::Xor(bits, sign);
  const auto abs_signed = hn::BitCast(di32, abs_bits);
  // >= 65536 (or Inf/NaN): Inf, or a quiet NaN.
  const auto too_big = hn::Gt(abs_signed, hn::Set(di32, 0x477FFFFF));
  const auto huge = hn::IfThenElse(hn::Gt(abs_signed, hn::Set(di32, 0x7F800000)),
                                   hn::Set(di32, 0x7E00), hn::Set(di32, 0x7C00));
  // Below 2^-14: adding 0.5 lets the FPU round the value at the subnormal
  // spacing 2^-24, leaving the f16 bits in the low mantissa bits.
  const auto tiny = hn::Lt(abs_signed, hn::Set(di32, 113 << 23));
  const auto subnormal =
      hn::Sub(hn::BitCast(di32, hn::Add(hn::BitCast(d, abs_bits), hn::Set(d, 0.5f))),
              hn::Set(di32, 0x3F000000));
  // Normal: rebias, then round the 13 dropped bits to nearest even.
  const auto odd = hn::And(hn::ShiftRight<13>(abs_bits), hn::Set(du32, 1u));
  const auto rebiased =
      hn::Add(hn::Add(abs_bits, hn::Set(du32, 0xC8000FFFu)), odd);  // (15-127)<<23 + 0xFFF
  const auto normal = hn::BitCast(di32, hn::ShiftRight<13>(rebiased));
  auto out = hn::IfThenElse(tiny, subnormal, normal);
  out = hn::IfThenElse(too_big, huge, out);
  out = hn::Or(out, hn::BitCast(di32, hn::ShiftRight<16>(sign)));
  return hn::DemoteTo(du16, out);
#endif
}

// Stores Lanes(d) values to p (any alignment), rounded to the element type.
template <class D>
HWY_INLINE void StoreF32(D d, hn::Vec<D> v, float* HWY_RESTRICT p) {
  hn::StoreU(v, d, p);
}
template <class D>
HWY_INLINE void StoreF32(D d, hn::Vec<D> v, hwy::bfloat16_t* HWY_RESTRICT p) {
  hn::StoreU(BitsBF16(d, v), hn::Rebind<uint16_t, D>(), reinterpret_cast<uint16_t*>(p));
}
template <class D>
HWY_INLINE void StoreF32(D d, hn::Vec<D> v, hwy::float16_t* HWY_RESTRICT p) {
  hn::StoreU(BitsF16(d, v), hn::Rebind<uint16_t, D>(), reinterpret_cast<uint16_t*>(p));
}

// ------------------------------ Row stores
// Shared by the norm kernels (LayerNorm here; an RMSNorm kernel writes its
// rows the same way): values are produced as f32 vectors and written as T two
// vectors at a time, which is one full vector of a 16-bit T (bf16: one
// VCVTNE2PS2BF16 or one ConcatOdd per pair, f16: one Combine).

// Writes v0 then v1 (2 * Lanes(d) values) to p as T. kStream: streaming
// (non-temporal) stores, p aligned to the vector size; else any alignment.
template <bool kStream, class D>
HWY_INLINE void StorePair(D d, hn::Vec<D> v0, hn::Vec<D> v1, float* HWY_RESTRICT p) {
  if (kStream) {
    hn::Stream(v0, d, p);
    hn::Stream(v1, d, p + hn::Lanes(d));
  } else {
    hn::StoreU(v0, d, p);
    hn::StoreU(v1, d, p + hn::Lanes(d));
  }
}
#if LNBENCH_HWY_CAN_STREAM
// Writes a full vector of 16-bit patterns to p (bf16 or f16), as StorePair.
template <bool kStream, class D16, typename T>
HWY_INLINE void StoreBits(D16 d16, hn::Vec<D16> bits, T* HWY_RESTRICT p) {
  uint16_t* p16 = reinterpret_cast<uint16_t*>(p);
  if (kStream) {
    hn::Stream(bits, d16, p16);
  } else {
    hn::StoreU(bits, d16, p16);
  }
}
template <bool kStream, class D>
HWY_INLINE void StorePair(D d, hn::Vec<D> v0, hn::Vec<D> v1, hwy::bfloat16_t* HWY_RESTRICT p) {
  StoreBits<kStream>(hn::Repartition<uint16_t, D>(), BitsBF16Pair(d, v0, v1), p);
}
template <bool kStream, class D>
HWY_INLINE void StorePair(D d, hn::Vec<D> v0, hn::Vec<D> v1, hwy::float16_t* HWY_RESTRICT p) {
  const hn::Repartition<uint16_t, D> d16;
  const auto bits = hn::Combine(d16, BitsF16(d, v1), BitsF16(d, v0));
  uint16_t* p16 = reinterpret_cast<uint16_t*>(p);
  if (kStream) {
    hn::Stream(bits, d16, p16);
  } else {
    hn::StoreU(bits, d16, p16);
  }
}
#else
// HWY_SCALAR: one lane, no Combine; ordinary stores only.
template <bool kStream, class D, typename T>
HWY_INLINE void StorePair(D d, hn::Vec<D> v0, hn::Vec<D> v1, T* HWY_RESTRICT p) {
  static_assert(!kStream, "HWY_SCALAR has no streaming stores");
  StoreF32(d, v0, p);
  StoreF32(d, v1, p + hn::Lanes(d));
}
#endif

// ------------------------------ Pair stores of the row writers

// Slots of the pair stores' watch (WatchedPairs).
constexpr size_t kPairSlots = 4;

// How the row writers (WriteRowRange, the row groups) store a pair of f32
// vectors as T: store.template Store<kStream>(d, v0, v1, p, slot), with
// `store` one of the policies below, chosen by WithPairStores, and slot <
// kPairSlots (see WatchedPairs).

// StorePair, for rows other than bf16 (WithPairStores gives bf16 rows
// WatchedPairs or ExactPairs).
struct PlainPairs {
  template <bool kStream, class D, typename T>
  HWY_INLINE void Store(D d, hn::Vec<D> v0, hn::Vec<D> v1, T* HWY_RESTRICT p, size_t /*slot*/) {
    StorePair<kStream>(d, v0, v1, p);
  }
};

// StorePair, with bf16 always rounded by integer operations (the exact
// rounding of every target, subnormals included).
struct ExactPairs {
  template <bool kStream, class D, typename T>
  HWY_INLINE void Store(D d, hn::Vec<D> v0, hn::Vec<D> v1, T* HWY_RESTRICT p, size_t /*slot*/) {
#if LNBENCH_HWY_CAN_STREAM
    if constexpr (std::is_same_v<T, hwy::bfloat16_t>) {
      StoreBits<kStream>(hn::Repartition<uint16_t, D>(), ExactBitsBF16Pair(d, v0, v1), p);
      return;
    }
#endif
    StorePair<kStream>(d, v0, v1, p);
  }
};

#if LNBENCH_HWY_NATIVE_BF16
// bf16 pairs by VCVTNE2PS2BF16 alone, folding "no word is a (signed) zero"
// of every pair into one running mask: VPTESTMW with the mask as its own
// write mask, one operation per pair and no branch, where BitsBF16Pair tests
// each pair (VPTESTNMW, KORTESTD and a branch). A zero word may be a
// subnormal the instruction flushed (see BitsBF16Pair), so a range in which
// one appeared is written again with ExactPairs (WithPairStores). Issue 15:
// bf16 rows on one thread are bound by their vector operations; without the
// per-pair test (a build that skipped it, wrong for subnormal outputs, a
// measurement only) `lnbench_highway_bench hot --dtypes bf16` took 0.89x the
// time at H = 128 and 768, and `dram` at H = 128 gave 0.70-0.80 of the copy
// against 0.56-0.63 (three alternating runs each, vCPU 1, 2026-12-07).
//
// The mask is a chain of dependent VPTESTMWs, several cycles each: one chain
// through the four rows of a group made their loop 1.3x slower than the
// per-pair test. So there are kPairSlots masks, and the writers pass each
// pair's slot (the group's row, or alternate pairs of a single row), a
// constant once their loops are unrolled.
struct WatchedPairs {
  // Bit w of slot k: word w of every pair stored in slot k so far nonzero.
  __mmask32 nonzero[kPairSlots] = {static_cast<__mmask32>(~0u), static_cast<__mmask32>(~0u),
                                   static_cast<__mmask32>(~0u), static_cast<__mmask32>(~0u)};

  // WithPairStores gives it bf16 rows of 512-bit vectors only.
  template <bool kStream, class D, typename T>
  HWY_INLINE void Store(D /*d*/, hn::Vec<D> v0, hn::Vec<D> v1, T* HWY_RESTRICT p, size_t slot) {
    static_assert(std::is_same_v<T, hwy::bfloat16_t> && std::is_same_v<D, hn::Full512<float>>);
    const __m512i bits = NativeBitsBF16Pair(v0, v1);
    nonzero[slot] = _mm512_mask_test_epi16_mask(nonzero[slot], bits, _mm512_set1_epi16(0x7FFF));
    StoreBits<kStream>(hn::Full512<uint16_t>(), hn::Vec512<uint16_t>{bits}, p);
  }

  static_assert(kPairSlots == 4, "nonzero's initializer and AllNonzero name every slot");
  bool AllNonzero() const {
    return (nonzero[0] & nonzero[1] & nonzero[2] & nonzero[3]) == static_cast<__mmask32>(~0u);
  }
};
#endif

// For the functors passed to WithPairStores: inlined like the functions
// around them. Left to GCC, the lambda stayed a call of its own once it had
// two callers (a bf16 range may be written twice), and the row's constants
// went through the stack for every pair (or, copied in, for every row:
// `hot --dtypes bf16 --cols 128` took 1.3x the time).
#define LNBENCH_HWY_INLINE_LAMBDA __attribute__((always_inline))

// Calls write(store) with the pair store for rows of T: for bf16 rows where
// the CPU converts natively, WatchedPairs, then, if a zero word appeared,
// rewrite() (every output of the range written again with the exact
// rounding; a pair store must therefore be the only thing `write` changes);
// bf16 elsewhere, ExactPairs (BitsBF16Pair's choice made once per range, not
// per pair); other types, PlainPairs. Without a rewrite (nullptr, the
// default) the range is written again by write(ExactPairs).
template <typename T, class D, class Write, class Rewrite = std::nullptr_t>
HWY_INLINE void WithPairStores(D d, const Write& write, const Rewrite& rewrite = nullptr) {
  (void)d;
  (void)rewrite;
  if constexpr (std::is_same_v<T, hwy::bfloat16_t>) {
#if LNBENCH_HWY_NATIVE_BF16
    if constexpr (std::is_same_v<D, hn::Full512<float>>) {
      if (HWY_LIKELY(kHaveAvx512BF16)) {
        WatchedPairs watched;
        write(watched);
        if (HWY_LIKELY(watched.AllNonzero())) return;
        if constexpr (!std::is_same_v<Rewrite, std::nullptr_t>) {
          rewrite();
          return;
        }
      }
    }
#endif
    ExactPairs exact;
    write(exact);
  } else {
    PlainPairs plain;
    write(plain);
  }
}

// Returns how many elements of a row starting at y precede its first cache
// line boundary (0 when y is aligned).
template <typename T>
HWY_INLINE size_t HeadElements(const T* y) {
  const size_t misalign = (reinterpret_cast<uintptr_t>(y) % kCacheLineBytes) / sizeof(T);
  return misalign == 0 ? 0 : kCacheLineBytes / sizeof(T) - misalign;
}

// Writes y[i, i + Lanes(d)) = value(i) for elements [begin, end) of a row y
// of `cols` >= Lanes(d) elements, vector by vector with ordinary stores; a
// last partial vector is the one starting at min(i, cols - Lanes(d)), which
// rewrites neighbouring elements of this row with the same values (see
// WriteRowRangeWith).
template <class D, typename T, class Value>
HWY_INLINE void StoreVectors(D d, T* HWY_RESTRICT y, size_t begin, size_t end, size_t cols,
                             const Value& value) {
  const size_t N = hn::Lanes(d);
  size_t i = begin;
  for (; i + N <= end; i += N) StoreF32(d, value(i), y + i);
  if (i < end) {
    const size_t last = std::min(i, cols - N);
    StoreF32(d, value(last), y + last);
  }
}

// Range k = 0, 1, ... of a row of `cols` elements written `size` elements
// at a time, each range but the last ending on a cache line of the output
// (`head`: the row's HeadElements, 0 without streaming stores): [begin, end),
// with begin >= cols once the row is written.
struct RowRange {
  size_t begin, end;
};
HWY_INLINE RowRange RangeOfRow(size_t k, size_t head, size_t size, size_t cols) {
  return {k == 0 ? 0 : std::min(cols, head + k * size), std::min(cols, head + (k + 1) * size)};
}

// Runs rows [begin, end) of a kernel's chunked row groups (when:
// ChunkedRowGroup; LayerNorm's and RMSNorm's ChunkedRowsWithTag): for each
// group of kChunkRows consecutive rows, stats(j, r) for each row r (the j-th
// of the group) in turn, then write(j, r, b, e, next) for chunk k = 0, 1, ...
// of each row in turn, [b, e) ending on a cache line of y (past the row's
// unaligned head) unless e = cols, and `next` the same row of the next group
// (-1 for the last group), whose lines the write prefetches.
template <typename T, class Stats, class Write>
HWY_INLINE void ForEachChunkedGroup(int64_t begin, int64_t end, const T* y, size_t cols,
                                    const Stats& stats, const Write& write) {
  size_t head[kChunkRows];
  for (int64_t first = begin; first < end; first += kChunkRows) {
    const int64_t n = std::min(kChunkRows, end - first);
    const int64_t next_n = std::min(kChunkRows, end - (first + n));
    for (int64_t j = 0; j < n; ++j) {
      stats(j, first + j);
      head[j] = HeadElements(y + static_cast<size_t>(first + j) * cols);
    }
    for (size_t k = 0;; ++k) {
      bool any = false;
      for (int64_t j = 0; j < n; ++j) {
        const RowRange range = RangeOfRow(k, head[j], kChunkCols, cols);
        if (range.begin >= cols) continue;
        any = true;
        write(j, first + j, range.begin, range.end, j < next_n ? first + n + j : int64_t{-1});
      }
      if (!any) break;
    }
  }
}

// Runs rows [begin, begin + groups * R) of a kernel's interleaved groups
// (LayerNorm's and RMSNorm's InterleavedGroupsWithTag): for each group of R
// consecutive rows, stats(j, r, xr) for each row r (the j-th of the group, xr
// its x) in turn, then write(xs, ys, b, e, next) for each block [b, e) of
// `block` columns, xs and ys the group's rows and `next` the next group's
// rows (nullptr for the last group), whose lines the write prefetches.
template <size_t R, typename T, class Stats, class Write>
HWY_INLINE void ForEachInterleavedGroup(int64_t begin, int64_t groups, const T* x, T* y,
                                        size_t cols, size_t block, const Stats& stats,
                                        const Write& write) {
  for (int64_t g = 0; g < groups; ++g) {
    const T* xs[R];
    T* ys[R];
    const T* next[R];
    for (size_t j = 0; j < R; ++j) {
      const int64_t r = begin + g * static_cast<int64_t>(R) + static_cast<int64_t>(j);
      xs[j] = x + static_cast<size_t>(r) * cols;
      ys[j] = y + static_cast<size_t>(r) * cols;
      next[j] = xs[j] + R * cols;
      stats(j, r, xs[j]);
    }
    const T* const* prefetch = g + 1 < groups ? next : nullptr;
    for (size_t b = 0; b < cols; b += block) write(xs, ys, b, std::min(cols, b + block), prefetch);
  }
}

// Writes elements [begin, end) of a row y of `cols` >= Lanes(d) elements,
// y[i, i + Lanes(d)) = value(i), an f32 vector (value: a small functor,
// captured by value so that it stays in registers). A last partial vector is
// the one ending at the row's end or the one starting at the last whole
// vector: it rewrites neighbouring elements of this row with the same
// values, never touching another row (which may belong to another thread).
//
// kStream: streaming stores for the cache lines wholly inside [begin, end),
// ordinary stores for a partial line at either end; y + end is then a line
// boundary unless end == cols. With `prefetch` (the next row, or nullptr)
// each line written also prefetches the same offset of that row, so DRAM
// reads continue while y is written. Pairs of vectors go through `store`
// (WithPairStores).
template <bool kStream, bool kIntoL2, class D, typename T, class Value, class Store>
HWY_INLINE void WriteRowRangeWith(D d, T* HWY_RESTRICT y, size_t begin, size_t end, size_t cols,
                                  const T* prefetch, const Value& value, Store& store) {
  const size_t N = hn::Lanes(d);
  (void)prefetch;  // unused without streaming stores (HWY_SCALAR)
  size_t i = begin;
  size_t plain_end = end;  // ordinary stores for [i, plain_end)
#if LNBENCH_HWY_CAN_STREAM
  if (kStream) {
    constexpr size_t kLine = kCacheLineBytes / sizeof(T);
    const size_t body_begin = std::min(end, begin + HeadElements(y + begin));
    const size_t body_end = body_begin + (end - body_begin) / kLine * kLine;
    StoreVectors(d, y, i, body_begin, cols, value);
    i = body_begin;
    for (; i + 4 * N <= body_end; i += 4 * N) {
      if (prefetch != nullptr) {
        PrefetchNextRowPair<kIntoL2>(d, prefetch + i);
        PrefetchNextRowPair<kIntoL2>(d, prefetch + i + 2 * N);
      }
      store.template Store<true>(d, value(i), value(i + N), y + i, 0);
      store.template Store<true>(d, value(i + 2 * N), value(i + 3 * N), y + i + 2 * N, 1);
    }
    if (i + 2 * N <= body_end) {
      if (prefetch != nullptr) PrefetchNextRowPair<kIntoL2>(d, prefetch + i);
      store.template Store<true>(d, value(i), value(i + N), y + i, 0);
      i += 2 * N;
    }
    if constexpr (sizeof(T) == sizeof(float)) {
      if (i < body_end) {  // one line (one vector) left
        if (prefetch != nullptr) PrefetchNextRow<kIntoL2>(prefetch + i);
        hn::Stream(value(i), d, y + i);
      }
    }
    i = body_end;
  }
#endif
  for (; i + 4 * N <= plain_end; i += 4 * N) {
    store.template Store<false>(d, value(i), value(i + N), y + i, 0);
    store.template Store<false>(d, value(i + 2 * N), value(i + 3 * N), y + i + 2 * N, 1);
  }
  if (i + 2 * N <= plain_end) {
    store.template Store<false>(d, value(i), value(i + N), y + i, 0);
    i += 2 * N;
  }
  StoreVectors(d, y, i, plain_end, cols, value);
}

// WriteRowRangeWith the pair stores of WithPairStores. Where a bf16 range
// with the native conversion shows a zero word, it is written again one
// vector at a time with ordinary stores (StoreF32: the integer rounding),
// after a fence that orders them after the range's streaming stores: the
// same bits as ExactPairs in a loop of half the code (the kernels' compile
// time is a share of CI's).
template <bool kStream, bool kIntoL2 = false, class D, typename T, class Value>
HWY_INLINE void WriteRowRange(D d, T* HWY_RESTRICT y, size_t begin, size_t end, size_t cols,
                              const T* prefetch, const Value& value) {
  WithPairStores<T>(
      d,
      [&](auto& store) HWY_ATTR LNBENCH_HWY_INLINE_LAMBDA {
        WriteRowRangeWith<kStream, kIntoL2>(d, y, begin, end, cols, prefetch, value, store);
      },
      [&]() HWY_ATTR LNBENCH_HWY_INLINE_LAMBDA {
        if (kStream) hwy::FlushStream();
        StoreVectors(d, y, begin, end, cols, value);
      });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
