// Tests of the input generators: reproducibility (per row, per seed, for any
// thread count), the intended statistics of every distribution, exact rows
// that really sum exactly in f32 in any order, and the placement of NaN/Inf.
#include "core/generators.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/host_buffer.h"
#include "tests/support/host_case.h"

namespace lnbench {
namespace {

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, uint64_t seed = 1) {
  return test_support::MakeProblem(rows, cols, dtype, dist, true, false, seed);
}

// Returns the filled input of `p` as raw bytes.
std::vector<uint8_t> Fill(const Problem& p, int threads) {
  ThreadPool pool(threads);
  std::vector<uint8_t> bytes(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype));
  FillInput(p, bytes.data(), pool);
  return bytes;
}

// Returns row `row` of the stored input as doubles.
std::vector<double> StoredRow(const Problem& p, const std::vector<uint8_t>& bytes, int64_t row) {
  std::vector<double> out(static_cast<size_t>(p.cols));
  for (int64_t c = 0; c < p.cols; ++c)
    out[c] = LoadAsDouble(p.dtype, bytes.data(), row * p.cols + c);
  return out;
}

// Moments of a sample, accumulated in double.
struct Moments {
  double mean = 0, var = 0;
  int64_t n = 0;
};
Moments MomentsOf(const std::vector<double>& v) {
  Moments m;
  m.n = static_cast<int64_t>(v.size());
  for (double x : v) m.mean += x;
  m.mean /= m.n;
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= m.n;
  return m;
}

std::vector<double> AllValues(const Problem& p) {
  std::vector<double> all;
  std::vector<double> row(static_cast<size_t>(p.cols));
  for (int64_t r = 0; r < p.rows; ++r) {
    GenerateRow(p, r, row.data());
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

TEST(GeneratorsTest, AnyRowRegeneratesAloneBitForBit) {
  for (DType dtype : kDTypes) {
    for (Distribution dist : AllDistributions()) {
      const Problem p = MakeProblem(37, 301, dtype, dist, 99);
      const auto bytes = Fill(p, 2);
      std::vector<double> row(static_cast<size_t>(p.cols));
      for (int64_t r : {36, 0, 17, 5}) {  // any order
        GenerateRow(p, r, row.data());
        const auto stored = StoredRow(p, bytes, r);
        for (int64_t c = 0; c < p.cols; ++c) {
          // Compare bits: NaN == NaN here.
          ASSERT_EQ(FloatBits(static_cast<float>(row[c])), FloatBits(static_cast<float>(stored[c])))
              << p.ShortName() << " row " << r << " col " << c;
        }
      }
    }
  }
}

TEST(GeneratorsTest, SameResultForAnyThreadCount) {
  // Shapes whose element ranges split rows and Box-Muller pairs at odd places.
  const std::pair<int64_t, int64_t> shapes[] = {{1, 100003}, {37, 301}, {257, 15}, {3, 1}};
  for (DType dtype : kDTypes) {
    for (Distribution dist : AllDistributions()) {
      for (auto [rows, cols] : shapes) {
        const Problem p = MakeProblem(rows, cols, dtype, dist, 5);
        const auto one = Fill(p, 1);
        for (int threads : {2, 3, 7}) {
          ASSERT_TRUE(Fill(p, threads) == one) << p.ShortName() << " threads " << threads;
        }
      }
    }
  }
}

TEST(GeneratorsTest, SeedsAndRowsGiveDifferentData) {
  for (Distribution dist : AllDistributions()) {
    const Problem a = MakeProblem(4, 64, DType::kF32, dist, 1);
    const Problem b = MakeProblem(4, 64, DType::kF32, dist, 2);
    EXPECT_EQ(Fill(a, 1), Fill(a, 2)) << DistributionName(dist);
    EXPECT_NE(Fill(a, 1), Fill(b, 1)) << DistributionName(dist);
    std::vector<double> r0(64), r3(64);
    GenerateRow(a, 0, r0.data());
    GenerateRow(a, 3, r3.data());
    EXPECT_NE(r0, r3) << DistributionName(dist);
  }
}

TEST(GeneratorsTest, ValuesAreAlreadyRoundedToTheDType) {
  for (DType dtype : kDTypes) {
    for (Distribution dist : AllDistributions()) {
      const Problem p = MakeProblem(8, 257, dtype, dist, 3);
      std::vector<double> row(static_cast<size_t>(p.cols));
      for (int64_t r = 0; r < p.rows; ++r) {
        GenerateRow(p, r, row.data());
        for (double v : row) {
          if (std::isnan(v)) continue;
          ASSERT_EQ(v, RoundToDType(v, dtype)) << p.ShortName();
        }
      }
    }
  }
}

TEST(GeneratorsTest, NormalAndUniformHaveTheirMoments) {
  const Problem normal = MakeProblem(64, 4096, DType::kF32, Distribution::kNormal, 11);
  const auto n = MomentsOf(AllValues(normal));
  const double se = 1.0 / std::sqrt(static_cast<double>(n.n));  // 1/512
  EXPECT_NEAR(n.mean, 0.0, 5 * se);
  EXPECT_NEAR(n.var, 1.0, 5 * std::sqrt(2.0) * se);
  // Tails: about 0.27% beyond 3 sigma.
  const auto all = AllValues(normal);
  const double beyond3 =
      std::count_if(all.begin(), all.end(), [](double x) { return std::fabs(x) > 3; }) /
      static_cast<double>(all.size());
  EXPECT_NEAR(beyond3, 0.0027, 0.0005);

  const Problem uniform = MakeProblem(64, 4096, DType::kF32, Distribution::kUniform, 11);
  const auto uv = AllValues(uniform);
  const auto u = MomentsOf(uv);
  EXPECT_NEAR(u.mean, 0.0, 5 * std::sqrt(1.0 / 3) * se);
  EXPECT_NEAR(u.var, 1.0 / 3, 0.005);
  EXPECT_GE(*std::min_element(uv.begin(), uv.end()), -1.0);
  EXPECT_LE(*std::max_element(uv.begin(), uv.end()), 1.0);
  EXPECT_LT(*std::min_element(uv.begin(), uv.end()), -0.999);
  EXPECT_GT(*std::max_element(uv.begin(), uv.end()), 0.999);
}

TEST(GeneratorsTest, OffsetRowsKeepTheirCentreAndStillVary) {
  struct Case {
    DType dtype;
    Distribution dist;
    double centre, sigma;
  };
  // f32 as named; 16-bit types widen the noise to 4 ulps of the centre
  // (bf16 ulp(1e4) = 64, ulp(1e6) = 4096; f16 ulp(1e4) = 8, f16 moves 1e6 to 32768, ulp 32).
  const Case cases[] = {
      {DType::kF32, Distribution::kOffset1e4, 1e4, 1},
      {DType::kF32, Distribution::kOffset1e6, 1e6, 1},
      {DType::kBF16, Distribution::kOffset1e4, 1e4, 256},
      {DType::kBF16, Distribution::kOffset1e6, 1e6, 16384},
      {DType::kF16, Distribution::kOffset1e4, 1e4, 32},
      {DType::kF16, Distribution::kOffset1e6, 32768, 128},
  };
  for (const Case& c : cases) {
    const Problem p = MakeProblem(16, 4096, c.dtype, c.dist, 4);
    std::vector<double> row(static_cast<size_t>(p.cols));
    double mean_sum = 0;
    for (int64_t r = 0; r < p.rows; ++r) {
      GenerateRow(p, r, row.data());
      const auto m = MomentsOf(row);
      mean_sum += m.mean;
      // Per-row spread within 10% of sigma (quantization adds ulp^2/12).
      EXPECT_NEAR(std::sqrt(m.var), c.sigma, 0.1 * c.sigma) << p.ShortName() << " row " << r;
      for (double v : row) ASSERT_TRUE(std::isfinite(v)) << p.ShortName();
    }
    EXPECT_NEAR(mean_sum / p.rows, c.centre, c.sigma * 0.05) << p.ShortName();
  }
}

TEST(GeneratorsTest, TinyVarianceRowsHaveVarianceFarBelowEps) {
  for (DType dtype : kDTypes) {
    const Problem p = MakeProblem(8, 4096, dtype, Distribution::kTinyVariance, 4);
    std::vector<double> row(static_cast<size_t>(p.cols));
    for (int64_t r = 0; r < p.rows; ++r) {
      GenerateRow(p, r, row.data());
      const auto m = MomentsOf(row);
      if (r % 2 == 0) {
        // Standard deviation 1e-4 (variance 1e-8, 1000 times below eps = 1e-5).
        EXPECT_NEAR(std::sqrt(m.var), 1e-4, 1.5e-5) << p.ShortName();
        const double centre = dtype == DType::kF32 ? 1.0 : dtype == DType::kBF16 ? 0x1p-9 : 0x1p-6;
        EXPECT_NEAR(m.mean, centre, 1e-5) << p.ShortName() << " row " << r;
      } else {
        // Odd rows: standard deviation 1e-5 (bf16: 4 ulps of the centre,
        // 2^-14), within one sqrt(var + eps) of zero, above it on rows 1, 5,
        // below on rows 3, 7, and many standard deviations away from it.
        const double sigma = dtype == DType::kBF16 ? 0x1p-14 : 1e-5;
        EXPECT_NEAR(std::sqrt(m.var), sigma, 0.15 * sigma) << p.ShortName() << " row " << r;
        const double scale = std::sqrt(m.var + p.eps);
        EXPECT_NEAR(m.mean, (r % 4 == 1 ? 0.9 : -0.9) * scale, 0.01 * scale)
            << p.ShortName() << " row " << r;
        EXPECT_GT(std::abs(m.mean), 40 * std::sqrt(m.var)) << p.ShortName() << " row " << r;
      }
    }
  }
}

// The centre of the rows near zero follows eps, up to 1.
TEST(GeneratorsTest, TinyVarianceRowsNearZeroFollowEpsUpToOne) {
  for (const auto& [eps, centre] : std::vector<std::pair<double, double>>{
           {1e-5, 0.9 * std::sqrt(1e-5)}, {1e-3, 0.9 * std::sqrt(1e-3)}, {0.0, 0.9e-5},
           {1e6, 1.0}}) {
    for (DType dtype : kDTypes) {
      Problem p = MakeProblem(4, 4096, dtype, Distribution::kTinyVariance, 4);
      p.eps = eps;
      std::vector<double> row(static_cast<size_t>(p.cols));
      GenerateRow(p, 1, row.data());
      // The noise's mean: under 2^-6 standard deviations, at most 4 ulps
      // (bf16) of the centre.
      const double tol = 1e-3 * centre + 1e-6;
      EXPECT_NEAR(MomentsOf(row).mean, centre, tol) << p.ShortName() << " eps " << eps;
      GenerateRow(p, 3, row.data());
      EXPECT_NEAR(MomentsOf(row).mean, -centre, tol) << p.ShortName() << " eps " << eps;
    }
  }
}

TEST(GeneratorsTest, ConstantRowsHoldOneValue) {
  for (DType dtype : kDTypes) {
    const Problem p = MakeProblem(256, 33, dtype, Distribution::kConstant, 8);
    std::vector<double> row(static_cast<size_t>(p.cols));
    int zeros = 0, big = 0, negative = 0;
    for (int64_t r = 0; r < p.rows; ++r) {
      GenerateRow(p, r, row.data());
      for (double v : row) ASSERT_EQ(v, row[0]) << p.ShortName() << " row " << r;
      EXPECT_LE(std::fabs(row[0]), 1e4 + 64);
      // 8 significant bits at most: H copies sum exactly in f32 for H < 2^16.
      EXPECT_EQ(row[0], RoundToDType(row[0], DType::kBF16));
      zeros += row[0] == 0;
      big += std::fabs(row[0]) > 1000;
      negative += row[0] < 0;
    }
    EXPECT_GT(zeros, 4);
    EXPECT_GT(big, 20);
    EXPECT_GT(negative, 80);
  }
}

TEST(GeneratorsTest, OutliersAreAboutOnePercentAndHeavyTailed) {
  const Problem p = MakeProblem(64, 4096, DType::kF32, Distribution::kOutliers, 21);
  const auto all = AllValues(p);
  int64_t outliers = 0, above1e3 = 0;
  double max_abs = 0;
  for (double v : all) {
    const double a = std::fabs(v);
    outliers += a >= 10;
    above1e3 += a >= 1e3;
    max_abs = std::max(max_abs, a);
  }
  const double frac = static_cast<double>(outliers) / static_cast<double>(all.size());
  EXPECT_NEAR(frac, 0.01, 0.002);
  // Log-uniform magnitudes in [10, 1e4]: a third of them above 1e3.
  EXPECT_NEAR(static_cast<double>(above1e3) / outliers, 1.0 / 3, 0.05);
  EXPECT_LE(max_abs, 1e4);
  EXPECT_GT(max_abs, 9e3);
}

// Sums in f32 in several orders; returns false if any differs from `exact`.
bool SumsExactlyInF32(const std::vector<float>& v, double exact) {
  const size_t n = v.size();
  float fwd = 0, bwd = 0;
  for (size_t i = 0; i < n; ++i) fwd += v[i];
  for (size_t i = n; i-- > 0;) bwd += v[i];
  // 16 lanes, then a tree over the lanes (a SIMD kernel).
  float lanes[16] = {};
  for (size_t i = 0; i < n; ++i) lanes[i % 16] += v[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  // Pairwise.
  std::vector<float> level(v);
  while (level.size() > 1) {
    std::vector<float> next((level.size() + 1) / 2);
    for (size_t i = 0; i < level.size() / 2; ++i) next[i] = level[2 * i] + level[2 * i + 1];
    if (level.size() % 2) next.back() = level.back();
    level.swap(next);
  }
  const float pair = level.empty() ? 0.f : level[0];
  // A shuffled order.
  std::vector<float> shuffled(v);
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(42));
  float shuf = 0;
  for (float x : shuffled) shuf += x;
  return fwd == exact && bwd == exact && lanes[0] == exact && pair == exact && shuf == exact;
}

TEST(GeneratorsTest, ExactRowsSumExactlyInAnyOrderInF32) {
  const int64_t sizes[] = {1, 2, 3, 15, 16, 300, 768, 4097, 65536, 100003, int64_t{1} << 20};
  for (DType dtype : kDTypes) {
    for (int64_t h : sizes) {
      const int64_t rows = h > 100000 ? 2 : 6;
      const Problem p = MakeProblem(rows, h, dtype, Distribution::kExact, 13);
      std::vector<double> row(static_cast<size_t>(h));
      for (int64_t r = 0; r < rows; ++r) {
        GenerateRow(p, r, row.data());
        // Representable in every dtype (so storing as bf16/f16 changes nothing).
        for (double v : row) {
          ASSERT_EQ(v, RoundToDType(v, DType::kBF16));
          ASSERT_EQ(v, RoundToDType(v, DType::kF16));
        }
        // Exact sums in double (small multiples of a power of two).
        double sum = 0;
        for (double v : row) sum += v;
        const double mean = sum / static_cast<double>(h);
        // The mean is the integer centre: representable, and sum == H * mean.
        ASSERT_EQ(mean * static_cast<double>(h), sum) << p.ShortName();
        ASSERT_EQ(static_cast<double>(static_cast<float>(mean)), mean);
        std::vector<float> x(row.begin(), row.end()), dev(row.size()), sq(row.size()),
            shifted(row.size());
        double sq_exact = 0;
        for (size_t i = 0; i < row.size(); ++i) {
          dev[i] = static_cast<float>(row[i] - mean);
          sq[i] = dev[i] * dev[i];
          sq_exact += static_cast<double>(dev[i]) * dev[i];
          shifted[i] = x[i] - x[0];  // a kernel that shifts by the first element
        }
        ASSERT_TRUE(SumsExactlyInF32(x, sum)) << p.ShortName() << " row " << r;
        ASSERT_TRUE(SumsExactlyInF32(sq, sq_exact)) << p.ShortName() << " row " << r;
        ASSERT_TRUE(SumsExactlyInF32(shifted, sum - static_cast<double>(h) * row[0]))
            << p.ShortName() << " row " << r;
        // Rows are not trivial: some variance once there are pairs.
        if (h >= 15) {
          EXPECT_GT(sq_exact, 0) << p.ShortName();
        }
      }
    }
  }
}

TEST(GeneratorsTest, ExactRowsArePairsAroundACentreAtShuffledPositions) {
  const Problem p = MakeProblem(4, 301, DType::kF32, Distribution::kExact, 3);
  std::vector<double> row(301);
  GenerateRow(p, 1, row.data());
  double sum = 0;
  for (double v : row) sum += v;
  const double centre = sum / 301;
  // Deviations come in +/- pairs: the multiset of deviations is symmetric.
  std::vector<double> pos, neg;
  int at_centre = 0;
  for (double v : row) {
    if (v > centre) {
      pos.push_back(v - centre);
    } else if (v < centre) {
      neg.push_back(centre - v);
    } else {
      ++at_centre;
    }
  }
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  EXPECT_EQ(pos, neg);
  EXPECT_EQ(at_centre % 2, 1);  // odd H: one element is the centre (plus zero pairs)
  // Shuffled: signs of neighbours do not simply alternate.
  int alternations = 0;
  for (int i = 1; i < 301; ++i) alternations += (row[i] > centre) != (row[i - 1] > centre);
  EXPECT_LT(alternations, 250);
  EXPECT_GT(alternations, 50);
}

TEST(GeneratorsTest, ExactRowsAtHugeWidthsKeepPartialSumsBelow2To24) {
  // H >= 2^23: centre 0 and at most 2^23 - 1 nonzero pairs of +/-1 units.
  const int64_t h = (int64_t{1} << 23) + 5;
  const Problem p = MakeProblem(1, h, DType::kF32, Distribution::kExact, 2);
  std::vector<double> row(static_cast<size_t>(h));
  GenerateRow(p, 0, row.data());
  double sum = 0, sq = 0, pos = 0;
  for (double v : row) {
    sum += v;
    sq += v * v;
    pos += v > 0 ? v : 0;
  }
  EXPECT_EQ(sum, 0);
  const double unit = *std::max_element(row.begin(), row.end());
  ASSERT_GT(unit, 0);
  EXPECT_LT(pos / unit, 0x1p24);
  EXPECT_LT(sq / (unit * unit), 0x1p24);
  float f = 0;
  for (double v : row) f += static_cast<float>(v);
  EXPECT_EQ(f, 0.0f);
}

TEST(GeneratorsTest, SpecialRowsHoldNaNOrInfAndMostRowsAreFinite) {
  for (DType dtype : kDTypes) {
    const Problem p = MakeProblem(64, 100, dtype, Distribution::kSpecial, 6);
    std::vector<double> row(100);
    int nan_rows = 0, inf_rows = 0, special = 0;
    std::vector<double> finite_values;
    for (int64_t r = 0; r < p.rows; ++r) {
      GenerateRow(p, r, row.data());
      const bool has_nan =
          std::any_of(row.begin(), row.end(), [](double v) { return std::isnan(v); });
      const bool has_inf =
          std::any_of(row.begin(), row.end(), [](double v) { return std::isinf(v); });
      EXPECT_EQ(IsSpecialRow(p, r), has_nan || has_inf) << "row " << r;
      nan_rows += has_nan;
      inf_rows += has_inf;
      special += has_nan || has_inf;
      if (!has_nan && !has_inf) finite_values.insert(finite_values.end(), row.begin(), row.end());
    }
    EXPECT_GT(nan_rows, 0);
    EXPECT_GT(inf_rows, 0);
    EXPECT_LE(special, p.rows / 4);
    // The finite rows are N(0,1).
    const auto m = MomentsOf(finite_values);
    EXPECT_NEAR(m.mean, 0, 0.05);
    EXPECT_NEAR(m.var, 1, 0.08);
  }
  // Any problem with N >= 4 has a NaN row and an Inf row.
  for (int64_t rows = 4; rows <= 20; ++rows) {
    for (uint64_t seed : {1, 2, 3}) {
      const Problem p = MakeProblem(rows, 7, DType::kF32, Distribution::kSpecial, seed);
      const auto bytes = Fill(p, 2);
      bool nan_row = false, inf_row = false;
      for (int64_t r = 0; r < rows; ++r) {
        const auto v = StoredRow(p, bytes, r);
        nan_row |= std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
        inf_row |= std::any_of(v.begin(), v.end(), [](double x) { return std::isinf(x); });
      }
      EXPECT_TRUE(nan_row && inf_row) << rows << " rows";
    }
  }
  // Only kSpecial problems have special rows.
  EXPECT_FALSE(IsSpecialRow(MakeProblem(64, 10, DType::kF32, Distribution::kNormal), 1));
}

TEST(GeneratorsTest, AffineParametersAreVariedAndRounded) {
  for (DType dtype : kDTypes) {
    Problem p = MakeProblem(1, 4096, dtype, Distribution::kNormal, 17);
    std::vector<float> g(4096), b(4096), g2(4096), b2(4096);
    FillAffine(p, g.data(), b.data());
    FillAffine(p, g2.data(), b2.data());
    EXPECT_EQ(g, g2);
    EXPECT_EQ(b, b2);
    const auto gm = MomentsOf(std::vector<double>(g.begin(), g.end()));
    const auto bm = MomentsOf(std::vector<double>(b.begin(), b.end()));
    EXPECT_NEAR(gm.mean, 1.0, 0.05);
    EXPECT_NEAR(std::sqrt(gm.var), 0.5, 0.05);
    EXPECT_NEAR(bm.mean, 0.0, 0.05);
    EXPECT_NEAR(std::sqrt(bm.var), 0.5, 0.05);
    EXPECT_GT(std::count_if(g.begin(), g.end(), [](float v) { return v < 0; }), 20);
    for (int i = 0; i < 4096; ++i) {
      ASSERT_EQ(g[i], RoundToDType(g[i], dtype));
      ASSERT_EQ(b[i], RoundToDType(b[i], dtype));
    }
    EXPECT_NE(g, b);
    // Another seed, other parameters.
    p.seed = 18;
    FillAffine(p, g2.data(), b2.data());
    EXPECT_NE(g, g2);
    // Without affine: the identity.
    p.affine = false;
    FillAffine(p, g2.data(), b2.data());
    for (int i = 0; i < 4096; ++i) {
      ASSERT_EQ(g2[i], 1.0f);
      ASSERT_EQ(b2[i], 0.0f);
    }
  }
}


// dy of the backward pass: a pure function of (seed, row, col) like x,
// independent of x's distribution, with rows whose sizes differ by 2^12 and
// rare elements 2^3..2^8 larger or smaller than their row.
TEST(GeneratorsTest, DyRegeneratesAloneForAnyThreadCount) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 100003}, {37, 301}, {3, 1}};
  for (DType dtype : kDTypes) {
    for (auto [rows, cols] : shapes) {
      const Problem p = MakeProblem(rows, cols, dtype, Distribution::kNormal, 5);
      std::vector<uint8_t> one(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
      ThreadPool pool1(1);
      FillDy(p, one.data(), pool1);
      for (int threads : {2, 3, 7}) {
        std::vector<uint8_t> many(one.size());
        ThreadPool pool(threads);
        FillDy(p, many.data(), pool);
        ASSERT_TRUE(many == one) << p.ShortName() << " threads " << threads;
      }
      std::vector<double> row(static_cast<size_t>(cols));
      for (int64_t r : {rows - 1, int64_t{0}}) {
        GenerateDyRow(p, r, row.data());
        const auto stored = StoredRow(p, one, r);
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], stored[c]) << r << " " << c;
      }
      // The distribution of x does not change dy; the seed does.
      Problem q = p;
      q.dist = Distribution::kOffset1e6;
      std::vector<double> other(static_cast<size_t>(cols));
      GenerateDyRow(q, 0, other.data());
      GenerateDyRow(p, 0, row.data());
      EXPECT_EQ(row, other);
      q.seed = 6;
      GenerateDyRow(q, 0, other.data());
      EXPECT_NE(row, other);
    }
  }
}

TEST(GeneratorsTest, DyHasAWideDynamicRangeAndStaysFinite) {
  for (DType dtype : kDTypes) {
    const Problem p = MakeProblem(256, 1024, dtype, Distribution::kNormal, 3);
    std::vector<double> row(static_cast<size_t>(p.cols));
    double min_rms = INFINITY, max_rms = 0, max_abs = 0;
    int64_t big = 0, small = 0, total = 0;
    for (int64_t r = 0; r < p.rows; ++r) {
      GenerateDyRow(p, r, row.data());
      // The row's scale from its median magnitude (robust to the rare weights).
      std::vector<double> mags;
      for (double v : row) {
        ASSERT_TRUE(std::isfinite(v));
        mags.push_back(std::fabs(v));
        max_abs = std::max(max_abs, std::fabs(v));
      }
      std::nth_element(mags.begin(), mags.begin() + mags.size() / 2, mags.end());
      const double median = mags[mags.size() / 2];
      min_rms = std::min(min_rms, median);
      max_rms = std::max(max_rms, median);
      for (double v : row) {
        big += std::fabs(v) > 40 * median;
        small += v != 0 && std::fabs(v) < median / 40;
        ++total;
      }
    }
    EXPECT_GT(max_rms / min_rms, 1024) << DTypeName(dtype);  // rows 2^-8 .. 2^4
    EXPECT_LT(max_abs, 65504) << DTypeName(dtype);
    // About 1/64 of elements are 2^3..2^8 larger: many exceed 40x the median.
    EXPECT_GT(big, total / 400) << DTypeName(dtype);
    EXPECT_LT(big, total / 40) << DTypeName(dtype);
    EXPECT_GT(small, total / 64) << DTypeName(dtype);
  }
}

TEST(GeneratorsTest, EmptyProblemWritesNothing) {
  const Problem p = MakeProblem(0, 16, DType::kF32, Distribution::kNormal);
  ThreadPool pool(2);
  FillInput(p, nullptr, pool);  // must not touch memory
  FillDy(p, nullptr, pool);
}

}  // namespace
}  // namespace lnbench
