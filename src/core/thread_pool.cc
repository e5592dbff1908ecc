#include "core/thread_pool.h"

#include <fmt/format.h>

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
    RunChunk(index);
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
