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

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lnbench {

HWY_EXPORT(RmsNormRowsF32);
HWY_EXPORT(RmsNormRowsBF16);
HWY_EXPORT(RmsNormRowsF16);

HwyRmsRowsFn HighwayRmsNormRowsFunction(DType dtype, int64_t target_bits) {
  if (target_bits == 0 || (target_bits & (target_bits - 1)) != 0 || (target_bits & HWY_TARGETS) == 0)
    return nullptr;
  hwy::ChosenTarget chosen;
  chosen.Update(target_bits);
  const size_t index = chosen.GetIndex();
  switch (dtype) {
    case DType::kF32: return HWY_DISPATCH_TABLE(RmsNormRowsF32)[index];
    case DType::kBF16: return HWY_DISPATCH_TABLE(RmsNormRowsBF16)[index];
    case DType::kF16: return HWY_DISPATCH_TABLE(RmsNormRowsF16)[index];
  }
  return nullptr;
}

}  // namespace lnbench
#endif  // HWY_ONCE
