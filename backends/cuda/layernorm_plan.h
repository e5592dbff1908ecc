// The CUDA backend's variants and how each is launched for a problem: pure
// host logic (no CUDA calls), so the dispatcher's choices are tested without
// a GPU. A variant is one kernel function (layernorm_kernels.cu) plus one
// entry in the dispatch list of layernorm_plan.cc; "auto" is first and picks
// among the others per H, dtype and device.
#ifndef LNBENCH_BACKENDS_CUDA_LAYERNORM_PLAN_H_
#define LNBENCH_BACKENDS_CUDA_LAYERNORM_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/dtype.h"

namespace lnbench {

// Floats of a row each thread holds in registers: the register budget every
// kernel is written for (32 data registers of the 64 a 1024-thread block allows).
inline constexpr int kRowRegisterFloats = 32;
// Threads per block of the warp kernel (rows per block = this / lanes per row).
inline constexpr int kWarpKernelThreads = 256;
// Threads per block of the split-row kernels.
inline constexpr int kSplitRowThreads = 512;
// The largest thread-block cluster used (portable on every sm_90 part).
inline constexpr int kMaxClusterBlocks = 8;

enum class KernelKind {
  kWarp,      // a warp (or 1-16 lanes of one) per row, row in registers
  kBlock,     // a block per row, row in registers
  kCluster,   // a thread-block cluster per row (sm_90), distributed shared memory for the stats
  kSplitRow,  // several blocks per row: partial stats, then combine and normalize (2 kernels)
};

// What the choice of launch depends on.
struct PlanQuery {
  int64_t rows = 0;
  int64_t cols = 1;
  DType dtype = DType::kF32;
  bool vector_ok = true;  // 16-byte loads allowed (see VectorLoadsAllowed)
  int cc_major = 9;       // compute capability of the device
};

// How one problem is launched.
struct LaunchPlan {
  std::string variant;  // the variant that runs ("warp", "block", ...), never "auto"
  KernelKind kind = KernelKind::kWarp;
  bool vectorized = false;     // 16-byte loads and stores
  int vec_elems = 1;           // elements per load: 16 / sizeof(dtype) when vectorized, else 1
  int slots = 0;               // register slots per thread: kRowRegisterFloats / vec_elems
  int lanes_per_row = 0;       // kWarp: threads per row, a power of two <= 32
  int threads = 0;             // threads per block
  int blocks_per_row = 1;      // kCluster: cluster size; kSplitRow: chunks per row
  int64_t vecs_per_block = 0;  // kBlock/kCluster/kSplitRow: loads of a row one block holds
  int vecs_per_thread = 0;     // loads each thread holds (<= slots)
  int64_t grid = 0;            // blocks per kernel launch (0 when rows == 0)
  // Returns the bytes of device workspace the plan needs (split-row partial stats).
  uint64_t WorkspaceBytes(int64_t rows) const {
    return kind == KernelKind::kSplitRow ? static_cast<uint64_t>(rows) * blocks_per_row * 16 : 0;
  }
  // Returns "grid=.. block=.." style text for reports.
  std::string Describe() const;
};

struct PlanResult {
  Verdict verdict;  // why the variant cannot run the problem
  LaunchPlan plan;  // valid when verdict.ok
};

// One entry of the dispatch list.
struct CudaVariant {
  const char* name;
  const char* description;
  PlanResult (*plan)(const PlanQuery& query);
};

// Returns the dispatch list, "auto" first.
const std::vector<CudaVariant>& CudaVariants();
// Returns the plan of `variant` ("" = "auto") for `query`; an unknown name is
// a verdict No("unknown variant ...").
PlanResult PlanLayerNorm(const std::string& variant, const PlanQuery& query);
// Returns the problems that reach every kernel kind, each with 16-byte loads
// and on the element path (rows not 16-byte aligned), for the default
// `lnbench verify` (Backend::CoverageCases). verify runs every variant on
// each, so every variant meets the shapes of the others' paths too.
// Plans do not depend on the norm (LayerNorm and RMSNorm kernels hold a row
// alike), so the same cases cover both: run them for every op.
std::vector<CoverageCase> CudaCoverageCases();

// Returns whether 16-byte loads are allowed: every row start of x and y is
// 16-byte aligned (so cols * sizeof(dtype) is a multiple of 16) and gamma and
// beta (when present) are 16-byte aligned.
// Returns whether p is 16-byte aligned (nullptr is): what a 16-byte load or
// store needs.
inline bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool VectorLoadsAllowed(DType dtype, int64_t cols, const void* x, const void* y, const float* gamma,
                        const float* beta);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_LAYERNORM_PLAN_H_
