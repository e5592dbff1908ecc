// The CUDA kernels of layernorm_device.cuh run on the CPU (tests/cuda_emulation.h)
// and are checked against the float64 reference with the verifier's rule, for
// every emulated variant x dtype x distribution x edge shape, plus misaligned
// rows and pointers, constant rows and empty problems. Runs without a GPU;
// the same kernels compiled by nvcc run in cuda_backend_test on a GPU.
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
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/layernorm_device.cuh"
#include "backends/cuda/layernorm_plan.h"
#include "tests/support/host_case.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

namespace dev = layernorm_device;

ThreadPool& Pool() { return SharedThreadPool(0); }

int Log2(int power_of_two) {
  int log2 = 0;
  while ((1 << log2) < power_of_two) ++log2;
  return log2;
}

// Runs the plan's kernels as layernorm_kernels.cu launches them.
template <typename T, bool kVec>
void EmulateTyped(const LaunchPlan& plan, const dev::Params& p) {
  switch (plan.kind) {
    case KernelKind::kWarp:
      dev::EmulateLaunch(plan.grid, kWarpKernelThreads, dev::WarpRowKernel<T, kVec>, p,
                         Log2(plan.lanes_per_row));
      break;
    case KernelKind::kBlock:
      dev::EmulateLaunch(plan.grid, plan.threads, dev::RowBlockKernel<T, kVec, false>, p, 1,
                         static_cast<int>(plan.vecs_per_block));
      break;
    case KernelKind::kCluster:
      throw std::invalid_argument("clusters are not emulated");
    case KernelKind::kSplitRow:
      dev::EmulateLaunch(plan.grid, plan.threads, dev::SplitRowStatsKernel<T, kVec>, p,
                         plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      dev::EmulateLaunch(plan.grid, plan.threads, dev::SplitRowNormalizeKernel<T, kVec>, p,
                         plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      break;
  }
}

void Emulate(const LaunchPlan& plan, DType dtype, const dev::Params& p) {
  if (p.rows == 0) return;
  const bool v = plan.vectorized;
  switch (dtype) {
    case DType::kF32:
      v ? EmulateTyped<float, true>(plan, p) : EmulateTyped<float, false>(plan, p);
      break;
    case DType::kBF16:
      v ? EmulateTyped<dev::__nv_bfloat16, true>(plan, p)
        : EmulateTyped<dev::__nv_bfloat16, false>(plan, p);
      break;
    case DType::kF16:
      v ? EmulateTyped<dev::__half, true>(plan, p) : EmulateTyped<dev::__half, false>(plan, p);
      break;
  }
}

Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine,
                    bool stats) {
  Problem p;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  p.dist = dist;
  p.affine = affine;
  p.stats = stats;
  p.seed = 11;
  return p;
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
    Emulate(plan, problem.dtype, p);
    const HostTensors in = testing::LnIn(x.data(), problem.affine ? gamma.as<float>() : nullptr,
                                         problem.affine ? beta.as<float>() : nullptr);
    const HostTensors out = testing::LnOut(y_dev(), problem.stats ? mean.data() : nullptr,
                                           problem.stats ? rstd.data() : nullptr);
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
  const std::string key = fmt::format("{:<9} {:<5} {}", variant, DTypeName(p.dtype),
                                      DistributionName(p.dist));
  double& w = WorstRatios()[key];
  w = std::max({w, acc[TensorId::kY]->max_bound_ratio, acc[TensorId::kMean]->max_bound_ratio, acc[TensorId::kRstd]->max_bound_ratio});
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

std::string MatrixName(const ::testing::TestParamInfo<std::tuple<DType, Distribution>>& info) {
  return std::string(DTypeName(std::get<0>(info.param))) + "_" +
         std::string(DistributionName(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypesAndDistributions, EmulatedMatrixTest,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                       ::testing::Values(Distribution::kNormal, Distribution::kUniform,
                                         Distribution::kOffset1e4, Distribution::kOffset1e6,
                                         Distribution::kTinyVariance, Distribution::kConstant,
                                         Distribution::kOutliers, Distribution::kExact,
                                         Distribution::kSpecial)),
    MatrixName);

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

}  // namespace
}  // namespace lnbench
