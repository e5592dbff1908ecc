#include "core/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "core/errors.h"

namespace lnbench {
namespace {
std::atomic<int> g_spinning{0};

// SetThreadCpus's state: the CPUs threads are pinned to, and the CPUs the
// process was allowed before (what an empty list restores).
std::mutex g_pin_mutex;
std::vector<int> g_thread_cpus;
std::vector<int> g_original_cpus;

// The shared pools (SharedThreadPool), and their lock: taken before
// g_pin_mutex wherever both are held.
std::mutex g_pools_mutex;
std::map<int, std::unique_ptr<ThreadPool>>& SharedPools() {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;  // joined at exit
  return pools;
}

// Sets the affinity of `thread` to `cpus`; throws RuntimeError when refused.
void PinThread(pthread_t thread, const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  const int top = *std::max_element(cpus.begin(), cpus.end());
  const size_t n = static_cast<size_t>(top) + 1;
  cpu_set_t* set = CPU_ALLOC(n);
  if (set == nullptr) throw RuntimeError("out of memory for a CPU set");
  const size_t bytes = CPU_ALLOC_SIZE(n);
  CPU_ZERO_S(bytes, set);
  for (const int c : cpus) CPU_SET_S(static_cast<size_t>(c), bytes, set);
  const int rc = pthread_setaffinity_np(thread, bytes, set);
  CPU_FREE(set);
  if (rc != 0) {
    throw RuntimeError(
        fmt::format("cannot pin a thread to CPU {}: {}", fmt::join(cpus, ","), std::strerror(rc)));
  }
}
}  // namespace

ScopedPoolSpinning::ScopedPoolSpinning() { g_spinning.fetch_add(1, std::memory_order_relaxed); }
ScopedPoolSpinning::~ScopedPoolSpinning() { g_spinning.fetch_sub(1, std::memory_order_relaxed); }
bool ScopedPoolSpinning::Active() { return g_spinning.load(std::memory_order_relaxed) > 0; }

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads) {
  try {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  } catch (const std::exception& e) {
    // No stack for one more thread (ulimit -v, a thread limit): stop the
    // workers already started (a joinable std::thread must not be destroyed)
    // and say so, so the case becomes an error rather than the process dying.
    const size_t started = workers_.size() + 1;
    StopWorkers();
    throw RuntimeError(fmt::format("out of memory or threads: started {} of {} threads ({})", started,
                                   threads_, e.what()));
  }
  try {
    std::lock_guard<std::mutex> lock(g_pin_mutex);
    if (!g_thread_cpus.empty()) PinWorkers(g_thread_cpus, g_original_cpus);
  } catch (...) {
    StopWorkers();  // a constructor that throws runs no destructor
    throw;
  }
}

ThreadPool::~ThreadPool() { StopWorkers(); }

void ThreadPool::PinWorkers(const std::vector<int>& cpus, const std::vector<int>& original) {
  for (size_t i = 0; i < workers_.size(); ++i) {
    const std::vector<int> to = cpus.empty() ? original : std::vector<int>{cpus[(i + 1) % cpus.size()]};
    PinThread(workers_[i].native_handle(), to);
  }
}

void ThreadPool::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunChunk(int index) {
  if (index < job_chunks_) {
    const int64_t begin = job_count_ * index / job_chunks_;
    const int64_t end = job_count_ * (index + 1) / job_chunks_;
    try {
      if (begin < end) (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::RunPart(int index) {
  if (chunk_job_ != nullptr) {
    RunClaimedChunks();
  } else {
    RunChunk(index);
  }
}

void ThreadPool::RunClaimedChunks() {
  const int64_t chunks = static_cast<int64_t>(chunk_bounds_.size()) - 1;
  for (;;) {
    const int64_t k = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (k >= chunks) return;
    try {
      (*chunk_job_)(k, chunk_bounds_[static_cast<size_t>(k)], chunk_bounds_[static_cast<size_t>(k) + 1]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_chunk_.store(chunks, std::memory_order_relaxed);  // skip the rest
      return;
    }
  }
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin briefly before sleeping: back-to-back calls then avoid the wake-up
    // latency of a condition variable (tens of microseconds). 200 us between
    // timed runs; 20 us otherwise, where the caller's serial work between two
    // calls would have the worker spin most of its 200 us in vain.
    const auto spin = std::chrono::microseconds(ScopedPoolSpinning::Active() ? 200 : 20);
    const auto spin_until = std::chrono::steady_clock::now() + spin;
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    RunPart(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::ParallelFor(int64_t count, const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  if (threads_ == 1 || count == 1) {
    fn(0, count);
    return;
  }
  job_ = &fn;
  job_count_ = count;
  job_chunks_ = static_cast<int>(count < threads_ ? count : threads_);
  RunJob();
}

void ThreadPool::RunJob() {
  error_ = nullptr;
  pending_.store(threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  RunPart(0);
  // Spin first (a chunk usually ends within microseconds of the others), then
  // yield, so a worker preempted on a busy machine gets the core back.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins > 4096) std::this_thread::yield();
  }
  job_ = nullptr;
  chunk_job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::ParallelForChunks(int64_t count, int64_t grain,
                                   const std::function<void(int64_t, int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  BalancedChunksInto(count, threads_, grain, chunk_bounds_);
  if (threads_ == 1 || chunk_bounds_.size() == 2) {
    for (size_t k = 0; k + 1 < chunk_bounds_.size(); ++k)
      fn(static_cast<int64_t>(k), chunk_bounds_[k], chunk_bounds_[k + 1]);
    return;
  }
  chunk_job_ = &fn;
  next_chunk_.store(0, std::memory_order_relaxed);
  RunJob();
}

namespace {

// Returns where the balanced chunk of [0, count) starting at `at` < count
// ends (BalancedChunks), for `threads` threads and `grain`.
int64_t BalancedChunkEnd(int64_t at, int64_t count, int threads, int64_t grain) {
  const int64_t parts = 2 * static_cast<int64_t>(threads < 1 ? 1 : threads);
  const int64_t g = grain < 1 ? 1 : grain;
  const int64_t left = count - at;
  const int64_t share = (left + parts - 1) / parts;
  const int64_t chunk = (share + g - 1) / g * g;  // >= g: share >= 1
  return at + std::min(chunk, left);
}

}  // namespace

void BalancedChunksInto(int64_t count, int threads, int64_t grain, std::vector<int64_t>& bounds) {
  bounds.clear();
  if (count <= 0) return;
  bounds.push_back(0);
  for (int64_t at = 0; at < count;) {
    at = BalancedChunkEnd(at, count, threads, grain);
    bounds.push_back(at);
  }
}

int64_t BalancedChunkCount(int64_t count, int threads, int64_t grain) {
  int64_t chunks = 0;
  for (int64_t at = 0; at < count; ++chunks) at = BalancedChunkEnd(at, count, threads, grain);
  return chunks;
}

std::vector<int64_t> BalancedChunks(int64_t count, int threads, int64_t grain) {
  std::vector<int64_t> bounds;
  BalancedChunksInto(count, threads, grain, bounds);
  return bounds;
}

std::vector<int> AllowedCpus() {
  for (size_t n = 1024; n <= (size_t{1} << 20); n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (set == nullptr) return {};
    const size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      std::vector<int> cpus;
      for (size_t c = 0; c < n; ++c)
        if (CPU_ISSET_S(c, bytes, set)) cpus.push_back(static_cast<int>(c));
      CPU_FREE(set);
      return cpus;
    }
    const int err = errno;
    CPU_FREE(set);
    if (err != EINVAL) return {};  // EINVAL: the kernel's mask is larger; try a larger set
  }
  return {};
}

std::vector<int> ParseCpuList(const std::string& option, const std::string& text,
                              const std::vector<int>& allowed) {
  const auto allowed_text = [&] {
    std::string out;
    for (size_t i = 0; i < allowed.size();) {
      size_t j = i;
      while (j + 1 < allowed.size() && allowed[j + 1] == allowed[j] + 1) ++j;
      if (!out.empty()) out += ',';
      out += std::to_string(allowed[i]);
      if (j > i) out += fmt::format("-{}", allowed[j]);
      i = j + 1;
    }
    return out;
  };
  const auto number = [&](const std::string& t) {
    if (t.empty() || t.size() > 7 || t.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(fmt::format("{} '{}': '{}' is not a CPU number (e.g. 0, 1-3, 0,2)", option,
                                   text, t));
    return std::stoi(t);
  };
  std::vector<int> cpus;
  std::set<int> seen;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t dash = item.find('-');
    const int lo = number(item.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : number(item.substr(dash + 1));
    if (hi < lo)
      throw UsageError(fmt::format("{} '{}': the range {} goes down", option, text, item));
    for (int c = lo; c <= hi; ++c) {
      if (!seen.insert(c).second)
        throw UsageError(fmt::format("{} '{}': CPU {} is listed twice", option, text, c));
      if (!allowed.empty() && !std::binary_search(allowed.begin(), allowed.end(), c))
        throw UsageError(fmt::format("{} '{}': CPU {} is not one this process may run on (allowed: {})",
                                     option, text, c, allowed_text()));
      cpus.push_back(c);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return cpus;
}

void SetThreadCpus(const std::vector<int>& cpus) {
  std::lock_guard<std::mutex> pools_lock(g_pools_mutex);
  std::lock_guard<std::mutex> lock(g_pin_mutex);
  if (g_original_cpus.empty()) g_original_cpus = AllowedCpus();
  PinThread(pthread_self(), cpus.empty() ? g_original_cpus : std::vector<int>{cpus[0]});
  g_thread_cpus = cpus;
  for (auto& [threads, pool] : SharedPools()) pool->PinWorkers(cpus, g_original_cpus);
  if (cpus.empty()) g_original_cpus.clear();
}

void PinCallingThread(int cpu) { PinThread(pthread_self(), {cpu}); }

ChildAffinity::ChildAffinity() {
  CPU_ZERO(&set_);
  for (const int c : ThreadCpus()) {
    if (c < 0 || c >= CPU_SETSIZE) continue;
    CPU_SET(c, &set_);
    active_ = true;
  }
}

void ChildAffinity::Apply() const {
  if (active_) sched_setaffinity(0, sizeof set_, &set_);
}

std::vector<int> ThreadCpus() {
  std::lock_guard<std::mutex> lock(g_pin_mutex);
  return g_thread_cpus;
}

int OnlineCpus() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int HardwareThreads() {
  {
    std::lock_guard<std::mutex> lock(g_pin_mutex);
    if (!g_thread_cpus.empty()) return static_cast<int>(g_thread_cpus.size());
  }
  const std::vector<int> allowed = AllowedCpus();
  if (!allowed.empty()) return static_cast<int>(allowed.size());
  return OnlineCpus();
}

int PoolThreads(int threads) { return threads <= 0 ? HardwareThreads() : threads; }

ThreadPool& SharedThreadPool(int threads) {
  threads = PoolThreads(threads);
  std::lock_guard<std::mutex> lock(g_pools_mutex);
  auto& pool = SharedPools()[threads];
  if (!pool) pool = std::make_unique<ThreadPool>(threads);
  return *pool;
}

}  // namespace lnbench
