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

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
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

  // Pins worker i (i >= 1) to cpus[i % cpus.size()], or back to `original`
  // for an empty `cpus` (SetThreadCpus).
  void PinWorkers(const std::vector<int>& cpus, const std::vector<int>& original);

  // Splits [0, count) into at most threads() contiguous chunks and calls
  // fn(begin, end) for each, on the caller and the workers; returns when all
  // are done. The first exception thrown by fn is rethrown here.
  void ParallelFor(int64_t count, const std::function<void(int64_t, int64_t)>& fn);

  // Splits [0, count) into the contiguous chunks of BalancedChunks(count,
  // threads(), grain) and calls fn(chunk, begin, end) for each, chunk
  // being its index; the caller and the workers each claim the next chunk as
  // they finish one, so a thread on a faster or less loaded core computes more
  // of the range than a static split would give it. One thread may run
  // several chunks, in increasing order. Returns when all are done; the first
  // exception thrown by fn is rethrown here (the chunks not yet claimed are
  // then skipped).
  void ParallelForChunks(int64_t count, int64_t grain,
                         const std::function<void(int64_t, int64_t, int64_t)>& fn);

 private:
  // Stops and joins every worker started so far.
  void StopWorkers();
  void WorkerLoop(int index);
  void RunChunk(int index);
  // Claims and runs chunks of a ParallelForChunks job until none is left.
  void RunClaimedChunks();
  // Runs thread `index`'s part of the current job: its chunk of a
  // ParallelFor, or chunks claimed from a ParallelForChunks.
  void RunPart(int index);
  // Runs the job set up in job_ or chunk_job_ (ParallelFor or
  // ParallelForChunks): wakes the workers, runs the caller's part, waits for
  // the workers, clears the job and rethrows the first exception.
  void RunJob();

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
  // ParallelForChunks: its function (nullptr in ParallelFor), chunk bounds
  // (kept between calls: no allocation in a timed loop once sized) and the
  // index of the next chunk to claim.
  const std::function<void(int64_t, int64_t, int64_t)>* chunk_job_ = nullptr;
  std::vector<int64_t> chunk_bounds_;
  std::atomic<int64_t> next_chunk_{0};
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

// Returns the bounds of guided self-scheduling chunks of [0, count) for
// `threads` threads: bounds[0] = 0 < bounds[1] < ... < bounds.back() = count,
// chunk k being [bounds[k], bounds[k + 1]). Each chunk is a
// 1 / (2 * threads) share of what the chunks before it left, rounded up to a
// multiple of `grain` (at least 1); only the last may be shorter. The first
// chunks are long (a contiguous stream for the hardware prefetcher, few
// claims), the last short enough that threads of unequal speed finish
// together. The same bounds for the same arguments, whichever thread claims
// which chunk. Empty for count <= 0.
std::vector<int64_t> BalancedChunks(int64_t count, int threads, int64_t grain);

// Returns the number of chunks BalancedChunks gives (0 for count <= 0),
// without making them.
int64_t BalancedChunkCount(int64_t count, int threads, int64_t grain);

// Fills `bounds` as BalancedChunks does, reusing its storage.
void BalancedChunksInto(int64_t count, int threads, int64_t grain, std::vector<int64_t>& bounds);

// Returns the CPUs this process may run on (sched_getaffinity: taskset,
// cgroup cpusets), in increasing order; empty where that is unknown.
std::vector<int> AllowedCpus();

// Parses a CPU list as taskset -c takes it ("1", "0,2", "0-3,8"): the CPUs in
// the order given, ranges ascending. Throws UsageError naming `option` for
// garbage, a reversed range, a CPU listed twice or one outside `allowed`
// (when `allowed` is not empty).
std::vector<int> ParseCpuList(const std::string& option, const std::string& text,
                              const std::vector<int>& allowed);

// Pins threads for the rest of the process: the calling thread to cpus[0],
// and worker i (i >= 1) of every pool, those running and those created later,
// to cpus[i % cpus.size()]. HardwareThreads() is then cpus.size(). An empty
// list undoes it: every pinned thread gets back the affinity the process
// had before. Throws RuntimeError when the kernel refuses an affinity.
void SetThreadCpus(const std::vector<int>& cpus);

// The CPUs SetThreadCpus pinned threads to (empty: none).
std::vector<int> ThreadCpus();

// Pins the calling thread to `cpu` (a oneDNN OpenMP thread, for one);
// throws RuntimeError when the kernel refuses.
void PinCallingThread(int cpu);

// The affinity a child process gets: every CPU of ThreadCpus(), so that a
// program lnbench forks (an external backend, the PyTorch peer, a plugin's
// worker) may use all the listed CPUs, not only the pinned main thread's
// one, which a fork inherits. Made in the parent before fork(); Apply(), one
// system call, is safe in the child between fork and exec. Nothing to do
// when threads are not pinned, or for CPUs beyond CPU_SETSIZE (1024).
class ChildAffinity {
 public:
  ChildAffinity();
  void Apply() const;
  // Whether Apply() sets anything (threads are pinned).
  bool active() const { return active_; }

 private:
  cpu_set_t set_;
  bool active_ = false;
};

// Returns the CPUs online on the machine (at least 1), whatever this process
// may use: what machine-wide counters (/proc/stat, the load average) share.
int OnlineCpus();

// Returns the number of hardware threads (at least 1): the CPUs threads are
// pinned to (SetThreadCpus), else those this process may run on, else
// std::thread::hardware_concurrency.
int HardwareThreads();

// Returns the threads of SharedThreadPool(threads): `threads`, or every
// hardware thread for 0 (or less).
int PoolThreads(int threads);

// Returns a pool with `threads` threads (0 = all hardware threads), created on
// first use and kept for the life of the process.
ThreadPool& SharedThreadPool(int threads);

}  // namespace lnbench

#endif  // LNBENCH_CORE_THREAD_POOL_H_
