// Launchers of the small kernels behind cuda_device.h (fills and the copy
// probe), compiled by nvcc in cuda_common_kernels.cu.
#ifndef LNBENCH_BACKENDS_CUDA_CUDA_COMMON_KERNELS_H_
#define LNBENCH_BACKENDS_CUDA_CUDA_COMMON_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lnbench {

// Enqueues dst[i] = pattern for i < count, elements of 2 or 4 bytes.
void LaunchFill(void* dst, uint32_t pattern, int element_bytes, uint64_t count, int sm_count,
                cudaStream_t stream);
// Enqueues a copy of `bytes` (a multiple of 16, both pointers 16-byte aligned)
// with 16-byte vector loads and stores, grid-stride over a full-occupancy grid.
void LaunchVectorCopy(const void* src, void* dst, uint64_t bytes, int sm_count,
                      cudaStream_t stream);
// Enqueues a one-thread kernel that spins until *release (host-mapped memory)
// is non-zero, or about `timeout_s` seconds at the device's clock have passed.
void LaunchHold(const int* release, double timeout_s, int sm_clock_khz, cudaStream_t stream);
// Returns cudaSuccess when this binary holds a kernel image the device can
// run (cudaFuncGetAttributes on one of its kernels), else the error.
cudaError_t ProbeKernelImage();

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_CUDA_COMMON_KERNELS_H_
