// Entry points of the Highway RMSNorm forward kernels (rmsnorm_highway.cc).
// A plain header: no SIMD types; the per-target code is in rmsnorm_highway-inl.h.
#ifndef LNBENCH_BACKENDS_HIGHWAY_RMSNORM_HIGHWAY_H_
#define LNBENCH_BACKENDS_HIGHWAY_RMSNORM_HIGHWAY_H_

#include <cstdint>

#include "core/dtype.h"

namespace lnbench {

// One RMSNorm problem as the row kernels see it: x and y rows*cols elements
// of the dtype, row r at element r*cols (rows need not be aligned).
struct HwyRmsArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const float* gamma = nullptr;  // nullptr: no affine scale
  float* rstd = nullptr;         // nullptr: rrms not written
  int64_t cols = 1;
  double eps = 1e-5;
  // Write y with streaming (non-temporal) stores (see HwyRowsArgs::stream).
  bool stream = false;
  // Allow rows in groups or batches where that is faster
  // (rmsnorm_highway-inl.h); off: one row at a time. The same bits either
  // way (see HwyRowsArgs::row_groups).
  bool row_groups = true;
  // Streamed 16-bit rows of the chunked groups' widths on cache lines go in
  // interleaved groups instead (see HwyRowsArgs::interleaved_16bit).
  bool interleaved_16bit = false;
};

// Computes rows [begin, end) of `args`.
using HwyRmsRowsFn = void (*)(const HwyRmsArgs& args, int64_t begin, int64_t end);

// Returns the kernel for `dtype` compiled for Highway target `target_bits`,
// or nullptr if that target was not compiled.
HwyRmsRowsFn HighwayRmsNormRowsFunction(DType dtype, int64_t target_bits);

// A row's sum of squares in double, for tests: as the first row of a call
// gets it (side_by_side: whole blocks side by side) or as the rows after it
// do (block by block). cols >= the target's lanes.
using HwyRowSquaresFn = double (*)(const void* x, size_t cols, bool side_by_side);
HwyRowSquaresFn HighwayRowSquaresFunction(DType dtype, int64_t target_bits);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_RMSNORM_HIGHWAY_H_
