#include "app/plugin_worker.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#ifdef LNBENCH_HAVE_CUDA
#include "app/plugin_cuda.h"
#endif
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/gpu_device.h"
#include "core/op.h"
#include "core/thread_pool.h"
#include "io/file_io.h"

extern char** environ;

namespace lnbench {

namespace {

bool SendAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReceiveAll(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Sends `header` then `payload` with `fds` attached to the first byte (SCM_RIGHTS).
bool SendWithFds(int fd, const void* header, size_t header_size, const void* payload, size_t payload_size,
                 const std::vector<int>& fds) {
  if (fds.empty()) return SendAll(fd, header, header_size) && (payload_size == 0 || SendAll(fd, payload, payload_size));
  iovec iov{const_cast<void*>(header), header_size};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  const size_t sent = static_cast<size_t>(n);
  return SendAll(fd, static_cast<const char*>(header) + sent, header_size - sent) &&
         (payload_size == 0 || SendAll(fd, payload, payload_size));
}

// Receives a command and the descriptors sent with it (at most
// LNB_TENSOR_COUNT; more close the message as bad). Returns false at the end.
bool ReceiveCommand(int fd, Command* c, std::vector<int>* fds) {
  char control[CMSG_SPACE(sizeof(int) * LNB_TENSOR_COUNT)];
  iovec iov{c, sizeof *c};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      fds->push_back(received);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return false;
  return ReceiveAll(fd, reinterpret_cast<char*>(c) + n, sizeof *c - static_cast<size_t>(n));
}

bool SameVersion(const Command& c) { return c.magic == kWorkerMagic && c.version == kWorkerProtocolVersion; }

void SetText(Reply& r, const std::string& text) {
  std::snprintf(r.text, sizeof r.text, "%s", text.c_str());
}

// ---------------------------------------------------------------------------
// The fault handler: plain data only (it runs inside a signal).

int g_fault_fd = -1;
struct FaultRange {
  uintptr_t begin = 0, data = 0, end = 0;
};
FaultRange g_fault_ranges[LNB_TENSOR_COUNT];
int g_fault_range_count = 0;

// Tells the parent where the kernel faulted, then returns: SA_RESETHAND has
// restored the default action, so the faulting instruction runs again and the
// process dies of the signal (the parent reports both).
void FaultHandler(int sig, siginfo_t* info, void* context) {
  if (info->si_code <= 0) {
    // Sent by a process (raise, kill), not a fault: no address to report; die of it.
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  Reply r;
  r.kind = WorkerReply::kFault;
  r.address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (int i = 0; i < g_fault_range_count; ++i) {
    if (r.address >= g_fault_ranges[i].begin && r.address < g_fault_ranges[i].end) {
      r.tensor = i;
      r.offset = static_cast<int64_t>(r.address - g_fault_ranges[i].data);
    }
  }
#if defined(__x86_64__)
  // Bit 1 of the page-fault error code: the access was a write.
  const auto* uc = static_cast<const ucontext_t*>(context);
  r.is_write = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#else
  (void)context;
#endif
  SendAll(g_fault_fd, &r, sizeof r);
}

void CallPlugin(int rc, Reply& r) {
  if (rc != 0) r.kind = WorkerReply::kError;
  r.text[sizeof r.text - 1] = '\0';
}

DType FromPluginDType(uint32_t d) {
  switch (d) {
    case LNB_DTYPE_BF16: return DType::kBF16;
    case LNB_DTYPE_F16: return DType::kF16;
    default: return DType::kF32;
  }
}

// The worker's copy of one case: the plugin's backend, its tensors mapped from
// the parent's memfds, and the engine calling it.
struct WorkerCase {
  std::vector<GuardedBuffer> shared;
  std::unique_ptr<WorkerEngine> engine;
};

// The plugin loaded by this worker (the first kSetup loads it; a worker serves one plugin).
struct LoadedPlugin {
  std::string path;
  const lnb_plugin* plugin = nullptr;
};

// Returns the backend of `s` from the plugin it names, loading it if need be. Throws RuntimeError.
const lnb_backend* FindWorkerBackend(LoadedPlugin& loaded, const SetupPayload& s) {
  if (loaded.plugin == nullptr) {
    void* handle = dlopen(s.plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      throw RuntimeError(fmt::format("the worker cannot load {}: {}", s.plugin_path, err ? err : "unknown error"));
    }
    auto entry = reinterpret_cast<lnb_plugin_entry_fn>(dlsym(handle, LNBENCH_PLUGIN_ENTRY_NAME));
    const lnb_plugin* d = entry != nullptr ? entry(LNBENCH_PLUGIN_ABI_VERSION) : nullptr;
    if (d == nullptr || d->abi_version != LNBENCH_PLUGIN_ABI_VERSION || d->struct_size < sizeof(lnb_plugin) ||
        d->backends == nullptr || d->backend_count < 1 || d->backend_count > 64)
      throw RuntimeError(fmt::format("{} is no longer the plugin lnbench loaded", s.plugin_path));
    loaded.path = s.plugin_path;
    loaded.plugin = d;
  } else if (loaded.path != s.plugin_path) {
    throw RuntimeError(fmt::format("this worker serves {}, not {}", loaded.path, s.plugin_path));
  }
  for (int i = 0; i < loaded.plugin->backend_count; ++i) {
    const lnb_backend& b = loaded.plugin->backends[i];
    if (b.struct_size >= sizeof(lnb_backend) && b.name != nullptr && std::strcmp(b.name, s.backend) == 0 &&
        b.prepare && b.run && b.release)
      return &b;
  }
  throw RuntimeError(fmt::format("{} has no backend '{}'", s.plugin_path, s.backend));
}

// Builds the case of `s` on the tensors of `fds` (owned from now on). Throws RuntimeError.
WorkerCase SetUpCase(LoadedPlugin& loaded, const SetupPayload& s, std::vector<int>& fds) {
  WorkerCase wc;
  if (s.tensor_count > LNB_TENSOR_COUNT || fds.size() != s.tensor_count)
    throw RuntimeError(fmt::format("a case of {} tensors came with {} memfds", s.tensor_count, fds.size()));
  std::vector<PluginTensor> tensors;
  for (uint32_t i = 0; i < s.tensor_count; ++i) {
    const SetupPayload::Tensor& t = s.tensors[i];
    if (t.id < 0 || t.id >= LNB_TENSOR_COUNT || t.rows < 0 || t.cols < 0 || t.dtype > LNB_DTYPE_F16)
      throw RuntimeError(fmt::format("bad tensor {} in the case", i));
    const DType dtype = FromPluginDType(t.dtype);
    if (t.bytes != static_cast<uint64_t>(t.rows) * static_cast<uint64_t>(t.cols) * DTypeSize(dtype))
      throw RuntimeError(fmt::format("tensor {}: {} bytes for {}x{}", i, t.bytes, t.rows, t.cols));
    const char* name = TensorName(static_cast<TensorId>(t.id)).data();
    const int fd = fds[i];
    fds[i] = -1;
    wc.shared.push_back(GuardedBuffer::Attach(name, t.bytes, fd));
    PluginTensor pt;
    pt.id = static_cast<lnb_tensor_id>(t.id);
    pt.name = name;
    pt.is_output = t.is_output != 0;
    pt.rows = t.rows;
    pt.cols = t.cols;
    pt.lnbench_dtype = dtype;
    pt.dtype = static_cast<lnb_dtype>(t.dtype);
    pt.bytes = t.bytes;
    if (pt.is_output)
      pt.host_output = wc.shared.back().data();
    else
      pt.host_input = wc.shared.back().data();
    tensors.push_back(pt);
  }
  const lnb_backend* b = FindWorkerBackend(loaded, s);
  if (b->device == LNB_DEVICE_CUDA) {
#ifdef LNBENCH_HAVE_CUDA
    SetGpuDeviceIndex(s.cuda_device);  // --device N: what the CUDA helpers look at in this process
    wc.engine = MakeCudaWorkerEngine(b, s.problem, s.variant, s.cuda_device, tensors);
#else
    throw RuntimeError("a CUDA plugin needs an lnbench built with CUDA");
#endif
  } else {
    lnb_tensor c[LNB_TENSOR_COUNT] = {};
    std::vector<const GuardedBuffer*> ranges;
    for (size_t i = 0; i < tensors.size(); ++i) {
      c[tensors[i].id] = {wc.shared[i].data(), tensors[i].rows, tensors[i].cols, tensors[i].dtype,
                          tensors[i].is_output ? 1u : 0u};
      ranges.push_back(&wc.shared[i]);
    }
    SetFaultRanges(ranges);
    wc.engine = std::make_unique<CpuWorkerEngine>(b, s.problem, s.variant, c);
  }
  return wc;
}

void CloseAll(std::vector<int>& fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
  fds.clear();
}

}  // namespace

std::string SignalText(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{} ({})", abbrev, strsignal(sig)) : fmt::format("signal {}", sig);
}

// ---------------------------------------------------------------------------

CpuWorkerEngine::CpuWorkerEngine(const lnb_backend* b, const lnb_problem& problem, std::string variant,
                                 const lnb_tensor tensors[LNB_TENSOR_COUNT])
    : b_(b), problem_(problem), variant_(std::move(variant)) {
  std::copy(tensors, tensors + LNB_TENSOR_COUNT, tensors_);
}

void CpuWorkerEngine::Prepare(Reply& r) {
  CallPlugin(b_->prepare(b_->user, &problem_, variant_.c_str(), tensors_, &state_, r.text, sizeof r.text), r);
}

void CpuWorkerEngine::Run(Reply& r) { CallPlugin(b_->run(state_, tensors_, nullptr, r.text, sizeof r.text), r); }

void CpuWorkerEngine::Time(int batch, bool cold, Reply& r) {
  if (cold) {
    FlushCpuCaches();
    batch = 1;
  }
  int rc = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batch; ++i) rc |= b_->run(state_, tensors_, nullptr, r.text, sizeof r.text);
  const auto t1 = std::chrono::steady_clock::now();
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  CallPlugin(rc, r);
}

void CpuWorkerEngine::Release() {
  if (state_ != nullptr) b_->release(state_);
  state_ = nullptr;
}

void SetFaultRanges(const std::vector<const GuardedBuffer*>& buffers) {
  g_fault_range_count = 0;
  for (const GuardedBuffer* g : buffers) {
    if (g_fault_range_count == LNB_TENSOR_COUNT) break;
    g_fault_ranges[g_fault_range_count++] = {g->map_begin(), reinterpret_cast<uintptr_t>(g->data()), g->map_end()};
  }
}

bool ServeCase(int fd, WorkerEngine& engine) {
  for (;;) {
    Command c;
    if (!ReceiveAll(fd, &c, sizeof c)) return false;
    Reply r;
    if (!SameVersion(c)) {
      r.kind = WorkerReply::kError;
      SetText(r, fmt::format("plugin worker protocol {:#x}/{} expected", kWorkerMagic, kWorkerProtocolVersion));
      SendAll(fd, &r, sizeof r);
      return false;
    }
    bool release = false;
    try {
      switch (c.kind) {
        case WorkerCommand::kPrepare: engine.Prepare(r); break;
        case WorkerCommand::kPoison: engine.Poison(); break;
        case WorkerCommand::kRun: engine.Run(r); break;
        case WorkerCommand::kTime: engine.Time(c.batch, c.cold != 0, r); break;
        case WorkerCommand::kUpload: engine.Upload(); break;
        case WorkerCommand::kRelease:
          engine.Release();
          release = true;
          break;
        case WorkerCommand::kQuit: engine.Release(); return false;
        default:
          r.kind = WorkerReply::kError;
          SetText(r, fmt::format("unexpected command {} during a case", static_cast<uint32_t>(c.kind)));
      }
    } catch (const GuardViolation& e) {
      r.kind = WorkerReply::kGuard;
      SetText(r, e.what());
    } catch (const std::exception& e) {
      r.kind = WorkerReply::kError;
      SetText(r, e.what());
    }
    if (!SendAll(fd, &r, sizeof r)) return false;
    if (release) return true;
  }
}

// A plugin that calls exit() in the worker: the worker ends at once with its
// status (lnbench then says "exited with status N in run"). Without this,
// exit() would run the destructors of statics made in lnbench before a fork,
// such as the thread pools, whose threads the child does not have: it hung
// until --plugin-timeout and was reported as a timeout.
extern "C" void WorkerExitsAtOnce(int status, void*) {
  std::fflush(nullptr);
  _exit(status);
}

void BecomeWorker(int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // lnbench's temporary files (the report's) are its own: a signal that ends
  // this process must not remove them.
  ForgetTempFilesAfterFork();
  // The plugin's prints go to stderr: lnbench's standard output may be the
  // report (--json -) or a csv/md/json table.
  std::fflush(stdout);
  dup2(STDERR_FILENO, STDOUT_FILENO);
  on_exit(WorkerExitsAtOnce, nullptr);
  g_fault_fd = fd;
  g_fault_range_count = 0;
  struct sigaction sa {};
  sa.sa_sigaction = FaultHandler;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
}

int PluginWorkerMain(int argc, char** argv) {
  char* end = nullptr;
  const long fd = argc == 4 ? std::strtol(argv[2], &end, 10) : -1;
  const long parent = argc == 4 ? std::strtol(argv[3], nullptr, 10) : -1;
  if (fd < 3 || end == nullptr || *end != '\0' || fcntl(static_cast<int>(fd), F_GETFD) < 0) {
    std::fprintf(stderr, "lnbench: error: %s is lnbench's own plugin worker, not a command\n", kPluginWorkerCommand);
    return kExitUsage;
  }
  BecomeWorker(static_cast<int>(fd));
  fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  if (getppid() != parent) return 0;  // lnbench is gone already (before the death signal was armed)
  LoadedPlugin loaded;
  for (;;) {
    Command c;
    std::vector<int> fds;
    if (!ReceiveCommand(static_cast<int>(fd), &c, &fds)) {
      CloseAll(fds);
      return 0;
    }
    Reply r;
    if (!SameVersion(c) || (c.kind != WorkerCommand::kSetup && c.kind != WorkerCommand::kQuit)) {
      CloseAll(fds);
      r.kind = WorkerReply::kError;
      SetText(r, SameVersion(c) ? "no case set up" : "plugin worker protocol mismatch");
      SendAll(static_cast<int>(fd), &r, sizeof r);
      return kExitRuntime;
    }
    if (c.kind == WorkerCommand::kQuit) {
      CloseAll(fds);
      return 0;
    }
    auto setup = std::make_unique<SetupPayload>();
    if (!ReceiveAll(static_cast<int>(fd), setup.get(), sizeof *setup)) {
      CloseAll(fds);
      return 0;
    }
    setup->plugin_path[sizeof setup->plugin_path - 1] = '\0';
    setup->backend[sizeof setup->backend - 1] = '\0';
    setup->variant[sizeof setup->variant - 1] = '\0';
    WorkerCase wc;
    try {
      wc = SetUpCase(loaded, *setup, fds);
    } catch (const std::exception& e) {
      CloseAll(fds);
      r.kind = WorkerReply::kError;
      SetText(r, e.what());
    }
    if (!SendAll(static_cast<int>(fd), &r, sizeof r)) return 0;
    if (wc.engine == nullptr) continue;
    const bool next = ServeCase(static_cast<int>(fd), *wc.engine);
    g_fault_range_count = 0;
    if (!next) return 0;
  }
}

// ---------------------------------------------------------------------------

std::unique_ptr<WorkerProcess> WorkerProcess::Fork(const std::function<void(int)>& child_main, double timeout_s) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw RuntimeError(fmt::format("socketpair failed: {}", std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  const ChildAffinity affinity;  // --cpus: the worker's threads may use every listed CPU
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    throw RuntimeError(fmt::format("fork failed: {}", std::strerror(err)));
  }
  if (pid == 0) {
    affinity.Apply();
    close(fds[0]);
    child_main(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, fds[0], timeout_s, false));
}

std::unique_ptr<WorkerProcess> WorkerProcess::Spawn(const std::string& binary, double timeout_s) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw RuntimeError(fmt::format("socketpair failed: {}", std::strerror(errno)));
  // The worker's end is the one descriptor it inherits on purpose; it sets
  // close-on-exec again itself.
  fcntl(fds[1], F_SETFD, 0);
  const std::string fd_text = std::to_string(fds[1]), parent_text = std::to_string(getpid());
  char* argv[] = {const_cast<char*>("lnbench"), const_cast<char*>(kPluginWorkerCommand),
                  const_cast<char*>(fd_text.c_str()), const_cast<char*>(parent_text.c_str()), nullptr};
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = -1;
  // --cpus: posix_spawn has no affinity attribute, and the worker inherits
  // the calling thread's CPUs (the pinned main thread's one): widen them to
  // every listed CPU for the spawn, then put them back.
  const ChildAffinity affinity;
  cpu_set_t saved;
  CPU_ZERO(&saved);
  const bool pinned = affinity.active() && sched_getaffinity(0, sizeof saved, &saved) == 0;
  if (pinned) affinity.Apply();
  const int err = posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv, environ);
  if (pinned) sched_setaffinity(0, sizeof saved, &saved);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    throw RuntimeError(fmt::format("cannot start the plugin worker {}: {}", binary, std::strerror(err)));
  }
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, fds[0], timeout_s, true));
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) {
    Command quit;
    quit.kind = WorkerCommand::kQuit;
    if (!dead_ && SendAll(fd_, &quit, sizeof quit)) {
      // release() gets a second at most; then the process is killed.
      pollfd p{fd_, POLLIN, 0};
      poll(&p, 1, 1000);
    }
    Reap(true);
  }
  if (fd_ >= 0) close(fd_);
}

Reply WorkerProcess::Call(const Command& c, const char* what, const void* payload, size_t payload_size,
                          const std::vector<int>& fds) {
  if (dead_) throw RuntimeError(fmt::format("the plugin's {} is gone", kind()));
  if (!SendWithFds(fd_, &c, sizeof c, payload, payload_size, fds)) throw RuntimeError(Died(what));
  return Wait(what, timeout_s_);
}

Reply WorkerProcess::Wait(const char* what, double timeout_s) {
  Reply r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char* p = reinterpret_cast<char*>(&r);
  size_t got = 0;
  while (got < sizeof r) {
    const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = left > 0 ? poll(&pfd, 1, static_cast<int>(left * 1000) + 1) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      Reap(true);
      throw RuntimeError(fmt::format("plugin timed out after {}s in {} (its {} was killed)", timeout_s, what, kind()));
    }
    const ssize_t n = recv(fd_, p + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw RuntimeError(Died(what));
    got += static_cast<size_t>(n);
  }
  if (r.magic != kWorkerMagic || r.version != kWorkerProtocolVersion) {
    Reap(true);
    throw RuntimeError(fmt::format("the plugin's {} answered {} with another protocol", kind(), what));
  }
  // The process dies of a fault as soon as its handler returns.
  if (r.kind == WorkerReply::kFault) last_exit_ = Reap(false);
  r.text[sizeof r.text - 1] = '\0';
  return r;
}

bool WorkerProcess::ReleaseCase(double timeout_s) {
  if (dead_) return false;
  Command c;
  c.kind = WorkerCommand::kRelease;
  if (!SendAll(fd_, &c, sizeof c)) return false;
  try {
    return Wait("release", timeout_s).kind == WorkerReply::kOk;
  } catch (const RuntimeError&) {
    return false;
  }
}

std::string WorkerProcess::Reap(bool kill_first) {
  if (pid_ <= 0) return "";
  int status = 0;
  pid_t w = 0;
  if (!kill_first) {
    // It is dying (a fault, a closed socket): give it two seconds, then kill
    // it, so a process that closed its socket and lives on cannot hang lnbench.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      w = waitpid(pid_, &status, WNOHANG);
      if (w < 0 && errno == EINTR) continue;
      if (w != 0 || std::chrono::steady_clock::now() >= deadline) break;
      usleep(1000);
    }
  }
  if (w == 0) {
    kill(pid_, SIGKILL);
    do {
      w = waitpid(pid_, &status, 0);
    } while (w < 0 && errno == EINTR);
  }
  pid_ = -1;
  dead_ = true;
  if (w < 0) return "it could not be waited for";
  if (WIFSIGNALED(status)) return "crashed with " + SignalText(WTERMSIG(status));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

std::string WorkerProcess::Died(const char* what) {
  // The socket closed: the process is dying or dead; wait for it.
  return fmt::format("plugin {} in {}", Reap(false), what);
}

// --plugin-isolation none: a plugin that calls exit() inside one of its calls
// would end lnbench with the plugin's status (exit 0: no table, no report,
// nothing said, and a CI gate passes). While a call runs, an on_exit handler
// turns that into a one-line error and exit 3. The handler is registered
// once, before any static destructor it must run ahead of can matter.
namespace {
std::atomic<const char*> g_in_plugin_call{nullptr};
char g_in_plugin_backend[64];
std::atomic<bool> g_in_plugin_call_every_mode{false};

// The timeout of an in-process call (--plugin-timeout): there is no process
// to kill, so a call that outlives it ends lnbench with one line and exit 3,
// as exit() does above, instead of hanging it. A POSIX timer armed for the
// call's length raises SIGRTMIN; its handler writes the line prepared when
// the call began (write and _exit are async-signal-safe) and ends the
// process, whatever thread it lands on. No thread and no lock: a fork()
// during a call inherits neither the timer nor a held mutex.
char g_timeout_line[512];
size_t g_timeout_line_bytes = 0;
int g_in_process_depth = 0;

extern "C" void InProcessCallTimedOut(int) {
  RemoveTempFilesBeforeExit();
  const ssize_t ignored = write(STDERR_FILENO, g_timeout_line, g_timeout_line_bytes);
  (void)ignored;
  _exit(kExitRuntime);
}

// Returns the timer of in-process calls, made (with its handler) on first use;
// nullptr when the system refuses one (calls then run without a timeout).
timer_t* InProcessTimer() {
  static timer_t timer;
  static const bool made = [] {
    struct sigaction action {};
    action.sa_handler = InProcessCallTimedOut;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGRTMIN, &action, nullptr) != 0) return false;
    struct sigevent event {};
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = SIGRTMIN;
    return timer_create(CLOCK_MONOTONIC, &event, &timer) == 0;
  }();
  return made ? &timer : nullptr;
}

// Arms (seconds > 0) or disarms (0) the timer.
void SetInProcessTimer(double seconds) {
  timer_t* timer = InProcessTimer();
  if (timer == nullptr) return;
  struct itimerspec spec {};
  if (seconds > 0) {
    const auto ns = static_cast<int64_t>(seconds * 1e9);
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  timer_settime(*timer, 0, &spec, nullptr);
}

// Why an in-process call that ends badly ends lnbench: the clause before
// "that ends lnbench too" in both one-line errors below.
const char* InProcessReason(bool every_mode) {
  return every_mode ? "lnbench makes that call in its own process:" : "with --plugin-isolation none";
}
}  // namespace

extern "C" void ExitDuringPluginCall(int status, void*) {
  const char* what = g_in_plugin_call.load();
  if (what == nullptr) return;
  RemoveTempFilesBeforeExit();
  std::fflush(stdout);
  std::fprintf(stderr,
               "lnbench: error: plugin %s called exit(%d) in %s; %s that ends lnbench too, and no report was "
               "written\n",
               g_in_plugin_backend, status, what, InProcessReason(g_in_plugin_call_every_mode.load()));
  _exit(kExitRuntime);
}

InProcessCall::InProcessCall(const std::string& backend, const char* what, double timeout_s, bool every_mode) {
  static std::once_flag once;
  std::call_once(once, [] { on_exit(ExitDuringPluginCall, nullptr); });
  std::snprintf(g_in_plugin_backend, sizeof g_in_plugin_backend, "%s", backend.c_str());
  g_in_plugin_call_every_mode.store(every_mode);
  g_in_plugin_call.store(what);
  std::fflush(stdout);
  saved_stdout_ = dup(STDOUT_FILENO);
  if (saved_stdout_ >= 0) dup2(STDERR_FILENO, STDOUT_FILENO);
  // A call inside another keeps the outer one's deadline.
  if (g_in_process_depth++ == 0 && timeout_s > 0) {
    const std::string line = fmt::format(
        "lnbench: error: plugin {} timed out after {}s in {}; {} that ends lnbench too, and no report was "
        "written\n",
        g_in_plugin_backend, timeout_s, what, InProcessReason(every_mode));
    g_timeout_line_bytes = std::min(line.size(), sizeof g_timeout_line);
    std::memcpy(g_timeout_line, line.data(), g_timeout_line_bytes);
    armed_ = true;
    SetInProcessTimer(timeout_s);
  }
}

InProcessCall::~InProcessCall() {
  if (armed_) SetInProcessTimer(0);
  --g_in_process_depth;
  std::fflush(stdout);  // the plugin's buffered prints go to stderr too
  if (saved_stdout_ >= 0) {
    dup2(saved_stdout_, STDOUT_FILENO);
    close(saved_stdout_);
  }
  g_in_plugin_call.store(nullptr);
}

}  // namespace lnbench
