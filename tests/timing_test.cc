// Statistics, the measurement loop's stopping rules, shapes and sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>
#include <thread>

#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/host_buffer.h"
#include "core/shapes.h"
#include "core/stats.h"
#include "core/thread_pool.h"
#include "core/timing.h"

namespace lnbench {
namespace {

TEST(Stats, KnownValues) {
  const SampleStats s = Summarize({5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.p10, 1.4);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_NEAR(s.noise, std::sqrt(2.5) / 3, 1e-12);
  EXPECT_EQ(Summarize({}).median, 0);
  EXPECT_DOUBLE_EQ(Summarize({7}).median, 7);
}

// A fake case whose TimeBatch returns a programmed duration per run.
class FakeCase : public PreparedCase {
 public:
  explicit FakeCase(double seconds, double jitter) : seconds_(seconds), jitter_(jitter) {}
  std::string ResolvedVariant() const override { return "fake"; }
  void Poison() override {}
  void Run() override {}
  void Download(const HostTensors&) override {}
  double TimeBatch(int batch, bool cold) override {
    ++calls_;
    last_batch_ = batch;
    cold_seen_ |= cold;
    std::uniform_real_distribution<double> u(1 - jitter_, 1 + jitter_);
    return seconds_ * batch * u(rng_);
  }
  int calls_ = 0;
  int last_batch_ = 0;
  bool cold_seen_ = false;

 private:
  double seconds_, jitter_;
  std::mt19937 rng_{1};
};

TEST(Measure, QuietCaseStopsOnNoiseAfterMinSamples) {
  FakeCase c(1e-3, 0.001);
  TimingConfig cfg;
  cfg.warmup_s = 0;
  const TimingResult r = Measure(c, cfg);
  EXPECT_EQ(r.stop_reason, "noise");
  EXPECT_EQ(static_cast<int>(r.samples_s.size()), cfg.min_samples);
  EXPECT_NEAR(r.stats.median, 1e-3, 2e-6);
  EXPECT_EQ(r.mode, "hot");
}

TEST(Measure, NoisyCaseStopsOnSampleCap) {
  FakeCase c(1e-3, 0.5);
  TimingConfig cfg;
  cfg.warmup_s = 0;
  cfg.max_noise = 1e-9;
  cfg.max_samples = 37;
  cfg.time_budget_s = 1e9;
  const TimingResult r = Measure(c, cfg);
  EXPECT_EQ(r.stop_reason, "max_samples");
  EXPECT_EQ(r.samples_s.size(), 37u);
}

TEST(Measure, ShortRunsAreBatchedAndColdRunsAreNot) {
  FakeCase hot(1e-7, 0.0);
  TimingConfig cfg;
  cfg.warmup_s = 0;
  const TimingResult r = Measure(hot, cfg);
  EXPECT_GE(r.batch, 500);  // 50 us / 100 ns
  EXPECT_NEAR(r.stats.median, 1e-7, 1e-12);  // samples are per run
  FakeCase cold(1e-7, 0.0);
  cfg.cold = true;
  const TimingResult rc = Measure(cold, cfg);
  EXPECT_EQ(rc.batch, 1);
  EXPECT_EQ(rc.mode, "cold");
  EXPECT_TRUE(cold.cold_seen_);
}

// Outside timed loops a pool's worker spins 20 us after a job, not 200 us:
// with a millisecond of the caller's own work between calls, 200 calls cost
// the process 8-18 ms of CPU outside a timed loop and 44-47 ms inside one,
// where the 200 us spin is back (a 200 us spin outside too: about the same
// both ways). The test compares the two in the same run, idle / timed under
// 0.6, the least of up to three alternating pairs: an absolute limit (25 ms)
// failed under the sanitizer build's ctest -j2, whose other tests' load adds
// CPU time to the idle calls (14-18 ms there with no other load).
TEST(ThreadPoolSpin, IdleWorkersSpinLongOnlyInTimedLoops) {
  ThreadPool pool(2);
  auto calls = [&] {
    std::atomic<int64_t> sum{0};  // the two chunks run at once
    const double t0 = ProcessCpuSeconds();
    for (int i = 0; i < 200; ++i) {
      pool.ParallelFor(2, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the caller's serial work
    }
    EXPECT_EQ(sum.load(), 400);
    return ProcessCpuSeconds() - t0;
  };
  EXPECT_FALSE(ScopedPoolSpinning::Active());
  {
    ScopedPoolSpinning outer;
    {
      ScopedPoolSpinning inner;  // they nest
    }
    EXPECT_TRUE(ScopedPoolSpinning::Active());
  }
  EXPECT_FALSE(ScopedPoolSpinning::Active());
  double ratio = 1e9, idle = 0, timed = 0;
  for (int t = 0; t < 3 && ratio >= 0.6; ++t) {
    idle = calls();
    {
      ScopedPoolSpinning spinning;
      timed = calls();
    }
    ratio = std::min(ratio, idle / timed);
  }
  EXPECT_LT(ratio, 0.6) << "the worker spun between calls outside a timed loop as long as inside";
  std::printf("CPU time of 200 calls 1 ms apart: %.1f ms outside, %.1f ms inside a timed loop\n",
              1e3 * idle, 1e3 * timed);
}

// Guided chunks: each a 1 / (2 * threads) share of what is left, rounded up
// to the grain; only the last may be shorter; they cover [0, count) in order.
TEST(ThreadPoolChunks, BoundsAreGuidedSharesInWholeGrains) {
  EXPECT_TRUE(BalancedChunks(0, 2, 8).empty());
  EXPECT_TRUE(BalancedChunks(-3, 2, 8).empty());
  EXPECT_EQ(BalancedChunkCount(0, 2, 8), 0);
  EXPECT_EQ(BalancedChunks(5, 2, 8), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(BalancedChunks(10, 1, 1), (std::vector<int64_t>{0, 5, 8, 9, 10}));
  EXPECT_EQ(BalancedChunks(100, 2, 0), BalancedChunks(100, 2, 1));  // a grain of at least 1
  for (const int threads : {1, 2, 3, 8}) {
    for (const int64_t grain : {1, 8, 24}) {
      for (const int64_t count : {1, 7, 100, 1000, 1000003}) {
        const std::vector<int64_t> b = BalancedChunks(count, threads, grain);
        ASSERT_GE(b.size(), 2u);
        EXPECT_EQ(BalancedChunkCount(count, threads, grain), static_cast<int64_t>(b.size()) - 1);
        EXPECT_EQ(b.front(), 0);
        EXPECT_EQ(b.back(), count);
        for (size_t k = 0; k + 1 < b.size(); ++k) {
          const int64_t left = count - b[k], chunk = b[k + 1] - b[k];
          const int64_t share = (left + 2 * threads - 1) / (2 * threads);
          EXPECT_EQ(chunk, std::min(left, (share + grain - 1) / grain * grain))
              << count << " " << threads << " " << grain << " chunk " << k;
        }
      }
    }
  }
  std::vector<int64_t> reused = {7, 7, 7};
  BalancedChunksInto(1000, 2, 8, reused);
  EXPECT_EQ(reused, BalancedChunks(1000, 2, 8));
}

// ParallelForChunks runs every chunk once, with its index, and a thread that
// finishes sooner claims more: here the worker sleeps 5 ms per chunk and the
// caller not at all, so the worker claims at most 4 of the 17 chunks (a
// static split would give it half). Counted in chunks, not rows: the worker
// may claim the first and largest chunk (a quarter of the rows) before the
// caller starts; only a caller stalled for 15 ms or more leaves it 5. A throw stops the claims (the others take 1 ms a
// chunk, so most are left), is rethrown, and the pool then runs static and
// chunked jobs as before.
TEST(ThreadPoolChunks, EveryChunkRunsOnceAndTheFasterThreadTakesMore) {
  ThreadPool pool(2);
  const int64_t count = 4000;
  const std::vector<int64_t> bounds = BalancedChunks(count, 2, 16);
  std::vector<std::atomic<int>> seen(static_cast<size_t>(count));
  std::vector<std::atomic<int>> chunk_seen(bounds.size() - 1);
  std::atomic<int64_t> caller_chunks{0};
  const std::thread::id caller = std::this_thread::get_id();
  pool.ParallelForChunks(count, 16, [&](int64_t k, int64_t b, int64_t e) {
    EXPECT_EQ(b, bounds[static_cast<size_t>(k)]);
    EXPECT_EQ(e, bounds[static_cast<size_t>(k) + 1]);
    chunk_seen[static_cast<size_t>(k)].fetch_add(1);
    for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
    if (std::this_thread::get_id() == caller) {
      caller_chunks.fetch_add(1);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << i;
  for (auto& c : chunk_seen) EXPECT_EQ(c.load(), 1);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  ASSERT_EQ(chunks, 17);
  EXPECT_LE(chunks - caller_chunks.load(), 4)
      << "the slower thread claimed more than 4 of the 17 chunks";

  std::atomic<int> ran{0};
  EXPECT_THROW(pool.ParallelForChunks(count, 1,
                                      [&](int64_t k, int64_t, int64_t) {
                                        ran.fetch_add(1);
                                        if (k == 0) throw RuntimeError("chunk 0 failed");
                                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                      }),
               RuntimeError);
  EXPECT_LT(ran.load(), static_cast<int>(BalancedChunks(count, 2, 1).size()) - 1);
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(count, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
  EXPECT_EQ(sum.load(), count);
  pool.ParallelForChunks(count, 1, [&](int64_t, int64_t b, int64_t e) { sum.fetch_add(e - b); });
  EXPECT_EQ(sum.load(), 2 * count);
  ThreadPool one(1);
  std::vector<int64_t> order;
  one.ParallelForChunks(100, 8, [&](int64_t k, int64_t, int64_t) { order.push_back(k); });
  EXPECT_EQ(order.size(), BalancedChunks(100, 1, 8).size() - 1);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

// --cpus takes lists as taskset -c does, in the order given; garbage, a range
// that goes down, a CPU listed twice or one the process may not use is a
// usage error naming the option and the list.
TEST(ThreadCpus, ParsesListsAsTasksetDoes) {
  EXPECT_EQ(ParseCpuList("--cpus", "1", {}), (std::vector<int>{1}));
  EXPECT_EQ(ParseCpuList("--cpus", "3,0-2", {}), (std::vector<int>{3, 0, 1, 2}));
  EXPECT_EQ(ParseCpuList("--cpus", "5,0-1", {0, 1, 2, 5}), (std::vector<int>{5, 0, 1}));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "'' is not a CPU number"},       {"a", "'a' is not a CPU number"},
      {"1-", "'' is not a CPU number"},     {"-1", "'' is not a CPU number"},
      {"1,,2", "'' is not a CPU number"},   {"99999999", "'99999999' is not a CPU number"},
      {"2-1", "the range 2-1 goes down"},   {"1,1", "CPU 1 is listed twice"},
      {"0-2,2", "CPU 2 is listed twice"},   {"3", "CPU 3 is not one this process may run on (allowed: 0-2,5)"},
  };
  for (const auto& [text, says] : bad) {
    try {
      ParseCpuList("--cpus", text, {0, 1, 2, 5});
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--cpus '" + text + "': " + says), std::string::npos) << e.what();
    }
  }
}

// SetThreadCpus pins the caller to the first CPU and worker i of every pool
// (a shared pool already running, and a pool made later) to the i-th, wrapping;
// HardwareThreads() is then the list's length; a forked child gets every
// listed CPU through ChildAffinity. An empty list gives every thread back the
// CPUs the process had.
TEST(ThreadCpus, PinsTheCallerAndEveryWorker) {
  const std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  EXPECT_EQ(HardwareThreads(), static_cast<int>(allowed.size()));
  EXPECT_GE(OnlineCpus(), static_cast<int>(allowed.size()));
  const int first = allowed.front(), last = allowed.back();
  ThreadPool& shared = SharedThreadPool(2);  // started before the pin
  const auto cpus_of = [](ThreadPool& pool) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(pool.threads()));
    pool.ParallelFor(pool.threads(), [&](int64_t b, int64_t) { seen[static_cast<size_t>(b)] = sched_getcpu(); });
    std::vector<int> out;
    for (auto& s : seen) out.push_back(s.load());
    return out;
  };
  SetThreadCpus({last, first});
  EXPECT_EQ(ThreadCpus(), (std::vector<int>{last, first}));
  EXPECT_EQ(HardwareThreads(), 2);
  EXPECT_EQ(sched_getcpu(), last);
  EXPECT_EQ(cpus_of(shared), (std::vector<int>{last, first}));
  {
    ThreadPool later(3);
    EXPECT_EQ(cpus_of(later), (std::vector<int>{last, first, last}));
  }
  // A child forked now inherits the main thread's one CPU; ChildAffinity
  // gives it every listed CPU back.
  const ChildAffinity affinity;
  for (const bool apply : {false, true}) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (apply) affinity.Apply();
      // AllowedCpus is sorted, each CPU once.
      std::vector<int> want = apply ? std::vector<int>{first, last} : std::vector<int>{last};
      std::sort(want.begin(), want.end());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      _exit(AllowedCpus() == want ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "apply " << apply;
  }
  SetThreadCpus({});
  EXPECT_TRUE(ThreadCpus().empty());
  EXPECT_EQ(AllowedCpus(), allowed);
  EXPECT_EQ(HardwareThreads(), static_cast<int>(allowed.size()));
}

// The streaming copy, in balanced chunks over two threads, copies every byte
// of a size that is no multiple of its 64 KiB blocks; memcpy too.
TEST(CpuCopyTest, EveryByteCopiedEitherWay) {
  for (const bool streaming : {true, false}) {
    CpuCopy copy(2 * (3 * 1024 * 1024 + 12345), 2);
    EXPECT_GT(copy.Time(streaming), 0);
    const uint64_t half = copy.bytes_per_copy() / 2;
    const uint8_t* dst = copy.destination();
    EXPECT_EQ(std::count(dst, dst + half, 1), static_cast<long>(half)) << streaming;
  }
}

// The last-level cache a hypervisor reports through CPUID is capped at what
// the VM's CPUs could own; a plausible figure passes unchanged. The flush of
// --cold (4x) and the streaming-store threshold follow it.
TEST(CpuCache, ImplausibleSizesAreCapped) {
  constexpr uint64_t MiB = 1ull << 20;
  EXPECT_EQ(PlausibleCacheBytes(508 * MiB, 2), 32 * MiB);  // this project's VM
  EXPECT_EQ(PlausibleCacheBytes(508 * MiB, 1), 32 * MiB);  // at least two CPUs' worth
  EXPECT_EQ(PlausibleCacheBytes(32 * MiB, 2), 32 * MiB);
  EXPECT_EQ(PlausibleCacheBytes(256 * MiB, 64), 256 * MiB);
  EXPECT_EQ(PlausibleCacheBytes(1152 * MiB, 192), 1152 * MiB);  // two Genoa-X sockets
  EXPECT_GT(LastLevelCacheBytes(), 0u);
}

// Returns the AnonHugePages bytes /proc/self/smaps gives the mapping that
// holds `p` (0 if none is found).
uint64_t AnonHugePagesAt(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = lo <= a && a < hi;
    } else if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      return std::strtoull(line.c_str() + std::strlen("AnonHugePages:"), nullptr, 10) * 1024;
    }
  }
  return 0;
}

// Buffers of 4 MiB or more are 2 MiB aligned and advised as huge pages; where
// the kernel's mode gives them (madvise, always: Debian's default is madvise),
// a touched buffer is backed by them. Smaller buffers keep 4 KiB alignment.
TEST(HostBufferPages, LargeBuffersGetHugePages) {
  EXPECT_EQ(SelectedSysfsChoice("always [madvise] never"), "madvise");
  EXPECT_EQ(SelectedSysfsChoice("[always] madvise never"), "always");
  EXPECT_EQ(SelectedSysfsChoice("always madvise [never]\n"), "never");
  EXPECT_EQ(SelectedSysfsChoice("always madvise never"), "");
  EXPECT_EQ(SelectedSysfsChoice(""), "");

  HostBuffer small(kHugePageMinBytes - 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % kHostAlignment, 0u);
  EXPECT_FALSE(small.huge_pages_advised());

  const size_t bytes = 4 * kHugePageBytes + 12345;  // not a whole number of huge pages
  HostBuffer large(bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(large.bytes(), bytes);
  std::memset(large.data(), 1, bytes);
  const std::string mode = TransparentHugePagesMode();
  std::printf("transparent_hugepage mode: '%s', AnonHugePages of a %zu-byte buffer: %llu\n",
              mode.c_str(), bytes, static_cast<unsigned long long>(AnonHugePagesAt(large.data())));
  ASSERT_FALSE(mode.empty()) << "no /sys/kernel/mm/transparent_hugepage/enabled";
  EXPECT_TRUE(large.huge_pages_advised());
  if (mode == "madvise" || mode == "always") {
    EXPECT_GE(AnonHugePagesAt(large.data()), kHugePageBytes);
  }
}

TEST(Shapes, ParsesListsSweepsPresets) {
  EXPECT_EQ(ParseShapeList("4096x768,1x1"), (std::vector<Shape>{{4096, 768}, {1, 1}}));
  EXPECT_EQ(ParseShapeList("0x5"), (std::vector<Shape>{{0, 5}}));
  EXPECT_EQ(ParseColsSpec("128:1024:*2"), (std::vector<int64_t>{128, 256, 512, 1024}));
  EXPECT_EQ(ParseColsSpec("256:1024:+256,7"), (std::vector<int64_t>{256, 512, 768, 1024, 7}));
  EXPECT_EQ(ParseColsSpec("bert"), (std::vector<int64_t>{768, 1024}));
  EXPECT_EQ(ParseColsSpec("awkward").back(), 131072);
  for (const char* bad : {"", "x", "4x", "x4", "4x0", "-1x4", "1.5x4", "4x4x4", "99999999999999999999x1"})
    EXPECT_THROW(ParseShapeList(bad), UsageError) << bad;
  for (const char* bad : {"0", "-3", "abc", "64:8", "8:64:*1", "8:64:+0", "8:64:/2", "1:1000000000:+1"})
    EXPECT_THROW(ParseColsSpec(bad), UsageError) << bad;
}

// Numbers too large say so (not "expected an integer"), and a sweep's step
// never overflows: the next point is only computed when it stays <= HI
// (before, 2^30 * 2^34 wrapped to 0 and the sweep filled with zeros).
TEST(Shapes, LargeNumbersAndStepsAreRefusedOrStopTheSweep) {
  const auto message = [](const auto& parse, const std::string& text) {
    try {
      parse(text);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto Contains = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  const auto shapes = [](const std::string& t) { return ParseShapeList(t); };
  const auto cols = [](const std::string& t) { return ParseColsSpec(t); };
  EXPECT_PRED2(Contains, message(shapes, "9223372036854775807x2"), "too many rows");
  EXPECT_PRED2(Contains, message(shapes, "2x99999999999999999999"), "hidden size too large (at most 2147483648)");
  EXPECT_PRED2(Contains, message(shapes, "2x2147483649"), "hidden size too large (at most 2147483648)");
  EXPECT_PRED2(Contains, message(shapes, "2x-1"), "expected ROWSxCOLS");
  EXPECT_PRED2(Contains, message(cols, "99999999999999999999"), "too large (at most 2147483648)");
  EXPECT_PRED2(Contains, message(cols, "2147483649"), "too large (at most 2147483648)");
  EXPECT_PRED2(Contains, message(cols, "abc"), "expected an integer >= 1");
  // Steps whose product or sum with the last point exceeds int64.
  EXPECT_EQ(ParseColsSpec("1073741824:2147483648:*17179869184"), (std::vector<int64_t>{1073741824}));
  EXPECT_EQ(ParseColsSpec("1073741824:2147483648:*999999999999999999"),
            (std::vector<int64_t>{1073741824}));
  EXPECT_EQ(ParseColsSpec("32:64:*576460752303423488"), (std::vector<int64_t>{32}));
  EXPECT_EQ(ParseColsSpec("2147483647:2147483648:+999999999999999999"),
            (std::vector<int64_t>{2147483647}));
  EXPECT_EQ(ParseColsSpec("7:7:+5"), (std::vector<int64_t>{7}));
  EXPECT_EQ(ParseColsSpec("1024:2147483648:*1024"), (std::vector<int64_t>{1024, 1048576, 1073741824}));
  EXPECT_EQ(ParseColsSpec("2147483640:2147483648:+4"),
            (std::vector<int64_t>{2147483640, 2147483644, 2147483648}));
}

TEST(Shapes, ByteSizesAndRows) {
  EXPECT_EQ(ParseByteSize("256MiB"), 256ull << 20);
  EXPECT_EQ(ParseByteSize("1GiB"), 1ull << 30);
  EXPECT_EQ(ParseByteSize("64KiB"), 64ull << 10);
  EXPECT_EQ(ParseByteSize("1e6"), 1000000u);
  EXPECT_EQ(ParseByteSize("2MB"), 2000000u);
  for (const char* bad : {"", "MiB", "12PB", "-1MiB", "1e30"}) EXPECT_THROW(ParseByteSize(bad), UsageError) << bad;
  EXPECT_EQ(RowsForBytes(256ull << 20, 4096, 4), 16384);
  EXPECT_EQ(RowsForBytes(10, 4096, 4), 1);
  EXPECT_EQ(FormatBytes(256ull << 20), "256 MiB");
}

}  // namespace
}  // namespace lnbench
