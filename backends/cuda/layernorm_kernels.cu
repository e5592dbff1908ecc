// Launches of the CUDA backend's LayerNorm and RMSNorm kernels (layernorm_device.cuh).
#include "backends/cuda/layernorm_kernels.h"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

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

template <Norm kNorm, typename T, bool kVec>
void LaunchTyped(const LaunchPlan& plan, const Params& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.grid));
  switch (plan.kind) {
    case KernelKind::kWarp:
      WarpRowKernel<kNorm, T, kVec><<<grid, kWarpKernelThreads, 0, stream>>>(p, Log2(plan.lanes_per_row));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    case KernelKind::kBlock:
      RowBlockKernel<kNorm, T, kVec, false>
          <<<grid, plan.threads, 0, stream>>>(p, 1, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    case KernelKind::kCluster: {
      ClusterConfig c(plan, plan.grid, stream);
      LNBENCH_CUDA_CALL(cudaLaunchKernelEx(&c.config, RowBlockKernel<kNorm, T, kVec, true>, p,
                                           plan.blocks_per_row,
                                           static_cast<int>(plan.vecs_per_block)));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
    }
    case KernelKind::kSplitRow:
      SplitRowStatsKernel<kNorm, T, kVec><<<grid, plan.threads, 0, stream>>>(
          p, plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      SplitRowNormalizeKernel<kNorm, T, kVec><<<grid, plan.threads, 0, stream>>>(
          p, plan.blocks_per_row, static_cast<int>(plan.vecs_per_block));
      LNBENCH_CUDA_CHECK_LAUNCH();
      break;
  }
}

template <Norm kNorm, typename T, bool kVec>
int MaxActiveClustersTyped(const LaunchPlan& plan) {
  ClusterConfig c(plan, plan.blocks_per_row, nullptr);
  int clusters = 0;
  LNBENCH_CUDA_CALL(cudaOccupancyMaxActiveClusters(
      &clusters, RowBlockKernel<kNorm, T, kVec, true>, &c.config));
  return clusters;
}

// Calls F::template Run<kNorm, T, kVec>(args...) for the runtime norm, dtype
// and load width: the one place the 12 kernel instantiations are spelled out.
template <typename F, typename... Args>
auto Dispatch(Norm norm, DType dtype, bool vec, Args&&... args) {
  auto by_type = [&](auto norm_tag) {
    constexpr Norm kNorm = decltype(norm_tag)::value;
    switch (dtype) {
      case DType::kBF16:
        return vec ? F::template Run<kNorm, __nv_bfloat16, true>(args...)
                   : F::template Run<kNorm, __nv_bfloat16, false>(args...);
      case DType::kF16:
        return vec ? F::template Run<kNorm, __half, true>(args...)
                   : F::template Run<kNorm, __half, false>(args...);
      case DType::kF32:
        break;
    }
    return vec ? F::template Run<kNorm, float, true>(args...)
               : F::template Run<kNorm, float, false>(args...);
  };
  if (norm == Norm::kRmsNorm)
    return by_type(std::integral_constant<Norm, Norm::kRmsNorm>{});
  return by_type(std::integral_constant<Norm, Norm::kLayerNorm>{});
}

struct LaunchOp {
  template <Norm kNorm, typename T, bool kVec>
  static int Run(const LaunchPlan& plan, const Params& p, cudaStream_t stream) {
    LaunchTyped<kNorm, T, kVec>(plan, p, stream);
    return 0;
  }
};

struct MaxActiveClustersOp {
  template <Norm kNorm, typename T, bool kVec>
  static int Run(const LaunchPlan& plan) {
    return MaxActiveClustersTyped<kNorm, T, kVec>(plan);
  }
};

}  // namespace

void LaunchLayerNorm(const LaunchPlan& plan, DType dtype, const LayerNormArgs& args,
                     cudaStream_t stream) {
  if (args.rows == 0 || plan.grid == 0) return;
  if (plan.vectorized &&
      !VectorLoadsAllowed(dtype, args.cols, args.x, args.y, args.gamma, args.beta))
    throw RuntimeError("cuda: a 16-byte-load plan got misaligned pointers or cols");
  if (plan.kind == KernelKind::kSplitRow && args.workspace == nullptr)
    throw RuntimeError("cuda: splitrow needs its workspace");
  if (args.norm == Norm::kRmsNorm) {
    if (args.beta != nullptr || args.mean != nullptr)
      throw RuntimeError("cuda: rmsnorm has no beta and no mean");
  } else {
    if ((args.gamma == nullptr) != (args.beta == nullptr))
      throw RuntimeError("cuda: gamma and beta must both be given or both be null");
    if ((args.mean == nullptr) != (args.rstd == nullptr))
      throw RuntimeError("cuda: mean and rstd must both be given or both be null");
  }
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
  Dispatch<LaunchOp>(args.norm, dtype, plan.vectorized, plan, p, stream);
}

int MaxActiveClusters(const LaunchPlan& plan, DType dtype, Norm norm) {
  if (plan.kind != KernelKind::kCluster) return 0;
  return Dispatch<MaxActiveClustersOp>(norm, dtype, plan.vectorized, plan);
}

}  // namespace lnbench
