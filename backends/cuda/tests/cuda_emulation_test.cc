// The CUDA kernels of layernorm_device.cuh run on the CPU (tests/cuda_emulation.h)
// and are checked against the float64 reference with the verifier's rule, for
// every emulated variant x dtype x distribution x edge shape, plus misaligned
// rows and pointers, constant rows and empty problems; the RMSNorm kernels the
// same way against the core's RMSNorm op (its float64 reference and bound).
// Runs without a GPU; the same kernels compiled by nvcc run in
// cuda_backend_test on a GPU.
// The emulation comes first: layernorm_device.cuh (below) is written against
// the CUDA names it defines.
#include "backends/cuda/tests/cuda_emulation.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/layernorm_device.cuh"
#include "backends/cuda/layernorm_plan.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"
#include "tests/support/param_name.h"

namespace lnbench {
namespace {

namespace dev = layernorm_device;

ThreadPool& Pool() { return SharedThreadPool(0); }

// Runs the plan's kernels as layernorm_kernels.cu launches them.
template <Norm kNorm, typename T, bool kVec>
void EmulateTyped(const LaunchPlan& plan, const dev::Params& p) {
  switch (plan.kind) {
    case KernelKind::kWarp:
      dev::EmulateLaunch(plan.grid, kWarpKernelThreads, dev::WarpRowKernel<kNorm, T, kVec>, p,
                         dev::Log2(plan.lanes_per_row));
      break;
    case KernelKind::kBlock:
      dev::EmulateLaunch(plan.grid, plan.threads, dev::RowBlockKernel<kNorm, T, kVec, false>, p,
                         1, static_cast<int>(plan.vecs_per_block));
      break;
    case KernelKind::kCluster:
      throw std::invalid_argument("clusters are not emulated");
    case KernelKind::kSplitRow:
      dev::EmulateLaunch(plan.grid, plan.threads, dev::SplitRowStatsKernel<kNorm, T, kVec>, p,
                         plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      dev::EmulateLaunch(plan.grid, plan.threads, dev::SplitRowNormalizeKernel<kNorm, T, kVec>,
                         p, plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      break;
  }
}

template <Norm kNorm>
void EmulateNorm(const LaunchPlan& plan, DType dtype, const dev::Params& p) {
  dev::ForStorage(dtype, plan.vectorized, [&]<typename T, bool kVec>() {
    EmulateTyped<kNorm, T, kVec>(plan, p);
  });
}

void Emulate(const LaunchPlan& plan, DType dtype, const dev::Params& p, Norm norm) {
  if (p.rows == 0) return;
  if (norm == Norm::kRmsNorm) {
    EmulateNorm<Norm::kRmsNorm>(plan, dtype, p);
  } else {
    EmulateNorm<Norm::kLayerNorm>(plan, dtype, p);
  }
}

// Returns the problem (seed 11) of the shape, data and flags.
Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine,
                    bool stats, Norm norm = Norm::kLayerNorm) {
  return test_support::MakeProblem(rows, cols, dtype, dist, affine, stats, 11, norm);
}

// One problem: host inputs, reference, and "device" buffers (exact-size host
// vectors placed at `offset_elems` elements past a 16-byte boundary).
struct EmulatedCase {
  EmulatedCase(const Problem& p, int offset_elems = 0, int y_offset_elems = -1)
      : problem(p),
        esize(DTypeSize(p.dtype)),
        x(static_cast<size_t>(p.elements()) * esize),
        gamma(p.cols * 4),
        beta(p.cols * 4),
        offset(offset_elems * esize),
        y_offset(y_offset_elems < 0 ? offset : y_offset_elems * esize) {
    FillInput(p, x.data(), Pool());
    FillAffine(p, gamma.as<float>(), beta.as<float>());
    ref = ComputeReference(p, x.data(), p.affine ? gamma.as<float>() : nullptr,
                           p.affine ? beta.as<float>() : nullptr, Pool());
    dx.assign(x.bytes() + offset + 16, 0);
    dy.assign(x.bytes() + offset + 16, 0);
    dgamma.assign(p.cols + 4, 0.f);
    dbeta.assign(p.cols + 4, 0.f);
    std::memcpy(x_dev(), x.data(), x.bytes());
    std::memcpy(gamma_dev(), gamma.data(), gamma.bytes());
    std::memcpy(beta_dev(), beta.data(), beta.bytes());
  }
  // The vectors' storage is 16-byte aligned (operator new); rows start at `offset`.
  uint8_t* x_dev() { return Aligned(dx) + offset; }
  uint8_t* y_dev() { return Aligned(dy) + y_offset; }
  float* gamma_dev() { return reinterpret_cast<float*>(Aligned(dgamma)) + offset / esize; }
  float* beta_dev() { return reinterpret_cast<float*>(Aligned(dbeta)) + offset / esize; }
  template <typename V>
  static uint8_t* Aligned(V& v) {
    auto* p = reinterpret_cast<uint8_t*>(v.data());
    return p + (16 - reinterpret_cast<uintptr_t>(p) % 16) % 16;
  }

  // Runs `plan` and returns the verifier's judgement.
  Accuracy Run(const LaunchPlan& plan) {
    const uint32_t poison = PoisonBits(problem.dtype);
    for (int64_t i = 0; i < problem.elements(); ++i)
      std::memcpy(y_dev() + i * esize, &poison, esize);
    // At least one element: CheckOutputs reads a null mean as "not returned", even for 0 rows.
    mean.assign(std::max<int64_t>(problem.rows, 1), BitsToFloat(kPoisonF32Bits));
    rstd.assign(std::max<int64_t>(problem.rows, 1), BitsToFloat(kPoisonF32Bits));
    workspace.assign(plan.WorkspaceBytes(problem.rows) / 16 + 1, {});
    dev::Params p{};
    p.x = x_dev();
    p.gamma = problem.affine ? gamma_dev() : nullptr;
    p.beta = problem.affine ? beta_dev() : nullptr;
    p.y = y_dev();
    p.mean = problem.stats ? mean.data() : nullptr;
    p.rstd = problem.stats ? rstd.data() : nullptr;
    p.partials = workspace.data();
    p.rows = problem.rows;
    p.cols = problem.cols;
    p.eps = static_cast<float>(problem.eps);
    Emulate(plan, problem.dtype, p, Norm::kLayerNorm);
    const HostTensors in = test_support::LnIn(x.data(), problem.affine ? gamma.as<float>() : nullptr,
                                         problem.affine ? beta.as<float>() : nullptr);
    const HostTensors out = test_support::LnOut(y_dev(), problem.stats ? mean.data() : nullptr,
                                           problem.stats ? rstd.data() : nullptr);
    return CheckOutputs(problem, in, out, ref, Pool());
  }

  // Runs `plan` with the RMSNorm kernels (no beta, no mean) and returns the
  // verifier's judgement; `norm` = kLayerNorm runs the LayerNorm kernels on
  // the same buffers instead (a wrong kernel the verifier must fail).
  Accuracy RunRms(const LaunchPlan& plan, Norm norm = Norm::kRmsNorm) {
    const uint32_t poison = PoisonBits(problem.dtype);
    for (int64_t i = 0; i < problem.elements(); ++i)
      std::memcpy(y_dev() + i * esize, &poison, esize);
    rstd.assign(std::max<int64_t>(problem.rows, 1), BitsToFloat(kPoisonF32Bits));
    mean.assign(std::max<int64_t>(problem.rows, 1), BitsToFloat(kPoisonF32Bits));
    workspace.assign(plan.WorkspaceBytes(problem.rows) / 16 + 1, {});
    const bool layernorm = norm == Norm::kLayerNorm;
    dev::Params p{};
    p.x = x_dev();
    p.gamma = problem.affine ? gamma_dev() : nullptr;
    p.beta = problem.affine && layernorm ? beta_dev() : nullptr;
    p.y = y_dev();
    p.mean = problem.stats && layernorm ? mean.data() : nullptr;
    p.rstd = problem.stats ? rstd.data() : nullptr;
    p.partials = workspace.data();
    p.rows = problem.rows;
    p.cols = problem.cols;
    p.eps = static_cast<float>(problem.eps);
    Emulate(plan, problem.dtype, p, norm);
    return CheckRms();
  }

  // Returns the verifier's judgement of the RMSNorm outputs as they stand.
  Accuracy CheckRms() {
    const HostTensors in = test_support::LnIn(x.data(), problem.affine ? gamma.as<float>() : nullptr);
    HostTensors out;
    out.set(TensorId::kY, y_dev());
    if (problem.stats) out.set(TensorId::kRstd, rstd.data());
    return CheckOutputs(problem, in, out, ref, Pool());
  }

  PlanQuery Query() {
    PlanQuery q;
    q.rows = problem.rows;
    q.cols = problem.cols;
    q.dtype = problem.dtype;
    q.vector_ok = VectorLoadsAllowed(problem.dtype, problem.cols, x_dev(), y_dev(),
                                     problem.affine ? gamma_dev() : nullptr,
                                     problem.affine ? beta_dev() : nullptr);
    q.cc_major = 8;  // no clusters in the emulation
    return q;
  }

  Problem problem;
  size_t esize;
  HostBuffer x, gamma, beta;
  size_t offset, y_offset;
  Reference ref;
  std::vector<uint8_t> dx, dy;
  std::vector<float> dgamma, dbeta, mean, rstd;
  std::vector<dev::float4> workspace;
};

struct Shape {
  int64_t rows, cols;
};

// The largest bound ratio (y, mean, rstd) of passing runs per variant, dtype and
// distribution; printed at exit as headroom = 1 / ratio, the figure of
// docs/verification.md ("Headroom").
std::map<std::string, double>& WorstRatios() {
  static std::map<std::string, double> worst;
  return worst;
}

void NoteRatio(const std::string& variant, const Problem& p, const Accuracy& acc) {
  if (!acc.passed) return;
  const std::string name = p.norm == Norm::kRmsNorm ? "rms/" + variant : variant;
  const std::string key = fmt::format("{:<9} {:<5} {}", name, DTypeName(p.dtype),
                                      DistributionName(p.dist));
  double& w = WorstRatios()[key];
  // Every output the problem has (mean and rstd only with stats).
  for (const std::optional<ErrorStats>& t : acc.tensors)
    if (t.has_value()) w = std::max(w, t->max_bound_ratio);
}

class HeadroomPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [key, ratio] : WorstRatios())
      std::printf("headroom %s %.3g\n", key.c_str(), ratio > 0 ? 1 / ratio : INFINITY);
  }
};
const auto* const kHeadroomPrinter =
    ::testing::AddGlobalTestEnvironment(new HeadroomPrinter);

// Runs every emulated variant that accepts the case; returns how many ran.
int RunAllVariants(EmulatedCase& c, const std::string& label) {
  int ran = 0;
  const PlanQuery q = c.Query();
  for (const char* variant : {"auto", "warp", "block", "splitrow"}) {
    const PlanResult r = PlanLayerNorm(variant, q);
    if (!r.verdict.ok) continue;
    const int64_t misaligned_before = dev::emulated_misaligned_loads.load();
    const Accuracy acc = c.Run(r.plan);
    NoteRatio(r.plan.variant, c.problem, acc);
    ++ran;
    EXPECT_TRUE(acc.passed) << variant << " (" << r.plan.Describe() << ") on "
                            << c.problem.ShortName() << " " << label << ": " << acc.reason;
    EXPECT_EQ(dev::emulated_misaligned_loads.load(), misaligned_before)
        << variant << " made misaligned 16-byte loads on " << c.problem.ShortName();
  }
  return ran;
}

class EmulatedMatrixTest : public ::testing::TestWithParam<std::tuple<DType, Distribution>> {};

TEST_P(EmulatedMatrixTest, EveryVariantPassesTheVerifier) {
  const auto [dtype, dist] = GetParam();
  const std::vector<Shape> shapes = {{0, 768},  {1, 1},    {5, 3},     {3, 257},
                                     {2, 768},  {4, 1023}, {1, 1024},  {3, 1028},
                                     {2, 2041}, {2, 4096}, {1, 16385}, {1, 40000}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    const bool affine = i % 4 != 3;
    const bool stats = i % 2 == 0;
    EmulatedCase c(MakeProblem(shapes[i].rows, shapes[i].cols, dtype, dist, affine, stats));
    const int ran = RunAllVariants(c, affine ? (stats ? "affine+stats" : "affine") : "plain");
    EXPECT_GE(ran, 2) << c.problem.ShortName();
  }
}


INSTANTIATE_TEST_SUITE_P(
    AllDtypesAndDistributions, EmulatedMatrixTest,
    ::testing::Combine(test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// A large row through the split-row path (several chunks, a short last one).
TEST(EmulatedKernelTest, SplitRowHandlesLongRows) {
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (Distribution dist : {Distribution::kNormal, Distribution::kOffset1e6,
                              Distribution::kOutliers, Distribution::kConstant}) {
      EmulatedCase c(MakeProblem(2, 100003, dtype, dist, true, true));
      const PlanResult r = PlanLayerNorm("splitrow", c.Query());
      ASSERT_TRUE(r.verdict.ok);
      EXPECT_GE(r.plan.blocks_per_row, 6);
      const Accuracy acc = c.Run(r.plan);
      NoteRatio(r.plan.variant, c.problem, acc);
      EXPECT_TRUE(acc.passed) << c.problem.ShortName() << ": " << acc.reason;
    }
}

// Pointers one element past a 16-byte boundary: the planner must choose the
// element path (no misaligned 16-byte access) and the result must pass.
TEST(EmulatedKernelTest, MisalignedPointersUseTheElementPath) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t cols : {64, 1024, 4096, 20000}) {
      EmulatedCase c(MakeProblem(3, cols, dtype, Distribution::kNormal, true, true), 1);
      const PlanQuery q = c.Query();
      ASSERT_FALSE(q.vector_ok);
      EXPECT_GE(RunAllVariants(c, "misaligned"), 2);
    }
}

// The emulation catches what a GPU would fault on: a vectorized plan run on
// misaligned rows counts misaligned 16-byte loads.
TEST(EmulatedKernelTest, EmulationDetectsMisalignedVectorLoads) {
  // x misaligned, y aligned (a misaligned 16-byte store would fault this process).
  EmulatedCase c(MakeProblem(2, 64, DType::kF32, Distribution::kNormal, false, false), 1, 0);
  PlanQuery q = c.Query();
  q.vector_ok = true;  // lie: force 16-byte loads on a misaligned buffer
  const PlanResult r = PlanLayerNorm("warp", q);
  ASSERT_TRUE(r.verdict.ok);
  const int64_t before = dev::emulated_misaligned_loads.load();
  c.Run(r.plan);
  EXPECT_GT(dev::emulated_misaligned_loads.load(), before);
}

// The emulation itself: a barrier orders the whole block (a value written by
// another warp before __syncthreads is read after it), a shuffle exchanges
// lanes, blocks see their own index, the fibers keep their floating-point
// control state, and a thread that skips a barrier the others wait at is
// reported as a deadlock, not a hang.
TEST(EmulatedKernelTest, FibersBarriersShufflesAndDeadlocks) {
  std::vector<int> out(2 * 64, -1);
  std::vector<float> sums(2 * 64, 0.f);
  dev::EmulateLaunch(
      2, 64,
      [](int* o, float* f) {
        static int shared[64];
        const int t = static_cast<int>(dev::threadIdx.x);
        const int b = static_cast<int>(dev::blockIdx.x);
        shared[t] = t + 100 * b;
        dev::__syncthreads();
        const int other = shared[63 - t];
        dev::__syncthreads();  // nobody overwrites shared before all have read
        o[b * 64 + t] = dev::__shfl_xor_sync(0xffffffffu, other, 1);
        // A sum that rounds: the same result in every fiber (MXCSR kept).
        volatile float x = 1.0f + static_cast<float>(t) * 0x1p-24f;
        f[b * 64 + t] = x + 0x1p-24f;
      },
      out.data(), sums.data());
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 64; ++t) {
      EXPECT_EQ(out[b * 64 + t], 63 - (t ^ 1) + 100 * b) << "block " << b << " thread " << t;
      volatile float x = 1.0f + static_cast<float>(t) * 0x1p-24f;
      EXPECT_EQ(sums[b * 64 + t], x + 0x1p-24f) << "thread " << t;
    }
  }
  EXPECT_THROW(dev::EmulateLaunch(1, 32,
                                  [] {
                                    if (dev::threadIdx.x != 0) dev::__syncthreads();
                                  }),
               std::runtime_error);
  // The scheduler is usable again after a deadlock.
  std::vector<int> again(32, -1);
  dev::EmulateLaunch(
      1, 32,
      [](int* o) {
        const int t = static_cast<int>(dev::threadIdx.x);
        o[t] = dev::__shfl_sync(0xffffffffu, 7 * t, 3);
      },
      again.data());
  for (int t = 0; t < 32; ++t) EXPECT_EQ(again[t], 21);
}

// Constant rows: y is beta bit for bit and the mean is the row's value.
TEST(EmulatedKernelTest, ConstantRowsGiveExactlyBeta) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t cols : {1, 3, 768, 5000, 40000}) {
      EmulatedCase c(MakeProblem(3, cols, dtype, Distribution::kConstant, true, true));
      for (const char* variant : {"warp", "block", "splitrow"}) {
        const PlanResult r = PlanLayerNorm(variant, c.Query());
        if (!r.verdict.ok) continue;
        c.Run(r.plan);
        int64_t wrong = 0;
        for (int64_t row = 0; row < 3; ++row) {
          for (int64_t j = 0; j < cols; ++j)
            wrong += LoadAsDouble(dtype, c.y_dev(), row * cols + j) !=
                     RoundToDType(c.gamma_dev()[j] * 0.0 + c.beta_dev()[j], dtype);
          EXPECT_EQ(c.mean[row], static_cast<float>(LoadAsDouble(dtype, c.x.data(), row * cols)))
              << variant << " row " << row;
        }
        EXPECT_EQ(wrong, 0) << variant << " " << c.problem.ShortName();
      }
    }
}

// Runs of the same plan give the same bits (fixed reduction order).
TEST(EmulatedKernelTest, RunsAreBitwiseReproducible) {
  EmulatedCase c(MakeProblem(3, 3000, DType::kF32, Distribution::kOutliers, true, true));
  for (const char* variant : {"block", "splitrow"}) {
    const PlanResult r = PlanLayerNorm(variant, c.Query());
    ASSERT_TRUE(r.verdict.ok);
    c.Run(r.plan);
    const std::vector<uint8_t> first(c.y_dev(), c.y_dev() + c.x.bytes());
    c.Run(r.plan);
    EXPECT_EQ(std::memcmp(first.data(), c.y_dev(), first.size()), 0) << variant;
  }
}


// Rows far from magnitude 1, within the range docs/cuda.md states for these
// kernels (their statistics are f32 sums): spreads whose f32 sum of squared
// deviations reaches 1e36 (f32 overflows at 3.4e38), and, with eps = 0,
// rows whose squared deviations are about 2^-120, just above f32's
// subnormals (with eps = 1e-5 any smaller spread passes too: eps hides it).
// Beyond that range the kernels fail the verifier, as the emulation showed
// (docs/cuda.md); lnbench's CPU backends take such rows' statistics again
// in double.
TEST(EmulatedKernelTest, ExtremeMagnitudesWithinTheStatedRange) {
  struct Range {
    double eps, sum_sq;  // sum_sq: the rows' target sum of squared deviations (0: use sigma)
    double sigma;
  };
  for (const Range range : {Range{1e-5, 1e36, 0}, Range{0.0, 1e36, 0}, Range{0.0, 0, 0x1p-60},
                            Range{1e-5, 0, 0x1p-100}}) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      for (int64_t cols : {int64_t{300}, int64_t{4096}, int64_t{40000}}) {
        for (Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
          Problem p = MakeProblem(4, cols, dtype, Distribution::kNormal, true, true, norm);
          p.eps = range.eps;
          EmulatedCase c(p);
          // Uniform in [-0.5, 0.5) (variance 1/12), odd rows off zero by 0.75 sigma units.
          const double sigma = range.sigma > 0 ? range.sigma : std::sqrt(range.sum_sq * 12 / static_cast<double>(cols));
          uint32_t state = 12345;
          for (int64_t i = 0; i < p.elements(); ++i) {
            state = state * 1664525u + 1013904223u;
            const double u = static_cast<double>(state >> 8) / 16777216.0 - 0.5;
            StoreFromDouble(dtype, c.x.data(), static_cast<size_t>(i),
                            (u + ((i / cols) % 2 == 1 ? 0.75 : 0.0)) * sigma);
          }
          std::memcpy(c.x_dev(), c.x.data(), c.x.bytes());
          c.ref = ComputeReference(p, c.x.data(), c.gamma.as<float>(), c.beta.as<float>(), Pool());
          int ran = 0;
          for (const char* variant : {"warp", "block", "splitrow"}) {
            const PlanResult r = PlanLayerNorm(variant, c.Query());
            if (!r.verdict.ok) continue;
            const Accuracy acc = norm == Norm::kLayerNorm ? c.Run(r.plan) : c.RunRms(r.plan);
            ++ran;
            EXPECT_TRUE(acc.passed) << variant << " eps " << range.eps << " sigma " << sigma << " on "
                                    << p.ShortName() << ": " << acc.reason;
          }
          EXPECT_GT(ran, 0) << p.ShortName();
        }
      }
    }
  }
}

// ---- RMSNorm ----------------------------------------------------------------------

// Runs every emulated variant that accepts the RMSNorm case; returns how many ran.
int RunAllVariantsRms(EmulatedCase& c, const std::string& label) {
  int ran = 0;
  const PlanQuery q = c.Query();
  for (const char* variant : {"auto", "warp", "block", "splitrow"}) {
    const PlanResult r = PlanLayerNorm(variant, q);
    if (!r.verdict.ok) continue;
    const int64_t misaligned_before = dev::emulated_misaligned_loads.load();
    const Accuracy check = c.RunRms(r.plan);
    NoteRatio(r.plan.variant, c.problem, check);
    ++ran;
    EXPECT_TRUE(check.passed) << "rmsnorm " << variant << " (" << r.plan.Describe() << ") on "
                              << c.problem.ShortName() << " " << label << ": " << check.reason;
    EXPECT_EQ(dev::emulated_misaligned_loads.load(), misaligned_before)
        << variant << " made misaligned 16-byte loads on " << c.problem.ShortName();
  }
  return ran;
}

class RmsEmulatedMatrixTest
    : public ::testing::TestWithParam<std::tuple<DType, Distribution>> {};

// H from 1 to 2^16 + 1: sub-warp, warp, block and (without clusters) split-row
// rows, vector and element paths, each with and without gamma and rstd.
TEST_P(RmsEmulatedMatrixTest, EveryVariantPassesTheVerifier) {
  const auto [dtype, dist] = GetParam();
  const std::vector<Shape> shapes = {{0, 768},  {1, 1},     {5, 3},     {3, 257},  {2, 768},
                                     {4, 1023}, {1, 1024},  {3, 1028},  {2, 2041}, {2, 4096},
                                     {1, 16385}, {1, 40000}, {1, 65537}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    const bool affine = i % 4 != 3;
    const bool stats = i % 2 == 0;
    EmulatedCase c(MakeProblem(shapes[i].rows, shapes[i].cols, dtype, dist, affine, stats,
                               Norm::kRmsNorm));
    const int ran =
        RunAllVariantsRms(c, affine ? (stats ? "gamma+rstd" : "gamma") : (stats ? "rstd" : "plain"));
    EXPECT_GE(ran, 2) << c.problem.ShortName();
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypesAndDistributions, RmsEmulatedMatrixTest,
    ::testing::Combine(test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// Long rows through the split-row path: several chunks, a short last one.
TEST(RmsEmulatedKernelTest, SplitRowHandlesLongRows) {
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (Distribution dist : {Distribution::kNormal, Distribution::kOffset1e6,
                              Distribution::kOutliers, Distribution::kConstant}) {
      EmulatedCase c(MakeProblem(2, 100003, dtype, dist, true, true, Norm::kRmsNorm));
      const PlanResult r = PlanLayerNorm("splitrow", c.Query());
      ASSERT_TRUE(r.verdict.ok);
      EXPECT_GE(r.plan.blocks_per_row, 6);
      const Accuracy check = c.RunRms(r.plan);
      NoteRatio(r.plan.variant, c.problem, check);
      EXPECT_TRUE(check.passed) << c.problem.ShortName() << ": " << check.reason;
    }
}

// Pointers one element past a 16-byte boundary take the element path and pass.
TEST(RmsEmulatedKernelTest, MisalignedPointersUseTheElementPath) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t cols : {64, 1024, 4096, 20000}) {
      EmulatedCase c(
          MakeProblem(3, cols, dtype, Distribution::kNormal, true, true, Norm::kRmsNorm), 1);
      ASSERT_FALSE(c.Query().vector_ok);
      EXPECT_GE(RunAllVariantsRms(c, "misaligned"), 2);
    }
}

// The verifier can fail: the LayerNorm kernels (mean subtracted) on RMSNorm
// problems fail on every path, and so do unwritten elements.
TEST(RmsEmulatedKernelTest, VerifierFailsTheLayerNormKernelAndUnwrittenOutputs) {
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (Distribution dist : {Distribution::kNormal, Distribution::kOffset1e4}) {
      EmulatedCase c(MakeProblem(3, 3000, dtype, dist, false, true, Norm::kRmsNorm));
      for (const char* variant : {"block", "splitrow"}) {
        const PlanResult r = PlanLayerNorm(variant, c.Query());
        ASSERT_TRUE(r.verdict.ok);
        const Accuracy wrong = c.RunRms(r.plan, Norm::kLayerNorm);
        EXPECT_FALSE(wrong.passed) << variant << " " << c.problem.ShortName();
        const Accuracy right = c.RunRms(r.plan);
        ASSERT_TRUE(right.passed) << right.reason;
        const uint32_t poison = PoisonBits(dtype);
        std::memcpy(c.y_dev() + 5 * c.esize, &poison, c.esize);
        c.rstd[2] = BitsToFloat(kPoisonF32Bits);
        const Accuracy unwritten = c.CheckRms();
        EXPECT_FALSE(unwritten.passed);
        EXPECT_EQ(unwritten[TensorId::kY]->unwritten, 1u);
        EXPECT_EQ(unwritten[TensorId::kRstd]->unwritten, 1u);
      }
    }
}

// Rows with Inf give rrms = 0, y = 0 where x is finite and NaN where it is not;
// rows with NaN give NaN (what the reference says, checked here bit for bit).
TEST(RmsEmulatedKernelTest, NonFiniteRowsFollowIeee) {
  EmulatedCase c(MakeProblem(16, 1024, DType::kF32, Distribution::kSpecial, true, true,
                             Norm::kRmsNorm));
  const PlanResult r = PlanLayerNorm("warp", c.Query());
  ASSERT_TRUE(r.verdict.ok);
  ASSERT_TRUE(c.RunRms(r.plan).passed);
  int inf_rows = 0;
  for (int64_t row = 0; row < 16; ++row) {
    if (!IsSpecialRow(c.problem, row)) continue;
    bool has_nan = false;
    for (int64_t j = 0; j < 1024; ++j) has_nan |= std::isnan(LoadAsDouble(DType::kF32, c.x.data(), row * 1024 + j));
    if (has_nan) {
      EXPECT_TRUE(std::isnan(c.rstd[row])) << row;
      continue;
    }
    ++inf_rows;
    EXPECT_EQ(c.rstd[row], 0.f) << row;
    for (int64_t j = 0; j < 1024; ++j) {
      const double x = LoadAsDouble(DType::kF32, c.x.data(), row * 1024 + j);
      const double y = LoadAsDouble(DType::kF32, c.y_dev(), row * 1024 + j);
      if (std::isfinite(x)) {
        EXPECT_EQ(y, 0.0) << row << " " << j;
      } else {
        EXPECT_TRUE(std::isnan(y)) << row << " " << j;
      }
    }
  }
  EXPECT_GE(inf_rows, 1);
}

// Runs of the same plan give the same bits (fixed reduction order).
TEST(RmsEmulatedKernelTest, RunsAreBitwiseReproducible) {
  EmulatedCase c(
      MakeProblem(3, 3000, DType::kF32, Distribution::kOutliers, true, true, Norm::kRmsNorm));
  for (const char* variant : {"block", "splitrow"}) {
    const PlanResult r = PlanLayerNorm(variant, c.Query());
    ASSERT_TRUE(r.verdict.ok);
    c.RunRms(r.plan);
    const std::vector<uint8_t> first(c.y_dev(), c.y_dev() + c.x.bytes());
    const std::vector<float> first_rstd = c.rstd;
    c.RunRms(r.plan);
    EXPECT_EQ(std::memcmp(first.data(), c.y_dev(), first.size()), 0) << variant;
    EXPECT_EQ(first_rstd, c.rstd) << variant;
  }
}

// Many short rows: the warp kernel's later blocks (256 / lanes rows per block,
// sub-warp lanes), the block kernel's many blocks. Every other test has at
// most 16 rows, so a block of the warp kernel past the first was run only with
// 32 lanes per row.
TEST(EmulatedKernelTest, ManyRowsReachLaterBlocks) {
  for (Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm})
    for (DType dtype : {DType::kF32, DType::kBF16})
      for (int64_t cols : {3, 24, 200}) {
        EmulatedCase c(MakeProblem(300, cols, dtype, Distribution::kNormal, true, true, norm));
        const int ran = norm == Norm::kLayerNorm ? RunAllVariants(c, "300 rows")
                                                 : RunAllVariantsRms(c, "300 rows");
        EXPECT_GE(ran, 2) << c.problem.ShortName();
      }
}

}  // namespace
}  // namespace lnbench
