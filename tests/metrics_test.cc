// Tests of the error metrics and the pass/fail rule: every ErrorStats field,
// the bounds, poison (unwritten) detection on raw bits, NaN/Inf mismatches,
// the mean/rstd checks and the failure reason.
#include "tests/support/host_case.h"
#include "core/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/generators.h"
#include "core/timing.h"

namespace lnbench {
namespace {

constexpr double kEpsF32 = 0x1p-23;
const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

// A problem with inputs, its reference, and outputs that start as the
// reference rounded to the output dtype (a perfect kernel).
struct Fixture {
  Problem p;
  std::vector<uint8_t> x, y;
  std::vector<float> gamma, beta, mean, rstd;
  Reference ref;

  Fixture(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine = true,
          bool stats = true) {
    p = test_support::MakeProblem(rows, cols, dtype, dist, affine, stats, 77);
    ThreadPool& pool = SharedThreadPool(2);
    x.resize(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
    y.resize(x.size());
    gamma.resize(cols);
    beta.resize(cols);
    FillInput(p, x.data(), pool);
    FillAffine(p, gamma.data(), beta.data());
    ref = ComputeReference(p, x.data(), g(), b(), pool);
    for (int64_t i = 0; i < p.elements(); ++i) StoreFromDouble(dtype, y.data(), i, ref.y_data()[i]);
    mean.resize(rows);
    rstd.resize(rows);
    for (int64_t r = 0; r < rows; ++r) {
      mean[r] = static_cast<float>(ref.mean_data()[r]);
      rstd[r] = static_cast<float>(ref.rstd_data()[r]);
    }
  }
  const float* g() const { return p.affine ? gamma.data() : nullptr; }
  const float* b() const { return p.affine ? beta.data() : nullptr; }
  Accuracy Check(ThreadPool& pool = SharedThreadPool(2)) {
    return CheckOutputs(
        p, test_support::LnIn(x.data(), g(), b()),
        test_support::LnOut(y.data(), p.stats ? mean.data() : nullptr, p.stats ? rstd.data() : nullptr),
        ref, pool);
  }
  double Got(int64_t i) const { return LoadAsDouble(p.dtype, y.data(), i); }
  double Ref(int64_t i) const { return ref.y_data()[i]; }
  double RefRounded(int64_t i) const { return RoundToDType(ref.y_data()[i], p.dtype); }
  void SetBits(int64_t i, uint32_t bits) {
    if (p.dtype == DType::kF32) {
      std::memcpy(y.data() + 4 * i, &bits, 4);
    } else {
      const uint16_t b16 = static_cast<uint16_t>(bits);
      std::memcpy(y.data() + 2 * i, &b16, 2);
    }
  }
  void Set(int64_t i, double v) { StoreFromDouble(p.dtype, y.data(), i, v); }
  // Moves element i by k representable values of the dtype (away from zero for k > 0).
  void MoveUlps(int64_t i, int64_t k) {
    uint32_t bits = LoadBits(p.dtype, y.data(), i);
    SetBits(i, static_cast<uint32_t>(static_cast<int64_t>(bits) + k));
  }
  // The scale of element i: |gamma| (|n| + sigma * rstd) + |beta|.
  double Scale(int64_t i) const {
    const int64_t r = i / p.cols, c = i % p.cols;
    const double rs = ref.rstd_data()[r];
    const double n = (LoadAsDouble(p.dtype, x.data(), i) - ref.mean_data()[r]) * rs;
    const double spread = std::sqrt(std::max(0.0, 1.0 - p.eps * rs * rs));
    const double ga = p.affine ? std::fabs(gamma[c]) : 1.0,
                 be = p.affine ? std::fabs(beta[c]) : 0.0;
    return ga * (std::fabs(n) + spread) + be;
  }
  // The two parts of the bound of element i holding `got`, as documented:
  // output_ulps * ulp(max(|got|, |ref|)) (rounding) + compute_eps_units *
  // eps_f32 * scale (compute), ref unrounded.
  double Rounding(int64_t i, double got) const {
    return ThresholdsFor(p).output_ulps *
           DTypeUlp(p.dtype, std::max(std::fabs(got), std::fabs(Ref(i))));
  }
  double Compute(int64_t i) const { return ThresholdsFor(p).compute_eps_units * kEpsF32 * Scale(i); }
  double Bound(int64_t i, double got) const { return Rounding(i, got) + Compute(i); }
  double Bound(int64_t i) const { return Bound(i, Ref(i)); }
  // The bound ratio of element i: the share of the compute part used beyond
  // the rounding part.
  double Ratio(int64_t i) const {
    const double got = Got(i);
    return std::max(0.0, std::fabs(got - Ref(i)) - Rounding(i, got)) / Compute(i);
  }
};

TEST(MetricsTest, CorrectlyRoundedOutputsPassWithinHalfAScaleUlp) {
  for (DType dtype : kDTypes) {
    for (Distribution dist : AllDistributions()) {
      Fixture f(20, 33, dtype, dist);
      const Accuracy a = f.Check();
      EXPECT_TRUE(a.passed) << f.p.ShortName() << ": " << a.reason;
      EXPECT_EQ(a.reason, "");
      EXPECT_EQ(a[TensorId::kY]->checked, 20u * 33u);
      EXPECT_EQ(a[TensorId::kY]->failed, 0u);
      // Only the final rounding: |RN(y) - y| <= ulp(y) / 2 <= ulp(scale) / 2.
      EXPECT_LE(a[TensorId::kY]->max_ulp, 0.5);
      EXPECT_EQ(a[TensorId::kY]->max_bit_distance, 0u);
      EXPECT_EQ(a[TensorId::kY]->off_by_one, 0u);
      EXPECT_LT(a[TensorId::kY]->max_bound_ratio, 1);
      // Finite once rounded to the dtype (special's columns of huge gamma
      // overflow to Inf there, and an Inf meets an Inf outside the histogram).
      uint64_t finite = 0;
      for (int64_t i = 0; i < f.p.elements(); ++i)
        finite += std::isfinite(RoundToDType(f.ref.y_data()[i], dtype));
      EXPECT_EQ(a[TensorId::kY]->ulp_hist[0], finite);
      EXPECT_EQ(a[TensorId::kMean]->checked, 20u);
      EXPECT_EQ(a[TensorId::kRstd]->failed, 0u);
      EXPECT_EQ(a.thresholds.compute_eps_units, ThresholdsFor(f.p).compute_eps_units);
    }
  }
}

TEST(MetricsTest, ErrorsAreMeasuredInUlpsOfTheElementScale) {
  for (DType dtype : kDTypes) {
    Fixture f(4, 100, dtype, Distribution::kNormal);
    const int64_t k = 137;
    const double moved = f.RefRounded(k) + 3 * DTypeUlp(dtype, f.Scale(k));
    f.Set(k, moved);
    const Accuracy a = f.Check();
    const double want = std::fabs(f.Got(k) - f.Ref(k)) / DTypeUlp(dtype, f.Scale(k));
    EXPECT_DOUBLE_EQ(a[TensorId::kY]->max_ulp, want);
    EXPECT_GT(want, 2.5);
    EXPECT_LT(want, 3.5);
    EXPECT_EQ(a[TensorId::kY]->ulp_hist[UlpBin(want)], 1u);
    EXPECT_EQ(a[TensorId::kY]->max_abs, std::fabs(f.Got(k) - f.Ref(k)));
    EXPECT_EQ(a[TensorId::kY]->worst_index, k);
    EXPECT_EQ(a[TensorId::kY]->worst_got, f.Got(k));
    EXPECT_EQ(a[TensorId::kY]->worst_ref, f.Ref(k));
    EXPECT_NEAR(a[TensorId::kY]->max_bound_ratio, f.Ratio(k), 1e-12);
    EXPECT_NEAR(a[TensorId::kY]->max_rel, a[TensorId::kY]->max_abs / std::max(std::fabs(f.Ref(k)), a.thresholds.rel_floor),
                1e-15);
  }
}

TEST(MetricsTest, BoundIsTheLineBetweenPassAndFail) {
  // f32: the compute term dominates, so errors of 0.9 and 1.1 bounds are representable.
  for (bool affine : {true, false}) {
    Fixture f(3, 768, DType::kF32, Distribution::kNormal, affine);
    const int64_t k = 1000;
    const double ref = f.Ref(k);
    const double bound = f.Bound(k);
    ASSERT_GT(bound, 8 * UlpOf(DType::kF32, ref));
    f.Set(k, ref + 0.9 * bound);
    Accuracy a = f.Check();
    EXPECT_TRUE(a.passed) << a.reason;
    EXPECT_NEAR(a[TensorId::kY]->max_bound_ratio, 0.9, 0.02);
    f.Set(k, ref - 1.1 * bound);
    a = f.Check();
    EXPECT_FALSE(a.passed);
    EXPECT_EQ(a[TensorId::kY]->failed, 1u);
    EXPECT_NEAR(a[TensorId::kY]->max_bound_ratio, 1.1, 0.02);
    EXPECT_EQ(a[TensorId::kY]->worst_index, k);
    EXPECT_NE(a.reason.find("y: 1 of 2304 over bound"), std::string::npos) << a.reason;
    EXPECT_NE(a.reason.find("row 1 col 232"), std::string::npos) << a.reason;
    EXPECT_EQ(a.reason.find('\n'), std::string::npos);
  }
}

// bf16/f16 against the unrounded reference: half an output ulp plus a compute
// term far below it. The neighbour of the correctly rounded value fails unless
// y lies within the compute term of the midpoint between the two.
TEST(MetricsTest, SixteenBitNeighbourOfTheRoundedValueFailsAwayFromTies) {
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    Fixture f(3, 768, dtype, Distribution::kNormal);
    int64_t moved = 0, failed_expected = 0;
    for (int64_t k = 0; k < f.p.elements(); k += 97) {
      const double ulp = UlpOf(dtype, f.RefRounded(k));
      // Distance of y from the midpoint on the side we move to.
      const double dist_to_mid = ulp / 2 - std::fabs(f.Ref(k) - f.RefRounded(k));
      const int64_t dir = f.Ref(k) >= f.RefRounded(k) ? 1 : -1;
      const int64_t away = f.RefRounded(k) >= 0 ? dir : -dir;  // MoveUlps counts away from zero
      f.MoveUlps(k, away);
      ++moved;
      failed_expected += dist_to_mid > ThresholdsFor(f.p).compute_eps_units * kEpsF32 * f.Scale(k);
    }
    const Accuracy a = f.Check();
    EXPECT_EQ(a[TensorId::kY]->off_by_one, static_cast<uint64_t>(moved));
    EXPECT_EQ(a[TensorId::kY]->max_bit_distance, 1u);
    EXPECT_EQ(a[TensorId::kY]->failed, static_cast<uint64_t>(failed_expected));
    EXPECT_GT(failed_expected, moved * 9 / 10);  // ties are rare
    EXPECT_FALSE(a.passed);
  }
}

TEST(MetricsTest, UlpHistogramBins) {
  const double ulps[] = {0, 0.5, 0.50001, 1, 1.5, 2, 3, 4, 8, 8.5, 16, 64, 65, 256, 4096, 4097, 1e9};
  const int expected_bin[] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9};
  for (size_t j = 0; j < std::size(ulps); ++j) EXPECT_EQ(UlpBin(ulps[j]), expected_bin[j]) << ulps[j];
  EXPECT_STREQ(UlpBinLabel(0), "<=0.5");
  EXPECT_STREQ(UlpBinLabel(3), "2-4");
  EXPECT_STREQ(UlpBinLabel(8), "256-4096");
  EXPECT_STREQ(UlpBinLabel(9), ">4096");
  EXPECT_STREQ(UlpBinLabel(10), "?");
  // DTypeUlp: the spacing at |v|, clamped at the smallest normal exponent.
  EXPECT_EQ(DTypeUlp(DType::kF32, 1.0), 0x1p-23);
  EXPECT_EQ(DTypeUlp(DType::kF32, -3.0), 0x1p-22);
  EXPECT_EQ(DTypeUlp(DType::kBF16, 1.5), 0x1p-7);
  EXPECT_EQ(DTypeUlp(DType::kF16, 1000.0), 0.5);
  EXPECT_EQ(DTypeUlp(DType::kF16, 0.0), 0x1p-24);
  EXPECT_EQ(DTypeUlp(DType::kF32, 0.0), 0x1p-149);
}

// The audit's case: a passing f32 element whose reference is 1.8e-8 is
// billions of representable values from a result of the other sign, but a
// tiny error on the element's scale. The bit distance is kept, named as such.
TEST(MetricsTest, BitDistanceAcrossZeroIsHugeButTheScaleUlpIsNot) {
  Fixture f(1, 8, DType::kF32, Distribution::kNormal, false, false);
  f.ref.data(TensorId::kY)[0] = 1.8e-8;
  f.Set(0, -1.0e-8);
  const Accuracy a = f.Check();
  EXPECT_TRUE(a.passed) << a.reason;
  EXPECT_GT(a[TensorId::kY]->max_bit_distance, 1000000000u);
  EXPECT_LT(a[TensorId::kY]->max_ulp, 2);
  EXPECT_EQ(a[TensorId::kY]->ulp_hist[9], 0u);
}

TEST(MetricsTest, RelL2AndMaxRelUseTheUnroundedReference) {
  Fixture f(2, 50, DType::kF32, Distribution::kUniform, true, false);
  f.Set(3, f.RefRounded(3) + 0.25);
  f.Set(70, f.RefRounded(70) - 0.5);
  // An element whose reference is below the relative floor.
  f.ref.data(TensorId::kY)[9] = 1e-6;
  f.Set(9, 1e-6 + 1e-4);
  double num = 0, den = 0, max_rel = 0;
  for (int64_t i = 0; i < 100; ++i) {
    const double d = f.Got(i) - f.Ref(i);
    num += d * d;
    den += f.Ref(i) * f.Ref(i);
    max_rel = std::max(max_rel, std::fabs(d) / std::max(std::fabs(f.Ref(i)), 1e-3));
  }
  const Accuracy a = f.Check();
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a[TensorId::kY]->failed, 3u);
  EXPECT_NEAR(a[TensorId::kY]->rel_l2, std::sqrt(num / den), 1e-12 * std::sqrt(num / den));
  EXPECT_DOUBLE_EQ(a[TensorId::kY]->max_rel, max_rel);
  EXPECT_DOUBLE_EQ(a[TensorId::kY]->max_abs, std::fabs(f.Got(70) - f.Ref(70)));
  EXPECT_EQ(a.thresholds.rel_floor, 1e-3);
}

TEST(MetricsTest, PoisonIsUnwrittenEvenWhereNaNIsExpected) {
  for (DType dtype : kDTypes) {
    Fixture f(16, 40, dtype, Distribution::kSpecial);
    ASSERT_TRUE(IsSpecialRow(f.p, 1));
    // Row 1 expects NaN everywhere; a poisoned element there is still unwritten.
    f.SetBits(1 * 40 + 7, PoisonBits(dtype));
    f.SetBits(5 * 40 + 39, PoisonBits(dtype));
    const Accuracy a = f.Check();
    EXPECT_FALSE(a.passed);
    EXPECT_EQ(a[TensorId::kY]->unwritten, 2u);
    EXPECT_EQ(a[TensorId::kY]->failed, 2u);
    EXPECT_EQ(a[TensorId::kY]->nan_mismatch, 0u);
    EXPECT_EQ(a[TensorId::kY]->checked, 640u);
    EXPECT_EQ(a[TensorId::kY]->worst_index, 47);  // first of the equally bad
    EXPECT_NE(a.reason.find("y: 2 of 640 unwritten (first at row 1 col 7)"), std::string::npos)
        << a.reason;
  }
}

TEST(MetricsTest, ComputedNaNIsNotPoison) {
  for (DType dtype : kDTypes) {
    Fixture f(4, 40, dtype, Distribution::kNormal);
    // The canonical NaN of arithmetic (and any NaN other than the pattern) is a
    // NaN mismatch in a finite row, not an unwritten element.
    f.Set(50, std::numeric_limits<double>::quiet_NaN());
    const Accuracy a = f.Check();
    EXPECT_FALSE(a.passed);
    EXPECT_EQ(a[TensorId::kY]->unwritten, 0u);
    EXPECT_EQ(a[TensorId::kY]->nan_mismatch, 1u);
    EXPECT_NE(a.reason.find("y: 1 NaN/Inf mismatches (first at row 1 col 10: got nan expected"),
              std::string::npos)
        << a.reason;
  }
}

TEST(MetricsTest, NonFiniteRowsMustBeNaN) {
  Fixture f(16, 40, DType::kF32, Distribution::kSpecial);
  ASSERT_TRUE(IsSpecialRow(f.p, 2));
  EXPECT_TRUE(f.Check().passed);
  f.Set(2 * 40 + 3, 0.5);                                      // a number where NaN is expected
  f.Set(2 * 40 + 4, std::numeric_limits<double>::infinity());  // Inf where NaN is expected
  f.Set(3 * 40 + 0, std::numeric_limits<double>::infinity());  // Inf in a finite row
  const Accuracy a = f.Check();
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a[TensorId::kY]->nan_mismatch, 3u);
  EXPECT_EQ(a[TensorId::kY]->failed, 3u);
  // Non-finite comparisons do not enter the numeric statistics: only the
  // rounding of the correctly rounded finite elements shows (in ulps: the
  // columns of gamma 2^127 have outputs near 1e38).
  EXPECT_LE(a[TensorId::kY]->max_ulp, 0.5);
  EXPECT_LT(a[TensorId::kY]->max_bound_ratio, 1e-9);
}

TEST(MetricsTest, MeanAndRstdChecks) {
  Fixture f(16, 300, DType::kF32, Distribution::kSpecial);
  const Thresholds t = ThresholdsFor(f.p);
  const int64_t r = 4;
  ASSERT_FALSE(IsSpecialRow(f.p, r));
  const double m = f.ref.mean_data()[r], rs = f.ref.rstd_data()[r];
  const double sd = std::sqrt(1 / (rs * rs) - f.p.eps);
  const double mean_tol = t.stats_eps_units * kEpsF32 * (std::fabs(m) + sd);
  // Within tolerance: pass.
  f.mean[r] = static_cast<float>(m + 0.8 * mean_tol);
  f.rstd[r] = static_cast<float>(rs * (1 - 0.8 * t.stats_eps_units * kEpsF32));
  Accuracy a = f.Check();
  EXPECT_TRUE(a.passed) << a.reason;
  EXPECT_GT(a[TensorId::kMean]->max_bound_ratio, 0.5);
  EXPECT_LE(a[TensorId::kMean]->max_bound_ratio, 1);
  // Beyond: fail, named.
  f.mean[r] = static_cast<float>(m + 1.5 * mean_tol);
  f.rstd[r] = static_cast<float>(rs * (1 + 1.5 * t.stats_eps_units * kEpsF32));
  a = f.Check();
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a[TensorId::kMean]->failed, 1u);
  EXPECT_EQ(a[TensorId::kRstd]->failed, 1u);
  EXPECT_EQ(a[TensorId::kMean]->worst_index, r);
  EXPECT_NE(a.reason.find("mean: 1 of 16 over bound"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("at row 4"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("; rstd: 1 of 16 over bound"), std::string::npos) << a.reason;
  f.mean[r] = static_cast<float>(m);
  f.rstd[r] = static_cast<float>(rs);
  // Special rows: NaN or Inf both fine, a number is not; poison is unwritten.
  ASSERT_TRUE(IsSpecialRow(f.p, 1) && IsSpecialRow(f.p, 2));
  f.mean[1] = std::numeric_limits<float>::infinity();
  f.rstd[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(f.Check().passed);
  f.mean[2] = 0.0f;
  f.rstd[0] = BitsToFloat(kPoisonF32Bits);
  f.mean[5] = std::numeric_limits<float>::quiet_NaN();
  a = f.Check();
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a[TensorId::kMean]->nan_mismatch, 2u);
  EXPECT_EQ(a[TensorId::kRstd]->unwritten, 1u);
  EXPECT_EQ(a[TensorId::kY]->failed, 0u);
}

TEST(MetricsTest, MissingStatsOutputsFail) {
  Fixture f(2, 8, DType::kF32, Distribution::kNormal);
  const Accuracy a =
      CheckOutputs(f.p, test_support::LnIn(f.x.data(), f.g(), f.b()),
                   test_support::LnOut(f.y.data(), nullptr, nullptr), f.ref, SharedThreadPool(1));
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.reason.find("mean: not returned"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("rstd: not returned"), std::string::npos) << a.reason;
}

TEST(MetricsTest, WorstElementHasTheLargestRatio) {
  Fixture f(8, 500, DType::kF32, Distribution::kNormal, true, false);
  f.Set(100, f.Ref(100) + 0.5 * f.Bound(100));
  f.Set(3000, f.Ref(3000) + 0.7 * f.Bound(3000));
  f.Set(3999, f.Ref(3999) + 0.6 * f.Bound(3999));
  const Accuracy a = f.Check();
  EXPECT_TRUE(a.passed);
  EXPECT_EQ(a[TensorId::kY]->worst_index, 3000);
  EXPECT_NEAR(a[TensorId::kY]->max_bound_ratio, 0.7, 0.01);
}

TEST(MetricsTest, SameStatisticsForAnyThreadCount) {
  Fixture f(70, 1000, DType::kBF16, Distribution::kOutliers);
  uint64_t s = 12345;
  for (int64_t i = 0; i < f.p.elements(); i += 7) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    f.MoveUlps(i, static_cast<int64_t>(s >> 62));  // 0..3 ulps
  }
  f.SetBits(777, PoisonBits(DType::kBF16));
  ThreadPool one(1), three(3);
  const Accuracy a = f.Check(one), b = f.Check(three);
  EXPECT_EQ(a.reason, b.reason);
  for (const auto& [x, y] :
       {std::pair(*a[TensorId::kY], *b[TensorId::kY]), std::pair(*a[TensorId::kMean], *b[TensorId::kMean]),
        std::pair(*a[TensorId::kRstd], *b[TensorId::kRstd])}) {
    EXPECT_EQ(x.checked, y.checked);
    EXPECT_EQ(x.failed, y.failed);
    EXPECT_EQ(x.unwritten, y.unwritten);
    EXPECT_EQ(x.max_abs, y.max_abs);
    EXPECT_EQ(x.max_rel, y.max_rel);
    EXPECT_EQ(x.max_ulp, y.max_ulp);
    EXPECT_EQ(x.max_bit_distance, y.max_bit_distance);
    EXPECT_EQ(x.off_by_one, y.off_by_one);
    EXPECT_EQ(x.rel_l2, y.rel_l2);  // bit-identical: partials merged in a fixed order
    EXPECT_EQ(x.max_bound_ratio, y.max_bound_ratio);
    EXPECT_EQ(x.ulp_hist, y.ulp_hist);
    EXPECT_EQ(x.worst_index, y.worst_index);
  }
}

TEST(MetricsTest, ThresholdsGrowWithTheRowWidth) {
  Problem p;
  p.cols = 768;
  // 6 + ceil(log2 768) + ceil(sqrt(768) / 8) = 6 + 10 + 4.
  EXPECT_EQ(ThresholdsFor(p).compute_eps_units, 20);
  p.cols = 1;
  EXPECT_EQ(ThresholdsFor(p).compute_eps_units, 8);
  p.cols = int64_t{1} << 20;
  EXPECT_EQ(ThresholdsFor(p).compute_eps_units, 6 + 20 + 128);
  double last = 0;
  for (int64_t h = 1; h < (int64_t{1} << 24); h = h * 3 + 1) {
    p.cols = h;
    const Thresholds t = ThresholdsFor(p);
    EXPECT_GE(t.compute_eps_units, last);
    last = t.compute_eps_units;
    EXPECT_EQ(t.output_ulps, 0.5);
    EXPECT_EQ(t.stats_eps_units, t.compute_eps_units);
  }
  // The same for every dtype: the arithmetic is f32 in all of them.
  p.dtype = DType::kBF16;
  EXPECT_EQ(ThresholdsFor(p).compute_eps_units, last);
}

TEST(MetricsTest, EmptyProblemPasses) {
  Problem p;
  p.rows = 0;
  p.cols = 16;
  p.stats = true;
  const Reference ref = ComputeReference(p, nullptr, nullptr, nullptr, SharedThreadPool(2));
  float dummy = 0;
  const Accuracy a =
      CheckOutputs(p, HostTensors{}, test_support::LnOut(&dummy, &dummy, &dummy), ref, SharedThreadPool(2));
  EXPECT_TRUE(a.passed);
  EXPECT_EQ(a[TensorId::kY]->checked, 0u);
}

// The cost of verifying a 256 MiB f32 problem (docs/verification.md, "Cost").
// Disabled by default (it allocates 1.3 GB); run with
//   metrics_test --gtest_also_run_disabled_tests --gtest_filter='*VerificationCost*'
TEST(MetricsTest, DISABLED_VerificationCostOf256MiB) {
  auto wall = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Problem p;
    p.rows = 16384;
    p.cols = 4096;
    p.stats = true;
    HostBuffer x(static_cast<size_t>(p.elements()) * 4), y(static_cast<size_t>(p.elements()) * 4);
    std::vector<float> g(p.cols), b(p.cols), m(p.rows), r(p.rows);
    const double c0 = ProcessCpuSeconds(), w0 = wall();
    FillInput(p, x.data(), pool);
    FillAffine(p, g.data(), b.data());
    const double c1 = ProcessCpuSeconds(), w1 = wall();
    const Reference ref = ComputeReference(p, x.data(), g.data(), b.data(), pool);
    const double c2 = ProcessCpuSeconds(), w2 = wall();
    pool.ParallelFor(p.elements(), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) y.as<float>()[i] = static_cast<float>(ref.y_data()[i]);
    });
    for (int64_t i = 0; i < p.rows; ++i) {
      m[i] = static_cast<float>(ref.mean_data()[i]);
      r[i] = static_cast<float>(ref.rstd_data()[i]);
    }
    const double c3 = ProcessCpuSeconds(), w3 = wall();
    const Accuracy a = CheckOutputs(p, test_support::LnIn(x.data(), g.data(), b.data()),
                                    test_support::LnOut(y.data(), m.data(), r.data()), ref, pool);
    const double c4 = ProcessCpuSeconds(), w4 = wall();
    EXPECT_TRUE(a.passed);
    std::printf(
        "%s, %d threads: fill %.3f s wall / %.3f s cpu, reference %.3f / %.3f, check %.3f / "
        "%.3f\n",
        p.ShortName().c_str(), threads, w1 - w0, c1 - c0, w2 - w1, c2 - c1, w4 - w3, c4 - c3);
  }
}

}  // namespace
}  // namespace lnbench
