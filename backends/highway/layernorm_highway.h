// Entry points of the Highway LayerNorm kernels (layernorm_highway.cc).
// A plain header, like Highway's skeleton.h: no SIMD types, so any file can
// include it; the per-target code lives in layernorm_highway-inl.h.
#ifndef LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_H_
#define LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace lnbench {

// LayerNorm rows of at most this many columns go in batches of four rows
// (ShortRowsWithTag in layernorm_highway-inl.h) when they stay in cache, and
// 16-bit ones at any size (the backend's UnstreamedByDefault keeps ordinary
// stores for them). Rows of any alignment; a row is one block on every
// target, 128 columns being the scalar target's block. Hot, 256 KiB of x, one
// thread, three alternating runs of `lnbench_highway_bench hot`, batches
// against row groups: f32 H = 64-128 10-12% less time (H = 128: 13.9 against
// 15.6 us; H = 192 5%), f16 H = 64-128 12-15% less, H = 192 the same; bf16 H
// = 128 and f32 H = 256 the same, bf16 H = 256-512 8-10% more: longer rows
// keep the groups.
constexpr size_t kCachedBatchMaxCols = 128;

// One problem as the row kernels see it. x and y hold rows*cols elements of
// the problem's dtype, row r at element r*cols (rows need not be aligned).
struct HwyRowsArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const float* gamma = nullptr;  // nullptr: no affine transform
  const float* beta = nullptr;   // nullptr exactly when gamma is
  float* mean = nullptr;         // nullptr: statistics not written
  float* rstd = nullptr;         // nullptr exactly when mean is
  int64_t cols = 1;
  double eps = 1e-5;
  // Write y with streaming (non-temporal) stores: for outputs larger than the
  // last-level cache, where ordinary stores would first read every line.
  bool stream = false;
  // Allow rows to be processed in groups or batches where that is faster
  // (see layernorm_highway-inl.h); off: one row at a time. Results are the
  // same bits either way; tests turn it off to compare the paths, and the
  // backend for short rows beyond the cache (SingleRowsByDefault in
  // highway_backend.cc).
  bool row_groups = true;
  // Streamed 16-bit rows that take the chunked row groups (ChunkedRowGroup)
  // go in interleaved groups instead (InterleavedGroupsWithTag), when their
  // rows start on cache lines. The same bits either way; the backend picks
  // per CPU (--tune groups16).
  bool interleaved_16bit = false;
};

// Computes rows [begin, end) of `args`.
using HwyRowsFn = void (*)(const HwyRowsArgs& args, int64_t begin, int64_t end);

// Returns the kernel for `dtype` compiled for Highway target `target_bits`
// (one HWY_* bit from HighwayCompiledTargets()), or nullptr if that target
// was not compiled.
HwyRowsFn HighwayRowsFunction(DType dtype, int64_t target_bits);

// The kernels' element conversions on their own, for tests: every target
// must round to nearest even and keep Inf and NaN.
// Stores n floats as `dtype` (f32 copied, bf16/f16 rounded) the way y is stored.
using HwyStoreFn = void (*)(const float* in, void* out, size_t n);
// Widens n elements of `dtype` to float the way x is loaded.
using HwyLoadFn = void (*)(const void* in, float* out, size_t n);
HwyStoreFn HighwayStoreFunction(DType dtype, int64_t target_bits);
HwyLoadFn HighwayLoadFunction(DType dtype, int64_t target_bits);

// Returns whether the kernels of Highway target `target_bits` use the CPU's
// AVX512_BF16 instructions for bf16 data (VCVTNE2PS2BF16 stores, VDPBF16PS
// sums): the AVX-512 targets on a CPU that has them.
bool HighwayNativeBF16(int64_t target_bits);

// The statistics' native bf16 sums on their own, for tests: sets *sum and
// *sum_sq to sum x and sum x^2 over the n >= 16 bf16 elements at x and
// returns true where the target and CPU sum bf16 natively (VDPBF16PS:
// AVX3/AVX3_DL on a CPU with AVX512_BF16); else returns false.
using HwyRawSumsFn = bool (*)(const void* x, size_t n, float* sum, float* sum_sq);
HwyRawSumsFn HighwayRawSumsFunction(int64_t target_bits);

// A row's mean and M2 (sum of (x - mean)^2) in double, for tests: as the
// first row of a call gets them (side_by_side: whole blocks side by side)
// or as the rows after it do (block by block). cols >= the target's lanes.
using HwyRowMomentsFn = void (*)(const void* x, size_t cols, bool side_by_side, double* mean,
                                 double* m2);
HwyRowMomentsFn HighwayRowMomentsFunction(DType dtype, int64_t target_bits);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_LAYERNORM_HIGHWAY_H_
