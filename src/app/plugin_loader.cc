#include "app/plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "app/guarded_memory.h"
#include "app/plugin_tensors.h"
#include "app/plugin_worker.h"
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

// A loaded library; shared by its backends, never unloaded (descriptors and
// their strings live in it, and a plugin's atexit handlers may too).
struct PluginLibrary {
  std::string path;
  void* handle = nullptr;
  const lnb_plugin* plugin = nullptr;
};

// Returns how cases of a backend on `device` run under `requested`: CUDA
// plugins cannot be forked (a CUDA context does not survive fork()).
PluginIsolation EffectiveIsolation(PluginIsolation requested, lnb_device device) {
  if (requested == PluginIsolation::kNone) return PluginIsolation::kNone;
  if (requested == PluginIsolation::kExec || device == LNB_DEVICE_CUDA) return PluginIsolation::kExec;
  return PluginIsolation::kFork;
}

class PluginBackend;

// One prepared case of a plugin backend (CPU or CUDA): lnbench's tensors in
// guarded shared memory, the plugin called in a forked child, an exec'd
// worker (which owns the device side of a CUDA plugin), or in-process.
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
  void Release() override;

 private:
  // Sends `c` to the worker (or calls the plugin) and throws for a failure.
  Reply Call(WorkerCommand kind, const char* what, int batch = 0, bool cold = false);
  // Sends the case to an exec'd worker.
  void SetUpWorker();
  // Throws GuardViolation for a changed canary or (with checksums) input (CPU plugins).
  void CheckGuards(bool checksums) const;
  void CopyInputs(const HostTensors& inputs);

  const PluginBackend& backend_;
  Problem problem_;
  std::string variant_;
  lnb_problem cproblem_;
  bool cuda_;
  PluginIsolation isolation_;
  std::vector<PluginTensor> bindings_;
  std::vector<GuardedBuffer> buffers_;  // parallel to bindings_
  std::vector<uint64_t> checksums_;     // parallel to bindings_ (inputs)
  lnb_tensor tensors_[LNB_TENSOR_COUNT] = {};
  std::unique_ptr<WorkerProcess> worker_;  // fork and exec
  std::unique_ptr<WorkerEngine> local_;    // none
  bool healthy_ = true;                    // every reply so far was ok: the worker may serve another case
  bool released_ = false;                  // Release() was called (whatever its outcome)
  int worker_case_ = 0;                    // exec: the how-manyth case of its worker this is
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
  std::unique_ptr<CopySampler> PrepareCopySampler(uint64_t bytes, int threads) override {
    // A CUDA plugin's copies are the GPU's: not paired (a ceiling before each case).
    if (backend_->device != LNB_DEVICE_CPU) return nullptr;
    return CpuBackend::PrepareCopySampler(bytes, threads);
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
    int supported = 0;
    {
      const InProcessCall in_call(Name(), "supports", settings_.timeout_s, true);
      supported = backend_->supports(backend_->user, &c, variant.c_str(), reason, sizeof reason);
    }
    if (supported == 1) return Verdict::Yes();
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
    if (backend_->device == LNB_DEVICE_CUDA && settings_.isolation == PluginIsolation::kNone)
      return MakeCudaPluginCase(backend_, Name(), problem, ToPluginProblem(problem, options.threads),
                                options.variant.empty() ? Variants().front().name : options.variant, inputs,
                                settings_.timeout_s);
#endif
    return std::make_unique<PluginCase>(*this, problem, inputs, options);
  }

  const lnb_backend* c() const { return backend_; }
  const PluginSettings& settings() const { return settings_; }
  const std::string& path() const { return library_->path; }

  // Returns an idle exec'd worker of this backend (its plugin loaded, a CUDA
  // context made), or starts a new one.
  std::unique_ptr<WorkerProcess> TakeWorker() const {
    if (!idle_workers_.empty()) {
      auto w = std::move(idle_workers_.back());
      idle_workers_.pop_back();
      return w;
    }
    return WorkerProcess::Spawn(settings_.worker_binary, settings_.timeout_s);
  }
  // Keeps a worker that released its case cleanly for the next case.
  void ReturnWorker(std::unique_ptr<WorkerProcess> w) const { idle_workers_.push_back(std::move(w)); }

 private:
  std::shared_ptr<PluginLibrary> library_;
  const lnb_backend* backend_;
  PluginSettings settings_;
  // Exec'd workers between cases (one in practice: cases run one at a time).
  mutable std::vector<std::unique_ptr<WorkerProcess>> idle_workers_;
};

PluginCase::PluginCase(const PluginBackend& backend, const Problem& problem, const HostTensors& inputs,
                       const CaseOptions& options)
    : backend_(backend),
      problem_(problem),
      variant_(options.variant.empty() ? backend.Variants().front().name : options.variant),
      cproblem_(ToPluginProblem(problem, options.threads)),
      cuda_(backend.c()->device == LNB_DEVICE_CUDA),
      isolation_(EffectiveIsolation(backend.settings().isolation, backend.c()->device)),
      bindings_(BindPluginTensors(problem, &inputs, nullptr)) {
  // An exec'd worker maps the tensors from memfds; a forked child inherits
  // the anonymous shared mappings.
  const bool file_backed = isolation_ == PluginIsolation::kExec;
  for (const PluginTensor& t : bindings_) {
    buffers_.emplace_back(t.name, t.bytes, file_backed);
    tensors_[t.id] = {buffers_.back().data(), t.rows, t.cols, t.dtype, t.is_output ? 1u : 0u};
  }
  CopyInputs(inputs);
  const lnb_backend* b = backend_.c();
  if (isolation_ == PluginIsolation::kFork) {
    // The child is forked after the tensors are mapped: it shares them.
    worker_ = WorkerProcess::Fork(
        [b, this](int fd) {
          BecomeWorker(fd);
          std::vector<const GuardedBuffer*> ranges;
          for (const GuardedBuffer& g : buffers_) ranges.push_back(&g);
          SetFaultRanges(ranges);
          CpuWorkerEngine engine(b, cproblem_, variant_, tensors_);
          ServeCase(fd, engine);
          _exit(0);
        },
        backend_.settings().timeout_s);
  } else if (isolation_ == PluginIsolation::kExec) {
    worker_ = backend_.TakeWorker();
    SetUpWorker();
  } else {
    local_ = std::make_unique<CpuWorkerEngine>(b, cproblem_, variant_, tensors_);
  }
  Call(WorkerCommand::kPrepare, "prepare");
}

PluginCase::~PluginCase() {
  if (worker_ != nullptr) {
    // A worker that answered every call and released its case serves the next
    // one; any other (and every forked child) ends here. A case that did not
    // get to Release() (it failed earlier) is released here, unreported.
    const bool released = released_ || worker_->ReleaseCase(std::min(backend_.settings().timeout_s, 10.0));
    if (isolation_ == PluginIsolation::kExec && healthy_ && released) backend_.ReturnWorker(std::move(worker_));
  } else if (local_ != nullptr && !released_) {
    // --plugin-isolation none: release() of a case that failed earlier, in
    // lnbench's process, under the same timeout as every other call.
    const InProcessCall in_call(backend_.Name(), "release", backend_.settings().timeout_s);
    local_->Release();
  }
}

void PluginCase::Release() {
  if (released_) return;
  released_ = true;
  // A crash, a timeout, an exit() or an error in release() is the case's
  // error, as it would be in run(); a forked child then ends.
  Call(WorkerCommand::kRelease, "release");
}

void PluginCase::SetUpWorker() {
  auto s = std::make_unique<SetupPayload>();
  std::snprintf(s->plugin_path, sizeof s->plugin_path, "%s", backend_.path().c_str());
  std::snprintf(s->backend, sizeof s->backend, "%s", backend_.c()->name);
  std::snprintf(s->variant, sizeof s->variant, "%s", variant_.c_str());
  if (backend_.path().size() >= sizeof s->plugin_path)
    throw RuntimeError(fmt::format("plugin path longer than {} bytes", sizeof s->plugin_path - 1));
  s->problem = cproblem_;
  s->cuda_device = backend_.settings().cuda_device;
  s->tensor_count = static_cast<uint32_t>(bindings_.size());
  std::vector<int> fds;
  for (size_t i = 0; i < bindings_.size(); ++i) {
    const PluginTensor& t = bindings_[i];
    s->tensors[i] = {static_cast<int32_t>(t.id), t.is_output ? 1u : 0u, static_cast<uint32_t>(t.dtype), t.rows,
                     t.cols, t.bytes};
    fds.push_back(buffers_[i].fd());
  }
  Command c;
  c.kind = WorkerCommand::kSetup;
  const Reply r = worker_->Call(c, "setup", s.get(), sizeof *s, fds);
  if (r.kind != WorkerReply::kOk) {
    healthy_ = false;
    throw RuntimeError(fmt::format("{}: the plugin worker could not set up the case: {}", backend_.Name(),
                                   ReasonText(r.text, sizeof r.text)));
  }
  worker_->CountCase();
  worker_case_ = worker_->cases();
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

void PluginCase::ReplaceInputs(const HostTensors& inputs) {
  CopyInputs(inputs);
  if (cuda_) Call(WorkerCommand::kUpload, "an upload");
}

Reply PluginCase::Call(WorkerCommand kind, const char* what, int batch, bool cold) {
  Reply r;
  if (worker_ != nullptr) {
    Command c;
    c.kind = kind;
    c.batch = batch;
    c.cold = cold ? 1 : 0;
    try {
      r = worker_->Call(c, what);
    } catch (...) {
      healthy_ = false;
      throw;
    }
  } else {
    const InProcessCall in_call(backend_.Name(), what, backend_.settings().timeout_s);
    switch (kind) {
      case WorkerCommand::kPrepare: local_->Prepare(r); break;
      case WorkerCommand::kRun: local_->Run(r); break;
      case WorkerCommand::kTime: local_->Time(batch, cold, r); break;
      case WorkerCommand::kRelease: local_->Release(); break;
      default: break;
    }
  }
  if (r.kind != WorkerReply::kOk) healthy_ = false;
  if (r.kind == WorkerReply::kFault) {
    if (r.tensor >= 0 && static_cast<size_t>(r.tensor) < buffers_.size()) {
      // The offset from the tensor's start in the worker's mapping, placed on ours.
      const GuardedBuffer& g = buffers_[static_cast<size_t>(r.tensor)];
      const std::string where =
          g.DescribeGuardHit(reinterpret_cast<uintptr_t>(g.data()) + static_cast<uintptr_t>(r.offset));
      if (!where.empty())
        throw GuardViolation(fmt::format("{}: out-of-bounds {} in {}: {}", backend_.Name(),
                                         r.is_write == 1 ? "write" : r.is_write == 0 ? "read" : "access", what,
                                         where));
    }
    throw RuntimeError(fmt::format("plugin {} at address {:#x} in {}", worker_->last_exit(), r.address, what));
  }
  if (r.kind == WorkerReply::kGuard) throw GuardViolation(ReasonText(r.text, sizeof r.text));
  if (r.kind == WorkerReply::kError)
    throw RuntimeError(fmt::format("{}: {} failed: {}", backend_.Name(), what, ReasonText(r.text, sizeof r.text)));
  return r;
}

void PluginCase::CheckGuards(bool checksums) const {
  if (cuda_) return;  // the worker checks the device tensors
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const std::string bad = buffers_[i].CheckCanaries();
    if (!bad.empty()) throw GuardViolation(fmt::format("{}: out-of-bounds write: {}", backend_.Name(), bad));
    if (checksums && !bindings_[i].is_output && buffers_[i].Checksum() != checksums_[i])
      throw GuardViolation(fmt::format("{}: the kernel changed its input {} (inputs must not be written)",
                                       backend_.Name(), buffers_[i].name()));
  }
}

void PluginCase::Poison() {
  if (cuda_) {
    Call(WorkerCommand::kPoison, "poisoning the outputs");
    return;
  }
  ThreadPool& pool = SharedThreadPool(0);
  for (size_t i = 0; i < bindings_.size(); ++i)
    if (bindings_[i].is_output)
      FillPoisonHost(bindings_[i].lnbench_dtype, buffers_[i].data(), bindings_[i].rows * bindings_[i].cols, pool);
}

void PluginCase::Run() {
  // A CUDA worker copies the outputs into the shared memory after the run.
  Call(WorkerCommand::kRun, "run");
  CheckGuards(true);
}

void PluginCase::Download(const HostTensors& out) {
  const std::vector<PluginTensor> now = BindPluginTensors(problem_, nullptr, &out);
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i].is_output && now[i].host_output != nullptr && now[i].bytes > 0)
      std::memcpy(now[i].host_output, buffers_[i].data(), now[i].bytes);
}

double PluginCase::TimeBatch(int batch, bool cold) {
  const Reply r = Call(WorkerCommand::kTime, "a timed batch", batch, cold);
  // Canaries only: checksumming the inputs after every batch would add a pass
  // over them to the wall time (never to the measured time).
  CheckGuards(false);
  return r.seconds;
}

std::map<std::string, std::string> PluginCase::Details() const {
  const char* isolation = isolation_ == PluginIsolation::kFork   ? "child process"
                          : isolation_ == PluginIsolation::kExec ? "worker process"
                                                                 : "none (--plugin-isolation none)";
  std::map<std::string, std::string> d = {{"plugin", backend_.path()}, {"isolation", isolation}};
  // 1 for a fresh worker: after a crash or a timeout the next case starts one.
  if (worker_case_ > 0) d["worker_case"] = std::to_string(worker_case_);
  return d;
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
    throw UsageError(fmt::format("plugin {}: {}", path,
                                 fs::is_directory(path, ec) ? "is a folder, not a shared library"
                                 : fs::exists(path, ec)     ? "not a regular file"
                                                            : "no such file"));
  // A path without a slash would make dlopen search the library path.
  const std::string full = fs::absolute(path, ec).string();
  // The library's constructors and its entry point run here, in lnbench's
  // own process: their prints go to stderr, an exit() is one line.
  const InProcessCall in_call(fs::path(full).filename().string(), "loading", settings.timeout_s, true);
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
