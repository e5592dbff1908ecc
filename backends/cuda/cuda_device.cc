#include "backends/cuda/cuda_device.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_common_kernels.h"
#include "core/errors.h"

namespace lnbench {
namespace {

// Returns a device UUID as nvidia-smi writes it: GPU-8-4-4-4-12 hex digits.
std::string UuidText(const cudaUUID_t& uuid) {
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", static_cast<unsigned char>(uuid.bytes[i]));
  }
  return "GPU-" + hex;
}

struct DeviceState {
  Verdict available;
  CudaDeviceFacts facts;
};

// Returns the device state, queried once. Never throws: failures become the verdict.
const DeviceState& State() {
  static const DeviceState state = [] {
    DeviceState s;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice) {
      // What a machine without an NVIDIA GPU answers: "CUDA driver version is
      // insufficient" there would send people to update drivers.
      cudaGetLastError();
      s.available = Verdict::No(fmt::format("no NVIDIA GPU or driver found ({})", cudaGetErrorName(err)));
      return s;
    }
    if (err != cudaSuccess) {
      cudaGetLastError();  // clear it: it is not sticky, but do not leave it for a later check
      s.available = Verdict::No(
          fmt::format("no CUDA device ({}: {})", cudaGetErrorName(err), cudaGetErrorString(err)));
      return s;
    }
    if (count == 0) {
      s.available = Verdict::No("no NVIDIA GPU or driver found");
      return s;
    }
    const int device = CudaDeviceIndex();
    if (device < 0 || device >= count) {
      s.available = Verdict::No(fmt::format("--device {}: this machine has {} NVIDIA GPU{} (0 to {})", device,
                                            count, count == 1 ? "" : "s", count - 1));
      return s;
    }
    try {
      CudaDeviceFacts& f = s.facts;
      // The current device is per host thread: lnbench's CUDA work runs on
      // the thread that first asks for the device (the main thread).
      LNBENCH_CUDA_CALL(cudaSetDevice(device));
      cudaDeviceProp prop{};
      LNBENCH_CUDA_CALL(cudaGetDeviceProperties(&prop, device));
      f.index = device;
      f.name = prop.name;
      f.uuid = UuidText(prop.uuid);
      f.cc_major = prop.major;
      f.cc_minor = prop.minor;
      f.sm_count = prop.multiProcessorCount;
      f.l2_bytes = static_cast<uint64_t>(prop.l2CacheSize);
      f.memory_bytes = prop.totalGlobalMem;
      f.memory_bus_bits = prop.memoryBusWidth;
      f.max_threads_per_sm = prop.maxThreadsPerMultiProcessor;
      f.ecc = prop.ECCEnabled != 0;
      LNBENCH_CUDA_CALL(cudaDeviceGetAttribute(&f.sm_clock_khz, cudaDevAttrClockRate, device));
      LNBENCH_CUDA_CALL(
          cudaDeviceGetAttribute(&f.memory_clock_khz, cudaDevAttrMemoryClockRate, device));
      char bus[64] = {};
      if (cudaDeviceGetPCIBusId(bus, sizeof(bus), device) == cudaSuccess) f.pci_bus_id = bus;
      LNBENCH_CUDA_CALL(cudaDriverGetVersion(&f.driver_version));
      LNBENCH_CUDA_CALL(cudaRuntimeGetVersion(&f.runtime_version));
      const cudaError_t image = ProbeKernelImage();
      if (image != cudaSuccess) {
        cudaGetLastError();
        s.available = Verdict::No(fmt::format(
            "no kernel image for {} (sm_{}{}) in this build: rebuild with "
            "-DCMAKE_CUDA_ARCHITECTURES={}{} ({})",
            f.name, f.cc_major, f.cc_minor, f.cc_major, f.cc_minor, cudaGetErrorString(image)));
        return s;
      }
      s.available = Verdict::Yes();
    } catch (const std::exception& e) {
      s.available = Verdict::No(std::string("CUDA device unusable: ") + e.what());
    }
    return s;
  }();
  return state;
}

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: not an error left for a later check
    return 0;
  }
  return count;
}

Verdict CudaAvailable() { return State().available; }

const CudaDeviceFacts& CudaDevice() {
  const DeviceState& s = State();
  if (!s.available.ok) throw RuntimeError("cuda: " + s.available.reason);
  return s.facts;
}

std::string CudaVersionString(int version) {
  return fmt::format("{}.{}", version / 1000, (version % 1000) / 10);
}

std::map<std::string, std::string> CudaDeviceInfo() {
  if (!CudaAvailable().ok) return {};
  const CudaDeviceFacts& f = CudaDevice();
  return {
      {"device", CudaDeviceId()},
      {"index", std::to_string(f.index)},
      {"name", f.name},
      {"uuid", f.uuid},
      {"compute_capability", fmt::format("{}.{}", f.cc_major, f.cc_minor)},
      {"sm_count", std::to_string(f.sm_count)},
      {"l2_bytes", std::to_string(f.l2_bytes)},
      {"memory_bytes", std::to_string(f.memory_bytes)},
      {"sm_clock_mhz", std::to_string(f.sm_clock_khz / 1000)},
      {"memory_clock_mhz", std::to_string(f.memory_clock_khz / 1000)},
      {"memory_bus_bits", std::to_string(f.memory_bus_bits)},
      {"peak_bandwidth_gbps", fmt::format("{:.1f}", f.PeakBandwidthGbps())},
      {"ecc", f.ecc ? "on" : "off"},
      {"pci_bus_id", f.pci_bus_id},
      {"driver_version", CudaVersionString(f.driver_version)},
      {"runtime_version", CudaVersionString(f.runtime_version)},
  };
}

uint64_t CudaFreeMemory() {
  CudaDevice();
  size_t free_bytes = 0, total_bytes = 0;
  LNBENCH_CUDA_CALL(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

void RequireDeviceMemory(uint64_t bytes, const std::string& what) {
  // Kept free for the CUDA context's own allocations (graphs, launch buffers)
  // and allocation rounding.
  constexpr uint64_t kReserve = 64ull << 20;
  const uint64_t free_bytes = CudaFreeMemory();
  if (bytes + kReserve > free_bytes)
    throw RuntimeError(fmt::format(
        "{} needs {:.1f} MiB of device memory but {} has {:.1f} MiB free (keeping {} MiB spare)",
        what, bytes / 1048576.0, CudaDeviceId(), free_bytes / 1048576.0, kReserve >> 20));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t err = cudaMalloc(&data_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    data_ = nullptr;
    throw RuntimeError(fmt::format("cudaMalloc of {} bytes on {} failed: {}: {}", bytes,
                                   CudaDeviceId(), cudaGetErrorName(err), cudaGetErrorString(err)));
  }
}

DeviceBuffer::~DeviceBuffer() {
  // Destructors must not throw; a failed free at process exit is harmless.
  if (data_ != nullptr) cudaFree(data_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

CudaStream::CudaStream() {
  LNBENCH_CUDA_CALL(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaStream::Synchronize() const { LNBENCH_CUDA_CALL(cudaStreamSynchronize(stream_)); }

namespace {
// Longest hold: far beyond any Start-to-Stop enqueue, short enough not to stall a failure.
constexpr double kHoldTimeoutS = 1.0;

void SetRelease(int* flag, int value) { *static_cast<volatile int*>(flag) = value; }
}  // namespace

CudaEventTimer::CudaEventTimer(bool hold_stream) {
  LNBENCH_CUDA_CALL(cudaEventCreate(&start_));
  LNBENCH_CUDA_CALL(cudaEventCreate(&stop_));
  if (hold_stream) {
    void* host = nullptr;
    LNBENCH_CUDA_CALL(cudaHostAlloc(&host, sizeof(int), cudaHostAllocMapped));
    release_ = static_cast<int*>(host);
    SetRelease(release_, 1);
    void* device = nullptr;
    LNBENCH_CUDA_CALL(cudaHostGetDevicePointer(&device, host, 0));
    release_device_ = static_cast<int*>(device);
  }
}

CudaEventTimer::~CudaEventTimer() {
  if (release_ != nullptr) {
    SetRelease(release_, 1);
    cudaFreeHost(release_);
  }
  if (start_ != nullptr) cudaEventDestroy(start_);
  if (stop_ != nullptr) cudaEventDestroy(stop_);
}

void CudaEventTimer::Start(cudaStream_t stream) {
  if (release_ != nullptr) {
    SetRelease(release_, 0);
    LaunchHold(release_device_, kHoldTimeoutS, CudaDevice().sm_clock_khz, stream);
  }
  LNBENCH_CUDA_CALL(cudaEventRecord(start_, stream));
}

void CudaEventTimer::Stop(cudaStream_t stream) {
  const cudaError_t err = cudaEventRecord(stop_, stream);
  if (release_ != nullptr) SetRelease(release_, 1);  // release even when the record failed
  if (err != cudaSuccess) ThrowCudaError(err, "cudaEventRecord(stop_, stream)", __FILE__, __LINE__);
}

double CudaEventTimer::Seconds() {
  LNBENCH_CUDA_CALL(cudaEventSynchronize(stop_));
  float ms = 0;
  LNBENCH_CUDA_CALL(cudaEventElapsedTime(&ms, start_, stop_));
  return ms * 1e-3;
}

uint64_t L2Flusher::FlushBytes() {
  return std::max<uint64_t>(2 * CudaDevice().l2_bytes, 8ull << 20);
}

void L2Flusher::Flush(cudaStream_t stream) {
  if (buffer_.data() == nullptr) buffer_ = DeviceBuffer(FlushBytes());
  // A different value each time, so no layer can skip the writes as redundant.
  LNBENCH_CUDA_CALL(
      cudaMemsetAsync(buffer_.data(), static_cast<int>(++fill_ & 0xFF), buffer_.bytes(), stream));
}

void FillDevice(void* dst, uint32_t pattern, int element_bytes, uint64_t count,
                cudaStream_t stream) {
  LNBENCH_CHECK(element_bytes == 2 || element_bytes == 4, "element_bytes must be 2 or 4");
  LaunchFill(dst, pattern, element_bytes, count, CudaDevice().sm_count, stream);
}

void FillPoison(void* dst, DType dtype, uint64_t count, cudaStream_t stream) {
  FillDevice(dst, PoisonBits(dtype), static_cast<int>(DTypeSize(dtype)), count, stream);
}

void FillPoisonF32(float* dst, uint64_t count, cudaStream_t stream) {
  FillDevice(dst, kPoisonF32Bits, 4, count, stream);
}

std::vector<CeilingMeasurement> MeasureCudaCopyCeiling(uint64_t bytes, int min_samples,
                                                       double time_budget_s) {
  const CudaDeviceFacts& facts = CudaDevice();
  // Half the bytes are read, half written; keep the buffers within 80% of free memory.
  uint64_t half = std::max<uint64_t>(bytes / 2, 1ull << 20);
  const uint64_t usable = CudaFreeMemory() / 10 * 8;
  if (2 * half > usable) half = usable / 2;
  half = half / 4096 * 4096;
  if (half == 0) throw RuntimeError("cuda: no device memory free for the copy ceiling");
  DeviceBuffer src(half), dst(half);
  CudaStream stream;
  CudaEventTimer timer(/*hold_stream=*/true);
  LNBENCH_CUDA_CALL(cudaMemsetAsync(src.data(), 1, half, stream.get()));
  LNBENCH_CUDA_CALL(cudaMemsetAsync(dst.data(), 0, half, stream.get()));

  struct Method {
    const char* name;
    void (*copy)(const DeviceBuffer&, const DeviceBuffer&, int, cudaStream_t);
  };
  const Method methods[] = {
      {"cudaMemcpy",
       [](const DeviceBuffer& s, const DeviceBuffer& d, int, cudaStream_t st) {
         LNBENCH_CUDA_CALL(
             cudaMemcpyAsync(d.data(), s.data(), s.bytes(), cudaMemcpyDeviceToDevice, st));
       }},
      {"copy_kernel",
       [](const DeviceBuffer& s, const DeviceBuffer& d, int sms, cudaStream_t st) {
         LaunchVectorCopy(s.data(), d.data(), s.bytes(), sms, st);
       }},
  };
  std::vector<CeilingMeasurement> out;
  const int wanted = std::max(min_samples, 1);
  for (const Method& method : methods) {
    CeilingMeasurement m;
    m.method = method.name;
    m.bytes_per_copy = 2 * half;
    method.copy(src, dst, facts.sm_count, stream.get());  // warm-up
    stream.Synchronize();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      timer.Start(stream.get());
      method.copy(src, dst, facts.sm_count, stream.get());
      timer.Stop(stream.get());
      m.seconds.push_back(timer.Seconds());
      const double spent =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (i + 1 >= wanted && spent > time_budget_s / 2) break;
      if (i + 1 >= 1000) break;
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace lnbench
