// Kernels with the bugs LayerNorm kernels really have, each a few lines of
// CPU code run through the same verification as every backend: verification
// must catch each of them, and must pass a correct f32 kernel on every
// distribution, dtype and awkward shape. Each test says which distribution
// or output catches the bug.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/generators.h"
#include "core/metrics.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

const DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

// What a kernel does; the defaults give the correct kernel.
struct Kernel {
  bool shift = true;                   // subtract the row's first element before summing
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
};

float Load(DType dtype, const void* x, int64_t i) {
  return static_cast<float>(LoadAsDouble(dtype, x, i));
}

void Store(DType dtype, void* y, int64_t i, float v) {
  switch (dtype) {
    case DType::kF32:
      static_cast<float*>(y)[i] = v;
      break;
    case DType::kBF16:
      static_cast<uint16_t*>(y)[i] = FloatToBF16(v);
      break;
    case DType::kF16:
      static_cast<uint16_t*>(y)[i] = FloatToF16(v);
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

// Runs `k` on the problem: f32 arithmetic, outputs rounded once to the dtype.
void Run(const Kernel& k, const Problem& p, const HostInputs& in, const HostOutputs& out) {
  const int64_t h = p.cols;
  const int64_t covered = k.vector_width > 1 ? h / k.vector_width * k.vector_width : h;
  const int64_t summed = k.tail_missing_in_stats ? covered : h;
  const int64_t written = k.tail_missing_in_y ? covered : h;
  std::vector<float> t(static_cast<size_t>(h));
  for (int64_t r = 0; r < p.rows - k.rows_skipped_at_end; ++r) {
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
    } else if (k.one_pass_variance) {
      for (int64_t i = 0; i < summed; ++i) t[i] = t[i] * t[i];
      var = sum(t.data(), summed) * inv_n - mr * mr;
    } else {
      for (int64_t i = 0; i < summed; ++i) {
        const float d = (Load(p.dtype, in.x, base + i) - shift) - mr;
        t[i] = d * d;
      }
      var = sum(t.data(), summed) * inv_n;
    }
    const float eps = static_cast<float>(p.eps);
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
    for (int64_t i = 0; i < written; ++i) {
      float v = ((Load(p.dtype, in.x, base + i) - shift) - mr) * rstd;
      if (p.affine) {
        const int64_t gi = k.gamma_by_row ? r % h : i;
        const float g = k.swap_gamma_beta ? in.beta[i] : in.gamma[gi];
        const float b = k.swap_gamma_beta ? in.gamma[i] : in.beta[i];
        v = v * g + b;
      }
      Store(p.dtype, out.y, base + i, v);
    }
    if (p.stats) {
      out.mean[r] = shift + mr;
      out.rstd[r] = rstd;
    }
  }
}

// The seed of every problem here (the sweep below can change it).
uint64_t g_seed = 2024;

// Generates the problem, runs the kernel on poisoned outputs, checks them.
Accuracy Verify(const Kernel& k, int64_t rows, int64_t cols, DType dtype, Distribution dist,
                bool affine = true, bool stats = true) {
  Problem p;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  p.dist = dist;
  p.affine = affine;
  p.stats = stats;
  p.seed = g_seed;
  ThreadPool& pool = SharedThreadPool(2);
  std::vector<uint8_t> x(static_cast<size_t>(p.elements()) * DTypeSize(dtype));
  std::vector<float> gamma(cols), beta(cols);
  FillInput(p, x.data(), pool);
  FillAffine(p, gamma.data(), beta.data());
  const HostInputs in{x.data(), affine ? gamma.data() : nullptr, affine ? beta.data() : nullptr};
  const Reference ref = ComputeReference(p, x.data(), in.gamma, in.beta, pool);
  // Poisoned, as the runner does before every checked run.
  std::vector<uint8_t> y(x.size());
  std::vector<float> mean(rows, BitsToFloat(kPoisonF32Bits)),
      rstd(rows, BitsToFloat(kPoisonF32Bits));
  for (int64_t i = 0; i < p.elements(); ++i) {
    const uint32_t bits = PoisonBits(dtype);
    std::memcpy(y.data() + i * DTypeSize(dtype), &bits, DTypeSize(dtype));
  }
  const HostOutputs out{y.data(), stats ? mean.data() : nullptr, stats ? rstd.data() : nullptr};
  Run(k, p, in, out);
  return CheckOutputs(p, in, out, ref, pool);
}

TEST(BrokenKernelsTest, CorrectF32KernelPassesEveryDistributionDTypeAndShape) {
  // benchdnn's awkward shapes plus a single column and a wide row.
  const std::pair<int64_t, int64_t> shapes[] = {{15, 3},   {30, 300}, {257, 768},
                                                {4, 4097}, {5, 1},    {2, 65536}};
  for (DType dtype : kDTypes) {
    double worst = 0;
    for (Distribution dist : AllDistributions()) {
      for (auto [rows, cols] : shapes) {
        for (bool affine : {true, false}) {
          const Accuracy a = Verify(Kernel{}, rows, cols, dtype, dist, affine, true);
          EXPECT_TRUE(a.passed) << rows << "x" << cols << " " << DTypeName(dtype) << " "
                                << DistributionName(dist) << " affine " << affine << ": "
                                << a.reason;
          worst = std::max(
              {worst, a.y.max_bound_ratio, a.mean.max_bound_ratio, a.rstd.max_bound_ratio});
        }
      }
    }
    std::printf("correct f32 kernel, %s outputs: largest bound ratio %.3f\n",
                DTypeName(dtype).data(), worst);
  }
}

TEST(BrokenKernelsTest, MissedLoopTailIsCaughtOnlyWhenHIsNotAMultipleOfTheWidth) {
  Kernel unwritten;
  unwritten.vector_width = 16;
  unwritten.tail_missing_in_y = true;
  // 300 = 18*16 + 12: 12 elements per row never written (poison).
  Accuracy a = Verify(unwritten, 30, 300, DType::kF32, Distribution::kNormal);
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a.y.unwritten, 30u * 12u);
  EXPECT_NE(a.reason.find("unwritten (first at row 0 col 288)"), std::string::npos) << a.reason;
  // At H = 768 there is no tail: the bug hides. Awkward shapes are what find it.
  EXPECT_TRUE(Verify(unwritten, 30, 768, DType::kF32, Distribution::kNormal).passed);

  Kernel unsummed;
  unsummed.vector_width = 16;
  unsummed.tail_missing_in_stats = true;
  for (DType dtype : kDTypes) {
    a = Verify(unsummed, 30, 300, dtype, Distribution::kNormal);
    EXPECT_FALSE(a.passed) << DTypeName(dtype);
    EXPECT_GT(a.y.failed, 0u);
    EXPECT_EQ(a.y.unwritten, 0u);
    EXPECT_GT(a.mean.failed + a.rstd.failed, 0u);
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
    EXPECT_GT(a.y.max_bound_ratio + a.y.nan_mismatch, 100) << DistributionName(dist);
    EXPECT_GT(a.rstd.failed, 0u) << DistributionName(dist);
  }
  // On f16 offset rows too (|mean| / stddev = 300 there).
  EXPECT_FALSE(Verify(k, 16, 768, DType::kF16, Distribution::kOffset1e4).passed);
  // Normal data hides it: why offset distributions exist.
  const Accuracy normal = Verify(k, 16, 768, DType::kF32, Distribution::kNormal);
  std::printf("one-pass variance on normal data: %s (bound ratio %.2f)\n",
              normal.passed ? "passes" : "fails", normal.y.max_bound_ratio);
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
    EXPECT_GT(c.rstd.failed, 0u) << static_cast<int>(eps);
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
  EXPECT_GT(z.y.nan_mismatch, 0u);
}

TEST(BrokenKernelsTest, SkippedRowIsCaughtAsUnwritten) {
  Kernel k;
  k.rows_skipped_at_end = 1;
  for (DType dtype : kDTypes) {
    const Accuracy a = Verify(k, 257, 768, dtype, Distribution::kNormal);
    EXPECT_FALSE(a.passed);
    EXPECT_EQ(a.y.unwritten, 768u);
    EXPECT_EQ(a.mean.unwritten, 1u);
    EXPECT_EQ(a.rstd.unwritten, 1u);
    EXPECT_NE(a.reason.find("first at row 256 col 0"), std::string::npos) << a.reason;
  }
  // Also when the skipped row should be all NaN (row 17 of a special problem
  // holds a NaN): poison is not mistaken for a computed NaN.
  Problem p;
  p.dist = Distribution::kSpecial;
  ASSERT_TRUE(IsSpecialRow(p, 17));
  const Accuracy s = Verify(k, 18, 40, DType::kF32, Distribution::kSpecial);
  EXPECT_FALSE(s.passed);
  EXPECT_EQ(s.y.unwritten, 40u);
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
  // output most elements still round right, but where gamma * n and beta
  // nearly cancel the output ulp is small and the absolute error 2^-12 |beta|
  // shows: caught there too.
  Kernel rsqrt;
  rsqrt.rsqrt_rel_error = 0x1p-12;
  const Accuracy a = Verify(rsqrt, 16, 768, DType::kF32, Distribution::kNormal);
  EXPECT_FALSE(a.passed);
  EXPECT_GT(a.rstd.failed, 0u);
  const Accuracy b = Verify(rsqrt, 16, 768, DType::kBF16, Distribution::kNormal, true, false);
  EXPECT_FALSE(b.passed);
  EXPECT_LT(b.y.failed, b.y.checked / 20);  // a few elements, not most
}

TEST(BrokenKernelsTest, UnshiftedF32MeanFailsLargeOffsetRows) {
  // A kernel that sums raw values in f32 carries an error of about
  // eps_f32 * |mean| into every x - mean: with |mean| / stddev = 1e6 that is
  // 0.1 in normalized units. Shifting by one element of the row removes it.
  Kernel plain;
  plain.shift = false;
  const Accuracy a = Verify(plain, 16, 768, DType::kF32, Distribution::kOffset1e6);
  EXPECT_FALSE(a.passed);
  EXPECT_GT(a.y.max_bound_ratio, 1000);
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
  std::vector<Style> styles(6);
  styles[0] = {"shifted pairwise", Kernel{}, true};
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
              a.y.nan_mismatch + a.mean.nan_mismatch + a.rstd.nan_mismatch > 0
                  ? INFINITY
                  : std::max({a.y.max_bound_ratio, a.mean.max_bound_ratio, a.rstd.max_bound_ratio});
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

}  // namespace
}  // namespace lnbench
