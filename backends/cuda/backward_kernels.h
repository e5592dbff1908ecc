// Launches the CUDA backend's LayerNorm and RMSNorm backward kernels
// (backward_kernels.cu) as a BackwardPlan (backward_plan.h) says. Plain C++:
// the backend's .cc includes it.
#ifndef LNBENCH_BACKENDS_CUDA_BACKWARD_KERNELS_H_
#define LNBENCH_BACKENDS_CUDA_BACKWARD_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/backward_plan.h"
#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {

// Device pointers and sizes of one backward problem. x, dy and dx hold
// rows*cols of the dtype; gamma, dgamma and dbeta cols floats, or nullptr
// without affine; mean and rstd rows floats (RMSNorm: mean and dbeta are
// nullptr, rstd holds the rrms); workspace plan.WorkspaceBytes(cols) bytes.
struct NormBackwardArgs {
  Norm norm = Norm::kLayerNorm;
  const void* x = nullptr;
  const void* dy = nullptr;
  const float* gamma = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  void* dx = nullptr;
  float* dgamma = nullptr;
  float* dbeta = nullptr;
  void* workspace = nullptr;
  int64_t rows = 0;
  int64_t cols = 1;
};

// Enqueues the plan's kernels on `stream`: dx (none when rows == 0), then
// the dgamma/dbeta tree when affine (zeros when rows == 0). Throws
// RuntimeError on a launch error, when a vectorized plan meets misaligned
// pointers, or for pointers that do not match the norm and the plan.
void LaunchNormBackward(const BackwardPlan& plan, DType dtype, const NormBackwardArgs& args,
                        cudaStream_t stream);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_BACKWARD_KERNELS_H_
