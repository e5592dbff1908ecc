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


// ---- Backward -----------------------------------------------------------------

// dgamma and dbeta add each block of kBackwardRowLeaf rows in one float64
// chain (each dgamma term carries two roundings of its own), so their
// allowance is twice the others': still 2^26 times below any f32 bound.
constexpr double kAllowedSumUlps = 2 * kAllowedUlps;

// Largest errors of the backward reference, in float64 ulps of each output's
// scale: dx: |rstd| (|g dy| + mean|g dy| + |xhat| mean|g dy xhat|) (RMSNorm
// without the middle term); dgamma: sum_rows |dy xhat|; dbeta: sum_rows |dy|.
struct BwdErrors {
  double dx = 0, dgamma = 0, dbeta = 0;
  void Add(const BwdErrors& o) {
    dx = std::max(dx, o.dx);
    dgamma = std::max(dgamma, o.dgamma);
    dbeta = std::max(dbeta, o.dbeta);
  }
};

// Checks the backward reference of `p` (inputs from the op's generators)
// against 256-bit arithmetic: dx per row, dgamma/dbeta as exact sums over
// every row. Rows without finite statistics must give NaN dx and make
// dgamma NaN (LayerNorm) where they contribute NaN terms.
BwdErrors CheckBackwardAgainstOracle(const Problem& p) {
  const test_support::HostCase hc(p);
  const bool layernorm = p.norm == Norm::kLayerNorm;
  const int64_t rows = p.rows, cols = p.cols;
  const float* gamma = p.affine ? hc.in<const float>(TensorId::kGamma) : nullptr;
  const float* mean = layernorm ? hc.in<const float>(TensorId::kMean) : nullptr;
  const float* rstd = hc.in<const float>(TensorId::kRstd);
  const double* dx = hc.ref.data(TensorId::kDx);
  std::vector<Mp> dgamma(static_cast<size_t>(cols)), dbeta(static_cast<size_t>(cols));
  std::vector<double> dgamma_mag(static_cast<size_t>(cols)), dbeta_mag(static_cast<size_t>(cols));
  std::vector<bool> col_nan(static_cast<size_t>(cols), false);
  BwdErrors worst;
  Mp xh, gd, a, b, t, u;
  std::vector<double> xhat(static_cast<size_t>(cols)), xr(static_cast<size_t>(cols)),
      dyr(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const double m = layernorm ? mean[r] : 0.0, rs = rstd[r];
    mpfr_set_zero(a, 1);
    mpfr_set_zero(b, 1);
    bool finite = std::isfinite(m) && std::isfinite(rs);
    double amag = 0, bmag = 0;
    for (int64_t c = 0; c < cols; ++c) {
      xr[c] = LoadAsDouble(p.dtype, hc.in(TensorId::kX), r * cols + c);
      dyr[c] = LoadAsDouble(p.dtype, hc.in(TensorId::kDy), r * cols + c);
      finite &= std::isfinite(xr[c]);
    }
    if (!finite) {
      for (int64_t c = 0; c < cols; ++c)
        EXPECT_TRUE(std::isnan(dx[r * cols + c])) << p.ShortName() << " row " << r;
      // Every column gets a NaN term from a LayerNorm row (NaN statistics);
      // an RMSNorm row with only infinities has rrms 0: NaN where x is infinite.
      for (int64_t c = 0; c < cols; ++c) col_nan[c] = col_nan[c] || layernorm || !std::isfinite(xr[c] * rs);
      // dy is finite in every row: dbeta still sums it.
      for (int64_t c = 0; c < cols; ++c) {
        mpfr_add_d(dbeta[c], dbeta[c], dyr[c], MPFR_RNDN);
        dbeta_mag[c] += std::fabs(dyr[c]);
      }
      continue;
    }
    for (int64_t c = 0; c < cols; ++c) {
      const double g = gamma ? gamma[c] : 1.0;
      mpfr_set_d(xh, xr[c], MPFR_RNDN);
      mpfr_sub_d(xh, xh, m, MPFR_RNDN);
      mpfr_mul_d(xh, xh, rs, MPFR_RNDN);
      xhat[c] = mpfr_get_d(xh, MPFR_RNDN);
      mpfr_set_d(gd, dyr[c], MPFR_RNDN);
      mpfr_mul_d(gd, gd, g, MPFR_RNDN);
      mpfr_add(a, a, gd, MPFR_RNDN);
      mpfr_mul(t, gd, xh, MPFR_RNDN);
      mpfr_add(b, b, t, MPFR_RNDN);
      amag += std::fabs(g * dyr[c]);
      bmag += std::fabs(g * dyr[c] * xhat[c]);
      // dgamma and dbeta: exact sums over rows.
      mpfr_mul_d(t, xh, dyr[c], MPFR_RNDN);
      mpfr_add(dgamma[c], dgamma[c], t, MPFR_RNDN);
      mpfr_add_d(dbeta[c], dbeta[c], dyr[c], MPFR_RNDN);
      dgamma_mag[c] += std::fabs(dyr[c] * xhat[c]);
      dbeta_mag[c] += std::fabs(dyr[c]);
    }
    mpfr_div_si(a, a, cols, MPFR_RNDN);
    mpfr_div_si(b, b, cols, MPFR_RNDN);
    amag /= static_cast<double>(cols);
    bmag /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double g = gamma ? gamma[c] : 1.0;
      // dx = rstd (g dy - a - xhat b), every step in 256 bits.
      mpfr_set_d(xh, xr[c], MPFR_RNDN);
      mpfr_sub_d(xh, xh, m, MPFR_RNDN);
      mpfr_mul_d(xh, xh, rs, MPFR_RNDN);
      mpfr_mul(t, xh, b, MPFR_RNDN);
      mpfr_set_d(u, dyr[c], MPFR_RNDN);
      mpfr_mul_d(u, u, g, MPFR_RNDN);
      if (layernorm) mpfr_sub(u, u, a, MPFR_RNDN);
      mpfr_sub(u, u, t, MPFR_RNDN);
      mpfr_mul_d(u, u, rs, MPFR_RNDN);
      const double exact = mpfr_get_d(u, MPFR_RNDN);
      const double scale =
          std::fabs(rs) * (std::fabs(g * dyr[c]) + (layernorm ? amag : 0.0) + std::fabs(xhat[c]) * bmag);
      const double err = std::fabs(dx[r * cols + c] - exact);
      const double ulps = scale > 0 ? err / (kEpsF64 * scale) : (err > 0 ? INFINITY : 0.0);
      EXPECT_LE(ulps, kAllowedUlps) << p.ShortName() << " dx row " << r << " col " << c;
      worst.dx = std::max(worst.dx, ulps);
    }
  }
  if (!p.affine) return worst;
  const auto check_sum = [&](const double* got, std::vector<Mp>& exact, const std::vector<double>& mag,
                             bool may_be_nan, double* out) {
    for (int64_t c = 0; c < cols; ++c) {
      if (may_be_nan && col_nan[c]) {
        EXPECT_TRUE(std::isnan(got[c])) << p.ShortName() << " col " << c;
        continue;
      }
      const double err = std::fabs(got[c] - mpfr_get_d(exact[c], MPFR_RNDN));
      const double ulps = mag[c] > 0 ? err / (kEpsF64 * mag[c]) : (err > 0 ? INFINITY : 0.0);
      EXPECT_LE(ulps, kAllowedSumUlps) << p.ShortName() << " col " << c;
      *out = std::max(*out, ulps);
    }
  };
  check_sum(hc.ref.data(TensorId::kDgamma), dgamma, dgamma_mag, true, &worst.dgamma);
  if (layernorm) check_sum(hc.ref.data(TensorId::kDbeta), dbeta, dbeta_mag, false, &worst.dbeta);
  return worst;
}

BwdErrors CheckBackwardDistributions(Norm norm, DType dtype, int64_t rows, int64_t cols,
                                         bool affine = true,
                                         const std::vector<Distribution>& dists = AllDistributions()) {
  BwdErrors worst;
  for (Distribution dist : dists) {
    Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 4321, norm);
    p.dir = Direction::kBackward;
    worst.Add(CheckBackwardAgainstOracle(p));
  }
  return worst;
}

void PrintBwd(const char* what, const BwdErrors& e) {
  std::printf("%s: max error in float64 ulps of scale: dx %.2f, dgamma %.2f, dbeta %.2f\n", what,
              e.dx, e.dgamma, e.dbeta);
}

TEST(ReferenceMpfrTest, BackwardSmallAndAwkwardWidthsEveryDTypeAndDistribution) {
  for (Norm norm : AllNorms()) {
    BwdErrors worst;
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      for (int64_t cols : {1, 2, 3, 15, 300, 768, 4097})
        worst.Add(CheckBackwardDistributions(norm, dtype, 17, cols));
    worst.Add(CheckBackwardDistributions(norm, DType::kF32, 5, 768, false));
    PrintBwd(norm == Norm::kLayerNorm ? "layernorm bwd, H <= 4097" : "rmsnorm bwd, H <= 4097", worst);
  }
}

TEST(ReferenceMpfrTest, BackwardWideRowsUpTo2To20) {
  for (Norm norm : AllNorms()) {
    BwdErrors worst;
    worst.Add(CheckBackwardDistributions(norm, DType::kBF16, 1, 65537));
    // 2^20: the distributions that stress a row sum most (offsets, a tiny
    // variance, outliers), to keep the 256-bit oracle's time down.
    worst.Add(CheckBackwardDistributions(
        norm, DType::kF32, 1, int64_t{1} << 20, true,
        {Distribution::kNormal, Distribution::kOffset1e6, Distribution::kTinyVariance,
         Distribution::kOutliers}));
    PrintBwd(norm == Norm::kLayerNorm ? "layernorm bwd, H up to 2^20" : "rmsnorm bwd, H up to 2^20",
             worst);
  }
}

// dgamma and dbeta over many rows: blocks of kBackwardRowLeaf rows, a
// pairwise tree over 600 blocks (N = 9601, not a power of two).
TEST(ReferenceMpfrTest, BackwardParameterGradientsOverManyRows) {
  for (Norm norm : AllNorms()) {
    BwdErrors worst;
    for (DType dtype : {DType::kF32, DType::kBF16})
      worst.Add(CheckBackwardDistributions(norm, dtype, 9601, 5));
    PrintBwd(norm == Norm::kLayerNorm ? "layernorm bwd, N = 9601" : "rmsnorm bwd, N = 9601", worst);
  }
}

// The float64 sum over rows is the same for any thread count (fixed blocks,
// fixed tree).
TEST(ReferenceMpfrTest, BackwardSameResultForAnyThreadCount) {
  for (Norm norm : AllNorms()) {
    Problem p = test_support::MakeProblem(1000, 33, DType::kF32, Distribution::kOutliers, true, false, 9, norm);
    p.dir = Direction::kBackward;
    ThreadPool one(1), three(3);
    const test_support::HostCase a(p, true, &one), b(p, true, &three);
    for (TensorId id : {TensorId::kDx, TensorId::kDgamma}) {
      const int64_t n = id == TensorId::kDx ? p.elements() : p.cols;
      EXPECT_EQ(std::memcmp(a.ref.data(id), b.ref.data(id), static_cast<size_t>(n) * 8), 0)
          << TensorName(id);
    }
  }
}

}  // namespace
}  // namespace lnbench
