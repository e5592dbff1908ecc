// Tests of the Highway backend. Like Highway's own tests, the main suite runs
// once per SIMD target this CPU supports (LNBENCH_PER_TARGET_TEST, shaped as
// Highway's HWY_BEFORE_TEST, sets hwy::SetSupportedTargetsForTest, so "auto"
// dispatches to that target; the sanitizer build leaves out the one-lane
// fallback, per_target_distributions.h), with
// seeded inputs checked against the float64 reference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

#include "backends/cpu/cpu_backend.h"
#include "backends/highway/highway_targets.h"
#include "backends/highway/per_target_distributions.h"
#include "backends/highway/layernorm_highway.h"
#include "backends/highway/rmsnorm_highway.h"
#include "app/registry.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"

namespace lnbench {
namespace {

Backend& Highway() {
  Backend* b = FindBackend("highway");
  EXPECT_NE(b, nullptr) << "highway backend not registered";
  return *b;
}

// Returns the lower-case Highway name of a target bit.
std::string LowerName(int64_t target) { return HighwayTargetName(target); }

// Returns "" when buffers a and b of n elements of `dtype` hold the same bits
// in every element, where any NaN matches any NaN: which NaN an operation
// returns when both operands are NaN (x86 keeps the first) depends on the
// order the compiler gave a commutative operation, which may differ between
// two paths of the same arithmetic. Otherwise, the first element that differs.
std::string FirstDifference(DType dtype, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t ba = LoadBits(dtype, a, i), bb = LoadBits(dtype, b, i);
    if (ba == bb) continue;
    const double va = LoadAsDouble(dtype, a, i), vb = LoadAsDouble(dtype, b, i);
    if (std::isnan(va) && std::isnan(vb)) continue;
    return "element " + std::to_string(i) + ": bits " + std::to_string(ba) + " against " +
           std::to_string(bb);
  }
  return "";
}

// Inputs, reference and outputs of one problem.
struct CaseRun {
  Problem problem;
  HostBuffer x, gamma, beta, y, mean, rstd;
  HostTensors inputs;
  HostTensors outputs;
  Reference ref;
  std::string resolved;

  explicit CaseRun(const Problem& p)
      : problem(p),
        x(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype)),
        gamma(static_cast<size_t>(p.cols) * 4),
        beta(static_cast<size_t>(p.cols) * 4),
        y(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype)),
        // Never empty: a zero-byte HostBuffer is nullptr, which reads as
        // "statistics not returned" even when there are no rows.
        mean(static_cast<size_t>(p.rows) * 4 + 64),
        rstd(static_cast<size_t>(p.rows) * 4 + 64) {
    ThreadPool& pool = SharedThreadPool(0);
    FillInput(p, x.data(), pool);
    FillAffine(p, gamma.as<float>(), beta.as<float>());
    inputs.set(TensorId::kX, x.data());
    if (p.affine) {
      inputs.set(TensorId::kGamma, gamma.data());
      inputs.set(TensorId::kBeta, beta.data());
    }
    outputs.set(TensorId::kY, y.data());
    if (p.stats) {
      outputs.set(TensorId::kMean, mean.data());
      outputs.set(TensorId::kRstd, rstd.data());
    }
    ref = ComputeReference(p, inputs, pool);
  }

  // Runs `variant` once (outputs poisoned first) and downloads the outputs.
  void Execute(const std::string& variant, int threads) {
    CaseOptions options;
    options.variant = variant;
    options.threads = threads;
    const Verdict v = Highway().Supports(problem, options);
    ASSERT_TRUE(v.ok) << v.reason;
    std::unique_ptr<PreparedCase> c = Highway().Prepare(problem, inputs, options);
    resolved = c->ResolvedVariant();
    c->Poison();
    c->Run();
    c->Download(outputs);
  }

  Accuracy Check() {
    return CheckOutputs(problem, inputs, outputs, ref, SharedThreadPool(0));
  }

  // The row kernels' arguments for this problem's x, gamma and beta, writing
  // y to `y_out` and the statistics to `stats` (mean then rstd, 2 * rows).
  HwyRowsArgs RowsArgs(void* y_out, float* stats) {
    HwyRowsArgs args;
    args.x = x.data();
    args.gamma = gamma.as<float>();
    args.beta = beta.as<float>();
    args.cols = problem.cols;
    args.eps = problem.eps;
    SetRowsOutputs(args, y_out, stats);
    return args;
  }
  void SetRowsOutputs(HwyRowsArgs& args, void* y_out, float* stats) const {
    args.y = y_out;
    args.mean = stats;
    args.rstd = stats + problem.rows;
  }
};

Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine,
                    bool stats, uint64_t seed = 7) {
  Problem p;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  p.dist = dist;
  p.affine = affine;
  p.stats = stats;
  p.seed = seed;
  return p;
}

constexpr DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

// Edge shapes: tails of every length, rows shorter than a vector, rows
// spanning many statistics blocks, empty and single-row problems.
struct Shape {
  int64_t rows, cols;
};
// Rows of whole cache lines (96, 2048, 6144) take the row-group path, in
// groups of four plus leftover rows.
constexpr Shape kShapes[] = {{0, 64},   {1, 1},    {5, 1},     {7, 3},    {1, 4096},
                             {6, 257},  {3, 1023}, {4, 2041},  {9, 4099}, {9, 96},
                             {10, 2048}, {5, 6144}, {6, 8192}, {2, 131072}};

// ------------------------------------------------------------------ per target

LNBENCH_PER_TARGET_TEST(HighwayTargetTest);

// Every distribution, dtype and edge shape, with and without affine and
// statistics, against the reference; "auto" must dispatch to the target
// the fixture selected.
TEST_P(HighwayTargetTest, AllDistributionsDtypesShapes) {
  const std::string want = LowerName(GetParam());
  for (Distribution dist : PerTargetDistributions()) {
    for (DType dtype : kDTypes) {
      for (const Shape& s : kShapes) {
        // The full affine x stats cross on small shapes; two corners on the largest.
        const int combos = s.cols >= 100000 ? 2 : 4;
        for (int combo = 0; combo < combos; ++combo) {
          const bool affine = combo == 0 || combo == 2;
          const bool stats = combo == 0 || combo == 3;
          CaseRun run(MakeProblem(s.rows, s.cols, dtype, dist, affine, stats));
          run.Execute("auto", 0);
          ASSERT_EQ(run.resolved, want);
          const Accuracy acc = run.Check();
          EXPECT_TRUE(acc.passed) << run.problem.ShortName() << " affine=" << affine
                                  << " stats=" << stats << " target=" << want << ": "
                                  << acc.reason;
          if (s.rows > 0) {
            EXPECT_EQ(acc[TensorId::kY]->unwritten, 0u);
          }
        }
      }
    }
  }
}

// Constant rows (variance 0, magnitudes up to 1e4) give exactly beta, the
// row's value as mean, and 1/sqrt(eps) as rstd: no rounding error at all.
TEST_P(HighwayTargetTest, ConstantRowsAreExact) {
  for (DType dtype : kDTypes) {
    for (int64_t cols : {int64_t{1}, int64_t{3}, int64_t{257}, int64_t{2041}, int64_t{4099}}) {
      CaseRun run(MakeProblem(16, cols, dtype, Distribution::kConstant, true, true));
      run.Execute("auto", 0);
      const float want_rstd = static_cast<float>(1.0 / std::sqrt(run.problem.eps));
      for (int64_t r = 0; r < run.problem.rows; ++r) {
        const double value = LoadAsDouble(dtype, run.x.data(), r * cols);
        EXPECT_EQ(run.mean.as<float>()[r], static_cast<float>(value)) << "row " << r;
        EXPECT_EQ(run.rstd.as<float>()[r], want_rstd) << "row " << r;
        for (int64_t c = 0; c < cols; ++c) {
          const double got = LoadAsDouble(dtype, run.y.data(), r * cols + c);
          const double beta = RoundToDType(run.beta.as<float>()[c], dtype);
          ASSERT_EQ(got, beta) << DTypeName(dtype) << " row " << r << " col " << c
                               << " value " << value;
        }
      }
    }
  }
}

// Rows whose variance eps dominates, with a mean near zero that is still many
// standard deviations from it: x = m + 1e-5 z (z spread like N(0,1)), var =
// 1e-10, rstd = 316, sigma * rstd = 0.0032, m * rstd = 0.9. The direct form
// y = x * rstd + c (RowScale) would carry c's rounding, up to 3e-8, where
// the verifier allows 15 * 2^-23 * (|n| + 0.0032), about 6e-9 near the mean:
// most rows failed on every target under the old rule (|m * rstd| <= 1).
// The offset form keeps them within the bound. Batches (H = 128), row groups
// (768) and single rows (4099); with and without affine.
TEST_P(HighwayTargetTest, EpsDominatedRowsNearZeroTakeTheOffsetForm) {
  for (int64_t cols : {int64_t{128}, int64_t{768}, int64_t{4099}}) {
    for (bool affine : {false, true}) {
      CaseRun run(MakeProblem(16, cols, DType::kF32, Distribution::kNormal, affine, true));
      const double sigma = 1e-5;
      const double m = 0.9 * std::sqrt(sigma * sigma + run.problem.eps);
      float* x = run.x.as<float>();
      uint64_t h = 88172645463325252ull;
      for (int64_t i = 0; i < run.problem.elements(); ++i) {
        h ^= h << 13, h ^= h >> 7, h ^= h << 17;  // xorshift64
        const double z = (static_cast<double>(h % 2001) - 1000.0) / 577.0;  // uniform, sd 1
        x[i] = static_cast<float>(m + sigma * z);
      }
      run.ref = ComputeReference(run.problem, run.inputs, SharedThreadPool(0));
      run.Execute("auto", 0);
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << run.problem.ShortName() << ": " << acc.reason;
    }
  }
}

// Large offsets must cost no accuracy: 1e4 + N(0,1) and 1e6 + N(0,1) stay
// within the same bound as N(0,1), and the worst error is of the same size.
TEST_P(HighwayTargetTest, OffsetDataKeepsNormalAccuracy) {
  for (int64_t cols : {int64_t{768}, int64_t{4099}, int64_t{65536}}) {
    CaseRun normal(MakeProblem(8, cols, DType::kF32, Distribution::kNormal, true, true));
    normal.Execute("auto", 0);
    const Accuracy base = normal.Check();
    ASSERT_TRUE(base.passed) << base.reason;
    for (Distribution dist : {Distribution::kOffset1e4, Distribution::kOffset1e6}) {
      CaseRun run(MakeProblem(8, cols, DType::kF32, dist, true, true));
      run.Execute("auto", 0);
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << run.problem.ShortName() << ": " << acc.reason;
      // Same threshold, and not just barely: within a few times the N(0,1) error.
      EXPECT_LE(acc[TensorId::kY]->max_bound_ratio, std::max(0.25, 4 * base[TensorId::kY]->max_bound_ratio))
          << run.problem.ShortName() << " vs normal " << base[TensorId::kY]->max_bound_ratio;
      EXPECT_LE(acc[TensorId::kRstd]->max_bound_ratio, std::max(0.25, 4 * base[TensorId::kRstd]->max_bound_ratio))
          << run.problem.ShortName();
    }
  }
}

// Rows that change level (N(0,1), then 1e4 + N(0,1) from column `step` on):
// a statistics block whose mean is far from its shift (the first vectors'
// mean, or the running mean of earlier blocks) must be summed again around
// its own mean. Steps inside the first block, at its end and in a later
// block; 6144 columns go through the row groups, 4099 through single rows.
TEST_P(HighwayTargetTest, RowsThatChangeLevelPass) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  for (int64_t cols : {int64_t{4099}, int64_t{6144}}) {
    for (int64_t step : {int64_t{100}, int64_t{1000}, int64_t{2048}, int64_t{3000}}) {
      CaseRun run(MakeProblem(8, cols, DType::kF32, Distribution::kNormal, true, true));
      float* x = run.x.as<float>();
      for (int64_t r = 0; r < run.problem.rows; ++r) {
        for (int64_t c = step; c < cols; ++c) x[r * cols + c] += 1e4f;
      }
      run.ref = ComputeReference(run.problem, run.inputs,
                                 SharedThreadPool(0));
      run.Execute("auto", 0);
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << "cols " << cols << " step " << step << ": " << acc.reason;
      // Summed around the first vectors' mean alone, these rows lose up to
      // 5 ulp of rstd (measured); summed again around the block's mean, 0-1.
      EXPECT_LE(acc[TensorId::kRstd]->max_ulp, 2u) << "cols " << cols << " step " << step;
    }
  }
}

// Streaming stores (used when y exceeds the last-level cache) give the same
// bits as ordinary stores, for every dtype and for rows at every alignment.
TEST_P(HighwayTargetTest, StreamingStoresMatchOrdinaryStores) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());  // dispatch follows the fixture
  for (DType dtype : kDTypes) {
    for (int64_t cols : {int64_t{67}, int64_t{100}, int64_t{257}, int64_t{1023}, int64_t{4099},
                         int64_t{96}, int64_t{2048}, int64_t{6144}}) {
      const Problem p = MakeProblem(13, cols, dtype, Distribution::kNormal, true, false);
      CaseRun run(p);
      const HwyRowsFn fn = HighwayRowsFunction(dtype, GetParam());
      ASSERT_NE(fn, nullptr);
      const size_t bytes = static_cast<size_t>(p.elements()) * DTypeSize(dtype);
      HostBuffer y_plain(bytes), y_stream(bytes);
      HwyRowsArgs args;
      args.x = run.x.data();
      args.gamma = run.gamma.as<float>();
      args.beta = run.beta.as<float>();
      args.cols = cols;
      args.eps = p.eps;
      args.y = y_plain.data();
      fn(args, 0, p.rows);
      args.y = y_stream.data();
      args.stream = true;
      fn(args, 0, p.rows / 2);  // two calls: a split over threads
      fn(args, p.rows / 2, p.rows);
      ASSERT_EQ(std::memcmp(y_plain.data(), y_stream.data(), bytes), 0)
          << DTypeName(dtype) << " cols " << cols;
      // And the outputs are right, not just equal.
      std::memcpy(run.y.data(), y_stream.data(), bytes);
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << acc.reason;
    }
  }
}

// Every bf16 and f16 bit pattern widens exactly (Inf and NaN included),
// as the core's reference conversions do.
TEST_P(HighwayTargetTest, WideningIsExact) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> got(all.size());
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const HwyLoadFn load = HighwayLoadFunction(dtype, GetParam());
    ASSERT_NE(load, nullptr);
    load(all.data(), got.data(), all.size() - 3);  // odd count: the one-lane tail too
    for (size_t i = 0; i + 3 < all.size(); ++i) {
      const float want = dtype == DType::kBF16 ? BF16ToFloat(all[i]) : F16ToFloat(all[i]);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(got[i])) << DTypeName(dtype) << " bits " << i;
      } else {
        ASSERT_EQ(FloatBits(got[i]), FloatBits(want)) << DTypeName(dtype) << " bits " << i;
      }
    }
  }
}

// Narrowing rounds to nearest, ties to even, on every target (Highway
// 1.0.3's own DemoteTo truncates bf16, and f16 without F16C), with
// subnormals, overflow to Inf, and NaN kept NaN.
TEST_P(HighwayTargetTest, NarrowingRoundsToNearestEven) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  std::vector<float> in;
  // Ties and near-ties of both formats around many exponents.
  for (int e = -30; e <= 20; ++e) {
    for (uint32_t m : {0u, 1u, 0x7FFFu, 0x8000u, 0x8001u, 0x18000u, 0xFFFu, 0x1000u, 0x1001u,
                       0x3000u, 0x7FF000u, 0x7FFFFFu}) {
      const float base = std::ldexp(1.0f, e);
      const float v = BitsToFloat(FloatBits(base) | m);
      in.push_back(v);
      in.push_back(-v);
    }
  }
  for (float v : {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 70000.0f, 1e-8f, 2.98e-8f,
                  5.96e-8f, 6.1e-5f, 3e38f, INFINITY, -INFINITY, NAN, -NAN,
                  BitsToFloat(0x7F800001u), BitsToFloat(0x7FC00000u), BitsToFloat(0x7F7FFFFFu)}) {
    in.push_back(v);
  }
  // And a sweep of random patterns.
  uint64_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    in.push_back(BitsToFloat(static_cast<uint32_t>(state >> 32)));
  }
  std::vector<uint16_t> got(in.size());
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const HwyStoreFn store = HighwayStoreFunction(dtype, GetParam());
    ASSERT_NE(store, nullptr);
    store(in.data(), got.data(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const uint16_t want = dtype == DType::kBF16 ? FloatToBF16(in[i]) : FloatToF16(in[i]);
      if (std::isnan(in[i])) {
        const float g = dtype == DType::kBF16 ? BF16ToFloat(got[i]) : F16ToFloat(got[i]);
        ASSERT_TRUE(std::isnan(g)) << DTypeName(dtype) << " input bits " << FloatBits(in[i]);
      } else {
        ASSERT_EQ(got[i], want) << DTypeName(dtype) << " input " << in[i] << " bits "
                                << FloatBits(in[i]);
      }
    }
  }
}

// Sets elements [begin, end) of x (dtype elements) to scale * x + delta,
// rounded back to the dtype.
void ScaleAndAdd(void* x, DType dtype, int64_t begin, int64_t end, float scale, float delta) {
  for (int64_t c = begin; c < end; ++c) {
    if (dtype == DType::kF32) {
      float& v = static_cast<float*>(x)[c];
      v = scale * v + delta;
    } else if (dtype == DType::kBF16) {
      uint16_t& bits = static_cast<uint16_t*>(x)[c];
      bits = FloatToBF16(scale * BF16ToFloat(bits) + delta);
    } else {
      uint16_t& bits = static_cast<uint16_t*>(x)[c];
      bits = FloatToF16(scale * F16ToFloat(bits) + delta);
    }
  }
}

// Adds `delta` to every element of row `row` of x (dtype elements, rounded
// back to the dtype).
void AddToRow(void* x, DType dtype, int64_t cols, int64_t row, float delta) {
  ScaleAndAdd(x, dtype, row * cols, (row + 1) * cols, 1.0f, delta);
}

// The first row of a call sums its whole blocks four or two side by side
// (RowMoments, RowSumSquares), the rows after it block by block, beside the
// writes of the row before (RowsWithTag): the same row must get the same
// bits either way, also where a block's raw sums turn out unsafe after they
// were taken (the block is summed again around its shift) and where that
// stops the row's raw sums. Rows of 12325 columns: 6 whole blocks and a part
// on AVX-512, 12 on AVX2, 24 on SSE4, 96 without SIMD (and their first 8192,
// 6144 and 4096 columns for the statistics alone). The statistics in double
// through the test hooks, then the outputs of calls with two equal rows, the
// first of the call and the one after it.
TEST_P(HighwayTargetTest, WholeBlocksSideBySideMatchBlocksOneByOne) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  constexpr int64_t kCols = 12325;
  struct Pattern {
    const char* name;
    int64_t begin, end;  // columns set to scale * x + delta
    float scale, delta;
  };
  constexpr Pattern kPatterns[] = {
      {"normal", 0, 0, 1.0f, 0.0f},
      {"level change at 3000", 3000, kCols, 1.0f, 1e4f},
      {"offset block 4096-6143", 4096, 6144, 1.0f, 1e4f},
      {"zeros 0-2047", 0, 2048, 0.0f, 0.0f},
      {"zeros 0-12287", 0, 12288, 0.0f, 0.0f},
      {"tiny 0-8191", 0, 8192, 1e-20f, 0.0f},  // squares subnormal in f32
      {"nan at 5000", 5000, 5001, 0.0f, std::numeric_limits<float>::quiet_NaN()},
      {"inf at 9000", 9000, 9001, 0.0f, std::numeric_limits<float>::infinity()},
  };
  for (DType dtype : kDTypes) {
    const size_t esize = DTypeSize(dtype);
    const size_t row_bytes = static_cast<size_t>(kCols) * esize;
    const HwyRowsFn ln = HighwayRowsFunction(dtype, GetParam());
    const HwyRmsRowsFn rms = HighwayRmsNormRowsFunction(dtype, GetParam());
    const HwyRowMomentsFn moments = HighwayRowMomentsFunction(dtype, GetParam());
    const HwyRowSquaresFn squares = HighwayRowSquaresFunction(dtype, GetParam());
    ASSERT_NE(ln, nullptr);
    ASSERT_NE(rms, nullptr);
    ASSERT_NE(moments, nullptr);
    ASSERT_NE(squares, nullptr);
    // Same double bits (a NaN for a NaN).
    const auto same = [](double a, double b) {
      return std::memcmp(&a, &b, sizeof(double)) == 0 || (std::isnan(a) && std::isnan(b));
    };
    for (const Pattern& pattern : kPatterns) {
      SCOPED_TRACE(std::string(DTypeName(dtype)) + ", " + pattern.name);
      CaseRun run(MakeProblem(2, kCols, dtype, Distribution::kNormal, true, true));
      ScaleAndAdd(run.x.data(), dtype, pattern.begin, pattern.end, pattern.scale, pattern.delta);
      std::memcpy(static_cast<char*>(run.x.data()) + row_bytes, run.x.data(), row_bytes);
      // The statistics in double, before any rounding to the outputs.
      for (int64_t cols : {int64_t{kCols}, int64_t{8192}, int64_t{6144}, int64_t{4096}}) {
        double mean[2], m2[2];
        moments(run.x.data(), static_cast<size_t>(cols), true, &mean[0], &m2[0]);
        moments(run.x.data(), static_cast<size_t>(cols), false, &mean[1], &m2[1]);
        EXPECT_TRUE(same(mean[0], mean[1])) << "cols " << cols << ": " << mean[0] << " " << mean[1];
        EXPECT_TRUE(same(m2[0], m2[1])) << "cols " << cols << ": " << m2[0] << " " << m2[1];
        const double q0 = squares(run.x.data(), static_cast<size_t>(cols), true);
        const double q1 = squares(run.x.data(), static_cast<size_t>(cols), false);
        EXPECT_TRUE(same(q0, q1)) << "cols " << cols << ": " << q0 << " " << q1;
      }
      for (bool stream : {false, true}) {
        HostBuffer y(2 * row_bytes);
        // The call's two rows of y, and of each statistic, hold the same bits.
        const auto expect_equal_rows = [&](const char* what, const std::vector<float>& stats) {
          EXPECT_EQ(FirstDifference(dtype, y.data(), static_cast<char*>(y.data()) + row_bytes,
                                    static_cast<size_t>(kCols)),
                    "")
              << what << ", stream " << stream;
          for (size_t k = 0; k < stats.size(); k += 2) {
            EXPECT_EQ(FirstDifference(DType::kF32, &stats[k], &stats[k + 1], 1), "")
                << what << " statistic " << k / 2;
          }
        };
        std::vector<float> stats(4, 1e30f);  // mean, mean, rstd, rstd
        HwyRowsArgs args = run.RowsArgs(y.data(), stats.data());
        args.stream = stream;
        args.row_groups = false;
        ln(args, 0, 2);
        expect_equal_rows("layernorm", stats);

        HwyRmsArgs rargs;
        rargs.x = run.x.data();
        rargs.gamma = run.gamma.as<float>();
        rargs.cols = kCols;
        rargs.eps = run.problem.eps;
        rargs.y = y.data();
        std::vector<float> rrms(2, 1e30f);
        rargs.rstd = rrms.data();
        rargs.stream = stream;
        rargs.row_groups = false;
        rms(rargs, 0, 2);
        expect_equal_rows("rmsnorm", rrms);
      }
    }
  }
}

// Rows of whole cache lines may run in groups of four (short and long rows),
// and short rows streamed to DRAM in batches of four; either path must give
// the same bits as one row at a time (any NaN for a NaN: FirstDifference),
// streaming or not, and for any split of rows over calls, for rows whose
// scale takes
// the direct form (mean within a standard deviation of zero), the offset form
// (offset and constant data, NaN/Inf rows), and groups mixing both forms
// ("mixed": normal rows, every third one moved 3 standard deviations away).
TEST_P(HighwayTargetTest, RowGroupsMatchSingleRows) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  struct Data {
    Distribution dist;
    bool mixed;
  };
  constexpr Data kData[] = {{Distribution::kNormal, false},
                            {Distribution::kNormal, true},
                            {Distribution::kOffset1e4, false},
                            {Distribution::kConstant, false},
                            {Distribution::kSpecial, false}};
  for (const Data& data : kData) {
    for (DType dtype : kDTypes) {
      // 768 and 4096: groups since issue 15 (rows that fit twice four
      // times in L1 with gamma/beta; 16-bit rows whose gamma/beta spill it).
      // Streamed 16-bit rows of 2048 (3000: rows off cache lines) to 16384
      // columns go in chunked groups of eight rows: one call over all rows
      // makes a full group and a partial one.
      // Streamed rows of 512-1024 bytes go in batches: 256 (f32 and bf16),
      // 131 (f32) and 259 (bf16), rows that do not start on cache lines,
      // where groups cannot go; 16-bit rows to 2048 bytes too: 768, and 1001
      // (a masked tail).
      for (int64_t cols : {int64_t{32}, int64_t{96}, int64_t{131}, int64_t{256}, int64_t{259},
                           int64_t{768}, int64_t{1001}, int64_t{2560}, int64_t{3000}, int64_t{4096},
                           int64_t{8192}, int64_t{12288}}) {
        for (bool stream : {false, true}) {
          for (int64_t split : {int64_t{6}, int64_t{11}}) {
            SCOPED_TRACE(std::string(DistributionName(data.dist)) + (data.mixed ? " mixed" : ""));
            const Problem p = MakeProblem(11, cols, dtype, data.dist, true, true);
            CaseRun run(p);
            if (data.mixed) {
              for (int64_t r = 1; r < p.rows; r += 3) AddToRow(run.x.data(), dtype, cols, r, 3.0f);
              run.ref = ComputeReference(p, run.inputs, SharedThreadPool(0));
            }
            const HwyRowsFn fn = HighwayRowsFunction(dtype, GetParam());
            ASSERT_NE(fn, nullptr);
            const size_t bytes = static_cast<size_t>(p.elements()) * DTypeSize(dtype);
            HostBuffer y_single(bytes), y_group(bytes);
            std::vector<float> stats_single(2 * p.rows), stats_group(2 * p.rows);
            HwyRowsArgs args = run.RowsArgs(y_single.data(), stats_single.data());
            args.stream = stream;
            args.row_groups = false;
            fn(args, 0, p.rows);
            args.row_groups = true;
            // Streamed 16-bit rows of 2048-16384 columns: chunked groups, then
            // interleaved groups (the per-CPU choice, --tune groups16).
            for (bool interleaved : {false, true}) {
              args.interleaved_16bit = interleaved;
              // Finite values no row writes: a row the path missed differs.
              std::memset(y_group.data(), 0x7B, bytes);
              std::fill(stats_group.begin(), stats_group.end(), 1e30f);
              run.SetRowsOutputs(args, y_group.data(), stats_group.data());
              fn(args, 0, split);  // split 6: a split over threads, partial batches or groups
              fn(args, split, p.rows);
              ASSERT_EQ(FirstDifference(dtype, y_single.data(), y_group.data(),
                                        static_cast<size_t>(p.elements())),
                        "")
                  << DTypeName(dtype) << " cols " << cols << " stream " << stream << " split "
                  << split << " interleaved " << interleaved;
              ASSERT_EQ(FirstDifference(DType::kF32, stats_single.data(), stats_group.data(),
                                        2 * static_cast<size_t>(p.rows)),
                        "")
                  << DTypeName(dtype) << " cols " << cols << " interleaved " << interleaved;
            }
            std::memcpy(run.y.data(), y_group.data(), bytes);
            std::memcpy(run.mean.data(), args.mean, p.rows * 4);
            std::memcpy(run.rstd.data(), args.rstd, p.rows * 4);
            const Accuracy acc = run.Check();
            EXPECT_TRUE(acc.passed) << acc.reason;
          }
        }
      }
    }
  }
}

// Runs the row function fn over all of run's rows as single rows (one call,
// or one call per row when `per_row`), then with streaming stores and row
// groups (and batches) on and off, split over two calls at `split` (a split
// over threads): each must give the single rows' bits (any NaN for a NaN).
// Leaves the single rows' outputs in run's y, mean and rstd, and checks them
// against the reference.
void ExpectPathsMatchAndVerify(CaseRun& run, HwyRowsFn fn, int64_t split, bool per_row) {
  const Problem& p = run.problem;
  const size_t bytes = static_cast<size_t>(p.elements()) * DTypeSize(p.dtype);
  HostBuffer y_base(bytes);
  std::vector<float> stats_base(2 * p.rows);
  HwyRowsArgs args = run.RowsArgs(y_base.data(), stats_base.data());
  args.row_groups = false;
  if (per_row) {
    for (int64_t r = 0; r < p.rows; ++r) fn(args, r, r + 1);
  } else {
    fn(args, 0, p.rows);
  }
  for (int variant = 0; variant < 4; ++variant) {
    HostBuffer y(bytes);
    std::vector<float> stats(2 * p.rows);
    args.stream = (variant & 1) != 0;
    args.row_groups = (variant & 2) != 0;
    run.SetRowsOutputs(args, y.data(), stats.data());
    fn(args, 0, split);
    fn(args, split, p.rows);
    ASSERT_EQ(FirstDifference(p.dtype, y_base.data(), y.data(), static_cast<size_t>(p.elements())),
              "")
        << "variant " << variant;
    ASSERT_EQ(FirstDifference(DType::kF32, stats_base.data(), stats.data(), stats.size()), "")
        << "variant " << variant;
  }
  std::memcpy(run.y.data(), y_base.data(), bytes);
  std::memcpy(run.mean.data(), stats_base.data(), p.rows * 4);
  std::memcpy(run.rstd.data(), stats_base.data() + p.rows, p.rows * 4);
  const Accuracy acc = run.Check();
  EXPECT_TRUE(acc.passed) << acc.reason;
}

// bf16 rows whose statistics the native sums (VDPBF16PS, on AVX-512 CPUs with
// AVX512_BF16) must leave to the shifted sums, or may take despite
// subnormals. Rows 0-8 of x (bf16, N(0,1) from the generator, `cols` wide)
// become: 0 N(0,1) (native), 1 N(0,1) + 3 (mean far from zero), 2 N(0,1) *
// 2^-40 (mean square under 2^-60), 3 N(0,1) with every 7th element a bf16
// subnormal (flushed by the instruction, a negligible error), 4 bf16
// subnormals only, 5 N(0,1) then N(0,1) + 100 from the middle on (a later
// block far from the running mean), 6 zeros, 7 N(0,1) * 2^-30 (near the
// mean-square limit), 8 N(0,1) * 2^50.
void MakeNativeSumEdgeRows(void* x, int64_t cols) {
  uint16_t* b = static_cast<uint16_t*>(x);
  const auto at = [&](int64_t r, int64_t c) -> uint16_t& { return b[r * cols + c]; };
  const auto scale = [&](int64_t r, float f) {
    for (int64_t c = 0; c < cols; ++c) at(r, c) = FloatToBF16(BF16ToFloat(at(r, c)) * f);
  };
  AddToRow(x, DType::kBF16, cols, 1, 3.0f);
  scale(2, 0x1p-40f);
  for (int64_t c = 3; c < cols; c += 7) at(3, c) = static_cast<uint16_t>(((c & 1) << 15) | (c % 127 + 1));
  for (int64_t c = 0; c < cols; ++c) at(4, c) = static_cast<uint16_t>(((c % 3 == 0) << 15) | (c * 37 % 127 + 1));
  for (int64_t c = cols / 2; c < cols; ++c) at(5, c) = FloatToBF16(BF16ToFloat(at(5, c)) + 100.0f);
  for (int64_t c = 0; c < cols; ++c) at(6, c) = 0;
  scale(7, 0x1p-30f);
  scale(8, 0x1p50f);
}

// The native bf16 sums are the exact sums where those are representable
// (small integers: every partial sum exact in f32), for lengths that end in
// each of their loops' tails; they exist on the AVX-512 targets exactly when
// the CPU has AVX512_BF16, so on such a CPU these tests reach them.
TEST_P(HighwayTargetTest, NativeBf16SumsAreExactWhereTheCpuHasThem) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  const HwyRawSumsFn fn = HighwayRawSumsFunction(GetParam());
  ASSERT_NE(fn, nullptr);
  const bool avx512 = GetParam() == HWY_AVX3 || GetParam() == HWY_AVX3_DL;
  __builtin_cpu_init();
  const bool expected = avx512 && __builtin_cpu_supports("avx512bf16");
  for (size_t n : {size_t{16}, size_t{17}, size_t{31}, size_t{32}, size_t{48}, size_t{63},
                   size_t{64}, size_t{95}, size_t{2048}, size_t{2077}}) {
    std::vector<uint16_t> x(n);
    double sum = 0, sum_sq = 0;
    for (size_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(static_cast<int>(i * 7919 % 17) - 8);
      x[i] = FloatToBF16(v);
      sum += v;
      sum_sq += static_cast<double>(v) * v;
    }
    float got_sum = -1, got_sq = -1;
    ASSERT_EQ(fn(x.data(), n, &got_sum, &got_sq), expected) << "n " << n;
    if (!expected) continue;
    EXPECT_EQ(got_sum, sum) << "n " << n;
    EXPECT_EQ(got_sq, sum_sq) << "n " << n;
  }
}

// LayerNorm: the rows of MakeNativeSumEdgeRows verify, and every path (single
// rows, groups of four, batches of streamed short rows, any split over calls)
// gives the same bits, whichever sums each row's blocks took.
TEST_P(HighwayTargetTest, Bf16RowsTheNativeSumsMustNotTakeVerify) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  const HwyRowsFn fn = HighwayRowsFunction(DType::kBF16, GetParam());
  ASSERT_NE(fn, nullptr);
  for (int64_t cols : {int64_t{259}, int64_t{768}, int64_t{4096}, int64_t{4099}}) {
    const Problem p = MakeProblem(9, cols, DType::kBF16, Distribution::kNormal, true, true);
    CaseRun run(p);
    MakeNativeSumEdgeRows(run.x.data(), cols);
    run.ref = ComputeReference(p, run.inputs, SharedThreadPool(0));
    SCOPED_TRACE("cols " + std::to_string(cols));
    ASSERT_NO_FATAL_FAILURE(ExpectPathsMatchAndVerify(run, fn, 5, /*per_row=*/false));
    const float* mean = run.mean.as<float>();
    const float* rstd = run.rstd.as<float>();
    for (int64_t r = 0; r < p.rows; ++r) {
      EXPECT_TRUE(std::isfinite(mean[r]) && std::isfinite(rstd[r]))
          << "cols " << cols << " row " << r;
    }
  }
}

// Rows of every dtype that the raw sums of LayerNorm's statistics (sum x and
// sum x^2 with no shift: the widened sums of f32, f16 and bf16 where the CPU
// has no native bf16 sums) must take or must leave to the shifted sums.
// Rows 0-9 of x (N(0,1) from the generator, `cols` wide) become: 0 N(0,1)
// (raw), 1 N(0,1) + 0.5 (raw: mean inside sqrt(1/3) standard deviations),
// 2 N(0,1) + 30 (shifted: sum x^2 - (sum x)^2 / n would lose ten bits),
// 3 N(0,1) scaled small (f32/bf16 2^-40: mean square under 2^-60, shifted;
// f16 2^-12, subnormal elements), 4 N(0,1) then N(0,1) + 100 from the middle
// on (rows of two blocks: a raw first block, then one far from the running
// mean), 5 zeros, 6 N(0,1) scaled large (2^50; f16 2^7), 7 the constant
// 7.25, 8 N(0,1) + 0.6 (just outside the limit), 9 N(0,1) + 100 then N(0,1)
// from the middle on (a later block whose own sums would pass, after a
// running mean far from zero: not tried).
void MakeRawSumEdgeRows(void* x, DType dtype, int64_t cols) {
  const auto scale = [&](int64_t r, double f) {
    for (int64_t c = r * cols; c < (r + 1) * cols; ++c) {
      StoreFromDouble(dtype, x, static_cast<size_t>(c), LoadAsDouble(dtype, x, c) * f);
    }
  };
  const auto set = [&](int64_t r, double v) {
    for (int64_t c = r * cols; c < (r + 1) * cols; ++c) StoreFromDouble(dtype, x, c, v);
  };
  const bool f16 = dtype == DType::kF16;
  AddToRow(x, dtype, cols, 1, 0.5f);
  AddToRow(x, dtype, cols, 2, 30.0f);
  scale(3, f16 ? 0x1p-12 : 0x1p-40);
  for (int64_t c = 4 * cols + cols / 2; c < 5 * cols; ++c) {
    StoreFromDouble(dtype, x, c, LoadAsDouble(dtype, x, c) + 100.0);
  }
  set(5, 0.0);
  scale(6, f16 ? 0x1p7 : 0x1p50);
  set(7, 7.25);
  AddToRow(x, dtype, cols, 8, 0.6f);
  for (int64_t c = 9 * cols; c < 9 * cols + cols / 2; ++c) {
    StoreFromDouble(dtype, x, c, LoadAsDouble(dtype, x, c) + 100.0);
  }
}

// LayerNorm: the rows of MakeRawSumEdgeRows verify against the reference, and
// every path (single rows, groups of four, batches of streamed short rows,
// chunked groups, any split over calls) gives the same bits as single rows,
// for every dtype: rows whose whole-vector groups sum their four rows'
// raw sums side by side must sum them in the order single rows do.
TEST_P(HighwayTargetTest, RawSumEdgeRowsVerifyAndMatchOnEveryPath) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  for (DType dtype : kDTypes) {
    const HwyRowsFn fn = HighwayRowsFunction(dtype, GetParam());
    ASSERT_NE(fn, nullptr);
    // 96 and 768: groups of short rows; 259: batches when streamed; 4096:
    // groups (chunked groups for 16-bit rows when streamed) of two blocks;
    // 4099: single rows of three blocks with a tail.
    for (int64_t cols : {int64_t{96}, int64_t{259}, int64_t{768}, int64_t{4096}, int64_t{4099}}) {
      SCOPED_TRACE(std::string(DTypeName(dtype)) + " cols " + std::to_string(cols));
      const Problem p = MakeProblem(10, cols, dtype, Distribution::kNormal, true, true);
      CaseRun run(p);
      MakeRawSumEdgeRows(run.x.data(), dtype, cols);
      run.ref = ComputeReference(p, run.inputs, SharedThreadPool(0));
      ASSERT_NO_FATAL_FAILURE(ExpectPathsMatchAndVerify(run, fn, 4, /*per_row=*/true));
    }
  }
}

// ------------------------------------------------------------------ RMSNorm

// One problem's tensors as its op names them, and its reference.
using RmsCase = test_support::HostCase;

Problem MakeRmsProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine,
                       bool stats, uint64_t seed = 7) {
  Problem p = MakeProblem(rows, cols, dtype, dist, affine, stats, seed);
  p.norm = Norm::kRmsNorm;
  return p;
}

// Every distribution (kSpecial puts NaN/Inf in some rows), dtype and edge
// shape (odd H, rows shorter than a vector, the row-group widths), with and
// without gamma and rrms, against the op's float64 reference; "auto" must
// dispatch to the fixture's target.
TEST_P(HighwayTargetTest, RmsNormAllDistributionsDtypesShapes) {
  const std::string want = LowerName(GetParam());
  for (Distribution dist : PerTargetDistributions()) {
    for (DType dtype : kDTypes) {
      for (const Shape& s : kShapes) {
        const int combos = s.cols >= 100000 ? 2 : 4;
        for (int combo = 0; combo < combos; ++combo) {
          const bool affine = combo == 0 || combo == 2;
          const bool stats = combo == 0 || combo == 3;
          RmsCase run(MakeRmsProblem(s.rows, s.cols, dtype, dist, affine, stats));
          CaseOptions options;
          options.variant = "auto";
          run.Execute(Highway(), options);
          ASSERT_EQ(run.resolved, want);
          const Accuracy acc = run.Check();
          EXPECT_TRUE(acc.passed) << run.problem.ShortName() << " affine=" << affine
                                  << " stats=" << stats << " target=" << want << ": "
                                  << acc.reason;
          if (s.rows > 0) {
            EXPECT_EQ(acc[TensorId::kY]->unwritten, 0u);
          }
        }
      }
    }
  }
}

// Writes v as element i of a row of `dtype`.
void PutValue(void* x, DType dtype, int64_t i, float v) {
  if (dtype == DType::kF32) {
    static_cast<float*>(x)[i] = v;
    return;
  }
  const uint16_t bits = dtype == DType::kBF16 ? FloatToBF16(v) : FloatToF16(v);
  std::memcpy(static_cast<uint16_t*>(x) + i, &bits, 2);
}

// Returns element i of a row of `dtype` as float.
float GetValue(const void* y, DType dtype, int64_t i) {
  if (dtype == DType::kF32) return static_cast<const float*>(y)[i];
  uint16_t bits;
  std::memcpy(&bits, static_cast<const uint16_t*>(y) + i, 2);
  return dtype == DType::kBF16 ? BF16ToFloat(bits) : F16ToFloat(bits);
}

// A NaN anywhere in a row makes the whole row (and its rrms) NaN; an Inf
// makes rrms 0, so y is 0 where x is finite and NaN where x is the Inf;
// neighbouring rows are untouched. Checked on every path: rows of whole
// cache lines (groups), odd rows, and rows shorter than a vector.
TEST_P(HighwayTargetTest, RmsNormNanAndInfRows) {
  for (DType dtype : kDTypes) {
    for (int64_t cols : {int64_t{3}, int64_t{257}, int64_t{2048}}) {
      RmsCase run(MakeRmsProblem(9, cols, dtype, Distribution::kNormal, true, true), false);
      void* x = run.in(TensorId::kX);
      const int64_t pos = cols / 2;
      PutValue(x, dtype, 1 * cols + pos, std::nanf(""));
      PutValue(x, dtype, 4 * cols + pos, -INFINITY);
      PutValue(x, dtype, 6 * cols + cols - 1, INFINITY);
      run.ref = ComputeReference(run.problem, run.inputs, SharedThreadPool(0));
      run.Execute(Highway(), CaseOptions{});
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << DTypeName(dtype) << " cols " << cols << ": " << acc.reason;
      const void* y = run.out(TensorId::kY);
      const float* rstd = run.out<float>(TensorId::kRstd);
      EXPECT_TRUE(std::isnan(rstd[1]));
      EXPECT_EQ(rstd[4], 0.0f);
      EXPECT_EQ(rstd[6], 0.0f);
      for (int64_t c = 0; c < cols; ++c) {
        EXPECT_TRUE(std::isnan(GetValue(y, dtype, 1 * cols + c))) << c;
        const float y4 = GetValue(y, dtype, 4 * cols + c);
        if (c == pos) {
          EXPECT_TRUE(std::isnan(y4));
        } else {
          EXPECT_EQ(y4, 0.0f) << c;
        }
        EXPECT_TRUE(std::isfinite(GetValue(y, dtype, 5 * cols + c)));
      }
      EXPECT_TRUE(std::isfinite(rstd[5]) && rstd[5] > 0);
    }
  }
}

// Every path gives the same bits: single rows or groups of four, ordinary or
// streaming stores, any split of rows over calls (threads); and rows that do
// not start on an element-size multiple of the vector (x and y one element
// off a cache line, odd H) still verify.
TEST_P(HighwayTargetTest, RmsNormPathsMatchAndUnalignedRowsVerify) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  for (DType dtype : kDTypes) {
    const HwyRmsRowsFn fn = HighwayRmsNormRowsFunction(dtype, GetParam());
    ASSERT_NE(fn, nullptr);
    for (int64_t cols : {int64_t{5}, int64_t{32}, int64_t{67}, int64_t{96}, int64_t{131},
                         int64_t{256}, int64_t{1023}, int64_t{2560}, int64_t{3584},
                         int64_t{4099}, int64_t{8192}, int64_t{12288}}) {
      RmsCase run(MakeRmsProblem(11, cols, dtype, Distribution::kNormal, true, true));
      const size_t esize = DTypeSize(dtype);
      const size_t bytes = static_cast<size_t>(run.problem.elements()) * esize;
      HwyRmsArgs args;
      args.x = run.in(TensorId::kX);
      args.gamma = run.in<const float>(TensorId::kGamma);
      args.cols = cols;
      args.eps = run.problem.eps;
      HostBuffer y_base(bytes);
      std::vector<float> rstd_base(11);
      args.row_groups = false;
      args.y = y_base.data();
      args.rstd = rstd_base.data();
      fn(args, 0, 11);
      for (int variant = 0; variant < 16; ++variant) {
        HostBuffer y(bytes);
        std::memset(y.data(), 0x7B, bytes);  // finite values no row writes
        std::vector<float> rstd(11);
        args.stream = variant & 1;
        args.row_groups = (variant & 2) != 0;
        // Variants 8-15: streamed 16-bit rows of 2560-12288 columns on cache
        // lines in interleaved groups instead of chunked ones.
        args.interleaved_16bit = (variant & 8) != 0;
        args.y = y.data();
        args.rstd = rstd.data();
        // Variants 4-7 and 12-15: one call over the 11 rows, which makes a
        // full chunked group of eight streamed 16-bit rows (4099-12288
        // columns) and a partial one, or two interleaved groups of four and
        // a single row; the others: two calls, a split over threads.
        const int64_t split = (variant & 4) == 0 ? 5 : 11;
        fn(args, 0, split);
        fn(args, split, 11);
        ASSERT_EQ(std::memcmp(y_base.data(), y.data(), bytes), 0)
            << DTypeName(dtype) << " cols " << cols << " variant " << variant;
        ASSERT_EQ(rstd_base, rstd) << DTypeName(dtype) << " cols " << cols;
      }
      // Unaligned rows: x and y one element past a cache line (interleaved
      // groups asked for: those rows must keep the other paths).
      args.interleaved_16bit = true;
      HostBuffer x_off(bytes + 64), y_off(bytes + 64);
      std::memcpy(static_cast<char*>(x_off.data()) + esize, args.x, bytes);
      for (bool stream : {false, true}) {
        args.x = static_cast<const char*>(x_off.data()) + esize;
        args.y = static_cast<char*>(y_off.data()) + esize;
        args.rstd = run.out<float>(TensorId::kRstd);
        args.stream = stream;
        args.row_groups = true;
        fn(args, 0, 11);
        std::memcpy(run.out(TensorId::kY), args.y, bytes);
        const Accuracy acc = run.Check();
        EXPECT_TRUE(acc.passed) << DTypeName(dtype) << " cols " << cols << ": " << acc.reason;
        EXPECT_EQ(std::memcmp(y_base.data(), args.y, bytes), 0)
            << DTypeName(dtype) << " cols " << cols << " stream " << stream;
      }
    }
  }
}

// RMSNorm: the same rows (MakeNativeSumEdgeRows) verify and give the same
// bits on every path.
TEST_P(HighwayTargetTest, RmsNormBf16RowsTheNativeSumsMustNotTakeVerify) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  const HwyRmsRowsFn fn = HighwayRmsNormRowsFunction(DType::kBF16, GetParam());
  ASSERT_NE(fn, nullptr);
  for (int64_t cols : {int64_t{259}, int64_t{768}, int64_t{4096}, int64_t{4099}}) {
    RmsCase run(MakeRmsProblem(9, cols, DType::kBF16, Distribution::kNormal, true, true), false);
    MakeNativeSumEdgeRows(run.in(TensorId::kX), cols);
    run.ref = ComputeReference(run.problem, run.inputs, SharedThreadPool(0));
    const size_t bytes = static_cast<size_t>(run.problem.elements()) * 2;
    HwyRmsArgs args;
    args.x = run.in(TensorId::kX);
    args.gamma = run.in<const float>(TensorId::kGamma);
    args.cols = cols;
    args.eps = run.problem.eps;
    args.row_groups = false;
    args.y = run.out(TensorId::kY);
    args.rstd = run.out<float>(TensorId::kRstd);
    fn(args, 0, 9);
    for (int variant = 0; variant < 4; ++variant) {
      HostBuffer y(bytes);
      std::vector<float> rstd(9);
      args.stream = (variant & 1) != 0;
      args.row_groups = (variant & 2) != 0;
      args.y = y.data();
      args.rstd = rstd.data();
      fn(args, 0, 5);
      fn(args, 5, 9);
      ASSERT_EQ(std::memcmp(run.out(TensorId::kY), y.data(), bytes), 0)
          << "cols " << cols << " variant " << variant;
      ASSERT_EQ(std::memcmp(run.out<float>(TensorId::kRstd), rstd.data(), 9 * 4), 0)
          << "cols " << cols << " variant " << variant;
    }
    const Accuracy acc = run.Check();
    EXPECT_TRUE(acc.passed) << "cols " << cols << ": " << acc.reason;
  }
}

// bf16 outputs that are subnormal. VCVTNE2PS2BF16 flushes them to zero, so
// the row writers watch their pairs for zero words and write a range in
// which one appeared again with the integer rounding (WithPairStores in
// norm_rows-inl.h). Rows of +-1 with bf16 subnormals s (+-2^-133 to 2^-126)
// in one pair of columns in seven, gamma 1 and beta 0, or none: the output
// of each s, (s - mean) * rstd (RMSNorm s * rrms, both about 1.08), is
// mostly an f32 subnormal. It must be within two bf16 subnormal steps
// (2^-132, and bf16's rounding) of that value in double from the kernel's
// own statistics, and nonzero where that value is not within them, on every
// path: single rows with and without streaming stores, short rows in
// batches (128, 259, 768 columns), row groups, chunked and interleaved
// groups of streamed rows (2560-12288), a masked tail (259, 1001), and calls
// split over rows. Fails when the watch never writes a range again (a build
// whose AllNonzero always held; one that skipped it in the row groups
// only): on the targets with the native conversion; on the others the
// integer rounding is checked the same way.
TEST_P(HighwayTargetTest, Bf16SubnormalOutputsSurviveEveryPath) {
  ASSERT_EQ(HighwayBestTarget().bits, GetParam());
  constexpr int64_t kRows = 11;
  const HwyRowsFn ln = HighwayRowsFunction(DType::kBF16, GetParam());
  const HwyRmsRowsFn rms = HighwayRmsNormRowsFunction(DType::kBF16, GetParam());
  ASSERT_NE(ln, nullptr);
  ASSERT_NE(rms, nullptr);
  for (int64_t cols : {int64_t{128}, int64_t{259}, int64_t{768}, int64_t{1001}, int64_t{2560},
                       int64_t{4096}, int64_t{12288}}) {
    const size_t n = static_cast<size_t>(kRows * cols);
    HostBuffer x_buf(n * 2), y_buf(n * 2);  // rows on cache lines where cols allow: groups
    uint16_t* x = x_buf.as<uint16_t>();
    uint16_t* y = y_buf.as<uint16_t>();
    // Columns 2k and 2k+1 hold +1 and -1, or, for one pair in seven, two
    // subnormals (1..127 steps of 2^-133, either sign); a last odd column 0.
    // Every aligned pair then sums to 0 or to subnormals, so every
    // statistics block, every vector lane and the row sum their +-1 terms to
    // exactly 0, and the row's mean is within the subnormals' range (a
    // pattern off those pairs gave block means of +-1/1024, whose merge
    // rounded the row's mean to about 1e-20, far above the subnormals).
    const auto subnormal_at = [cols](int64_t r, int64_t c) {
      return (c / 2 + r) % 7 == 0 && (c | 1) < cols;
    };
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        uint16_t& v = x[static_cast<size_t>(r * cols + c)];
        if (subnormal_at(r, c)) {
          v = static_cast<uint16_t>(((c / 2) % 2 == c % 2 ? 0 : 0x8000) | (1 + (c * 37 + r) % 127));
        } else if ((c | 1) >= cols) {
          v = 0;
        } else {
          v = FloatToBF16(c % 2 == 0 ? 1.0f : -1.0f);
        }
      }
    }
    const std::vector<float> ones(static_cast<size_t>(cols), 1.0f);
    const std::vector<float> zeros(static_cast<size_t>(cols), 0.0f);
    // Checks y against (x - mean) * scale (mean 0 for RMSNorm) at every s.
    const auto check = [&](const float* mean, const float* scale, const std::string& what) {
      int checked = 0, subnormal = 0;
      for (int64_t r = 0; r < kRows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = static_cast<size_t>(r * cols + c);
          if (!subnormal_at(r, c)) continue;
          const double want =
              (static_cast<double>(BF16ToFloat(x[i])) - (mean ? mean[r] : 0.0)) * scale[r];
          const double got = BF16ToFloat(y[i]);
          ASSERT_TRUE(std::fabs(got - want) <= 0x1p-132 + 0x1p-8 * std::fabs(want) &&
                      (got != 0 || std::fabs(want) < 0x1p-132))
              << what << " cols " << cols << " row " << r << " col " << c << ": " << got
              << " (bits " << y[i] << "), want " << want;
          ++checked;
          if (want != 0 && std::fabs(want) < 0x1p-126) ++subnormal;
        }
      }
      ASSERT_GT(subnormal, checked / 2) << what << " cols " << cols;
    };
    for (bool affine : {false, true}) {
      for (int variant = 0; variant < 8; ++variant) {
        const bool stream = (variant & 1) != 0, groups = (variant & 2) != 0;
        const bool interleaved = (variant & 4) != 0;
        const std::string what = std::string(affine ? "affine" : "plain") + " stream " +
                                 std::to_string(stream) + " groups " + std::to_string(groups) +
                                 " interleaved " + std::to_string(interleaved);
        std::fill(y, y + n, uint16_t{0x7B7B});  // finite values no row writes
        std::vector<float> stats(2 * kRows);
        HwyRowsArgs args;
        args.x = x;
        args.y = y;
        args.gamma = affine ? ones.data() : nullptr;
        args.beta = affine ? zeros.data() : nullptr;
        args.mean = stats.data();
        args.rstd = stats.data() + kRows;
        args.cols = cols;
        args.eps = 1e-5;
        args.stream = stream;
        args.row_groups = groups;
        args.interleaved_16bit = interleaved;
        ln(args, 0, 6);  // a split over threads: partial batches and groups
        ln(args, 6, kRows);
        check(args.mean, args.rstd, "layernorm " + what);

        std::fill(y, y + n, uint16_t{0x7B7B});
        std::vector<float> rrms(kRows);
        HwyRmsArgs rargs;
        rargs.x = x;
        rargs.y = y;
        rargs.gamma = affine ? ones.data() : nullptr;
        rargs.rstd = rrms.data();
        rargs.cols = cols;
        rargs.eps = 1e-5;
        rargs.stream = stream;
        rargs.row_groups = groups;
        rargs.interleaved_16bit = interleaved;
        rms(rargs, 0, kRows);
        check(nullptr, rrms.data(), "rmsnorm " + what);
      }
    }
  }
}

// ------------------------------------------------------------------ backend

TEST(HighwayBackendTest, VariantsAreAutoThenEverySupportedTarget) {
  const std::vector<VariantInfo> variants = Highway().Variants();
  ASSERT_FALSE(variants.empty());
  EXPECT_EQ(variants[0].name, "auto");
  const std::vector<std::string> names = HighwaySupportedTargetNames();
  ASSERT_EQ(variants.size(), names.size() + 1);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(variants[i + 1].name, names[i]);
    EXPECT_EQ(names[i], LowerName(hwy::SupportedAndGeneratedTargets()[i]));
  }
  // The best target is the first supported one, and what "auto" resolves to.
  EXPECT_EQ(HighwayBestTarget().name, names.front());
  const Problem p = MakeProblem(2, 16, DType::kF32, Distribution::kNormal, true, false);
  CaseRun run(p);
  run.Execute("auto", 1);
  EXPECT_EQ(run.resolved, names.front());
}

TEST(HighwayBackendTest, EveryVariantRunsAndPasses) {
  for (const VariantInfo& v : Highway().Variants()) {
    for (DType dtype : kDTypes) {
      CaseRun run(MakeProblem(5, 1000, dtype, Distribution::kNormal, true, true));
      run.Execute(v.name, 0);
      if (v.name != "auto") {
        EXPECT_EQ(run.resolved, v.name);
      }
      const Accuracy acc = run.Check();
      EXPECT_TRUE(acc.passed) << v.name << " " << DTypeName(dtype) << ": " << acc.reason;
    }
  }
}

TEST(HighwayBackendTest, UnsupportedAndUnknownVariantsSayWhy) {
  const Problem p = MakeProblem(2, 16, DType::kF32, Distribution::kNormal, true, false);
  CaseOptions options;
  // A target this "CPU" lacks: pretend only the baseline targets exist.
  const std::vector<HighwayTarget> compiled = HighwayCompiledTargets();
  ASSERT_GE(compiled.size(), 2u);
  const HighwayTarget& best = compiled.front();
  const HighwayTarget& worst = compiled.back();
  hwy::SetSupportedTargetsForTest(worst.bits);
  options.variant = best.name;
  Verdict v = Highway().Supports(p, options);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("lacks"), std::string::npos) << v.reason;
  EXPECT_EQ(Highway().Variants().size(), 2u);  // auto + the one target left
  HostBuffer x(p.elements() * 4);
  EXPECT_THROW(Highway().Prepare(p, {x.data(), nullptr, nullptr}, options), UsageError);
  hwy::SetSupportedTargetsForTest(0);

  options.variant = "no_such_target";
  v = Highway().Supports(p, options);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("unknown variant"), std::string::npos) << v.reason;
  EXPECT_THROW(Highway().Prepare(p, {x.data(), nullptr, nullptr}, options), UsageError);

  // A Highway target name this build did not compile: GCC before 12.3 gets
  // HWY_SCALAR as fallback instead of HWY_EMU128, later compilers the reverse.
  bool have_emu128 = false;
  for (const HighwayTarget& t : compiled) have_emu128 |= t.name == "emu128";
  options.variant = have_emu128 ? "scalar" : "emu128";
  v = Highway().Supports(p, options);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("not compiled"), std::string::npos) << v.reason;
}

// Rows are independent: any thread count gives the same bits.
TEST(HighwayBackendTest, ThreadCountDoesNotChangeResults) {
  for (DType dtype : kDTypes) {
    for (int64_t cols : {int64_t{1023}, int64_t{1024}}) {
    CaseRun one(MakeProblem(37, cols, dtype, Distribution::kUniform, true, true));
    one.Execute("auto", 1);
    CaseRun two(one.problem);
    two.Execute("auto", 2);
    CaseRun many(one.problem);
    many.Execute("auto", 5);
    const size_t bytes = one.y.bytes();
    EXPECT_EQ(std::memcmp(one.y.data(), two.y.data(), bytes), 0);
    EXPECT_EQ(std::memcmp(one.y.data(), many.y.data(), bytes), 0);
    EXPECT_EQ(std::memcmp(one.mean.data(), many.mean.data(), one.problem.rows * 4), 0);
    EXPECT_TRUE(many.Check().passed);
    }
  }
}

// Beyond the last-level cache, short rows keep ordinary stores unless the
// tuning asks for streaming (UnstreamedByDefault in highway_backend.cc):
// forward f32 rows of at most 1 KiB and 16-bit rows of at most 1792 bytes on
// any number of threads, going one row at a time (except LayerNorm's 16-bit
// rows of at most 128 columns, which keep their batches); backward f32 rows
// of at most 512 bytes and 16-bit rows of at most 1.5 KiB on one thread, and
// on two only 16-bit rows of at most 512 bytes. In cache nothing changes.
// Prepared only, never run (see below).
TEST(HighwayBackendTest, ShortRowsKeepOrdinaryStoresBeyondTheCache) {
  const uint64_t llc = LastLevelCacheBytes();
  struct Want {
    Norm norm;
    Direction dir;
    DType dtype;
    int64_t cols;
    bool stream;  // forward: on any number of threads; backward: on one thread
    bool single;  // row_path "single rows"
  };
  constexpr Norm kLn = Norm::kLayerNorm, kRms = Norm::kRmsNorm;
  constexpr Direction kFwd = Direction::kForward, kBwd = Direction::kBackward;
  const Want wants[] = {
      {kLn, kFwd, DType::kBF16, 128, false, false},  {kLn, kFwd, DType::kF16, 64, false, false},
      {kLn, kFwd, DType::kBF16, 136, false, true},   {kLn, kFwd, DType::kF16, 896, false, true},
      {kLn, kFwd, DType::kBF16, 1024, true, false},  {kLn, kFwd, DType::kF32, 128, false, true},
      {kLn, kFwd, DType::kF32, 256, false, true},    {kLn, kFwd, DType::kF32, 264, true, false},
      {kRms, kFwd, DType::kBF16, 128, false, true},  {kRms, kFwd, DType::kF32, 512, true, false},
      {kLn, kBwd, DType::kF32, 128, false, false},   {kLn, kBwd, DType::kF32, 256, true, false},
      {kRms, kBwd, DType::kBF16, 768, false, false}, {kRms, kBwd, DType::kBF16, 1024, true, false},
      {kLn, kBwd, DType::kBF16, 256, false, false},  {kRms, kBwd, DType::kF16, 264, false, false},
  };
  for (const Want& w : wants) {
    const auto row_bytes = static_cast<uint64_t>(w.cols * DTypeSize(w.dtype));
    for (const bool beyond : {false, true}) {
      const auto rows = static_cast<int64_t>(beyond ? llc / row_bytes + 1 : 64);
      Problem p = MakeProblem(rows, w.cols, w.dtype, Distribution::kNormal, true, true);
      p.norm = w.norm;
      p.dir = w.dir;
      // Every tensor the op reads, allocated and never touched.
      HostBuffer x(static_cast<size_t>(p.elements()) * DTypeSize(w.dtype));
      HostBuffer dy(static_cast<size_t>(p.elements()) * DTypeSize(w.dtype));
      HostBuffer params(static_cast<size_t>(w.cols) * 4), stats(static_cast<size_t>(rows) * 4);
      HostTensors in;
      in.set(TensorId::kX, x.data());
      in.set(TensorId::kGamma, params.data());
      in.set(TensorId::kBeta, params.data());
      if (w.dir == kBwd) {
        in.set(TensorId::kDy, dy.data());
        in.set(TensorId::kMean, stats.data());
        in.set(TensorId::kRstd, stats.data());
      }
      for (const int threads : {1, 2}) {
        const std::string what = std::string(NormName(w.norm)) + " " +
                                 std::string(DirectionName(w.dir)) + " " +
                                 std::string(DTypeName(w.dtype)) + " " + std::to_string(w.cols) +
                                 (beyond ? " beyond" : " in") + " the cache, " +
                                 std::to_string(threads) + " thread(s)";
        CaseOptions options;
        options.threads = threads;
        const auto details = Highway().Prepare(p, in, options)->Details();
        // The backward on two threads: only 16-bit rows of at most 512 bytes keep ordinary stores.
        const bool bwd_two = w.dir == kBwd && threads != 1;
        const bool stream =
            beyond && (bwd_two ? !(DTypeSize(w.dtype) == 2 && row_bytes <= 512) : w.stream);
        const bool single = beyond && w.single;
        EXPECT_EQ(details.at("streaming_stores"), stream ? "yes" : "no") << what;
        EXPECT_EQ(details.count("row_path") ? details.at("row_path") : "",
                  single ? "single rows" : "")
            << what;
        if (!beyond) continue;
        options.tuning["stream_min_bytes"] = "0";
        const auto asked = Highway().Prepare(p, in, options)->Details();
        EXPECT_EQ(asked.at("streaming_stores"), "yes") << what;
        EXPECT_EQ(asked.count("row_path"), 0u) << what;
      }
    }
  }
}

// An output larger than the last-level cache switches to streaming stores
// (through the backend, as the CLI runs it), and the streamed rows verify.
// The decision is checked at the threshold itself: an output of exactly the
// cache's size keeps ordinary stores, one more row streams. Those cases are
// only prepared, never run: their buffers are allocated, not touched (the
// cache a VM reports can be 320 MiB, and verifying that much bf16 took 22 s
// of CPU here, 48 s under ASan). The streamed kernel then runs and verifies
// with the threshold moved below its output by the tuning key, which sets the
// same variable: rows of 3001 bf16 start at every alignment.
TEST(HighwayBackendTest, OutputBeyondLastLevelCacheStreams) {
  const uint64_t llc = LastLevelCacheBytes();
  const int64_t cols = 3001;
  const auto rows_fit = static_cast<int64_t>(llc / (cols * 2));
  HostBuffer gamma(cols * 4), beta(cols * 4);
  for (const int64_t rows : {rows_fit, rows_fit + 1}) {
    const Problem p = MakeProblem(rows, cols, DType::kBF16, Distribution::kNormal, true, true);
    HostBuffer x(static_cast<size_t>(p.elements()) * 2);
    std::unique_ptr<PreparedCase> c =
        Highway().Prepare(p, {x.data(), gamma.data(), beta.data()}, CaseOptions{});
    const bool over = static_cast<uint64_t>(p.elements()) * 2 > llc;
    EXPECT_EQ(over, rows > rows_fit);
    EXPECT_EQ(c->Details().at("streaming_stores"), over ? "yes" : "no") << rows << " rows";
  }
  const Problem p = MakeProblem(67, cols, DType::kBF16, Distribution::kNormal, true, true);
  CaseRun run(p);
  CaseOptions options;
  options.tuning["stream_min_bytes"] = std::to_string(p.elements() * 2 - 1);
  std::unique_ptr<PreparedCase> c = Highway().Prepare(p, run.inputs, options);
  EXPECT_EQ(c->Details().at("streaming_stores"), "yes");
  c->Poison();
  c->Run();
  c->Download(run.outputs);
  const Accuracy acc = run.Check();
  EXPECT_TRUE(acc.passed) << acc.reason;
  EXPECT_EQ(acc[TensorId::kY]->unwritten, 0u);
  EXPECT_GT(c->TimeBatch(1, false), 0.0);
}

// RMSNorm honours the stream_min_bytes tuning key as LayerNorm does (the
// coverage cases of `verify` rely on it to reach its streaming paths).
TEST(HighwayBackendTest, RmsNormStreamsPerTuningKey) {
  const Problem p = MakeRmsProblem(9, 8192, DType::kBF16, Distribution::kNormal, true, true);
  for (const char* threshold : {"0", "100000000"}) {
    RmsCase run(p);
    CaseOptions options;
    options.tuning["stream_min_bytes"] = threshold;
    std::unique_ptr<PreparedCase> c = Highway().Prepare(p, run.inputs, options);
    EXPECT_EQ(c->Details().at("streaming_stores"), std::string(threshold) == "0" ? "yes" : "no");
    c->Poison();
    c->Run();
    c->Download(run.outputs);
    const Accuracy acc = run.Check();
    EXPECT_TRUE(acc.passed) << acc.reason;
  }
}

// Expects Prepare to refuse --tune key=value with a usage error that says `says`.
void ExpectTuningRefused(const Problem& p, const HostTensors& inputs, const std::string& key,
                         const std::string& value, const std::string& says) {
  CaseOptions bad;
  bad.tuning[key] = value;
  try {
    Highway().Prepare(p, inputs, bad);
    ADD_FAILURE() << key << "=" << value << " was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

// --tune groups16 picks the path of streamed 16-bit LayerNorm rows (chunked
// or interleaved groups), Details() says which, both verify with every
// element written, and any other value is a usage error. Without the key the
// choice follows the CPU (interleaved on AMD family 0x1A and later).
TEST(HighwayBackendTest, Groups16TuningKeyPicksThePathAndSaysSo) {
  const Problem p = MakeProblem(37, 4096, DType::kBF16, Distribution::kNormal, true, true);
  for (const char* path : {"chunked", "interleaved"}) {
    CaseRun run(p);
    CaseOptions options;
    options.tuning["stream_min_bytes"] = "0";
    options.tuning["groups16"] = path;
    std::unique_ptr<PreparedCase> c = Highway().Prepare(p, run.inputs, options);
    EXPECT_EQ(c->Details().at("groups16"), path);
    EXPECT_EQ(c->Details().at("streaming_stores"), "yes");
    c->Poison();
    c->Run();
    c->Download(run.outputs);
    const Accuracy acc = run.Check();
    EXPECT_TRUE(acc.passed) << path << ": " << acc.reason;
    EXPECT_EQ(acc[TensorId::kY]->unwritten, 0u) << path;
  }
  CaseRun run(p);
  const std::string by_default =
      Highway().Prepare(p, run.inputs, CaseOptions{})->Details().at("groups16");
  EXPECT_TRUE(by_default == "chunked" || by_default == "interleaved") << by_default;
  ExpectTuningRefused(p, run.inputs, "groups16", "rows",
                      "groups16 must be chunked or interleaved, not 'rows'");
  const Problem f32 = MakeProblem(5, 4096, DType::kF32, Distribution::kNormal, true, true);
  CaseRun run32(f32);
  EXPECT_EQ(Highway().Prepare(f32, run32.inputs, CaseOptions{})->Details().count("groups16"), 0u);
}

// --tune row_path picks how the forward goes over its rows: one at a time
// ("single", Details() says "single rows") or in the batches and groups the
// kernels choose ("grouped"). Both verify and give the same bits; any other
// value is a usage error. 64 rows of 128 (in cache: batches by default) and
// of 4096 (row groups), both norms.
TEST(HighwayBackendTest, RowPathTuningKeyPicksSingleRowsOrGroups) {
  for (const Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
    for (const int64_t cols : {128, 4096}) {
      Problem p = MakeProblem(64, cols, DType::kBF16, Distribution::kNormal, true, true);
      p.norm = norm;
      const std::string what = std::string(NormName(norm)) + " H = " + std::to_string(cols);
      std::vector<uint16_t> y[2];
      for (const int single : {0, 1}) {
        test_support::HostCase run(p);
        CaseOptions options;
        options.tuning["row_path"] = single ? "single" : "grouped";
        run.Execute(Highway(), options);
        EXPECT_EQ(run.details.count("row_path") ? run.details.at("row_path") : "",
                  single ? "single rows" : "")
            << what;
        const Accuracy acc = run.Check();
        EXPECT_TRUE(acc.passed) << what << ": " << acc.reason;
        const uint16_t* out = run.out<uint16_t>(TensorId::kY);
        y[single].assign(out, out + p.elements());
      }
      EXPECT_EQ(y[0], y[1]) << what << ": single rows and groups differ";
    }
  }
  const Problem p = MakeProblem(4, 128, DType::kF32, Distribution::kNormal, true, true);
  CaseRun run(p);
  ExpectTuningRefused(p, run.inputs, "row_path", "batched",
                      "row_path must be single or grouped, not 'batched'");
}

// --tune row_split picks how the forward splits its rows over threads: one
// contiguous share per thread ("static") or chunks claimed as threads finish
// ("balanced", the default; Details() says "balanced chunks" where there are
// two or more threads). Both verify and give the same bits, for both norms
// and directions and a row count that leaves a short last chunk (2001 rows
// of 512 bytes: grains of 128 rows); one thread never says it; any other
// value is a usage error.
TEST(HighwayBackendTest, RowSplitTuningKeyBalancesChunksWithTheSameBits) {
  EXPECT_EQ(BalancedGrainRows(512), 128);
  EXPECT_EQ(BalancedGrainRows(256), 256);
  EXPECT_EQ(BalancedGrainRows(128 * 1024), 8);  // whole groups of 8 rows
  EXPECT_EQ(BalancedGrainRows(3000), 24);       // 22 rows cover 64 KiB: rounded up to 8s
  for (const Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
    for (const DType dtype : {DType::kF32, DType::kBF16}) {
      Problem p = MakeProblem(2001, 128, dtype, Distribution::kNormal, true, true);
      p.norm = norm;
      const std::string what = std::string(NormName(norm)) + " " + std::string(DTypeName(dtype));
      std::vector<uint8_t> y[3];
      for (const int split : {0, 1, 2}) {  // static, balanced, default
        test_support::HostCase run(p);
        CaseOptions options;
        options.threads = 2;
        if (split < 2) options.tuning["row_split"] = split == 0 ? "static" : "balanced";
        run.Execute(Highway(), options);
        EXPECT_EQ(run.details.count("row_split") ? run.details.at("row_split") : "",
                  split == 0 ? "" : "balanced chunks")
            << what;
        const Accuracy acc = run.Check();
        EXPECT_TRUE(acc.passed) << what << ": " << acc.reason;
        const uint8_t* out = run.out<uint8_t>(TensorId::kY);
        y[split].assign(out, out + p.elements() * DTypeSize(dtype));
      }
      EXPECT_EQ(y[0], y[1]) << what << ": balanced and static splits differ";
      EXPECT_EQ(y[1], y[2]) << what;
    }
  }
  Problem one = MakeProblem(2001, 128, DType::kF32, Distribution::kNormal, true, false);
  test_support::HostCase single(one);
  CaseOptions o1;
  o1.threads = 1;
  single.Execute(Highway(), o1);
  EXPECT_EQ(single.details.count("row_split"), 0u) << "one thread has nothing to balance";
  // The backward: dx, dgamma and dbeta the same bits either way (2001 rows:
  // 32 blocks of 64 rows, chunks of whole blocks), with and without gamma.
  for (const Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
    for (const bool affine : {true, false}) {
      Problem bwd = MakeProblem(2001, 128, DType::kBF16, Distribution::kNormal, affine, false);
      bwd.norm = norm;
      bwd.dir = Direction::kBackward;
      const std::string what = std::string(NormName(norm)) + (affine ? " affine" : "");
      std::vector<uint8_t> out[2];
      for (const int balanced : {0, 1}) {
        test_support::HostCase back(bwd);
        CaseOptions o2;
        o2.threads = 2;
        o2.tuning["row_split"] = balanced ? "balanced" : "static";
        back.Execute(Highway(), o2);
        EXPECT_EQ(back.details.count("row_split"), static_cast<size_t>(balanced)) << what;
        const Accuracy acc = back.Check();
        EXPECT_TRUE(acc.passed) << what << ": " << acc.reason;
        for (const TensorId id : {TensorId::kDx, TensorId::kDgamma, TensorId::kDbeta}) {
          const uint8_t* o = back.out<uint8_t>(id);
          if (o == nullptr) continue;
          const size_t bytes = id == TensorId::kDx ? bwd.elements() * 2 : 128 * 4;
          out[balanced].insert(out[balanced].end(), o, o + bytes);
        }
      }
      EXPECT_GT(out[0].size(), 0u) << what;
      EXPECT_EQ(out[0], out[1]) << what << ": balanced and static splits differ";
    }
  }
  CaseRun run(one);
  ExpectTuningRefused(one, run.inputs, "row_split", "dynamic",
                      "row_split must be static or balanced, not 'dynamic'");
}

// Cache-sized outputs keep ordinary stores (the result stays in cache).
// A bf16 case's report says whether the CPU's AVX512_BF16 instructions do
// its conversions and sums: on the AVX-512 targets of a CPU that has them,
// for every op and direction; other dtypes do not mention it.
TEST(HighwayBackendTest, Bf16CasesSayWhetherTheCpuDoesBf16Natively) {
  __builtin_cpu_init();
  const bool cpu_bf16 = __builtin_cpu_supports("avx512bf16");
  for (const HighwayTarget& t : HighwayCompiledTargets()) {
    if (!t.supported) continue;
    const bool avx512 = t.bits == HWY_AVX3 || t.bits == HWY_AVX3_DL;
    EXPECT_EQ(HighwayNativeBF16(t.bits), avx512 && cpu_bf16) << t.name;
    for (Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
      for (Direction dir : {Direction::kForward, Direction::kBackward}) {
        for (DType dtype : {DType::kBF16, DType::kF32}) {
          Problem p = MakeProblem(4, 64, dtype, Distribution::kNormal, true, false);
          p.norm = norm;
          p.dir = dir;
          test_support::HostCase host(p, false);
          CaseOptions o;
          o.variant = t.name;
          std::unique_ptr<PreparedCase> c = Highway().Prepare(p, host.inputs, o);
          const auto details = c->Details();
          const auto it = details.find("native_bf16");
          if (dtype != DType::kBF16) {
            EXPECT_EQ(it, details.end()) << t.name;
            continue;
          }
          ASSERT_NE(it, details.end()) << t.name;
          EXPECT_EQ(it->second, avx512 && cpu_bf16 ? "yes (AVX512_BF16)" : "no") << t.name;
        }
      }
    }
  }
}

TEST(HighwayBackendTest, CacheSizedOutputUsesOrdinaryStores) {
  const Problem p = MakeProblem(64, 1024, DType::kF32, Distribution::kNormal, true, false);
  HostBuffer x(p.elements() * 4);
  std::unique_ptr<PreparedCase> c =
      Highway().Prepare(p, {x.data(), nullptr, nullptr}, CaseOptions{});
  EXPECT_EQ(c->Details().at("streaming_stores"), "no");
  EXPECT_FALSE(c->Details().at("hwy_target").empty());
}

}  // namespace
}  // namespace lnbench
