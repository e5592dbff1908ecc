// Launches the CUDA backend's LayerNorm and RMSNorm kernels (layernorm_kernels.cu)
// as a LaunchPlan (layernorm_plan.h) says; both norms share every plan. Plain
// C++: the backend's .cc includes it.
#ifndef LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_
#define LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/layernorm_plan.h"
#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {

// Device pointers and sizes of one problem. x and y hold rows*cols of the
// dtype; gamma/beta cols floats or nullptr (no affine); mean/rstd rows floats
// or nullptr (not produced); workspace plan.WorkspaceBytes(rows) bytes.
// RMSNorm: beta and mean are always nullptr; rstd receives the rrms.
struct LayerNormArgs {
  Norm norm = Norm::kLayerNorm;
  const void* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  void* y = nullptr;
  float* mean = nullptr;
  float* rstd = nullptr;
  void* workspace = nullptr;
  int64_t rows = 0;
  int64_t cols = 1;
  float eps = 1e-5f;
};

// Enqueues the plan's kernels for args.norm on `stream` (nothing when rows ==
// 0). Throws RuntimeError on a launch error, when a vectorized plan meets
// misaligned pointers, or for pointers the norm does not take.
void LaunchLayerNorm(const LaunchPlan& plan, DType dtype, const LayerNormArgs& args,
                     cudaStream_t stream);
// Returns how many clusters of a kCluster plan's shape the device can hold at
// once (cudaOccupancyMaxActiveClusters); 0 means the launch would fail.
int MaxActiveClusters(const LaunchPlan& plan, DType dtype, Norm norm);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_
