#include "core/cpu_memory.h"

#include <unistd.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

uint64_t LastLevelCacheBytes() {
  // sysfs first: under some hypervisors glibc's CPUID-derived sysconf value is
  // far off (320 MiB for a 32 MiB L3 on the Zen 4 VM lnbench is developed on).
  static const uint64_t sysfs = SysfsLastLevelCacheBytes();
  if (sysfs > 0) return sysfs;
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) return static_cast<uint64_t>(l3);
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0) return static_cast<uint64_t>(l2) * 4;
  return 32ull << 20;
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

CeilingMeasurement MeasureCpuCopy(uint64_t bytes, int threads, int min_samples,
                                  double time_budget_s, bool streaming) {
  CeilingMeasurement m;
  m.method = streaming ? "stream_copy" : "memcpy";
  const uint64_t half = std::max<uint64_t>(bytes / 2, 4096);
  m.bytes_per_copy = half * 2;
  HostBuffer src(half), dst(half);
  ThreadPool& pool = SharedThreadPool(threads);
  const int64_t chunks = pool.threads();
  auto copy = [&] {
    pool.ParallelFor(chunks, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const uint64_t lo = half * c / chunks, hi = half * (c + 1) / chunks;
        if (streaming)
          StreamCopy(dst.as<uint8_t>() + lo, src.as<uint8_t>() + lo, hi - lo);
        else
          std::memcpy(dst.as<uint8_t>() + lo, src.as<uint8_t>() + lo, hi - lo);
      }
    });
  };
  // First touch of both buffers, in parallel like the copies.
  pool.ParallelFor(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const uint64_t lo = half * c / chunks, hi = half * (c + 1) / chunks;
      std::memset(src.as<uint8_t>() + lo, 1, hi - lo);
      std::memset(dst.as<uint8_t>() + lo, 0, hi - lo);
    }
  });
  copy();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    copy();
    const auto t1 = std::chrono::steady_clock::now();
    m.seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    const double spent = std::chrono::duration<double>(t1 - start).count();
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
