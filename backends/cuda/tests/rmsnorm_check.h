// A float64 RMSNorm reference and its pass rule for the CUDA tests (the
// emulation test on the CPU, the backend test on a GPU).
// TODO(issue 12): replace with the core's float64 RMSNorm reference
// (reference/) and its per-tensor bound (metrics) once the op-generic core
// lands. The rule is the one docs/cuda.md ("RMSNorm: the pass rule") derives.
#ifndef LNBENCH_BACKENDS_CUDA_TESTS_RMSNORM_CHECK_H_
#define LNBENCH_BACKENDS_CUDA_TESTS_RMSNORM_CHECK_H_

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/metrics.h"
#include "core/problem.h"

namespace lnbench {

// The float64 RMSNorm outputs of a problem: y (rows*cols) and rrms (rows).
struct RmsReference {
  std::vector<double> y, rrms;
};

// rrms = 1/sqrt(mean(x^2) + eps) per row, y = x * rrms * gamma. The squares of
// f32/bf16/f16 inputs are exact in float64 (at most 48 significant bits) and
// summed with Neumaier's compensation, so the sum is within about one float64
// ulp. Rows with Inf (no NaN) give rrms = 0, y = 0 for finite x and NaN for
// the infinite ones (x * 0); rows with NaN give NaN.
inline RmsReference ComputeRmsReference(const Problem& p, const void* x, const float* gamma) {
  RmsReference r;
  r.y.resize(static_cast<size_t>(p.elements()));
  r.rrms.resize(static_cast<size_t>(p.rows));
  for (int64_t row = 0; row < p.rows; ++row) {
    double sum = 0, comp = 0;
    for (int64_t j = 0; j < p.cols; ++j) {
      const double v = LoadAsDouble(p.dtype, x, row * p.cols + j);
      const double sq = v * v;
      const double t = sum + sq;
      comp += std::fabs(sum) >= sq ? (sum - t) + sq : (sq - t) + sum;
      sum = t;
    }
    const double total = std::isfinite(sum) ? sum + comp : sum;
    const double rrms = 1.0 / std::sqrt(total / static_cast<double>(p.cols) + p.eps);
    r.rrms[row] = rrms;
    for (int64_t j = 0; j < p.cols; ++j) {
      const double g = gamma != nullptr ? gamma[j] : 1.0;
      r.y[row * p.cols + j] = LoadAsDouble(p.dtype, x, row * p.cols + j) * rrms * g;
    }
  }
  return r;
}

// The outcome of the RMSNorm rule on one run.
struct RmsCheck {
  bool passed = true;
  std::string reason;  // the first failure, where and by how much
  int64_t failed = 0;
  double max_ratio = 0;  // largest share of the compute allowance used (headroom = 1 / it)
};

// Checks y (and rstd when not null) against the reference:
//   |got - ref| <= 1/2 ulp_out(max(|got|, |ref|)) + C(H) eps_f32 |gamma| (|x| rrms + 1)
//   |got - rrms| <= 1/2 ulp_f32(max(|got|, |rrms|)) + C(H) eps_f32 rrms
// with LayerNorm's C(H) (ThresholdsFor); a NaN reference wants NaN, the poison
// pattern is an unwritten element, any other non-finite value fails.
inline RmsCheck CheckRmsNorm(const Problem& p, const void* x, const float* gamma,
                      const RmsReference& ref, const void* y, const float* rstd) {
  RmsCheck c;
  // LayerNorm forward's C(H) (docs/cuda.md): asked of the layernorm problem
  // of the same shape, as the core has no RMSNorm op descriptor yet.
  Problem layernorm = p;
  layernorm.norm = Norm::kLayerNorm;
  layernorm.dir = Direction::kForward;
  const double units = ThresholdsFor(layernorm).compute_eps_units;
  constexpr double kEpsF32 = 0x1p-23;
  auto judge = [&](const char* what, int64_t row, int64_t col, bool unwritten, double got,
                   double want, DType dtype, double scale) {
    std::string why;
    if (unwritten) {
      why = "unwritten";
    } else if (std::isnan(want) || std::isnan(got) || std::isinf(want) || std::isinf(got)) {
      if (!(std::isnan(want) && std::isnan(got)) && got != want) why = "non-finite mismatch";
    } else {
      const double rounding = 0.5 * DTypeUlp(dtype, std::max(std::fabs(got), std::fabs(want)));
      const double compute = units * kEpsF32 * scale;
      const double ratio = std::max(0.0, std::fabs(got - want) - rounding) / compute;
      c.max_ratio = std::max(c.max_ratio, ratio);
      if (ratio > 1) why = fmt::format("{:.3g}x the compute allowance", ratio);
    }
    if (why.empty()) return;
    if (c.passed)
      c.reason = fmt::format("{} at row {} col {}: {} (got {:.9g}, want {:.9g})", what, row, col,
                             why, got, want);
    c.passed = false;
    ++c.failed;
  };
  const size_t esize = DTypeSize(p.dtype);
  const uint32_t poison = PoisonBits(p.dtype);
  for (int64_t row = 0; row < p.rows; ++row) {
    const double rrms = ref.rrms[row];
    for (int64_t j = 0; j < p.cols; ++j) {
      const int64_t i = row * p.cols + j;
      uint32_t bits = 0;
      std::memcpy(&bits, static_cast<const uint8_t*>(y) + i * esize, esize);
      const double g = gamma != nullptr ? std::fabs(gamma[j]) : 1.0;
      const double scale = g * (std::fabs(LoadAsDouble(p.dtype, x, i)) * rrms + 1);
      judge("y", row, j, bits == poison, LoadAsDouble(p.dtype, y, i), ref.y[i], p.dtype,
            std::isfinite(scale) ? scale : 1.0);
    }
    if (rstd != nullptr)
      judge("rstd", row, 0, FloatBits(rstd[row]) == kPoisonF32Bits, rstd[row], rrms, DType::kF32,
            std::isfinite(rrms) ? rrms : 1.0);
  }
  return c;
}

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_TESTS_RMSNORM_CHECK_H_
