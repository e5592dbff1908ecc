#include "core/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "core/errors.h"

namespace lnbench {
namespace {
std::atomic<int> g_spinning{0};
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
}

ThreadPool::~ThreadPool() { StopWorkers(); }

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
    if (chunk_job_ != nullptr) {
      RunClaimedChunks();
    } else {
      RunChunk(index);
    }
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
  error_ = nullptr;
  pending_.store(threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  RunChunk(0);
  // Spin first (a chunk usually ends within microseconds of the others), then
  // yield, so a worker preempted on a busy machine gets the core back.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins > 4096) std::this_thread::yield();
  }
  job_ = nullptr;
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
  error_ = nullptr;
  pending_.store(threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  RunClaimedChunks();
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins > 4096) std::this_thread::yield();
  }
  chunk_job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void BalancedChunksInto(int64_t count, int threads, int64_t grain, std::vector<int64_t>& bounds) {
  bounds.clear();
  if (count <= 0) return;
  const int64_t parts = 2 * static_cast<int64_t>(threads < 1 ? 1 : threads);
  const int64_t g = grain < 1 ? 1 : grain;
  bounds.push_back(0);
  for (int64_t at = 0; at < count;) {
    const int64_t left = count - at;
    const int64_t share = (left + parts - 1) / parts;
    const int64_t chunk = (share + g - 1) / g * g;  // >= g: share >= 1
    at += std::min(chunk, left);
    bounds.push_back(at);
  }
}

std::vector<int64_t> BalancedChunks(int64_t count, int threads, int64_t grain) {
  std::vector<int64_t> bounds;
  BalancedChunksInto(count, threads, grain, bounds);
  return bounds;
}

int HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int PoolThreads(int threads) { return threads <= 0 ? HardwareThreads() : threads; }

ThreadPool& SharedThreadPool(int threads) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  threads = PoolThreads(threads);
  std::lock_guard<std::mutex> lock(mutex);
  auto& pool = pools[threads];
  if (!pool) pool = std::make_unique<ThreadPool>(threads);
  return *pool;
}

}  // namespace lnbench
