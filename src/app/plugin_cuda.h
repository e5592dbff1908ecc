// CUDA plugins: the parts of the plugin loader that need the CUDA helpers
// (src/app/plugin_cuda.cc, compiled in CUDA builds only: LNBENCH_HAVE_CUDA).
#ifndef LNBENCH_APP_PLUGIN_CUDA_H_
#define LNBENCH_APP_PLUGIN_CUDA_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/plugin_tensors.h"
#include "app/plugin_worker.h"
#include "backends/backend.h"
#include "lnbench/plugin.h"

namespace lnbench {

// Returns whether device 0 can run CUDA plugins, and why not.
Verdict CudaPluginAvailable();
// Returns the facts of device 0 for the report.
std::map<std::string, std::string> CudaPluginDeviceInfo();
// Measures the device-to-device copy ceiling (the built-in cuda backend's).
std::vector<CeilingMeasurement> CudaPluginCeiling(uint64_t bytes, int min_samples, double time_budget_s);
// Prepares `p` on the plugin backend `b` in lnbench's own process
// (--plugin-isolation none): device tensors with canaries, a stream, the
// plugin's prepare(); each call into the plugin ends lnbench after
// `timeout_s` (InProcessCall). Throws RuntimeError.
std::unique_ptr<PreparedCase> MakeCudaPluginCase(const lnb_backend* b, const std::string& name, const Problem& p,
                                                 const lnb_problem& cproblem, const std::string& variant,
                                                 const HostTensors& inputs, double timeout_s);

// The device side of a CUDA plugin's case in an exec'd worker, on device
// `device`: device tensors between canaries, uploaded from the shared host
// tensors (`tensors[i].host_input`), the outputs copied back into theirs
// (`host_output`) after each run. Throws RuntimeError.
std::unique_ptr<WorkerEngine> MakeCudaWorkerEngine(const lnb_backend* b, const lnb_problem& problem,
                                                   const std::string& variant, int device,
                                                   const std::vector<PluginTensor>& tensors);

}  // namespace lnbench

#endif  // LNBENCH_APP_PLUGIN_CUDA_H_
