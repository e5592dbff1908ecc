#include "app/plugin_loader.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "app/guarded_memory.h"
#include "app/plugin_tensors.h"
#ifdef LNBENCH_HAVE_CUDA
#include "app/plugin_cuda.h"
#endif
#include "backends/cpu/cpu_backend.h"
#include "app/registry.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/gpu_device.h"
#include "core/thread_pool.h"
#include "lnbench/plugin.h"

namespace lnbench {

namespace {

namespace fs = std::filesystem;

// Returns a reason a plugin wrote, cut at its buffer and made one line.
std::string ReasonText(const char* buf, size_t size) {
  std::string s(buf, strnlen(buf, size));
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return s.empty() ? "no reason given" : s;
}

// ---------------------------------------------------------------------------
// The child process: a fork of lnbench that calls the plugin; commands and
// replies are fixed-size messages on a socket pair (never SIGPIPE: MSG_NOSIGNAL).

enum : uint32_t { kCmdPrepare = 1, kCmdRun, kCmdTime, kCmdQuit };
enum : uint32_t { kReplyOk = 1, kReplyError, kReplyFault };

struct Command {
  uint32_t kind = 0;
  int32_t batch = 0;
  uint32_t cold = 0;
};

struct Reply {
  uint32_t kind = 0;
  uint32_t is_write = 0;  // kReplyFault: 1 write, 0 read, 2 unknown
  uint64_t address = 0;   // kReplyFault: the faulting address
  double seconds = 0;     // kCmdTime
  char text[480] = {};    // kReplyError: the plugin's reason
};

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

// The child's reply socket, for the fault handler.
int g_fault_fd = -1;

// Tells the parent where the kernel faulted, then returns: SA_RESETHAND has
// restored the default action, so the faulting instruction runs again and the
// child dies of the signal (the parent reports both).
void FaultHandler(int sig, siginfo_t* info, void* context) {
  if (info->si_code <= 0) {
    // Sent by a process (raise, kill), not a fault: no address to report; die of it.
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  Reply r;
  r.kind = kReplyFault;
  r.address = reinterpret_cast<uintptr_t>(info->si_addr);
  r.is_write = 2;
#if defined(__x86_64__)
  // Bit 1 of the page-fault error code: the access was a write.
  const auto* uc = static_cast<const ucontext_t*>(context);
  r.is_write = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#else
  (void)context;
#endif
  SendAll(g_fault_fd, &r, sizeof r);
}

[[noreturn]] void ChildMain(int fd, const lnb_backend* b, const lnb_problem* problem, const char* variant,
                            const lnb_tensor* tensors) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  g_fault_fd = fd;
  struct sigaction sa {};
  sa.sa_sigaction = FaultHandler;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  void* state = nullptr;
  for (;;) {
    Command c;
    if (!ReceiveAll(fd, &c, sizeof c)) _exit(0);
    Reply r;
    r.kind = kReplyOk;
    int rc = 0;
    switch (c.kind) {
      case kCmdPrepare:
        rc = b->prepare(b->user, problem, variant, tensors, &state, r.text, sizeof r.text);
        break;
      case kCmdRun:
        rc = b->run(state, tensors, nullptr, r.text, sizeof r.text);
        break;
      case kCmdTime: {
        // Timed exactly as CpuCase::TimeBatch times a built-in kernel: the
        // host clock around `batch` back-to-back calls, nothing else inside.
        int batch = c.batch;
        if (c.cold) {
          FlushCpuCaches();
          batch = 1;
        }
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < batch; ++i) rc |= b->run(state, tensors, nullptr, r.text, sizeof r.text);
        const auto t1 = std::chrono::steady_clock::now();
        r.seconds = std::chrono::duration<double>(t1 - t0).count();
        break;
      }
      case kCmdQuit:
        if (state != nullptr) b->release(state);
        _exit(0);
      default:
        _exit(4);
    }
    if (rc != 0) r.kind = kReplyError;
    r.text[sizeof r.text - 1] = '\0';
    if (!SendAll(fd, &r, sizeof r)) _exit(0);
  }
}

std::string SignalText(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{} ({})", abbrev, strsignal(sig))
                           : fmt::format("signal {}", sig);
}

// A forked child running ChildMain; Call() sends one command and waits for its
// reply at most timeout_s. Throws RuntimeError when the child hangs (it is
// killed), crashes or exits; a fault reply is returned (the child is reaped).
class ChildProcess {
 public:
  ChildProcess(const std::function<void(int)>& child_main, double timeout_s) : timeout_s_(timeout_s) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      throw RuntimeError(fmt::format("socketpair failed: {}", std::strerror(errno)));
    std::fflush(stdout);
    std::fflush(stderr);
    pid_ = fork();
    if (pid_ < 0) {
      close(fds[0]);
      close(fds[1]);
      throw RuntimeError(fmt::format("fork failed: {}", std::strerror(errno)));
    }
    if (pid_ == 0) {
      close(fds[0]);
      child_main(fds[1]);
      _exit(0);
    }
    close(fds[1]);
    fd_ = fds[0];
  }

  ~ChildProcess() {
    if (pid_ > 0) {
      Command quit;
      quit.kind = kCmdQuit;
      if (!dead_ && SendAll(fd_, &quit, sizeof quit)) {
        // release() gets a second at most; then the child is killed.
        pollfd p{fd_, POLLIN, 0};
        poll(&p, 1, 1000);
      }
      Reap(true);
    }
    if (fd_ >= 0) close(fd_);
  }

  pid_t pid() const { return pid_; }

  Reply Call(const Command& c, const char* what) {
    if (dead_) throw RuntimeError("the plugin's child process is gone");
    if (!SendAll(fd_, &c, sizeof c)) throw RuntimeError(Died(what));
    Reply r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    char* p = reinterpret_cast<char*>(&r);
    size_t got = 0;
    while (got < sizeof r) {
      const double left =
          std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = left > 0 ? poll(&pfd, 1, static_cast<int>(left * 1000) + 1) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        kill(pid_, SIGKILL);
        Reap(false);
        throw RuntimeError(fmt::format("plugin timed out after {}s in {} (the child process was killed)",
                                       timeout_s_, what));
      }
      const ssize_t n = recv(fd_, p + got, sizeof r - got, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw RuntimeError(Died(what));
      got += static_cast<size_t>(n);
    }
    if (r.kind == kReplyFault) {
      // The child dies of the fault as soon as its handler returns.
      last_exit_ = Reap(false);
    }
    return r;
  }

  // How the child ended, after a fault reply ("crashed with SIGSEGV (...)").
  const std::string& last_exit() const { return last_exit_; }

 private:
  // Waits for the child (killing it first when `kill_first`) and returns how it ended.
  std::string Reap(bool kill_first) {
    if (pid_ <= 0) return "";
    if (kill_first) kill(pid_, SIGKILL);
    int status = 0;
    pid_t w;
    do {
      w = waitpid(pid_, &status, 0);
    } while (w < 0 && errno == EINTR);
    pid_ = -1;
    dead_ = true;
    if (w < 0) return "it could not be waited for";
    if (WIFSIGNALED(status)) return "crashed with " + SignalText(WTERMSIG(status));
    return fmt::format("exited with status {}", WEXITSTATUS(status));
  }

  std::string Died(const char* what) {
    // The socket closed: the child is dying or dead; wait for it.
    return fmt::format("plugin {} in {}", Reap(false), what);
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool dead_ = false;
  double timeout_s_;
  std::string last_exit_;
};

// ---------------------------------------------------------------------------

// A loaded library; shared by its backends, never unloaded (descriptors and
// their strings live in it, and a plugin's atexit handlers may too).
struct PluginLibrary {
  std::string path;
  void* handle = nullptr;
  const lnb_plugin* plugin = nullptr;
};

class PluginBackend;

class PluginCase : public PreparedCase {
 public:
  PluginCase(const PluginBackend& backend, const Problem& problem, const HostTensors& inputs,
             const CaseOptions& options);
  ~PluginCase() override;

  std::string ResolvedVariant() const override { return variant_; }
  void Poison() override;
  void Run() override;
  void Download(const HostTensors& out) override;
  double TimeBatch(int batch, bool cold) override;
  std::map<std::string, std::string> Details() const override;
  void ReplaceInputs(const HostTensors& inputs) override;

 private:
  // Sends `c` to the child (or calls the plugin) and throws for a failure.
  Reply Call(const Command& c, const char* what);
  // Throws GuardViolation for a changed canary or (with checksums) input.
  void CheckGuards(bool checksums) const;
  void CopyInputs(const HostTensors& inputs);

  const PluginBackend& backend_;
  Problem problem_;
  std::string variant_;
  lnb_problem cproblem_;
  std::vector<PluginTensor> bindings_;
  std::vector<GuardedBuffer> buffers_;  // parallel to bindings_
  std::vector<uint64_t> checksums_;     // parallel to bindings_ (inputs)
  lnb_tensor tensors_[LNB_TENSOR_COUNT] = {};
  std::unique_ptr<ChildProcess> child_;  // null without isolation
  void* state_ = nullptr;                // without isolation
  bool prepared_ = false;
};

class PluginBackend : public CpuBackend {
 public:
  PluginBackend(std::shared_ptr<PluginLibrary> library, const lnb_backend* backend, PluginSettings settings)
      : library_(std::move(library)), backend_(backend), settings_(settings) {}

  std::string Name() const override { return backend_->name; }
  std::string Description() const override {
    return fmt::format("{} (plugin {} {})", backend_->description, library_->plugin->name,
                       library_->plugin->version);
  }
  BackendOrigin Origin() const override {
    return {"plugin", library_->path, static_cast<int>(library_->plugin->abi_version), false};
  }
  std::string DeviceId() const override { return backend_->device == LNB_DEVICE_CPU ? "cpu" : GpuDeviceId(); }
  Verdict Available() const override {
    if (backend_->device == LNB_DEVICE_CPU) return Verdict::Yes();
#ifdef LNBENCH_HAVE_CUDA
    return CudaPluginAvailable();
#else
    return Verdict::No("a CUDA plugin needs an lnbench built with CUDA");
#endif
  }
  std::map<std::string, std::string> DeviceInfo() const override {
#ifdef LNBENCH_HAVE_CUDA
    if (backend_->device == LNB_DEVICE_CUDA) return CudaPluginDeviceInfo();
#endif
    return CpuBackend::DeviceInfo();
  }
  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int threads, int min_samples,
                                                 double time_budget_s) override {
#ifdef LNBENCH_HAVE_CUDA
    if (backend_->device == LNB_DEVICE_CUDA) return CudaPluginCeiling(bytes, min_samples, time_budget_s);
#endif
    return CpuBackend::MeasureCeiling(bytes, threads, min_samples, time_budget_s);
  }
  std::vector<VariantInfo> Variants() const override {
    std::vector<VariantInfo> v;
    for (int i = 0; i < backend_->variant_count; ++i)
      v.push_back({backend_->variants[i].name,
                   backend_->variants[i].description ? backend_->variants[i].description : ""});
    return v;
  }
  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    const lnb_problem c = ToPluginProblem(problem, options.threads);
    char reason[256] = {};
    const std::string variant = options.variant.empty() ? Variants().front().name : options.variant;
    if (backend_->supports(backend_->user, &c, variant.c_str(), reason, sizeof reason) == 1)
      return Verdict::Yes();
    return Verdict::No(fmt::format("{}: {}", Name(), ReasonText(reason, sizeof reason)));
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    if (!options.variant.empty()) {
      const auto vars = Variants();
      if (std::none_of(vars.begin(), vars.end(), [&](const VariantInfo& v) { return v.name == options.variant; }))
        throw UsageError(fmt::format("{}: unknown variant '{}'", Name(), options.variant));
    }
#ifdef LNBENCH_HAVE_CUDA
    if (backend_->device == LNB_DEVICE_CUDA)
      return MakeCudaPluginCase(backend_, Name(), problem, ToPluginProblem(problem, options.threads),
                                options.variant.empty() ? Variants().front().name : options.variant, inputs);
#endif
    return std::make_unique<PluginCase>(*this, problem, inputs, options);
  }

  const lnb_backend* c() const { return backend_; }
  const PluginSettings& settings() const { return settings_; }
  const std::string& path() const { return library_->path; }

 private:
  std::shared_ptr<PluginLibrary> library_;
  const lnb_backend* backend_;
  PluginSettings settings_;
};

PluginCase::PluginCase(const PluginBackend& backend, const Problem& problem, const HostTensors& inputs,
                       const CaseOptions& options)
    : backend_(backend),
      problem_(problem),
      variant_(options.variant.empty() ? backend.Variants().front().name : options.variant),
      cproblem_(ToPluginProblem(problem, options.threads)),
      bindings_(BindPluginTensors(problem, &inputs, nullptr)) {
  for (const PluginTensor& t : bindings_) {
    buffers_.emplace_back(t.name, t.bytes);
    tensors_[t.id] = {buffers_.back().data(), t.rows, t.cols, t.dtype, t.is_output ? 1u : 0u};
  }
  CopyInputs(inputs);
  const lnb_backend* b = backend_.c();
  if (backend_.settings().isolate) {
    // The child is forked after the tensors are mapped: it shares them.
    child_ = std::make_unique<ChildProcess>(
        [b, this](int fd) { ChildMain(fd, b, &cproblem_, variant_.c_str(), tensors_); },
        backend_.settings().timeout_s);
  }
  Command c;
  c.kind = kCmdPrepare;
  Call(c, "prepare");
  prepared_ = true;
}

PluginCase::~PluginCase() {
  if (child_ == nullptr && prepared_ && state_ != nullptr) backend_.c()->release(state_);
}

void PluginCase::CopyInputs(const HostTensors& inputs) {
  const std::vector<PluginTensor> now = BindPluginTensors(problem_, &inputs, nullptr);
  checksums_.assign(bindings_.size(), 0);
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i].is_output) continue;
    if (now[i].bytes > 0) std::memcpy(buffers_[i].data(), now[i].host_input, now[i].bytes);
    checksums_[i] = buffers_[i].Checksum();
  }
}

void PluginCase::ReplaceInputs(const HostTensors& inputs) { CopyInputs(inputs); }

Reply PluginCase::Call(const Command& c, const char* what) {
  Reply r;
  if (child_ != nullptr) {
    r = child_->Call(c, what);
  } else {
    const lnb_backend* b = backend_.c();
    r.kind = kReplyOk;
    int rc = 0;
    if (c.kind == kCmdPrepare) {
      rc = b->prepare(b->user, &cproblem_, variant_.c_str(), tensors_, &state_, r.text, sizeof r.text);
    } else if (c.kind == kCmdRun) {
      rc = b->run(state_, tensors_, nullptr, r.text, sizeof r.text);
    } else {
      int batch = c.batch;
      if (c.cold) {
        FlushCpuCaches();
        batch = 1;
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < batch; ++i) rc |= b->run(state_, tensors_, nullptr, r.text, sizeof r.text);
      const auto t1 = std::chrono::steady_clock::now();
      r.seconds = std::chrono::duration<double>(t1 - t0).count();
    }
    if (rc != 0) r.kind = kReplyError;
  }
  if (r.kind == kReplyFault) {
    const uintptr_t address = static_cast<uintptr_t>(r.address);
    for (const GuardedBuffer& g : buffers_) {
      const std::string where = g.DescribeGuardHit(address);
      if (!where.empty())
        throw GuardViolation(fmt::format("{}: out-of-bounds {} in {}: {}", backend_.Name(),
                                         r.is_write == 1 ? "write" : r.is_write == 0 ? "read" : "access",
                                         what, where));
    }
    throw RuntimeError(fmt::format("plugin {} at address {:#x} in {}", child_->last_exit(), address, what));
  }
  if (r.kind == kReplyError)
    throw RuntimeError(fmt::format("{}: {} failed: {}", backend_.Name(), what, ReasonText(r.text, sizeof r.text)));
  return r;
}

void PluginCase::CheckGuards(bool checksums) const {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const std::string bad = buffers_[i].CheckCanaries();
    if (!bad.empty()) throw GuardViolation(fmt::format("{}: out-of-bounds write: {}", backend_.Name(), bad));
    if (checksums && !bindings_[i].is_output && buffers_[i].Checksum() != checksums_[i])
      throw GuardViolation(fmt::format("{}: the kernel changed its input {} (inputs must not be written)",
                                       backend_.Name(), buffers_[i].name()));
  }
}

void PluginCase::Poison() {
  ThreadPool& pool = SharedThreadPool(0);
  for (size_t i = 0; i < bindings_.size(); ++i)
    if (bindings_[i].is_output)
      FillPoisonHost(bindings_[i].lnbench_dtype, buffers_[i].data(), bindings_[i].rows * bindings_[i].cols, pool);
}

void PluginCase::Run() {
  Command c;
  c.kind = kCmdRun;
  Call(c, "run");
  CheckGuards(true);
}

void PluginCase::Download(const HostTensors& out) {
  const std::vector<PluginTensor> now = BindPluginTensors(problem_, nullptr, &out);
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i].is_output && now[i].host_output != nullptr && now[i].bytes > 0)
      std::memcpy(now[i].host_output, buffers_[i].data(), now[i].bytes);
}

double PluginCase::TimeBatch(int batch, bool cold) {
  Command c;
  c.kind = kCmdTime;
  c.batch = batch;
  c.cold = cold ? 1 : 0;
  const Reply r = Call(c, "a timed batch");
  // Canaries only: checksumming the inputs after every batch would add a pass
  // over them to the wall time (never to the measured time).
  CheckGuards(false);
  return r.seconds;
}

std::map<std::string, std::string> PluginCase::Details() const {
  return {{"plugin", backend_.path()},
          {"isolation", child_ != nullptr ? "child process" : "none (--no-isolation)"}};
}

// ---------------------------------------------------------------------------

bool ValidName(const char* s) {
  if (s == nullptr || *s == '\0' || std::strlen(s) > 64) return false;
  for (const char* p = s; *p; ++p)
    if (!(std::islower(static_cast<unsigned char>(*p)) || std::isdigit(static_cast<unsigned char>(*p)) ||
          *p == '_' || *p == '-'))
      return false;
  return true;
}

// Throws UsageError naming what is wrong with the descriptor.
void CheckDescriptor(const std::string& path, const lnb_plugin* d) {
  auto bad = [&](const std::string& what) { return UsageError(fmt::format("{}: bad plugin descriptor: {}", path, what)); };
  if (d->struct_size < sizeof(lnb_plugin)) throw bad("struct_size too small");
  if (d->name == nullptr || d->version == nullptr) throw bad("no name or version");
  if (d->backend_count < 1 || d->backend_count > 64 || d->backends == nullptr)
    throw bad(fmt::format("backend_count {} (1 to 64)", d->backend_count));
  for (int i = 0; i < d->backend_count; ++i) {
    const lnb_backend& b = d->backends[i];
    if (b.struct_size < sizeof(lnb_backend)) throw bad(fmt::format("backend {}: struct_size too small", i));
    if (!ValidName(b.name)) throw bad(fmt::format("backend {}: name must be 1-64 of [a-z0-9_-]", i));
    if (b.description == nullptr) throw bad(fmt::format("backend {}: no description", b.name));
    if (b.device != LNB_DEVICE_CPU && b.device != LNB_DEVICE_CUDA)
      throw bad(fmt::format("backend {}: unknown device {}", b.name, static_cast<int>(b.device)));
    if (b.variant_count < 1 || b.variant_count > 64 || b.variants == nullptr)
      throw bad(fmt::format("backend {}: variant_count {} (1 to 64)", b.name, b.variant_count));
    std::set<std::string> seen;
    for (int v = 0; v < b.variant_count; ++v)
      if (!ValidName(b.variants[v].name) || !seen.insert(b.variants[v].name).second)
        throw bad(fmt::format("backend {}: variant {} needs a unique name of [a-z0-9_-]", b.name, v));
    if (!b.supports || !b.prepare || !b.run || !b.release)
      throw bad(fmt::format("backend {}: a callback is missing", b.name));
  }
}

}  // namespace

std::vector<std::unique_ptr<Backend>> LoadPlugin(const std::string& path, const PluginSettings& settings) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw UsageError(fmt::format("plugin {}: no such file", path));
  // A path without a slash would make dlopen search the library path.
  const std::string full = fs::absolute(path, ec).string();
  void* handle = dlopen(full.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    throw UsageError(fmt::format("{}: not a plugin (it cannot be loaded as a shared library: {})", path,
                                 err ? err : "unknown error"));
  }
  auto entry = reinterpret_cast<lnb_plugin_entry_fn>(dlsym(handle, LNBENCH_PLUGIN_ENTRY_NAME));
  if (entry == nullptr) {
    dlclose(handle);
    throw UsageError(fmt::format("{}: not a plugin (no '{}' entry point)", path, LNBENCH_PLUGIN_ENTRY_NAME));
  }
  const lnb_plugin* d = entry(LNBENCH_PLUGIN_ABI_VERSION);
  if (d == nullptr) throw UsageError(fmt::format("{}: not a plugin ({} returned NULL)", path, LNBENCH_PLUGIN_ENTRY_NAME));
  if (d->abi_version != LNBENCH_PLUGIN_ABI_VERSION)
    throw UsageError(fmt::format("{}: built against plugin ABI {}, this lnbench reads ABI {}", path,
                                 d->abi_version, LNBENCH_PLUGIN_ABI_VERSION));
  CheckDescriptor(path, d);
  auto library = std::make_shared<PluginLibrary>(PluginLibrary{full, handle, d});
  std::vector<std::unique_ptr<Backend>> out;
  for (int i = 0; i < d->backend_count; ++i)
    out.push_back(std::make_unique<PluginBackend>(library, &d->backends[i], settings));
  return out;
}

std::vector<std::string> PluginPaths(const std::vector<std::string>& cli_paths) {
  std::vector<std::string> out;
  if (const char* env = std::getenv("LNBENCH_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    for (;;) {
      const size_t pos = s.find(':', start);
      const std::string item = s.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
      std::error_code ec;
      if (!item.empty() && fs::is_directory(item, ec)) {
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(item, ec))
          if (e.path().extension() == ".so" && e.is_regular_file(ec)) found.push_back(e.path().string());
        std::sort(found.begin(), found.end());
        out.insert(out.end(), found.begin(), found.end());
      } else if (!item.empty()) {
        out.push_back(item);
      }
      if (pos == std::string::npos) break;
      start = pos + 1;
    }
  }
  out.insert(out.end(), cli_paths.begin(), cli_paths.end());
  return out;
}

void RegisterPlugins(const std::vector<std::string>& cli_paths, const PluginSettings& settings) {
  static bool done = false;
  if (done) return;
  done = true;
  for (const std::string& path : PluginPaths(cli_paths))
    for (auto& b : LoadPlugin(path, settings)) AddBackend(std::move(b));
}

}  // namespace lnbench
