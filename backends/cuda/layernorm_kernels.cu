// Launches of the CUDA backend's LayerNorm kernels (layernorm_device.cuh).
#include "backends/cuda/layernorm_kernels.h"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/layernorm_device.cuh"
#include "core/errors.h"

namespace lnbench {
namespace {

using namespace layernorm_device;  // NOLINT: the kernels and their Params

// ---- launch -------------------------------------------------------------------

// Returns the launch configuration of a kCluster plan.
struct ClusterConfig {
  cudaLaunchAttribute attribute[1];
  cudaLaunchConfig_t config = {};
  ClusterConfig(const LaunchPlan& plan, int64_t grid, cudaStream_t stream) {
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = static_cast<unsigned>(plan.blocks_per_row);
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.gridDim = dim3(static_cast<unsigned>(grid));
    config.blockDim = dim3(static_cast<unsigned>(plan.threads));
    config.dynamicSmemBytes = 0;
    config.stream = stream;
    config.attrs = attribute;
    config.numAttrs = 1;
  }
};

int Log2(int power_of_two) {
  int log2 = 0;
  while ((1 << log2) < power_of_two) ++log2;
  return log2;
}

template <typename T, bool kVec>
void LaunchTyped(const LaunchPlan& plan, const Params& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.grid));
  switch (plan.kind) {
    case KernelKind::kWarp:
      WarpRowKernel<T, kVec><<<grid, kWarpKernelThreads, 0, stream>>>(p, Log2(plan.lanes_per_row));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    case KernelKind::kBlock:
      RowBlockKernel<T, kVec, false>
          <<<grid, plan.threads, 0, stream>>>(p, 1, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    case KernelKind::kCluster: {
      ClusterConfig c(plan, plan.grid, stream);
      LNBENCH_CUDA_CALL(cudaLaunchKernelEx(&c.config, RowBlockKernel<T, kVec, true>, p,
                                           plan.blocks_per_row,
                                           static_cast<int>(plan.vecs_per_block)));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    }
    case KernelKind::kSplitRow:
      SplitRowStatsKernel<T, kVec><<<grid, plan.threads, 0, stream>>>(
          p, plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      SplitRowNormalizeKernel<T, kVec><<<grid, plan.threads, 0, stream>>>(
          p, plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
  }
}

template <typename T, bool kVec>
int MaxActiveClustersTyped(const LaunchPlan& plan) {
  ClusterConfig c(plan, plan.blocks_per_row, nullptr);
  int clusters = 0;
  LNBENCH_CUDA_CALL(
      cudaOccupancyMaxActiveClusters(&clusters, RowBlockKernel<T, kVec, true>, &c.config));
  return clusters;
}

}  // namespace

void LaunchLayerNorm(const LaunchPlan& plan, DType dtype, const LayerNormArgs& args,
                     cudaStream_t stream) {
  if (args.rows == 0 || plan.grid == 0) return;
  if (plan.vectorized &&
      !VectorLoadsAllowed(dtype, args.cols, args.x, args.y, args.gamma, args.beta))
    throw RuntimeError("cuda: a 16-byte-load plan got misaligned pointers or cols");
  if (plan.kind == KernelKind::kSplitRow && args.workspace == nullptr)
    throw RuntimeError("cuda: splitrow needs its workspace");
  if ((args.gamma == nullptr) != (args.beta == nullptr))
    throw RuntimeError("cuda: gamma and beta must both be given or both be null");
  if ((args.mean == nullptr) != (args.rstd == nullptr))
    throw RuntimeError("cuda: mean and rstd must both be given or both be null");
  const Params p{args.x,
                 args.gamma,
                 args.beta,
                 args.y,
                 args.mean,
                 args.rstd,
                 static_cast<float4*>(args.workspace),
                 args.rows,
                 args.cols,
                 args.eps};
  const bool vec = plan.vectorized;
  switch (dtype) {
    case DType::kF32:
      vec ? LaunchTyped<float, true>(plan, p, stream) : LaunchTyped<float, false>(plan, p, stream);
      break;
    case DType::kBF16:
      vec ? LaunchTyped<__nv_bfloat16, true>(plan, p, stream)
          : LaunchTyped<__nv_bfloat16, false>(plan, p, stream);
      break;
    case DType::kF16:
      vec ? LaunchTyped<__half, true>(plan, p, stream)
          : LaunchTyped<__half, false>(plan, p, stream);
      break;
  }
}

int MaxActiveClusters(const LaunchPlan& plan, DType dtype) {
  if (plan.kind != KernelKind::kCluster) return 0;
  const bool vec = plan.vectorized;
  switch (dtype) {
    case DType::kF32:
      return vec ? MaxActiveClustersTyped<float, true>(plan)
                 : MaxActiveClustersTyped<float, false>(plan);
    case DType::kBF16:
      return vec ? MaxActiveClustersTyped<__nv_bfloat16, true>(plan)
                 : MaxActiveClustersTyped<__nv_bfloat16, false>(plan);
    case DType::kF16:
      return vec ? MaxActiveClustersTyped<__half, true>(plan)
                 : MaxActiveClustersTyped<__half, false>(plan);
  }
  return 0;
}

}  // namespace lnbench
