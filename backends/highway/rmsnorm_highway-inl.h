// Per-target RMSNorm forward kernels (included once per SIMD target by
// rmsnorm_highway.cc through foreach_target.h; no include guard on purpose,
// as Highway's skeleton-inl.h).
//
// One row: q = sum of x^2 in f32 vectors over blocks of kRmsBlock elements
// (four accumulators, so each lane adds at most kRmsBlock / (4 N) terms),
// the block sums added in double; rrms = 1/sqrt(q/H + eps) in double, once
// per row; then y = (x * rrms) * gamma in f32. The block sums keep the error
// of q near (kRmsBlock / (4 N) + log2 H) eps_f32 relative for any H (a single
// f32 chain over a 2^20-wide row would drift by thousands of ulps on rows of
// one magnitude), well inside docs/verification.md's bound.
#if defined(LNBENCH_RMSNORM_HIGHWAY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LNBENCH_RMSNORM_HIGHWAY_INL_H_
#undef LNBENCH_RMSNORM_HIGHWAY_INL_H_
#else
#define LNBENCH_RMSNORM_HIGHWAY_INL_H_
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backends/highway/rmsnorm_highway.h"
#include "core/dtype.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {
namespace rms {

namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kRmsBlock = 1024;

// Returns element i of a row of T as float (one lane; tails).
template <typename T>
HWY_INLINE float LoadOne(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) {
    return p[i];
  } else {
    uint16_t bits;
    std::memcpy(&bits, p + i, 2);
    return std::is_same_v<T, hwy::bfloat16_t> ? BF16ToFloat(bits) : F16ToFloat(bits);
  }
}

// Stores v as element i of a row of T, rounded to nearest even.
template <typename T>
HWY_INLINE void StoreOne(float v, T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) {
    p[i] = v;
  } else {
    const uint16_t bits = std::is_same_v<T, hwy::bfloat16_t> ? FloatToBF16(v) : FloatToF16(v);
    std::memcpy(p + i, &bits, 2);
  }
}

// x86 targets from AVX2 up convert f16 in hardware (F16C). Highway 1.0.3's
// emulated f16 PromoteTo on the others turns Inf and NaN into finite values,
// so there the lanes are widened one by one.
#undef LNBENCH_RMS_HAVE_F16C
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
#define LNBENCH_RMS_HAVE_F16C 1
#else
#define LNBENCH_RMS_HAVE_F16C 0
#endif

// Loads Lanes(d) elements of T at p as floats.
template <class D, typename T>
HWY_INLINE hn::Vec<D> LoadVec(D d, const T* HWY_RESTRICT p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(d, p);
  } else if constexpr (std::is_same_v<T, hwy::float16_t> && !LNBENCH_RMS_HAVE_F16C) {
    HWY_ALIGN float lanes[64];
    const size_t n = hn::Lanes(d);
    for (size_t i = 0; i < n; ++i) lanes[i] = LoadOne(p, static_cast<int64_t>(i));
    return hn::Load(d, lanes);
  } else {
    const hn::Rebind<T, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, p));
  }
}

// Returns sum of x^2 over [begin, end) of a row, in f32 vectors.
template <class D, typename T>
HWY_INLINE float SumSquaresBlock(D d, const T* HWY_RESTRICT x, int64_t begin, int64_t end) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = begin;
  for (; i + 4 * n <= end; i += 4 * n) {
    const auto v0 = LoadVec(d, x + i), v1 = LoadVec(d, x + i + n);
    const auto v2 = LoadVec(d, x + i + 2 * n), v3 = LoadVec(d, x + i + 3 * n);
    a0 = hn::MulAdd(v0, v0, a0);
    a1 = hn::MulAdd(v1, v1, a1);
    a2 = hn::MulAdd(v2, v2, a2);
    a3 = hn::MulAdd(v3, v3, a3);
  }
  for (; i + n <= end; i += n) {
    const auto v = LoadVec(d, x + i);
    a0 = hn::MulAdd(v, v, a0);
  }
  float tail = 0;
  for (; i < end; ++i) {
    const float v = LoadOne(x, i);
    tail += v * v;
  }
  const auto sum = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  return hn::GetLane(hn::SumOfLanes(d, sum)) + tail;
}

template <typename T>
void RmsNormRows(const HwyRmsArgs& args, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cols = args.cols;
  const float* HWY_RESTRICT gamma = args.gamma;
  // A chunk of y as floats before a 16-bit store.
  HWY_ALIGN float chunk[kRmsBlock];
  for (int64_t r = begin; r < end; ++r) {
    const T* HWY_RESTRICT x = static_cast<const T*>(args.x) + r * cols;
    T* HWY_RESTRICT y = static_cast<T*>(args.y) + r * cols;
    double q = 0;
    for (int64_t b = 0; b < cols; b += kRmsBlock)
      q += SumSquaresBlock(d, x, b, b + kRmsBlock < cols ? b + kRmsBlock : cols);
    const double rrms_d = 1.0 / std::sqrt(q / static_cast<double>(cols) + args.eps);
    const float rrms = static_cast<float>(rrms_d);
    if (args.rstd != nullptr) args.rstd[r] = rrms;
    const auto vr = hn::Set(d, rrms);
    for (int64_t b = 0; b < cols; b += kRmsBlock) {
      const int64_t e = b + kRmsBlock < cols ? b + kRmsBlock : cols;
      int64_t i = b;
      for (; i + n <= e; i += n) {
        auto v = hn::Mul(LoadVec(d, x + i), vr);
        if (gamma != nullptr) v = hn::Mul(v, hn::LoadU(d, gamma + i));
        if constexpr (std::is_same_v<T, float>) {
          hn::StoreU(v, d, y + i);
        } else {
          hn::StoreU(v, d, chunk + (i - b));
        }
      }
      for (; i < e; ++i) {
        float v = LoadOne(x, i) * rrms;
        if (gamma != nullptr) v *= gamma[i];
        if constexpr (std::is_same_v<T, float>) {
          y[i] = v;
        } else {
          chunk[i - b] = v;
        }
      }
      if constexpr (!std::is_same_v<T, float>) {
        for (int64_t k = b; k < e; ++k) StoreOne(chunk[k - b], y, k);
      }
    }
  }
}

}  // namespace rms
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#endif  // LNBENCH_RMSNORM_HIGHWAY_INL_H_
