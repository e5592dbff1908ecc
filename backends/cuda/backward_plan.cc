#include "backends/cuda/backward_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <string>

#include "core/errors.h"

namespace lnbench {
namespace {

constexpr int64_t kMaxGrid = INT_MAX;  // gridDim.x

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp32(int64_t a) { return CeilDiv(a, 32) * 32; }

// Returns whether r is an explicit number of rows per fused part: a power of two 1-64.
bool IsPartRows(int64_t r) { return r >= 1 && r <= kBackwardTreeFanIn && (r & (r - 1)) == 0; }

Verdict CheckCommon(const BackwardQuery& q) {
  if (q.shape.cols < 1) return Verdict::No("cols must be >= 1");
  // Row offsets are 32-bit (as in the forward kernels), with room for a
  // block's stride past the last load.
  if (q.shape.cols > INT_MAX - 1024)
    return Verdict::No(fmt::format("H={} exceeds 2^31-1025", q.shape.cols));
  if (q.shape.rows < 0) return Verdict::No("rows must be >= 0");
  if (q.param_tensors != 1 && q.param_tensors != 2)
    return Verdict::No("param_tensors must be 1 (rmsnorm) or 2 (layernorm)");
  const int r = q.part_rows;
  if (r != kPartRowsAuto && r != kPartRowsUnfused && !IsPartRows(r))
    return Verdict::No(fmt::format("part_rows {} is not auto, off or a power of two 1-64", r));
  return Verdict::Yes();
}

BackwardPlan BasePlan(const BackwardQuery& q, const char* name, KernelKind kind) {
  BackwardPlan p;
  p.variant = name;
  p.kind = kind;
  p.vectorized = q.shape.vector_ok;
  p.vec_elems = q.shape.vector_ok ? static_cast<int>(16 / DTypeSize(q.shape.dtype)) : 1;
  p.slots = kBackwardRowFloats / p.vec_elems;
  return p;
}

int64_t RowLoads(const BackwardQuery& q, const BackwardPlan& p) {
  return p.vectorized ? q.shape.cols / p.vec_elems : q.shape.cols;
}

// Returns whether the dx kernel can also be level 0 of the tree: affine,
// rows to sum, every load of a row in this plan's registers (`holders`
// threads per row, `slots` loads each), and fusion not switched off.
bool CanFuse(const BackwardQuery& q, const BackwardPlan& p, int64_t holders) {
  return q.affine && q.shape.rows > 0 && q.part_rows != kPartRowsUnfused &&
         RowLoads(q, p) <= holders * p.slots;
}

// Returns the query's rows per fused part (auto: PartRowsFor).
int QueryPartRows(const BackwardQuery& q) {
  return q.part_rows == kPartRowsAuto ? PartRowsFor(q.shape.rows) : q.part_rows;
}

// Fills the dgamma/dbeta tree: level 0 sums parts of `level0_fan_in` rows
// (at least one part, so zero rows give zeros), each next level blocks of
// kBackwardTreeFanIn partials, until one is left; levels alternate between
// the workspace halves A and B, the last writes the outputs. Fused plans
// (p.fused) have level 0 in the dx kernel: its grid is the dx kernel's.
Verdict PlanParamTree(const BackwardQuery& q, BackwardPlan& p, int64_t level0_fan_in) {
  if (!q.affine) return Verdict::Yes();
  p.param_tensors = q.param_tensors;
  p.param_threads =
      static_cast<int>(std::clamp<int64_t>(RoundUp32(q.shape.cols), 32, kBackwardParamThreads));
  p.col_tiles = CeilDiv(q.shape.cols, p.param_threads);
  int64_t inputs = q.shape.rows;
  int64_t fan_in = level0_fan_in;
  int src = -1;
  for (;;) {
    BackwardParamLevel level;
    level.inputs = inputs;
    level.fan_in = fan_in;
    level.outputs = std::max<int64_t>(1, CeilDiv(inputs, fan_in));
    level.src = src;
    level.dst = level.outputs == 1 ? -1 : (src == 0 ? 1 : 0);
    if (level.outputs > kMaxGrid / p.col_tiles)
      return Verdict::No(fmt::format("dgamma: {} partials x {} column tiles exceed the grid limit",
                                     level.outputs, p.col_tiles));
    level.grid = src < 0 && p.fused ? p.grid : level.outputs * p.col_tiles;
    if (level.dst == 0) p.half_a = std::max(p.half_a, level.outputs);
    if (level.dst == 1) p.half_b = std::max(p.half_b, level.outputs);
    p.levels.push_back(level);
    if (level.dst == -1) break;
    inputs = level.outputs;
    fan_in = kBackwardTreeFanIn;
    src = level.dst;
  }
  return Verdict::Yes();
}

BackwardPlanResult PlanWarp(const BackwardQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  BackwardPlan p = BasePlan(q, "warp", KernelKind::kWarp);
  const int64_t loads = RowLoads(q, p);
  // About one register slot per lane or more: small rows share a warp.
  int lanes = 1;
  while (lanes < 32 && lanes * 2 <= loads) lanes *= 2;
  p.lanes_per_row = lanes;
  p.threads = kWarpKernelThreads;
  p.loads_per_thread = static_cast<int>(std::min<int64_t>(CeilDiv(loads, lanes), INT_MAX));
  int64_t rows_per_block = kWarpKernelThreads / lanes;
  if (CanFuse(q, p, lanes)) {
    // Fused: as few lanes as hold the row in registers, so each lane has
    // all its slots in flight (on an H200 the unfused rule, a load per lane,
    // left H = 128 f32 at 45% of the copy). A block of at least a warp takes
    // part_rows rows, row_slots at a time.
    while (lanes > 1 && (lanes / 2) * static_cast<int64_t>(p.slots) >= loads) lanes /= 2;
    p.lanes_per_row = lanes;
    p.loads_per_thread = static_cast<int>(CeilDiv(loads, lanes));
    p.fused = true;
    p.prefetch = q.prefetch;
    p.part_rows = std::max(QueryPartRows(q), 32 / lanes);
    p.threads = std::min(kWarpKernelThreads, p.part_rows * lanes);
    rows_per_block = p.part_rows;
  }
  p.grid = CeilDiv(q.shape.rows, rows_per_block);
  if (p.grid > kMaxGrid)
    return {Verdict::No(fmt::format("warp: {} rows exceed the grid limit", q.shape.rows)), {}};
  if (Verdict v = PlanParamTree(q, p, p.fused ? p.part_rows : kBackwardTreeFanIn); !v.ok)
    return {v, {}};
  return {Verdict::Yes(), p};
}

BackwardPlanResult PlanBlock(const BackwardQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  BackwardPlan p = BasePlan(q, "block", KernelKind::kBlock);
  const int64_t loads = RowLoads(q, p);
  // Enough threads to keep the row in registers, 64 to 512.
  p.threads = static_cast<int>(
      std::clamp<int64_t>(RoundUp32(CeilDiv(loads, p.slots)), 64, kBackwardBlockThreads));
  p.loads_per_thread = static_cast<int>(CeilDiv(loads, p.threads));
  int64_t rows_per_block = 1;
  if (CanFuse(q, p, p.threads)) {
    p.fused = true;
    p.prefetch = q.prefetch;
    p.part_rows = QueryPartRows(q);
    rows_per_block = p.part_rows;
  }
  p.grid = CeilDiv(q.shape.rows, rows_per_block);
  if (p.grid > kMaxGrid)
    return {Verdict::No(fmt::format("block: {} rows exceed the grid limit", q.shape.rows)), {}};
  if (Verdict v = PlanParamTree(q, p, p.fused ? p.part_rows : kBackwardTreeFanIn); !v.ok)
    return {v, {}};
  return {Verdict::Yes(), p};
}

// Warp while a warp keeps the whole row in registers (32 lanes x 16 floats
// of x and of dy: H <= 512), else a block (up to 512 threads keep H <= 8192;
// beyond, the loads past the registers are read again in the second pass).
BackwardPlanResult PlanAuto(const BackwardQuery& q) {
  if (Verdict v = CheckCommon(q); !v.ok) return {v, {}};
  const BackwardPlan shape = BasePlan(q, "auto", KernelKind::kWarp);
  if (RowLoads(q, shape) <= 32 * shape.slots) return PlanWarp(q);
  return PlanBlock(q);
}

BackwardPlanResult ForwardOnly(const char* name) {
  return {Verdict::No(fmt::format("{}: forward only (backward runs as auto, warp or block)", name)),
          {}};
}

}  // namespace

std::string BackwardPlan::Describe() const {
  std::string s = fmt::format("kernel={} grid={} block={} load={}", variant, grid, threads,
                              vectorized ? "16B" : "element");
  if (kind == KernelKind::kWarp) s += fmt::format(" lanes_per_row={}", lanes_per_row);
  s += fmt::format(" loads_per_thread={} (registers {})", loads_per_thread, slots);
  if (!levels.empty()) {
    s += fmt::format(" dgamma_tree=");
    for (size_t i = 0; i < levels.size(); ++i)
      s += fmt::format("{}{}", i == 0 ? "" : ">", levels[i].inputs);
    if (fused) {
      s += fmt::format(
          ">1 (level 0 fused into dx: {} rows per part{}; then fan-in {}, block {})", part_rows,
          prefetch ? ", next row prefetched to L2" : "", kBackwardTreeFanIn, param_threads);
    } else {
      s += fmt::format(">1 (fan-in {}, block {})", kBackwardTreeFanIn, param_threads);
    }
  }
  return s;
}

BackwardPlanResult PlanBackward(const std::string& variant, const BackwardQuery& query) {
  const std::string name = variant.empty() ? "auto" : variant;
  if (name == "auto") return PlanAuto(query);
  if (name == "warp") return PlanWarp(query);
  if (name == "block") return PlanBlock(query);
  if (name == "cluster") return ForwardOnly("cluster");
  if (name == "splitrow") return ForwardOnly("splitrow");
  // The forward dispatch list names every variant there is.
  return {PlanLayerNorm(name, query.shape).verdict, {}};
}

int PartRowsFor(int64_t rows) {
  int r = kBackwardTreeFanIn;
  while (r > kBackwardMinPartRows && rows / r < kBackwardFusedParts) r /= 2;
  return r;
}

int ParsePartRows(const char* text) {
  const std::string t = text == nullptr ? "" : text;
  if (t.empty() || t == "auto") return kPartRowsAuto;
  if (t == "off") return kPartRowsUnfused;
  int64_t r = 0;
  for (char c : t) {
    if (c < '0' || c > '9' || r > kBackwardTreeFanIn) {
      r = -1;
      break;
    }
    r = r * 10 + (c - '0');
  }
  if (!IsPartRows(r))
    throw UsageError(fmt::format(
        "LNBENCH_CUDA_BWD_PART_ROWS='{}': expected auto, off or a power of two 1-64", t));
  return static_cast<int>(r);
}

bool ParsePrefetch(const char* text) {
  const std::string t = text == nullptr ? "" : text;
  if (t.empty() || t == "on") return true;
  if (t == "off") return false;
  throw UsageError(fmt::format("LNBENCH_CUDA_BWD_PREFETCH='{}': expected on or off", t));
}

bool BackwardVectorLoadsAllowed(DType dtype, int64_t cols, const void* x, const void* dy,
                                const void* dx, const float* gamma) {
  return (cols * static_cast<int64_t>(DTypeSize(dtype))) % 16 == 0 && Aligned16(x) &&
         Aligned16(dy) && Aligned16(dx) && Aligned16(gamma);
}

}  // namespace lnbench
