// Tests of the Highway backward kernels (norm_bwd_highway.*). Like Highway's
// own tests, the main suite runs once per SIMD target this CPU supports
// (LNBENCH_PER_TARGET_TEST, shaped as Highway's HWY_BEFORE_TEST, sets
// hwy::SetSupportedTargetsForTest, so "auto" must dispatch to that target;
// the sanitizer build leaves out the one-lane fallback), through the backend
// as the CLI runs it, with the op's seeded inputs (x, dy, gamma, mean/rstd as
// the forward saves them) checked against the op's float64 reference and
// bounds (core/metrics.h).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

#include "app/registry.h"
#include "backends/highway/highway_targets.h"
#include "backends/highway/per_target_distributions.h"
#include "backends/highway/norm_bwd_highway.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

constexpr DType kDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
constexpr Norm kNorms[] = {Norm::kLayerNorm, Norm::kRmsNorm};
constexpr double kEpsF32 = 0x1p-23;

Backend& Highway() {
  Backend* b = FindBackend("highway");
  EXPECT_NE(b, nullptr) << "highway backend not registered";
  return *b;
}

Problem MakeBwdProblem(Norm norm, int64_t rows, int64_t cols, DType dtype, Distribution dist,
                       bool affine, uint64_t seed = 7) {
  Problem p;
  p.norm = norm;
  p.dir = Direction::kBackward;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  p.dist = dist;
  p.affine = affine;
  p.seed = seed;
  return p;
}

// One backward problem's tensors as its op names them, the reference, and
// the outputs of the last Execute.
struct BwdCase {
  Problem problem;
  std::vector<HostBuffer> buffers;
  HostTensors inputs, outputs;
  Reference ref;
  std::string resolved;
  std::map<std::string, std::string> details;

  explicit BwdCase(const Problem& p, bool reference = true) : problem(p) {
    ThreadPool& pool = SharedThreadPool(0);
    const OpDescriptor& op = OpFor(p);
    for (const TensorSpec& t : op.Tensors(p)) {
      // At least 16 elements: a zero-byte buffer is nullptr ("not present").
      const int64_t n = std::max<int64_t>(TensorElements(p, t.extent), 16);
      buffers.emplace_back(static_cast<size_t>(n) * DTypeSize(TensorDType(p, t.extent)));
      (t.role == TensorRole::kInput ? inputs : outputs).set(t.id, buffers.back().data());
    }
    op.GenerateInputs(p, inputs, pool);
    if (reference) ref = ComputeReference(p, inputs, pool);
  }

  // Runs the backend once (outputs poisoned first) and downloads the outputs.
  void Execute(const std::string& variant, int threads, const std::string& stream_min = "",
               const std::string& bwd_groups = "") {
    CaseOptions options;
    options.variant = variant;
    options.threads = threads;
    if (!stream_min.empty()) options.tuning["stream_min_bytes"] = stream_min;
    if (!bwd_groups.empty()) options.tuning["bwd_groups"] = bwd_groups;
    const Verdict v = Highway().Supports(problem, options);
    ASSERT_TRUE(v.ok) << v.reason;
    std::unique_ptr<PreparedCase> c = Highway().Prepare(problem, inputs, options);
    resolved = c->ResolvedVariant();
    details = c->Details();
    c->Poison();
    c->Run();
    c->Download(outputs);
  }

  Accuracy Check() const {
    return CheckOutputs(problem, inputs, outputs, ref, SharedThreadPool(0));
  }

  // Returns the row kernels' view of the inputs (dx, stream and the paths
  // left to the caller), for tests that call a kernel directly.
  HwyBwdArgs KernelArgs() const {
    HwyBwdArgs args;
    args.x = inputs.get(TensorId::kX);
    args.dy = inputs.get(TensorId::kDy);
    args.gamma = inputs.get<float>(TensorId::kGamma);
    args.mean = problem.norm == Norm::kLayerNorm ? inputs.get<float>(TensorId::kMean) : nullptr;
    args.rstd = inputs.get<float>(TensorId::kRstd);
    args.rows = problem.rows;
    args.cols = problem.cols;
    return args;
  }

  // Returns output `id`'s bytes ("" when absent), for bitwise comparisons.
  std::string Bits(TensorId id) const {
    const void* p = outputs.get(id);
    if (p == nullptr) return "";
    const Extent extent = id == TensorId::kDx ? Extent::kRowsCols : Extent::kCols;
    return std::string(static_cast<const char*>(p),
                       static_cast<size_t>(TensorBytes(problem, extent)));
  }
};

struct Shape {
  int64_t rows, cols;
};
// Rows shorter than a vector, masked tails of every kind, several sums
// blocks per row (64 vectors), row counts that are no multiple of a block,
// more row blocks than threads, full 64-row blocks (1100 rows).
constexpr Shape kShapes[] = {{0, 64},   {1, 1},    {5, 1},     {7, 3},    {1, 4096},
                             {6, 257},  {3, 1023}, {4, 2041},  {9, 4099}, {130, 96},
                             {20, 2048}, {2, 65537}, {1100, 40}};

// ------------------------------------------------------------------ per target

LNBENCH_PER_TARGET_TEST(HighwayBwdTargetTest);

// Every norm, distribution (kSpecial: NaN/Inf rows), dtype and edge shape,
// with and without gamma, against the op's reference; "auto" dispatches to
// the fixture's target, and the kernel it runs is that target's.
TEST_P(HighwayBwdTargetTest, AllNormsDistributionsDtypesShapes) {
  const std::string want = HighwayTargetName(GetParam());
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      ASSERT_EQ(HighwayNormBwdRowsFunction(norm, dtype, 0),
                HighwayNormBwdRowsFunction(norm, dtype, GetParam()));
      for (Distribution dist : PerTargetDistributions()) {
        for (const Shape& s : kShapes) {
          for (bool affine : {true, false}) {
            BwdCase run(MakeBwdProblem(norm, s.rows, s.cols, dtype, dist, affine));
            run.Execute("auto", 1);  // threads: ThreadCountDoesNotChangeBits
            ASSERT_EQ(run.resolved, want);
            const Accuracy acc = run.Check();
            EXPECT_TRUE(acc.passed) << run.problem.ShortName() << " affine=" << affine
                                    << " target=" << want << ": " << acc.reason;
            if (s.rows > 0) {
              EXPECT_EQ(acc[TensorId::kDx]->unwritten, 0u);
            }
            if (affine) {
              EXPECT_EQ(acc[TensorId::kDgamma]->unwritten, 0u);
            }
          }
        }
      }
    }
  }
}

// Streaming stores of dx (odd widths: rows at every alignment) give the
// same bits as ordinary stores, on one thread and split over three.
TEST_P(HighwayBwdTargetTest, StreamingStoresMatchOrdinaryStores) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      for (const Shape& s : {Shape{7, 1001}, Shape{5, 4096}, Shape{3, 5000}, Shape{37, 131}}) {
        BwdCase plain(MakeBwdProblem(norm, s.rows, s.cols, dtype, Distribution::kNormal, true));
        plain.Execute("auto", 1, "100000000000");
        EXPECT_EQ(plain.details.at("streaming_stores"), "no");
        for (int threads : {1, 3}) {
          BwdCase streamed(plain.problem);
          streamed.Execute("auto", threads, "0");
          EXPECT_EQ(streamed.details.at("streaming_stores"), "yes");
          for (TensorId id : {TensorId::kDx, TensorId::kDgamma, TensorId::kDbeta})
            EXPECT_EQ(plain.Bits(id), streamed.Bits(id))
                << plain.problem.ShortName() << " " << TensorName(id) << " threads " << threads;
          const Accuracy acc = streamed.Check();
          EXPECT_TRUE(acc.passed) << streamed.problem.ShortName() << ": " << acc.reason;
        }
      }
    }
  }
}

// dx, dgamma and dbeta are the same bits for 1, 2, 3 and 7 threads (the
// partials cover fixed row blocks; the merge order is fixed).
TEST_P(HighwayBwdTargetTest, ThreadCountDoesNotChangeBits) {
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      for (const Shape& s : {Shape{1, 300}, Shape{37, 257}, Shape{1000, 64}, Shape{2053, 33},
                             Shape{40, 4111}, Shape{88, 4111}}) {
        BwdCase one(MakeBwdProblem(norm, s.rows, s.cols, dtype, Distribution::kNormal, true));
        one.Execute("auto", 1);
        const Accuracy acc = one.Check();
        ASSERT_TRUE(acc.passed) << one.problem.ShortName() << ": " << acc.reason;
        for (int threads : {2, 3, 7}) {
          BwdCase many(one.problem, /*reference=*/false);
          many.Execute("auto", threads);
          for (TensorId id : {TensorId::kDx, TensorId::kDgamma, TensorId::kDbeta})
            EXPECT_EQ(one.Bits(id), many.Bits(id))
                << one.problem.ShortName() << " " << TensorName(id) << " threads " << threads;
        }
      }
    }
  }
}

// Rows of 4096 columns and more (and narrower ones from 16-24 KiB of gamma
// and partials: BwdGroupsRows) go in pairs (f32) or chunked groups of four
// (16-bit types) that share the loads of gamma and of the dgamma/dbeta
// partials (norm_bwd_highway-inl.h). Row blocks of 3 rows (34 rows:
// BwdRowBlock) make a pair and a single row, or a partial group, per block;
// blocks of 6 rows (88 rows) a full group of four and a partial one, and a
// last block of 4 rows one full group. Odd widths make masked tails. Every
// distribution (NaN/Inf rows, offsets, constant rows) against the reference.
TEST_P(HighwayBwdTargetTest, RowPairsOnEveryDistribution) {
  ASSERT_EQ(BwdRowBlock(34), 3);
  ASSERT_EQ(BwdRowBlock(88), 6);
  for (Norm norm : kNorms) {
    for (DType dtype : kDTypes) {
      for (Distribution dist : PerTargetDistributions()) {
        for (const Shape& s : {Shape{34, 4096}, Shape{34, 4097}, Shape{88, 4097}}) {
          BwdCase run(MakeBwdProblem(norm, s.rows, s.cols, dtype, dist, true));
          run.Execute("auto", 1);
          const Accuracy acc = run.Check();
          EXPECT_TRUE(acc.passed) << run.problem.ShortName() << ": " << acc.reason;
          EXPECT_EQ(acc[TensorId::kDx]->unwritten, 0u);
          EXPECT_EQ(acc[TensorId::kDgamma]->unwritten, 0u);
        }
      }
    }
  }
}

// The fused groups (each row's sums alone, then four rows' dx and
// dgamma/dbeta terms in one pass) and the shared sums (the rows' sums side by
// side, adding the terms) give the same bits for dx, dgamma and dbeta, on
// every distribution (offsets, constant rows; NaN/Inf rows: see below), and
// both verify against the reference, streamed and not, on one thread and on
// three. Widths: the narrowest grouped multiple of
// 32 columns of each norm (streamed: LayerNorm 1376, RMSNorm 2048; not:
// 2048 and 3072) and 4096. Row counts: 11 (blocks of 11: groups of 4, 4
// and 3) and 88 (blocks of 6: a group of 4 and one of 2).
TEST_P(HighwayBwdTargetTest, FusedGroupsMatchSharedSums) {
  constexpr const char* kStreamAlways = "0";
  constexpr const char* kStreamNever = "100000000000";
  for (Norm norm : kNorms) {
    const bool ln = norm == Norm::kLayerNorm;
    for (const char* stream : {kStreamAlways, kStreamNever}) {
      const bool streamed = std::string(stream) == kStreamAlways;
      const int64_t narrow = streamed ? (ln ? 1376 : 2048) : (ln ? 2048 : 3072);
      for (DType dtype : kDTypes) {
        for (Distribution dist : PerTargetDistributions()) {
          for (const Shape& s : {Shape{11, narrow}, Shape{88, 4096}}) {
            if (s.rows == 88 && dist != Distribution::kOffset1e4) continue;
            BwdCase shared(MakeBwdProblem(norm, s.rows, s.cols, dtype, dist, true));
            shared.Execute("auto", 1, stream, "shared_sums");
            ASSERT_EQ(shared.details.at("bwd_groups"), "shared_sums");
            const Accuracy acc = shared.Check();
            EXPECT_TRUE(acc.passed) << shared.problem.ShortName() << ": " << acc.reason;
            for (int threads : {1, 3}) {
              BwdCase fused(shared.problem, /*reference=*/false);
              fused.Execute("auto", threads, stream, "fused");
              ASSERT_EQ(fused.details.at("bwd_groups"), "fused");
              ASSERT_EQ(fused.details.at("streaming_stores"), streamed ? "yes" : "no");
              const Accuracy fused_acc = CheckOutputs(fused.problem, fused.inputs, fused.outputs,
                                                      shared.ref, SharedThreadPool(0));
              EXPECT_TRUE(fused_acc.passed) << fused.problem.ShortName() << ": " << fused_acc.reason;
              EXPECT_EQ(fused_acc[TensorId::kDx]->unwritten, 0u);
              // NaN rows: a NaN's payload and sign may differ between paths on
              // targets without FMA (the compiler may swap the operands of an
              // addition, and x86 returns the first operand's NaN); the check
              // above holds them to being NaN.
              if (dist == Distribution::kSpecial) continue;
              for (TensorId id : {TensorId::kDx, TensorId::kDgamma, TensorId::kDbeta})
                EXPECT_TRUE(shared.Bits(id) == fused.Bits(id))
                    << shared.problem.ShortName() << " " << TensorName(id) << " threads "
                    << threads << (streamed ? " streamed" : "") << ": bits differ";
            }
          }
        }
      }
    }
  }
}

// bf16 dx that is subnormal (see Bf16SubnormalOutputsSurviveEveryPath in
// highway_backend_test.cc: VCVTNE2PS2BF16 flushes it, and the row writers
// write such ranges again with the integer rounding). x alternates +1 and -1
// (mean 0, variance 1, rstd = 1/sqrt(1 + eps) given), dy is 4..8 bf16
// subnormal steps (2^-133) of either sign in every 64th column and 0
// elsewhere, gamma 1 or none: dx there is about rstd * dy, an f32
// subnormal. Every dx must be within two steps of the formula in double, and
// nonzero where that is 4 steps or more, on every path: single rows, fused
// groups and shared sums, streamed or not, one thread and three.
TEST_P(HighwayBwdTargetTest, Bf16SubnormalDxSurvivesEveryPath) {
  constexpr int64_t kRows = 11;
  for (Norm norm : kNorms) {
    const bool ln = norm == Norm::kLayerNorm;
    for (bool affine : {false, true}) {
      for (int64_t cols : {int64_t{128}, int64_t{768}, int64_t{1376}, int64_t{2048},
                           int64_t{4096}}) {
        BwdCase run(MakeBwdProblem(norm, kRows, cols, DType::kBF16, Distribution::kNormal, affine),
                    /*reference=*/false);
        uint16_t* x = run.inputs.get<uint16_t>(TensorId::kX);
        uint16_t* dy = run.inputs.get<uint16_t>(TensorId::kDy);
        const float rstd = static_cast<float>(1.0 / std::sqrt(1.0 + run.problem.eps));
        for (int64_t r = 0; r < kRows; ++r) {
          if (ln) run.inputs.get<float>(TensorId::kMean)[r] = 0.0f;
          run.inputs.get<float>(TensorId::kRstd)[r] = rstd;
          for (int64_t c = 0; c < cols; ++c) {
            const size_t i = static_cast<size_t>(r * cols + c);
            x[i] = FloatToBF16(c % 2 == 0 ? 1.0f : -1.0f);
            dy[i] = (c + 5 * r) % 64 == 0
                        ? static_cast<uint16_t>(((c / 64) % 2 == 0 ? 0 : 0x8000) | (4 + (c + r) % 5))
                        : 0;
          }
        }
        if (affine) {
          float* g = run.inputs.get<float>(TensorId::kGamma);
          std::fill(g, g + cols, 1.0f);
        }
        // dx in double: rstd * (dy - c1 - xhat * c0), c1 = mean(dy) (LayerNorm;
        // RMSNorm none), c0 = mean(dy * xhat), xhat = x * rstd (mean 0).
        std::vector<double> want(static_cast<size_t>(kRows * cols));
        for (int64_t r = 0; r < kRows; ++r) {
          double c0 = 0, c1 = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const size_t i = static_cast<size_t>(r * cols + c);
            const double xhat = static_cast<double>(BF16ToFloat(x[i])) * rstd;
            c1 += BF16ToFloat(dy[i]);
            c0 += BF16ToFloat(dy[i]) * xhat;
          }
          c0 /= static_cast<double>(cols);
          c1 = ln ? c1 / static_cast<double>(cols) : 0.0;
          for (int64_t c = 0; c < cols; ++c) {
            const size_t i = static_cast<size_t>(r * cols + c);
            const double xhat = static_cast<double>(BF16ToFloat(x[i])) * rstd;
            want[i] = rstd * (BF16ToFloat(dy[i]) - c1 - xhat * c0);
          }
        }
        for (const char* stream : {"0", "100000000000"}) {
          for (const char* groups : {"fused", "shared_sums"}) {
            for (int threads : {1, 3}) {
              run.Execute("auto", threads, stream, groups);
              const uint16_t* dx = run.outputs.get<uint16_t>(TensorId::kDx);
              for (size_t i = 0; i < want.size(); ++i) {
                const double got = BF16ToFloat(dx[i]);
                ASSERT_TRUE(std::fabs(got - want[i]) <= 0x1p-132 &&
                            (got != 0 || std::fabs(want[i]) < 0x1p-131))
                    << NormName(norm) << (affine ? " affine" : "") << " cols " << cols
                    << " stream_min " << stream << " " << groups << " threads " << threads
                    << " (" << run.details["bwd_groups"] << ") row " << i / cols << " col "
                    << i % cols << ": " << got << " (bits " << dx[i] << "), want " << want[i];
              }
            }
          }
        }
      }
    }
  }
}

// Which path grouped rows take by default (BwdFusedGroups): fused where dx
// is streamed and rows hold a multiple of 32 columns, shared sums where dx
// stays in cache or rows hold another count (4097, 4112), none below the
// groups' width; a bad --tune bwd_groups value is a usage error.
TEST(HighwayBwdGroups, FusedByDefaultWhereDxStreamsOnCacheLines) {
  struct Want {
    int64_t cols;
    const char* stream;
    const char* path;
  };
  for (const Want& w : {Want{4096, "0", "fused"}, Want{1376, "0", "fused"},
                        Want{4096, "100000000000", "shared_sums"},
                        Want{4097, "0", "shared_sums"}, Want{4112, "0", "shared_sums"},
                        Want{1024, "0", "none"}}) {
    BwdCase run(MakeBwdProblem(Norm::kLayerNorm, 5, w.cols, DType::kBF16,
                               Distribution::kNormal, true),
                /*reference=*/false);
    run.Execute("auto", 1, w.stream);
    EXPECT_EQ(run.details.at("bwd_groups"), w.path) << w.cols << " stream_min " << w.stream;
  }
  EXPECT_TRUE(BwdFusedGroups(BwdGroups::kFused, 4096, reinterpret_cast<void*>(64), false));
  EXPECT_FALSE(BwdFusedGroups(BwdGroups::kFused, 4096, reinterpret_cast<void*>(96), true));
  EXPECT_FALSE(BwdFusedGroups(BwdGroups::kSharedSums, 4096, reinterpret_cast<void*>(64), true));
  BwdCase run(MakeBwdProblem(Norm::kRmsNorm, 5, 4096, DType::kF32, Distribution::kNormal, true),
              /*reference=*/false);
  try {
    run.Execute("auto", 1, "", "pairs");
    ADD_FAILURE() << "bwd_groups=pairs was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bwd_groups must be fused or shared_sums, not 'pairs'"),
              std::string::npos)
        << e.what();
  }
}

// Rows go in groups from 24 KiB of gamma and partials (12 bytes a column
// for LayerNorm, 8 for RMSNorm), 16 KiB when dx is streamed: LayerNorm from
// 2048 columns (streamed 1366), RMSNorm from 3072 (streamed 2048); 4096
// columns and more for both, as before 2026-12-05.
TEST(HighwayBwdGroups, FromTwentyFourKiBOfGammaAndPartialsSixteenStreamed) {
  EXPECT_FALSE(BwdGroupsRows(Norm::kLayerNorm, 2047, false));
  EXPECT_TRUE(BwdGroupsRows(Norm::kLayerNorm, 2048, false));
  EXPECT_FALSE(BwdGroupsRows(Norm::kRmsNorm, 3071, false));
  EXPECT_TRUE(BwdGroupsRows(Norm::kRmsNorm, 3072, false));
  EXPECT_FALSE(BwdGroupsRows(Norm::kLayerNorm, 1365, true));
  EXPECT_TRUE(BwdGroupsRows(Norm::kLayerNorm, 1366, true));
  EXPECT_FALSE(BwdGroupsRows(Norm::kRmsNorm, 2047, true));
  EXPECT_TRUE(BwdGroupsRows(Norm::kRmsNorm, 2048, true));
  for (bool stream : {false, true}) {
    EXPECT_TRUE(BwdGroupsRows(Norm::kLayerNorm, 4096, stream));
    EXPECT_TRUE(BwdGroupsRows(Norm::kRmsNorm, 4096, stream));
  }
}

// A row's dx does not depend on the rows computed with it: one kernel call
// over 11 rows (16-bit types: chunked groups of 4, 4 and 3; f32: pairs)
// gives the same dx bits as 11 calls of one row each: at 4111 columns,
// streamed and not, and at the narrowest grouped widths of each norm (with
// a masked tail), streamed (LayerNorm 1367, RMSNorm 2051) and not
// (LayerNorm 2051, RMSNorm 3075).
TEST_P(HighwayBwdTargetTest, GroupedRowsMatchSingleRowCalls) {
  struct Width {
    size_t cols;
    bool stream;
  };
  for (Norm norm : kNorms) {
    const bool ln = norm == Norm::kLayerNorm;
    for (const Width w : {Width{ln ? 1367u : 2051u, true}, Width{ln ? 2051u : 3075u, false},
                          Width{ln ? 2051u : 3075u, true}, Width{4111, false},
                          Width{4111, true}}) {
      const size_t cols = w.cols;
      const bool stream = w.stream;
      ASSERT_TRUE(BwdGroupsRows(norm, static_cast<int64_t>(cols), stream)) << cols;
      for (DType dtype : kDTypes) {
        BwdCase run(MakeBwdProblem(norm, 11, static_cast<int64_t>(cols), dtype,
                                   Distribution::kOffset1e4, true),
                    /*reference=*/false);
        const HwyBwdRowsFn fn = HighwayNormBwdRowsFunction(norm, dtype, 0);
        ASSERT_NE(fn, nullptr);
        const size_t bytes = 11 * cols * DTypeSize(dtype);
        HwyBwdArgs args = run.KernelArgs();
        args.stream = stream;
        std::vector<float> part_g(cols), part_b(cols);
        std::vector<char> together(bytes, 1), alone(bytes, 2);
        args.dx = together.data();
        fn(args, 0, 11, part_g.data(), part_b.data());
        args.dx = alone.data();
        for (int64_t r = 0; r < 11; ++r) fn(args, r, r + 1, part_g.data(), part_b.data());
        EXPECT_EQ(together, alone) << run.problem.ShortName() << (stream ? " streamed" : "");
      }
    }
  }
}

// Short affine rows with the dgamma/dbeta partials in registers
// (BwdRegisterRows: AVX-512, 1 to 8 whole vectors) give the bits of the
// partials in memory: dx and both partials, for rows of every eligible width
// and some that are not, calls of 1 to 70 rows (more than a row block),
// NaN/Inf and constant rows, streamed or not. On targets without the path
// both sides run the same code.
TEST_P(HighwayBwdTargetTest, RegisterPartialsMatchMemoryPartials) {
  const bool avx512 = BwdRegisterRows(GetParam(), 128);
  for (Norm norm : kNorms) {
    const bool ln = norm == Norm::kLayerNorm;
    for (DType dtype : kDTypes) {
      for (int64_t cols : {16, 32, 48, 80, 96, 112, 128, 144, 8, 40}) {
        EXPECT_EQ(BwdRegisterRows(GetParam(), cols), avx512 && cols % 16 == 0 && cols <= 128)
            << cols;
        for (Distribution dist : {Distribution::kNormal, Distribution::kOffset1e4,
                                  Distribution::kSpecial, Distribution::kConstant}) {
          BwdCase run(MakeBwdProblem(norm, 70, cols, dtype, dist, true), /*reference=*/false);
          // Dynamic dispatch: the fixture's target.
          const HwyBwdRowsFn fn = HighwayNormBwdRowsFunction(norm, dtype, 0);
          ASSERT_NE(fn, nullptr);
          HwyBwdArgs args = run.KernelArgs();
          const size_t bytes = static_cast<size_t>(70 * cols) * DTypeSize(dtype);
          for (bool stream : {false, true}) {
            args.stream = stream;
            for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{70}}) {
              // Both dx on cache lines: with another alignment the streamed
              // rows split into other stores, and on the targets without AVX
              // the sign of a NaN may then differ (see DivideByCount).
              HostBuffer dx_reg(bytes), dx_mem(bytes);
              std::memset(dx_reg.data(), 1, bytes);
              std::memset(dx_mem.data(), 2, bytes);
              std::vector<float> g_reg(cols, 3), b_reg(cols, 3), g_mem(cols, 4), b_mem(cols, 4);
              args.register_partials = true;
              args.dx = dx_reg.data();
              fn(args, 70 - n, 70, g_reg.data(), b_reg.data());
              args.register_partials = false;
              args.dx = dx_mem.data();
              fn(args, 70 - n, 70, g_mem.data(), b_mem.data());
              const std::string what = run.problem.ShortName() + " rows " + std::to_string(n) +
                                       (stream ? " streamed" : "");
              const size_t first = static_cast<size_t>((70 - n) * cols) * DTypeSize(dtype);
              EXPECT_EQ(0, std::memcmp(static_cast<char*>(dx_reg.data()) + first,
                                       static_cast<char*>(dx_mem.data()) + first, bytes - first))
                  << what;
              EXPECT_EQ(0, std::memcmp(g_reg.data(), g_mem.data(), cols * sizeof(float))) << what;
              if (ln) {
                EXPECT_EQ(0, std::memcmp(b_reg.data(), b_mem.data(), cols * sizeof(float))) << what;
              }
            }
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
  BwdCase run(MakeBwdProblem(Norm::kLayerNorm, rows, cols, DType::kF32, Distribution::kNormal, true),
              /*reference=*/false);
  float* dy = run.inputs.get<float>(TensorId::kDy);
  std::fill(dy, dy + rows * cols, 0.1f);
  run.Execute("auto", 0);
  const float* dbeta = run.outputs.get<float>(TensorId::kDbeta);
  const double want = static_cast<double>(rows) * static_cast<double>(0.1f);
  for (int64_t j = 0; j < cols; ++j) EXPECT_LE(std::fabs(dbeta[j] - want), 16 * kEpsF32 * want) << j;
}

// ------------------------------------------------------------------ backend

// Backward is supported for both norms; Details name the row block of the
// dgamma/dbeta partials (a function of the row count only).
TEST(HighwayBwdBackendTest, SupportedAndDescribed) {
  for (Norm norm : kNorms) {
    BwdCase run(MakeBwdProblem(norm, 1100, 40, DType::kBF16, Distribution::kNormal, true));
    run.Execute("auto", 2);
    EXPECT_EQ(run.details.at("dgamma_row_block"), "64");
    EXPECT_TRUE(run.Check().passed);
    CaseOptions options;
    options.variant = "nosuch";
    EXPECT_FALSE(Highway().Supports(run.problem, options).ok);
  }
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

// What FakeRows saw: a partial off a cache line, or dbeta's overlapping
// dgamma's.
std::atomic<int> g_misplaced_partials{0};

// A rows function standing in for the kernels: dgamma's partial counts the
// rows, dbeta's adds 2 per row plus the column mod 3 once per call.
void FakeRows(const HwyBwdArgs& args, int64_t begin, int64_t end, float* dgamma_part,
              float* dbeta_part) {
  const auto cols = static_cast<size_t>(args.cols);
  const auto on_line = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; };
  if (!on_line(dgamma_part) || !on_line(dbeta_part) || dbeta_part < dgamma_part + cols) {
    g_misplaced_partials.fetch_add(1);
  }
  for (size_t i = 0; i < cols; ++i) {
    dgamma_part[i] = static_cast<float>(end - begin);
    dbeta_part[i] = static_cast<float>(2 * (end - begin)) + static_cast<float>(i % 3);
  }
}

// The partials handed to the kernels start on cache lines, dbeta's after
// dgamma's (a vector of partials straddling two lines was measured to cost
// bf16 rows of 1024 columns a third of their speed), for widths that are and
// are not whole lines, and the merged sums come out of the right places.
TEST(HighwayBwdMergeTest, PartialsStartOnCacheLines) {
  std::vector<float> gamma(1000, 1.0f);
  for (const int64_t cols : {int64_t{1}, int64_t{16}, int64_t{37}, int64_t{1000}}) {
    for (const int threads : {1, 2}) {
      HwyBwdArgs args;
      args.gamma = gamma.data();
      args.rows = 300;
      args.cols = cols;
      g_misplaced_partials.store(0);
      HwyBwdRunner runner(args, &FakeRows, /*has_dbeta=*/true);
      ThreadPool pool(threads);
      std::vector<float> dgamma(static_cast<size_t>(cols), -1.0f);
      std::vector<float> dbeta(static_cast<size_t>(cols), -1.0f);
      for (int run = 0; run < 2; ++run) {  // the second run reuses the buffers
        runner.Run(pool, dgamma.data(), dbeta.data());
        EXPECT_EQ(g_misplaced_partials.load(), 0) << cols << " columns, " << threads << " threads";
        const int64_t blocks = (args.rows + BwdRowBlock(args.rows) - 1) / BwdRowBlock(args.rows);
        for (size_t i = 0; i < static_cast<size_t>(cols); ++i) {
          ASSERT_EQ(dgamma[i], 300.0f) << cols << " columns, column " << i;
          ASSERT_EQ(dbeta[i], 600.0f + static_cast<float>(blocks * static_cast<int64_t>(i % 3)))
              << cols << " columns, column " << i;
        }
      }
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
