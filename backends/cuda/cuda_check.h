// LNBENCH_CUDA_CALL: every CUDA runtime call goes through it. A failure
// throws RuntimeError with the file, line, the call's text and CUDA's message
// (nvbench's NVBENCH_CUDA_CALL shape). Nothing calls exit().
#ifndef LNBENCH_BACKENDS_CUDA_CUDA_CHECK_H_
#define LNBENCH_BACKENDS_CUDA_CUDA_CHECK_H_

#include <cuda_runtime_api.h>

#include <string>

#include "core/errors.h"

namespace lnbench {

[[noreturn]] inline void ThrowCudaError(cudaError_t err, const char* call, const char* file,
                                        int line) {
  throw RuntimeError(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                     cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

}  // namespace lnbench

#define LNBENCH_CUDA_CALL(call)                                                  \
  do {                                                                           \
    const cudaError_t lnbench_cuda_err_ = (call);                                \
    if (lnbench_cuda_err_ != cudaSuccess)                                        \
      ::lnbench::ThrowCudaError(lnbench_cuda_err_, #call, __FILE__, __LINE__);   \
  } while (0)

// Checks the launch that just happened (configuration errors show here).
#define LNBENCH_CUDA_CHECK_LAUNCH() LNBENCH_CUDA_CALL(cudaGetLastError())

#endif  // LNBENCH_BACKENDS_CUDA_CUDA_CHECK_H_
