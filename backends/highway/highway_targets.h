// The Highway SIMD targets of this build, for variant lists and report
// contexts. A plain header: no Highway or SIMD types.
#ifndef LNBENCH_BACKENDS_HIGHWAY_HIGHWAY_TARGETS_H_
#define LNBENCH_BACKENDS_HIGHWAY_HIGHWAY_TARGETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lnbench {

// One Highway target compiled into this build.
struct HighwayTarget {
  int64_t bits = 0;       // the HWY_* target bit
  std::string name;       // hwy::TargetName lower-cased: "avx3", "avx2", "emu128"
  bool supported = false; // this CPU (and any test mock) can run it
};

// Returns every target compiled into this build, best first.
std::vector<HighwayTarget> HighwayCompiledTargets();
// Returns the lower-case names of the compiled targets this CPU supports,
// best first ("avx3", "avx2", "sse4", "scalar" on Zen 5 with GCC 12).
std::vector<std::string> HighwaySupportedTargetNames();
// Returns the target Highway's dynamic dispatch picks on this CPU now.
HighwayTarget HighwayBestTarget();
// Returns the lower-case name of any target bit Highway knows ("neon" for
// HWY_NEON), or "" for a bit that names no target.
std::string HighwayTargetName(int64_t bits);

// Returns the index of `target_bits` in the tables HWY_EXPORT builds (the one
// HWY_DYNAMIC_DISPATCH would use if that target were the best), or -1 when
// it is not exactly one compiled target.
int HighwayDispatchIndex(int64_t target_bits);

// Returns the kernel for `dtype` compiled for Highway target `target_bits`
// from the HWY_EXPORT tables of the f32, bf16 and f16 kernels
// (HWY_DISPATCH_TABLE), or nullptr when that target was not compiled.
template <typename Fn>
Fn KernelFor(DType dtype, int64_t target_bits, const Fn* f32, const Fn* bf16, const Fn* f16) {
  const int index = HighwayDispatchIndex(target_bits);
  if (index < 0) return nullptr;
  switch (dtype) {
    case DType::kF32: return f32[index];
    case DType::kBF16: return bf16[index];
    case DType::kF16: return f16[index];
  }
  return nullptr;
}

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_HIGHWAY_TARGETS_H_
