// Per-target LayerNorm and RMSNorm backward row kernels (included once per
// SIMD target by norm_bwd_highway.cc through foreach_target.h; the include
// guard toggles, as in Highway's skeleton-inl.h). All arithmetic is f32;
// 16-bit x, dy and dx are converted on load and store (norm_rows-inl.h).
//
// Per row (g = gamma or 1; LayerNorm xhat = (x - mean) * rstd, RMSNorm
// xhat = x * rrms):
//   sums   one read of x and dy from memory, in blocks of 64 vectors:
//          sum g*dy and sum g*dy*xhat in f32 vectors (two accumulators each,
//          so each lane adds at most 32 terms per block), the block sums added
//          in double. In the same pass, with gamma, the row's dgamma terms
//          dy*xhat (and dbeta terms dy) are added to the caller's partial.
//   dx     dx = rstd * (g*dy - a - xhat*b), a = sum g*dy / H, b = sum
//          g*dy*xhat / H (RMSNorm: no a), evaluated as
//          g*dy*rstd + ((x - mean) * c1 + c0) with c0 = -rstd*a and
//          c1 = -rstd^2*b rounded once from double: two FMAs per vector.
//          x and dy are read again from cache (L1/L2): the sums of a block of
//          row r+1 run right after the dx of the same block of row r, so a row
//          waits in cache for at most one row's time, and DRAM reads of the
//          next row continue while dx is written (the next row's lines are
//          prefetched as dx lines are written when dx streams).
//   groups with gamma, when gamma and the partials take 24 KiB or more
//          (LayerNorm H >= 2048, RMSNorm H >= 3072; streamed to DRAM
//          16 KiB: BwdGroupsRows), f32 rows go in pairs (RowPairs): the
//          sums of both rows of a pair share the loads of gamma and the
//          loads and stores of the partials, then both rows' dx run.
//          16-bit rows go in chunked groups of four (ChunkedGroups): the
//          sums of all four, then their dx, with an L2 prefetch of the next
//          group as dx is written. Both share the sums; where dx streams
//          to DRAM (BwdFusedGroups), rows on cache lines go instead in fused
//          groups of four (FusedGroups): each row's sums alone, then the
//          four rows' dx and dgamma/dbeta terms in one pass over the
//          columns, the partials loaded and stored once for the four.
//   short  affine rows of 1 to 8 whole vectors on AVX-512 (f32 H <= 128;
//          BwdRegisterRows) keep the dgamma/dbeta partials in registers for
//          the whole call (RegisterRows) instead of loading and storing them
//          for every row.
// Rows shorter than a vector go one lane at a time; loop tails use the full
// vector ending at the row's end, masked for sums and partials, rewritten
// with identical values for dx. The order of every sum is fixed per row, so
// a row's dx does not depend on how rows are split over threads; partials
// are written by the first row of a call and added to by the next ones, in
// row order.
#if defined(LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_INL_H_
#undef LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_INL_H_
#else
#define LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>

#include "backends/highway/norm_bwd_highway.h"
#include "backends/highway/norm_rows-inl.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {
namespace bwd {

namespace hn = hwy::HWY_NAMESPACE;

// Elements per sums block: 64 vectors. With AVX-512 and f32 that is 4 KiB
// each of x and dy, plus gamma and two partials: 20 KiB, within L1 while
// the block's sums and the previous row's dx of the same columns run.
template <class D>
HWY_INLINE size_t BlockElements(D d) {
  return 64 * hn::Lanes(d);
}

// One row's statistics and outputs as the block functions see them.
template <typename T>
struct Row {
  const T* x;
  const T* dy;
  float mean;  // 0 for RMSNorm
  float rstd;
};

// A backward problem's rows as the row functions see them: row r's inputs
// and statistics, its dx, and the dx coefficients of a row from its sums.
template <typename T, bool kRms>
struct BwdRows {
  explicit BwdRows(const HwyBwdArgs& a)
      : args(a),
        cols(static_cast<size_t>(a.cols)),
        x(static_cast<const T*>(a.x)),
        dy(static_cast<const T*>(a.dy)),
        dx(static_cast<T*>(a.dx)),
        inv_cols(1.0 / static_cast<double>(cols)) {}

  Row<T> At(int64_t r) const {
    const size_t offset = static_cast<size_t>(r) * cols;
    return Row<T>{x + offset, dy + offset, kRms ? 0.0f : args.mean[r], args.rstd[r]};
  }
  T* Dx(int64_t r) const { return dx + static_cast<size_t>(r) * cols; }
  // c0 = -rstd*a (0 for RMSNorm) and c1 = -rstd^2*b, a = sum_gd / H and
  // b = sum_gdx / H, each rounded once from double.
  void Coefficients(double rstd, double sum_gd, double sum_gdx, float& c0, float& c1) const {
    c0 = kRms ? 0.0f : static_cast<float>(-rstd * (sum_gd * inv_cols));
    c1 = static_cast<float>(-rstd * rstd * (sum_gdx * inv_cols));
  }

  const HwyBwdArgs& args;
  size_t cols;
  const T* x;
  const T* dy;
  T* dx;
  double inv_cols;
};

// Returns dx from g*dy and x - mean (x for RMSNorm): g*dy*rstd + (xm*c1 + c0)
// (c0 = -rstd*a, c1 = -rstd^2*b). Every path's dx is this expression, so
// every path gives the same bits.
template <class V>
HWY_INLINE V DxOf(V gd, V xm, V vrstd, V vc0, V vc1) {
  return hn::MulAdd(gd, vrstd, hn::MulAdd(xm, vc1, vc0));
}

// Adds one row's dgamma term dy*xhat to pg and (LayerNorm) its dbeta term dy
// to pb, or with `store` (the first row of a call) sets them to the terms.
// Every path adds a row's terms through this, rows in row order, so the
// partials are the same bits whichever path computed them.
template <bool kRms, class V>
HWY_INLINE void AddRowTerms(bool store, V xhat, V dyv, V& pg, V& pb) {
  pg = store ? hn::Mul(dyv, xhat) : hn::MulAdd(dyv, xhat, pg);
  if constexpr (!kRms) pb = store ? dyv : hn::Add(pb, dyv);
}

// Loads the vectors of x and dy at i and sets the row's terms there: xhat,
// gd = g*dy (kAffine, g the vector of gamma at i; else dy) and dyv = dy.
// Every sums path computes a row's terms through this: the same bits.
template <bool kRms, bool kAffine, class D, typename T, class V = hn::Vec<D>>
HWY_INLINE void RowTerms(D d, const T* HWY_RESTRICT x, const T* HWY_RESTRICT dy, size_t i, V g,
                         V vmean, V vrstd, V& xhat, V& gd, V& dyv) {
  const V xv = LoadF32(d, x + i);
  dyv = LoadF32(d, dy + i);
  xhat = kRms ? hn::Mul(xv, vrstd) : hn::Mul(hn::Sub(xv, vmean), vrstd);
  gd = kAffine ? hn::Mul(g, dyv) : dyv;
}

// Adds the sums of g*dy and g*dy*xhat over elements [begin, end) of `row`
// to sum_gd / sum_gdx (block sums in f32, added in double), and with
// kAffine the row's dgamma terms dy*xhat to acc_g[] and dbeta terms dy to
// acc_b[] (kFirst: stores them instead; kRms: no dbeta). The row holds at
// least Lanes(d) elements before `end`; a last partial vector is the full
// vector ending at `end`, its earlier lanes (already counted) masked off.
template <bool kRms, bool kAffine, bool kFirst, bool kPartials = kAffine, class D, typename T>
HWY_INLINE void SumsBlock(D d, const Row<T>& row, const float* HWY_RESTRICT gamma,
                          float* HWY_RESTRICT acc_g, float* HWY_RESTRICT acc_b, size_t begin,
                          size_t end, double& sum_gd, double& sum_gdx) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const V vmean = hn::Set(d, row.mean);
  const V vrstd = hn::Set(d, row.rstd);
  const T* HWY_RESTRICT x = row.x;
  const T* HWY_RESTRICT dy = row.dy;
  // Returns xhat, g*dy and dy of the vector at i.
  const auto load = [&](size_t i, V& xhat, V& gd, V& dyv) HWY_ATTR {
    const V g = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
    RowTerms<kRms, kAffine>(d, x, dy, i, g, vmean, vrstd, xhat, gd, dyv);
  };
  const auto accumulate = [&](size_t i, V xhat, V dyv) HWY_ATTR {
    if constexpr (kAffine && kPartials) {
      V pg = hn::Zero(d), pb = hn::Zero(d);
      if constexpr (!kFirst) {
        pg = hn::LoadU(d, acc_g + i);
        if constexpr (!kRms) pb = hn::LoadU(d, acc_b + i);
      }
      AddRowTerms<kRms>(kFirst, xhat, dyv, pg, pb);
      hn::StoreU(pg, d, acc_g + i);
      if constexpr (!kRms) hn::StoreU(pb, d, acc_b + i);
    }
  };
  V s0 = hn::Zero(d), s1 = hn::Zero(d);  // g*dy
  V t0 = hn::Zero(d), t1 = hn::Zero(d);  // g*dy*xhat
  const size_t body_end = begin + (end - begin) / N * N;
  size_t i = begin;
  for (; i + 2 * N <= body_end; i += 2 * N) {
    V xhat0, gd0, dy0, xhat1, gd1, dy1;
    load(i, xhat0, gd0, dy0);
    load(i + N, xhat1, gd1, dy1);
    if constexpr (!kRms) {
      s0 = hn::Add(s0, gd0);
      s1 = hn::Add(s1, gd1);
    }
    t0 = hn::MulAdd(gd0, xhat0, t0);
    t1 = hn::MulAdd(gd1, xhat1, t1);
    accumulate(i, xhat0, dy0);
    accumulate(i + N, xhat1, dy1);
  }
  if (i < body_end) {
    V xhat, gd, dyv;
    load(i, xhat, gd, dyv);
    if constexpr (!kRms) s0 = hn::Add(s0, gd);
    t0 = hn::MulAdd(gd, xhat, t0);
    accumulate(i, xhat, dyv);
  }
  if (body_end < end) {
    const size_t at = end - N;
    const auto mask = hn::Not(hn::FirstN(d, N - (end - body_end)));
    V xhat, gd, dyv;
    load(at, xhat, gd, dyv);
    // Masked products, not products of masked values: the masked-off lanes
    // may hold Inf or NaN (0 * Inf is NaN).
    if constexpr (!kRms) s1 = hn::Add(s1, hn::IfThenElseZero(mask, gd));
    t1 = hn::Add(t1, hn::IfThenElseZero(mask, hn::Mul(gd, xhat)));
    if constexpr (kAffine && kPartials) {
      const V old_g = hn::LoadU(d, acc_g + at);
      V old_b = hn::Zero(d);
      if constexpr (!kRms) old_b = hn::LoadU(d, acc_b + at);
      V pg = old_g, pb = old_b;
      AddRowTerms<kRms>(kFirst, xhat, dyv, pg, pb);
      hn::StoreU(hn::IfThenElse(mask, pg, old_g), d, acc_g + at);
      if constexpr (!kRms) hn::StoreU(hn::IfThenElse(mask, pb, old_b), d, acc_b + at);
    }
  }
  if constexpr (!kRms) sum_gd += hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  sum_gdx += hn::GetLane(hn::SumOfLanes(d, hn::Add(t0, t1)));
}

// Adds, for each of the kRows rows rows[0, kRows), the sums of g*dy and
// g*dy*xhat over elements [begin, end) to sum_gd[j] / sum_gdx[j] (block
// sums in f32, added in double), and with kAffine the rows' dgamma terms
// dy*xhat to acc_g[] and dbeta terms dy to acc_b[], row after row in row
// order (kFirst: rows[0] stores its terms instead; kRms: no dbeta). The rows
// hold at least Lanes(d) elements before `end`; a last partial vector is the
// full vector ending at `end`, its earlier lanes (already counted) masked
// off. Each row's sums and terms are those of SumsBlock, in the same order
// (the same bits); kRows > 1 only shares the loads of gamma and the loads
// and stores of the partials between rows (see RowPairs for why).
template <size_t kRows, bool kRms, bool kAffine, bool kFirst, class D, typename T>
HWY_INLINE void SumsBlockRows(D d, const Row<T>* HWY_RESTRICT rows, const float* HWY_RESTRICT gamma,
                          float* HWY_RESTRICT acc_g, float* HWY_RESTRICT acc_b, size_t begin,
                          size_t end, double* sum_gd, double* sum_gdx) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  V vmean[kRows], vrstd[kRows];
  const T* HWY_RESTRICT x[kRows];
  const T* HWY_RESTRICT dy[kRows];
  for (size_t j = 0; j < kRows; ++j) {
    vmean[j] = hn::Set(d, rows[j].mean);
    vrstd[j] = hn::Set(d, rows[j].rstd);
    x[j] = rows[j].x;
    dy[j] = rows[j].dy;
  }
  // Returns xhat, g*dy and dy of row j's vector at i (g: gamma at i).
  const auto load = [&](size_t j, size_t i, V g, V& xhat, V& gd, V& dyv) HWY_ATTR {
    RowTerms<kRms, kAffine>(d, x[j], dy[j], i, g, vmean[j], vrstd[j], xhat, gd, dyv);
  };
  // The new partials at i from the old ones (unused for kFirst), adding row
  // 0's terms first.
  const auto partials = [&](size_t j, V xhat, V dyv, V& pg, V& pb) HWY_ATTR {
    AddRowTerms<kRms>(kFirst && j == 0, xhat, dyv, pg, pb);
  };
  V s0[kRows], s1[kRows];  // g*dy
  V t0[kRows], t1[kRows];  // g*dy*xhat
  for (size_t j = 0; j < kRows; ++j) {
    s0[j] = hn::Zero(d);
    s1[j] = hn::Zero(d);
    t0[j] = hn::Zero(d);
    t1[j] = hn::Zero(d);
  }
  // One vector of every row at i, into accumulators s/t (0 or 1).
  const auto step = [&](size_t i, V* s, V* t) HWY_ATTR {
    const V g = kAffine ? hn::LoadU(d, gamma + i) : hn::Zero(d);
    V pg = hn::Zero(d), pb = hn::Zero(d);
    if constexpr (kAffine && !kFirst) {
      pg = hn::LoadU(d, acc_g + i);
      if constexpr (!kRms) pb = hn::LoadU(d, acc_b + i);
    }
    for (size_t j = 0; j < kRows; ++j) {
      V xhat, gd, dyv;
      load(j, i, g, xhat, gd, dyv);
      if constexpr (!kRms) s[j] = hn::Add(s[j], gd);
      t[j] = hn::MulAdd(gd, xhat, t[j]);
      if constexpr (kAffine) partials(j, xhat, dyv, pg, pb);
    }
    if constexpr (kAffine) {
      hn::StoreU(pg, d, acc_g + i);
      if constexpr (!kRms) hn::StoreU(pb, d, acc_b + i);
    }
  };
  const size_t body_end = begin + (end - begin) / N * N;
  size_t i = begin;
  for (; i + 2 * N <= body_end; i += 2 * N) {
    step(i, s0, t0);
    step(i + N, s1, t1);
  }
  if (i < body_end) step(i, s0, t0);
  if (body_end < end) {
    const size_t at = end - N;
    const auto mask = hn::Not(hn::FirstN(d, N - (end - body_end)));
    const V g = kAffine ? hn::LoadU(d, gamma + at) : hn::Zero(d);
    V old_g = hn::Zero(d), old_b = hn::Zero(d);
    if constexpr (kAffine) {
      old_g = hn::LoadU(d, acc_g + at);
      if constexpr (!kRms) old_b = hn::LoadU(d, acc_b + at);
    }
    V pg = old_g, pb = old_b;
    for (size_t j = 0; j < kRows; ++j) {
      V xhat, gd, dyv;
      load(j, at, g, xhat, gd, dyv);
      // Masked products, not products of masked values: the masked-off
      // lanes may hold Inf or NaN (0 * Inf is NaN).
      if constexpr (!kRms) s1[j] = hn::Add(s1[j], hn::IfThenElseZero(mask, gd));
      t1[j] = hn::Add(t1[j], hn::IfThenElseZero(mask, hn::Mul(gd, xhat)));
      if constexpr (kAffine) partials(j, xhat, dyv, pg, pb);
    }
    if constexpr (kAffine) {
      hn::StoreU(hn::IfThenElse(mask, pg, old_g), d, acc_g + at);
      if constexpr (!kRms) hn::StoreU(hn::IfThenElse(mask, pb, old_b), d, acc_b + at);
    }
  }
  for (size_t j = 0; j < kRows; ++j) {
    if constexpr (!kRms) sum_gd[j] += hn::GetLane(hn::SumOfLanes(d, hn::Add(s0[j], s1[j])));
    sum_gdx[j] += hn::GetLane(hn::SumOfLanes(d, hn::Add(t0[j], t1[j])));
  }
}

// Writes dx of elements [begin, end) of `row` (a row of `cols` >= Lanes(d)
// elements) into dx (see WriteRowRange for kStream and the range ends).
// c0 = -rstd*a (0 for RMSNorm), c1 = -rstd^2*b. With kStream and a next
// row, its x and dy lines at the same columns are prefetched.
template <bool kRms, bool kAffine, bool kStream, bool kIntoL2 = false, class D, typename T>
HWY_INLINE void DxRange(D d, const Row<T>& row, const float* HWY_RESTRICT gamma,
                        T* HWY_RESTRICT dx, size_t begin, size_t end, size_t cols, float c0,
                        float c1, const T* next_x, const T* next_dy) {
  using V = hn::Vec<D>;
  const V vmean = hn::Set(d, row.mean);
  const V vrstd = hn::Set(d, row.rstd);
  const V vc0 = hn::Set(d, c0);
  const V vc1 = hn::Set(d, c1);
  const T* HWY_RESTRICT x = row.x;
  const T* HWY_RESTRICT dy = row.dy;
  const auto value = [=](size_t i) HWY_ATTR {
    if (kStream && next_dy != nullptr) PrefetchNextRow<kIntoL2>(next_dy + i);
    const V xv = LoadF32(d, x + i);
    const V dyv = LoadF32(d, dy + i);
    const V gd = kAffine ? hn::Mul(hn::LoadU(d, gamma + i), dyv) : dyv;
    const V xm = kRms ? xv : hn::Sub(xv, vmean);
    return DxOf(gd, xm, vrstd, vc0, vc1);
  };
  WriteRowRange<kStream, kIntoL2>(d, dx, begin, end, cols, next_x, value);
}

// Computes rows [begin, end) (begin < end), pipelined over blocks: the dx
// of block k of row r, then the sums of block k of row r+1.
template <typename T, bool kRms, bool kAffine, bool kStream, class D>
HWY_NOINLINE void RowsWithTag(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* acc_g, float* acc_b) {
  const BwdRows<T, kRms> view(args);
  const size_t cols = view.cols;
  const size_t block = BlockElements(d);
  const float* gamma = args.gamma;
  double sum_gd = 0, sum_gdx = 0;
  {
    const Row<T> first = view.At(begin);
    for (size_t b = 0; b < cols; b += block) {
      SumsBlock<kRms, kAffine, true>(d, first, gamma, acc_g, acc_b, b, std::min(cols, b + block),
                                     sum_gd, sum_gdx);
    }
  }
  for (int64_t r = begin; r < end; ++r) {
    const Row<T> row = view.At(r);
    T* dxr = view.Dx(r);
    const bool has_next = r + 1 < end;
    const Row<T> next = has_next ? view.At(r + 1) : Row<T>{nullptr, nullptr, 0.0f, 0.0f};
    float c0, c1;
    view.Coefficients(row.rstd, sum_gd, sum_gdx, c0, c1);
    // dx ranges end on cache lines of dx (past the row's unaligned head),
    // sums blocks on multiples of the block size.
    const size_t head = kStream ? HeadElements(dxr) : 0;
    double next_gd = 0, next_gdx = 0;
    for (size_t k = 0;; ++k) {
      const RowRange range = RangeOfRow(k, head, block, cols);
      const size_t block_begin = k * block;
      const bool do_dx = range.begin < cols;
      const bool do_sums = has_next && block_begin < cols;
      if (!do_dx && !do_sums) break;
      if (do_dx) {
        DxRange<kRms, kAffine, kStream>(d, row, gamma, dxr, range.begin, range.end, cols, c0,
                                        c1, next.x, next.dy);
      }
      if (do_sums) {
        SumsBlock<kRms, kAffine, false>(d, next, gamma, acc_g, acc_b, block_begin,
                                        std::min(cols, block_begin + block), next_gd, next_gdx);
      }
    }
    sum_gd = next_gd;
    sum_gdx = next_gdx;
  }
}

// Rows per group of FusedGroups. Measured against groups of 2 and 8 on the
// Zen 5 VM (`lnbench_highway_bench dram --bwd --ab`, one thread, H = 1024,
// 4096, 16384): bf16 took 1.12-1.16x the time of groups of 4 with either; f32
// 0.91-1.03 with pairs and 0.94-1.02 with 8, within the noise.
constexpr size_t kFusedRows = 4;

// Writes dx of the n (<= kFusedRows) rows `rows` (dx rows dxr, each on cache
// lines) and adds their dgamma terms dy*xhat and dbeta terms dy to the
// partials, over all `cols` columns (a multiple of 2 * Lanes(d)), two vectors
// of columns at a time: in each step gamma and the partials are loaded once,
// then each row's dx is written and its terms added, in row order (kFirst:
// row 0 stores its terms instead). next_x/next_dy: the same rows of the next
// group (nullptr: none), prefetched into L2 as dx is written.
template <size_t n, bool kRms, bool kFirst, bool kStream, class D, typename T>
HWY_INLINE void FusedDxPartials(D d, const Row<T>* rows, T* const* dxr, const float* c0,
                                const float* c1, const float* HWY_RESTRICT gamma,
                                float* HWY_RESTRICT acc_g, float* HWY_RESTRICT acc_b, size_t cols,
                                const T* const* next_x, const T* const* next_dy) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  for (size_t i = 0; i < cols; i += 2 * N) {
    const V g0 = hn::LoadU(d, gamma + i);
    const V g1 = hn::LoadU(d, gamma + i + N);
    V pg0 = hn::Zero(d), pg1 = hn::Zero(d), pb0 = hn::Zero(d), pb1 = hn::Zero(d);
    if constexpr (!kFirst) {
      pg0 = hn::LoadU(d, acc_g + i);
      pg1 = hn::LoadU(d, acc_g + i + N);
      if constexpr (!kRms) {
        pb0 = hn::LoadU(d, acc_b + i);
        pb1 = hn::LoadU(d, acc_b + i + N);
      }
    }
    for (size_t j = 0; j < n; ++j) {
      if (kStream && next_x[j] != nullptr) {
        PrefetchNextRowPair<true>(d, next_x[j] + i);
        PrefetchNextRowPair<true>(d, next_dy[j] + i);
      }
      const V vmean = hn::Set(d, rows[j].mean);
      const V vrstd = hn::Set(d, rows[j].rstd);
      const V vc0 = hn::Set(d, c0[j]);
      const V vc1 = hn::Set(d, c1[j]);
      const V x0 = LoadF32(d, rows[j].x + i);
      const V x1 = LoadF32(d, rows[j].x + i + N);
      const V dy0 = LoadF32(d, rows[j].dy + i);
      const V dy1 = LoadF32(d, rows[j].dy + i + N);
      const V xm0 = kRms ? x0 : hn::Sub(x0, vmean);
      const V xm1 = kRms ? x1 : hn::Sub(x1, vmean);
      StorePair<kStream>(d, DxOf(hn::Mul(g0, dy0), xm0, vrstd, vc0, vc1),
                         DxOf(hn::Mul(g1, dy1), xm1, vrstd, vc0, vc1), dxr[j] + i);
      const bool store = kFirst && j == 0;
      AddRowTerms<kRms>(store, hn::Mul(xm0, vrstd), dy0, pg0, pb0);
      AddRowTerms<kRms>(store, hn::Mul(xm1, vrstd), dy1, pg1, pb1);
    }
    hn::StoreU(pg0, d, acc_g + i);
    hn::StoreU(pg1, d, acc_g + i + N);
    if constexpr (!kRms) {
      hn::StoreU(pb0, d, acc_b + i);
      hn::StoreU(pb1, d, acc_b + i + N);
    }
  }
}

// FusedDxPartials with the row count n (1 <= n <= kMax) fixed at compile time.
template <size_t kMax, bool kRms, bool kFirst, bool kStream, class D, typename T>
HWY_INLINE void FusedDxPartialsN(D d, size_t n, const Row<T>* rows, T* const* dxr,
                                 const float* c0, const float* c1, const float* gamma,
                                 float* acc_g, float* acc_b, size_t cols, const T* const* next_x,
                                 const T* const* next_dy) {
  if constexpr (kMax > 1) {
    if (n < kMax) {
      FusedDxPartialsN<kMax - 1, kRms, kFirst, kStream>(d, n, rows, dxr, c0, c1, gamma, acc_g,
                                                        acc_b, cols, next_x, next_dy);
      return;
    }
  }
  FusedDxPartials<kMax, kRms, kFirst, kStream>(d, rows, dxr, c0, c1, gamma, acc_g, acc_b, cols,
                                               next_x, next_dy);
}

// Computes affine rows [begin, end) in groups of kFusedRows rows (the last
// may be smaller): the sums of each row of the group, row after row (from
// DRAM, or from L2 where the previous group prefetched them), then in one
// pass over the columns the group's dx and dgamma/dbeta terms
// (FusedDxPartials), prefetching the next group into L2. Each row's sums and
// dx, and the partials' order of additions, are RowsWithTag's: the same bits.
// Rows hold a multiple of 2 * Lanes(d) columns, dx rows start on cache lines
// (BwdFusedGroups).
template <typename T, bool kRms, bool kStream, class D>
HWY_NOINLINE void FusedGroups(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* acc_g, float* acc_b) {
  const BwdRows<T, kRms> view(args);
  const size_t cols = view.cols;
  const size_t block = BlockElements(d);
  const float* gamma = args.gamma;
  constexpr int64_t R = static_cast<int64_t>(kFusedRows);
  for (int64_t r0 = begin; r0 < end; r0 += R) {
    const auto n = static_cast<size_t>(std::min(R, end - r0));
    Row<T> rows[kFusedRows];
    T* dxr[kFusedRows] = {};
    float c0[kFusedRows] = {}, c1[kFusedRows] = {};
    const T* next_x[kFusedRows] = {};
    const T* next_dy[kFusedRows] = {};
    for (size_t j = 0; j < n; ++j) {
      const int64_t r = r0 + static_cast<int64_t>(j);
      rows[j] = view.At(r);
      dxr[j] = view.Dx(r);
      double sum_gd = 0, sum_gdx = 0;
      for (size_t b = 0; b < cols; b += block) {
        SumsBlock<kRms, true, false, false>(d, rows[j], gamma, nullptr, nullptr, b,
                                            std::min(cols, b + block), sum_gd, sum_gdx);
      }
      view.Coefficients(rows[j].rstd, sum_gd, sum_gdx, c0[j], c1[j]);
      if (r + R < end) {
        const Row<T> next = view.At(r + R);
        next_x[j] = next.x;
        next_dy[j] = next.dy;
      }
    }
    if (r0 == begin) {
      FusedDxPartialsN<kFusedRows, kRms, true, kStream>(d, n, rows, dxr, c0, c1, gamma, acc_g,
                                                        acc_b, cols, next_x, next_dy);
    } else {
      FusedDxPartialsN<kFusedRows, kRms, false, kStream>(d, n, rows, dxr, c0, c1, gamma, acc_g,
                                                         acc_b, cols, next_x, next_dy);
    }
  }
}

// Rows per group of RowPairs, for affine f32 rows whose gamma and partials
// take 24 KiB or more, 16 KiB streamed (BwdGroupsRows in norm_bwd_highway.h;
// 16-bit rows: ChunkedGroups). gamma and the two f32 partials take 12 bytes
// per column (RMSNorm 8): they then no longer stay in a 32 KiB L1 with the rows' x and
// dy, and come from L2 once per row; a pair of rows shares those loads and
// stores. Measured on Zen 4:
// 10-20% less time for cache-resident rows at H = 4096..16384 (f32 and
// bf16), and 10-20% more bf16 throughput per CPU second at 256 MiB (f32 rows
// there wait on DRAM and were unchanged). Shorter rows go one at a time:
// there pairs were measured slower (the per-group set-up is paid more often;
// at H = 128, 0.39-0.40 against 0.26-0.32 ns/element). Groups of 4 were no
// faster than pairs at any H.
constexpr size_t kGroupRows = 2;

// SumsBlock over `n` (1 <= n <= kGroup) rows, SumsBlockRows<n> with n fixed
// at compile time.
template <size_t kGroup, bool kRms, bool kAffine, bool kFirst, class D, typename T>
HWY_INLINE void SumsGroupBlock(D d, size_t n, const Row<T>* rows, const float* gamma,
                               float* acc_g, float* acc_b, size_t begin, size_t end,
                               double* sum_gd, double* sum_gdx) {
  if constexpr (kGroup > 1) {
    if (n == kGroup) {
      SumsBlockRows<kGroup, kRms, kAffine, kFirst>(d, rows, gamma, acc_g, acc_b, begin, end,
                                                   sum_gd, sum_gdx);
      return;
    }
    SumsGroupBlock<kGroup - 1, kRms, kAffine, kFirst>(d, n, rows, gamma, acc_g, acc_b, begin, end,
                                                      sum_gd, sum_gdx);
  } else {
    // A lone row is SumsBlock's (SumsBlockRows<1> would compute the same bits
    // again).
    SumsBlock<kRms, kAffine, kFirst>(d, rows[0], gamma, acc_g, acc_b, begin, end, sum_gd[0],
                                     sum_gdx[0]);
  }
}

// RowsWithTag with gamma, in groups of kGroup rows (the last group may be
// smaller), pipelined over blocks: the dx of block k of
// every row of group g, then the sums of block k of every row of group g+1
// (which load gamma and the partials once for the group). A row's dx and
// its own sums do not depend on the grouping; the partials add the rows'
// terms in row order either way: the same bits as RowsWithTag. A separate
// function, not RowsWithTag with kGroup = 1, because that generalisation
// (runtime row counts over arrays of rows) cost short rows up to 25%.
template <size_t kGroup, typename T, bool kRms, bool kAffine, bool kStream, class D>
HWY_NOINLINE void RowPairs(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* acc_g, float* acc_b) {
  const BwdRows<T, kRms> view(args);
  const size_t cols = view.cols;
  const size_t block = BlockElements(d);
  const float* gamma = args.gamma;
  const int64_t group = static_cast<int64_t>(kGroup);
  // The rows of group [r0, r0 + n): rows[], and their sums.
  struct Group {
    Row<T> rows[kGroup];
    double sum_gd[kGroup];
    double sum_gdx[kGroup];
    size_t n;
  };
  const auto group_at = [&](int64_t r0) {
    Group g{};
    g.n = static_cast<size_t>(std::min(group, end - r0));
    for (size_t j = 0; j < g.n; ++j) g.rows[j] = view.At(r0 + static_cast<int64_t>(j));
    return g;
  };
  Group cur = group_at(begin);
  for (size_t b = 0; b < cols; b += block) {
    SumsGroupBlock<kGroup, kRms, kAffine, true>(d, cur.n, cur.rows, gamma, acc_g, acc_b, b,
                                        std::min(cols, b + block), cur.sum_gd, cur.sum_gdx);
  }
  for (int64_t r0 = begin; r0 < end; r0 += group) {
    const bool has_next = r0 + group < end;
    Group next = has_next ? group_at(r0 + group) : Group{};
    float c0[kGroup] = {}, c1[kGroup] = {};
    size_t head[kGroup] = {};
    T* dxr[kGroup] = {};
    for (size_t j = 0; j < cur.n; ++j) {
      view.Coefficients(cur.rows[j].rstd, cur.sum_gd[j], cur.sum_gdx[j], c0[j], c1[j]);
      dxr[j] = view.Dx(r0 + static_cast<int64_t>(j));
      // dx ranges end on cache lines of dx (past the row's unaligned head),
      // sums blocks on multiples of the block size.
      head[j] = kStream ? HeadElements(dxr[j]) : 0;
    }
    for (size_t k = 0;; ++k) {
      const size_t block_begin = k * block;
      bool any_dx = false;
      for (size_t j = 0; j < cur.n; ++j) {
        const RowRange range = RangeOfRow(k, head[j], block, cols);
        if (range.begin >= cols) continue;
        any_dx = true;
        // Prefetch the same row of the next group (none for the last).
        const bool prefetch = has_next && j < next.n;
        DxRange<kRms, kAffine, kStream>(d, cur.rows[j], gamma, dxr[j], range.begin, range.end,
                                        cols, c0[j], c1[j], prefetch ? next.rows[j].x : nullptr,
                                        prefetch ? next.rows[j].dy : nullptr);
      }
      const bool do_sums = has_next && block_begin < cols;
      if (!any_dx && !do_sums) break;
      if (do_sums) {
        SumsGroupBlock<kGroup, kRms, kAffine, false>(d, next.n, next.rows, gamma, acc_g, acc_b,
                                             block_begin, std::min(cols, block_begin + block),
                                             next.sum_gd, next.sum_gdx);
      }
    }
    cur = next;
  }
}

// Rows per group of ChunkedGroups, for 16-bit affine rows whose gamma and
// partials take 24 KiB or more, 16 KiB streamed (BwdGroupsRows). Measured
// on Zen 4 (lnbench_highway_bench dram --bwd, one thread, three alternating
// rounds, bf16 H = 4096..65536): 0.39-0.44 of the
// copy with pairs, 0.45-0.51 with groups of 4. Groups of 8 were slower than
// pairs (0.30 against 0.22 ns/element in the L3: SumsBlockRows<8> keeps 32
// accumulators, more than the registers), groups of 2 no faster; f32 rows
// gained nothing at 256 MiB (0.51-0.59 either way) and stay in pairs.
constexpr size_t kChunkedRows = 4;

// Computes rows [begin, end) with gamma in groups of kRows rows (the last
// may be smaller). First the sums of every row of a group, block by block
// (SumsBlockRows: gamma and the partials loaded once per group and block,
// the rows' terms added in row order), then the dx of every row of the
// group, block by block and row by row in each block, each dx line written
// prefetching the same line of the same row of the next group into L2, so
// that the next group's sums read x and dy from L2 while this group's dx is
// written. Each row's sums and dx, and the partials' order of additions, are
// those of RowsWithTag: the same bits.
template <size_t kRows, typename T, bool kRms, bool kStream, class D>
HWY_NOINLINE void ChunkedGroups(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                                float* acc_g, float* acc_b) {
  const BwdRows<T, kRms> view(args);
  const size_t cols = view.cols;
  const size_t block = BlockElements(d);
  const float* gamma = args.gamma;
  for (int64_t r0 = begin; r0 < end; r0 += static_cast<int64_t>(kRows)) {
    const auto n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(kRows), end - r0));
    Row<T> rows[kRows];
    for (size_t j = 0; j < n; ++j) rows[j] = view.At(r0 + static_cast<int64_t>(j));
    double sum_gd[kRows] = {}, sum_gdx[kRows] = {};
    for (size_t b = 0; b < cols; b += block) {
      const size_t e = std::min(cols, b + block);
      if (r0 == begin) {  // the call's first row stores its terms
        SumsGroupBlock<kRows, kRms, true, true>(d, n, rows, gamma, acc_g, acc_b, b, e, sum_gd,
                                                sum_gdx);
      } else {
        SumsGroupBlock<kRows, kRms, true, false>(d, n, rows, gamma, acc_g, acc_b, b, e, sum_gd,
                                                 sum_gdx);
      }
    }
    const int64_t next0 = r0 + static_cast<int64_t>(kRows);
    float c0[kRows] = {}, c1[kRows] = {};
    size_t head[kRows] = {};
    T* dxr[kRows] = {};
    const T* next_x[kRows] = {};
    const T* next_dy[kRows] = {};
    for (size_t j = 0; j < n; ++j) {
      view.Coefficients(rows[j].rstd, sum_gd[j], sum_gdx[j], c0[j], c1[j]);
      dxr[j] = view.Dx(r0 + static_cast<int64_t>(j));
      head[j] = kStream ? HeadElements(dxr[j]) : 0;
      if (next0 + static_cast<int64_t>(j) < end) {
        const Row<T> next = view.At(next0 + static_cast<int64_t>(j));
        next_x[j] = next.x;
        next_dy[j] = next.dy;
      }
    }
    for (size_t k = 0;; ++k) {
      bool any = false;
      for (size_t j = 0; j < n; ++j) {
        const RowRange range = RangeOfRow(k, head[j], block, cols);
        if (range.begin >= cols) continue;
        any = true;
        DxRange<kRms, true, kStream, true>(d, rows[j], gamma, dxr[j], range.begin, range.end,
                                           cols, c0[j], c1[j], next_x[j], next_dy[j]);
      }
      if (!any) break;
    }
  }
}

// ------------------------------ Short rows with the partials in registers

#undef LNBENCH_HWY_BWD_REGISTER_PARTIALS
#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86
#define LNBENCH_HWY_BWD_REGISTER_PARTIALS 1
#else
#define LNBENCH_HWY_BWD_REGISTER_PARTIALS 0
#endif

#if LNBENCH_HWY_BWD_REGISTER_PARTIALS
// The most vectors a row may hold for RegisterRows (BwdRegisterRows in
// norm_bwd_highway.h): its dgamma and dbeta partials then take 16 of the 32
// vector registers of AVX-512 (AVX2's 16 would hold rows of 32 f32 at most).
constexpr size_t kRegisterRowVectors = 8;
#endif  // LNBENCH_HWY_BWD_REGISTER_PARTIALS

// Whether affine rows of `cols` columns take RegisterRows on this target:
// 1 to kRegisterRowVectors whole vectors (BwdRegisterRows asks this of a target).
template <class D>
HWY_INLINE bool RegisterRowsFit(D d, size_t cols) {
#if LNBENCH_HWY_BWD_REGISTER_PARTIALS
  return cols % hn::Lanes(d) == 0 && cols >= hn::Lanes(d) &&
         cols <= kRegisterRowVectors * hn::Lanes(d);
#else
  (void)d;
  (void)cols;
  return false;
#endif
}

#if LNBENCH_HWY_BWD_REGISTER_PARTIALS

// RowsWithTag for affine rows of exactly kNv whole vectors (kNv <= 8: f32
// H = 16, 32, ..., 128 on AVX-512), with the dgamma/dbeta partials held in
// registers over all rows of the call and stored once at its end, instead
// of loaded, added to and stored again for every row (two loads and two
// stores more per vector of a row, beside the row's own two loads). Each
// row's sums, its dx and the partials' additions are RowsWithTag's, in the
// same order: the same bits (tested: RegisterPartialsMatchMemoryPartials).
// Issue 13 (H = 128 was the backward's furthest cell from 80% of the copy):
// on the Zen 5 VM, `lnbench_highway_bench dram --bwd [--rms] --cols 128
// --ab` against the partials in memory, two processes, time ratios
// 0.82-0.96 for LayerNorm and RMSNorm, f32 and bf16, one and two threads
// (one cell of 16 at 1.06); in the L2 (`hot --bwd`, H = 64, 96, 128)
// 0.77-0.89.
template <size_t kNv, typename T, bool kRms, bool kStream, class D>
HWY_NOINLINE void RegisterRows(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                               float* HWY_RESTRICT acc_g, float* HWY_RESTRICT acc_b) {
  using V = hn::Vec<D>;
  const size_t N = hn::Lanes(d);
  const BwdRows<T, kRms> view(args);
  const size_t cols = view.cols;
  const float* HWY_RESTRICT gamma = args.gamma;
  V pg[kNv], pb[kNv];
  HWY_UNROLL(8)
  for (size_t k = 0; k < kNv; ++k) pg[k] = pb[k] = hn::Zero(d);
  // SumsBlock over the whole row, its terms added to pg/pb (first: stored).
  const auto sums = [&](const Row<T>& row, bool first, double& sum_gd,
                        double& sum_gdx) HWY_ATTR {
    const V vmean = hn::Set(d, row.mean);
    const V vrstd = hn::Set(d, row.rstd);
    V s0 = hn::Zero(d), s1 = hn::Zero(d), t0 = hn::Zero(d), t1 = hn::Zero(d);
    HWY_UNROLL(8)
    for (size_t k = 0; k < kNv; ++k) {
      V xhat, gd, dyv;
      RowTerms<kRms, true>(d, row.x, row.dy, k * N, hn::LoadU(d, gamma + k * N), vmean, vrstd,
                           xhat, gd, dyv);
      if (k % 2 == 0) {
        if constexpr (!kRms) s0 = hn::Add(s0, gd);
        t0 = hn::MulAdd(gd, xhat, t0);
      } else {
        if constexpr (!kRms) s1 = hn::Add(s1, gd);
        t1 = hn::MulAdd(gd, xhat, t1);
      }
      AddRowTerms<kRms>(first, xhat, dyv, pg[k], pb[k]);
    }
    if constexpr (!kRms) sum_gd += hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
    sum_gdx += hn::GetLane(hn::SumOfLanes(d, hn::Add(t0, t1)));
  };
  double sum_gd = 0, sum_gdx = 0;
  sums(view.At(begin), true, sum_gd, sum_gdx);
  for (int64_t r = begin; r < end; ++r) {
    const Row<T> row = view.At(r);
    const bool has_next = r + 1 < end;
    const Row<T> next = has_next ? view.At(r + 1) : Row<T>{nullptr, nullptr, 0.0f, 0.0f};
    float c0, c1;
    view.Coefficients(row.rstd, sum_gd, sum_gdx, c0, c1);
    DxRange<kRms, true, kStream>(d, row, gamma, view.Dx(r), 0, cols, cols, c0, c1, next.x,
                                 next.dy);
    sum_gd = 0;
    sum_gdx = 0;
    if (has_next) sums(next, false, sum_gd, sum_gdx);
  }
  HWY_UNROLL(8)
  for (size_t k = 0; k < kNv; ++k) {
    hn::StoreU(pg[k], d, acc_g + k * N);
    if constexpr (!kRms) hn::StoreU(pb[k], d, acc_b + k * N);
  }
}

// RegisterRows with kNv = cols / Lanes(d), for 1 <= that <= kMax; returns
// false (and computes nothing) for other rows.
template <size_t kMax, typename T, bool kRms, bool kStream, class D>
HWY_INLINE bool RegisterRowsN(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* acc_g, float* acc_b) {
  if constexpr (kMax == 0) {
    return false;
  } else {
    if (static_cast<size_t>(args.cols) == kMax * hn::Lanes(d)) {
      RegisterRows<kMax, T, kRms, kStream>(d, args, begin, end, acc_g, acc_b);
      return true;
    }
    return RegisterRowsN<kMax - 1, T, kRms, kStream>(d, args, begin, end, acc_g, acc_b);
  }
}
#endif  // LNBENCH_HWY_BWD_REGISTER_PARTIALS

// Rows with gamma: from 24 KiB of gamma and partials on (16 KiB streamed;
// BwdGroupsRows) in groups: fused groups where BwdFusedGroups says so, else
// 16-bit rows in chunked groups and f32 rows in pairs; shorter rows one at a
// time.
template <typename T, bool kRms, bool kStream, class D>
HWY_INLINE void AffineRows(D d, const HwyBwdArgs& args, int64_t begin, int64_t end,
                           float* dgamma_part, float* dbeta_part) {
  if (!BwdGroupsRows(kRms ? Norm::kRmsNorm : Norm::kLayerNorm, args.cols, kStream)) {
#if LNBENCH_HWY_BWD_REGISTER_PARTIALS
    if (args.register_partials &&
        RegisterRowsN<kRegisterRowVectors, T, kRms, kStream>(d, args, begin, end, dgamma_part,
                                                             dbeta_part)) {
      return;
    }
#endif
    RowsWithTag<T, kRms, true, kStream>(d, args, begin, end, dgamma_part, dbeta_part);
  } else if (BwdFusedGroups(args.groups, args.cols, args.dx, kStream) &&
             static_cast<size_t>(args.cols) % (2 * hn::Lanes(d)) == 0) {
    FusedGroups<T, kRms, kStream>(d, args, begin, end, dgamma_part, dbeta_part);
  } else if constexpr (sizeof(T) == 2) {
    ChunkedGroups<kChunkedRows, T, kRms, kStream>(d, args, begin, end, dgamma_part, dbeta_part);
  } else {
    RowPairs<kGroupRows, T, kRms, true, kStream>(d, args, begin, end, dgamma_part, dbeta_part);
  }
}

// Whether a row's rstd (rrms) puts dx's coefficient c1 = -rstd^2 * b outside
// f32's normal range: rows whose spread is about 2^50 or more (x near 1e24:
// rstd^2 underflows) or, with eps near 0, 2^-50 or less (rstd^2 overflows).
// Their dx was off by 4.7e4 to 9.7e4 times the allowance, or infinite, on
// every target. Never true at the default eps (rstd <= 1/sqrt(1e-5)); an
// infinite or zero rstd (a constant row with eps = 0, a row with Inf) keeps
// the vector path's IEEE result.
HWY_INLINE bool ExtremeRstd(float rstd) {
  return rstd != 0 && std::isfinite(rstd) && (rstd > 0x1p50f || rstd < 0x1p-50f);
}

// Writes dx of row r again in double, as the scalar backend computes it:
// xhat = (x - mean) * rstd, gd = g * dy, a = sum gd / H, b = sum gd * xhat / H,
// dx = rstd * ((gd - a) - xhat * b), rounded once to f32 and then to T (the
// rows ExtremeRstd picks; their sums and partials in f32 hold: xhat is of
// ordinary size).
template <typename T, bool kRms>
HWY_NOINLINE void ExactDxRow(const HwyBwdArgs& args, int64_t r) {
  constexpr ::lnbench::DType kDType = ElementDType<T>();
  const size_t cols = static_cast<size_t>(args.cols);
  const size_t first = static_cast<size_t>(r) * cols;
  const double mean = kRms ? 0.0 : static_cast<double>(args.mean[r]);
  const double rstd = args.rstd[r];
  const auto xhat = [&](size_t j) { return (::lnbench::LoadAsDouble(kDType, args.x, first + j) - mean) * rstd; };
  const auto gd = [&](size_t j) {
    const double g = args.gamma != nullptr ? static_cast<double>(args.gamma[j]) : 1.0;
    return g * ::lnbench::LoadAsDouble(kDType, args.dy, first + j);
  };
  double sum_gd = 0, sum_gdx = 0;
  for (size_t j = 0; j < cols; ++j) {
    sum_gd += gd(j);
    sum_gdx += gd(j) * xhat(j);
  }
  const double a = kRms ? 0.0 : sum_gd / static_cast<double>(cols);
  const double b = sum_gdx / static_cast<double>(cols);
  for (size_t j = 0; j < cols; ++j)
    ::lnbench::StoreFromDouble(kDType, args.dx, first + j, rstd * ((gd(j) - a) - xhat(j) * b));
}

// Computes rows [begin, end) of a problem whose x, dy and dx hold T (below),
// then writes dx again for the rows ExtremeRstd picks.
template <typename T, bool kRms>
HWY_NOINLINE void NormBwdRowsVector(const HwyBwdArgs& args, int64_t begin, int64_t end,
                                    float* dgamma_part, float* dbeta_part);

template <typename T, bool kRms>
HWY_NOINLINE void NormBwdRows(const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* dgamma_part, float* dbeta_part) {
  if (begin >= end) return;
  NormBwdRowsVector<T, kRms>(args, begin, end, dgamma_part, dbeta_part);
  for (int64_t r = begin; r < end; ++r)
    if (HWY_UNLIKELY(ExtremeRstd(args.rstd[r]))) ExactDxRow<T, kRms>(args, r);
}

// Computes rows [begin, end) of a problem whose x, dy and dx hold T: one
// lane at a time for rows shorter than a vector, streaming stores for dx
// when asked and the rows are long enough to hold whole cache lines. Without
// gamma there are no partials to share: single rows.
template <typename T, bool kRms>
HWY_NOINLINE void NormBwdRowsVector(const HwyBwdArgs& args, int64_t begin, int64_t end,
                                    float* dgamma_part, float* dbeta_part) {
  const hn::ScalableTag<float> d;
  const size_t cols = static_cast<size_t>(args.cols);
  const bool affine = args.gamma != nullptr;
  if (cols < hn::Lanes(d)) {
    const hn::CappedTag<float, 1> d1;
    if (affine) {
      RowsWithTag<T, kRms, true, false>(d1, args, begin, end, dgamma_part, dbeta_part);
    } else {
      RowsWithTag<T, kRms, false, false>(d1, args, begin, end, nullptr, nullptr);
    }
    return;
  }
  const bool stream = StreamRows<T>(d, cols, args.stream);
  if (stream) {
#if LNBENCH_HWY_CAN_STREAM
    if (affine) {
      AffineRows<T, kRms, true>(d, args, begin, end, dgamma_part, dbeta_part);
    } else {
      RowsWithTag<T, kRms, false, true>(d, args, begin, end, nullptr, nullptr);
    }
    // Streaming stores are weakly ordered: make them visible before the
    // thread pool reports these rows as done.
    hwy::FlushStream();
#endif
  } else if (affine) {
    AffineRows<T, kRms, false>(d, args, begin, end, dgamma_part, dbeta_part);
  } else {
    RowsWithTag<T, kRms, false, false>(d, args, begin, end, nullptr, nullptr);
  }
}

}  // namespace bwd
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#endif  // LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_INL_H_
