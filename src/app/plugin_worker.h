// The process a plugin's kernel runs in, away from lnbench's own: a crash or a
// hang there becomes an `error` case, and the run goes on.
//
// Two ways to start it (--plugin-isolation):
//   fork  a child forked after lnbench has mapped the case's tensors MAP_SHARED;
//         it inherits them and the loaded plugin (CPU plugins only: a CUDA
//         context does not survive fork()).
//   exec  a worker started by posix_spawn of lnbench's own binary with the
//         hidden subcommand `__plugin-worker FD PPID`: it loads the plugin
//         itself and receives each case's tensors as memfds (SCM_RIGHTS), which
//         it maps between guard pages of its own. It serves cases one after
//         another (a CUDA context is created once per worker, not per case);
//         a worker that failed, timed out or crashed is never reused.
// Both speak the same small versioned protocol on a socket pair: fixed-size
// commands and replies (a kSetup command carries a SetupPayload and the
// memfds). lnbench keeps fill, reference, poison (CPU), verification and the
// report; the worker calls prepare/run/release, times batches (the host clock
// for CPU plugins, CUDA events for CUDA plugins) and, for CUDA plugins, owns
// the device side: device tensors with canaries, uploads, poison, guards, and
// copying the outputs back into the shared memory.
#ifndef LNBENCH_APP_PLUGIN_WORKER_H_
#define LNBENCH_APP_PLUGIN_WORKER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/guarded_memory.h"
#include "app/plugin_tensors.h"
#include "lnbench/plugin.h"

namespace lnbench {

// How plugin cases are isolated (--plugin-isolation).
enum class PluginIsolation {
  kAuto,  // fork for CPU plugins, exec for CUDA plugins
  kFork,  // CPU plugins in a forked child (CUDA plugins: exec)
  kExec,  // every plugin in an exec'd worker process
  kNone,  // in lnbench's own process (a crash takes lnbench down)
};

// argv[1] that makes lnbench a plugin worker (main() hands it to PluginWorkerMain).
inline constexpr const char* kPluginWorkerCommand = "__plugin-worker";

// Serves cases on the socket of argv[2] (argv[3]: the parent's pid) until
// told to quit or the socket closes; returns the exit status.
int PluginWorkerMain(int argc, char** argv);

// ---------------------------------------------------------------------------
// The protocol. Every message starts with the magic and the version; a peer
// that reads another version refuses it.

inline constexpr uint32_t kWorkerMagic = 0x4c4e4257;  // "WBNL"
inline constexpr uint32_t kWorkerProtocolVersion = 1;

enum class WorkerCommand : uint32_t {
  kSetup = 1,  // followed by a SetupPayload; the tensors' memfds ride along
  kPrepare,    // the plugin's prepare()
  kPoison,     // CUDA: poison the device outputs (CPU outputs are poisoned by lnbench)
  kRun,        // one run(); CUDA: then the guards and the outputs copied back
  kTime,       // `batch` runs timed back to back (cold: caches flushed, one run)
  kUpload,     // CUDA: copy the inputs from the shared memory to the device again
  kRelease,    // release() the case's state; a worker then waits for the next kSetup
  kQuit,
};

enum class WorkerReply : uint32_t { kOk = 1, kError, kFault, kGuard };

struct Command {
  uint32_t magic = kWorkerMagic;
  uint32_t version = kWorkerProtocolVersion;
  WorkerCommand kind = WorkerCommand::kQuit;
  int32_t batch = 0;
  uint32_t cold = 0;
};

struct Reply {
  uint32_t magic = kWorkerMagic;
  uint32_t version = kWorkerProtocolVersion;
  WorkerReply kind = WorkerReply::kOk;
  uint32_t is_write = 2;  // kFault: 1 write, 0 read, 2 unknown
  int32_t tensor = -1;    // kFault in a tensor's mapping: its index in the case's tensor list
  int64_t offset = 0;     // kFault: the address minus that tensor's start
  uint64_t address = 0;   // kFault: the faulting address
  double seconds = 0;     // kTime
  char text[480] = {};    // kError, kGuard: what went wrong
};

// kSetup: the case. Tensors in the order of BindPluginTensors, one memfd each.
struct SetupPayload {
  char plugin_path[4096] = {};
  char backend[72] = {};
  char variant[72] = {};
  lnb_problem problem{};
  int32_t cuda_device = 0;
  uint32_t tensor_count = 0;
  struct Tensor {
    int32_t id = 0;  // lnb_tensor_id
    uint32_t is_output = 0;
    uint32_t dtype = 0;  // lnb_dtype
    int64_t rows = 0, cols = 0;
    uint64_t bytes = 0;
  } tensors[LNB_TENSOR_COUNT];
};

// ---------------------------------------------------------------------------
// The worker side: one case's plugin calls. Methods fill `r` (kError with the
// plugin's reason when it returns non-zero) or throw: GuardViolation becomes a
// kGuard reply, any other exception a kError reply.

class WorkerEngine {
 public:
  virtual ~WorkerEngine() = default;
  virtual void Prepare(Reply& r) = 0;
  virtual void Poison() {}
  virtual void Run(Reply& r) = 0;
  virtual void Time(int batch, bool cold, Reply& r) = 0;
  virtual void Upload() {}
  virtual void Release() = 0;
};

// Calls a CPU plugin on host tensors; also lnbench's in-process path
// (--plugin-isolation none), so every mode times the same code.
class CpuWorkerEngine : public WorkerEngine {
 public:
  CpuWorkerEngine(const lnb_backend* b, const lnb_problem& problem, std::string variant,
                  const lnb_tensor tensors[LNB_TENSOR_COUNT]);
  ~CpuWorkerEngine() override { Release(); }
  void Prepare(Reply& r) override;
  void Run(Reply& r) override;
  // The host clock around `batch` back-to-back run() calls and nothing else,
  // exactly as CpuCase::TimeBatch times a built-in kernel.
  void Time(int batch, bool cold, Reply& r) override;
  void Release() override;

 private:
  const lnb_backend* b_;
  lnb_problem problem_;
  std::string variant_;
  lnb_tensor tensors_[LNB_TENSOR_COUNT] = {};
  void* state_ = nullptr;
};

// A call into a plugin in lnbench's own process (--plugin-isolation none,
// and the calls every mode makes there: supports()). While it lasts, what
// the plugin prints to standard output goes to stderr, as in the fork and
// exec workers (lnbench's standard output may be the report: --json -), and
// an exit() in the plugin, or a call that takes longer than `timeout_s`
// (--plugin-timeout; 0: none), ends lnbench with one line naming the plugin
// and the call and exit status 3, instead of the plugin's status and no
// report, or a hang. Outside the timed loop: a whole timed batch is one call.
class InProcessCall {
 public:
  // every_mode: a call lnbench makes in its own process whatever the
  // isolation (loading the library, supports()).
  InProcessCall(const std::string& backend, const char* what, double timeout_s, bool every_mode = false);
  ~InProcessCall();
  InProcessCall(const InProcessCall&) = delete;
  InProcessCall& operator=(const InProcessCall&) = delete;

 private:
  int saved_stdout_ = -1;
  bool armed_ = false;
};

// Makes the fault handler of this process report guard-page hits relative to
// `buffers` (the case's tensors, as the parent numbers them).
void SetFaultRanges(const std::vector<const GuardedBuffer*>& buffers);

// Serves one case: commands from `fd` to `engine` until kRelease (returns
// true) or kQuit, a closed socket or a bad message (returns false).
bool ServeCase(int fd, WorkerEngine& engine);

// Installs the SIGSEGV/SIGBUS handler that tells the parent (on `fd`) where
// the kernel faulted before the process dies of it, and arranges to die with
// the parent.
void BecomeWorker(int fd);

// ---------------------------------------------------------------------------
// The parent side.

class WorkerProcess {
 public:
  // Forks a child that runs `child_main(fd)` (it must not return).
  static std::unique_ptr<WorkerProcess> Fork(const std::function<void(int)>& child_main, double timeout_s);
  // Starts `binary` (lnbench itself) as an exec'd worker.
  static std::unique_ptr<WorkerProcess> Spawn(const std::string& binary, double timeout_s);
  // Asks it to quit, waits a second at most, then kills and reaps it.
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends `c` (with `payload` and `fds`) and waits for the reply at most the
  // timeout. Throws RuntimeError when the process hangs (it is killed: "plugin
  // timed out after Ns in WHAT"), crashes or exits. A fault reply is returned
  // (the process is reaped: last_exit() says how it ended).
  Reply Call(const Command& c, const char* what, const void* payload = nullptr, size_t payload_size = 0,
             const std::vector<int>& fds = {});
  // Sends kRelease and returns whether the state was released in time.
  bool ReleaseCase(double timeout_s);

  bool dead() const { return dead_; }
  // Counts the cases set up in it (an exec'd worker serves several).
  int cases() const { return cases_; }
  void CountCase() { ++cases_; }
  const std::string& last_exit() const { return last_exit_; }
  const char* kind() const { return exec_ ? "worker process" : "child process"; }

 private:
  WorkerProcess(pid_t pid, int fd, double timeout_s, bool exec) : pid_(pid), fd_(fd), timeout_s_(timeout_s), exec_(exec) {}
  // Waits for the process (killing it first when `kill_first`) and returns how it ended.
  std::string Reap(bool kill_first);
  std::string Died(const char* what);
  Reply Wait(const char* what, double timeout_s);

  pid_t pid_ = -1;
  int fd_ = -1;
  bool dead_ = false;
  double timeout_s_;
  bool exec_;
  int cases_ = 0;
  std::string last_exit_;
};

// Returns "SIGSEGV (Segmentation fault)" for SIGSEGV.
std::string SignalText(int sig);

}  // namespace lnbench

#endif  // LNBENCH_APP_PLUGIN_WORKER_H_
