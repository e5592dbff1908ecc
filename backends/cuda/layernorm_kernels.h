// Launches the CUDA backend's LayerNorm kernels (layernorm_kernels.cu) as a
// LaunchPlan (layernorm_plan.h) says. Plain C++: the backend's .cc includes it.
#ifndef LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_
#define LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/layernorm_plan.h"
#include "core/dtype.h"

namespace lnbench {

// Device pointers and sizes of one problem. x and y hold rows*cols of the
// dtype; gamma/beta cols floats or nullptr (no affine); mean/rstd rows floats
// or nullptr (not produced); workspace plan.WorkspaceBytes(rows) bytes.
struct LayerNormArgs {
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

// Enqueues the plan's kernels on `stream` (nothing when rows == 0). Throws
// RuntimeError on a launch error or when a vectorized plan meets misaligned
// pointers.
void LaunchLayerNorm(const LaunchPlan& plan, DType dtype, const LayerNormArgs& args,
                     cudaStream_t stream);
// Returns how many clusters of a kCluster plan's shape the device can hold at
// once (cudaOccupancyMaxActiveClusters); 0 means the launch would fail.
int MaxActiveClusters(const LaunchPlan& plan, DType dtype);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_LAYERNORM_KERNELS_H_
