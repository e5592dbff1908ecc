#include "app/gpu_select.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/gpu_device.h"
#ifdef LNBENCH_HAVE_CUDA
#include "backends/cuda/cuda_device.h"
#endif

namespace lnbench {

void SelectGpuDevice(int index) {
  if (index < 0) throw UsageError(fmt::format("--device {}: expected a GPU index, 0 or more", index));
#ifdef LNBENCH_HAVE_CUDA
  const int count = CudaDeviceCount();
  if (count > 0 && index >= count)
    throw UsageError(fmt::format("--device {}: this machine has {} NVIDIA GPU{} (--device 0 to {})", index, count,
                                 count == 1 ? "" : "s", count - 1));
#endif
  SetGpuDeviceIndex(index);
}

}  // namespace lnbench
