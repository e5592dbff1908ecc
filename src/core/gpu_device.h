// The GPU that lnbench's GPU backends and CUDA plugins use (--device N).
// Set once by the application layer before any backend touches a device;
// read by the CUDA helpers (backends/cuda/cuda_device.cc), by device ids
// ("cuda:N") and by the report. Plain C++: no CUDA here.
#ifndef LNBENCH_CORE_GPU_DEVICE_H_
#define LNBENCH_CORE_GPU_DEVICE_H_

#include <string>

namespace lnbench {

// Sets the index of the GPU to use (0 unless --device says otherwise).
void SetGpuDeviceIndex(int index);
// Returns the index of the GPU to use.
int GpuDeviceIndex();
// Returns the device id of that GPU: "cuda:N".
std::string GpuDeviceId();

}  // namespace lnbench

#endif  // LNBENCH_CORE_GPU_DEVICE_H_
