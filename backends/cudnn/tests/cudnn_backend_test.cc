// Tests of the cuDNN peer backend. Without a GPU or without libcudnn.so.9
// every test that needs them skips with the backend's own reason; on a GPU
// they verify every distribution, dtype and phase against the float64
// reference, poison detection, timing and the support verdicts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "backends/cudnn/cudnn_api.h"
#include "app/registry.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"
#include "tests/support/host_case.h"
#include "tests/support/poison_check.h"

namespace lnbench {
namespace {

Backend& CudnnPeer() {
  Backend* b = FindBackend("cudnn");
  if (b == nullptr) throw std::runtime_error("cudnn backend is not registered");
  return *b;
}

#define SKIP_WITHOUT_CUDNN()                                  \
  do {                                                        \
    const Verdict lnbench_available_ = CudnnPeer().Available();   \
    if (!lnbench_available_.ok) GTEST_SKIP() << lnbench_available_.reason; \
  } while (0)

using test_support::MakeInputs;
using test_support::MakeOutputs;
using test_support::Numbers;
using test_support::OwnedInputs;
using test_support::OwnedOutputs;
using test_support::Unwritten;

// The core's RMSNorm op (reference and verifier) on the tensors of one case.
Reference RmsReferenceOf(const Problem& p, const OwnedInputs& in) {
  return ComputeReference(p, in.view, SharedThreadPool(0));
}
Accuracy CheckRms(const Problem& p, const OwnedInputs& in, const Reference& ref,
                  const OwnedOutputs& out) {
  return CheckOutputs(p, in.view, out.view, ref, SharedThreadPool(0));
}

// Prepares, poisons, runs once, downloads and checks one case.
Accuracy RunAndCheck(const Problem& p, const CaseOptions& options) {
  OwnedInputs in = MakeInputs(p);
  ThreadPool& pool = SharedThreadPool(0);
  const Reference ref = ComputeReference(p, in.view, pool);
  auto prepared = CudnnPeer().Prepare(p, in.view, options);
  OwnedOutputs out = MakeOutputs(p);
  prepared->Poison();
  prepared->Run();
  prepared->Download(out.view);
  return CheckOutputs(p, in.view, out.view, ref, pool);
}

TEST(CudnnBackend, IsRegisteredAsGpuPeerWithReason) {
  Backend& b = CudnnPeer();
  EXPECT_TRUE(b.IsPeer());
  EXPECT_EQ(b.DeviceId(), "cuda:0");
  const auto variants = b.Variants();
  ASSERT_EQ(variants.size(), 6u);
  EXPECT_EQ(variants[0].name, "inference");
  EXPECT_EQ(variants[1].name, "training");
  EXPECT_EQ(variants[2].name, "inference-tuned");
  EXPECT_EQ(variants[3].name, "training-tuned");
  EXPECT_EQ(variants[4].name, "backward");
  EXPECT_EQ(variants[5].name, "backward-tuned");
  const Verdict v = b.Available();
  // Unavailable is fine here (no GPU, no cuDNN), but never without a reason.
  if (!v.ok) {
    EXPECT_FALSE(v.reason.empty());
    Problem p;
    p.rows = 4;
    p.cols = 8;
    EXPECT_FALSE(b.Supports(p, {}).ok);
  }
}

TEST(CudnnBackend, VariantVerdictsNeedNoDevice) {
  Backend& b = CudnnPeer();
  Problem p;
  p.rows = 8;
  p.cols = 64;
  const Verdict unknown = b.Supports(p, {"fastest", 0});
  EXPECT_FALSE(unknown.ok);
  EXPECT_NE(unknown.reason.find("fastest"), std::string::npos);
  EXPECT_THROW(b.Prepare(p, {}, {"fastest", 0}), UsageError);
  p.stats = true;
  const Verdict inference_stats = b.Supports(p, {"inference", 0});
  EXPECT_FALSE(inference_stats.ok);
  EXPECT_NE(inference_stats.reason.find("training"), std::string::npos);
  // RMSNorm: its only statistic is rstd, and the reason says so.
  p.norm = Norm::kRmsNorm;
  const Verdict rms_inference_stats = b.Supports(p, {"inference", 0});
  EXPECT_FALSE(rms_inference_stats.ok);
  EXPECT_NE(rms_inference_stats.reason.find("output rstd"), std::string::npos)
      << rms_inference_stats.reason;
  EXPECT_THROW(b.Prepare(p, {}, {"inference", 0}), UsageError);
}

// Returns the case options that select `variant`.
CaseOptions Variant(const char* variant) {
  CaseOptions o;
  o.variant = variant;
  return o;
}

// Backward runs as the backward variants only, and they run backward only:
// a No with the reason, with or without cuDNN (the variant is judged
// first), and Prepare refuses the mismatch as the user's request.
TEST(CudnnBackend, BackwardVariantsRunBackwardOnly) {
  Backend& b = CudnnPeer();
  for (Norm norm : AllNorms()) {
    Problem p;
    p.norm = norm;
    p.dir = Direction::kBackward;
    p.rows = 8;
    p.cols = 64;
    for (const char* variant : {"inference", "training", "inference-tuned", "training-tuned"}) {
      const Verdict v = b.Supports(p, Variant(variant));
      EXPECT_FALSE(v.ok) << variant;
      EXPECT_EQ(v.reason, std::string("variant ") + variant + " is forward only; " +
                              std::string(NormName(norm)) +
                              " bwd runs as backward or backward-tuned");
      EXPECT_THROW(b.Prepare(p, {}, Variant(variant)), UsageError);
    }
    p.dir = Direction::kForward;
    for (const char* variant : {"backward", "backward-tuned"}) {
      const Verdict v = b.Supports(p, Variant(variant));
      EXPECT_FALSE(v.ok) << variant;
      EXPECT_NE(v.reason.find("is backward only"), std::string::npos) << v.reason;
      EXPECT_THROW(b.Prepare(p, {}, Variant(variant)), UsageError);
    }
    // The default and the backward variants get past the variant checks:
    // without cuDNN the only no is the backend's own.
    p.dir = Direction::kBackward;
    const Verdict available = b.Available();
    if (!available.ok) {
      for (const char* variant : {"", "backward", "backward-tuned"})
        EXPECT_EQ(b.Supports(p, Variant(variant)).reason, available.reason) << variant;
    }
  }
}

// Backward (NORM_BACKWARD: dx, dscale, dbias) against the core's backward
// op: its float64 reference from the saved f32 statistics and its bound,
// every dtype and distribution, with and without affine. `special` rows
// (NaN statistics) are printed as findings, as for the forward graphs.
TEST(CudnnBackend, BackwardVerifiesEveryDistributionAndDType) {
  SKIP_WITHOUT_CUDNN();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{15, 3}, {30, 300}, {257, 768},
                                                           {64, 4096}};
  int supported = 0;
  for (Norm norm : AllNorms())
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      for (Distribution dist : AllDistributions())
        for (const auto& [rows, cols] : shapes)
          for (bool affine : {true, false}) {
            Problem p = test_support::MakeProblem(rows, cols, dtype, dist, affine, false, 7, norm);
            p.dir = Direction::kBackward;
            const std::string where =
                p.ShortName() + (affine ? " affine" : " no-affine") + " " + OpName(norm, p.dir);
            const Verdict v = CudnnPeer().Supports(p, {});
            if (!v.ok) {
              std::cout << "[unsupported] cudnn " << where << ": " << v.reason << "\n";
              continue;
            }
            ++supported;
            test_support::HostCase c(p);
            c.Execute(CudnnPeer(), {});
            EXPECT_EQ(c.resolved, "backward");
            const Accuracy a = c.Check();
            if (dist != Distribution::kSpecial) {
              EXPECT_TRUE(a.passed) << where << ": " << a.reason << " " << Numbers(a);
            } else if (!a.passed) {
              std::cout << "[finding] cudnn " << where << ": " << a.reason << "\n";
            }
            EXPECT_EQ(Unwritten(a), 0u) << where;
          }
  EXPECT_GT(supported, 0);
}

// Zero rows: dscale and dbias are zeros (a sum over no rows), no plan runs.
TEST(CudnnBackend, BackwardOfNoRowsGivesZeroParameterGradients) {
  SKIP_WITHOUT_CUDNN();
  for (Norm norm : AllNorms()) {
    Problem p = test_support::MakeProblem(0, 768, DType::kF32, Distribution::kNormal, true, false, 7,
                                     norm);
    p.dir = Direction::kBackward;
    test_support::HostCase c(p);
    c.Execute(CudnnPeer(), {});
    const Accuracy a = c.Check();
    EXPECT_TRUE(a.passed) << a.reason;
    EXPECT_EQ(c.out<float>(TensorId::kDgamma)[5], 0.0f);
  }
}

// The loader runs once per process, so each loader test runs in a fresh
// child process (the "threadsafe" death-test style re-executes the binary).
void LoadInChildAndExit(const char* library) {
  setenv("LNBENCH_CUDNN_LIBRARY", library, 1);
  const CudnnApi& api = lnbench::Cudnn();
  if (!api.ok()) {
    std::cerr << "error: " << api.error << "\n";
    std::exit(3);
  }
  std::cerr << "loaded " << api.path << " version " << CudnnVersionText(api.GetVersion()) << "\n";
  std::exit(0);
}

TEST(CudnnLoader, NamesTheLibraryItCouldNotLoad) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LoadInChildAndExit("/nonexistent/libcudnn.so.9"), ::testing::ExitedWithCode(3),
              "/nonexistent/libcudnn.so.9 not found .*LD_LIBRARY_PATH");
}

TEST(CudnnLoader, ResolvesEveryEntryPointOfARealLibrary) {
  // Needs the library file, not a GPU: cudnnGetVersion runs without a device.
  const char* candidates[] = {"/usr/local/cuda/lib64/libcudnn.so.9",
                              "/usr/lib/x86_64-linux-gnu/libcudnn.so.9"};
  const char* found = nullptr;
  for (const char* c : candidates)
    if (access(c, R_OK) == 0) found = c;
  if (found == nullptr) GTEST_SKIP() << "no libcudnn.so.9 file in the usual places";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LoadInChildAndExit(found), ::testing::ExitedWithCode(0), "loaded .* version 9\\.");
}

// The accuracy findings about cuDNN 9.14 with heuristic A's engine on an
// H100, measured with this test and recorded in docs/peers.md: cuDNN fails
// lnbench's bounds on these (distribution, dtype) pairs. Constant rows get a
// non-zero variance (errors up to 2.2 in y), rows far from zero or with a
// tiny spread lose the mean's precision, and rows holding NaN/Inf get a
// finite rstd of 0 (y itself is NaN as it should be). Asserted both ways.
// bf16 tinyvar joined on an H200 (cuDNN 9.14.0, 2026-12-04), against the
// bound that since issue 11 judges 16-bit outputs against the unrounded
// reference: 4 to 1220 elements per shape 1.4x to 3.0x over the compute
// allowance, about half a bf16 ulp off (f16 tinyvar passes these shapes).
bool KnownToFail(Distribution dist, DType dtype) {
  static const std::set<std::pair<Distribution, DType>> failing = {
      {Distribution::kOffset1e4, DType::kF32},  {Distribution::kOffset1e4, DType::kBF16},
      {Distribution::kOffset1e4, DType::kF16},  {Distribution::kOffset1e6, DType::kF32},
      {Distribution::kOffset1e6, DType::kBF16}, {Distribution::kOffset1e6, DType::kF16},
      {Distribution::kTinyVariance, DType::kF32}, {Distribution::kTinyVariance, DType::kBF16},
      {Distribution::kConstant, DType::kF32},
      {Distribution::kConstant, DType::kBF16},  {Distribution::kConstant, DType::kF16},
      {Distribution::kSpecial, DType::kF32},    {Distribution::kSpecial, DType::kBF16},
      {Distribution::kSpecial, DType::kF16},
  };
  return failing.count({dist, dtype}) != 0;
}

struct Mode {
  const char* variant;
  bool affine;
  bool stats;
};

TEST(CudnnBackend, VerifiesEveryDistributionDTypeAndPhase) {
  SKIP_WITHOUT_CUDNN();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{15, 3}, {30, 300}, {257, 768},
                                                           {64, 4096}};
  const std::vector<Mode> modes = {
      {"inference", true, false}, {"inference", false, false}, {"training", true, true}};
  int supported = 0;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (Distribution dist : AllDistributions()) {
      bool any_failed = false;
      std::string worst;
      for (const auto& [rows, cols] : shapes) {
        for (const Mode& mode : modes) {
          Problem p;
          p.rows = rows;
          p.cols = cols;
          p.dtype = dtype;
          p.dist = dist;
          p.affine = mode.affine;
          p.stats = mode.stats;
          p.seed = 7;
          const std::string where = p.ShortName() + " " + mode.variant +
                                    (mode.affine ? " affine" : " no-affine") +
                                    (mode.stats ? " stats" : "");
          const Verdict v = CudnnPeer().Supports(p, {mode.variant, 0});
          if (!v.ok) {
            std::cout << "[unsupported] cudnn " << where << ": " << v.reason << "\n";
            continue;
          }
          ++supported;
          const Accuracy a = RunAndCheck(p, {mode.variant, 0});
          EXPECT_EQ(Unwritten(a), 0u) << where;
          if (!KnownToFail(dist, dtype)) {
            EXPECT_TRUE(a.passed) << where << ": " << a.reason << " | " << Numbers(a);
          } else if (!a.passed) {
            any_failed = true;
            worst += "\n  " + where + ": " + Numbers(a);
          }
          if (!a.passed) std::cout << "[fail] cudnn " << where << ": " << Numbers(a) << "\n";
        }
      }
      if (KnownToFail(dist, dtype)) {
        EXPECT_TRUE(any_failed) << DistributionName(dist) << " " << DTypeName(dtype)
                                << ": cuDNN now passes; update KnownToFail and docs/peers.md";
        std::cout << "[finding] cudnn " << DistributionName(dist) << " " << DTypeName(dtype)
                  << worst << "\n";
      }
    }
  }
  // cuDNN 9 has layer norm engines for f32, bf16 and f16 on Ampere and newer.
  EXPECT_GT(supported, 0);
}

TEST(CudnnBackend, TunedVariantsPassOnWellConditionedRows) {
  SKIP_WITHOUT_CUDNN();
  // Whatever engine autotuning keeps, well-conditioned rows must verify.
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (Distribution dist : {Distribution::kNormal, Distribution::kUniform,
                              Distribution::kOutliers, Distribution::kExact}) {
      for (const char* variant : {"inference-tuned", "training-tuned"}) {
        Problem p;
        p.rows = 1024;
        p.cols = 1024;
        p.dtype = dtype;
        p.dist = dist;
        p.stats = std::string(variant) == "training-tuned";
        const Verdict v = CudnnPeer().Supports(p, Variant(variant));
        if (!v.ok) {
          ADD_FAILURE() << p.ShortName() << " " << variant << ": " << v.reason;
          continue;
        }
        OwnedInputs in = MakeInputs(p);
        ThreadPool& pool = SharedThreadPool(0);
        const Reference ref = ComputeReference(p, in.view, pool);
        auto prepared = CudnnPeer().Prepare(p, in.view, Variant(variant));
        EXPECT_EQ(prepared->ResolvedVariant(), variant);
        OwnedOutputs out = MakeOutputs(p);
        prepared->Poison();
        prepared->Run();
        prepared->Download(out.view);
        const Accuracy a = CheckOutputs(p, in.view, out.view, ref, pool);
        EXPECT_TRUE(a.passed) << p.ShortName() << " " << variant << ": " << a.reason;
        if (dist == Distribution::kNormal) {
          const auto d = prepared->Details();
          std::cout << "[tuned] cudnn " << p.ShortName() << " " << variant << ": engine "
                    << d.at("engine_global_index") << " ("
                    << (d.count("autotune") ? d.at("autotune") : "one candidate") << ")\n";
        }
      }
    }
  }
}

TEST(CudnnBackend, PoisonShowsUnwrittenOutputs) {
  SKIP_WITHOUT_CUDNN();
  test_support::ExpectPoisonThenRunWritesAll(
      CudnnPeer(), test_support::MakeProblem(5, 256, DType::kF32, Distribution::kNormal, true, true),
      {"training", 0});
}

TEST(CudnnBackend, TimesHotAndColdAndMeasuresCeiling) {
  SKIP_WITHOUT_CUDNN();
  Problem p;
  p.rows = 4096;
  p.cols = 1024;
  p.dtype = DType::kBF16;
  OwnedInputs in = MakeInputs(p);
  auto prepared = CudnnPeer().Prepare(p, in.view, {});
  const double hot = prepared->TimeBatch(10, false);
  const double cold = prepared->TimeBatch(1, true);
  EXPECT_GT(hot, 0.0);
  EXPECT_GT(cold, 0.0);
  const auto details = prepared->Details();
  EXPECT_NE(details.count("engine_global_index"), 0u);
  EXPECT_NE(details.count("cudnn_version"), 0u);
  const auto ceilings = CudnnPeer().MeasureCeiling(CountBytes(p).total(), 0, 5, 0.05);
  ASSERT_GE(ceilings.size(), 1u);
  double copy_gbps = 0;
  for (const CeilingMeasurement& m : ceilings) {
    EXPECT_GE(m.seconds.size(), 5u) << m.method;
    for (double s : m.seconds) EXPECT_GT(s, 0.0) << m.method;
    std::vector<double> sorted = m.seconds;
    std::sort(sorted.begin(), sorted.end());
    copy_gbps = std::max(copy_gbps, m.bytes_per_copy / sorted[sorted.size() / 2] / 1e9);
  }
  // A layer norm moves at least as many bytes as the copy: it cannot beat the
  // best copy by much (25% slack: 8 MiB stays partly in the 50 MiB L2).
  const double ln_gbps = CountBytes(p).total() / (hot / 10) / 1e9;
  std::cout << "[timing] cudnn 4096x1024 bf16 inference: " << ln_gbps << " GB/s, copy "
            << copy_gbps << " GB/s\n";
  EXPECT_LT(ln_gbps, copy_gbps * 1.25);
}

TEST(CudnnBackend, EmptyProblemRuns) {
  SKIP_WITHOUT_CUDNN();
  Problem p;
  p.rows = 0;
  p.cols = 768;
  OwnedInputs in = MakeInputs(p);
  auto prepared = CudnnPeer().Prepare(p, in.view, {});
  OwnedOutputs out = MakeOutputs(p);
  prepared->Poison();
  prepared->Run();
  prepared->Download(out.view);
  EXPECT_GE(prepared->TimeBatch(2, false), 0.0);
}

// RMSNorm (CUDNN_RMS_NORM) in both phases against the core's RMSNorm op
// (float64 reference and verifier). Rows far from
// zero are not ill-conditioned for RMSNorm (a sum of squares has no
// cancellation), so every distribution must pass except `special`, whose
// NaN rows' statistics cuDNN may write as a number (as its layer norm
// does); that one is printed as a finding, to be settled on a GPU.
TEST(CudnnBackend, RmsNormVerifiesEveryDistributionDTypeAndPhase) {
  SKIP_WITHOUT_CUDNN();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{15, 3}, {30, 300}, {257, 768},
                                                           {64, 4096}};
  const std::vector<Mode> modes = {
      {"inference", true, false}, {"inference", false, false}, {"training", true, true}};
  int supported = 0;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (Distribution dist : AllDistributions()) {
      for (const auto& [rows, cols] : shapes) {
        for (const Mode& mode : modes) {
          Problem p;
          p.norm = Norm::kRmsNorm;
          p.rows = rows;
          p.cols = cols;
          p.dtype = dtype;
          p.dist = dist;
          p.affine = mode.affine;
          p.stats = mode.stats;
          p.seed = 7;
          const std::string where = "rmsnorm " + p.ShortName() + " " + mode.variant +
                                    (mode.affine ? " affine" : " no-affine") +
                                    (mode.stats ? " stats" : "");
          const Verdict v = CudnnPeer().Supports(p, {mode.variant, 0});
          if (!v.ok) {
            std::cout << "[unsupported] cudnn " << where << ": " << v.reason << "\n";
            continue;
          }
          ++supported;
          OwnedInputs in = MakeInputs(p);
          const Reference ref = RmsReferenceOf(p, in);
          auto prepared = CudnnPeer().Prepare(p, in.view, {mode.variant, 0});
          OwnedOutputs out = MakeOutputs(p);
          prepared->Poison();
          prepared->Run();
          prepared->Download(out.view);
          const Accuracy check = CheckRms(p, in, ref, out);
          if (dist != Distribution::kSpecial) {
            EXPECT_TRUE(check.passed) << where << ": " << check.reason << " " << Numbers(check);
          } else if (!check.passed) {
            std::cout << "[finding] cudnn " << where << ": " << check.reason << "\n";
          }
          EXPECT_EQ(Unwritten(check), 0u) << where;
        }
      }
    }
  }
  EXPECT_GT(supported, 0);
}

TEST(CudnnBackend, RmsNormPoisonShowsUnwrittenOutputs) {
  SKIP_WITHOUT_CUDNN();
  test_support::ExpectPoisonThenRunWritesAll(
      CudnnPeer(),
      test_support::MakeProblem(5, 256, DType::kF32, Distribution::kNormal, true, true, 7,
                                Norm::kRmsNorm),
      {"training", 0});
}

}  // namespace
}  // namespace lnbench
