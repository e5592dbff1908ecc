// The data cache sizes the Highway kernels' path choices assume. A plain
// header (no SIMD types), so the per-target -inl.h files and the plain
// backward header share one value.
#ifndef LNBENCH_BACKENDS_HIGHWAY_CACHE_SIZES_H_
#define LNBENCH_BACKENDS_HIGHWAY_CACHE_SIZES_H_

#include <cstddef>

namespace lnbench {

// The L1 data cache per core: 32 KiB on Zen 2-4 and on Intel cores before
// Ice Lake (48 KiB since). The row-group limits of the forward
// (RowGroupCount, ChunkedRowGroup in norm_rows-inl.h) and of the backward
// (BwdGroupsRows in norm_bwd_highway.h) are fractions of it, each measured
// on Zen 4. Zen 5 has 48 KiB; whether the limits should follow a larger L1
// was not measured, so they stay at 32 KiB's fractions everywhere.
inline constexpr size_t kL1DataBytes = 32 * 1024;

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_CACHE_SIZES_H_
