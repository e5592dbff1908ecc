#include "core/gpu_device.h"

#include <atomic>

namespace lnbench {
namespace {
std::atomic<int> gpu_device_index{0};
}  // namespace

void SetGpuDeviceIndex(int index) { gpu_device_index.store(index); }

int GpuDeviceIndex() { return gpu_device_index.load(); }

std::string GpuDeviceId() { return "cuda:" + std::to_string(GpuDeviceIndex()); }

}  // namespace lnbench
