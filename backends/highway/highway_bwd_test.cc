// Tests of the Highway backward kernels (norm_bwd_highway.*). Like Highway's
// own tests, the kernel suite runs once per SIMD target this CPU supports
// (HWY_BEFORE_TEST), with seeded inputs checked against the maths of
// OPS_DESIGN.md's backward contract evaluated in double here (the mean and
// rstd inputs taken as exact, as the op's reference does).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

#include "backends/highway/highway_targets.h"
#include "backends/highway/norm_bwd_highway.h"
#include "core/dtype.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/problem.h"
#include "core/thread_pool.h"

namespace lnbench {
namespace {

constexpr DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
constexpr Norm kNorms[] = {Norm::kLayerNorm, Norm::kRmsNorm};
constexpr double kEpsF32 = 0x1p-23;

// Writes v as element i of an array of `dtype` (v already representable).
void PutValue(void* p, DType dtype, size_t i, double v) {
  const float f = static_cast<float>(v);
  if (dtype == DType::kF32) {
    static_cast<float*>(p)[i] = f;
    return;
  }
  const uint16_t bits = dtype == DType::kBF16 ? FloatToBF16(f) : FloatToF16(f);
  std::memcpy(static_cast<uint16_t*>(p) + i, &bits, 2);
}

// Returns half the smallest subnormal of `dtype`: the absolute rounding
// error of a result below its normal range.
double HalfSubnormal(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 0x1p-150;
    case DType::kBF16: return 0x1p-134;
    case DType::kF16: return 0x1p-25;
  }
  return 0;
}

// Returns the unit roundoff of `dtype` (half an ulp at 1).
double UnitRoundoff(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 0x1p-24;
    case DType::kBF16: return 0x1p-8;
    case DType::kF16: return 0x1p-11;
  }
  return 0;
}

// One backward problem: inputs generated from a seed, the kernel's outputs,
// and the float64 expectation.
struct BwdData {
  Norm norm;
  int64_t rows, cols;
  DType dtype;
  bool affine;
  HostBuffer x, dy, dx;
  std::vector<float> gamma, mean, rstd, dgamma, dbeta;
  std::vector<double> ref_dx, scale_dx, ref_dgamma, scale_dgamma, ref_dbeta, scale_dbeta;

  // dy_range: dy = N(0,1) * 2^U(-dy_range, dy_range) (a wide dynamic range).
  BwdData(Norm n, int64_t r, int64_t c, DType t, Distribution dist, bool aff, int dy_range = 0,
          uint64_t seed = 11)
      : norm(n),
        rows(r),
        cols(c),
        dtype(t),
        affine(aff),
        x(Bytes()),
        dy(Bytes()),
        dx(Bytes()),
        gamma(static_cast<size_t>(c)),
        mean(static_cast<size_t>(std::max<int64_t>(r, 1))),
        rstd(static_cast<size_t>(std::max<int64_t>(r, 1))),
        dgamma(static_cast<size_t>(c), std::numeric_limits<float>::quiet_NaN()),
        dbeta(static_cast<size_t>(c), std::numeric_limits<float>::quiet_NaN()) {
    Problem p;
    p.rows = r;
    p.cols = c;
    p.dtype = t;
    p.dist = dist;
    p.seed = seed;
    ThreadPool& pool = SharedThreadPool(0);
    FillInput(p, x.data(), pool);
    std::vector<float> beta(static_cast<size_t>(c));
    p.affine = true;
    FillAffine(p, gamma.data(), beta.data());
    std::mt19937_64 rng(seed * 7919 + 1);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> exponent(-dy_range, dy_range);
    for (int64_t i = 0; i < r * c; ++i) {
      double v = normal(rng);
      if (dy_range > 0) v *= std::exp2(std::round(exponent(rng)));
      PutValue(dy.data(), t, static_cast<size_t>(i), RoundToDType(v, t));
    }
    // The saved statistics: the float64 forward of x, rounded to f32.
    for (int64_t row = 0; row < r; ++row) {
      double s = 0, q = 0;
      for (int64_t j = 0; j < c; ++j) s += X(row, j);
      const double m = s / static_cast<double>(c);
      for (int64_t j = 0; j < c; ++j) {
        const double v = norm == Norm::kRmsNorm ? X(row, j) : X(row, j) - m;
        q += v * v;
      }
      mean[static_cast<size_t>(row)] = static_cast<float>(m);
      rstd[static_cast<size_t>(row)] = static_cast<float>(1.0 / std::sqrt(q / static_cast<double>(c) + 1e-5));
    }
    Expect();
  }

  size_t Bytes() const {
    return static_cast<size_t>(std::max<int64_t>(rows * cols, 16)) * DTypeSize(dtype);
  }
  double X(int64_t r, int64_t j) const {
    return LoadAsDouble(dtype, x.data(), static_cast<size_t>(r * cols + j));
  }
  double Dy(int64_t r, int64_t j) const {
    return LoadAsDouble(dtype, dy.data(), static_cast<size_t>(r * cols + j));
  }
  double Dx(int64_t r, int64_t j) const {
    return LoadAsDouble(dtype, dx.data(), static_cast<size_t>(r * cols + j));
  }

  // The contract's maths in double, and the scale of each value's f32
  // error: the magnitudes of the terms the kernel rounds (sums of blocks of
  // at most 64 terms per lane, merged in a tree).
  void Expect() {
    const size_t n = static_cast<size_t>(rows * cols);
    ref_dx.assign(n, 0);
    scale_dx.assign(n, 0);
    ref_dgamma.assign(static_cast<size_t>(cols), 0);
    scale_dgamma.assign(static_cast<size_t>(cols), 0);
    ref_dbeta.assign(static_cast<size_t>(cols), 0);
    scale_dbeta.assign(static_cast<size_t>(cols), 0);
    const bool rms = norm == Norm::kRmsNorm;
    const double h = static_cast<double>(cols);
    for (int64_t r = 0; r < rows; ++r) {
      const double m = rms ? 0.0 : mean[static_cast<size_t>(r)];
      const double s = rstd[static_cast<size_t>(r)];
      double a = 0, b = 0, abs_a = 0, abs_b = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const double g = affine ? gamma[static_cast<size_t>(j)] : 1.0;
        const double gd = g * Dy(r, j);
        const double xhat = (X(r, j) - m) * s;
        a += gd;
        b += gd * xhat;
        abs_a += std::fabs(gd);
        abs_b += std::fabs(gd * xhat);
      }
      a /= h;
      b /= h;
      abs_a /= h;
      abs_b /= h;
      if (rms) a = abs_a = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = static_cast<size_t>(r * cols + j);
        const double g = affine ? gamma[static_cast<size_t>(j)] : 1.0;
        const double dyv = Dy(r, j);
        const double gd = g * dyv;
        const double xhat = (X(r, j) - m) * s;
        ref_dx[i] = s * (gd - a - xhat * b);
        scale_dx[i] = s * (std::fabs(gd) + abs_a + std::fabs(xhat) * abs_b);
        ref_dgamma[static_cast<size_t>(j)] += dyv * xhat;
        scale_dgamma[static_cast<size_t>(j)] += std::fabs(dyv * xhat);
        ref_dbeta[static_cast<size_t>(j)] += dyv;
        scale_dbeta[static_cast<size_t>(j)] += std::fabs(dyv);
      }
    }
  }

  HwyBwdArgs Args(bool stream) const {
    HwyBwdArgs args;
    args.x = x.data();
    args.dy = dy.data();
    args.dx = const_cast<void*>(dx.data());
    args.gamma = affine ? gamma.data() : nullptr;
    args.mean = norm == Norm::kLayerNorm ? mean.data() : nullptr;
    args.rstd = rstd.data();
    args.rows = rows;
    args.cols = cols;
    args.stream = stream;
    return args;
  }

  // Runs the kernel `fn` on `threads` threads (outputs poisoned first).
  void Run(HwyBwdRowsFn fn, int threads, bool stream = false) {
    std::memset(dx.data(), 0xFF, dx.bytes());  // NaN in every dtype
    std::fill(dgamma.begin(), dgamma.end(), std::numeric_limits<float>::quiet_NaN());
    std::fill(dbeta.begin(), dbeta.end(), std::numeric_limits<float>::quiet_NaN());
    HwyBwdRunner runner(Args(stream), fn, norm == Norm::kLayerNorm);
    runner.Run(SharedThreadPool(threads), dgamma.data(), dbeta.data());
  }

  // Returns "" when every output is within its bound, else the first misses.
  std::string Check() const {
    std::string out;
    int misses = 0;
    const auto check = [&](const char* name, int64_t i, double got, double want, double scale,
                           double units, double round, double absolute) {
      bool ok;
      if (std::isnan(want)) {
        ok = std::isnan(got);
      } else if (std::isinf(want)) {
        ok = got == want;
      } else {
        ok = std::fabs(got - want) <= units * kEpsF32 * scale + round * std::fabs(want) + absolute;
      }
      if (!ok && misses++ < 5)
        out += std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(got) +
               ", want " + std::to_string(want) + " (scale " + std::to_string(scale) + "); ";
    };
    // dx: a handful of f32 roundings per term, a and b from block sums of at
    // most 32 terms per lane; then the output's rounding.
    const double dx_units = 64 + std::log2(static_cast<double>(cols) + 1);
    for (int64_t i = 0; i < rows * cols; ++i)
      check("dx", i, Dx(i / cols, i % cols), ref_dx[static_cast<size_t>(i)],
            scale_dx[static_cast<size_t>(i)], dx_units, UnitRoundoff(dtype) * 1.01,
            HalfSubnormal(dtype));
    if (affine) {
      // Sequential sums of at most 64 rows, then a tree over the blocks.
      const double blocks = std::ceil(static_cast<double>(rows) / 64) + 1;
      const double dw_units = 64 + 8 + 2 * std::log2(blocks);
      for (int64_t j = 0; j < cols; ++j) {
        check("dgamma", j, dgamma[static_cast<size_t>(j)], ref_dgamma[static_cast<size_t>(j)],
              scale_dgamma[static_cast<size_t>(j)], dw_units, 0, 0);
        if (norm == Norm::kLayerNorm)
          check("dbeta", j, dbeta[static_cast<size_t>(j)], ref_dbeta[static_cast<size_t>(j)],
                scale_dbeta[static_cast<size_t>(j)], dw_units, 0, 0);
      }
    }
    if (misses > 5) out += std::to_string(misses) + " misses in all";
    return out;
  }

  std::string Name() const {
    return std::string(NormName(norm)) + " " + std::to_string(rows) + "x" + std::to_string(cols) +
           " " + std::string(DTypeName(dtype)) + (affine ? " affine" : "");
  }
};

struct Shape {
  int64_t rows, cols;
};
// Rows shorter than a vector, masked tails of every kind, several sums
// blocks per row (64 vectors), row counts that are no multiple of a block.
constexpr Shape kShapes[] = {{0, 64},   {1, 1},    {5, 1},    {7, 3},    {1, 4096}, {6, 257},
                             {3, 1023}, {4, 2041}, {9, 4099}, {130, 96}, {20, 2048}, {2, 65537}};

// ------------------------------------------------------------------ per target

HWY_BEFORE_TEST(HighwayBwdTargetTest);

// Returns the kernel of `target`, after checking that dynamic dispatch (the
// backend's "auto") picks the same one under the fixture's target mask.
HwyBwdRowsFn KernelFor(Norm norm, DType dtype, int64_t target) {
  const HwyBwdRowsFn fn = HighwayNormBwdRowsFunction(norm, dtype, target);
  EXPECT_NE(fn, nullptr);
  EXPECT_EQ(HighwayNormBwdRowsFunction(norm, dtype, 0), fn) << HighwayTargetName(target);
  return fn;
}

// Every norm, distribution, dtype and edge shape, with and without gamma,
// against the contract's maths in double.
TEST_P(HighwayBwdTargetTest, AllNormsDistributionsDtypesShapes) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      const HwyBwdRowsFn fn = KernelFor(norm, dtype, GetParam());
      ASSERT_NE(fn, nullptr);
      for (Distribution dist : AllDistributions()) {
        for (const Shape& s : kShapes) {
          for (bool affine : {true, false}) {
            BwdData data(norm, s.rows, s.cols, dtype, dist, affine);
            data.Run(fn, 1);  // threads: ThreadCountDoesNotChangeBits
            const std::string miss = data.Check();
            EXPECT_EQ(miss, "") << data.Name() << " " << DistributionName(dist) << " target "
                                << HighwayTargetName(GetParam());
          }
        }
      }
    }
  }
}

// dy over 2^-20 .. 2^20 (f16: 2^-8 .. 2^8, its range) still verifies: the
// scale of each term, not of the row, bounds its error.
TEST_P(HighwayBwdTargetTest, WideDynamicRangeDy) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      const HwyBwdRowsFn fn = KernelFor(norm, dtype, GetParam());
      for (const Shape& s : {Shape{33, 1000}, Shape{9, 4099}}) {
        BwdData data(norm, s.rows, s.cols, dtype, Distribution::kNormal, true,
                     dtype == DType::kF16 ? 8 : 20);
        data.Run(fn, 0);
        EXPECT_EQ(data.Check(), "") << data.Name();
      }
    }
  }
}

// Streaming stores of dx (unaligned rows: odd widths) give the same bits as
// ordinary stores.
TEST_P(HighwayBwdTargetTest, StreamingStoresMatchOrdinaryStores) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      const HwyBwdRowsFn fn = KernelFor(norm, dtype, GetParam());
      for (const Shape& s : {Shape{7, 1001}, Shape{5, 4096}, Shape{3, 5000}}) {
        BwdData plain(norm, s.rows, s.cols, dtype, Distribution::kNormal, true);
        plain.Run(fn, 1, false);
        BwdData streamed(norm, s.rows, s.cols, dtype, Distribution::kNormal, true);
        streamed.Run(fn, 1, true);
        EXPECT_EQ(std::memcmp(plain.dx.data(), streamed.dx.data(), plain.dx.bytes()), 0)
            << plain.Name();
        EXPECT_EQ(plain.dgamma, streamed.dgamma) << plain.Name();
        EXPECT_EQ(streamed.Check(), "") << streamed.Name();
      }
    }
  }
}

// dx, dgamma and dbeta are the same bits for 1, 2, 3 and 7 threads (the
// partials cover fixed row blocks; the merge order is fixed).
TEST_P(HighwayBwdTargetTest, ThreadCountDoesNotChangeBits) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      const HwyBwdRowsFn fn = KernelFor(norm, dtype, GetParam());
      for (const Shape& s : {Shape{1, 300}, Shape{37, 257}, Shape{1000, 64}, Shape{2053, 33}}) {
        BwdData one(norm, s.rows, s.cols, dtype, Distribution::kNormal, true);
        one.Run(fn, 1);
        ASSERT_EQ(one.Check(), "") << one.Name();
        const std::vector<float> dgamma = one.dgamma, dbeta = one.dbeta;
        HostBuffer dx(one.dx.bytes());
        std::memcpy(dx.data(), one.dx.data(), dx.bytes());
        for (int threads : {2, 3, 7}) {
          one.Run(fn, threads);
          EXPECT_EQ(std::memcmp(dx.data(), one.dx.data(), dx.bytes()), 0)
              << one.Name() << " threads " << threads;
          EXPECT_EQ(std::memcmp(dgamma.data(), one.dgamma.data(), dgamma.size() * 4), 0)
              << one.Name() << " threads " << threads;
          if (norm == Norm::kLayerNorm) {
            EXPECT_EQ(std::memcmp(dbeta.data(), one.dbeta.data(), dbeta.size() * 4), 0)
                << one.Name() << " threads " << threads;
          }
        }
      }
    }
  }
}

// dbeta over 2^18 rows of dy = 0.1 (not a binary fraction): the blocked
// tree keeps it within a few ulps, where one f32 accumulator per column
// would drift by percents (each addition near 26000 rounds at 2^-9).
TEST_P(HighwayBwdTargetTest, ColumnSumsDoNotDriftWithRows) {
  const int64_t rows = int64_t{1} << 18, cols = 16;
  BwdData data(Norm::kLayerNorm, rows, cols, DType::kF32, Distribution::kNormal, true);
  for (int64_t i = 0; i < rows * cols; ++i) data.dy.as<float>()[i] = 0.1f;
  const HwyBwdRowsFn fn = KernelFor(Norm::kLayerNorm, DType::kF32, GetParam());
  data.Run(fn, 0);
  const double want = static_cast<double>(rows) * static_cast<double>(0.1f);
  for (int64_t j = 0; j < cols; ++j)
    EXPECT_LE(std::fabs(data.dbeta[static_cast<size_t>(j)] - want), 16 * kEpsF32 * want) << j;
}



// ------------------------------------------------------------------ merge tree

// The canonical tree's value with combine(l, r) = 2l - r + 1 (exact in f32
// for these sizes, and different for every other tree shape or order).
float Canonical(int level, int64_t index) {
  if (level == 0) return static_cast<float>(index % 7 + 1);
  return 2 * Canonical(level - 1, 2 * index) - Canonical(level - 1, 2 * index + 1) + 1;
}

float CanonicalRoot(int64_t blocks) {
  std::vector<float> nodes;  // the binary decomposition, largest first
  int64_t start = 0;
  for (int level = 62; level >= 0; --level) {
    if ((blocks >> level & 1) == 0) continue;
    nodes.push_back(Canonical(level, start >> level));
    start += int64_t{1} << level;
  }
  if (nodes.empty()) return 0;
  float acc = nodes.back();
  for (size_t i = nodes.size() - 1; i-- > 0;) acc = 2 * nodes[i] - acc + 1;
  return acc;
}

// Every split of up to 40 blocks over 1 to 5 shares (random, seeded)
// builds the same tree as one share: the canonical one.
TEST(HighwayBwdMergeTest, AnySplitGivesTheCanonicalTree) {
  const auto leaf = [](int64_t block, float* sums, void*) {
    sums[0] = static_cast<float>(block % 7 + 1);
  };
  const auto combine = [](float* acc, const float* b, size_t) { acc[0] = 2 * acc[0] - b[0] + 1; };
  std::mt19937 rng(5);
  for (int64_t blocks = 0; blocks <= 40; ++blocks) {
    const float want = CanonicalRoot(blocks);
    for (int trial = 0; trial < 20; ++trial) {
      const int64_t share_count = std::min<int64_t>(blocks, 1 + trial % 5);
      std::vector<int64_t> shares;
      int64_t left = blocks;
      for (int64_t s = 0; s < share_count; ++s) {
        const int64_t take =
            s + 1 == share_count ? left
                                 : std::uniform_int_distribution<int64_t>(0, left)(rng);
        shares.push_back(take);
        left -= take;
      }
      float out = -1;
      HwyBwdRunner::MergeForTest(blocks, 1, shares, leaf, nullptr, combine, &out);
      ASSERT_EQ(out, want) << blocks << " blocks, trial " << trial;
    }
  }
}

TEST(HighwayBwdMergeTest, RowBlocksDependOnRowsOnly) {
  EXPECT_EQ(BwdRowBlock(0), 1);
  EXPECT_EQ(BwdRowBlock(1), 1);
  EXPECT_EQ(BwdRowBlock(37), 3);
  EXPECT_EQ(BwdRowBlock(1024), 64);
  EXPECT_EQ(BwdRowBlock(int64_t{1} << 30), 64);
}

}  // namespace
}  // namespace lnbench
