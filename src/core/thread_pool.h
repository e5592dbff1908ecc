// A fixed pool of worker threads, created once and reused for every call,
// so that timing a threaded kernel does not time thread creation.
//
// Waiting: after each job a worker spins for 200 us while a ScopedPoolSpinning
// is alive (the timed loops), so back-to-back timed calls never pay a
// condition variable's wake-up, and for 20 us otherwise (inputs, references,
// verification), where the caller's serial work between two calls made the
// 200 us spin a third of `lnbench verify`'s CPU time: CPU another process on
// the machine (the other test of a 2-core CI runner) could have used.
#ifndef LNBENCH_CORE_THREAD_POOL_H_
#define LNBENCH_CORE_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lnbench {

class ThreadPool {
 public:
  // `threads` >= 1 counts the calling thread: ThreadPool(2) starts one worker.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Splits [0, count) into at most threads() contiguous chunks and calls
  // fn(begin, end) for each, on the caller and the workers; returns when all
  // are done. The first exception thrown by fn is rethrown here.
  void ParallelFor(int64_t count, const std::function<void(int64_t, int64_t)>& fn);

 private:
  // Stops and joins every worker started so far.
  void StopWorkers();
  void WorkerLoop(int index);
  void RunChunk(int index);

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int job_chunks_ = 0;
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

// While one is alive, every pool's workers spin 200 us between jobs (see above); they nest.
class ScopedPoolSpinning {
 public:
  ScopedPoolSpinning();
  ~ScopedPoolSpinning();
  ScopedPoolSpinning(const ScopedPoolSpinning&) = delete;
  ScopedPoolSpinning& operator=(const ScopedPoolSpinning&) = delete;
  // Whether any is alive.
  static bool Active();
};

// Returns the number of hardware threads (at least 1).
int HardwareThreads();

// Returns the threads of SharedThreadPool(threads): `threads`, or every
// hardware thread for 0 (or less).
int PoolThreads(int threads);

// Returns a pool with `threads` threads (0 = all hardware threads), created on
// first use and kept for the life of the process.
ThreadPool& SharedThreadPool(int threads);

}  // namespace lnbench

#endif  // LNBENCH_CORE_THREAD_POOL_H_
