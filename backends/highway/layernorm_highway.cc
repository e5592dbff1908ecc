// The Highway LayerNorm kernels, compiled once per SIMD target (the shape of
// Highway's skeleton.cc): foreach_target.h re-includes this file for every
// target in HWY_TARGETS, then HWY_ONCE code exports one non-template entry
// point per dtype and picks a target at run time.
#include <cctype>
#include <string>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backends/highway/layernorm_highway.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

#include "backends/highway/layernorm_highway-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {

void LayerNormRowsF32(const HwyRowsArgs& args, int64_t begin, int64_t end) {
  LayerNormRows<float>(args, begin, end);
}
void LayerNormRowsBF16(const HwyRowsArgs& args, int64_t begin, int64_t end) {
  LayerNormRows<hwy::bfloat16_t>(args, begin, end);
}
void LayerNormRowsF16(const HwyRowsArgs& args, int64_t begin, int64_t end) {
  LayerNormRows<hwy::float16_t>(args, begin, end);
}

// Returns the target this copy was compiled for (what dispatch chose).
int64_t CompiledTarget() { return HWY_TARGET; }

void StoreValuesF32(const float* in, void* out, size_t n) {
  StoreValues(in, static_cast<float*>(out), n);
}
void StoreValuesBF16(const float* in, void* out, size_t n) {
  StoreValues(in, static_cast<hwy::bfloat16_t*>(out), n);
}
void StoreValuesF16(const float* in, void* out, size_t n) {
  StoreValues(in, static_cast<hwy::float16_t*>(out), n);
}
void LoadValuesF32(const void* in, float* out, size_t n) {
  LoadValues(static_cast<const float*>(in), out, n);
}
void LoadValuesBF16(const void* in, float* out, size_t n) {
  LoadValues(static_cast<const hwy::bfloat16_t*>(in), out, n);
}
void LoadValuesF16(const void* in, float* out, size_t n) {
  LoadValues(static_cast<const hwy::float16_t*>(in), out, n);
}

// Returns whether this target uses the CPU's AVX512_BF16 instructions.
bool NativeBF16() {
#if LNBENCH_HWY_NATIVE_BF16
  return kHaveAvx512BF16;
#else
  return false;
#endif
}

// RawSums<true> of bf16 x[0, n) (n >= Lanes), for tests.
bool RawSumsBF16(const void* x, size_t n, float* sum, float* sum_sq) {
  const hn::ScalableTag<float> d;
  if (n < hn::Lanes(d)) return false;
  return RawSums<true>(d, static_cast<const hwy::bfloat16_t*>(x), 0, n, *sum, *sum_sq);
}

// A row's statistics, for tests: RowMoments (whole blocks side by side) or
// AccumulateBlock block by block, as the rows after a call's first get them.
template <typename T>
void RowMomentsOf(const void* x, size_t cols, bool side_by_side, double* mean, double* m2) {
  const hn::ScalableTag<float> d;
  const T* row = static_cast<const T*>(x);
  Moments m;
  if (side_by_side) {
    m = RowMoments(d, row, cols);
  } else {
    const size_t block = BlockElements(d);
    for (size_t b = 0; b < cols; b += block) AccumulateBlock(d, row, b, std::min(cols, b + block), m);
  }
  *mean = m.mean;
  *m2 = m.m2;
}
void RowMomentsF32(const void* x, size_t cols, bool side_by_side, double* mean, double* m2) {
  RowMomentsOf<float>(x, cols, side_by_side, mean, m2);
}
void RowMomentsBF16(const void* x, size_t cols, bool side_by_side, double* mean, double* m2) {
  RowMomentsOf<hwy::bfloat16_t>(x, cols, side_by_side, mean, m2);
}
void RowMomentsF16(const void* x, size_t cols, bool side_by_side, double* mean, double* m2) {
  RowMomentsOf<hwy::float16_t>(x, cols, side_by_side, mean, m2);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "backends/highway/highway_targets.h"
#include "backends/highway/layernorm_highway.h"

namespace lnbench {

HWY_EXPORT(LayerNormRowsF32);
HWY_EXPORT(LayerNormRowsBF16);
HWY_EXPORT(LayerNormRowsF16);
HWY_EXPORT(CompiledTarget);
HWY_EXPORT(StoreValuesF32);
HWY_EXPORT(StoreValuesBF16);
HWY_EXPORT(StoreValuesF16);
HWY_EXPORT(LoadValuesF32);
HWY_EXPORT(LoadValuesBF16);
HWY_EXPORT(LoadValuesF16);
HWY_EXPORT(RawSumsBF16);
HWY_EXPORT(NativeBF16);
HWY_EXPORT(RowMomentsF32);
HWY_EXPORT(RowMomentsBF16);
HWY_EXPORT(RowMomentsF16);

int HighwayDispatchIndex(int64_t target_bits) {
  if (target_bits == 0 || (target_bits & (target_bits - 1)) != 0 ||
      (target_bits & HWY_TARGETS) == 0) {
    return -1;
  }
  hwy::ChosenTarget chosen;
  chosen.Update(target_bits);
  return static_cast<int>(chosen.GetIndex());
}

HwyRowsFn HighwayRowsFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(LayerNormRowsF32),
                   HWY_DISPATCH_TABLE(LayerNormRowsBF16), HWY_DISPATCH_TABLE(LayerNormRowsF16));
}

HwyStoreFn HighwayStoreFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(StoreValuesF32),
                   HWY_DISPATCH_TABLE(StoreValuesBF16), HWY_DISPATCH_TABLE(StoreValuesF16));
}

HwyLoadFn HighwayLoadFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(LoadValuesF32),
                   HWY_DISPATCH_TABLE(LoadValuesBF16), HWY_DISPATCH_TABLE(LoadValuesF16));
}

HwyRawSumsFn HighwayRawSumsFunction(int64_t target_bits) {
  const int index = HighwayDispatchIndex(target_bits);
  return index < 0 ? nullptr : HWY_DISPATCH_TABLE(RawSumsBF16)[index];
}

HwyRowMomentsFn HighwayRowMomentsFunction(DType dtype, int64_t target_bits) {
  return KernelFor(dtype, target_bits, HWY_DISPATCH_TABLE(RowMomentsF32),
                   HWY_DISPATCH_TABLE(RowMomentsBF16), HWY_DISPATCH_TABLE(RowMomentsF16));
}

bool HighwayNativeBF16(int64_t target_bits) {
  const int index = HighwayDispatchIndex(target_bits);
  return index >= 0 && HWY_DISPATCH_TABLE(NativeBF16)[index]();
}

std::string HighwayTargetName(int64_t bits) {
  std::string name = hwy::TargetName(bits);
  if (name == "Unknown") return "";
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::vector<HighwayTarget> HighwayCompiledTargets() {
  std::vector<HighwayTarget> targets;
  const int64_t supported = hwy::SupportedTargets();
  // Lower bits are better targets.
  for (int64_t rest = HWY_TARGETS; rest != 0; rest &= rest - 1) {
    const int64_t bits = rest & -rest;
    targets.push_back({bits, HighwayTargetName(bits), (supported & bits) != 0});
  }
  return targets;
}

std::vector<std::string> HighwaySupportedTargetNames() {
  std::vector<std::string> names;
  for (const HighwayTarget& t : HighwayCompiledTargets())
    if (t.supported) names.push_back(t.name);
  return names;
}

HighwayTarget HighwayBestTarget() {
  // Asking a dispatched function which copy ran is exactly dispatch's choice
  // (and honours hwy::SetSupportedTargetsForTest in tests).
  const int64_t bits = HWY_DYNAMIC_DISPATCH(CompiledTarget)();
  return {bits, HighwayTargetName(bits), true};
}

}  // namespace lnbench
#endif  // HWY_ONCE
