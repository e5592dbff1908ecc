// The CUDA backward kernels of backward_device.cuh run on the CPU
// (tests/cuda_emulation.h) for every path (warp with sub-warp and full-warp
// rows, block with rows held in registers and rows read twice, 16-byte and
// element loads, dgamma trees of one to three levels) x dtype x affine on/off
// x norm, and are checked with the core's backward ops (test_support::HostCase:
// the op's input generators, its float64 reference and its bound, through
// CheckOutputs), as the runner checks any backend.
// The emulation comes first: the device headers are written against the
// CUDA names it defines.
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

#include "backends/cuda/backward_device.cuh"
#include "backends/cuda/backward_plan.h"
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

// Device-side pointers of one run (the emulation's "device" memory).
struct EmulatedArgs {
  dev::BackwardParams p{};
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  float* workspace = nullptr;
};

// Runs the plan's kernels as backward_kernels.cu launches them.
template <Norm kNorm, typename T, bool kVec>
void EmulateTyped(const BackwardPlan& plan, const EmulatedArgs& a) {
  auto buffer = [&](int where, int t) {
    return plan.TreeBuffer(where, t, a.workspace, a.dgamma, a.dbeta, a.p.cols);
  };
  if (a.p.rows > 0 && plan.grid > 0) {
    if (plan.fused) {
      const int dst = plan.levels.front().dst;
      if (plan.kind == KernelKind::kWarp) {
        dev::EmulateLaunch(plan.grid, plan.threads, dev::FusedWarpKernel<kNorm, T, kVec>, a.p,
                           dev::Log2(plan.lanes_per_row), plan.part_rows, plan.prefetch,
                           buffer(dst, 0), buffer(dst, 1));
      } else {
        dev::EmulateLaunch(plan.grid, plan.threads, dev::FusedBlockKernel<kNorm, T, kVec>, a.p,
                           plan.part_rows, plan.prefetch, buffer(dst, 0), buffer(dst, 1));
      }
    } else if (plan.kind == KernelKind::kWarp) {
      dev::EmulateLaunch(plan.grid, kWarpKernelThreads, dev::BackwardWarpKernel<kNorm, T, kVec>,
                         a.p, dev::Log2(plan.lanes_per_row));
    } else {
      dev::EmulateLaunch(plan.grid, plan.threads, dev::BackwardBlockKernel<kNorm, T, kVec>, a.p);
    }
  }
  const int tiles = static_cast<int>(plan.col_tiles);
  for (size_t i = plan.fused ? 1 : 0; i < plan.levels.size(); ++i) {
    const BackwardParamLevel& level = plan.levels[i];
    float* out_g = buffer(level.dst, 0);
    float* out_b = buffer(level.dst, 1);
    if (level.src < 0) {
      dev::EmulateLaunch(level.grid, plan.param_threads, dev::BackwardParamRowsKernel<kNorm, T>,
                         a.p, tiles, out_g, out_b);
    } else {
      dev::EmulateLaunch(level.grid, plan.param_threads, dev::BackwardParamSumKernel,
                         buffer(level.src, 0), buffer(level.src, 1), level.inputs, a.p.cols, tiles,
                         out_g, out_b);
    }
  }
}

template <Norm kNorm>
void EmulateNorm(const BackwardPlan& plan, DType dtype, const EmulatedArgs& a) {
  dev::ForStorage(dtype, plan.vectorized, [&]<typename T, bool kVec>() {
    EmulateTyped<kNorm, T, kVec>(plan, a);
  });
}

void Emulate(const BackwardPlan& plan, DType dtype, const EmulatedArgs& a, Norm norm) {
  if (norm == Norm::kRmsNorm) {
    EmulateNorm<Norm::kRmsNorm>(plan, dtype, a);
  } else {
    EmulateNorm<Norm::kLayerNorm>(plan, dtype, a);
  }
}


// Returns the backward problem (seed 11) of the shape, data and flags.
Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist, bool affine,
                    Norm norm) {
  Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 11, norm);
  p.dir = Direction::kBackward;
  return p;
}

// Returns the bytes a 16-byte aligned copy of `bytes` needs at `offset`.
template <typename V>
uint8_t* AlignedAt(V& v, size_t offset) {
  auto* p = reinterpret_cast<uint8_t*>(v.data());
  return p + (16 - reinterpret_cast<uintptr_t>(p) % 16) % 16 + offset;
}

// One backward problem: the core's tensors and reference (test_support::HostCase:
// the op's own input generators, its float64 reference and its bound), and
// "device" copies of the inputs placed `offset_elems` elements past a 16-byte
// boundary, the outputs and the tree's workspace.
struct BackwardEmulatedCase {
  explicit BackwardEmulatedCase(const Problem& p, int offset_elems = 0)
      : host(p), problem(p), esize(DTypeSize(p.dtype)), offset(offset_elems * esize) {
    const size_t bytes = static_cast<size_t>(p.elements()) * esize;
    const size_t room = bytes + offset + 16;
    dev_x.assign(room, 0);
    dev_dy.assign(room, 0);
    dev_dx.assign(room, 0);
    dev_gamma.assign(p.cols + 8, 0.f);
    dev_dgamma.assign(p.cols + 8, 0.f);
    dev_dbeta.assign(p.cols + 8, 0.f);
    dev_mean.assign(p.rows + 1, 0.f);
    dev_rstd.assign(p.rows + 1, 0.f);
    Upload();
  }
  // Copies the host inputs to the "device" (after a test changed them).
  void Upload() {
    const Problem& p = problem;
    const size_t bytes = static_cast<size_t>(p.elements()) * esize;
    if (bytes > 0) {
      std::memcpy(x(), host.in(TensorId::kX), bytes);
      std::memcpy(dy(), host.in(TensorId::kDy), bytes);
    }
    if (p.affine) std::memcpy(gamma(), host.in(TensorId::kGamma), p.cols * 4);
    if (p.norm == Norm::kLayerNorm && p.rows > 0)
      std::memcpy(dev_mean.data(), host.in(TensorId::kMean), p.rows * 4);
    if (p.rows > 0) std::memcpy(dev_rstd.data(), host.in(TensorId::kRstd), p.rows * 4);
  }
  uint8_t* x() { return AlignedAt(dev_x, offset); }
  uint8_t* dy() { return AlignedAt(dev_dy, offset); }
  uint8_t* dx() { return AlignedAt(dev_dx, offset); }
  float* gamma() { return reinterpret_cast<float*>(AlignedAt(dev_gamma, offset / esize * 4)); }

  BackwardQuery Query() {
    BackwardQuery q;
    q.shape.rows = problem.rows;
    q.shape.cols = problem.cols;
    q.shape.dtype = problem.dtype;
    q.shape.vector_ok = BackwardVectorLoadsAllowed(problem.dtype, problem.cols, x(), dy(), dx(),
                                                   problem.affine ? gamma() : nullptr);
    q.shape.cc_major = 8;
    q.affine = problem.affine;
    q.param_tensors = problem.norm == Norm::kRmsNorm ? 1 : 2;
    return q;
  }

  // Runs `plan` on poisoned outputs (`norm`: the kernels to run, the
  // problem's own unless a test runs the wrong ones) and copies the outputs
  // into the host case.
  void RunOnly(const BackwardPlan& plan, Norm norm) {
    const uint32_t poison = PoisonBits(problem.dtype);
    for (int64_t i = 0; i < problem.elements(); ++i) std::memcpy(dx() + i * esize, &poison, esize);
    std::fill(dev_dgamma.begin(), dev_dgamma.end(), BitsToFloat(kPoisonF32Bits));
    std::fill(dev_dbeta.begin(), dev_dbeta.end(), BitsToFloat(kPoisonF32Bits));
    workspace.assign(plan.WorkspaceBytes(problem.cols) / 4 + 1, BitsToFloat(kPoisonF32Bits));
    EmulatedArgs a;
    a.p.x = x();
    a.p.dy = dy();
    a.p.gamma = problem.affine ? gamma() : nullptr;
    a.p.mean = norm == Norm::kLayerNorm ? dev_mean.data() : nullptr;
    a.p.rstd = dev_rstd.data();
    a.p.dx = dx();
    a.p.rows = problem.rows;
    a.p.cols = problem.cols;
    a.dgamma = problem.affine ? dev_dgamma.data() : nullptr;
    a.dbeta = problem.affine && norm == Norm::kLayerNorm ? dev_dbeta.data() : nullptr;
    a.workspace = workspace.data();
    Emulate(plan, problem.dtype, a, norm);
    host.Reset();
    if (problem.elements() > 0)
      std::memcpy(host.out(TensorId::kDx), dx(), static_cast<size_t>(problem.elements()) * esize);
    if (problem.affine) {
      std::memcpy(host.out(TensorId::kDgamma), dev_dgamma.data(), problem.cols * 4);
      if (problem.norm == Norm::kLayerNorm)
        std::memcpy(host.out(TensorId::kDbeta), dev_dbeta.data(), problem.cols * 4);
    }
  }

  // Runs `plan` and returns the verifier's judgement.
  Accuracy Run(const BackwardPlan& plan) {
    RunOnly(plan, problem.norm);
    return host.Check();
  }

  test_support::HostCase host;
  Problem problem;
  size_t esize;
  size_t offset;
  std::vector<uint8_t> dev_x, dev_dy, dev_dx;
  std::vector<float> dev_gamma, dev_dgamma, dev_dbeta, dev_mean, dev_rstd, workspace;
};

// The largest bound ratio (dx, dgamma, dbeta) of passing runs per norm,
// variant, dtype and distribution; printed at exit as headroom = 1 / ratio
// (docs/cuda.md, "Backward").
std::map<std::string, double>& WorstRatios() {
  static std::map<std::string, double> worst;
  return worst;
}

void NoteRatio(const std::string& variant, const Problem& p, const Accuracy& acc) {
  if (!acc.passed) return;
  for (int i = 0; i < kTensorCount; ++i) {
    const std::optional<ErrorStats>& t = acc.tensors[i];
    if (!t.has_value() || t->checked == 0) continue;
    const std::string key =
        fmt::format("{:<9} {:<6} {:<5} {:<6} {}", NormName(p.norm), variant, DTypeName(p.dtype),
                    TensorName(static_cast<TensorId>(i)), DistributionName(p.dist));
    double& w = WorstRatios()[key];
    w = std::max(w, t->max_bound_ratio);
  }
}

class HeadroomPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [key, ratio] : WorstRatios())
      std::printf("headroom bwd %s %.3g\n", key.c_str(), ratio > 0 ? 1 / ratio : INFINITY);
  }
};
const auto* const kHeadroomPrinter = ::testing::AddGlobalTestEnvironment(new HeadroomPrinter);

// Runs every backward variant that accepts the case; returns how many ran.
int RunAllVariants(BackwardEmulatedCase& c, const std::string& label) {
  int ran = 0;
  const BackwardQuery q = c.Query();
  for (const char* variant : {"auto", "warp", "block"}) {
    const BackwardPlanResult r = PlanBackward(variant, q);
    if (!r.verdict.ok) continue;
    const int64_t misaligned_before = dev::emulated_misaligned_loads.load();
    const Accuracy acc = c.Run(r.plan);
    NoteRatio(r.plan.variant, c.problem, acc);
    ++ran;
    EXPECT_TRUE(acc.passed) << variant << " (" << r.plan.Describe() << ") on "
                            << c.problem.ShortName() << " " << label << ": " << acc.reason << " ["
                            << test_support::Numbers(acc) << "]";
    EXPECT_EQ(dev::emulated_misaligned_loads.load(), misaligned_before)
        << variant << " made misaligned 16-byte loads on " << c.problem.ShortName();
  }
  return ran;
}

struct Shape {
  int64_t rows, cols;
};

using MatrixParam = std::tuple<Norm, DType, Distribution>;
class BackwardEmulatedMatrixTest : public ::testing::TestWithParam<MatrixParam> {};

// Shapes reaching every path: sub-warp rows (H 1-63), full-warp rows held in
// registers (H <= 512) and read twice (warp at H > 512), block rows held and
// read twice (H > 8192 f32), element paths (odd H), dgamma trees of 1 level
// (<= 64 rows) and 2 levels (65-4096 rows); each with and without affine.
TEST_P(BackwardEmulatedMatrixTest, EveryVariantPassesTheVerifier) {
  const auto [norm, dtype, dist] = GetParam();
  const std::vector<Shape> shapes = {{0, 768},  {1, 1},    {5, 3},    {3, 257},
                                     {2, 512},  {4, 1023}, {70, 64},  {3, 1028},
                                     {2, 2041}, {130, 96}, {1, 9000}, {1, 20000}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    for (bool affine : {true, false}) {
      if (!affine && i % 3 != 0) continue;  // affine off: every third shape
      BackwardEmulatedCase c(
          MakeProblem(shapes[i].rows, shapes[i].cols, dtype, dist, affine, norm));
      const int ran = RunAllVariants(c, affine ? "affine" : "plain");
      EXPECT_EQ(ran, 3) << c.problem.ShortName();
    }
  }
}


INSTANTIATE_TEST_SUITE_P(
    AllNormsDtypesAndDistributions, BackwardEmulatedMatrixTest,
    ::testing::Combine(::testing::Values(Norm::kLayerNorm, Norm::kRmsNorm),
                       test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// Rows of extreme scale: x of 1e18-1e36 (eps 1e-5: rstd down to 1e-36) and
// of 2^-70 and 2^-100 (eps 0: rstd up to 2^100), odd rows off zero by 0.75
// of their spread, mean and rstd as the forward saves them. The kernels take
// dx as rstd * (g dy - mean(g dy) - xhat * mean(g dy xhat)), rstd once, and
// pass at every scale (the Highway backward's rstd^2 left f32 there:
// docs/highway.md); dgamma and dbeta sum dy * xhat and dy, of ordinary size.
// Widths reach the warp kernel's rows in registers (300) and read twice
// (1000), and the block kernel's (4096, and 9000 read twice).
TEST(BackwardEmulatedKernelTest, RowsOfExtremeScale) {
  for (const bool tiny : {false, true}) {
    for (const DType dtype : {DType::kF32, DType::kBF16}) {
      for (const int64_t cols : {int64_t{7}, int64_t{300}, int64_t{1000}, int64_t{4096}, int64_t{9000}}) {
        for (const Norm norm : {Norm::kLayerNorm, Norm::kRmsNorm}) {
          Problem p = MakeProblem(6, cols, dtype, Distribution::kNormal, true, norm);
          if (tiny) p.eps = 0;
          BackwardEmulatedCase c(p);
          uint32_t state = 4321;
          for (int64_t i = 0; i < p.elements(); ++i) {
            state = state * 1664525u + 1013904223u;
            const double u = static_cast<double>(state >> 8) / 16777216.0 - 0.5;
            const int64_t row = i / cols;
            const double scale = tiny ? std::ldexp(1.0, row < 3 ? -70 : -100)
                                      : (row < 2 ? 1e18 : row < 4 ? 1e24 : 1e36);
            StoreFromDouble(dtype, c.host.in(TensorId::kX), static_cast<size_t>(i),
                            (u + (row % 2 == 1 ? 0.75 : 0.0)) * scale);
          }
          ForwardStatistics(p, c.host.in(TensorId::kX), c.host.in<float>(TensorId::kMean),
                            c.host.in<float>(TensorId::kRstd), Pool());
          c.host.ref = ComputeReference(p, c.host.inputs, Pool());
          c.Upload();
          EXPECT_EQ(RunAllVariants(c, tiny ? "rows of 2^-70 and 2^-100, eps 0" : "rows of 1e18-1e36"), 3)
              << p.ShortName();
        }
      }
    }
  }
}

// A dgamma tree of three levels: rows -> 65 -> 2 -> 1 with the separate
// level-0 kernel (64 rows per part), rows -> 129 -> 3 -> 1 fused (32 rows per part).
TEST(BackwardEmulatedKernelTest, ThreeLevelTreeOverManyRows) {
  for (Norm norm : AllNorms())
    for (DType dtype : {DType::kF32, DType::kBF16})
      for (int part_rows : {kPartRowsUnfused, kPartRowsAuto}) {
        BackwardEmulatedCase c(MakeProblem(4097, 40, dtype, Distribution::kNormal, true, norm));
        BackwardQuery q = c.Query();
        q.part_rows = part_rows;
        const BackwardPlanResult r = PlanBackward("auto", q);
        ASSERT_TRUE(r.verdict.ok);
        ASSERT_EQ(r.plan.fused, part_rows == kPartRowsAuto);
        ASSERT_EQ(r.plan.levels.size(), 3u) << r.plan.Describe();
        EXPECT_EQ(r.plan.levels[1].inputs, r.plan.fused ? 129 : 65);
        EXPECT_EQ(r.plan.levels[2].inputs, r.plan.fused ? 3 : 2);
        const Accuracy acc = c.Run(r.plan);
        EXPECT_TRUE(acc.passed) << c.problem.ShortName() << ": " << acc.reason;
      }
}

// The fused kernels (and the separate level-0 kernel) add every row and
// column into dgamma and dbeta exactly once: on small integers (x and dy in
// [-3, 3], mean 0, rstd 1) every order of the sums is exact, so dgamma and
// dbeta must equal the integer sums bit for bit. Shapes: sub-warp rows (lanes
// 1-16), full warps, blocks of 64-512 threads, element paths; rows not a
// multiple of the part; parts of 1, 8 and 64 rows, auto and unfused.
TEST(BackwardEmulatedKernelTest, FusedPartialsAddEveryRowAndColumnOnce) {
  const std::vector<Shape> shapes = {{37, 1},   {70, 3},    {33, 8},   {130, 64}, {9, 300},
                                     {65, 512}, {17, 1028}, {20, 2041}, {3, 8192}};
  int fused_runs = 0;
  for (Norm norm : AllNorms())
    for (DType dtype : {DType::kF32, DType::kBF16})
      for (const Shape& shape : shapes) {
        BackwardEmulatedCase c(
            MakeProblem(shape.rows, shape.cols, dtype, Distribution::kNormal, true, norm));
        const int64_t n = shape.rows, h = shape.cols;
        std::vector<int64_t> want_g(h, 0), want_b(h, 0);
        for (int64_t r = 0; r < n; ++r) {
          c.dev_mean[r] = 0.f;
          c.dev_rstd[r] = 1.f;
          for (int64_t j = 0; j < h; ++j) {
            const int64_t xi = (r * 7 + j * 3) % 7 - 3, di = (r * 5 + j * 11 + 1) % 7 - 3;
            const float xf = static_cast<float>(xi), df = static_cast<float>(di);
            const size_t at = static_cast<size_t>(r * h + j);
            if (dtype == DType::kF32) {
              std::memcpy(c.x() + at * 4, &xf, 4);
              std::memcpy(c.dy() + at * 4, &df, 4);
            } else {
              const uint16_t xb = FloatToBF16(xf), db = FloatToBF16(df);
              std::memcpy(c.x() + at * 2, &xb, 2);
              std::memcpy(c.dy() + at * 2, &db, 2);
            }
            want_g[j] += xi * di;
            want_b[j] += di;
          }
        }
        for (const char* variant : {"warp", "block"})
          for (int part_rows : {kPartRowsAuto, kPartRowsUnfused, 1, 8, 64}) {
            BackwardQuery q = c.Query();
            q.part_rows = part_rows;
            const BackwardPlanResult r = PlanBackward(variant, q);
            ASSERT_TRUE(r.verdict.ok) << r.verdict.reason;
            fused_runs += r.plan.fused ? 1 : 0;
            c.RunOnly(r.plan, norm);
            for (int64_t j = 0; j < h; ++j) {
              ASSERT_EQ(c.dev_dgamma[j], static_cast<float>(want_g[j]))
                  << "col " << j << " " << r.plan.Describe() << " " << c.problem.ShortName();
              if (norm == Norm::kLayerNorm)
                ASSERT_EQ(c.dev_dbeta[j], static_cast<float>(want_b[j]))
                    << "col " << j << " " << r.plan.Describe() << " " << c.problem.ShortName();
            }
          }
      }
  EXPECT_GT(fused_runs, 100);
}

// Pointers one element past a 16-byte boundary: the element path, no
// misaligned 16-byte access, and a passing result.
TEST(BackwardEmulatedKernelTest, MisalignedPointersUseTheElementPath) {
  for (Norm norm : AllNorms())
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      for (int64_t cols : {64, 1024, 12288}) {
        BackwardEmulatedCase c(MakeProblem(3, cols, dtype, Distribution::kNormal, true, norm), 1);
        ASSERT_FALSE(c.Query().shape.vector_ok);
        EXPECT_EQ(RunAllVariants(c, "misaligned"), 3);
      }
}

// Runs give the same bits (fixed reduction orders and a tree shape that
// depends on N alone), fused or not. Unfused, the same for either dx kernel;
// fused, warp and block sum a part's rows in different orders, and both
// pass the verifier.
TEST(BackwardEmulatedKernelTest, RunsAreBitwiseReproducible) {
  for (Norm norm : AllNorms()) {
    BackwardEmulatedCase c(MakeProblem(200, 300, DType::kF32, Distribution::kOutliers, true, norm));
    for (int part_rows : {kPartRowsUnfused, kPartRowsAuto, 16}) {
      std::vector<float> first_dgamma;
      for (const char* variant : {"warp", "block"}) {
        BackwardQuery q = c.Query();
        q.part_rows = part_rows;
        const BackwardPlanResult r = PlanBackward(variant, q);
        ASSERT_TRUE(r.verdict.ok);
        EXPECT_EQ(r.plan.fused, part_rows != kPartRowsUnfused) << r.plan.Describe();
        c.RunOnly(r.plan, norm);
        const std::vector<uint8_t> dx(c.dx(), c.dx() + c.problem.elements() * 4);
        // Bits, not values: the vectors end in poison NaNs past the H floats.
        const std::vector<float> dgamma(c.dev_dgamma.begin(), c.dev_dgamma.begin() + 300);
        const Accuracy acc = c.Run(r.plan);
        EXPECT_TRUE(acc.passed) << r.plan.Describe() << ": " << acc.reason;
        EXPECT_EQ(std::memcmp(dx.data(), c.dx(), dx.size()), 0) << variant;
        EXPECT_EQ(std::memcmp(dgamma.data(), c.dev_dgamma.data(), 300 * 4), 0) << variant;
        if (part_rows != kPartRowsUnfused) continue;
        if (first_dgamma.empty()) {
          first_dgamma = dgamma;
        } else {
          EXPECT_EQ(std::memcmp(first_dgamma.data(), dgamma.data(), 300 * 4), 0)
              << "unfused dgamma differs between warp and block";
        }
      }
    }
  }
}

// The verifier fails wrong kernels: the LayerNorm kernels on RMSNorm
// problems (mean subtracted) and the RMSNorm kernels on LayerNorm problems
// (no mean term in dx), and unwritten elements of dx and dgamma.
TEST(BackwardEmulatedKernelTest, VerifierFailsWrongKernelsAndUnwrittenOutputs) {
  for (Norm norm : AllNorms()) {
    BackwardEmulatedCase c(MakeProblem(3, 3000, DType::kF32, Distribution::kOffset1e4, true, norm));
    for (const char* variant : {"warp", "block"}) {
      const BackwardPlanResult r = PlanBackward(variant, c.Query());
      ASSERT_TRUE(r.verdict.ok);
      const Norm other = norm == Norm::kLayerNorm ? Norm::kRmsNorm : Norm::kLayerNorm;
      if (norm == Norm::kRmsNorm) {
        // The LayerNorm kernels read a mean: give them the row means of x.
        for (int64_t row = 0; row < 3; ++row) {
          double s = 0;
          for (int64_t j = 0; j < 3000; ++j) s += LoadAsDouble(DType::kF32, c.x(), row * 3000 + j);
          c.dev_mean[row] = static_cast<float>(s / 3000);
        }
      }
      BackwardPlan wrong_plan = r.plan;
      if (!wrong_plan.levels.empty()) {
        // The other norm's tree reduces one tensor more (LayerNorm) or fewer.
        BackwardQuery q = c.Query();
        q.param_tensors = other == Norm::kRmsNorm ? 1 : 2;
        wrong_plan = PlanBackward(variant, q).plan;
      }
      c.RunOnly(wrong_plan, other);
      EXPECT_FALSE(c.host.Check().passed) << variant << " " << c.problem.ShortName();
      const Accuracy right = c.Run(r.plan);
      ASSERT_TRUE(right.passed) << right.reason;
      const uint32_t poison = kPoisonF32Bits;
      std::memcpy(static_cast<uint8_t*>(c.host.out(TensorId::kDx)) + 20, &poison, 4);
      std::memcpy(c.host.out<float>(TensorId::kDgamma) + 7, &poison, 4);
      const Accuracy unwritten = c.host.Check();
      EXPECT_FALSE(unwritten.passed);
      EXPECT_EQ(unwritten[TensorId::kDx]->unwritten, 1u);
      EXPECT_EQ(unwritten[TensorId::kDgamma]->unwritten, 1u);
    }
  }
}

// Zero rows: no dx kernel, and dgamma/dbeta are zeros (a sum over no rows).
TEST(BackwardEmulatedKernelTest, ZeroRowsGiveZeroParameterGradients) {
  for (Norm norm : AllNorms()) {
    BackwardEmulatedCase c(MakeProblem(0, 100, DType::kF32, Distribution::kNormal, true, norm));
    const BackwardPlanResult r = PlanBackward("auto", c.Query());
    ASSERT_TRUE(r.verdict.ok);
    ASSERT_EQ(r.plan.levels.size(), 1u);
    c.RunOnly(r.plan, norm);
    for (int64_t j = 0; j < 100; ++j) {
      EXPECT_EQ(FloatBits(c.dev_dgamma[j]), 0u) << j;
      if (norm == Norm::kLayerNorm) EXPECT_EQ(FloatBits(c.dev_dbeta[j]), 0u) << j;
    }
  }
}

}  // namespace
}  // namespace lnbench
