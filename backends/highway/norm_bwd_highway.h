// Entry points of the Highway LayerNorm and RMSNorm backward kernels
// (norm_bwd_highway.cc), and the deterministic reduction of dgamma/dbeta
// over rows. A plain header: no SIMD types; the per-target code is in
// norm_bwd_highway-inl.h.
#ifndef LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_H_
#define LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "hwy/aligned_allocator.h"

#include "backends/highway/cache_sizes.h"
#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {

class ThreadPool;

// How affine rows that go in groups (BwdGroupsRows) are computed, the same
// bits either way (norm_bwd_highway-inl.h):
enum class BwdGroups {
  // fused where dx is streamed to DRAM, shared sums where it stays in cache
  kAuto,
  // FusedGroups: the sums of four rows one row after the other, then their
  // dx and dgamma/dbeta terms in one pass over the columns; rows of a
  // multiple of 32 columns with dx on cache lines (BwdFusedGroups), others
  // take the shared sums
  kFused,
  // RowPairs (f32) and ChunkedGroups (16-bit): the sums of the group's rows
  // side by side, adding the dgamma/dbeta terms, then their dx
  kSharedSums,
};

// One backward problem as the row kernels see it. x, dy and dx hold
// rows*cols elements of the dtype, row r at element r*cols (rows need not be
// aligned); gamma is cols floats, mean and rstd rows floats.
struct HwyBwdArgs {
  const void* x = nullptr;
  const void* dy = nullptr;
  void* dx = nullptr;
  const float* gamma = nullptr;  // nullptr: not affine (g = 1, no dgamma/dbeta)
  const float* mean = nullptr;   // LayerNorm only
  const float* rstd = nullptr;   // rstd (LayerNorm) or rrms (RMSNorm)
  int64_t rows = 0;
  int64_t cols = 1;
  // Write dx with streaming (non-temporal) stores: for outputs larger than
  // the last-level cache (see HwyRowsArgs::stream).
  bool stream = false;
  BwdGroups groups = BwdGroups::kAuto;
  // Short affine rows (BwdRegisterRows) keep the dgamma/dbeta partials in
  // registers; false: in memory, as longer rows (tests compare the two).
  bool register_partials = true;
};

// Computes dx of rows [begin, end). With gamma (affine), also writes the
// partial sums of those rows, in row order, to dgamma_part[0, cols)
// (sum dy * xhat) and, for LayerNorm, dbeta_part[0, cols) (sum dy); both
// must then be given (dbeta_part may be nullptr for RMSNorm), and
// begin < end. Without gamma both are ignored.
using HwyBwdRowsFn = void (*)(const HwyBwdArgs& args, int64_t begin, int64_t end,
                              float* dgamma_part, float* dbeta_part);

// Returns the backward kernel of `norm` for `dtype` compiled for Highway
// target `target_bits` (one HWY_* bit), or nullptr if that target was not
// compiled; target_bits 0: the target dynamic dispatch picks on this CPU.
HwyBwdRowsFn HighwayNormBwdRowsFunction(Norm norm, DType dtype, int64_t target_bits);

// Gamma and the dgamma/dbeta partials of an affine backward row, bytes a
// column: 4 each (RMSNorm has no dbeta).
inline int64_t BwdParamBytesPerColumn(Norm norm) { return norm == Norm::kRmsNorm ? 8 : 12; }

// The bytes of gamma and partials from which affine backward rows go in
// groups (f32: pairs; 16-bit types: chunked groups of four) that share the
// loads of gamma and the loads and stores of the partials, rather than one
// row at a time. Cache-resident (dx in ordinary stores): three quarters of a
// 32 KiB L1, where those no longer stay in L1 with the rows' x and dy
// (LayerNorm from 2048 columns, RMSNorm from 3072). Streamed to DRAM: half
// of it (LayerNorm from 1366 columns, RMSNorm from 2048), where the groups'
// prefetch of the next group into L2 pays too. Until 2026-12-05 the limit
// was 4096 columns for both norms and both cases. Measured on Zen 4
// (lnbench_highway_bench, three alternating rounds of one build switched by
// a temporary environment variable; results/cpu/2026-12-05-widths):
// - in the L3 (`hot --bwd --kib 4096`), groups from 24 KiB took 8-16% less
//   time at LayerNorm H = 2048 and 3072 and RMSNorm 3072; from 16 KiB
//   (LayerNorm 1536, RMSNorm 2048) they took 2-7% more than single rows;
// - at 256 MiB, one thread, fraction of the copy, single rows -> groups:
//   LayerNorm bf16 H = 1536 0.44 -> 0.53, 2048 0.38 -> 0.52, 3072 0.36 ->
//   0.51; f32 1536 0.56 -> 0.56, 2048 0.48 -> 0.51, 3072 0.53 -> 0.58;
//   RMSNorm bf16 2048 0.46 -> 0.56, 2560 0.47 -> 0.53, 3072 0.44 -> 0.54;
//   f32 2048 0.56 -> 0.57, 3072 0.60 -> 0.63. Two threads the same way or
//   within the noise. From 8 KiB (LayerNorm 768 and 1024, RMSNorm 1024)
//   groups were slower: LayerNorm bf16 768 0.59 -> 0.47, two threads 0.82
//   -> 0.48.
constexpr int64_t kBwdGroupMinParamBytes = kL1DataBytes / 4 * 3;
constexpr int64_t kBwdStreamedGroupMinParamBytes = kL1DataBytes / 2;

// Whether affine backward rows of `cols` columns go in groups (see
// kBwdGroupMinParamBytes); `stream`: dx is written with streaming stores.
inline bool BwdGroupsRows(Norm norm, int64_t cols, bool stream) {
  return cols * BwdParamBytesPerColumn(norm) >=
         (stream ? kBwdStreamedGroupMinParamBytes : kBwdGroupMinParamBytes);
}

// Whether affine rows that go in groups (BwdGroupsRows) take the fused
// groups: `groups` asks for them (kAuto: when dx is streamed, `stream`), and
// the rows fit them: a multiple of 32 columns (whole pairs of vectors on
// every fixed-width target, whole cache lines for any dtype) and dx, of
// rows of that many columns, starting on a cache line.
//
// Why streamed rows default to them (issue 13; Zen 5 VM, 2026-12-05,
// `lnbench_highway_bench dram --bwd [--rms] --ab bwd_groups=fused,shared_sums`,
// 256 MiB, one and two threads, shared-sums time / fused time per pair of
// samples, medians; docs/results.md): f32 1.04-1.24 at H = 4096-65536, both
// norms (1.11 or more in 15 of 16 cells), bf16 0.95-1.15, against 0.90-1.05
// where both sides ran the same code. The shared sums add the rows'
// dgamma/dbeta terms while those rows are read from DRAM, streams of
// partials and gamma beside the rows' x and dy; the fused groups read each
// row's x and dy alone (as a copy reads), and the dx pass, from L2, loads
// and stores the partials once for four rows. Cache-resident rows gained
// nothing (`hot --bwd --kib 4096`: 0.95-1.12) and keep the shared sums.
inline bool BwdFusedGroups(BwdGroups groups, int64_t cols, const void* dx, bool stream) {
  const bool asked = groups == BwdGroups::kFused || (groups == BwdGroups::kAuto && stream);
  return asked && cols % 32 == 0 && reinterpret_cast<uintptr_t>(dx) % 64 == 0;
}

// Whether affine backward rows of `cols` columns keep their dgamma/dbeta
// partials in registers on Highway target `target_bits` (one HWY_* bit; 0:
// the target dynamic dispatch picks), as that target's kernel decides it:
// AVX-512 targets, rows of 1 to 8 whole f32 vectors (H = 16, 32, ..., 128),
// when HwyBwdArgs::register_partials and the rows do not go in groups
// (BwdGroupsRows; rows that short never do).
bool BwdRegisterRows(int64_t target_bits, int64_t cols);

// Returns the rows summed into one dgamma/dbeta partial (a leaf of the merge
// tree). It depends on the row count alone, never on the threads: 64 rows
// (each f32 lane of a partial then adds at most 64 terms in sequence), fewer
// when there are under 16 blocks of 64, so that threads still have blocks
// to share.
int64_t BwdRowBlock(int64_t rows);

// Runs a backward problem over a thread pool: dx per row, and dgamma/dbeta
// (affine) as sums over fixed row blocks (BwdRowBlock) merged in a fixed
// binary tree over the block index: the node covering blocks
// [k * 2^l, (k + 1) * 2^l) is the sum of its two halves, the root the sum of
// the nodes of the binary decomposition of the block count, folded from the
// smallest. Each thread merges the nodes wholly inside its contiguous share of
// blocks as soon as both halves exist; the caller then feeds every thread's
// leftover nodes, in block order, through the same merge. Every node is
// computed from the same two children whatever the split, so the results are
// the same bits for any thread count, and the rounding error of a column
// grows like log2(blocks) + 64 additions, not like the row count.
class HwyBwdRunner {
 public:
  // `has_dbeta`: LayerNorm (dgamma and dbeta); RMSNorm has dgamma only.
  HwyBwdRunner(const HwyBwdArgs& args, HwyBwdRowsFn fn, bool has_dbeta);
  ~HwyBwdRunner();
  HwyBwdRunner(const HwyBwdRunner&) = delete;
  HwyBwdRunner& operator=(const HwyBwdRunner&) = delete;

  // Computes dx, and with gamma writes dgamma[0, cols) and (has_dbeta)
  // dbeta[0, cols). Not reentrant: one Run at a time per runner. With
  // `grain_rows` > 0 (BalancedGrainRows of the row's bytes), the rows go in
  // the balanced chunks of ThreadPool::ParallelForChunks, in grains of that
  // many rows (with gamma: of whole blocks), each chunk a share of its own;
  // 0: one share per thread. The same bits either way.
  void Run(ThreadPool& pool, float* dgamma, float* dbeta, int64_t grain_rows = 0);

  // For tests: the same merge over `blocks` leaves of `width` values, leaf b
  // filled by leaf(b, sums), each thread's share given by `shares` (block
  // counts, in order, summing to `blocks`), written to out[0, width).
  // `add` is the merge step (acc[i] = acc[i] + b[i] in Run).
  using LeafFn = void (*)(int64_t block, float* sums, void* context);
  using AddFn = void (*)(float* acc, const float* b, size_t n);
  static void MergeForTest(int64_t blocks, size_t width, const std::vector<int64_t>& shares,
                           LeafFn leaf, void* context, AddFn add, float* out);

 private:
  struct Node {
    int level;
    int64_t index;
    float* sums;
  };
  // One share of blocks: its first block, its unmerged nodes, and buffers.
  struct Share {
    int64_t first_block = 0;
    std::vector<Node> stack;
    std::vector<float*> free;
    std::vector<hwy::AlignedFreeUniquePtr<float[]>> storage;
    // Returns a buffer of `width` floats on a cache line (a partial's
    // vectors then never straddle two lines: measured on Zen 4, the 16-byte
    // offset of a plain new[] made bf16 rows of 1024 columns a third
    // slower), zeroed when first allocated.
    float* Take(size_t width);
  };
  // Pushes `node` on `stack` and merges it with its left sibling while that
  // is the node below (acc = left + right, into the left's buffer); a freed
  // buffer goes to `free` when given.
  static void PushAndMerge(std::vector<Node>& stack, Node node, size_t width, AddFn add,
                           std::vector<float*>* free);
  // Merges the shares' leftover nodes in block order and folds them into
  // one; returns its sums (a buffer of some share), nullptr for no blocks.
  static const float* MergeShares(std::vector<Share*>& shares, size_t width, AddFn add);

  HwyBwdArgs args_;
  HwyBwdRowsFn fn_;
  bool has_dbeta_;
  int64_t block_rows_;
  int64_t blocks_;
  std::vector<std::unique_ptr<Share>> shares_;
  std::atomic<int> next_share_{0};
};

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_HIGHWAY_NORM_BWD_HIGHWAY_H_
