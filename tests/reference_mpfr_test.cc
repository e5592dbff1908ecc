// The float64 reference against an MPFR oracle (256-bit arithmetic) on every
// distribution, every dtype and widths up to 2^20, including 1e6 offsets:
// the reference must be within a few float64 ulps of the exact result.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/generators.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"

namespace lnbench {
namespace {

constexpr double kEpsF64 = 0x1p-52;
constexpr mpfr_prec_t kBits = 256;

// Allowed error, in float64 ulps of each quantity's scale (see MaxErrors).
// Measured (printed by each test): at most 1.9 for y, 0.4 for the mean and
// 1.6 for rstd, over every distribution, dtype and width here.
constexpr double kAllowedUlps = 4;

// RAII for mpfr_t.
struct Mp {
  mpfr_t v;
  Mp() {
    mpfr_init2(v, kBits);
    mpfr_set_zero(v, 1);
  }
  ~Mp() { mpfr_clear(v); }
  Mp(const Mp&) = delete;
  Mp& operator=(const Mp&) = delete;
  operator mpfr_ptr() { return v; }
};

struct OracleRow {
  double mean, rstd, stddev;
  std::vector<double> y;  // rounded to double from 256 bits
  std::vector<double> n;  // normalized values (for the scale of y's error)
};

// Computes one row in 256-bit arithmetic: for inputs of at most 53 bits the
// sum and the squared deviations are exact, the rest correctly rounded to 256 bits.
OracleRow Oracle(const std::vector<double>& x, const float* gamma, const float* beta, double eps) {
  const int64_t h = static_cast<int64_t>(x.size());
  Mp sum, mean, dev, sq, var, rstd, t;
  for (double v : x) mpfr_add_d(sum, sum, v, MPFR_RNDN);
  mpfr_div_si(mean, sum, h, MPFR_RNDN);
  for (double v : x) {
    mpfr_d_sub(dev, v, mean, MPFR_RNDN);
    mpfr_sqr(t, dev, MPFR_RNDN);
    mpfr_add(sq, sq, t, MPFR_RNDN);
  }
  mpfr_div_si(var, sq, h, MPFR_RNDN);
  OracleRow out;
  out.stddev = std::sqrt(mpfr_get_d(var, MPFR_RNDN));
  mpfr_add_d(t, var, eps, MPFR_RNDN);
  mpfr_rec_sqrt(rstd, t, MPFR_RNDN);
  out.mean = mpfr_get_d(mean, MPFR_RNDN);
  out.rstd = mpfr_get_d(rstd, MPFR_RNDN);
  out.y.resize(x.size());
  out.n.resize(x.size());
  for (int64_t i = 0; i < h; ++i) {
    mpfr_d_sub(dev, x[i], mean, MPFR_RNDN);
    mpfr_mul(dev, dev, rstd, MPFR_RNDN);
    out.n[i] = mpfr_get_d(dev, MPFR_RNDN);
    if (gamma != nullptr) {
      mpfr_mul_d(dev, dev, gamma[i], MPFR_RNDN);
      mpfr_add_d(dev, dev, beta[i], MPFR_RNDN);
    }
    out.y[i] = mpfr_get_d(dev, MPFR_RNDN);
  }
  return out;
}

// Largest errors seen, in float64 ulps of each quantity's scale:
// y: |gamma| (|n| + 1) + |beta|; mean: |mean| + stddev; rstd: rstd.
struct MaxErrors {
  double y = 0, mean = 0, rstd = 0;
  void Add(const MaxErrors& o) {
    y = std::max(y, o.y);
    mean = std::max(mean, o.mean);
    rstd = std::max(rstd, o.rstd);
  }
};

MaxErrors CompareRow(const double* y, double mean, double rstd, const OracleRow& o,
                     const float* gamma, const float* beta) {
  MaxErrors e;
  e.mean = std::fabs(mean - o.mean) / (kEpsF64 * (std::fabs(o.mean) + o.stddev));
  e.rstd = std::fabs(rstd - o.rstd) / (kEpsF64 * o.rstd);
  for (size_t i = 0; i < o.y.size(); ++i) {
    const double g = gamma ? std::fabs(gamma[i]) : 1.0;
    const double b = beta ? std::fabs(beta[i]) : 0.0;
    const double scale = g * (std::fabs(o.n[i]) + 1) + b;
    e.y = std::max(e.y, std::fabs(y[i] - o.y[i]) / (kEpsF64 * scale));
  }
  return e;
}

// Checks ComputeReference on (rows x cols) of every distribution in `dtype`.
MaxErrors CheckAgainstOracle(DType dtype, int64_t rows, int64_t cols, bool affine) {
  ThreadPool& pool = SharedThreadPool(2);
  MaxErrors worst;
  for (Distribution dist : AllDistributions()) {
    const Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 1234);
    std::vector<uint8_t> x(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
    std::vector<float> gamma(cols), beta(cols);
    FillInput(p, x.data(), pool);
    FillAffine(p, gamma.data(), beta.data());
    const float* g = affine ? gamma.data() : nullptr;
    const float* b = affine ? beta.data() : nullptr;
    const Reference ref = ComputeReference(p, x.data(), g, b, pool);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> row(cols);
      for (int64_t c = 0; c < cols; ++c) row[c] = LoadAsDouble(dtype, x.data(), r * cols + c);
      const double* y = ref.y_data() + r * cols;
      const double mean = ref.mean_data()[r], rstd = ref.rstd_data()[r];
      if (IsSpecialRow(p, r)) {
        // NaN or Inf in the row: every y is NaN, the statistics non-finite.
        for (int64_t c = 0; c < cols; ++c)
          EXPECT_TRUE(std::isnan(y[c])) << p.ShortName() << " row " << r;
        EXPECT_FALSE(std::isfinite(mean) && std::isfinite(rstd)) << p.ShortName() << " row " << r;
        continue;
      }
      const OracleRow o = Oracle(row, g, b, p.eps);
      const MaxErrors e = CompareRow(y, mean, rstd, o, g, b);
      EXPECT_LE(e.y, kAllowedUlps) << p.ShortName() << " row " << r;
      EXPECT_LE(e.mean, kAllowedUlps) << p.ShortName() << " row " << r;
      EXPECT_LE(e.rstd, kAllowedUlps) << p.ShortName() << " row " << r;
      if (dist == Distribution::kConstant) {
        // Variance 0: y is exactly beta (exactly 0 without affine).
        for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(y[c], b ? b[c] : 0.0) << p.ShortName();
        EXPECT_EQ(mean, row[0]);
        EXPECT_EQ(rstd, 1 / std::sqrt(p.eps));
      }
      worst.Add(e);
    }
  }
  return worst;
}

void Print(const char* what, const MaxErrors& e) {
  std::printf("%s: max error in float64 ulps of scale: y %.2f, mean %.2f, rstd %.2f\n", what, e.y,
              e.mean, e.rstd);
}

TEST(ReferenceMpfrTest, SmallAndAwkwardWidthsEveryDTypeAndDistribution) {
  MaxErrors worst;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t cols : {1, 2, 3, 15, 300, 768, 4097}) {
      worst.Add(CheckAgainstOracle(dtype, 17, cols, true));
    }
  }
  worst.Add(CheckAgainstOracle(DType::kF32, 5, 768, false));
  Print("H <= 4097", worst);
}

TEST(ReferenceMpfrTest, WideRowsUpTo2To20) {
  MaxErrors worst;
  worst.Add(CheckAgainstOracle(DType::kBF16, 1, 65537, true));
  worst.Add(CheckAgainstOracle(DType::kF32, 1, int64_t{1} << 20, true));
  Print("H up to 2^20", worst);
}

TEST(ReferenceMpfrTest, DoubleInputsThatAreNotFloats) {
  // ReferenceRow takes any doubles (user files in float64): 1e6 + N(0,1)
  // with all 53 bits used, so x - mean is no longer exact.
  std::vector<double> x(10007);
  uint64_t s = 88172645463325252ull;
  for (double& v : x) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v = 1e6 + (static_cast<double>(s >> 11) * 0x1p-53 - 0.5) * 3.4641016151377544;
  }
  std::vector<float> g(x.size(), 1.5f), b(x.size(), -0.25f);
  std::vector<double> y(x.size());
  double mean, rstd;
  ReferenceRow(x.data(), static_cast<int64_t>(x.size()), g.data(), b.data(), 1e-5, y.data(), &mean,
               &rstd);
  const OracleRow o = Oracle(x, g.data(), b.data(), 1e-5);
  const MaxErrors e = CompareRow(y.data(), mean, rstd, o, g.data(), b.data());
  EXPECT_LE(e.y, kAllowedUlps);
  EXPECT_LE(e.mean, kAllowedUlps);
  EXPECT_LE(e.rstd, kAllowedUlps);
  Print("float64 inputs, 1e6 offset", e);
}

TEST(ReferenceMpfrTest, NaiveDoubleTwoPassIsNotGoodEnoughOnOffsetRows) {
  // Why the compensation term: without it, a 1e6-offset row's y is off by
  // ~1e-10 absolute, millions of ulps of a y near 1. The oracle sees that.
  Problem p;
  p.rows = 1;
  p.cols = 3001;  // not a power of two: sum / H rounds
  p.dist = Distribution::kOffset1e6;
  std::vector<float> x(3001);
  FillInput(p, x.data(), SharedThreadPool(1));
  std::vector<double> xd(x.begin(), x.end());
  double sum = 0;
  for (double v : xd) sum += v;
  const double mean = sum / 3001;
  double sq = 0;
  for (double v : xd) sq += (v - mean) * (v - mean);
  const double rstd = 1 / std::sqrt(sq / 3001 + p.eps);
  std::vector<double> y(3001);
  for (int i = 0; i < 3001; ++i) y[i] = (xd[i] - mean) * rstd;
  const OracleRow o = Oracle(xd, nullptr, nullptr, p.eps);
  const MaxErrors naive = CompareRow(y.data(), mean, rstd, o, nullptr, nullptr);
  // The mean's rounding (half an ulp of 1e6 in double, 6e-11) shows.
  EXPECT_GT(naive.y, 1000);
  double ref_mean, ref_rstd;
  std::vector<double> ref_y(3001);
  ReferenceRow(xd.data(), 3001, nullptr, nullptr, p.eps, ref_y.data(), &ref_mean, &ref_rstd);
  EXPECT_LE(CompareRow(ref_y.data(), ref_mean, ref_rstd, o, nullptr, nullptr).y, kAllowedUlps);
}

TEST(ReferenceMpfrTest, SameResultForAnyThreadCount) {
  Problem p;
  p.rows = 33;
  p.cols = 1000;
  p.dist = Distribution::kOutliers;
  std::vector<float> x(33000), g(1000), b(1000);
  FillInput(p, x.data(), SharedThreadPool(1));
  FillAffine(p, g.data(), b.data());
  ThreadPool one(1), three(3);
  const Reference a = ComputeReference(p, x.data(), g.data(), b.data(), one);
  const Reference c = ComputeReference(p, x.data(), g.data(), b.data(), three);
  EXPECT_EQ(0, std::memcmp(a.y_data(), c.y_data(), 33000 * sizeof(double)));
  EXPECT_EQ(0, std::memcmp(a.mean_data(), c.mean_data(), 33 * sizeof(double)));
  EXPECT_EQ(0, std::memcmp(a.rstd_data(), c.rstd_data(), 33 * sizeof(double)));
}

// ---------------------------------------------------------------- RMSNorm

// One RMSNorm row in 256-bit arithmetic: the squares of inputs of at most 53
// bits are exact, their sum and everything after correctly rounded to 256 bits.
struct RmsOracleRow {
  double rrms;
  std::vector<double> y;
};
RmsOracleRow RmsOracle(const std::vector<double>& x, const float* gamma, double eps) {
  const int64_t h = static_cast<int64_t>(x.size());
  Mp sq, t, rrms;
  for (double v : x) {
    mpfr_set_d(t, v, MPFR_RNDN);
    mpfr_sqr(t, t, MPFR_RNDN);
    mpfr_add(sq, sq, t, MPFR_RNDN);
  }
  mpfr_div_si(sq, sq, h, MPFR_RNDN);
  mpfr_add_d(sq, sq, eps, MPFR_RNDN);
  mpfr_rec_sqrt(rrms, sq, MPFR_RNDN);
  RmsOracleRow out;
  out.rrms = mpfr_get_d(rrms, MPFR_RNDN);
  out.y.resize(x.size());
  for (int64_t i = 0; i < h; ++i) {
    mpfr_mul_d(t, rrms, x[i], MPFR_RNDN);
    if (gamma != nullptr) mpfr_mul_d(t, t, gamma[i], MPFR_RNDN);
    out.y[i] = mpfr_get_d(t, MPFR_RNDN);
  }
  return out;
}

// Largest errors of the RMSNorm reference, in float64 ulps: y relative to
// |gamma x| rrms (its own size: every step is a product), rrms relative.
struct RmsErrors {
  double y = 0, rrms = 0;
};

RmsErrors CheckRmsAgainstOracle(DType dtype, int64_t rows, int64_t cols, bool affine) {
  ThreadPool& pool = SharedThreadPool(2);
  RmsErrors worst;
  for (Distribution dist : AllDistributions()) {
    const Problem p =
        test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 1234, Norm::kRmsNorm);
    std::vector<uint8_t> x(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
    std::vector<float> gamma(cols), beta(cols);
    FillInput(p, x.data(), pool);
    FillAffine(p, gamma.data(), beta.data());
    const float* g = affine ? gamma.data() : nullptr;
    const Reference ref = ComputeReference(p, x.data(), g, nullptr, pool);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> row(cols);
      for (int64_t c = 0; c < cols; ++c) row[c] = LoadAsDouble(dtype, x.data(), r * cols + c);
      const double* y = ref.data(TensorId::kY) + r * cols;
      const double rrms = ref.data(TensorId::kRstd)[r];
      if (IsSpecialRow(p, r)) {
        // NaN in the row: rrms NaN; +-Inf only: rrms 0. Either way no finite y survives an Inf.
        EXPECT_TRUE(std::isnan(rrms) || rrms == 0) << p.ShortName() << " row " << r;
        continue;
      }
      const RmsOracleRow o = RmsOracle(row, g, p.eps);
      worst.rrms = std::max(worst.rrms, std::fabs(rrms - o.rrms) / (kEpsF64 * o.rrms));
      for (int64_t c = 0; c < cols; ++c) {
        const double scale = std::fabs(o.y[c]);
        // A y of exactly 0 (x == 0 or gamma == 0) must be exactly 0.
        if (scale == 0) {
          EXPECT_EQ(y[c], 0.0) << p.ShortName() << " row " << r << " col " << c;
          continue;
        }
        worst.y = std::max(worst.y, std::fabs(y[c] - o.y[c]) / (kEpsF64 * scale));
      }
    }
  }
  return worst;
}

void PrintRms(const char* what, const RmsErrors& e) {
  std::printf("rmsnorm %s: max error in float64 ulps: y %.2f (of |y|), rrms %.2f\n", what, e.y,
              e.rrms);
}

TEST(ReferenceMpfrTest, RmsNormSmallAndAwkwardWidthsEveryDTypeAndDistribution) {
  RmsErrors worst;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t cols : {1, 3, 7, 64, 300, 768, 1001, 4097})
      for (bool affine : {true, false}) {
        const RmsErrors e = CheckRmsAgainstOracle(dtype, 4, cols, affine);
        worst.y = std::max(worst.y, e.y);
        worst.rrms = std::max(worst.rrms, e.rrms);
      }
  EXPECT_LE(worst.y, kAllowedUlps);
  EXPECT_LE(worst.rrms, kAllowedUlps);
  PrintRms("small widths", worst);
}

TEST(ReferenceMpfrTest, RmsNormWideRowsUpTo2To20) {
  RmsErrors worst;
  for (auto [dtype, cols] : {std::pair(DType::kBF16, int64_t{65537}),
                             std::pair(DType::kF32, int64_t{1} << 20)}) {
    const RmsErrors e = CheckRmsAgainstOracle(dtype, 1, cols, true);
    worst.y = std::max(worst.y, e.y);
    worst.rrms = std::max(worst.rrms, e.rrms);
  }
  EXPECT_LE(worst.y, kAllowedUlps);
  EXPECT_LE(worst.rrms, kAllowedUlps);
  PrintRms("wide rows", worst);
}

TEST(ReferenceMpfrTest, EmptyProblem) {
  Problem p;
  p.rows = 0;
  p.cols = 8;
  const Reference r = ComputeReference(p, nullptr, nullptr, nullptr, SharedThreadPool(2));
  EXPECT_FALSE(r.has(TensorId::kY));
}

}  // namespace
}  // namespace lnbench
