#include "backends/cuda/layernorm_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

namespace lnbench {
namespace {

constexpr int64_t kMaxGrid = INT_MAX;  // gridDim.x
// A block keeps about half its register slots busy before it grows past this
// many threads: two such blocks fit on an SM, so one block's reductions
// overlap the other's loads.
constexpr int kPreferredBlockThreads = 512;
constexpr int kMaxBlockThreads = 1024;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp32(int64_t a) { return CeilDiv(a, 32) * 32; }

// Returns a plan with the load shape filled in (vectorized or element-wise).
LaunchPlan BasePlan(const PlanQuery& q, const char* name, KernelKind kind) {
  LaunchPlan p;
  p.variant = name;
  p.kind = kind;
  p.vectorized = q.vector_ok;
  p.vec_elems = q.vector_ok ? static_cast<int>(16 / DTypeSize(q.dtype)) : 1;
  p.slots = kRowRegisterFloats / p.vec_elems;
  return p;
}

// Returns the number of loads a row takes under `p`.
int64_t RowVecs(const PlanQuery& q, const LaunchPlan& p) {
  return p.vectorized ? q.cols / p.vec_elems : q.cols;
}

// Returns the shape of a block holding `vecs` loads of a row: about half the
// register slots per thread and up to 512 threads; beyond that all slots and
// up to 1024 threads. False when even that is too small.
bool BlockShape(int64_t vecs, int slots, int* threads, int* vecs_per_thread) {
  int64_t t = std::clamp<int64_t>(RoundUp32(CeilDiv(vecs, slots / 2)), 64, kPreferredBlockThreads);
  if (CeilDiv(vecs, t) > slots) t = RoundUp32(CeilDiv(vecs, slots));
  if (t > kMaxBlockThreads) return false;
  *threads = static_cast<int>(t);
  *vecs_per_thread = static_cast<int>(CeilDiv(vecs, t));
  return true;
}

Verdict CheckCommon(const PlanQuery& q) {
  if (q.cols < 1) return Verdict::No("cols must be >= 1");
  if (q.cols > INT_MAX) return Verdict::No(fmt::format("H={} exceeds 2^31-1", q.cols));
  if (q.rows < 0) return Verdict::No("rows must be >= 0");
  return Verdict::Yes();
}

PlanResult PlanWarp(const PlanQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  LaunchPlan p = BasePlan(q, "warp", KernelKind::kWarp);
  const int64_t vecs = RowVecs(q, p);
  if (vecs > 32 * p.slots)
    return {Verdict::No(fmt::format("warp: H={} exceeds the warp kernel's {} elements per row",
                                    q.cols, 32 * p.slots * p.vec_elems)),
            {}};
  // About two loads per lane: small rows get 1-16 lanes, so a warp serves several rows.
  int lanes = 1;
  while (lanes < 32 && lanes * 2 < vecs) lanes *= 2;
  p.lanes_per_row = lanes;
  p.threads = kWarpKernelThreads;
  p.vecs_per_thread = static_cast<int>(CeilDiv(vecs, lanes));
  p.grid = CeilDiv(q.rows, kWarpKernelThreads / lanes);
  if (p.grid > kMaxGrid)
    return {Verdict::No(fmt::format("warp: {} rows exceed the grid limit", q.rows)), {}};
  return {Verdict::Yes(), p};
}

PlanResult PlanBlock(const PlanQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  LaunchPlan p = BasePlan(q, "block", KernelKind::kBlock);
  const int64_t vecs = RowVecs(q, p);
  if (!BlockShape(vecs, p.slots, &p.threads, &p.vecs_per_thread))
    return {Verdict::No(fmt::format("block: H={} exceeds one block's {} elements per row", q.cols,
                                    kMaxBlockThreads * p.slots * p.vec_elems)),
            {}};
  if (q.rows > kMaxGrid)
    return {Verdict::No(fmt::format("block: {} rows exceed the grid limit", q.rows)), {}};
  p.vecs_per_block = vecs;
  p.grid = q.rows;
  return {Verdict::Yes(), p};
}

PlanResult PlanCluster(const PlanQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  if (q.cc_major < 9)
    return {Verdict::No(fmt::format("cluster: needs thread-block clusters (sm_90 or newer), "
                                    "device is sm_{}x",
                                    q.cc_major)),
            {}};
  LaunchPlan p = BasePlan(q, "cluster", KernelKind::kCluster);
  const int64_t vecs = RowVecs(q, p);
  // The smallest cluster whose blocks each hold about half their register slots.
  const int64_t preferred = static_cast<int64_t>(kPreferredBlockThreads) * (p.slots / 2);
  int cs = 1;
  while (cs < kMaxClusterBlocks && CeilDiv(vecs, cs) > preferred) cs *= 2;
  // Every block of the cluster must hold part of the row.
  while (cs > 1 && CeilDiv(vecs, cs) * (cs - 1) >= vecs) cs /= 2;
  p.blocks_per_row = cs;
  p.vecs_per_block = CeilDiv(vecs, cs);
  if (!BlockShape(p.vecs_per_block, p.slots, &p.threads, &p.vecs_per_thread))
    return {Verdict::No(
                fmt::format("cluster: H={} exceeds a cluster's {} elements per row", q.cols,
                            int64_t{kMaxClusterBlocks} * kMaxBlockThreads * p.slots * p.vec_elems)),
            {}};
  if (q.rows > kMaxGrid / cs)
    return {Verdict::No(fmt::format("cluster: {} rows exceed the grid limit", q.rows)), {}};
  p.grid = q.rows * cs;
  return {Verdict::Yes(), p};
}

PlanResult PlanSplitRow(const PlanQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  LaunchPlan p = BasePlan(q, "splitrow", KernelKind::kSplitRow);
  const int64_t vecs = RowVecs(q, p);
  const int64_t chunk = static_cast<int64_t>(kSplitRowThreads) * p.slots;
  if (vecs >= chunk) {
    p.threads = kSplitRowThreads;
    p.vecs_per_block = chunk;
  } else {
    p.threads = static_cast<int>(std::max<int64_t>(32, RoundUp32(CeilDiv(vecs, p.slots))));
    p.vecs_per_block = vecs;
  }
  p.vecs_per_thread = static_cast<int>(CeilDiv(p.vecs_per_block, p.threads));
  const int64_t chunks = CeilDiv(vecs, p.vecs_per_block);
  if (chunks > INT_MAX || q.rows > kMaxGrid / chunks)
    return {Verdict::No(
                fmt::format("splitrow: {} rows x {} chunks exceed the grid limit", q.rows, chunks)),
            {}};
  p.blocks_per_row = static_cast<int>(chunks);
  p.grid = q.rows * chunks;
  return {Verdict::Yes(), p};
}

// The dispatcher. Thresholds in loads per row, so they mean the same register
// footprint for every dtype: a warp holds up to 32 lanes x 32 floats (H <= 1024),
// a block of up to 512 threads x 32 floats (H <= 16384), then of up to 1024
// threads (H <= 32768), a cluster of up to 8 blocks (sm_90, H <= 262144);
// beyond that the row is split over blocks and x is read twice.
PlanResult PlanAuto(const PlanQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  const LaunchPlan shape = BasePlan(q, "auto", KernelKind::kWarp);
  const int64_t vecs = RowVecs(q, shape);
  if (vecs <= 32 * shape.slots) return PlanWarp(q);
  if (vecs <= static_cast<int64_t>(kPreferredBlockThreads) * shape.slots) {
    PlanResult r = PlanBlock(q);
    if (r.verdict.ok) return r;
  }
  // A 1024-thread block before a cluster: on an H200 (2026-11-26, 4096x16384)
  // block ran at 94% (f32) / 66% (bf16) of cudaMemcpy and cluster at 58% / 35%.
  if (vecs <= static_cast<int64_t>(kMaxBlockThreads) * shape.slots) {
    PlanResult r = PlanBlock(q);
    if (r.verdict.ok) return r;
  }
  if (q.cc_major >= 9) {
    PlanResult r = PlanCluster(q);
    if (r.verdict.ok) return r;
  }
  return PlanSplitRow(q);
}

}  // namespace

std::string LaunchPlan::Describe() const {
  std::string s = fmt::format("kernel={} grid={} block={} load={}", variant, grid, threads,
                              vectorized ? "16B" : "element");
  if (kind == KernelKind::kWarp) s += fmt::format(" lanes_per_row={}", lanes_per_row);
  if (kind == KernelKind::kCluster) s += fmt::format(" cluster={}", blocks_per_row);
  if (kind == KernelKind::kSplitRow) s += fmt::format(" chunks_per_row={}", blocks_per_row);
  s += fmt::format(" loads_per_thread={}", vecs_per_thread);
  return s;
}

const std::vector<CudaVariant>& CudaVariants() {
  static const std::vector<CudaVariant> variants = {
      {"auto",
       "picks per H, dtype and device: warp (H<=1024), block (<=32768), cluster "
       "(sm_90, <=262144), splitrow beyond",
       PlanAuto},
      {"warp", "1-32 lanes of a warp per row, row in registers, shuffle reductions (H<=1024)",
       PlanWarp},
      {"block", "one block per row, row in registers, block reductions (H<=32768)", PlanBlock},
      {"cluster",
       "a thread-block cluster of up to 8 blocks per row, row in registers, stats "
       "through distributed shared memory (sm_90, H<=262144)",
       PlanCluster},
      {"splitrow",
       "several blocks per row: partial stats, then combine and normalize (2 "
       "kernels, x read twice; any H)",
       PlanSplitRow},
  };
  return variants;
}

std::vector<CoverageCase> CudaCoverageCases() {
  // Paths by elements per row (16-byte loads: 4 f32 or 8 16-bit elements per
  // load): warp up to 1024 (sub-warp rows below 64), block up to 32768,
  // cluster (sm_90) up to 262144, split row beyond (and on older GPUs). A
  // width that is no multiple of 8 takes the element path.
  return {
      {"warp, several rows per warp, 16-byte loads", 64, 64, {}},
      {"warp, a full warp per row, 16-byte loads", 64, 1024, {}},
      {"warp, element path", 64, 1023, {}},
      {"block per row, 16-byte loads", 8, 8192, {}},
      {"block per row, element path", 8, 8191, {}},
      {"cluster per row (sm_90; split row elsewhere), 16-byte loads", 2, 65536, {}},
      {"cluster per row (sm_90; split row elsewhere), element path", 2, 65537, {}},
      {"split row only: beyond a cluster, several chunks and a short last one", 1, 300007, {}},
      // Backward (backward_plan.h): the shapes above reach warp and block
      // rows, held in registers (fused with dgamma's level 0) and read twice
      // (a separate level-0 kernel), 16-byte and element loads, and
      // one-level dgamma trees; these a fused tree of three levels (and a
      // warp row held in registers on the element path) and a separate
      // level 0 under a second level.
      {"backward: a fused dgamma tree of three levels (4097 -> 129 -> 3 -> 1), element path",
       4097,
       30,
       {},
       {Direction::kBackward}},
      {"backward: rows past the registers, a separate level 0 under a second level (65 -> 2 -> 1)",
       65,
       9000,
       {},
       {Direction::kBackward}},
  };
}

PlanResult PlanLayerNorm(const std::string& variant, const PlanQuery& query) {
  const std::string name = variant.empty() ? "auto" : variant;
  std::string names;
  for (const CudaVariant& v : CudaVariants()) {
    if (name == v.name) return v.plan(query);
    names += names.empty() ? v.name : std::string(", ") + v.name;
  }
  return {Verdict::No(fmt::format("unknown variant '{}' (have: {})", name, names)), {}};
}

bool VectorLoadsAllowed(DType dtype, int64_t cols, const void* x, const void* y, const float* gamma,
                        const float* beta) {
  return (cols * static_cast<int64_t>(DTypeSize(dtype))) % 16 == 0 && Aligned16(x) &&
         Aligned16(y) && Aligned16(gamma) && Aligned16(beta);
}

}  // namespace lnbench
