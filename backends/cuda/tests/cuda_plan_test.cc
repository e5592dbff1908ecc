// The CUDA backend's host logic, which runs without a GPU: the dispatcher's
// choices, every variant's limits and launch shapes, the alignment rule for
// 16-byte loads, the backward plans (dx kernel, dgamma tree, workspace), and
// what the backend says on a machine without a device.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/backward_kernels.h"
#include "backends/cuda/backward_plan.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cuda/layernorm_kernels.h"
#include "backends/cuda/layernorm_plan.h"
#include "app/gpu_select.h"
#include "app/registry.h"
#include "tests/support/host_case.h"
#include "core/errors.h"

namespace lnbench {
namespace {

PlanQuery Query(int64_t rows, int64_t cols, DType dtype, int cc_major = 9) {
  PlanQuery q;
  q.rows = rows;
  q.cols = cols;
  q.dtype = dtype;
  q.vector_ok = (cols * static_cast<int64_t>(DTypeSize(dtype))) % 16 == 0;
  q.cc_major = cc_major;
  return q;
}

// Returns the plan "auto" picks; fails the test when it refuses.
LaunchPlan Auto(int64_t rows, int64_t cols, DType dtype, int cc_major = 9) {
  const PlanResult r = PlanLayerNorm("", Query(rows, cols, dtype, cc_major));
  EXPECT_TRUE(r.verdict.ok) << r.verdict.reason;
  return r.plan;
}

BackwardQuery BwdQuery(int64_t rows, int64_t cols, DType dtype, bool affine = true,
                       Norm norm = Norm::kLayerNorm) {
  BackwardQuery q;
  q.shape = Query(rows, cols, dtype);
  q.affine = affine;
  q.param_tensors = norm == Norm::kRmsNorm ? 1 : 2;
  return q;
}

// Returns the backward plan of `variant`; fails the test when it refuses.
BackwardPlan Bwd(const std::string& variant, const BackwardQuery& q) {
  const BackwardPlanResult r = PlanBackward(variant, q);
  EXPECT_TRUE(r.verdict.ok) << r.verdict.reason;
  return r.plan;
}

TEST(CudaPlanTest, VariantsListAutoFirstAndUniqueNames) {
  const auto& variants = CudaVariants();
  ASSERT_GE(variants.size(), 5u);
  EXPECT_STREQ(variants[0].name, "auto");
  std::set<std::string> names;
  for (const CudaVariant& v : variants) {
    EXPECT_TRUE(names.insert(v.name).second) << v.name;
    EXPECT_GT(std::string(v.description).size(), 10u) << v.name;
  }
  for (const char* name : {"warp", "block", "cluster", "splitrow"})
    EXPECT_EQ(names.count(name), 1u);
}

TEST(CudaPlanTest, AutoPicksWarpForSmallRows) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t h : {1, 3, 128, 257, 768, 1023, 1024}) {
      const LaunchPlan p = Auto(4096, h, dt);
      EXPECT_EQ(p.variant, "warp") << h;
      EXPECT_EQ(p.kind, KernelKind::kWarp);
    }
  // Lanes per row follow the row: about two loads per lane.
  EXPECT_EQ(Auto(10, 1, DType::kF32).lanes_per_row, 1);
  EXPECT_EQ(Auto(10, 128, DType::kF32).lanes_per_row, 16);  // 32 loads of 4 floats
  EXPECT_EQ(Auto(10, 128, DType::kBF16).lanes_per_row, 8);  // 16 loads of 8 bf16
  EXPECT_EQ(Auto(10, 256, DType::kF32).lanes_per_row, 32);
  const LaunchPlan big = Auto(10, 1024, DType::kF32);
  EXPECT_EQ(big.lanes_per_row, 32);
  EXPECT_EQ(big.vecs_per_thread, 8);  // 32 floats per lane: the register budget
  // Grid: 256 threads hold 256 / lanes rows.
  EXPECT_EQ(Auto(1000, 128, DType::kF32).grid, (1000 + 15) / 16);
}

TEST(CudaPlanTest, AutoPicksBlockForMediumRows) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t h : {1025, 1536, 2041, 4096, 5120, 8192, 12288, 16384}) {
      const LaunchPlan p = Auto(64, h, dt);
      EXPECT_EQ(p.variant, "block") << h << " " << DTypeName(dt);
      EXPECT_EQ(p.grid, 64);
      EXPECT_LE(p.threads, 512) << h;
    }
  const LaunchPlan p = Auto(64, 4096, DType::kF32);
  EXPECT_TRUE(p.vectorized);
  EXPECT_EQ(p.threads, 256);  // 1024 loads, 4 per thread
  EXPECT_EQ(p.vecs_per_thread, 4);
}

TEST(CudaPlanTest, AutoUsesClustersOnHopperOnly) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t h : {16385, 32768, 65536, 131072, 262144}) {
      // A whole-block row up to 32768 even on Hopper (measured faster than a cluster).
      EXPECT_EQ(Auto(8, h, dt, 9).variant, h <= 32768 ? "block" : "cluster") << h << " " << DTypeName(dt);
      const std::string ampere = Auto(8, h, dt, 8).variant;
      EXPECT_EQ(ampere, h <= 32768 ? "block" : "splitrow") << h;
    }
  const LaunchPlan p = Auto(8, 131072, DType::kF32, 9);
  EXPECT_EQ(p.blocks_per_row, 8);
  EXPECT_EQ(p.grid, 64);
  EXPECT_EQ(p.threads, 512);
  EXPECT_EQ(Auto(8, 65536, DType::kBF16, 9).blocks_per_row, 8);
  EXPECT_EQ(Auto(8, 65536, DType::kF32, 9).blocks_per_row, 8);
  EXPECT_EQ(Auto(8, 32768, DType::kF32, 9).threads, 1024);
}

TEST(CudaPlanTest, AutoSplitsHugeRows) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    const LaunchPlan p = Auto(3, 1 << 20, dt);
    EXPECT_EQ(p.variant, "splitrow");
    EXPECT_EQ(p.blocks_per_row, 64);  // chunks of 512 threads x 32 floats
    EXPECT_EQ(p.grid, 3 * 64);
    EXPECT_EQ(p.WorkspaceBytes(3), 3u * 64 * 16);
  }
  EXPECT_EQ(Auto(1, 262145, DType::kF32).variant, "splitrow");
}

TEST(CudaPlanTest, VectorizationFollowsRowAlignment) {
  EXPECT_TRUE(Auto(4, 1028, DType::kF32).vectorized);    // 4112 bytes: a multiple of 16
  EXPECT_FALSE(Auto(4, 1028, DType::kBF16).vectorized);  // 2056 bytes: rows misaligned
  EXPECT_FALSE(Auto(4, 257, DType::kF32).vectorized);
  EXPECT_TRUE(Auto(4, 4096, DType::kF16).vectorized);
  const LaunchPlan v = Auto(4, 4096, DType::kF16);
  EXPECT_EQ(v.vec_elems, 8);
  EXPECT_EQ(v.slots, 4);
  const LaunchPlan s = Auto(4, 4095, DType::kF16);
  EXPECT_EQ(s.vec_elems, 1);
  EXPECT_EQ(s.slots, 32);
}

TEST(CudaPlanTest, ForcedVariantsStateTheirLimits) {
  PlanResult r = PlanLayerNorm("warp", Query(1, 1025, DType::kF32));
  EXPECT_FALSE(r.verdict.ok);
  EXPECT_NE(r.verdict.reason.find("warp"), std::string::npos) << r.verdict.reason;
  EXPECT_TRUE(PlanLayerNorm("block", Query(1, 32768, DType::kF32)).verdict.ok);
  EXPECT_TRUE(PlanLayerNorm("block", Query(1, 32767, DType::kBF16)).verdict.ok);
  EXPECT_FALSE(PlanLayerNorm("block", Query(1, 32769, DType::kF32)).verdict.ok);
  r = PlanLayerNorm("cluster", Query(1, 4096, DType::kF32, 8));
  EXPECT_FALSE(r.verdict.ok);
  EXPECT_NE(r.verdict.reason.find("sm_90"), std::string::npos) << r.verdict.reason;
  EXPECT_TRUE(PlanLayerNorm("cluster", Query(1, 262144, DType::kF32)).verdict.ok);
  EXPECT_FALSE(PlanLayerNorm("cluster", Query(1, 262145, DType::kF32)).verdict.ok);
  EXPECT_TRUE(PlanLayerNorm("splitrow", Query(1, int64_t{1} << 26, DType::kF32)).verdict.ok);
  r = PlanLayerNorm("nonsense", Query(1, 16, DType::kF32));
  EXPECT_FALSE(r.verdict.ok);
  EXPECT_NE(r.verdict.reason.find("unknown variant 'nonsense'"), std::string::npos);
  EXPECT_NE(r.verdict.reason.find("splitrow"), std::string::npos);
  EXPECT_FALSE(PlanLayerNorm("", Query(1, 0, DType::kF32)).verdict.ok);
}

TEST(CudaPlanTest, EmptyProblemsHaveNoGrid) {
  for (const CudaVariant& v : CudaVariants()) {
    const PlanResult r = v.plan(Query(0, 768, DType::kF32));
    ASSERT_TRUE(r.verdict.ok) << v.name;
    EXPECT_EQ(r.plan.grid, 0) << v.name;
  }
}

// Every plan every variant accepts fits the kernels' assumptions: a block's
// threads are whole warps, each thread holds at most its register slots, the
// blocks of a row cover it and each holds part of it.
TEST(CudaPlanTest, EveryAcceptedPlanIsConsistent) {
  std::vector<int64_t> cols;
  for (int64_t h = 1; h <= 70; ++h) cols.push_back(h);
  for (int64_t base : {127, 255, 511, 1023, 2047, 4095, 8191, 16383, 32767, 65535, 131071, 262143,
                       524287, 1048575})
    for (int64_t d = 0; d <= 3; ++d) cols.push_back(base + d);
  for (int64_t h : {768, 1536, 5120, 12288, 100003, 1 << 22}) cols.push_back(h);
  int accepted = 0;
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (int cc : {8, 9})
      for (int64_t h : cols)
        for (const CudaVariant& v : CudaVariants()) {
          const PlanQuery q = Query(5, h, dt, cc);
          const PlanResult r = v.plan(q);
          if (!r.verdict.ok) {
            EXPECT_FALSE(r.verdict.reason.empty());
            continue;
          }
          ++accepted;
          const LaunchPlan& p = r.plan;
          const std::string where = std::string(v.name) + " H=" + std::to_string(h) + " " +
                                    std::string(DTypeName(dt)) + " sm_" + std::to_string(cc);
          const int64_t loads = p.vectorized ? h / p.vec_elems : h;
          ASSERT_EQ(p.vec_elems * p.slots, kRowRegisterFloats) << where;
          if (p.vectorized) ASSERT_EQ(h % p.vec_elems, 0) << where;
          ASSERT_GT(p.threads, 0) << where;
          ASSERT_EQ(p.threads % 32, 0) << where;
          ASSERT_LE(p.threads, 1024) << where;
          ASSERT_GE(p.vecs_per_thread, 1) << where;
          ASSERT_LE(p.vecs_per_thread, p.slots) << where;
          if (p.kind == KernelKind::kWarp) {
            ASSERT_GE(p.lanes_per_row, 1) << where;
            ASSERT_LE(p.lanes_per_row, 32) << where;
            ASSERT_EQ(p.lanes_per_row & (p.lanes_per_row - 1), 0) << where;
            ASSERT_LE(loads, int64_t{p.lanes_per_row} * p.slots) << where;
            ASSERT_EQ(p.grid, (5 + 256 / p.lanes_per_row - 1) / (256 / p.lanes_per_row)) << where;
          } else {
            ASSERT_GE(int64_t{p.blocks_per_row} * p.vecs_per_block, loads) << where;
            ASSERT_LT(int64_t{p.blocks_per_row - 1} * p.vecs_per_block, loads) << where;
            ASSERT_GE(int64_t{p.threads} * p.slots, p.vecs_per_block) << where;
            ASSERT_EQ(p.grid, 5 * p.blocks_per_row) << where;
          }
          if (p.kind == KernelKind::kBlock) ASSERT_EQ(p.blocks_per_row, 1) << where;
          if (p.kind == KernelKind::kCluster) {
            ASSERT_EQ(cc, 9) << where;
            ASSERT_LE(p.blocks_per_row, kMaxClusterBlocks) << where;
          }
          // auto resolves to a concrete variant that accepts the same problem.
          if (std::string(v.name) == "auto") {
            ASSERT_NE(p.variant, "auto");
            ASSERT_TRUE(PlanLayerNorm(p.variant, q).verdict.ok) << where;
          }
        }
  EXPECT_GT(accepted, 1000);
}

// The coverage cases (run by the default `lnbench verify`) reach every kernel
// kind, each with 16-byte loads and on the element path, on sm_90 and sm_80.
TEST(CudaPlanTest, CoverageCasesReachEveryKernelPath) {
  std::set<std::pair<int, bool>> reached;
  for (const CoverageCase& c : CudaCoverageCases()) {
    EXPECT_FALSE(c.path.empty());
    EXPECT_LE(c.rows * c.cols, 1 << 20) << c.path << ": keep coverage cases small";
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      for (int cc : {8, 9}) {
        PlanQuery q;
        q.rows = c.rows;
        q.cols = c.cols;
        q.dtype = dtype;
        q.vector_ok = c.cols * static_cast<int64_t>(DTypeSize(dtype)) % 16 == 0;
        q.cc_major = cc;
        for (const CudaVariant& v : CudaVariants()) {
          const PlanResult r = PlanLayerNorm(v.name, q);
          if (r.verdict.ok) reached.insert({static_cast<int>(r.plan.kind), r.plan.vectorized});
        }
        const PlanResult a = PlanLayerNorm("auto", q);
        ASSERT_TRUE(a.verdict.ok) << c.path;
      }
  }
  for (KernelKind kind : {KernelKind::kWarp, KernelKind::kBlock, KernelKind::kCluster,
                          KernelKind::kSplitRow})
    for (bool vec : {true, false})
      EXPECT_TRUE(reached.count({static_cast<int>(kind), vec}))
          << "kind " << static_cast<int>(kind) << (vec ? " vectorized" : " element path");
  // Several rows per warp and a split row of several chunks are among them.
  bool sub_warp = false, chunks = false;
  for (const CoverageCase& c : CudaCoverageCases()) {
    PlanQuery q;
    q.rows = c.rows;
    q.cols = c.cols;
    q.vector_ok = c.cols % 4 == 0;
    const PlanResult w = PlanLayerNorm("warp", q);
    sub_warp |= w.verdict.ok && w.plan.lanes_per_row < 32;
    const PlanResult s = PlanLayerNorm("splitrow", q);
    chunks |= s.verdict.ok && s.plan.blocks_per_row >= 3;
  }
  EXPECT_TRUE(sub_warp);
  EXPECT_TRUE(chunks);
}

// The same coverage cases reach every backward path: warp and block, rows
// held in registers (fused with level 0) and read twice (a separate level 0),
// 16-byte and element loads, and dgamma trees of one to three levels, fused
// and not.
TEST(CudaBackwardPlanTest, CoverageCasesReachEveryBackwardPath) {
  std::set<std::tuple<int, bool, bool>> reached;  // kind, vectorized, read twice
  std::set<std::tuple<int, bool>> fused;          // kind, fused
  std::set<std::tuple<size_t, bool>> tree_levels;  // levels, fused
  for (const CoverageCase& c : CudaCoverageCases())
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      for (const char* variant : {"auto", "warp", "block"}) {
        const BackwardPlanResult r = PlanBackward(variant, BwdQuery(c.rows, c.cols, dtype));
        ASSERT_TRUE(r.verdict.ok) << c.path << ": " << r.verdict.reason;
        reached.insert({static_cast<int>(r.plan.kind), r.plan.vectorized,
                        r.plan.loads_per_thread > r.plan.slots});
        fused.insert({static_cast<int>(r.plan.kind), r.plan.fused});
        EXPECT_EQ(r.plan.fused, r.plan.loads_per_thread <= r.plan.slots) << c.path;
        tree_levels.insert({r.plan.levels.size(), r.plan.fused});
      }
  for (KernelKind kind : {KernelKind::kWarp, KernelKind::kBlock}) {
    for (bool vec : {true, false})
      for (bool twice : {true, false})
        EXPECT_TRUE(reached.count({static_cast<int>(kind), vec, twice}))
            << "kind " << static_cast<int>(kind) << (vec ? " vectorized" : " element path")
            << (twice ? " read twice" : " held");
    for (bool f : {true, false})
      EXPECT_TRUE(fused.count({static_cast<int>(kind), f}))
          << "kind " << static_cast<int>(kind) << (f ? " fused" : " unfused");
  }
  for (bool f : {true, false}) {
    EXPECT_TRUE(tree_levels.count({1, f})) << f;
    EXPECT_TRUE(tree_levels.count({2, f}) || tree_levels.count({3, f})) << f;
  }
  EXPECT_TRUE(tree_levels.count({3, true}));
}

TEST(CudaPlanTest, VectorLoadsNeedAlignedRowsAndPointers) {
  alignas(16) static float buffer[64];
  const float* a = buffer;
  const float* off = buffer + 1;
  EXPECT_TRUE(VectorLoadsAllowed(DType::kF32, 8, a, a, a, a));
  EXPECT_TRUE(VectorLoadsAllowed(DType::kF32, 8, a, a, nullptr, nullptr));
  EXPECT_FALSE(VectorLoadsAllowed(DType::kF32, 6, a, a, a, a));    // 24-byte rows
  EXPECT_FALSE(VectorLoadsAllowed(DType::kBF16, 12, a, a, a, a));  // 24-byte rows
  EXPECT_TRUE(VectorLoadsAllowed(DType::kBF16, 16, a, a, a, a));
  EXPECT_FALSE(VectorLoadsAllowed(DType::kF32, 8, off, a, a, a));
  EXPECT_FALSE(VectorLoadsAllowed(DType::kF32, 8, a, off, a, a));
  EXPECT_FALSE(VectorLoadsAllowed(DType::kF32, 8, a, a, off, a));
  EXPECT_FALSE(VectorLoadsAllowed(DType::kF32, 8, a, a, a, off));
}

// The launcher refuses a vectorized plan on misaligned pointers before any
// CUDA call, so this runs without a GPU.
TEST(CudaPlanTest, LauncherRejectsMisalignedVectorPlan) {
  const LaunchPlan plan = Auto(2, 1024, DType::kF32);
  ASSERT_TRUE(plan.vectorized);
  alignas(16) static float buffer[64];
  LayerNormArgs args;
  args.x = buffer + 1;
  args.y = buffer;
  args.rows = 2;
  args.cols = 1024;
  EXPECT_THROW(LaunchLayerNorm(plan, DType::kF32, args, nullptr), RuntimeError);
}

// The launcher refuses the pointers RMSNorm does not take (beta, mean),
// before any CUDA call.
TEST(CudaPlanTest, RmsLauncherRefusesBetaAndMean) {
  LaunchPlan plan;
  plan.grid = 1;
  LayerNormArgs args;
  args.norm = Norm::kRmsNorm;
  args.rows = 1;
  float dummy[4] = {};
  args.beta = dummy;
  EXPECT_THROW(LaunchLayerNorm(plan, DType::kF32, args, nullptr), RuntimeError);
  args.beta = nullptr;
  args.mean = dummy;
  EXPECT_THROW(LaunchLayerNorm(plan, DType::kF32, args, nullptr), RuntimeError);
}

TEST(CudaPlanTest, DescribeNamesTheLaunch) {
  const std::string d = Auto(8, 131072, DType::kF32, 9).Describe();
  EXPECT_NE(d.find("kernel=cluster"), std::string::npos) << d;
  EXPECT_NE(d.find("cluster=8"), std::string::npos) << d;
  EXPECT_NE(d.find("load=16B"), std::string::npos) << d;
  EXPECT_NE(Auto(8, 257, DType::kF32).Describe().find("load=element"), std::string::npos);
}

// auto: a warp while 32 lanes keep the row in registers (16 floats of x and
// of dy each: H <= 512 for every dtype), a block beyond.
TEST(CudaBackwardPlanTest, AutoPicksWarpWhileAWarpHoldsTheRow) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t h : {1, 3, 64, 257, 511, 512})
      EXPECT_EQ(Bwd("auto", BwdQuery(100, h, dt)).variant, "warp") << h;
    for (int64_t h : {513, 1024, 4096, 65536, 1000003})
      EXPECT_EQ(Bwd("auto", BwdQuery(100, h, dt)).variant, "block") << h;
  }
  EXPECT_EQ(Bwd("", BwdQuery(1, 64, DType::kF32)).variant, "warp");
  // Lanes, unfused (no affine): at least one load each, up to 32; fused: as
  // few as hold the row in registers.
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 1, DType::kF32, false)).lanes_per_row, 1);
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 64, DType::kF32, false)).lanes_per_row, 16);  // 16 loads of 4
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 257, DType::kF32, false)).lanes_per_row, 32);  // element path
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 1, DType::kF32)).lanes_per_row, 1);
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 64, DType::kF32)).lanes_per_row, 4);   // 4 loads each
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 257, DType::kF32)).lanes_per_row, 32);  // 16 elements each
  EXPECT_EQ(Bwd("warp", BwdQuery(10, 128, DType::kBF16)).lanes_per_row, 8);  // 2 loads of 8
  // Unfused, 256 / lanes rows per block and a load per lane; fused, a part
  // of 8-64 rows (here 8) and full registers.
  BackwardQuery unfused = BwdQuery(1000, 64, DType::kF32);
  unfused.part_rows = kPartRowsUnfused;
  EXPECT_EQ(Bwd("warp", unfused).grid, (1000 + 15) / 16);
  EXPECT_EQ(Bwd("warp", unfused).threads, 256);
  const BackwardPlan fused = Bwd("warp", BwdQuery(1000, 64, DType::kF32));
  EXPECT_TRUE(fused.fused);
  EXPECT_EQ(fused.part_rows, 8);
  EXPECT_EQ(fused.lanes_per_row, 4);  // fused: as few lanes as hold the row (4 loads each)
  EXPECT_EQ(fused.loads_per_thread, 4);
  EXPECT_EQ(fused.threads, 32);  // 8 rows of 4 lanes
  EXPECT_EQ(fused.grid, (1000 + 7) / 8);
  // A fused warp block is at least a warp: 32 rows of one lane.
  EXPECT_EQ(Bwd("warp", BwdQuery(1000, 1, DType::kF32)).part_rows, 32);
  EXPECT_EQ(Bwd("warp", BwdQuery(1000, 1, DType::kF32)).threads, 32);
  // Block threads keep up to 16 floats each, 64 to 512 threads.
  EXPECT_EQ(Bwd("block", BwdQuery(3, 1024, DType::kF32)).threads, 64);
  EXPECT_EQ(Bwd("block", BwdQuery(3, 8192, DType::kF32)).threads, 512);
  EXPECT_EQ(Bwd("block", BwdQuery(3, 8192, DType::kF32)).loads_per_thread, 4);
  EXPECT_EQ(Bwd("block", BwdQuery(3, 65536, DType::kF32)).loads_per_thread, 32);  // read twice
  EXPECT_EQ(Bwd("block", BwdQuery(3, 65536, DType::kF32)).grid, 3);
}

// Every load of a row is handled by exactly one thread, for every shape.
TEST(CudaBackwardPlanTest, EveryPlanCoversItsRow) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (int64_t h : {1, 2, 7, 8, 63, 64, 65, 100, 511, 512, 513, 1000, 4097, 8192, 8193, 40000}) {
      for (const char* variant : {"auto", "warp", "block"}) {
        const BackwardPlan p = Bwd(variant, BwdQuery(37, h, dt));
        const int64_t loads = p.vectorized ? h / p.vec_elems : h;
        EXPECT_EQ(p.vectorized, (h * static_cast<int64_t>(DTypeSize(dt))) % 16 == 0) << h;
        EXPECT_EQ(p.slots * p.vec_elems, kBackwardRowFloats);
        const int64_t per = p.kind == KernelKind::kWarp ? p.lanes_per_row : p.threads;
        EXPECT_GE(per * p.loads_per_thread, loads) << variant << " " << h;
        EXPECT_LT(per * (p.loads_per_thread - 1), loads) << variant << " " << h;
        // Fused exactly when the row fits in the registers (affine, rows > 0).
        EXPECT_EQ(p.fused, p.loads_per_thread <= p.slots) << variant << " " << h;
        const bool warp = p.kind == KernelKind::kWarp;
        int64_t rows_per_block = warp ? kWarpKernelThreads / p.lanes_per_row : 1;
        if (p.fused) {
          rows_per_block = p.part_rows;
          EXPECT_EQ(p.part_rows, warp ? std::max(8, 32 / p.lanes_per_row) : 8);
          if (p.kind == KernelKind::kWarp)
            EXPECT_EQ(p.threads, std::min(kWarpKernelThreads, p.part_rows * p.lanes_per_row));
        }
        EXPECT_EQ(p.grid, (37 + rows_per_block - 1) / rows_per_block) << variant << " " << h;
        if (p.kind == KernelKind::kBlock) {
          EXPECT_LE(p.threads, kBackwardBlockThreads);
          EXPECT_EQ(p.threads % 32, 0);
        }
      }
    }
}

// Rows per fused part: 64 while N leaves 128 parts of 64, halving down to 8.
TEST(CudaBackwardPlanTest, PartRowsKeepTheGridWide) {
  EXPECT_EQ(PartRowsFor(0), 8);
  EXPECT_EQ(PartRowsFor(1024), 8);
  EXPECT_EQ(PartRowsFor(2048), 16);
  EXPECT_EQ(PartRowsFor(4096), 32);
  EXPECT_EQ(PartRowsFor(8191), 32);
  EXPECT_EQ(PartRowsFor(8192), 64);
  EXPECT_EQ(PartRowsFor(int64_t{1} << 40), 64);
  EXPECT_EQ(ParsePartRows(nullptr), kPartRowsAuto);
  EXPECT_EQ(ParsePartRows(""), kPartRowsAuto);
  EXPECT_EQ(ParsePartRows("auto"), kPartRowsAuto);
  EXPECT_EQ(ParsePartRows("off"), kPartRowsUnfused);
  EXPECT_EQ(ParsePartRows("1"), 1);
  EXPECT_EQ(ParsePartRows("64"), 64);
  for (const char* bad : {"0", "3", "128", "-8", "8 ", "x", "99999999999999999999"}) {
    try {
      ParsePartRows(bad);
      ADD_FAILURE() << bad;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("LNBENCH_CUDA_BWD_PART_ROWS"), std::string::npos);
    }
  }
  EXPECT_TRUE(ParsePrefetch(nullptr));
  EXPECT_TRUE(ParsePrefetch("on"));
  EXPECT_FALSE(ParsePrefetch("off"));
  EXPECT_THROW(ParsePrefetch("1"), UsageError);
  BackwardQuery no_prefetch = BwdQuery(100, 1024, DType::kF32);
  no_prefetch.prefetch = false;
  EXPECT_FALSE(Bwd("block", no_prefetch).prefetch);
  EXPECT_TRUE(Bwd("block", BwdQuery(100, 1024, DType::kF32)).prefetch);
  // A query with a bad value is refused; off and explicit sizes plan as asked.
  BackwardQuery q = BwdQuery(100, 1024, DType::kF32);
  q.part_rows = 3;
  EXPECT_FALSE(PlanBackward("auto", q).verdict.ok);
  q.part_rows = kPartRowsUnfused;
  EXPECT_FALSE(Bwd("block", q).fused);
  q.part_rows = 1;
  EXPECT_EQ(Bwd("block", q).grid, 100);
  EXPECT_EQ(Bwd("block", q).levels[0].outputs, 100);
  // Without affine there is no tree to fuse.
  EXPECT_FALSE(Bwd("block", BwdQuery(100, 1024, DType::kF32, false)).fused);
  // Zero rows: the separate level 0 writes the zeros.
  EXPECT_FALSE(Bwd("block", BwdQuery(0, 1024, DType::kF32)).fused);
}

// The dgamma tree: blocks of 64 rows, then of 64 partials, until one; the
// halves alternate and the last level writes the outputs; the workspace holds
// the partials of both halves for every tensor of the norm.
TEST(CudaBackwardPlanTest, ParameterTreeShapeAndWorkspace) {
  struct Case {
    int64_t rows;
    std::vector<int64_t> inputs;
  };
  for (const Case& c : {Case{0, {0}}, Case{1, {1}}, Case{64, {64}}, Case{65, {65, 2}},
                        Case{4096, {4096, 64}}, Case{4097, {4097, 65, 2}},
                        Case{1 << 20, {1 << 20, 16384, 256, 4}}}) {
    for (Norm norm : AllNorms()) {
      BackwardQuery q = BwdQuery(c.rows, 300, DType::kF32, true, norm);
      q.part_rows = kPartRowsUnfused;
      const BackwardPlan p = Bwd("auto", q);
      ASSERT_EQ(p.levels.size(), c.inputs.size()) << c.rows << " " << p.Describe();
      EXPECT_EQ(p.param_tensors, norm == Norm::kRmsNorm ? 1 : 2);
      EXPECT_EQ(p.param_threads, 256);
      EXPECT_EQ(p.col_tiles, 2);
      int64_t a = 0, b = 0;
      for (size_t i = 0; i < p.levels.size(); ++i) {
        const BackwardParamLevel& l = p.levels[i];
        EXPECT_EQ(l.inputs, c.inputs[i]);
        EXPECT_EQ(l.fan_in, 64);
        EXPECT_EQ(l.outputs, std::max<int64_t>(1, (l.inputs + 63) / 64));
        EXPECT_EQ(l.grid, l.outputs * p.col_tiles);
        EXPECT_EQ(l.src, i == 0 ? -1 : p.levels[i - 1].dst);
        EXPECT_EQ(l.dst == -1, i + 1 == p.levels.size());
        // -1 is x/dy as a source and the outputs as a destination.
        if (l.src >= 0) EXPECT_NE(l.src, l.dst);
        if (l.dst == 0) a = std::max(a, l.outputs);
        if (l.dst == 1) b = std::max(b, l.outputs);
      }
      EXPECT_EQ(p.half_a, a);
      EXPECT_EQ(p.half_b, b);
      EXPECT_EQ(p.WorkspaceBytes(300), static_cast<uint64_t>(a + b) * 300 * p.param_tensors * 4);
      // Halves and tensors do not overlap.
      if (a > 0 && p.param_tensors == 2) EXPECT_EQ(p.HalfOffset(0, 1, 300), uint64_t(a) * 300);
      if (b > 0) EXPECT_EQ(p.HalfOffset(1, 0, 300), uint64_t(a) * 300 * p.param_tensors);
    }
  }
  // Fused: level 0 is the dx kernel's grid, parts of PartRowsFor(N) rows.
  struct FusedCase {
    int64_t rows;
    int part_rows;
    std::vector<int64_t> inputs;
  };
  for (const FusedCase& c : {FusedCase{1, 8, {1}}, FusedCase{8, 8, {8}}, FusedCase{9, 8, {9, 2}},
                             FusedCase{4097, 32, {4097, 129, 3}},
                             FusedCase{1 << 20, 64, {1 << 20, 16384, 256, 4}}}) {
    const BackwardPlan p = Bwd("block", BwdQuery(c.rows, 1024, DType::kF32));
    ASSERT_TRUE(p.fused);
    EXPECT_EQ(p.part_rows, c.part_rows);
    EXPECT_EQ(p.grid, (c.rows + c.part_rows - 1) / c.part_rows);
    ASSERT_EQ(p.levels.size(), c.inputs.size()) << p.Describe();
    EXPECT_EQ(p.levels[0].grid, p.grid);
    EXPECT_EQ(p.levels[0].fan_in, c.part_rows);
    EXPECT_EQ(p.levels[0].outputs, p.grid);
    for (size_t i = 0; i < p.levels.size(); ++i) EXPECT_EQ(p.levels[i].inputs, c.inputs[i]);
    EXPECT_EQ(p.half_a, c.inputs.size() > 1 ? c.inputs[1] : 0);
  }
  // Without affine: no tree, no workspace.
  const BackwardPlan plain = Bwd("auto", BwdQuery(5000, 300, DType::kF32, false));
  EXPECT_TRUE(plain.levels.empty());
  EXPECT_EQ(plain.WorkspaceBytes(300), 0u);
  // Few columns: one warp of columns per block.
  EXPECT_EQ(Bwd("auto", BwdQuery(5, 3, DType::kF32)).param_threads, 32);
  BackwardQuery unfused = BwdQuery(4097, 300, DType::kF32);
  unfused.part_rows = kPartRowsUnfused;
  const std::string d = Bwd("auto", unfused).Describe();
  EXPECT_NE(d.find("dgamma_tree=4097>65>2>1 (fan-in 64"), std::string::npos) << d;
  const std::string f = Bwd("auto", BwdQuery(4097, 300, DType::kF32)).Describe();
  EXPECT_NE(f.find("dgamma_tree=4097>129>3>1 (level 0 fused into dx: 32 rows per part"),
            std::string::npos)
      << f;
}

// cluster and splitrow are forward only; unknown names list the variants.
TEST(CudaBackwardPlanTest, ForwardOnlyVariantsSayNo) {
  for (const char* variant : {"cluster", "splitrow"}) {
    const BackwardPlanResult r = PlanBackward(variant, BwdQuery(2, 64, DType::kF32));
    EXPECT_FALSE(r.verdict.ok);
    EXPECT_EQ(r.verdict.reason,
              std::string(variant) + ": forward only (backward runs as auto, warp or block)");
  }
  const BackwardPlanResult r = PlanBackward("nope", BwdQuery(2, 64, DType::kF32));
  EXPECT_FALSE(r.verdict.ok);
  EXPECT_NE(r.verdict.reason.find("unknown variant 'nope'"), std::string::npos) << r.verdict.reason;
  EXPECT_FALSE(PlanBackward("auto", BwdQuery(2, 0, DType::kF32)).verdict.ok);
  EXPECT_FALSE(PlanBackward("auto", BwdQuery(2, int64_t{1} << 31, DType::kF32)).verdict.ok);
}

// 16-byte loads need x, dy, dx and gamma aligned and rows of a multiple of 16 bytes.
TEST(CudaBackwardPlanTest, VectorLoadsNeedEveryPointerAligned) {
  alignas(16) static float buffer[64];
  EXPECT_TRUE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer, buffer, buffer, buffer));
  EXPECT_TRUE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer, buffer, buffer, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kF32, 6, buffer, buffer, buffer, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kBF16, 4, buffer, buffer, buffer, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer + 1, buffer, buffer, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer, buffer + 1, buffer, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer, buffer, buffer + 1, nullptr));
  EXPECT_FALSE(BackwardVectorLoadsAllowed(DType::kF32, 8, buffer, buffer, buffer, buffer + 1));
}

// The backward launcher refuses wrong arguments before any CUDA call, so
// this runs without a GPU.
TEST(CudaBackwardPlanTest, LauncherRefusesWrongArguments) {
  alignas(16) static float buf[64];
  const BackwardPlan affine = Bwd("auto", BwdQuery(2, 1024, DType::kF32));
  ASSERT_TRUE(affine.vectorized);
  NormBackwardArgs a;
  a.x = buf;
  a.dy = buf;
  a.dx = buf;
  a.gamma = buf;
  a.mean = buf;
  a.rstd = buf;
  a.dgamma = buf;
  a.dbeta = buf;
  a.rows = 2;
  a.cols = 1024;
  NormBackwardArgs bad = a;
  bad.dy = buf + 1;  // misaligned for 16-byte loads
  EXPECT_THROW(LaunchNormBackward(affine, DType::kF32, bad, nullptr), RuntimeError);
  bad = a;
  bad.mean = nullptr;  // LayerNorm needs the saved mean
  EXPECT_THROW(LaunchNormBackward(affine, DType::kF32, bad, nullptr), RuntimeError);
  bad = a;
  bad.dbeta = nullptr;  // gamma without dbeta
  EXPECT_THROW(LaunchNormBackward(affine, DType::kF32, bad, nullptr), RuntimeError);
  bad = a;
  bad.norm = Norm::kRmsNorm;  // RMSNorm has no mean and no dbeta
  EXPECT_THROW(LaunchNormBackward(affine, DType::kF32, bad, nullptr), RuntimeError);
  bad = a;
  bad.gamma = bad.dgamma = bad.dbeta = nullptr;  // the plan has a tree: made for affine
  EXPECT_THROW(LaunchNormBackward(affine, DType::kF32, bad, nullptr), RuntimeError);
  const BackwardPlan tree = Bwd("auto", BwdQuery(100, 1024, DType::kF32));
  ASSERT_GT(tree.WorkspaceBytes(1024), 0u);
  bad = a;
  bad.rows = 100;  // the tree needs its workspace
  EXPECT_THROW(LaunchNormBackward(tree, DType::kF32, bad, nullptr), RuntimeError);
  // Fused plans: the rows they were made for, and 16-byte aligned partials.
  auto refusal = [](const BackwardPlan& plan, const NormBackwardArgs& args) -> std::string {
    try {
      LaunchNormBackward(plan, DType::kF32, args, nullptr);
    } catch (const RuntimeError& e) {
      return e.what();
    }
    return "";
  };
  ASSERT_TRUE(affine.fused);
  bad = a;
  bad.rows = 9;  // a plan of one 8-row part
  EXPECT_NE(refusal(affine, bad).find("another number of rows"), std::string::npos);
  bad = a;
  bad.dgamma = buf + 1;
  EXPECT_NE(refusal(affine, bad).find("16-byte aligned dgamma"), std::string::npos);
  bad = a;
  bad.dbeta = buf + 2;
  EXPECT_NE(refusal(affine, bad).find("16-byte aligned dgamma"), std::string::npos);
}

// Backward is supported for both norms: without a device the only no is the
// device's; Prepare refuses for want of a device (a runtime error), and a
// forward-only variant is the user's request once a device is there.
TEST(CudaBackendHostTest, BackwardIsSupportedButNeedsADevice) {
  Backend* cuda = FindBackend("cuda");
  ASSERT_NE(cuda, nullptr);
  const Verdict available = cuda->Available();
  if (available.ok) GTEST_SKIP() << "a CUDA device is present";
  for (Norm norm : AllNorms()) {
    Problem p;
    p.norm = norm;
    p.dir = Direction::kBackward;
    p.rows = 2;
    p.cols = 64;
    const Verdict v = cuda->Supports(p, CaseOptions{});
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.reason, available.reason);
    float x[128] = {};
    EXPECT_THROW(cuda->Prepare(p, test_support::LnIn(x), CaseOptions{}), RuntimeError);
  }
}

// Without a device the backend is registered but says why it cannot run.
TEST(CudaBackendHostTest, RegisteredAndExplainsAvailability) {
  Backend* cuda = FindBackend("cuda");
  ASSERT_NE(cuda, nullptr);
  EXPECT_EQ(cuda->DeviceId(), "cuda:0");
  ASSERT_FALSE(cuda->Variants().empty());
  EXPECT_EQ(cuda->Variants()[0].name, "auto");
  int count = 0;
  const bool have_device = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  cudaGetLastError();
  const Verdict v = cuda->Available();
  if (have_device) {
    GTEST_SKIP() << "a CUDA device is present (" << (v.ok ? "available" : v.reason) << ")";
  }
  EXPECT_FALSE(v.ok);
  // Without a GPU the reason says so plainly (issue 17), not "driver version is insufficient".
  EXPECT_TRUE(v.reason.rfind("no NVIDIA GPU or driver found", 0) == 0 || v.reason.rfind("no CUDA device", 0) == 0)
      << v.reason;
  Problem p;
  p.rows = 2;
  p.cols = 64;
  const Verdict s = cuda->Supports(p, CaseOptions{});
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.reason, v.reason);
  p.norm = Norm::kRmsNorm;  // RMSNorm is supported: the only no is the device's
  EXPECT_EQ(cuda->Supports(p, CaseOptions{}).reason, v.reason);
  p.norm = Norm::kLayerNorm;
  EXPECT_TRUE(cuda->DeviceInfo().empty());
  float x[128] = {};
  EXPECT_THROW(cuda->Prepare(p, test_support::LnIn(x, nullptr, nullptr), CaseOptions{}), RuntimeError);
  EXPECT_THROW(cuda->MeasureCeiling(1 << 20, 0, 1, 0.01), RuntimeError);
  EXPECT_FALSE(CudaAvailable().ok);
  EXPECT_THROW(CudaDevice(), RuntimeError);
}


// --device N (issue 17): the device count, the selected index and its
// identity (UUID, PCI bus id) in the facts the report carries.
TEST(CudaBackendHostTest, DeviceSelectionAndIdentity) {
  int count = 0;
  const bool have_device = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
  cudaGetLastError();
  EXPECT_EQ(CudaDeviceCount(), have_device ? count : 0);
  EXPECT_EQ(CudaDeviceIndex(), 0);
  EXPECT_EQ(CudaDeviceId(), "cuda:0");
  // The application layer refuses a negative index, and one past the last GPU when there are GPUs.
  EXPECT_THROW(SelectGpuDevice(-1), UsageError);
  if (!have_device) {
    SelectGpuDevice(3);  // no GPU: kept, the GPU cases are skipped for lack of one
    EXPECT_EQ(CudaDeviceId(), "cuda:3");
    SelectGpuDevice(0);
    EXPECT_TRUE(CudaDeviceInfo().empty());
    return;
  }
  try {
    SelectGpuDevice(count);
    ADD_FAILURE() << "--device " << count << " accepted on a machine with " << count << " GPUs";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("this machine has {} NVIDIA GPU", count)), std::string::npos)
        << e.what();
  }
  SelectGpuDevice(count - 1);  // the last one; the facts below are of device 0, queried once per process
  SelectGpuDevice(0);
  if (!CudaAvailable().ok) GTEST_SKIP() << CudaAvailable().reason;
  const auto info = CudaDeviceInfo();
  EXPECT_EQ(info.at("device"), "cuda:0");
  EXPECT_EQ(info.at("index"), "0");
  EXPECT_EQ(info.at("uuid").rfind("GPU-", 0), 0u) << info.at("uuid");
  EXPECT_EQ(info.at("uuid").size(), 40u) << info.at("uuid");  // GPU- + 32 hex digits + 4 dashes
  EXPECT_FALSE(info.at("pci_bus_id").empty());
  EXPECT_EQ(FindBackend("cuda")->DeviceId(), "cuda:0");
}

}  // namespace
}  // namespace lnbench
