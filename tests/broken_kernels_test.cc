// Kernels with the bugs LayerNorm kernels really have, each a few lines of
// CPU code run through the same verification as every backend: verification
// must catch each of them, and must pass a correct f32 kernel on every
// distribution, dtype and awkward shape. Each test says which distribution
// or output catches the bug. PlantedBugsAreAllCaughtByDefaultVerify runs each
// kernel as a backend through the runner with the default `lnbench verify`
// configuration (the product's path, coverage cases included) and requires
// every planted bug to fail it and the correct kernels to pass it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "app/registry.h"
#include "core/cpu_memory.h"
#include "core/dtype.h"
#include "core/generators.h"
#include "core/metrics.h"
#include "core/runner.h"
#include "core/shapes.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"

namespace lnbench {
namespace {

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

// What a kernel does; the defaults give the correct kernel.
struct Kernel {
  bool shift = true;                   // subtract the row's first element before summing
  // Correct the mean by the residual sum of the second pass (the corrected
  // two-pass): without it, a shift by an outlier leaves the mean's rounding
  // error (D u |shift - mean|) in every x - mean.
  bool corrected_mean = true;
  int vector_width = 1;                // > 1: the main loop covers H rounded down to it ...
  bool tail_missing_in_y = false;      // ... and the tail of y is never written
  bool tail_missing_in_stats = false;  // ... or the tail is left out of the sums
  bool one_pass_variance = false;      // var = E[x^2] - E[x]^2, in f32
  enum class Eps { kRight, kZero, kOutsideSqrt, kTooLarge } eps = Eps::kRight;
  int64_t rows_skipped_at_end = 0;  // a parallel split that drops the last rows
  bool swap_gamma_beta = false;
  bool gamma_by_row = false;       // gamma[row] instead of gamma[col]
  bool bf16_accumulators = false;  // partial sums rounded to bf16
  double rsqrt_rel_error = 0;      // an approximate 1/sqrt without a Newton step
  int lanes = 0;                   // > 0: sums in `lanes` sequential f32 chains, then a tree
  bool welford = false;            // one sequential f32 Welford pass (mean and M2)
  bool truncate_16bit = false;     // bf16/f16 y rounded toward zero instead of to nearest even
  bool chan_without_delta = false; // halves' statistics merged without Chan's delta^2 term
  bool eps_missing_in_short_rows = false;  // eps left out only where H < 16 (one-lane loop)
  // Highway's path structure (layernorm_highway-inl.h, imitated by HwyLikeCase
  // below): planted bugs in its row-group, batch and streaming-store paths.
  bool eps_missing_in_row_groups = false;
  bool leftover_rows_skipped = false;      // rows after the last group of 4 never computed
  bool tail_unwritten_when_streaming = false;
  bool eps_missing_in_batches = false;     // in the batches of short rows only
  // y = fma(x, rstd, -mean * rstd) whenever |mean * rstd| <= 1: the mean
  // folded into an offset, one operation fewer per element. Where eps
  // dominates the variance, |mean| <= sqrt(var + eps) admits rows many
  // standard deviations from zero, whose small y then carries the offset's
  // rounding (Highway's rule until 2026-12-05; tinyvar's odd rows).
  bool direct_form_within_sqrt_var_eps = false;
};

// The LayerNorm forward tensors a planted kernel reads and writes.
struct LnInputs {
  const void* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  static LnInputs Of(const HostTensors& t) {
    return {t.get(TensorId::kX), t.get<const float>(TensorId::kGamma),
            t.get<const float>(TensorId::kBeta)};
  }
  HostTensors Tensors() const { return test_support::LnIn(x, gamma, beta); }
};
struct LnOutputs {
  void* y = nullptr;
  float* mean = nullptr;
  float* rstd = nullptr;
  HostTensors Tensors() const { return test_support::LnOut(y, mean, rstd); }
};

// The f16 value of v rounded toward zero (round to nearest, then one step
// back toward zero when that went outward).
uint16_t TruncateToF16(float v) {
  uint16_t h = FloatToF16(v);
  const float back = F16ToFloat(h);
  if (std::isfinite(v) && std::fabs(back) > std::fabs(v)) --h;  // magnitude bits, sign kept
  return h;
}

float Load(DType dtype, const void* x, int64_t i) {
  return static_cast<float>(LoadAsDouble(dtype, x, i));
}

void Store(DType dtype, void* y, int64_t i, float v, bool truncate = false) {
  switch (dtype) {
    case DType::kF32:
      static_cast<float*>(y)[i] = v;
      break;
    case DType::kBF16:
      // Truncation keeps the high half of the f32 bits.
      static_cast<uint16_t*>(y)[i] =
          truncate && !std::isnan(v) ? static_cast<uint16_t>(FloatBits(v) >> 16) : FloatToBF16(v);
      break;
    case DType::kF16:
      static_cast<uint16_t*>(y)[i] = truncate ? TruncateToF16(v) : FloatToF16(v);
      break;
  }
}

// Pairwise f32 sum of v[0, n) (optionally rounding every partial sum to bf16).
float PairwiseF32(const float* v, int64_t n, bool bf16) {
  auto round = [bf16](float s) { return bf16 ? BF16ToFloat(FloatToBF16(s)) : s; };
  if (n <= 8) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s = round(s + v[i]);
    return s;
  }
  const int64_t m = n / 2;
  return round(PairwiseF32(v, m, bf16) + PairwiseF32(v + m, n - m, bf16));
}

// Sum of v[0, n) in `lanes` sequential chains (element i into chain i % lanes),
// then a tree over the chains: a SIMD kernel with `lanes` f32 accumulators.
float LaneSum(const float* v, int64_t n, int lanes) {
  std::vector<float> acc(static_cast<size_t>(lanes), 0.0f);
  for (int64_t i = 0; i < n; ++i) acc[i % lanes] += v[i];
  for (int w = lanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

// Statistics (shifted mean and sum of squared deviations) of t[0, n) with the
// kernel's summation.
struct Moments {
  float mean = 0;  // of t (already shifted)
  float m2 = 0;    // sum of (t - mean)^2
};

// Runs row r of `k` on the problem: f32 arithmetic, outputs rounded once to
// the dtype. omit_eps: this row's path forgets eps; unwritten_tail: elements
// at the end of the row never stored.
void RunRow(const Kernel& k, const Problem& p, const LnInputs& in, const LnOutputs& out,
            int64_t r, std::vector<float>& t, bool omit_eps = false, int64_t unwritten_tail = 0) {
  const int64_t h = p.cols;
  const int64_t covered = k.vector_width > 1 ? h / k.vector_width * k.vector_width : h;
  const int64_t summed = k.tail_missing_in_stats ? covered : h;
  const int64_t written = k.tail_missing_in_y ? covered : h - unwritten_tail;
  t.resize(static_cast<size_t>(h));
  const int64_t base = r * h;
  const float shift = k.shift ? Load(p.dtype, in.x, base) : 0.0f;
  for (int64_t i = 0; i < summed; ++i) t[i] = Load(p.dtype, in.x, base + i) - shift;
  const float inv_n = 1.0f / static_cast<float>(summed > 0 ? summed : 1);
  auto sum = [&](const float* v, int64_t n) {
    return k.lanes > 0 ? LaneSum(v, n, k.lanes) : PairwiseF32(v, n, k.bf16_accumulators);
  };
  float mr = sum(t.data(), summed) * inv_n;
  float var;
  if (k.welford) {
    float m = 0, m2 = 0;
    for (int64_t i = 0; i < summed; ++i) {
      const float delta = t[i] - m;
      m += delta / static_cast<float>(i + 1);
      m2 += delta * (t[i] - m);
    }
    mr = m;
    var = m2 * inv_n;
  } else if (k.chan_without_delta) {
    // Two halves, each a shifted two-pass, merged as Chan et al. do, but
    // without the (mean_b - mean_a)^2 * n_a * n_b / n term of M2.
    auto moments = [&](int64_t begin, int64_t n) {
      Moments m;
      if (n == 0) return m;
      m.mean = sum(t.data() + begin, n) / static_cast<float>(n);
      std::vector<float> d(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) d[i] = (t[begin + i] - m.mean) * (t[begin + i] - m.mean);
      m.m2 = sum(d.data(), n);
      return m;
    };
    const int64_t na = summed / 2, nb = summed - na;
    const Moments a = moments(0, na), b = moments(na, nb);
    mr = (static_cast<float>(na) * a.mean + static_cast<float>(nb) * b.mean) * inv_n;
    var = (a.m2 + b.m2) * inv_n;
  } else if (k.one_pass_variance) {
    for (int64_t i = 0; i < summed; ++i) t[i] = t[i] * t[i];
    var = sum(t.data(), summed) * inv_n - mr * mr;
  } else {
    if (k.corrected_mean && k.shift) {
      for (int64_t i = 0; i < summed; ++i) t[i] = (Load(p.dtype, in.x, base + i) - shift) - mr;
      mr += sum(t.data(), summed) * inv_n;
    }
    for (int64_t i = 0; i < summed; ++i) {
      const float d = (Load(p.dtype, in.x, base + i) - shift) - mr;
      t[i] = d * d;
    }
    var = sum(t.data(), summed) * inv_n;
  }
  const float eps = omit_eps ? 0.0f : static_cast<float>(p.eps);
  float rstd = 0;
  switch (k.eps) {
    case Kernel::Eps::kRight:
      rstd = 1.0f / std::sqrt(var + eps);
      break;
    case Kernel::Eps::kZero:
      rstd = 1.0f / std::sqrt(var);
      break;
    case Kernel::Eps::kOutsideSqrt:
      rstd = 1.0f / (std::sqrt(var) + eps);
      break;
    case Kernel::Eps::kTooLarge:
      rstd = 1.0f / std::sqrt(var + 100 * eps);
      break;
  }
  rstd *= static_cast<float>(1 + k.rsqrt_rel_error);
  const float mean_f = shift + mr;
  const bool direct =
      k.direct_form_within_sqrt_var_eps && var > 0 && std::fabs(mean_f * rstd) <= 1.0f;
  const float offset = -mean_f * rstd;
  for (int64_t i = 0; i < written; ++i) {
    float v = direct ? std::fma(Load(p.dtype, in.x, base + i), rstd, offset)
                     : ((Load(p.dtype, in.x, base + i) - shift) - mr) * rstd;
    if (p.affine) {
      const int64_t gi = k.gamma_by_row ? r % h : i;
      const float g = k.swap_gamma_beta ? in.beta[i] : in.gamma[gi];
      const float b = k.swap_gamma_beta ? in.gamma[i] : in.beta[i];
      v = v * g + b;
    }
    Store(p.dtype, out.y, base + i, v, k.truncate_16bit);
  }
  if (p.stats) {
    out.mean[r] = shift + mr;
    out.rstd[r] = rstd;
  }
}

// Runs `k` on every row of the problem (the plain path: one row at a time).
void Run(const Kernel& k, const Problem& p, const LnInputs& in, const LnOutputs& out) {
  std::vector<float> t;
  for (int64_t r = 0; r < p.rows - k.rows_skipped_at_end; ++r)
    RunRow(k, p, in, out, r, t, k.eps_missing_in_short_rows && p.cols < 16);
}

// The seed of every problem here (the sweep below can change it).
uint64_t g_seed = 2024;

// Generates the problem, runs the kernel on poisoned outputs, checks them.
Accuracy Verify(const Kernel& k, int64_t rows, int64_t cols, DType dtype, Distribution dist,
                bool affine = true, bool stats = true) {
  const Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, stats, g_seed);
  ThreadPool& pool = SharedThreadPool(2);
  std::vector<uint8_t> x(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
  std::vector<float> gamma(cols), beta(cols);
  FillInput(p, x.data(), pool);
  FillAffine(p, gamma.data(), beta.data());
  const LnInputs in{x.data(), affine ? gamma.data() : nullptr, affine ? beta.data() : nullptr};
  const Reference ref = ComputeReference(p, x.data(), in.gamma, in.beta, pool);
  // Poisoned, as the runner does before every checked run.
  std::vector<uint8_t> y(x.size());
  std::vector<float> mean(rows, BitsToFloat(kPoisonF32Bits)),
      rstd(rows, BitsToFloat(kPoisonF32Bits));
  for (int64_t i = 0; i < p.elements(); ++i) {
    const uint32_t bits = PoisonBits(dtype);
    std::memcpy(y.data() + i * DTypeSize(dtype), &bits, DTypeSize(dtype));
  }
  const LnOutputs out{y.data(), stats ? mean.data() : nullptr, stats ? rstd.data() : nullptr};
  Run(k, p, in, out);
  return CheckOutputs(p, in.Tensors(), out.Tensors(), ref, pool);
}

TEST(BrokenKernelsTest, CorrectF32KernelPassesEveryDistributionDTypeAndShape) {
  // benchdnn's awkward shapes plus a single column and a wide row.
  const std::pair<int64_t, int64_t> shapes[] = {{15, 3},   {30, 300}, {257, 768},
                                                {4, 4097}, {5, 1},    {2, 65536}};
  for (DType dtype : kDTypes) {
    double worst = 0;
    std::string where;
    for (Distribution dist : AllDistributions()) {
      for (auto [rows, cols] : shapes) {
        for (bool affine : {true, false}) {
          const Accuracy a = Verify(Kernel{}, rows, cols, dtype, dist, affine, true);
          EXPECT_TRUE(a.passed) << rows << "x" << cols << " " << DTypeName(dtype) << " "
                                << DistributionName(dist) << " affine " << affine << ": "
                                << a.reason;
          const double r =
              std::max({a[TensorId::kY]->max_bound_ratio, a[TensorId::kMean]->max_bound_ratio, a[TensorId::kRstd]->max_bound_ratio});
          if (r > worst) {
            worst = r;
            where = fmt::format("{}x{} {} affine {}", rows, cols, DistributionName(dist), affine);
          }
        }
      }
    }
    std::printf("correct f32 kernel, %s outputs: largest bound ratio %.3f (%s)\n",
                DTypeName(dtype).data(), worst, where.c_str());
  }
}

TEST(BrokenKernelsTest, MissedLoopTailIsCaughtOnlyWhenHIsNotAMultipleOfTheWidth) {
  Kernel unwritten;
  unwritten.vector_width = 16;
  unwritten.tail_missing_in_y = true;
  // 300 = 18*16 + 12: 12 elements per row never written (poison).
  Accuracy a = Verify(unwritten, 30, 300, DType::kF32, Distribution::kNormal);
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a[TensorId::kY]->unwritten, 30u * 12u);
  EXPECT_NE(a.reason.find("unwritten (first at row 0 col 288)"), std::string::npos) << a.reason;
  // At H = 768 there is no tail: the bug hides. Awkward shapes are what find it.
  EXPECT_TRUE(Verify(unwritten, 30, 768, DType::kF32, Distribution::kNormal).passed);

  Kernel unsummed;
  unsummed.vector_width = 16;
  unsummed.tail_missing_in_stats = true;
  for (DType dtype : kDTypes) {
    a = Verify(unsummed, 30, 300, dtype, Distribution::kNormal);
    EXPECT_FALSE(a.passed) << DTypeName(dtype);
    EXPECT_GT(a[TensorId::kY]->failed, 0u);
    EXPECT_EQ(a[TensorId::kY]->unwritten, 0u);
    EXPECT_GT(a[TensorId::kMean]->failed + a[TensorId::kRstd]->failed, 0u);
  }
}

TEST(BrokenKernelsTest, OnePassVarianceIsCaughtByOffsetData) {
  Kernel k;
  k.one_pass_variance = true;
  k.shift = false;  // the textbook version: E[x^2] - E[x]^2 on the raw data
  for (Distribution dist : {Distribution::kOffset1e4, Distribution::kOffset1e6}) {
    const Accuracy a = Verify(k, 16, 768, DType::kF32, dist);
    EXPECT_FALSE(a.passed) << DistributionName(dist);
    // Not a near miss: the cancellation destroys the variance.
    EXPECT_GT(a[TensorId::kY]->max_bound_ratio + a[TensorId::kY]->nan_mismatch, 100) << DistributionName(dist);
    EXPECT_GT(a[TensorId::kRstd]->failed, 0u) << DistributionName(dist);
  }
  // On f16 offset rows too (|mean| / stddev = 300 there).
  EXPECT_FALSE(Verify(k, 16, 768, DType::kF16, Distribution::kOffset1e4).passed);
  // Normal data hides it: why offset distributions exist.
  const Accuracy normal = Verify(k, 16, 768, DType::kF32, Distribution::kNormal);
  std::printf("one-pass variance on normal data: %s (bound ratio %.2f)\n",
              normal.passed ? "passes" : "fails", normal[TensorId::kY]->max_bound_ratio);
}

TEST(BrokenKernelsTest, WrongEpsIsCaughtByTinyVarianceRowsAndByRstdOnConstantRows) {
  for (Kernel::Eps eps : {Kernel::Eps::kZero, Kernel::Eps::kOutsideSqrt, Kernel::Eps::kTooLarge}) {
    Kernel k;
    k.eps = eps;
    // Variance 1e-8, far below eps = 1e-5: y is wrong in every dtype.
    for (DType dtype : kDTypes) {
      const Accuracy a = Verify(k, 8, 768, dtype, Distribution::kTinyVariance, true, false);
      EXPECT_FALSE(a.passed) << DTypeName(dtype) << " eps mode " << static_cast<int>(eps);
    }
    // Constant rows: y = beta whatever rstd is (x - mean = 0) unless rstd is
    // infinite; the rstd output shows a wrong eps.
    const Accuracy c = Verify(k, 8, 768, DType::kF32, Distribution::kConstant, true, true);
    EXPECT_FALSE(c.passed) << static_cast<int>(eps);
    EXPECT_GT(c[TensorId::kRstd]->failed, 0u) << static_cast<int>(eps);
  }
  // eps outside the square root leaves y of constant rows exact: only the
  // statistics catch it there.
  Kernel outside;
  outside.eps = Kernel::Eps::kOutsideSqrt;
  EXPECT_TRUE(Verify(outside, 8, 768, DType::kF32, Distribution::kConstant, true, false).passed);
  // eps = 0 gives rstd = inf and y = 0 * inf = NaN on constant rows.
  Kernel zero;
  zero.eps = Kernel::Eps::kZero;
  const Accuracy z = Verify(zero, 8, 768, DType::kF32, Distribution::kConstant, true, false);
  EXPECT_GT(z[TensorId::kY]->nan_mismatch, 0u);
}

// The mean folded into an offset (y = fma(x, rstd, -mean * rstd)) whenever
// |mean * rstd| <= 1: rows of mean 0 (normal) and far from zero (offsets,
// tinyvar's even rows around 1) pass; tinyvar's odd rows, eps-dominated and
// within one sqrt(var + eps) of zero, fail f32 outputs (the offset's rounding,
// 2^-25 * 0.9, against y's 0.003). A 16-bit output's own rounding is larger:
// bf16 hides it, f16 shows it only without gamma and beta.
TEST(BrokenKernelsTest, MeanFoldedIntoAnOffsetIsCaughtByTinyVarianceRowsNearZero) {
  Kernel k;
  k.direct_form_within_sqrt_var_eps = true;
  for (DType dtype : kDTypes) {
    for (Distribution dist : {Distribution::kNormal, Distribution::kUniform,
                              Distribution::kOffset1e4, Distribution::kExact}) {
      const Accuracy a = Verify(k, 16, 768, dtype, dist, true, false);
      EXPECT_TRUE(a.passed) << DTypeName(dtype) << " " << DistributionName(dist) << ": " << a.reason;
    }
    for (bool affine : {true, false}) {
      const Accuracy a = Verify(k, 16, 768, dtype, Distribution::kTinyVariance, affine, false);
      const bool shows = dtype == DType::kF32 || (dtype == DType::kF16 && !affine);
      EXPECT_EQ(a.passed, !shows) << DTypeName(dtype) << " affine " << affine << ": " << a.reason;
      if (shows) {
        // Only the odd rows fail: "at row R" names one.
        const size_t at = a.reason.find("at row ");
        ASSERT_NE(at, std::string::npos) << a.reason;
        EXPECT_EQ(std::stoll(a.reason.substr(at + 7)) % 2, 1) << a.reason;
      }
    }
  }
  // The correct kernel passes the same rows.
  for (DType dtype : kDTypes)
    EXPECT_TRUE(Verify(Kernel{}, 16, 768, dtype, Distribution::kTinyVariance, false, false).passed);
}

TEST(BrokenKernelsTest, SkippedRowIsCaughtAsUnwritten) {
  Kernel k;
  k.rows_skipped_at_end = 1;
  for (DType dtype : kDTypes) {
    const Accuracy a = Verify(k, 257, 768, dtype, Distribution::kNormal);
    EXPECT_FALSE(a.passed);
    EXPECT_EQ(a[TensorId::kY]->unwritten, 768u);
    EXPECT_EQ(a[TensorId::kMean]->unwritten, 1u);
    EXPECT_EQ(a[TensorId::kRstd]->unwritten, 1u);
    EXPECT_NE(a.reason.find("first at row 256 col 0"), std::string::npos) << a.reason;
  }
  // Also when the skipped row should be all NaN (row 17 of a special problem
  // holds a NaN): poison is not mistaken for a computed NaN.
  Problem p;
  p.dist = Distribution::kSpecial;
  ASSERT_TRUE(IsSpecialRow(p, 17));
  const Accuracy s = Verify(k, 18, 40, DType::kF32, Distribution::kSpecial);
  EXPECT_FALSE(s.passed);
  EXPECT_EQ(s[TensorId::kY]->unwritten, 40u);
}

TEST(BrokenKernelsTest, AffineMistakesAreCaught) {
  Kernel swapped;
  swapped.swap_gamma_beta = true;
  Kernel by_row;
  by_row.gamma_by_row = true;
  for (DType dtype : kDTypes) {
    EXPECT_FALSE(Verify(swapped, 8, 300, dtype, Distribution::kNormal).passed);
    EXPECT_FALSE(Verify(by_row, 8, 300, dtype, Distribution::kNormal).passed);
  }
}

TEST(BrokenKernelsTest, LowPrecisionArithmeticIsCaughtInF32Outputs) {
  // Partial sums kept in bf16: ~2^-9 relative error in the statistics.
  Kernel bf16_acc;
  bf16_acc.bf16_accumulators = true;
  EXPECT_FALSE(Verify(bf16_acc, 16, 768, DType::kF32, Distribution::kNormal).passed);
  // An approximate reciprocal square root (relative error 2^-12, no Newton
  // step) is 2^11 f32 ulps off: caught in f32 output and in rstd. In bf16
  // output most elements still round right; those whose f32 value lies within
  // the error of a rounding midpoint round to the other neighbour, and against
  // the unrounded reference that is caught (half an ulp plus a compute term
  // far smaller than 2^-12).
  Kernel rsqrt;
  rsqrt.rsqrt_rel_error = 0x1p-12;
  const Accuracy a = Verify(rsqrt, 16, 768, DType::kF32, Distribution::kNormal);
  EXPECT_FALSE(a.passed);
  EXPECT_GT(a[TensorId::kRstd]->failed, 0u);
  const Accuracy b = Verify(rsqrt, 16, 768, DType::kBF16, Distribution::kNormal, true, false);
  EXPECT_FALSE(b.passed);
  EXPECT_LT(b[TensorId::kY]->failed, b[TensorId::kY]->checked / 4);  // some elements, not most
}

// The 16-bit rule (docs/verification.md, "16-bit outputs"): against the
// unrounded reference, half an output ulp plus the f32 compute term. A kernel
// that rounds its f32 result to nearest even passes every distribution; the
// same kernel truncating fails wherever outputs are not exact, with about
// half of its elements one representable value from the rounded reference.
TEST(BrokenKernelsTest, SixteenBitRuleTellsRoundingFromTruncation) {
  Kernel truncating;
  truncating.truncate_16bit = true;
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (Distribution dist : AllDistributions()) {
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{257, 768}, {4, 4097}, {2, 65536}}) {
        const Accuracy good = Verify(Kernel{}, rows, cols, dtype, dist);
        EXPECT_TRUE(good.passed) << DTypeName(dtype) << " " << DistributionName(dist) << " "
                                 << cols << ": " << good.reason;
        const Accuracy bad = Verify(truncating, rows, cols, dtype, dist);
        const double good_off = static_cast<double>(good[TensorId::kY]->off_by_one) / good[TensorId::kY]->checked;
        const double bad_off = static_cast<double>(bad[TensorId::kY]->off_by_one) / bad[TensorId::kY]->checked;
        if (cols == 768)
          std::printf("%s %-9s one ulp off: rounding %.4f%% (ratio %.3f), truncating %.1f%% (%s)\n",
                      DTypeName(dtype).data(), DistributionName(dist).data(), 100 * good_off,
                      good[TensorId::kY]->max_bound_ratio, 100 * bad_off, bad.passed ? "passes" : "fails");
        EXPECT_LT(good_off, 0.01) << DistributionName(dist);
        // constant and exact rows have exactly representable outputs: nothing to round.
        if (dist == Distribution::kConstant || dist == Distribution::kExact) continue;
        EXPECT_FALSE(bad.passed) << DTypeName(dtype) << " " << DistributionName(dist) << " " << cols;
        EXPECT_GT(bad_off, 0.2) << DistributionName(dist);
      }
    }
  }
}

TEST(BrokenKernelsTest, UnshiftedF32MeanFailsLargeOffsetRows) {
  // A kernel that sums raw values in f32 carries an error of about
  // eps_f32 * |mean| into every x - mean: with |mean| / stddev = 1e6 that is
  // 0.1 in normalized units. Shifting by one element of the row removes it.
  Kernel plain;
  plain.shift = false;
  const Accuracy a = Verify(plain, 16, 768, DType::kF32, Distribution::kOffset1e6);
  EXPECT_FALSE(a.passed);
  EXPECT_GT(a[TensorId::kY]->max_bound_ratio, 1000);
  EXPECT_TRUE(Verify(Kernel{}, 16, 768, DType::kF32, Distribution::kOffset1e6).passed);
}

// Kernel styles that differ only in how they sum, on every distribution and
// dtype: the numbers behind docs/verification.md. Shifted kernels with a tree
// or 64 chains must pass up to H = 65536; the rest are measured and printed. Set
// LNBENCH_SWEEP_MAX_H=1048576 for the wide rows (slow), LNBENCH_SWEEP_SEED for
// other data.
TEST(BrokenKernelsTest, SummationStylesSweep) {
  struct Style {
    const char* name;
    Kernel k;
    bool must_pass;
  };
  std::vector<Style> styles(7);
  styles[0] = {"shifted pairwise", Kernel{}, true};
  styles[6] = {"shifted pairwise, uncorrected mean", Kernel{}, false};
  styles[6].k.corrected_mean = false;
  styles[1] = {"shifted 64 chains", Kernel{}, true};
  styles[1].k.lanes = 64;
  styles[2] = {"shifted 16 chains", Kernel{}, false};
  styles[2].k.lanes = 16;
  styles[3] = {"unshifted pairwise", Kernel{}, false};
  styles[3].k.shift = false;
  styles[4] = {"unshifted 16 chains", Kernel{}, false};
  styles[4].k.shift = false;
  styles[4].k.lanes = 16;
  styles[5] = {"welford (sequential)", Kernel{}, false};
  styles[5].k.shift = false;
  styles[5].k.welford = true;
  const char* env = std::getenv("LNBENCH_SWEEP_MAX_H");
  const int64_t max_h = env ? std::atoll(env) : 65536;
  const char* seed_env = std::getenv("LNBENCH_SWEEP_SEED");
  const uint64_t saved_seed = g_seed;
  if (seed_env) g_seed = std::strtoull(seed_env, nullptr, 10);
  std::vector<int64_t> widths;
  for (int64_t h : {3, 15, 768, 4097, 65536, 1048576})
    if (h <= max_h) widths.push_back(h);
  for (const Style& s : styles) {
    double worst[3] = {0, 0, 0};
    std::string failures;  // "dtype/dist (failing widths, worst ratio)"
    for (int d = 0; d < 3; ++d) {
      for (Distribution dist : AllDistributions()) {
        int failed = 0;
        double fail_worst = 0;
        for (int64_t h : widths) {
          const int64_t rows = std::max<int64_t>(2, std::min<int64_t>(8, (int64_t{1} << 16) / h));
          const Accuracy a = Verify(s.k, rows, h, kDTypes[d], dist);
          const double ratio =
              a[TensorId::kY]->nan_mismatch + a[TensorId::kMean]->nan_mismatch + a[TensorId::kRstd]->nan_mismatch > 0
                  ? INFINITY
                  : std::max({a[TensorId::kY]->max_bound_ratio, a[TensorId::kMean]->max_bound_ratio, a[TensorId::kRstd]->max_bound_ratio});
          if (a.passed) {
            worst[d] = std::max(worst[d], ratio);
          } else {
            ++failed;
            fail_worst = std::max(fail_worst, ratio);
          }
          if (s.must_pass && h <= 65536) {  // wider rows: measured, see the docs
            EXPECT_TRUE(a.passed) << s.name << " " << DTypeName(kDTypes[d]) << " "
                                  << DistributionName(dist) << " H=" << h << ": " << a.reason;
          }
        }
        if (failed > 0) {
          failures += fmt::format(" {}/{} ({} of {} widths, up to {:.2g}x)", DTypeName(kDTypes[d]),
                                  DistributionName(dist), failed, widths.size(), fail_worst);
        }
      }
    }
    std::printf("%s: largest passing ratio f32 %.2f, bf16 %.2f, f16 %.2f; fails:%s\n", s.name,
                worst[0], worst[1], worst[2], failures.empty() ? " none" : failures.c_str());
  }
  g_seed = saved_seed;
}

// ----------------------------------------------------------------------------
// Planted bugs through the product: each kernel becomes a backend and runs
// through ExecuteRun with the default `lnbench verify` configuration.

// Lanes of the imitated Highway kernel (AVX-512 f32 vectors).
constexpr int64_t kHwyLanes = 16;

// A Kernel run with Highway's path structure, with the same conditions as
// LayerNormRows in backends/highway/layernorm_highway-inl.h: rows that start
// on cache lines, at most 1 KiB or at least 16 KiB long, go through row
// groups of 4 within a thread's share of rows; the remaining rows run one at
// a time; y uses streaming stores when it is larger than stream_min_bytes
// (tuning; the last-level cache by default) and a row is at least two cache
// lines plus a vector long.
class HwyLikeCase : public CpuCase {
 public:
  HwyLikeCase(const Problem& problem, const HostTensors& inputs, int threads, const Kernel& k,
              bool hwy_paths, uint64_t stream_min_bytes)
      : CpuCase(problem, inputs, threads, "default"), k_(k), hwy_paths_(hwy_paths) {
    const uint64_t y_bytes = static_cast<uint64_t>(problem.elements()) * DTypeSize(problem.dtype);
    stream_ = y_bytes > stream_min_bytes;
  }

 protected:
  void ComputeRows(int64_t begin, int64_t end) override {
    const Problem& p = problem();
    const LnOutputs out{output(TensorId::kY), output<float>(TensorId::kMean),
                        output<float>(TensorId::kRstd)};
    const LnInputs in = LnInputs::Of(inputs());
    std::vector<float> t;
    const int64_t skip_end = std::max<int64_t>(0, p.rows - k_.rows_skipped_at_end);
    if (!hwy_paths_ || p.cols < kHwyLanes) {
      for (int64_t r = begin; r < std::min(end, skip_end); ++r)
        RunRow(k_, p, in, out, r, t, k_.eps_missing_in_short_rows && p.cols < kHwyLanes);
      return;
    }
    const uint64_t row_bytes = static_cast<uint64_t>(p.cols) * DTypeSize(p.dtype);
    const bool stream = stream_ && row_bytes >= 128 + kHwyLanes * DTypeSize(p.dtype);
    // Batches of short rows (BatchShortRows, kCachedBatchMaxCols): streamed
    // rows of 512 bytes to 1 KiB, and cache-resident rows of at most 128
    // columns, any alignment.
    const bool batches = (stream && row_bytes >= 512 && row_bytes <= 1024) ||
                         (!stream_ && p.cols <= 128);
    if (batches) {
      for (int64_t r = begin; r < end; ++r) RunRow(k_, p, in, out, r, t, k_.eps_missing_in_batches);
      return;
    }
    const bool aligned = row_bytes % 64 == 0 && reinterpret_cast<uintptr_t>(in.x) % 64 == 0 &&
                         reinterpret_cast<uintptr_t>(out.y) % 64 == 0;
    const bool worth_it = row_bytes <= 1024 || row_bytes >= 16384;
    const int64_t groups = aligned && worth_it ? (end - begin) / 4 : 0;
    for (int64_t r = begin; r < begin + 4 * groups; ++r)
      RunRow(k_, p, in, out, r, t, k_.eps_missing_in_row_groups);
    if (groups > 0) {
      begin += 4 * groups;
      if (k_.leftover_rows_skipped) return;
    }
    const int64_t tail = stream && k_.tail_unwritten_when_streaming ? p.cols % kHwyLanes : 0;
    for (int64_t r = begin; r < end; ++r) RunRow(k_, p, in, out, r, t, false, tail);
  }

 private:
  Kernel k_;
  bool hwy_paths_;
  bool stream_ = false;
};

// A planted-bug kernel as a backend. With hwy_paths it imitates Highway's
// paths, takes its tuning key and declares Highway's own coverage cases, so
// the test shows that what Highway declares reaches those paths.
class KernelBackend : public CpuBackend {
 public:
  KernelBackend(std::string name, const Kernel& k, bool hwy_paths)
      : name_(std::move(name)), k_(k), hwy_paths_(hwy_paths) {}
  std::string Name() const override { return name_; }
  std::string Description() const override { return "planted-bug test kernel"; }
  Verdict Available() const override { return Verdict::Yes(); }
  std::vector<VariantInfo> Variants() const override { return {{"default", "the kernel"}}; }
  std::vector<std::string> TuningKeys() const override {
    return hwy_paths_ ? std::vector<std::string>{"stream_min_bytes"} : std::vector<std::string>{};
  }
  std::vector<CoverageCase> CoverageCases() const override {
    if (!hwy_paths_) return {};
    Backend* highway = FindBackend("highway");
    return highway ? highway->CoverageCases() : std::vector<CoverageCase>{};
  }
  Verdict Supports(const Problem& problem, const CaseOptions&) const override {
    return problem.cols >= 1 ? Verdict::Yes() : Verdict::No("cols must be at least 1");
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    uint64_t stream_min = LastLevelCacheBytes();
    const auto it = options.tuning.find("stream_min_bytes");
    if (it != options.tuning.end()) stream_min = std::stoull(it->second);
    return std::make_unique<HwyLikeCase>(problem, inputs, options.threads, k_, hwy_paths_,
                                         stream_min);
  }

 private:
  std::string name_;
  Kernel k_;
  bool hwy_paths_;
};

// Runs the backends through the runner as `lnbench verify` does by default:
// the default shapes, every dtype, distribution and variant, affine+stats and
// neither, and (with coverage) every backend's coverage cases.
RunResult DefaultVerify(const std::vector<Backend*>& backends, bool coverage) {
  RunConfig c;
  c.command = "verify";
  for (Backend* b : backends) c.backends.push_back(b->Name());
  c.backend_objects = backends;
  c.skip_unavailable = false;
  c.variants = {"all"};
  c.shapes = ParseShapeList(kDefaultVerifyShapes);
  c.dtypes = {DType::kF32, DType::kBF16, DType::kF16};
  c.dists = AllDistributions();
  c.modes = {{true, true}, {false, false}};
  c.measure = false;
  c.coverage = coverage;
  return ExecuteRun(c, nullptr, nullptr);
}

// Returns "N of M cases failed (first: <repro>: <reason>)".
std::string Failures(const RunResult& r) {
  int failed = 0;
  std::string first;
  for (const CaseResult& c : r.cases)
    if (c.status == CaseStatus::kFailed && failed++ == 0) first = c.repro + ": " + c.reason;
  return fmt::format("{} of {} cases failed{}", failed, r.cases.size(),
                     first.empty() ? "" : " (first: " + first.substr(0, 300) + ")");
}

// Returns the cases of `backend` in `r`.
RunResult CasesOf(const RunResult& r, const std::string& backend) {
  RunResult out;
  for (const CaseResult& c : r.cases)
    if (c.backend == backend) out.cases.push_back(c);
  return out;
}

TEST(BrokenKernelsTest, PlantedBugsAreAllCaughtByDefaultVerify) {
  struct Planted {
    const char* name;
    Kernel k;
    bool hwy_paths = false;
    bool hidden_without_coverage = false;  // the default shapes alone miss it
  };
  std::vector<Planted> bugs;
  auto add = [&](const char* name, bool hwy, bool hidden, auto&& plant) {
    Planted b{name, Kernel{}, hwy, hidden};
    plant(b.k);
    bugs.push_back(b);
  };
  add("bf16/f16 output truncated, not rounded to nearest even", false, false,
      [](Kernel& k) { k.truncate_16bit = true; });
  add("Chan merge without its delta term", false, false,
      [](Kernel& k) { k.chan_without_delta = true; });
  add("eps omitted in the short-row path only", false, false,
      [](Kernel& k) { k.eps_missing_in_short_rows = true; });
  add("eps omitted in the row-group path", true, true,
      [](Kernel& k) { k.eps_missing_in_row_groups = true; });
  add("leftover rows skipped in the row-group path", true, true,
      [](Kernel& k) { k.leftover_rows_skipped = true; });
  add("tail not written on the streaming-store path", true, true,
      [](Kernel& k) { k.tail_unwritten_when_streaming = true; });
  add("eps omitted in the batches of short rows", true, true,
      [](Kernel& k) { k.eps_missing_in_batches = true; });
  add("loop tail never written", false, false, [](Kernel& k) {
    k.vector_width = 16;
    k.tail_missing_in_y = true;
  });
  add("loop tail left out of the sums", false, false, [](Kernel& k) {
    k.vector_width = 16;
    k.tail_missing_in_stats = true;
  });
  add("one-pass variance", false, false, [](Kernel& k) {
    k.one_pass_variance = true;
    k.shift = false;
  });
  add("eps outside the square root", false, false,
      [](Kernel& k) { k.eps = Kernel::Eps::kOutsideSqrt; });
  add("last row skipped", false, false, [](Kernel& k) { k.rows_skipped_at_end = 1; });
  add("gamma indexed by row", false, false, [](Kernel& k) { k.gamma_by_row = true; });
  add("partial sums in bf16", false, false, [](Kernel& k) { k.bf16_accumulators = true; });
  add("approximate rsqrt (2^-12)", false, false, [](Kernel& k) { k.rsqrt_rel_error = 0x1p-12; });
  add("unshifted f32 mean", false, false, [](Kernel& k) { k.shift = false; });
  add("mean folded into an offset where |mean * rstd| <= 1", false, false,
      [](Kernel& k) { k.direct_form_within_sqrt_var_eps = true; });

  // Every planted kernel is a backend of one run, as the backends of one
  // `lnbench verify` are: each problem's inputs and reference are computed
  // once and shared, and each case is judged alone (its own poisoned outputs).
  std::vector<std::unique_ptr<KernelBackend>> backends;
  std::vector<Backend*> all;
  for (size_t i = 0; i < bugs.size(); ++i) {
    backends.push_back(std::make_unique<KernelBackend>(fmt::format("planted{:02}", i), bugs[i].k, bugs[i].hwy_paths));
    all.push_back(backends.back().get());
  }
  const RunResult r = DefaultVerify(all, /*coverage=*/true);
  int caught = 0;
  for (size_t i = 0; i < bugs.size(); ++i) {
    const Planted& b = bugs[i];
    const RunResult mine = CasesOf(r, backends[i]->Name());
    ASSERT_FALSE(mine.cases.empty()) << b.name;
    const bool failed = mine.ExitCode() == 1;
    caught += failed;
    EXPECT_TRUE(failed) << b.name << ": survives the default verify";
    std::printf("%-55s caught: %s\n", b.name, Failures(mine).c_str());
    if (b.hidden_without_coverage) {
      // Why coverage cases exist: the default shapes never reach these
      // paths. The run's cases without a coverage path are exactly those of
      // a run without coverage (Plan adds the coverage problems after the
      // default ones, changing nothing in them), so they must all pass.
      RunResult mine_plain;
      for (const CaseResult& c : mine.cases)
        if (c.coverage.empty()) mine_plain.cases.push_back(c);
      ASSERT_FALSE(mine_plain.cases.empty()) << b.name;
      ASSERT_LT(mine_plain.cases.size(), mine.cases.size()) << b.name << ": no coverage cases ran";
      EXPECT_EQ(mine_plain.ExitCode(), 0) << b.name << ": " << Failures(mine_plain);
    }
  }
  std::printf("planted bugs caught by the default verify: %d of %zu\n", caught, bugs.size());
  EXPECT_EQ(caught, static_cast<int>(bugs.size()));
}

TEST(BrokenKernelsTest, CorrectKernelsPassDefaultVerify) {
  KernelBackend plain("correct", Kernel{}, false);
  KernelBackend hwy_like("correct-hwy-paths", Kernel{}, true);
  const RunResult r = DefaultVerify({&plain, &hwy_like}, true);
  EXPECT_EQ(r.ExitCode(), 0) << Failures(r);
  // The coverage cases ran, with their tuning in the case and its repro line.
  int coverage = 0, streamed = 0;
  for (const CaseResult& c : r.cases) {
    coverage += !c.coverage.empty();
    if (c.tuning.count("stream_min_bytes")) {
      ++streamed;
      EXPECT_NE(c.repro.find("--tune stream_min_bytes=0"), std::string::npos) << c.repro;
    }
  }
  EXPECT_GT(coverage, 0);
  EXPECT_GT(streamed, 0);
  // Our real CPU backends too, every variant (every Highway target).
  std::vector<Backend*> ours;
  for (const char* name : {"scalar", "highway"})
    if (Backend* b = FindBackend(name)) ours.push_back(b);
  const RunResult real = DefaultVerify(ours, true);
  EXPECT_EQ(real.ExitCode(), 0) << Failures(real);
}

}  // namespace
}  // namespace lnbench

// ------------------------------------------------------------------ RMSNorm

namespace lnbench {
namespace {

// An RMSNorm forward kernel; the defaults give the correct one (f32 sums of
// squares in blocks of 256, added in double; y = x * rrms * gamma in f32).
struct RmsKernel {
  bool mean_subtracted = false;  // normalizes x - mean (LayerNorm's centring) instead of x
  bool eps_after_sqrt = false;   // rrms = 1/(sqrt(ms) + eps)
  bool one_pass_f32 = false;     // the sum of squares in one sequential f32 chain
};

void RunRmsKernel(const RmsKernel& k, const lnbench::test_support::HostCase& c, const lnbench::test_support::HostCase& out) {
  const Problem& p = c.problem;
  const int64_t cols = p.cols;
  const float* gamma = c.in<const float>(TensorId::kGamma);
  float* rstd = out.out<float>(TensorId::kRstd);
  for (int64_t r = 0; r < p.rows; ++r) {
    std::vector<float> x(static_cast<size_t>(cols));
    for (int64_t i = 0; i < cols; ++i) x[i] = Load(p.dtype, c.in(TensorId::kX), r * cols + i);
    float mean = 0;
    if (k.mean_subtracted) {
      double s = 0;
      for (float v : x) s += v;
      mean = static_cast<float>(s / static_cast<double>(cols));
    }
    double q = 0;
    if (k.one_pass_f32) {
      float s = 0;
      for (float v : x) s += (v - mean) * (v - mean);
      q = s;
    } else {
      for (int64_t b = 0; b < cols; b += 256) {
        float s = 0;
        for (int64_t i = b; i < std::min(cols, b + 256); ++i) s += (x[i] - mean) * (x[i] - mean);
        q += s;
      }
    }
    const double ms = q / static_cast<double>(cols);
    const float rrms = static_cast<float>(k.eps_after_sqrt ? 1.0 / (std::sqrt(ms) + p.eps)
                                                           : 1.0 / std::sqrt(ms + p.eps));
    for (int64_t i = 0; i < cols; ++i) {
      float v = (x[i] - mean) * rrms;
      if (gamma != nullptr) v *= gamma[i];
      Store(p.dtype, out.out(TensorId::kY), r * cols + i, v);
    }
    if (rstd != nullptr) rstd[r] = rrms;
  }
}

// Returns the accuracy of kernel `k` on one RMSNorm problem.
Accuracy CheckRms(const RmsKernel& k, int64_t rows, int64_t cols, DType dtype, Distribution dist,
                  bool stats = true, double eps = 1e-5) {
  Problem p = lnbench::test_support::MakeProblem(rows, cols, dtype, dist, true, stats, 11, Norm::kRmsNorm);
  p.eps = eps;
  lnbench::test_support::HostCase c(p);
  RunRmsKernel(k, c, c);
  return c.Check();
}

TEST(BrokenRmsNormKernelsTest, CorrectKernelPassesEveryDistributionDTypeAndShape) {
  const std::pair<int64_t, int64_t> shapes[] = {{15, 3}, {30, 300}, {257, 768}, {4, 4097},
                                                {5, 1},  {2, 65536}};
  for (DType dtype : kDTypes)
    for (Distribution dist : AllDistributions())
      for (auto [rows, cols] : shapes) {
        const Accuracy a = CheckRms({}, rows, cols, dtype, dist);
        EXPECT_TRUE(a.passed) << DTypeName(dtype) << " " << DistributionName(dist) << " " << rows
                              << "x" << cols << ": " << a.reason;
      }
}

TEST(BrokenRmsNormKernelsTest, MeanSubtractedIsCaught) {
  // Offset rows: x - mean and x differ by the whole offset.
  const Accuracy a = CheckRms({.mean_subtracted = true}, 8, 768, DType::kF32, Distribution::kOffset1e4);
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.reason.find("y:"), std::string::npos) << a.reason;
}

TEST(BrokenRmsNormKernelsTest, EpsAfterTheSqrtIsCaught) {
  // Where eps matters against the mean square: eps = 1 on normal rows of
  // mean square ~1 gives 1/(1 + 1) instead of 1/sqrt(2).
  const Accuracy a = CheckRms({.eps_after_sqrt = true}, 8, 768, DType::kF32, Distribution::kNormal,
                              true, 1.0);
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.reason.find("rstd:"), std::string::npos) << a.reason;
  // And eps = 0.25 on uniform rows (mean square 1/3).
  const Accuracy b = CheckRms({.eps_after_sqrt = true}, 64, 33, DType::kF32, Distribution::kUniform,
                              true, 0.25);
  EXPECT_FALSE(b.passed);
}

TEST(BrokenRmsNormKernelsTest, OnePassF32SumOfSquaresOnLargeMagnitudeRowsIsCaught) {
  // One sequential f32 chain of H squares of one magnitude drifts by about
  // H/4 ulps: far over the bound on wide large-magnitude rows, where a
  // blocked sum stays within it.
  const Accuracy a = CheckRms({.one_pass_f32 = true}, 4, 65536, DType::kF32, Distribution::kOffset1e6);
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.reason.find("rstd:"), std::string::npos) << a.reason;
  EXPECT_TRUE(CheckRms({}, 4, 65536, DType::kF32, Distribution::kOffset1e6).passed);
}

}  // namespace
}  // namespace lnbench

// ------------------------------------------------------------------ Backward

namespace lnbench {
namespace {

// A LayerNorm / RMSNorm backward kernel in f32; the defaults give the
// correct one: dx from two blocked row sums, dgamma/dbeta in 64-row f32
// chains whose partials are summed pairwise.
struct BwdKernel {
  bool dgamma_row_missing = false;  // the last row left out of dgamma
  bool dbeta_in_bf16 = false;       // dbeta's accumulator rounded to bf16 after every add
  bool mean_term_without_gamma = false;  // a = mean(dy) instead of mean(gamma dy)
  bool eps_omitted = false;         // rstd recomputed from x with no eps (saved one ignored)
  bool one_chain_over_rows = false;  // dgamma/dbeta in one sequential f32 chain over all rows
};

float RoundBf16(float v) { return BF16ToFloat(FloatToBF16(v)); }

// Returns the sum of v[0, n): f32 chains of 64, combined pairwise.
float BlockedF32(const float* v, int64_t n) {
  if (n <= 64) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += v[i];
    return s;
  }
  const int64_t mid = (n / 64 + 1) / 2 * 64;
  return BlockedF32(v, mid) + BlockedF32(v + mid, n - mid);
}

class BwdKernelCase : public CpuCase {
 public:
  BwdKernelCase(const Problem& problem, const HostTensors& inputs, int threads, const BwdKernel& k)
      : CpuCase(problem, inputs, threads, "default"), k_(k) {}

  void Run() override {
    CpuCase::Run();
    if (problem().affine) ParameterGradients();
  }

 protected:
  // The row's rstd: the saved one, or (eps_omitted) recomputed without eps.
  float RowRstd(int64_t r, float mu) const {
    const Problem& p = problem();
    const float saved = inputs().get<const float>(TensorId::kRstd)[r];
    if (!k_.eps_omitted) return saved;
    double q = 0;
    for (int64_t j = 0; j < p.cols; ++j) {
      const double d = Load(p.dtype, inputs().get(TensorId::kX), r * p.cols + j) - mu;
      q += d * d;
    }
    return static_cast<float>(1.0 / std::sqrt(q / static_cast<double>(p.cols)));
  }

  float RowMean(int64_t r) const {
    return problem().norm == Norm::kLayerNorm ? inputs().get<const float>(TensorId::kMean)[r] : 0.0f;
  }

  void ComputeRows(int64_t begin, int64_t end) override {
    const Problem& p = problem();
    const int64_t cols = p.cols;
    const float* gamma = p.affine ? inputs().get<const float>(TensorId::kGamma) : nullptr;
    std::vector<float> xhat(static_cast<size_t>(cols)), gd(static_cast<size_t>(cols)),
        t(static_cast<size_t>(cols)), d(static_cast<size_t>(cols));
    for (int64_t r = begin; r < end; ++r) {
      const float mu = RowMean(r), rs = RowRstd(r, mu);
      for (int64_t j = 0; j < cols; ++j) {
        const float dy = Load(p.dtype, inputs().get(TensorId::kDy), r * cols + j);
        xhat[j] = (Load(p.dtype, inputs().get(TensorId::kX), r * cols + j) - mu) * rs;
        gd[j] = gamma ? gamma[j] * dy : dy;
        d[j] = k_.mean_term_without_gamma ? dy : gd[j];
        t[j] = gd[j] * xhat[j];
      }
      const float a = p.norm == Norm::kLayerNorm ? BlockedF32(d.data(), cols) / cols : 0.0f;
      const float b = BlockedF32(t.data(), cols) / cols;
      for (int64_t j = 0; j < cols; ++j)
        Store(p.dtype, output(TensorId::kDx), r * cols + j, rs * ((gd[j] - a) - xhat[j] * b));
    }
  }

 private:
  void ParameterGradients() {
    const Problem& p = problem();
    const int64_t rows = p.rows, cols = p.cols;
    float* dgamma = output<float>(TensorId::kDgamma);
    float* dbeta = p.norm == Norm::kLayerNorm ? output<float>(TensorId::kDbeta) : nullptr;
    const int64_t chain = k_.one_chain_over_rows ? std::max<int64_t>(rows, 1) : 64;
    const int64_t blocks = (rows + chain - 1) / chain;
    std::vector<float> pg(static_cast<size_t>(blocks)), pb(static_cast<size_t>(blocks));
    std::vector<float> rstd(static_cast<size_t>(rows)), mean(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      mean[r] = RowMean(r);
      rstd[r] = RowRstd(r, mean[r]);
    }
    const int64_t rows_in_dgamma = k_.dgamma_row_missing ? rows - 1 : rows;
    for (int64_t j = 0; j < cols; ++j) {
      for (int64_t b = 0; b < blocks; ++b) {
        float sg = 0, sb = 0;
        for (int64_t r = b * chain; r < std::min(rows, (b + 1) * chain); ++r) {
          const float dy = Load(p.dtype, inputs().get(TensorId::kDy), r * cols + j);
          const float xhat = (Load(p.dtype, inputs().get(TensorId::kX), r * cols + j) - mean[r]) * rstd[r];
          if (r < rows_in_dgamma) sg += dy * xhat;
          sb += dy;
          if (k_.dbeta_in_bf16) sb = RoundBf16(sb);
        }
        pg[b] = sg;
        pb[b] = sb;
      }
      dgamma[j] = BlockedF32(pg.data(), blocks);  // blocks <= 64 here: one chain of partials
      if (dbeta != nullptr) {
        float s = k_.dbeta_in_bf16 ? 0.0f : BlockedF32(pb.data(), blocks);
        if (k_.dbeta_in_bf16)
          for (float v : pb) s = RoundBf16(s + v);
        dbeta[j] = s;
      }
    }
  }

  BwdKernel k_;
};

class BwdKernelBackend : public CpuBackend {
 public:
  BwdKernelBackend(std::string name, const BwdKernel& k) : name_(std::move(name)), k_(k) {}
  std::string Name() const override { return name_; }
  std::string Description() const override { return "planted-bug backward test kernel"; }
  Verdict Available() const override { return Verdict::Yes(); }
  std::vector<VariantInfo> Variants() const override { return {{"default", "the kernel"}}; }
  Verdict Supports(const Problem& problem, const CaseOptions&) const override {
    return problem.dir == Direction::kBackward ? Verdict::Yes() : Verdict::No("backward only");
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    return std::make_unique<BwdKernelCase>(problem, inputs, options.threads, k_);
  }

 private:
  std::string name_;
  BwdKernel k_;
};

// `lnbench verify --op all --dir bwd` with the default sweep (shapes, every
// dtype, distribution and both modes) and the backends' coverage cases.
RunResult DefaultBackwardVerify(const std::vector<Backend*>& backends) {
  RunConfig c;
  c.command = "verify";
  for (Backend* b : backends) c.backends.push_back(b->Name());
  c.backend_objects = backends;
  c.skip_unavailable = false;
  c.variants = {"all"};
  c.shapes = ParseShapeList(kDefaultVerifyShapes);
  c.norms = AllNorms();
  c.dirs = {Direction::kBackward};
  c.dtypes = {DType::kF32, DType::kBF16, DType::kF16};
  c.dists = AllDistributions();
  c.modes = {{true, true}, {false, false}};
  c.measure = false;
  c.coverage = true;
  return ExecuteRun(c, nullptr, nullptr);
}

// Returns the number of failed cases of `r` whose reason names `tensor`.
int FailuresNaming(const RunResult& r, const std::string& tensor) {
  int n = 0;
  for (const CaseResult& c : r.cases)
    n += c.status == CaseStatus::kFailed && c.reason.find(tensor + ":") != std::string::npos;
  return n;
}

TEST(BrokenBackwardKernelsTest, PlantedBugsAreCaughtByDefaultVerifyAndTheCorrectKernelPasses) {
  struct Planted {
    const char* name;
    BwdKernel k;
    const char* tensor;  // the output that must show it
  };
  const std::vector<Planted> bugs = {
      {"dgamma: the last row missing", {.dgamma_row_missing = true}, "dgamma"},
      {"dbeta accumulated in bf16", {.dbeta_in_bf16 = true}, "dbeta"},
      {"dx: mean term mean(dy) instead of mean(gamma dy)", {.mean_term_without_gamma = true}, "dx"},
      {"eps omitted (rstd recomputed without it)", {.eps_omitted = true}, "dx"},
  };
  // One run for every kernel, as the backends of one `lnbench verify` are:
  // each problem's inputs and float64 reference are computed once and shared
  // (not once per kernel), and each case is judged alone.
  std::vector<std::unique_ptr<BwdKernelBackend>> planted;
  std::vector<Backend*> all;
  for (size_t i = 0; i < bugs.size(); ++i) {
    planted.push_back(std::make_unique<BwdKernelBackend>(fmt::format("planted{}", i), bugs[i].k));
    all.push_back(planted.back().get());
  }
  BwdKernelBackend correct("correct", BwdKernel{});
  all.push_back(&correct);
  // Our scalar backend too, with its coverage case of many row blocks.
  Backend* scalar = FindBackend("scalar");
  ASSERT_NE(scalar, nullptr);
  all.push_back(scalar);
  const RunResult run = DefaultBackwardVerify(all);
  for (size_t i = 0; i < bugs.size(); ++i) {
    const Planted& b = bugs[i];
    const RunResult r = CasesOf(run, planted[i]->Name());
    ASSERT_FALSE(r.cases.empty()) << b.name;
    EXPECT_EQ(r.ExitCode(), 1) << b.name << ": survives the default verify";
    EXPECT_GT(FailuresNaming(r, b.tensor), 0) << b.name << ": " << Failures(r);
    std::printf("%-50s caught: %s (%d naming %s)\n", b.name, Failures(r).c_str(),
                FailuresNaming(r, b.tensor), b.tensor);
  }
  const RunResult r = CasesOf(run, correct.Name());
  ASSERT_FALSE(r.cases.empty());
  EXPECT_EQ(r.ExitCode(), 0) << Failures(r);
  const RunResult s = CasesOf(run, scalar->Name());
  ASSERT_FALSE(s.cases.empty());
  EXPECT_EQ(s.ExitCode(), 0) << Failures(s);
  int coverage = 0;
  for (const CaseResult& c : s.cases) coverage += !c.coverage.empty();
  EXPECT_GT(coverage, 0);
}

// Accuracy of a backward kernel on one problem.
Accuracy CheckBwd(const BwdKernel& k, Norm norm, int64_t rows, int64_t cols, DType dtype,
                  Distribution dist) {
  Problem p = lnbench::test_support::MakeProblem(rows, cols, dtype, dist, true, false, 13, norm);
  p.dir = Direction::kBackward;
  lnbench::test_support::HostCase c(p);
  BwdKernelBackend backend("k", k);
  c.Execute(backend, {});
  return c.Check();
}

// Where each bug shows, and the one-chain reduction over rows.
TEST(BrokenBackwardKernelsTest, WhereEachBugShows) {
  // eps omitted: constant rows have variance 0, so rstd is infinite.
  for (Norm norm : AllNorms()) {
    const Accuracy a = CheckBwd({.eps_omitted = true}, norm, 32, 64, DType::kF32, Distribution::kConstant);
    EXPECT_FALSE(a.passed) << NormName(norm);
  }
  // Tiny variance rows: eps is 1000 times the variance.
  EXPECT_FALSE(CheckBwd({.eps_omitted = true}, Norm::kLayerNorm, 8, 768, DType::kF32,
                        Distribution::kTinyVariance).passed);
  // The mean term: caught in every dtype once gamma is not 1.
  for (DType dtype : kDTypes) {
    const Accuracy a = CheckBwd({.mean_term_without_gamma = true}, Norm::kLayerNorm, 8, 300, dtype,
                                Distribution::kNormal);
    EXPECT_FALSE(a.passed) << DTypeName(dtype);
    EXPECT_NE(a.reason.find("dx:"), std::string::npos) << a.reason;
  }
  // A missing row of dgamma: its failures are located by column.
  const Accuracy m = CheckBwd({.dgamma_row_missing = true}, Norm::kRmsNorm, 257, 33, DType::kBF16,
                              Distribution::kNormal);
  EXPECT_FALSE(m.passed);
  EXPECT_NE(m.reason.find("dgamma:"), std::string::npos) << m.reason;
  EXPECT_NE(m.reason.find("at col "), std::string::npos) << m.reason;
  EXPECT_EQ(m.reason.find("row"), std::string::npos) << m.reason;
  // bf16 accumulation of dbeta: even 30 rows are far over the bound.
  const Accuracy b = CheckBwd({.dbeta_in_bf16 = true}, Norm::kLayerNorm, 30, 300, DType::kF32,
                              Distribution::kNormal);
  EXPECT_FALSE(b.passed);
  EXPECT_NE(b.reason.find("dbeta:"), std::string::npos) << b.reason;
  // The correct kernel on many rows (65 chains) passes; one f32 chain over
  // all rows: the ratio it reaches is printed (the bound is built for
  // blocked sums, docs/verification.md "Backward").
  for (Norm norm : AllNorms()) {
    const Accuracy ok = CheckBwd({}, norm, 4159, 16, DType::kF32, Distribution::kOutliers);
    EXPECT_TRUE(ok.passed) << ok.reason;
    const Accuracy chain = CheckBwd({.one_chain_over_rows = true}, norm, 4159, 16, DType::kF32,
                                    Distribution::kOutliers);
    std::printf("%s bwd 4159x16 outliers: dgamma ratio %.3f blocked, %.3f one chain (%s)\n",
                std::string(NormName(norm)).c_str(), ok[TensorId::kDgamma]->max_bound_ratio,
                chain[TensorId::kDgamma]->max_bound_ratio, chain.passed ? "passes" : "fails");
  }
}

}  // namespace
}  // namespace lnbench
