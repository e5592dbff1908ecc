#include "core/cpu_memory.h"

#include <sys/resource.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <string>

#include "core/host_buffer.h"
#include "core/thread_pool.h"

namespace lnbench {

namespace {

// Returns the size of the highest-level cache of cpu0 from sysfs ("32768K"),
// or 0 when sysfs does not say.
uint64_t SysfsLastLevelCacheBytes() {
  int best_level = 0;
  uint64_t best_bytes = 0;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream level_in(dir + "/level"), size_in(dir + "/size");
    int level = 0;
    std::string size;
    if (!(level_in >> level) || !(size_in >> size) || size.empty()) continue;
    uint64_t bytes = std::strtoull(size.c_str(), nullptr, 10);
    if (size.back() == 'K') bytes <<= 10;
    if (size.back() == 'M') bytes <<= 20;
    if (level > best_level && bytes > 0) {
      best_level = level;
      best_bytes = bytes;
    }
  }
  return best_bytes;
}

}  // namespace

uint64_t PlausibleCacheBytes(uint64_t reported, int cpus) {
  const uint64_t cap = kMaxCacheBytesPerCpu * static_cast<uint64_t>(std::max(cpus, 2));
  return std::min(reported, cap);
}

uint64_t LastLevelCacheBytes() {
  // sysfs first: under some hypervisors glibc's CPUID-derived sysconf value is
  // far off (320 MiB for a 32 MiB L3 on the Zen 4 VM lnbench is developed on).
  // Without sysfs, the CPUID figure is all there is, and the VMs this project
  // runs on report 320 to 508 MiB to two vCPUs: the default streaming-store
  // threshold then kept every output under that size in ordinary stores, and
  // --cold cleared 2 GiB per sample. Capped at what two cores could plausibly
  // own (PlausibleCacheBytes).
  static const uint64_t bytes = [] {
    const uint64_t sysfs = SysfsLastLevelCacheBytes();
    if (sysfs > 0) return sysfs;
    uint64_t reported = 32ull << 20;
    if (const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE); l3 > 0) {
      reported = static_cast<uint64_t>(l3);
    } else if (const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); l2 > 0) {
      reported = static_cast<uint64_t>(l2) * 4;
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return PlausibleCacheBytes(reported, cpus > 0 ? static_cast<int>(cpus) : 1);
  }();
  return bytes;
}

void FlushCpuCaches() {
  static HostBuffer buffer(std::max<uint64_t>(LastLevelCacheBytes() * 4, 64ull << 20));
  static uint8_t value = 0;
  ++value;
  // Writing (not just reading) also evicts dirty output lines of the last run.
  std::memset(buffer.data(), value, buffer.bytes());
  volatile uint8_t sink = buffer.as<uint8_t>()[buffer.bytes() / 2];
  (void)sink;
}

namespace {
// Copies with non-temporal (streaming) stores, so destination lines are not
// read before they are written. glibc's memcpy switches to such stores only
// above a threshold derived from the cache size it believes in (320 MiB on
// this project's VM, where the L3 is 32 MiB), so below it memcpy pays a read
// for every written line and understates what the memory system can copy.
void StreamCopy(uint8_t* dst, const uint8_t* src, size_t n) {
#if defined(__x86_64__)
  size_t i = 0;
  while (i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0) {
    dst[i] = src[i];
    ++i;
  }
  for (; i + 64 <= n; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
  }
  _mm_sfence();
  std::memcpy(dst + i, src + i, n - i);
#else
  std::memcpy(dst, src, n);
#endif
}
}  // namespace

CpuCopy::CpuCopy(uint64_t bytes, int threads)
    : half_(std::max<uint64_t>(bytes / 2, 4096)), src_(half_), dst_(half_), pool_(SharedThreadPool(threads)) {
  // First touch of both buffers, in parallel like the copies.
  const int64_t chunks = pool_.threads();
  pool_.ParallelFor(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const uint64_t lo = half_ * c / chunks, hi = half_ * (c + 1) / chunks;
      std::memset(src_.as<uint8_t>() + lo, 1, hi - lo);
      std::memset(dst_.as<uint8_t>() + lo, 0, hi - lo);
    }
  });
}

void CpuCopy::Copy(bool streaming) {
  if (streaming && pool_.threads() > 1) {
    // Balanced chunks, as the kernels that split their rows so (CpuCase's
    // balanced rows): a thread on a faster core copies more. Not memcpy:
    // glibc picks its stores by the size of one call (non-temporal only for
    // large ones), so chunks would change its method; it keeps one call per
    // thread. Two threads, 256 MiB, streaming copy balanced / static time,
    // medians of 21 alternating pairs, three processes: 0.97-1.00; memcpy
    // in the same chunks took 1.19-1.22x its time.
    constexpr uint64_t kBlock = 64 * 1024;
    const int64_t blocks = static_cast<int64_t>((half_ + kBlock - 1) / kBlock);
    pool_.ParallelForChunks(blocks, 8, [&](int64_t, int64_t b, int64_t e) {
      const uint64_t lo = static_cast<uint64_t>(b) * kBlock;
      const uint64_t hi = std::min(half_, static_cast<uint64_t>(e) * kBlock);
      StreamCopy(dst_.as<uint8_t>() + lo, src_.as<uint8_t>() + lo, hi - lo);
    });
    return;
  }
  const int64_t chunks = pool_.threads();
  pool_.ParallelFor(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const uint64_t lo = half_ * c / chunks, hi = half_ * (c + 1) / chunks;
      if (streaming)
        StreamCopy(dst_.as<uint8_t>() + lo, src_.as<uint8_t>() + lo, hi - lo);
      else
        std::memcpy(dst_.as<uint8_t>() + lo, src_.as<uint8_t>() + lo, hi - lo);
    }
  });
}

double CpuCopy::Time(bool streaming) {
  const auto t0 = std::chrono::steady_clock::now();
  Copy(streaming);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

CeilingMeasurement MeasureCpuCopy(uint64_t bytes, int threads, int min_samples,
                                  double time_budget_s, bool streaming) {
  CeilingMeasurement m;
  m.method = streaming ? "stream_copy" : "memcpy";
  CpuCopy copy(bytes, threads);
  m.bytes_per_copy = copy.bytes_per_copy();
  // Timed copies follow each other: the pool's waits spin (thread_pool.h).
  ScopedPoolSpinning spinning;
  copy.Time(streaming);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    m.seconds.push_back(copy.Time(streaming));
    const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i + 1 >= min_samples && spent > time_budget_s) break;
    if (i + 1 >= 1000) break;
  }
  return m;
}

void FillPoisonHost(DType dtype, void* data, int64_t count, ThreadPool& pool) {
  pool.ParallelFor(count, [&](int64_t b, int64_t e) {
    if (dtype == DType::kF32)
      std::fill(static_cast<uint32_t*>(data) + b, static_cast<uint32_t*>(data) + e, kPoisonF32Bits);
    else
      std::fill(static_cast<uint16_t*>(data) + b, static_cast<uint16_t*>(data) + e,
                static_cast<uint16_t>(PoisonBits(dtype)));
  });
}

namespace {

// Returns the first number of a one-line file (cgroup files), or nullopt when
// the file is missing or says "max".
std::optional<uint64_t> ReadNumberFile(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.empty() || word == "max") return std::nullopt;
  char* end = nullptr;
  const uint64_t v = std::strtoull(word.c_str(), &end, 10);
  if (end == word.c_str()) return std::nullopt;
  return v;
}

// Returns the kB value of `key` in a /proc file of "Key:  value kB" lines.
std::optional<uint64_t> ReadProcKb(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    return std::strtoull(line.c_str() + key.size(), nullptr, 10) * 1024;
  }
  return std::nullopt;
}

// Returns the memory the cgroup of this process may still use, if limited.
std::optional<uint64_t> CgroupMemoryLeft() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::optional<uint64_t> best;
  const auto consider = [&best](std::optional<uint64_t> limit, std::optional<uint64_t> used) {
    // v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages).
    if (!limit || *limit >= (1ull << 60)) return;
    const uint64_t left = used && *used < *limit ? *limit - *used : (used ? 0 : *limit);
    if (!best || left < *best) best = left;
  };
  while (std::getline(in, line)) {
    // "0::/path" (v2) or "N:memory:/path" (v1, possibly with other controllers).
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (path == "/") path.clear();
    if (controllers.empty()) {
      const std::string dir = "/sys/fs/cgroup" + path;
      consider(ReadNumberFile(dir + "/memory.max"), ReadNumberFile(dir + "/memory.current"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      const std::string dir = "/sys/fs/cgroup/memory" + path;
      consider(ReadNumberFile(dir + "/memory.limit_in_bytes"), ReadNumberFile(dir + "/memory.usage_in_bytes"));
    }
  }
  return best;
}

}  // namespace

MemoryLimit HostMemoryLimit() {
  MemoryLimit limit{~0ull, "available memory (MemAvailable)"};
  if (const auto avail = ReadProcKb("/proc/meminfo", "MemAvailable:")) {
    limit.bytes = *avail;
  } else {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) limit = {static_cast<uint64_t>(pages) * page, "free memory"};
  }
  struct rlimit as;
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    // The limit counts every mapping (code, thread stacks, malloc arenas), so
    // what is left is the limit less what is already mapped.
    const uint64_t mapped = ReadProcKb("/proc/self/status", "VmSize:").value_or(0);
    const uint64_t cap = static_cast<uint64_t>(as.rlim_cur);
    const uint64_t left = cap > mapped ? cap - mapped : 0;
    if (left < limit.bytes)
      limit = {left, fmt::format("address-space limit (ulimit -v {} KiB)", cap / 1024)};
  }
  if (const auto cg = CgroupMemoryLeft(); cg && *cg < limit.bytes) limit = {*cg, "cgroup memory limit"};
  return limit;
}

std::string SelectedSysfsChoice(const std::string& line) {
  const size_t open = line.find('[');
  const size_t close = line.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return "";
  return line.substr(open + 1, close - open - 1);
}

std::string TransparentHugePagesMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) return "";
  return SelectedSysfsChoice(line);
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) {
        auto s = line.substr(pos + 1);
        s.erase(0, s.find_first_not_of(' '));
        return s;
      }
    }
  }
  return "unknown";
}

}  // namespace lnbench
