// CPU memory-system helpers shared by CPU backends: cache sizes, cache
// flushing for cold samples, and the copy-bandwidth ceiling probe.
#ifndef LNBENCH_CORE_CPU_MEMORY_H_
#define LNBENCH_CORE_CPU_MEMORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/dtype.h"
#include "core/host_buffer.h"
#include "core/thread_pool.h"

namespace lnbench {

// Returns the last-level cache size in bytes: sysfs's figure; without one,
// the CPUID figure (sysconf) capped by PlausibleCacheBytes; 32 MiB if neither
// says. The streaming-store threshold and the --cold flush (4x) follow it.
uint64_t LastLevelCacheBytes();

// No x86 core owns more than 12 MiB of L3 (Zen 4 with 3D V-Cache: 96 MiB per
// eight cores); 16 MiB leaves room.
constexpr uint64_t kMaxCacheBytesPerCpu = 16ull << 20;

// Returns `reported` capped at kMaxCacheBytesPerCpu per online CPU (at least
// two): a hypervisor's CPUID may pass the host's whole cache, or a made-up
// one, to a small VM (508 MiB to two vCPUs on a 32 MiB L3 here).
uint64_t PlausibleCacheBytes(uint64_t reported, int cpus);
// Evicts lnbench's data from the CPU caches by streaming through a buffer of
// four times the last-level cache.
void FlushCpuCaches();
// A copy of `bytes`/2 from one buffer to another (bytes counts read +
// written), split over `threads` threads of the shared pool: memcpy (one
// call per thread, on a contiguous share), or a copy with non-temporal stores
// ("stream_copy", in balanced chunks: ThreadPool::ParallelForChunks). The
// buffers are touched once, in parallel like the copies, when it is made.
class CpuCopy {
 public:
  CpuCopy(uint64_t bytes, int threads);
  // read + written bytes of one copy
  uint64_t bytes_per_copy() const { return half_ * 2; }
  // Copies once and returns the seconds it took (steady clock).
  double Time(bool streaming);
  // The copy's destination (bytes_per_copy() / 2 bytes; tests check it).
  const uint8_t* destination() const { return dst_.as<uint8_t>(); }

 private:
  void Copy(bool streaming);
  uint64_t half_;
  HostBuffer src_, dst_;
  ThreadPool& pool_;
};
// Times copies of `bytes`/2 (CpuCopy) until it has `min_samples` and
// `time_budget_s` has passed; returns the samples. memcpy, or with
// `streaming` a copy with non-temporal stores ("stream_copy").
CeilingMeasurement MeasureCpuCopy(uint64_t bytes, int threads, int min_samples,
                                  double time_budget_s, bool streaming = false);
// Fills `count` elements of `dtype` at `data` with the dtype's poison pattern
// (core/dtype.h), split over `pool`.
void FillPoisonHost(DType dtype, void* data, int64_t count, ThreadPool& pool);

// How much more host memory this process may use, and what limits it.
struct MemoryLimit {
  uint64_t bytes = 0;
  std::string source;  // "available memory (MemAvailable)", "address-space limit (ulimit -v)", ...
};
// Returns the smallest of: MemAvailable, the address-space limit (RLIMIT_AS,
// `ulimit -v`) less the address space already mapped, and the cgroup memory
// limit (v2 memory.max - memory.current, v1 memory.limit_in_bytes - usage).
MemoryLimit HostMemoryLimit();

// Returns the CPU model name from /proc/cpuinfo ("unknown" otherwise).
std::string CpuModelName();

// Returns the selected word of a Linux sysfs choice line, e.g. "madvise" from
// "always [madvise] never"; "" when no word is in brackets.
std::string SelectedSysfsChoice(const std::string& line);
// Returns the transparent huge page mode (/sys/kernel/mm/transparent_hugepage/
// enabled): "always", "madvise" or "never"; "" where the file is absent.
// Large HostBuffers ask for huge pages, which `never` refuses.
std::string TransparentHugePagesMode();

}  // namespace lnbench

#endif  // LNBENCH_CORE_CPU_MEMORY_H_
