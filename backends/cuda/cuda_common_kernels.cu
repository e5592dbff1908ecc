#include "backends/cuda/cuda_common_kernels.h"

#include <algorithm>

#include "backends/cuda/cuda_check.h"

namespace lnbench {
namespace {

constexpr int kFillThreads = 256;
constexpr int kCopyThreads = 256;

template <typename U>
__global__ void FillKernel(U* __restrict__ dst, U value, uint64_t count) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride)
    dst[i] = value;
}

// Four independent 16-byte loads in flight per thread before the stores,
// so that a full-occupancy grid keeps enough bytes in flight to saturate DRAM.
__global__ void VectorCopyKernel(const uint4* __restrict__ src, uint4* __restrict__ dst,
                                 uint64_t count) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < count; i += 4 * stride) {
    const uint4 a = src[i];
    const uint4 b = src[i + stride];
    const uint4 c = src[i + 2 * stride];
    const uint4 d = src[i + 3 * stride];
    dst[i] = a;
    dst[i + stride] = b;
    dst[i + 2 * stride] = c;
    dst[i + 3 * stride] = d;
  }
  for (; i < count; i += stride) dst[i] = src[i];
}

// Spins until the host writes *release (nvbench's blocking kernel), with a
// timeout so a host that never releases cannot hang the device.
__global__ void HoldKernel(const volatile int* release, long long timeout_cycles) {
  const long long start = clock64();
  while (*release == 0 && clock64() - start < timeout_cycles) __nanosleep(1000);
}

// Returns a grid that covers `count` items with `threads` per block, capped
// at `blocks_per_sm` blocks per SM (the kernels are grid-stride loops).
unsigned GridFor(uint64_t count, int threads, int sm_count, int blocks_per_sm) {
  const uint64_t needed = (count + threads - 1) / threads;
  const uint64_t cap = static_cast<uint64_t>(std::max(sm_count, 1)) * blocks_per_sm;
  return static_cast<unsigned>(std::max<uint64_t>(1, std::min(needed, cap)));
}

}  // namespace

void LaunchFill(void* dst, uint32_t pattern, int element_bytes, uint64_t count, int sm_count,
                cudaStream_t stream) {
  if (count == 0) return;
  const unsigned grid = GridFor(count, kFillThreads, sm_count, 8);
  if (element_bytes == 4) {
    FillKernel<uint32_t>
        <<<grid, kFillThreads, 0, stream>>>(static_cast<uint32_t*>(dst), pattern, count);
  } else {
    FillKernel<uint16_t><<<grid, kFillThreads, 0, stream>>>(static_cast<uint16_t*>(dst),
                                                            static_cast<uint16_t>(pattern), count);
  }
  LNBENCH_CUDA_CHECK_LAUNCH();
}

void LaunchVectorCopy(const void* src, void* dst, uint64_t bytes, int sm_count,
                      cudaStream_t stream) {
  const uint64_t count = bytes / 16;
  if (count == 0) return;
  int blocks_per_sm = 0;
  LNBENCH_CUDA_CALL(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, VectorCopyKernel,
                                                                  kCopyThreads, 0));
  const unsigned grid = GridFor(count, kCopyThreads, sm_count, std::max(blocks_per_sm, 1));
  VectorCopyKernel<<<grid, kCopyThreads, 0, stream>>>(static_cast<const uint4*>(src),
                                                      static_cast<uint4*>(dst), count);
  LNBENCH_CUDA_CHECK_LAUNCH();
}

void LaunchHold(const int* release, double timeout_s, int sm_clock_khz, cudaStream_t stream) {
  const long long cycles = static_cast<long long>(timeout_s * std::max(sm_clock_khz, 1) * 1e3);
  HoldKernel<<<1, 1, 0, stream>>>(release, cycles);
  LNBENCH_CUDA_CHECK_LAUNCH();
}

cudaError_t ProbeKernelImage() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, FillKernel<uint32_t>);
}

}  // namespace lnbench
