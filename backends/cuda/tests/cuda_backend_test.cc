// The CUDA backend on a GPU: every variant x dtype x distribution x edge
// shape checked against the float64 reference with the verifier's own rule
// (CheckOutputs), plus poison, timing, misaligned pointers, memory refusal,
// the copy ceiling and device facts; RMSNorm the same way against the core's
// RMSNorm op (tests/support/host_case.h); the backward of both norms against
// the core's backward ops. Every test skips without a device.
//
// LNBENCH_CUDA_TEST_QUICK=1 keeps only rows up to 20000 columns (for
// compute-sanitizer, which runs kernels 10-100x slower).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "app/registry.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cuda/layernorm_kernels.h"
#include "backends/cuda/layernorm_plan.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"
#include "tests/support/param_name.h"

namespace lnbench {
namespace {

#define LNBENCH_SKIP_WITHOUT_GPU()                         \
  do {                                                     \
    const Verdict lnbench_v_ = CudaAvailable();            \
    if (!lnbench_v_.ok) GTEST_SKIP() << lnbench_v_.reason; \
  } while (0)

ThreadPool& Pool() { return SharedThreadPool(0); }

Backend& Cuda() {
  Backend* b = FindBackend("cuda");
  if (b == nullptr) throw RuntimeError("cuda backend not registered");
  return *b;
}

bool QuickMode() {
  const char* q = std::getenv("LNBENCH_CUDA_TEST_QUICK");
  return q != nullptr && std::string(q) != "0";
}

// One problem on the host: inputs from the generators, the reference, and
// output buffers that Reset() fills with poison before every download.
struct HostCase {
  explicit HostCase(const Problem& p)
      : problem(p),
        x(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype)),
        gamma(p.cols * sizeof(float)),
        beta(p.cols * sizeof(float)),
        y(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype)),
        // At least one element: CheckOutputs reads a null mean as "not returned", even for 0 rows.
        mean(std::max<int64_t>(p.rows, 1) * sizeof(float)),
        rstd(std::max<int64_t>(p.rows, 1) * sizeof(float)) {
    FillInput(p, x.data(), Pool());
    FillAffine(p, gamma.as<float>(), beta.as<float>());
    ref = ComputeReference(p, x.data(), p.affine ? gamma.as<float>() : nullptr,
                           p.affine ? beta.as<float>() : nullptr, Pool());
  }
  HostTensors inputs() const {
    return test_support::LnIn(x.data(), problem.affine ? gamma.as<float>() : nullptr,
                         problem.affine ? beta.as<float>() : nullptr);
  }
  HostTensors outputs() {
    return test_support::LnOut(y.data(), problem.stats ? mean.as<float>() : nullptr,
                          problem.stats ? rstd.as<float>() : nullptr);
  }
  // Fills the host outputs with poison, so a download that skips an element
  // shows as unwritten rather than as a stale value from an earlier run.
  void Reset() {
    const int64_t n = problem.elements();
    if (problem.dtype == DType::kF32) {
      for (int64_t i = 0; i < n; ++i) y.as<uint32_t>()[i] = kPoisonF32Bits;
    } else {
      const uint16_t bits = static_cast<uint16_t>(PoisonBits(problem.dtype));
      for (int64_t i = 0; i < n; ++i) y.as<uint16_t>()[i] = bits;
    }
    for (int64_t r = 0; r < problem.rows; ++r) {
      mean.as<uint32_t>()[r] = kPoisonF32Bits;
      rstd.as<uint32_t>()[r] = kPoisonF32Bits;
    }
  }
  Accuracy Check() { return CheckOutputs(problem, inputs(), outputs(), ref, Pool()); }

  Problem problem;
  HostBuffer x, gamma, beta;
  Reference ref;
  HostBuffer y, mean, rstd;
};

// Prepares `variant`, poisons, runs once, downloads and checks; returns the
// accuracy and sets *resolved to the variant that ran.
Accuracy RunVariant(HostCase& c, const std::string& variant, std::string* resolved) {
  CaseOptions options;
  options.variant = variant;
  std::unique_ptr<PreparedCase> prepared = Cuda().Prepare(c.problem, c.inputs(), options);
  *resolved = prepared->ResolvedVariant();
  prepared->Poison();
  prepared->Run();
  c.Reset();
  prepared->Download(c.outputs());
  return c.Check();
}

using test_support::MakeProblem;

struct Shape {
  int64_t rows, cols;
};

// Edge shapes: empty, one element, odd and misaligned rows (H % 8 != 0), the
// boundaries between the dispatcher's kernels, and the large-H path.
std::vector<Shape> MatrixShapes() {
  std::vector<Shape> shapes = {{0, 768},  {1, 1},    {1, 3},    {5, 3},    {3, 257},
                               {2, 768},  {4, 1023}, {1, 1024}, {3, 1028}, {2, 2041},
                               {2, 4096}, {2, 20000}};  // 20000: a cluster of 4 on sm_90
  if (!QuickMode()) {
    const std::vector<Shape> big = {{1, 16385},  {2, 32771},  {1, 65536},
                                    {1, 131072}, {2, 131071}, {1, int64_t{1} << 20}};
    shapes.insert(shapes.end(), big.begin(), big.end());
  }
  return shapes;
}

class CudaMatrixTest : public ::testing::TestWithParam<std::tuple<DType, Distribution>> {};

// For each shape (with the affine and stats flags varied across shapes),
// every variant that accepts the problem must pass the verifier; "auto" must
// resolve to the dispatcher's choice.
TEST_P(CudaMatrixTest, EveryVariantPassesTheVerifier) {
  LNBENCH_SKIP_WITHOUT_GPU();
  const auto [dtype, dist] = GetParam();
  const std::vector<Shape> shapes = MatrixShapes();
  for (size_t i = 0; i < shapes.size(); ++i) {
    const bool affine = i % 4 != 3;
    const bool stats = i % 2 == 0 || shapes[i].cols >= 65536;
    HostCase c(MakeProblem(shapes[i].rows, shapes[i].cols, dtype, dist, affine, stats));
    int ran = 0;
    for (const VariantInfo& v : Cuda().Variants()) {
      CaseOptions options;
      options.variant = v.name;
      if (!Cuda().Supports(c.problem, options).ok) continue;
      std::string resolved;
      const Accuracy acc = RunVariant(c, v.name, &resolved);
      ++ran;
      EXPECT_TRUE(acc.passed) << v.name << " (" << resolved << ") on " << c.problem.ShortName()
                              << " affine=" << affine << " stats=" << stats << ": " << acc.reason;
      if (v.name == "auto") {
        EXPECT_NE(resolved, "auto");
      } else {
        EXPECT_EQ(resolved, v.name);
      }
    }
    // auto plus at least one concrete variant accepts every shape.
    EXPECT_GE(ran, 2) << c.problem.ShortName();
  }
}


INSTANTIATE_TEST_SUITE_P(
    AllDtypesAndDistributions, CudaMatrixTest,
    ::testing::Combine(test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// Constant rows normalize to exactly 0, so y is beta bit for bit, and the
// mean is the row's value exactly.
TEST(CudaBackendTest, ConstantRowsGiveExactlyBeta) {
  LNBENCH_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (int64_t cols : {3, 768, 4096, 65536, 100003}) {
      HostCase c(MakeProblem(3, cols, dtype, Distribution::kConstant, true, true));
      for (const VariantInfo& v : Cuda().Variants()) {
        CaseOptions options;
        options.variant = v.name;
        if (!Cuda().Supports(c.problem, options).ok) continue;
        std::string resolved;
        RunVariant(c, v.name, &resolved);
        int64_t wrong = 0;
        for (int64_t r = 0; r < c.problem.rows; ++r) {
          for (int64_t j = 0; j < cols; ++j) {
            const double want = RoundToDType(c.beta.as<float>()[j], dtype);
            if (LoadAsDouble(dtype, c.y.data(), r * cols + j) != want) ++wrong;
          }
          EXPECT_EQ(c.mean.as<float>()[r],
                    static_cast<float>(LoadAsDouble(dtype, c.x.data(), r * cols)))
              << resolved << " row " << r;
        }
        EXPECT_EQ(wrong, 0) << resolved << " " << c.problem.ShortName();
      }
    }
}

// Two runs give the same bits (fixed reduction orders, no atomics).
TEST(CudaBackendTest, RunsAreBitwiseReproducible) {
  LNBENCH_SKIP_WITHOUT_GPU();
  HostCase c(MakeProblem(4, 131072, DType::kF32, Distribution::kNormal, true, true));
  for (const char* variant : {"auto", "splitrow", "block"}) {
    CaseOptions options;
    options.variant = variant;
    if (!Cuda().Supports(c.problem, options).ok) continue;
    auto prepared = Cuda().Prepare(c.problem, c.inputs(), options);
    prepared->Run();
    prepared->Download(c.outputs());
    const std::vector<uint8_t> first(c.y.as<uint8_t>(), c.y.as<uint8_t>() + c.y.bytes());
    prepared->Poison();
    prepared->Run();
    prepared->Download(c.outputs());
    EXPECT_EQ(std::memcmp(first.data(), c.y.data(), first.size()), 0) << variant;
  }
}

TEST(CudaBackendTest, PoisonFillsEveryOutput) {
  LNBENCH_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    HostCase c(MakeProblem(3, 1001, dtype, Distribution::kNormal, true, true));
    auto prepared = Cuda().Prepare(c.problem, c.inputs(), CaseOptions{});
    prepared->Run();
    prepared->Poison();
    std::memset(c.y.data(), 0, c.y.bytes());
    std::memset(c.mean.data(), 0, c.mean.bytes());
    std::memset(c.rstd.data(), 0, c.rstd.bytes());
    prepared->Download(c.outputs());
    int64_t bad = 0;
    for (int64_t i = 0; i < c.problem.elements(); ++i)
      bad += LoadBits(dtype, c.y.data(), i) != PoisonBits(dtype);
    for (int64_t r = 0; r < c.problem.rows; ++r) {
      bad += c.mean.as<uint32_t>()[r] != kPoisonF32Bits;
      bad += c.rstd.as<uint32_t>()[r] != kPoisonF32Bits;
    }
    EXPECT_EQ(bad, 0) << DTypeName(dtype);
    // And the verifier calls every element unwritten.
    const Accuracy acc = c.Check();
    EXPECT_FALSE(acc.passed);
    EXPECT_EQ(acc[TensorId::kY]->unwritten, static_cast<uint64_t>(c.problem.elements()));
  }
}

TEST(CudaBackendTest, TimingHotGraphAndColdAndOutputsStayRight) {
  LNBENCH_SKIP_WITHOUT_GPU();
  HostCase c(MakeProblem(1024, 4096, DType::kF32, Distribution::kNormal, true, false));
  auto prepared = Cuda().Prepare(c.problem, c.inputs(), CaseOptions{});
  prepared->Poison();
  prepared->Run();  // warm-up, as the runner does
  const double one = prepared->TimeBatch(1, false);
  const double ten = prepared->TimeBatch(10, false);
  const double ten_again = prepared->TimeBatch(10, false);  // the cached graph
  const double cold = prepared->TimeBatch(5, true);         // cold: batch 1 after an L2 flush
  for (double t : {one, ten, ten_again, cold}) {
    EXPECT_TRUE(std::isfinite(t));
    EXPECT_GT(t, 0);
    EXPECT_LT(t, 1.0);
  }
  // 16 MiB in and out: ten runs take clearly longer than one, cold not 5x a hot run.
  EXPECT_GT(ten_again, 3 * one) << one << " " << ten_again;
  EXPECT_LT(cold, 3 * ten_again) << cold << " " << ten_again;
  c.Reset();
  prepared->Download(c.outputs());
  const Accuracy acc = c.Check();
  EXPECT_TRUE(acc.passed) << acc.reason;
  const auto details = prepared->Details();
  EXPECT_EQ(details.at("graph_batches"), "10");
  EXPECT_NE(details.at("launch").find("kernel=block"), std::string::npos);
  EXPECT_GT(std::stod(details.at("upload_s")), 0);
  EXPECT_GT(std::stod(details.at("download_s")), 0);
}

// Misaligned device pointers (offset by one element) take the element path
// in every kernel and still pass.
TEST(CudaBackendTest, MisalignedPointersUseTheElementPath) {
  LNBENCH_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (int64_t cols : {1024, 8192, 65536}) {
      HostCase c(MakeProblem(3, cols, dtype, Distribution::kNormal, true, true));
      const size_t es = DTypeSize(dtype);
      const size_t bytes = c.x.bytes();
      DeviceBuffer x(bytes + 16), y(bytes + 16), gamma(cols * 4 + 16), beta(cols * 4 + 16),
          mean(64), rstd(64);
      LayerNormArgs args;
      args.x = x.as<uint8_t>() + es;
      args.y = y.as<uint8_t>() + es;
      args.gamma = reinterpret_cast<const float*>(gamma.as<uint8_t>() + 4);
      args.beta = reinterpret_cast<const float*>(beta.as<uint8_t>() + 4);
      args.mean = mean.as<float>();
      args.rstd = rstd.as<float>();
      args.rows = c.problem.rows;
      args.cols = cols;
      args.eps = static_cast<float>(c.problem.eps);
      LNBENCH_CUDA_CALL(
          cudaMemcpy(const_cast<void*>(args.x), c.x.data(), bytes, cudaMemcpyHostToDevice));
      LNBENCH_CUDA_CALL(cudaMemcpy(const_cast<float*>(args.gamma), c.gamma.data(), cols * 4,
                                   cudaMemcpyHostToDevice));
      LNBENCH_CUDA_CALL(cudaMemcpy(const_cast<float*>(args.beta), c.beta.data(), cols * 4,
                                   cudaMemcpyHostToDevice));
      PlanQuery q;
      q.rows = c.problem.rows;
      q.cols = cols;
      q.dtype = dtype;
      q.vector_ok = VectorLoadsAllowed(dtype, cols, args.x, args.y, args.gamma, args.beta);
      q.cc_major = CudaDevice().cc_major;
      ASSERT_FALSE(q.vector_ok);
      for (const CudaVariant& v : CudaVariants()) {
        const PlanResult r = v.plan(q);
        if (!r.verdict.ok) continue;
        ASSERT_FALSE(r.plan.vectorized);
        DeviceBuffer workspace(r.plan.WorkspaceBytes(q.rows));
        args.workspace = workspace.data();
        FillPoison(args.y, dtype, c.problem.elements(), nullptr);
        LaunchLayerNorm(r.plan, dtype, args, nullptr);
        LNBENCH_CUDA_CALL(cudaDeviceSynchronize());
        c.Reset();
        LNBENCH_CUDA_CALL(cudaMemcpy(c.y.data(), args.y, bytes, cudaMemcpyDeviceToHost));
        LNBENCH_CUDA_CALL(cudaMemcpy(c.mean.data(), args.mean, q.rows * 4, cudaMemcpyDeviceToHost));
        LNBENCH_CUDA_CALL(cudaMemcpy(c.rstd.data(), args.rstd, q.rows * 4, cudaMemcpyDeviceToHost));
        const Accuracy acc = c.Check();
        EXPECT_TRUE(acc.passed) << v.name << " " << c.problem.ShortName() << ": " << acc.reason;
      }
    }
}

TEST(CudaBackendTest, RefusesProblemsLargerThanDeviceMemory) {
  LNBENCH_SKIP_WITHOUT_GPU();
  // 2^26 rows x 1024 f32: 256 GiB each for x and y. Nothing is read from x
  // before the check refuses.
  const Problem p =
      MakeProblem(int64_t{1} << 26, 1024, DType::kF32, Distribution::kNormal, true, false);
  float dummy[1024] = {};
  try {
    Cuda().Prepare(p, test_support::LnIn(dummy, dummy, dummy), CaseOptions{});
    FAIL() << "Prepare accepted a problem larger than device memory";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("device memory"), std::string::npos) << e.what();
  }
}

TEST(CudaBackendTest, UnknownOrUnfitVariantIsAUsageError) {
  LNBENCH_SKIP_WITHOUT_GPU();
  HostCase c(MakeProblem(2, 2048, DType::kF32, Distribution::kNormal, true, false));
  CaseOptions bad;
  bad.variant = "nonsense";
  EXPECT_FALSE(Cuda().Supports(c.problem, bad).ok);
  EXPECT_THROW(Cuda().Prepare(c.problem, c.inputs(), bad), UsageError);
  CaseOptions warp;
  warp.variant = "warp";  // H = 2048 is beyond one warp's registers
  const Verdict v = Cuda().Supports(c.problem, warp);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.reason.find("warp"), std::string::npos);
  EXPECT_THROW(Cuda().Prepare(c.problem, c.inputs(), warp), UsageError);
}

TEST(CudaBackendTest, CeilingMeasuresMemcpyAndCopyKernel) {
  LNBENCH_SKIP_WITHOUT_GPU();
  const auto ceilings = Cuda().MeasureCeiling(64ull << 20, 0, 3, 0.05);
  ASSERT_EQ(ceilings.size(), 2u);
  EXPECT_EQ(ceilings[0].method, "cudaMemcpy");
  EXPECT_EQ(ceilings[1].method, "copy_kernel");
  for (const CeilingMeasurement& m : ceilings) {
    EXPECT_EQ(m.bytes_per_copy, 64ull << 20);
    ASSERT_GE(m.seconds.size(), 3u);
    for (double s : m.seconds) {
      EXPECT_GT(s, 0);
      const double gbps = m.bytes_per_copy / s / 1e9;
      EXPECT_GT(gbps, 10) << m.method;      // any GPU lnbench targets copies faster
      EXPECT_LT(gbps, 100000) << m.method;  // and no GPU copies this fast
    }
  }
}

TEST(CudaBackendTest, DeviceInfoDescribesTheGpu) {
  LNBENCH_SKIP_WITHOUT_GPU();
  const auto info = Cuda().DeviceInfo();
  for (const char* key :
       {"name", "compute_capability", "sm_count", "l2_bytes", "memory_bytes", "sm_clock_mhz",
        "memory_clock_mhz", "driver_version", "runtime_version", "peak_bandwidth_gbps"})
    EXPECT_TRUE(info.count(key) == 1 && !info.at(key).empty()) << key;
  EXPECT_GT(std::stoi(info.at("sm_count")), 0);
  EXPECT_GT(std::stoull(info.at("l2_bytes")), 0u);
  EXPECT_EQ(Cuda().DeviceId(), "cuda:0");
  EXPECT_TRUE(Cuda().Available().ok);
}


// ---- RMSNorm -------------------------------------------------------------------

class CudaRmsMatrixTest : public ::testing::TestWithParam<std::tuple<DType, Distribution>> {};

// Every variant that accepts an RMSNorm problem passes the verifier, on the
// LayerNorm matrix's shapes (every kernel kind, both load paths).
TEST_P(CudaRmsMatrixTest, EveryVariantPassesTheVerifier) {
  LNBENCH_SKIP_WITHOUT_GPU();
  const auto [dtype, dist] = GetParam();
  const std::vector<Shape> shapes = MatrixShapes();
  for (size_t i = 0; i < shapes.size(); ++i) {
    const bool affine = i % 4 != 3;
    const bool stats = i % 2 == 0 || shapes[i].cols >= 65536;
    Problem p = MakeProblem(shapes[i].rows, shapes[i].cols, dtype, dist, affine, stats);
    p.norm = Norm::kRmsNorm;
    test_support::HostCase c(p);
    int ran = 0;
    for (const VariantInfo& v : Cuda().Variants()) {
      CaseOptions options;
      options.variant = v.name;
      if (!Cuda().Supports(c.problem, options).ok) continue;
      c.Execute(Cuda(), options);
      const Accuracy check = c.Check();
      ++ran;
      EXPECT_TRUE(check.passed) << "rmsnorm " << v.name << " (" << c.resolved << ") on "
                                << c.problem.ShortName() << " affine=" << affine
                                << " stats=" << stats << ": " << check.reason;
    }
    EXPECT_GE(ran, 2) << c.problem.ShortName();
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllDtypesAndDistributions, CudaRmsMatrixTest,
    ::testing::Combine(test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// Poison() fills y and rstd on the device: downloaded without a run, every
// element is unwritten; after a run, none is.
TEST(CudaBackendTest, RmsPoisonFillsEveryOutput) {
  LNBENCH_SKIP_WITHOUT_GPU();
  Problem p = MakeProblem(4, 1000, DType::kBF16, Distribution::kNormal, true, true);
  p.norm = Norm::kRmsNorm;
  test_support::HostCase c(p);
  std::unique_ptr<PreparedCase> prepared = Cuda().Prepare(c.problem, c.inputs, {});
  prepared->Poison();
  std::memset(c.out(TensorId::kY), 0, 4 * 1000 * sizeof(uint16_t));
  std::memset(c.out(TensorId::kRstd), 0, 4 * sizeof(float));
  prepared->Download(c.outputs);
  const Accuracy poisoned = c.Check();
  ASSERT_FALSE(poisoned.passed);
  EXPECT_EQ(poisoned[TensorId::kY]->unwritten, 4u * 1000);
  EXPECT_EQ(poisoned[TensorId::kRstd]->unwritten, 4u);
  prepared->Run();
  prepared->Download(c.outputs);
  const Accuracy ran = c.Check();
  EXPECT_TRUE(ran.passed) << ran.reason;
}


// Returns the case options that select `variant`.
CaseOptions Variant(const char* variant) {
  CaseOptions o;
  o.variant = variant;
  return o;
}

// ---- backward ----------------------------------------------------------------

using BackwardParam = std::tuple<Norm, DType, Distribution>;
class CudaBackwardMatrixTest : public ::testing::TestWithParam<BackwardParam> {};

// Every backward variant x dtype x distribution x shape (warp and block rows,
// rows read twice, element paths, dgamma trees of 1-3 levels), with and
// without affine, through Prepare/Poison/Run/Download against the core's
// backward op (test_support::HostCase: its inputs, float64 reference and bound).
TEST_P(CudaBackwardMatrixTest, EveryVariantPassesTheVerifier) {
  LNBENCH_SKIP_WITHOUT_GPU();
  const auto [norm, dtype, dist] = GetParam();
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {0, 768}, {1, 1},      {5, 3},    {3, 257},   {64, 512}, {70, 1023},
      {8, 4096}, {4097, 40}, {2, 8193}, {3, 65536}, {1, 300007}};
  if (QuickMode()) shapes.resize(9);
  for (const auto& [rows, cols] : shapes)
    for (bool affine : {true, false}) {
      Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 7, norm);
      p.dir = Direction::kBackward;
      test_support::HostCase c(p);
      // auto is one of these two (cuda_plan_test checks its choice).
      for (const char* variant : {"warp", "block"}) {
        c.Execute(Cuda(), Variant(variant));
        const Accuracy a = c.Check();
        EXPECT_TRUE(a.passed) << variant << " (" << c.resolved << ") " << p.ShortName()
                              << (affine ? " affine: " : " plain: ") << a.reason << " "
                              << test_support::Numbers(a);
      }
    }
}


INSTANTIATE_TEST_SUITE_P(
    AllNormsDtypesAndDistributions, CudaBackwardMatrixTest,
    ::testing::Combine(::testing::Values(Norm::kLayerNorm, Norm::kRmsNorm),
                       test_support::AllDTypeValues(),
                       ::testing::ValuesIn(AllDistributions())),
    test_support::ParamName());

// Poison reaches dx, dgamma and dbeta; a run overwrites every element;
// timing (hot, graph, cold) leaves the outputs right and runs are bitwise
// reproducible (a fixed tree).
TEST(CudaBackendTest, BackwardPoisonTimingAndReproducibility) {
  LNBENCH_SKIP_WITHOUT_GPU();
  for (Norm norm : AllNorms()) {
    Problem p = test_support::MakeProblem(300, 1000, DType::kBF16, Distribution::kNormal, true, false,
                                     7, norm);
    p.dir = Direction::kBackward;
    test_support::HostCase c(p);
    std::unique_ptr<PreparedCase> prepared = Cuda().Prepare(p, c.inputs, {});
    prepared->Poison();
    c.Reset();
    prepared->Download(c.outputs);
    const Accuracy poisoned = c.Check();
    EXPECT_EQ(test_support::Unwritten(poisoned),
              static_cast<uint64_t>(p.elements() + p.cols * (norm == Norm::kLayerNorm ? 2 : 1)));
    prepared->Run();
    prepared->Download(c.outputs);
    ASSERT_TRUE(c.Check().passed);
    const std::vector<float> dgamma(c.out<float>(TensorId::kDgamma),
                                    c.out<float>(TensorId::kDgamma) + p.cols);
    EXPECT_GT(prepared->TimeBatch(1, false), 0.0);
    EXPECT_GT(prepared->TimeBatch(8, false), 0.0);
    EXPECT_GT(prepared->TimeBatch(1, true), 0.0);
    prepared->Download(c.outputs);
    EXPECT_TRUE(c.Check().passed);
    EXPECT_EQ(std::memcmp(dgamma.data(), c.out<float>(TensorId::kDgamma), p.cols * 4), 0);
    EXPECT_NE(prepared->Details().at("launch").find("dgamma_tree="), std::string::npos);
  }
}

// LNBENCH_CUDA_BWD_PART_ROWS: the separate level-0 kernel ("off") and fused
// parts of 1, 16 and 64 rows all verify, warp and block, with and without
// the L2 prefetch (LNBENCH_CUDA_BWD_PREFETCH=off), and the launch says which
// ran; a bad value is the user's error.
TEST(CudaBackendTest, BackwardPartRowsKnobPlansAndVerifies) {
  LNBENCH_SKIP_WITHOUT_GPU();
  struct Restore {
    ~Restore() {
      unsetenv("LNBENCH_CUDA_BWD_PART_ROWS");
      unsetenv("LNBENCH_CUDA_BWD_PREFETCH");
    }
  } restore;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{200, 300}, {300, 1000}, {70, 4096}};
  for (const char* knob : {"off", "1", "16", "64", "auto"}) {
    ASSERT_EQ(setenv("LNBENCH_CUDA_BWD_PART_ROWS", knob, 1), 0);
    // The last round: the auto part without the prefetch.
    if (std::string(knob) == "auto") ASSERT_EQ(setenv("LNBENCH_CUDA_BWD_PREFETCH", "off", 1), 0);
    for (Norm norm : AllNorms())
      for (const auto& [rows, cols] : shapes) {
        Problem p = test_support::MakeProblem(rows, cols, DType::kBF16, Distribution::kOutliers,
                                              true, false, 7, norm);
        p.dir = Direction::kBackward;
        test_support::HostCase c(p);
        for (const char* variant : {"warp", "block"}) {
          c.Execute(Cuda(), Variant(variant));
          const Accuracy a = c.Check();
          EXPECT_TRUE(a.passed) << knob << " " << variant << " (" << c.resolved << ") "
                                << p.ShortName() << ": " << a.reason;
          const std::string launch = c.details.at("launch");
          const bool in_registers = variant == std::string("block") || cols <= 512;
          if (std::string(knob) == "off" || !in_registers) {
            EXPECT_EQ(launch.find("fused"), std::string::npos) << knob << " " << launch;
          } else {
            EXPECT_NE(launch.find("fused into dx"), std::string::npos) << knob << " " << launch;
            EXPECT_EQ(launch.find("prefetched") != std::string::npos,
                      std::string(knob) != "auto")
                << launch;
          }
        }
      }
  }
  ASSERT_EQ(setenv("LNBENCH_CUDA_BWD_PART_ROWS", "12", 1), 0);
  Problem p = test_support::MakeProblem(4, 64, DType::kF32, Distribution::kNormal);
  p.dir = Direction::kBackward;
  test_support::HostCase c(p);
  EXPECT_THROW(Cuda().Prepare(p, c.inputs, {}), UsageError);
}

// The forward-only variants are the user's request for a backward problem.
TEST(CudaBackendTest, BackwardRefusesForwardOnlyVariants) {
  LNBENCH_SKIP_WITHOUT_GPU();
  Problem p = test_support::MakeProblem(4, 64, DType::kF32, Distribution::kNormal);
  p.dir = Direction::kBackward;
  test_support::HostCase c(p);
  for (const char* variant : {"cluster", "splitrow"}) {
    EXPECT_FALSE(Cuda().Supports(p, Variant(variant)).ok);
    EXPECT_THROW(Cuda().Prepare(p, c.inputs, Variant(variant)), UsageError);
  }
}

}  // namespace
}  // namespace lnbench
