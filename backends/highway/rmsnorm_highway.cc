// The Highway RMSNorm forward kernels, compiled once per SIMD target (the
// shape of Highway's skeleton.cc; layernorm_highway.cc does the same for
// LayerNorm).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backends/highway/rmsnorm_highway.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

#include "backends/highway/rmsnorm_highway-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {

void RmsNormRowsF32(const HwyRmsArgs& args, int64_t begin, int64_t end) {
  rms::RmsNormRows<float>(args, begin, end);
}
void RmsNormRowsBF16(const HwyRmsArgs& args, int64_t begin, int64_t end) {
  rms::RmsNormRows<hwy::bfloat16_t>(args, begin, end);
}
void RmsNormRowsF16(const HwyRmsArgs& args, int64_t begin, int64_t end) {
  rms::RmsNormRows<hwy::float16_t>(args, begin, end);
}

// A row's sum of squares, for tests: RowSumSquares (whole blocks side by
// side) or SumSquares block by block, as the rows after a call's first.
template <typename T>
double RowSquaresOf(const void* x, size_t cols, bool side_by_side) {
  const hn::ScalableTag<float> d;
  const T* row = static_cast<const T*>(x);
  if (side_by_side) return rms::RowSumSquares(d, row, cols);
  const size_t block = rms::BlockElements(d);
  double q = 0;
  for (size_t b = 0; b < cols; b += block) q += rms::SumSquares(d, row, b, std::min(cols, b + block));
  return q;
}
double RowSquaresF32(const void* x, size_t cols, bool side_by_side) {
  return RowSquaresOf<float>(x, cols, side_by_side);
}
double RowSquaresBF16(const void* x, size_t cols, bool side_by_side) {
  return RowSquaresOf<hwy::bfloat16_t>(x, cols, side_by_side);
}
double RowSquaresF16(const void* x, size_t cols, bool side_by_side) {
  return RowSquaresOf<hwy::float16_t>(x, cols, side_by_side);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "backends/highway/highway_targets.h"

namespace lnbench {

HWY_EXPORT(RmsNormRowsF32);
HWY_EXPORT(RmsNormRowsBF16);
HWY_EXPORT(RmsNormRowsF16);
HWY_EXPORT(RowSquaresF32);
HWY_EXPORT(RowSquaresBF16);
HWY_EXPORT(RowSquaresF16);

HwyRmsRowsFn HighwayRmsNormRowsFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(RmsNormRowsF32),
                   HWY_DISPATCH_TABLE(RmsNormRowsBF16), HWY_DISPATCH_TABLE(RmsNormRowsF16));
}

HwyRowSquaresFn HighwayRowSquaresFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(RowSquaresF32),
                   HWY_DISPATCH_TABLE(RowSquaresBF16), HWY_DISPATCH_TABLE(RowSquaresF16));
}

}  // namespace lnbench
#endif  // HWY_ONCE
