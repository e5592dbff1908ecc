// --device N: the GPU for the GPU backends (cuda, cudnn), CUDA plugins and
// external commands on a GPU.
#ifndef LNBENCH_APP_GPU_SELECT_H_
#define LNBENCH_APP_GPU_SELECT_H_

namespace lnbench {

// Selects GPU `index` before any backend touches a device. Throws UsageError
// for a negative index, and for one this machine does not have when it has
// GPUs (naming how many). Without a GPU (or a CUDA build) any index is kept:
// the GPU cases are skipped for lack of a GPU, as without --device.
void SelectGpuDevice(int index);

}  // namespace lnbench

#endif  // LNBENCH_APP_GPU_SELECT_H_
