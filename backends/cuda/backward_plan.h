// How the CUDA backend launches a backward problem (LayerNorm and RMSNorm):
// pure host logic (no CUDA calls), so the choices are tested without a GPU.
//
// Two parts, as Apex's layer_norm_cuda_kernel.cu and TransformerEngine's
// ln_bwd do it:
//   dx: one row per warp (1-32 lanes) or per block; the row's two sums
//       (sum g*dy, sum g*dy*xhat) then dx, in f32.
//   dgamma/dbeta: a tree of fixed shape. Level 0 sums parts of at most
//       kBackwardTreeFanIn rows into per-part partials [parts x H] (f32, in
//       the workspace Prepare allocates); each further level sums blocks of
//       kBackwardTreeFanIn partials; the level with one output writes dgamma
//       and dbeta. The shape depends on N alone, so results are bitwise
//       reproducible, and the rounding depth grows with log(N), not with N.
//   Fused (TransformerEngine's shape): where the dx kernel keeps the whole
//       row in registers, it is level 0 too: each block takes part_rows
//       consecutive rows, adds dy*xhat and dy of its columns while xhat and
//       dy are in registers, and writes the part's partial, so x and dy are
//       read once. Otherwise (rows past the registers, no rows) a separate
//       kernel reads x and dy again for level 0, in parts of 64 rows.
#ifndef LNBENCH_BACKENDS_CUDA_BACKWARD_PLAN_H_
#define LNBENCH_BACKENDS_CUDA_BACKWARD_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/layernorm_plan.h"
#include "core/dtype.h"

namespace lnbench {

// Floats of x (as xhat) and of dy (as g*dy) each thread of a dx kernel keeps
// in registers between its two passes over a row: 2 x 16 = the forward
// kernels' 32 data registers. Loads beyond them are read again in the
// second pass (from L1/L2, as Apex's cuComputeGradInput reads every load).
inline constexpr int kBackwardRowFloats = 16;
// Threads of the block-per-row dx kernel at most (its __launch_bounds__).
inline constexpr int kBackwardBlockThreads = 512;
// Rows (level 0, at most) or partials (later levels) one dgamma/dbeta partial sums.
inline constexpr int kBackwardTreeFanIn = 64;
// Fused plans: 64 rows per part (fewer partials to write and read back:
// on an H200, parts of 64 rows beat 8, 16 and 32 at H = 2048-8192, even
// with only 128 parts), halved (down to kBackwardMinPartRows) while N leaves
// fewer than kBackwardFusedParts parts, about a block per SM of an H100/H200.
inline constexpr int kBackwardFusedParts = 128;
inline constexpr int kBackwardMinPartRows = 8;
// Threads per block of the dgamma/dbeta kernels: one column each.
inline constexpr int kBackwardParamThreads = 256;

// One launch of the dgamma/dbeta tree.
struct BackwardParamLevel {
  int64_t inputs = 0;   // rows (level 0) or partials it sums per column
  int64_t fan_in = 0;   // inputs each output sums (the last output: what is left)
  int64_t outputs = 0;  // partials it writes per column; 1 = dgamma/dbeta
  int src = -1;         // -1: x and dy (level 0); 0/1: workspace half A/B
  int dst = -1;         // -1: dgamma/dbeta; 0/1: workspace half A/B
  int64_t grid = 0;     // blocks: outputs x column tiles (fused level 0: the dx kernel's)
};

// How one backward problem is launched.
struct BackwardPlan {
  std::string variant;  // "warp" or "block" (never "auto")
  KernelKind kind = KernelKind::kWarp;
  bool vectorized = false;   // 16-byte loads and stores of x, dy, dx (and float4 gamma)
  int vec_elems = 1;         // elements per load
  int slots = 0;             // loads a thread keeps in registers: kBackwardRowFloats / vec_elems
  int lanes_per_row = 0;     // kWarp: threads per row, a power of two <= 32
  int threads = 0;           // threads per block of the dx kernel
  int loads_per_thread = 0;  // loads of a row each thread handles (kept or read again)
  int64_t grid = 0;          // blocks of the dx kernel (0 when rows == 0)
  // The dx kernel is level 0 of the dgamma/dbeta tree: block b handles rows
  // [b * part_rows, b * part_rows + part_rows) and writes their partial.
  bool fused = false;
  int part_rows = 0;  // fused: rows per block and per level-0 partial (a power of two <= 64)
  bool prefetch = false;  // fused: each row's successor is prefetched into L2
  int param_threads = 0;     // threads per block of the dgamma/dbeta kernels
  int64_t col_tiles = 0;     // column tiles of param_threads columns
  // The dgamma/dbeta tree, level 0 first; empty without affine. With
  // rows == 0 level 0 still runs and writes zeros (a sum over no rows).
  std::vector<BackwardParamLevel> levels;
  // Partials per column each workspace half holds (B is 0 when unused).
  int64_t half_a = 0, half_b = 0;
  // Tensors the tree reduces: 2 (dgamma, dbeta) for LayerNorm, 1 for RMSNorm, 0 without affine.
  int param_tensors = 0;

  // Returns the bytes of device workspace: the partials of both halves.
  uint64_t WorkspaceBytes(int64_t cols) const {
    return static_cast<uint64_t>(half_a + half_b) * static_cast<uint64_t>(cols) *
           static_cast<uint64_t>(param_tensors) * 4;
  }
  // Returns the float offset in the workspace of half `half` (0 = A, 1 = B)
  // of tensor `t` (0 = dgamma, 1 = dbeta).
  uint64_t HalfOffset(int half, int t, int64_t cols) const {
    const uint64_t c = static_cast<uint64_t>(cols);
    const uint64_t base = half == 0 ? 0 : static_cast<uint64_t>(half_a) * c * param_tensors;
    const uint64_t size = static_cast<uint64_t>(half == 0 ? half_a : half_b) * c;
    return base + static_cast<uint64_t>(t) * size;
  }
  // Returns where a tree level reads or writes tensor t (0 = dgamma, 1 =
  // dbeta): `where` -1 is the outputs, 0/1 a half of `workspace`; nullptr for
  // a tensor the norm does not have.
  float* TreeBuffer(int where, int t, float* workspace, float* dgamma, float* dbeta,
                    int64_t cols) const {
    if (t >= param_tensors) return nullptr;
    if (where < 0) return t == 0 ? dgamma : dbeta;
    return workspace + HalfOffset(where, t, cols);
  }
  // Returns "kernel=.. grid=.. block=.. dgamma_tree=.." style text for reports.
  std::string Describe() const;
};

struct BackwardPlanResult {
  Verdict verdict;
  BackwardPlan plan;
};

// What a backward plan depends on besides PlanQuery: whether gamma (and the
// parameter gradients) are there, and how many of them the norm has.
struct BackwardQuery {
  PlanQuery shape;  // rows, cols, dtype, vector_ok (x, dy, dx, gamma aligned)
  bool affine = true;
  int param_tensors = 2;  // 2: LayerNorm (dgamma, dbeta); 1: RMSNorm (dgamma)
  // Rows per fused part: kPartRowsAuto (PartRowsFor), kPartRowsUnfused (the
  // separate level-0 kernel always), or a power of two 1-64. A tuning knob
  // (LNBENCH_CUDA_BWD_PART_ROWS, ParsePartRows); the warp kernel rounds it
  // up to fill a warp.
  int part_rows = 0;
  // Fused: prefetch each next row into L2 (LNBENCH_CUDA_BWD_PREFETCH, ParsePrefetch).
  bool prefetch = true;
};
inline constexpr int kPartRowsAuto = 0;
inline constexpr int kPartRowsUnfused = -1;

// Returns the rows per fused part for N rows: 64, or fewer (a power of two,
// at least kBackwardMinPartRows) while N / rows < kBackwardFusedParts.
int PartRowsFor(int64_t rows);

// Parses LNBENCH_CUDA_BWD_PART_ROWS: "" or "auto" (kPartRowsAuto), "off"
// (kPartRowsUnfused) or a power of two 1-64; throws UsageError naming the
// variable otherwise.
int ParsePartRows(const char* text);

// Parses LNBENCH_CUDA_BWD_PREFETCH: "" or "on" (true), "off" (false);
// throws UsageError naming the variable otherwise.
bool ParsePrefetch(const char* text);

// Returns the plan of `variant` ("" = "auto"): "auto" picks warp while a
// warp holds the row in registers (H <= 512), else block; "warp" and "block"
// run any H (loads beyond the registers are read twice); "cluster" and
// "splitrow" are forward only (a No with the reason). With affine, rows and
// the row in registers, the plan is fused (query.part_rows permitting).
BackwardPlanResult PlanBackward(const std::string& variant, const BackwardQuery& query);

// Returns whether 16-byte loads are allowed for a backward problem: every
// row of x, dy and dx 16-byte aligned, and gamma too when present.
bool BackwardVectorLoadsAllowed(DType dtype, int64_t cols, const void* x, const void* dy,
                                const void* dx, const float* gamma);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_BACKWARD_PLAN_H_
