// Launches of the CUDA backend's LayerNorm and RMSNorm backward kernels (backward_device.cuh).
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <type_traits>

#include "backends/cuda/backward_device.cuh"
#include "backends/cuda/backward_kernels.h"
#include "backends/cuda/cuda_check.h"
#include "core/errors.h"

namespace lnbench {
namespace {

using namespace layernorm_device;  // NOLINT: the kernels and their params

int Log2(int power_of_two) {
  int log2 = 0;
  while ((1 << log2) < power_of_two) ++log2;
  return log2;
}

template <Norm kNorm, typename T, bool kVec>
void LaunchTyped(const BackwardPlan& plan, const NormBackwardArgs& args, cudaStream_t stream) {
  const BackwardParams p{args.x,    args.dy, args.gamma, args.mean,
                         args.rstd, args.dx, args.rows,  args.cols};
  float* ws = static_cast<float*>(args.workspace);
  auto buffer = [&](int where, int t) {
    return plan.TreeBuffer(where, t, ws, args.dgamma, args.dbeta, args.cols);
  };
  if (args.rows > 0 && plan.grid > 0) {
    const dim3 grid(static_cast<unsigned>(plan.grid));
    if (plan.fused) {
      // The dx kernel is level 0 of the tree.
      const int dst = plan.levels.front().dst;
      if (plan.kind == KernelKind::kWarp) {
        FusedWarpKernel<kNorm, T, kVec><<<grid, plan.threads, 0, stream>>>(
            p, Log2(plan.lanes_per_row), plan.part_rows, plan.prefetch, buffer(dst, 0),
            buffer(dst, 1));
      } else {
        FusedBlockKernel<kNorm, T, kVec><<<grid, plan.threads, 0, stream>>>(
            p, plan.part_rows, plan.prefetch, buffer(dst, 0), buffer(dst, 1));
      }
    } else if (plan.kind == KernelKind::kWarp) {
      BackwardWarpKernel<kNorm, T, kVec>
          <<<grid, kWarpKernelThreads, 0, stream>>>(p, Log2(plan.lanes_per_row));
    } else {
      BackwardBlockKernel<kNorm, T, kVec><<<grid, plan.threads, 0, stream>>>(p);
    }
    LNBENCH_CUDA_CHECK_LAUNCH();
  }
  const int tiles = static_cast<int>(plan.col_tiles);
  for (size_t i = plan.fused ? 1 : 0; i < plan.levels.size(); ++i) {
    const BackwardParamLevel& level = plan.levels[i];
    const dim3 grid(static_cast<unsigned>(level.grid));
    float* out_g = buffer(level.dst, 0);
    float* out_b = buffer(level.dst, 1);
    if (level.src < 0) {
      BackwardParamRowsKernel<kNorm, T>
          <<<grid, plan.param_threads, 0, stream>>>(p, tiles, out_g, out_b);
    } else {
      BackwardParamSumKernel<<<grid, plan.param_threads, 0, stream>>>(
          buffer(level.src, 0), buffer(level.src, 1), level.inputs, args.cols, tiles, out_g,
          out_b);
    }
    LNBENCH_CUDA_CHECK_LAUNCH();
  }
}

template <Norm kNorm>
void LaunchNorm(const BackwardPlan& plan, DType dtype, const NormBackwardArgs& args,
                cudaStream_t stream) {
  const bool v = plan.vectorized;
  switch (dtype) {
    case DType::kBF16:
      return v ? LaunchTyped<kNorm, __nv_bfloat16, true>(plan, args, stream)
               : LaunchTyped<kNorm, __nv_bfloat16, false>(plan, args, stream);
    case DType::kF16:
      return v ? LaunchTyped<kNorm, __half, true>(plan, args, stream)
               : LaunchTyped<kNorm, __half, false>(plan, args, stream);
    case DType::kF32:
      break;
  }
  return v ? LaunchTyped<kNorm, float, true>(plan, args, stream)
           : LaunchTyped<kNorm, float, false>(plan, args, stream);
}

// Throws RuntimeError for pointers that do not match the norm and the plan.
void CheckNormBackwardArgs(const BackwardPlan& plan, DType dtype, const NormBackwardArgs& args) {
  if (plan.vectorized &&
      !BackwardVectorLoadsAllowed(dtype, args.cols, args.x, args.dy, args.dx, args.gamma))
    throw RuntimeError("cuda: a 16-byte-load backward plan got misaligned pointers or cols");
  const bool layernorm = args.norm == Norm::kLayerNorm;
  if (args.rows > 0 && (args.rstd == nullptr || (layernorm && args.mean == nullptr)))
    throw RuntimeError("cuda: backward needs the saved statistics (mean and rstd; rmsnorm: rstd)");
  if (!layernorm && (args.mean != nullptr || args.dbeta != nullptr))
    throw RuntimeError("cuda: rmsnorm backward has no mean and no dbeta");
  const bool affine = args.gamma != nullptr;
  if (affine != (args.dgamma != nullptr) || (layernorm && affine != (args.dbeta != nullptr)))
    throw RuntimeError("cuda: gamma, dgamma (and dbeta) must all be given or all be null");
  if (affine != !plan.levels.empty() || (affine && plan.param_tensors != (layernorm ? 2 : 1)))
    throw RuntimeError("cuda: the backward plan was made for another affine setting or norm");
  if (plan.fused && (plan.levels.empty() || plan.part_rows < 1 ||
                     plan.grid * plan.part_rows < args.rows ||
                     (plan.grid - 1) * static_cast<int64_t>(plan.part_rows) >= args.rows))
    throw RuntimeError("cuda: a fused backward plan made for another number of rows");
  // A fused 16-byte block plan stores its partials 16 bytes at a time
  // (RMSNorm's dbeta is null: refused above otherwise).
  if (plan.fused && plan.vectorized &&
      (!Aligned16(args.dgamma) || !Aligned16(args.dbeta) || !Aligned16(args.workspace)))
    throw RuntimeError("cuda: a fused 16-byte backward plan needs 16-byte aligned dgamma, dbeta "
                       "and workspace");
  if (plan.WorkspaceBytes(args.cols) > 0 && args.workspace == nullptr)
    throw RuntimeError("cuda: the dgamma tree needs its workspace");
}

}  // namespace

void LaunchNormBackward(const BackwardPlan& plan, DType dtype, const NormBackwardArgs& args,
                        cudaStream_t stream) {
  CheckNormBackwardArgs(plan, dtype, args);
  if (args.norm == Norm::kRmsNorm) {
    LaunchNorm<Norm::kRmsNorm>(plan, dtype, args, stream);
  } else {
    LaunchNorm<Norm::kLayerNorm>(plan, dtype, args, stream);
  }
}

}  // namespace lnbench
