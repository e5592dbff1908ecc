// CUDA helpers shared by lnbench's GPU backends (cuda, and peers such as
// cudnn): device facts, availability, owned device memory and streams, event
// timing, L2 flushing for cold samples, poison fills and the copy ceiling.
// A plain C++ header (no kernels, no CUDA language): any .cc can include it.
// Everything talks to the device --device selects (core/gpu_device.h; 0 by
// default), "cuda:N".
#ifndef LNBENCH_BACKENDS_CUDA_CUDA_DEVICE_H_
#define LNBENCH_BACKENDS_CUDA_CUDA_DEVICE_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/dtype.h"
#include "core/gpu_device.h"

namespace lnbench {

// Returns the index of the GPU every helper here talks to (--device N).
inline int CudaDeviceIndex() { return GpuDeviceIndex(); }
// Returns its device id, "cuda:N".
inline std::string CudaDeviceId() { return GpuDeviceId(); }

// Returns how many CUDA devices this machine has: 0 without a GPU or driver.
int CudaDeviceCount();

// Facts about the selected device, queried once.
struct CudaDeviceFacts {
  int index = 0;
  std::string name;
  std::string uuid;  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi writes it
  int cc_major = 0;
  int cc_minor = 0;
  int sm_count = 0;
  uint64_t l2_bytes = 0;
  uint64_t memory_bytes = 0;
  int sm_clock_khz = 0;
  int memory_clock_khz = 0;
  int memory_bus_bits = 0;
  int max_threads_per_sm = 0;
  bool ecc = false;
  std::string pci_bus_id;
  int driver_version = 0;   // e.g. 13000 for 13.0
  int runtime_version = 0;  // the runtime linked in (static)
  // Returns the theoretical DRAM bandwidth in GB/s (double data rate).
  double PeakBandwidthGbps() const {
    return 2.0 * memory_clock_khz * 1e3 * (memory_bus_bits / 8.0) / 1e9;
  }
};

// Returns whether the selected device exists and can run lnbench's kernels, and why not
// ("no CUDA device (cudaErrorNoDevice: ...)", "no kernel image for sm_75 ...").
// Computed once per process.
Verdict CudaAvailable();
// Returns the facts of the selected device. Throws RuntimeError when !CudaAvailable().
const CudaDeviceFacts& CudaDevice();
// Returns the facts as report strings: device ("cuda:N"), index, name, uuid, pci_bus_id, compute_capability, sm_count,
// l2_bytes, memory_bytes, clocks, bus width, peak bandwidth, driver and runtime versions.
std::map<std::string, std::string> CudaDeviceInfo();
// Returns "13.0" for 13000.
std::string CudaVersionString(int version);

// Returns the free device memory in bytes.
uint64_t CudaFreeMemory();
// Throws RuntimeError (before anything is allocated) when `bytes` do not fit
// in the free device memory with a small reserve; `what` names the consumer.
void RequireDeviceMemory(uint64_t bytes, const std::string& what);

// Owns cudaMalloc'ed memory (aligned to at least 256 bytes).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) {
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Owns a non-blocking stream (graph capture needs a stream other than the legacy default).
class CudaStream {
 public:
  CudaStream();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }
  void Synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

// Times device work with a pair of CUDA events: Start, enqueue work, Stop,
// then Seconds waits for the stop event and returns the elapsed time.
//
// With hold_stream, Start first enqueues a kernel that holds the stream until
// Stop (nvbench's blocking kernel): the start event, the work and the stop
// event are all queued before the GPU reaches the start event, so the time
// excludes the host's launch latency (and lazy module loading). Nothing
// between Start and Stop may wait for the stream (a 1 s timeout ends the hold).
class CudaEventTimer {
 public:
  explicit CudaEventTimer(bool hold_stream = false);
  ~CudaEventTimer();
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;
  void Start(cudaStream_t stream);
  void Stop(cudaStream_t stream);
  // Returns the seconds between Start and Stop (waits for Stop to complete).
  double Seconds();

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
  int* release_ = nullptr;  // host-mapped flag the hold kernel polls (hold_stream only)
  int* release_device_ = nullptr;
};

// Evicts data from the L2 cache before a cold sample by writing a buffer of
// twice the L2 size (nvbench's l2flush, with margin for the hashed, two-part
// L2 of recent GPUs). The buffer is allocated on first use.
class L2Flusher {
 public:
  // Returns the bytes one flush writes (2 x L2, at least 8 MiB).
  static uint64_t FlushBytes();
  // Enqueues the flush on `stream`.
  void Flush(cudaStream_t stream);

 private:
  DeviceBuffer buffer_;
  unsigned fill_ = 0;
};

// Enqueues a fill of `count` elements of 2 or 4 bytes with `pattern`.
void FillDevice(void* dst, uint32_t pattern, int element_bytes, uint64_t count,
                cudaStream_t stream);
// Enqueues the poison pattern of core/dtype.h over `count` elements of `dtype`.
void FillPoison(void* dst, DType dtype, uint64_t count, cudaStream_t stream);
// Enqueues the poison pattern over `count` floats (mean, rstd).
void FillPoisonF32(float* dst, uint64_t count, cudaStream_t stream);

// Measures device-to-device copy bandwidth with cudaMemcpyAsync (method
// "cudaMemcpy") and with a 16-byte-vector copy kernel (method "copy_kernel"),
// copying `bytes`/2 (bytes counts read + written; shrunk to fit free memory).
// Each method gets at least `min_samples` samples and about half the budget.
std::vector<CeilingMeasurement> MeasureCudaCopyCeiling(uint64_t bytes, int min_samples,
                                                       double time_budget_s);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_CUDA_DEVICE_H_
