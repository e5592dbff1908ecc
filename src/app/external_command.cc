#include "app/external_command.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "app/registry.h"
#include "core/errors.h"
#include "io/file_io.h"
#include "core/gpu_device.h"
#include "core/npy.h"
#include "core/op.h"
#include "core/thread_pool.h"
#include "core/timing.h"

namespace lnbench {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// Writes one of lnbench's own files (an input, problem.json) into a case
// folder the command also writes in, afresh whatever the command left at
// that name (io/file_io.h WriteFileAnew).
void WriteIntoCaseFolder(const std::string& backend, const fs::path& path, std::string_view content) {
  if (const int err = WriteFileAnew(path.string(), content))
    throw RuntimeError(fmt::format("{}: cannot write {} into the case folder: {}", backend,
                                   path.filename().string(), std::strerror(err)));
}

// The tensors of a problem as files: name, whether lnbench writes it (input),
// shape, dtype, and lnbench's host pointer for it. The one place that maps
// HostTensors to the protocol's files; the tensors present come from the op.
struct FileTensor {
  std::string name;
  bool is_output = false;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
  const void* input = nullptr;
  void* output = nullptr;
};

std::vector<FileTensor> FileTensors(const Problem& p, const HostTensors* in, const HostTensors* out) {
  std::vector<FileTensor> v;
  for (const TensorSpec& t : OpFor(p).Tensors(p)) {
    const bool output = t.role == TensorRole::kOutput;
    std::vector<int64_t> shape;
    switch (t.extent) {
      case Extent::kRowsCols: shape = {p.rows, p.cols}; break;
      case Extent::kCols: shape = {p.cols}; break;
      case Extent::kRows: shape = {p.rows}; break;
    }
    v.push_back({std::string(TensorName(t.id)), output, std::move(shape), TensorDType(p, t.extent),
                 !output && in ? in->get(t.id) : nullptr, output && out ? out->get(t.id) : nullptr});
  }
  return v;
}

// Returns "layernorm/fwd", the key of the command's "supports" table.
std::string OpKey(const Problem& p) { return fmt::format("{}/{}", NormName(p.norm), DirectionName(p.dir)); }

// Returns the last non-empty line of a file (the command's stderr), at most 300 characters.
std::string LastLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  return last;
}

// Reads a small JSON file the command wrote (at most 64 MiB). Throws RuntimeError.
Json ReadJson(const fs::path& path, const std::string& what) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw RuntimeError(fmt::format("the command wrote no {}", path.filename().string()));
  if (size > (64u << 20)) throw RuntimeError(fmt::format("{} is larger than 64 MiB", path.filename().string()));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return Json::parse(ss.str());
  } catch (const std::exception& e) {
    throw RuntimeError(fmt::format("{} ({}) is not valid JSON: {}", path.filename().string(), what, e.what()));
  }
}

// Returns the CUDA_VISIBLE_DEVICES a command starts with ("" to leave it):
// with --device N, the command's first visible GPU is lnbench's device N, so
// a command that uses "its" GPU (cuda:0, torch's default) runs on the same one.
std::string VisibleDevices() {
  std::string visible;
  if (GpuDeviceIndex() != 0) {
    visible = std::to_string(GpuDeviceIndex());
    if (const char* env = std::getenv("CUDA_VISIBLE_DEVICES"); env != nullptr && *env != '\0') {
      std::vector<std::string> ids;
      std::string item;
      for (const char* c = env;; ++c) {
        if (*c == ',' || *c == '\0') {
          ids.push_back(item);
          item.clear();
          if (*c == '\0') break;
        } else {
          item += *c;
        }
      }
      if (static_cast<size_t>(GpuDeviceIndex()) < ids.size()) visible = ids[GpuDeviceIndex()];
    }
  }
  return visible;
}

// Returns what a finished command's wait status says ("" for exit 0), with
// the last line of its stderr file.
std::string StatusText(int status, const fs::path& stderr_file) {
  const std::string last = LastLine(stderr_file);
  const std::string tail = last.empty() ? "" : ": " + last;
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return fmt::format("crashed with SIG{}{}", abbrev ? abbrev : "?", tail);
  }
  if (WEXITSTATUS(status) != 0) return fmt::format("exited with status {}{}", WEXITSTATUS(status), tail);
  return "";
}

// In a forked child: runs `command` through /bin/sh with `arg` as its last
// argument (quoted: "$@"), with CUDA_VISIBLE_DEVICES set to `visible` unless
// that is empty. Never returns.
[[noreturn]] void ExecCommand(const std::string& command, const std::string& arg, const std::string& visible) {
  if (!visible.empty()) setenv("CUDA_VISIBLE_DEVICES", visible.c_str(), 1);
  const std::string script = command + " \"$@\"";
  execl("/bin/sh", "sh", "-c", script.c_str(), "sh", arg.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

// Kills the process group led by `pid` (and `pid`, should it not lead one
// yet) and reaps `pid`.
void KillGroup(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Runs `command` with the folder as its last argument, through /bin/sh, in its
// own process group, stdout and stderr into files of the folder. Returns ""
// when it exited 0, else what happened. Kills the group after timeout_s.
std::string RunCommand(const std::string& command, const fs::path& dir, double timeout_s) {
  std::fflush(stdout);
  std::fflush(stderr);
  const std::string out = (dir / "stdout.txt").string(), err = (dir / "stderr.txt").string();
  const std::string d = dir.string();
  const std::string visible = VisibleDevices();
  const ChildAffinity affinity;  // --cpus: the command may use every listed CPU
  const pid_t pid = fork();
  if (pid < 0) throw RuntimeError(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ForgetTempFilesAfterFork();
    setpgid(0, 0);
    affinity.Apply();
    FILE* o = std::freopen(out.c_str(), "w", stdout);
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    if (o == nullptr || e == nullptr) _exit(126);
    setenv("LNBENCH_EXTERNAL_DIR", d.c_str(), 1);
    ExecCommand(command, d, visible);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw RuntimeError(fmt::format("waitpid failed: {}", std::strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) {
      KillGroup(pid);
      return fmt::format("timed out after {}s (killed)", timeout_s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return StatusText(status, dir / "stderr.txt");
}

// A private folder, removed with everything in it.
class TempFolder {
 public:
  TempFolder() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/lnbench-external-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr)
      throw RuntimeError(fmt::format("cannot create a folder for the external command: {}", std::strerror(errno)));
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A command that declared "serve": true in describe.json, started once and
// kept: lnbench writes a case's folder as one line to its stdin, and the
// command answers one line on its stdout, the exit status it would have
// exited with. The case's own stdout and stderr go to the folder's files, as
// for a command run per case. A command that times out is killed and one that
// dies is reaped; either way the case is an error, and the next case starts a
// new one. Closing its stdin (lnbench exits or drops the backend) ends it.
// PyTorch's import alone takes 1.5 s here, and a verified and timed case runs
// the command three times.
class CommandServer {
 public:
  CommandServer(const std::string& command, const std::string& visible) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      throw RuntimeError(fmt::format("socketpair failed: {}", std::strerror(errno)));
    const std::string err = (log_.path() / "stderr.txt").string();
    std::fflush(stdout);
    std::fflush(stderr);
    const ChildAffinity affinity;  // --cpus: the command may use every listed CPU
    pid_ = fork();
    if (pid_ < 0) {
      close(fds[0]);
      close(fds[1]);
      throw RuntimeError(fmt::format("fork failed: {}", std::strerror(errno)));
    }
    if (pid_ == 0) {
      ForgetTempFilesAfterFork();
      setpgid(0, 0);
      affinity.Apply();
      // The socket is the command's stdin and stdout (dup2 clears CLOEXEC).
      if (dup2(fds[1], 0) < 0 || dup2(fds[1], 1) < 0) _exit(126);
      if (std::freopen(err.c_str(), "w", stderr) == nullptr) _exit(126);
      ExecCommand(command, "--serve", visible);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  CommandServer(const CommandServer&) = delete;
  CommandServer& operator=(const CommandServer&) = delete;
  ~CommandServer() {
    if (fd_ >= 0) close(fd_);  // end of its input: the command returns
    if (pid_ > 0) {
      // A second for it to finish, then its whole group is killed.
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          Kill();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
  }

  // Whether the command still runs: false once it was killed (after a
  // timeout or a bad answer) or found dead; such a server is not used again.
  bool Alive() const { return pid_ > 0; }

  // Serves the case in `dir`. Returns "" for status 0, else what happened.
  std::string Serve(const fs::path& dir, double timeout_s) {
    const std::string line = dir.string() + "\n";
    if (dir.string().find('\n') != std::string::npos) throw RuntimeError("a folder name holds a newline");
    for (size_t sent = 0; sent < line.size();) {
      const ssize_t n = send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Died(dir);
      sent += static_cast<size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    std::string reply;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        Kill();
        return fmt::format("timed out after {}s (killed)", timeout_s);
      }
      pollfd p{fd_, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (r < 0 && errno != EINTR) throw RuntimeError(fmt::format("poll failed: {}", std::strerror(errno)));
      if (r <= 0) continue;
      char buf[64];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Died(dir);
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > 32) {
        Kill();
        return "answered with more than a status line (killed)";
      }
      const size_t nl = reply.find('\n');
      if (nl == std::string::npos) continue;
      const std::string word = reply.substr(0, nl);
      char* end = nullptr;
      const long code = std::strtol(word.c_str(), &end, 10);
      if (nl + 1 != reply.size() || word.empty() || *end != '\0' || code < 0 || code > 255) {
        Kill();
        return fmt::format("answered '{}', not an exit status (killed)", word.substr(0, 32));
      }
      return StatusText(static_cast<int>(code) << 8, dir / "stderr.txt");
    }
  }

 private:
  // The command closed its end: reaps it and says how it ended.
  std::string Died(const fs::path& dir) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    kill(-pid_, SIGKILL);  // anything it left running
    pid_ = -1;
    const std::string what = StatusText(status, dir / "stderr.txt");
    const std::string own = LastLine(log_.path() / "stderr.txt");
    const std::string last = LastLine(dir / "stderr.txt");
    if (what.empty()) return fmt::format("ended in the middle of a case{}", last.empty() && !own.empty() ? ": " + own : "");
    return last.empty() && !own.empty() ? what + ": " + own : what;
  }
  void Kill() {
    KillGroup(pid_);
    pid_ = -1;
  }

  TempFolder log_;  // the command's stderr outside of cases
  pid_t pid_ = -1;
  int fd_ = -1;
};

struct CommandDescription {
  std::string description;
  std::string device = "cpu";
  bool peer = false;  // someone else's implementation (PyTorch), labelled as a peer
  bool serve = false;  // started once and fed case after case (CommandServer)
  std::vector<VariantInfo> variants;
  // "layernorm/fwd" -> dtypes it runs; ops absent here are unsupported.
  std::map<std::string, std::vector<std::string>> supports;
  std::map<std::string, std::string> reasons;  // "rmsnorm/fwd" or "layernorm/fwd/f16" -> why not
};

Json ProblemJson(const Problem& p, const std::string& variant, int threads) {
  Json j;
  j["protocol"] = kExternalProtocolVersion;
  j["op"] = std::string(NormName(p.norm));
  j["dir"] = std::string(DirectionName(p.dir));
  j["rows"] = p.rows;
  j["cols"] = p.cols;
  j["dtype"] = std::string(DTypeName(p.dtype));
  j["eps"] = p.eps;
  j["affine"] = p.affine;
  j["stats"] = p.stats;
  j["variant"] = variant;
  j["threads"] = threads;
  Json inputs = Json::object(), outputs = Json::object();
  for (const FileTensor& t : FileTensors(p, nullptr, nullptr))
    (t.is_output ? outputs : inputs)[t.name] = t.name + ".npy";
  j["inputs"] = inputs;
  j["outputs"] = outputs;
  return j;
}

class ExternalBackend;

class ExternalCase : public PreparedCase {
 public:
  ExternalCase(const ExternalBackend& backend, const Problem& p, const HostTensors& inputs, std::string variant,
               int threads);
  std::string ResolvedVariant() const override { return variant_; }
  void Poison() override {
    for (const FileTensor& t : FileTensors(problem_, nullptr, nullptr)) {
      std::error_code ec;
      if (t.is_output) fs::remove(dir_.path() / (t.name + ".npy"), ec);
    }
  }
  void Run() override { Invoke("run", Json()); }
  void Download(const HostTensors& out) override;
  double TimeBatch(int, bool) override {
    throw RuntimeError("an external command is timed by itself (SelfTimedSamples), not in batches");
  }
  std::vector<double> SelfTimedSamples(const TimingConfig& config) override;
  void ReplaceInputs(const HostTensors& inputs) override { WriteInputs(inputs); }
  std::map<std::string, std::string> Details() const override;

 private:
  void WriteInputs(const HostTensors& inputs);
  void Invoke(const std::string& action, const Json& timing);

  const ExternalBackend& backend_;
  Problem problem_;
  std::string variant_;
  int threads_;
  TempFolder dir_;
};

class ExternalBackend : public CpuBackend {
 public:
  ExternalBackend(std::string name, std::string command, CommandDescription d, double timeout_s)
      : name_(std::move(name)), command_(std::move(command)), d_(std::move(d)), timeout_s_(timeout_s) {}
  std::string Name() const override { return name_; }
  std::string Description() const override { return d_.description + " (external command)"; }
  BackendOrigin Origin() const override { return {"external", command_, 0, true}; }
  bool IsPeer() const override { return d_.peer; }
  // A command on a GPU shares the built-in cuda backend's device: its ceiling
  // (device-to-device copy) and facts; none without a CUDA build.
  std::string DeviceId() const override { return d_.device == "cpu" ? "cpu" : GpuDeviceId(); }
  Verdict Available() const override {
    if (d_.device == "cpu") return Verdict::Yes();
    if (d_.device != "cuda") return Verdict::No(fmt::format("unknown device '{}' (cpu or cuda)", d_.device));
    Backend* cuda = FindBackend("cuda");
    if (cuda == nullptr)
      return Verdict::No("a command on a cuda device needs an lnbench built with CUDA (for the copy ceiling)");
    return cuda->Available();
  }
  std::map<std::string, std::string> DeviceInfo() const override {
    Backend* cuda = d_.device == "cuda" ? FindBackend("cuda") : nullptr;
    return cuda != nullptr ? cuda->DeviceInfo() : CpuBackend::DeviceInfo();
  }
  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int threads, int min_samples,
                                                 double time_budget_s) override {
    Backend* cuda = d_.device == "cuda" ? FindBackend("cuda") : nullptr;
    if (cuda != nullptr) return cuda->MeasureCeiling(bytes, threads, min_samples, time_budget_s);
    return CpuBackend::MeasureCeiling(bytes, threads, min_samples, time_budget_s);
  }
  // The command times itself (SelfTimedSamples): nothing to pair with; the
  // runner measures a ceiling before each of its cases instead.
  std::unique_ptr<CopySampler> PrepareCopySampler(uint64_t, int) override { return nullptr; }
  std::vector<VariantInfo> Variants() const override { return d_.variants; }
  Verdict Supports(const Problem& p, const CaseOptions&) const override {
    const std::string op = OpKey(p);
    const auto it = d_.supports.find(op);
    if (it == d_.supports.end()) {
      const auto why = d_.reasons.find(op);
      return Verdict::No(fmt::format("{}: {}", name_, why != d_.reasons.end() ? why->second : op + " not supported"));
    }
    const std::string dtype(DTypeName(p.dtype));
    if (std::find(it->second.begin(), it->second.end(), dtype) == it->second.end()) {
      const auto why = d_.reasons.find(op + "/" + dtype);
      return Verdict::No(fmt::format("{}: {}", name_, why != d_.reasons.end() ? why->second : "dtype " + dtype + " not supported"));
    }
    return Verdict::Yes();
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& p, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    std::string variant = options.variant.empty() ? d_.variants.front().name : options.variant;
    if (std::none_of(d_.variants.begin(), d_.variants.end(), [&](const VariantInfo& v) { return v.name == variant; }))
      throw UsageError(fmt::format("{}: unknown variant '{}'", name_, variant));
    return std::make_unique<ExternalCase>(*this, p, inputs, variant, options.threads);
  }
  const std::string& command() const { return command_; }

  // Runs the command on the case in `dir`: per case, or through the one
  // command kept (a new one after a case that killed it).
  std::string Execute(const fs::path& dir) const {
    if (!d_.serve) return RunCommand(command_, dir, timeout_s_);
    if (!server_) server_ = std::make_unique<CommandServer>(command_, VisibleDevices());
    std::string what = server_->Serve(dir, timeout_s_);
    if (!server_->Alive()) server_.reset();
    return what;
  }

 private:
  std::string name_, command_;
  CommandDescription d_;
  double timeout_s_;
  mutable std::unique_ptr<CommandServer> server_;
};

ExternalCase::ExternalCase(const ExternalBackend& backend, const Problem& p, const HostTensors& inputs,
                           std::string variant, int threads)
    : backend_(backend), problem_(p), variant_(std::move(variant)), threads_(threads) {
  WriteInputs(inputs);
}

void ExternalCase::WriteInputs(const HostTensors& inputs) {
  for (const FileTensor& t : FileTensors(problem_, &inputs, nullptr))
    if (!t.is_output)
      WriteIntoCaseFolder(backend_.Name(), dir_.path() / (t.name + ".npy"),
                          EncodeNpy(t.shape, NpyElementOf(t.dtype), t.input));
}

void ExternalCase::Invoke(const std::string& action, const Json& timing) {
  Json j = ProblemJson(problem_, variant_, threads_);
  j["action"] = action;
  if (!timing.is_null()) j["timing"] = timing;
  WriteIntoCaseFolder(backend_.Name(), dir_.path() / "problem.json", j.dump(1) + "\n");
  const std::string what = backend_.Execute(dir_.path());
  if (!what.empty()) throw RuntimeError(fmt::format("{}: the external command {} (action {})", backend_.Name(), what, action));
}

void ExternalCase::Download(const HostTensors& out) {
  for (const FileTensor& t : FileTensors(problem_, nullptr, &out)) {
    if (!t.is_output || t.output == nullptr) continue;
    const fs::path path = dir_.path() / (t.name + ".npy");
    if (!fs::exists(path)) throw RuntimeError(fmt::format("{}: the external command wrote no {}.npy", backend_.Name(), t.name));
    NpyArray a;
    try {
      a = ReadNpy(path.string());
    } catch (const std::exception& e) {
      throw RuntimeError(fmt::format("{}: {}", backend_.Name(), e.what()));
    }
    if (a.shape != t.shape)
      throw RuntimeError(fmt::format("{}: {}.npy has shape [{}], expected [{}]", backend_.Name(), t.name,
                                     fmt::join(a.shape, ","), fmt::join(t.shape, ",")));
    for (size_t i = 0; i < a.data.size(); ++i) {
      StoreFromDouble(t.dtype, t.output, i, a.data[i]);
      // A value the dtype cannot hold was not produced in that dtype.
      if (std::isfinite(a.data[i]) && LoadAsDouble(t.dtype, t.output, i) != a.data[i])
        throw RuntimeError(fmt::format("{}: {}.npy element {} ({}) is not a {} value", backend_.Name(), t.name, i,
                                       a.data[i], DTypeName(t.dtype)));
    }
  }
}

constexpr double kMinSelfTimedSample = 1e-9;

std::vector<double> ExternalCase::SelfTimedSamples(const TimingConfig& config) {
  Json timing;
  timing["warmup_runs"] = config.warmup_runs;
  timing["min_samples"] = config.min_samples;
  timing["max_samples"] = config.max_samples;
  timing["time_budget_s"] = config.time_budget_s;
  timing["cold"] = config.cold;
  std::error_code ec;
  fs::remove(dir_.path() / "timing.json", ec);
  Invoke("time", timing);
  Json t;
  try {
    t = ReadJson(dir_.path() / "timing.json", "the samples");
  } catch (const RuntimeError& e) {
    throw RuntimeError(fmt::format("{}: {}", backend_.Name(), e.what()));
  }
  if (!t.is_object() || !t.contains("samples_s") || !t["samples_s"].is_array() || t["samples_s"].empty() ||
      t["samples_s"].size() > 1000000)
    throw RuntimeError(fmt::format("{}: timing.json needs \"samples_s\": an array of 1 to 1e6 seconds per run",
                                   backend_.Name()));
  std::vector<double> samples;
  for (const Json& s : t["samples_s"]) {
    if (!s.is_number() || !(s.get<double>() > 0) || !std::isfinite(s.get<double>()))
      throw RuntimeError(fmt::format("{}: timing.json: every sample must be a positive number of seconds", backend_.Name()));
    // No run of a kernel takes under a nanosecond: such a sample is no
    // measurement (and 5e-324 s would give an infinite bandwidth).
    if (s.get<double>() < kMinSelfTimedSample)
      throw RuntimeError(fmt::format("{}: timing.json: a sample of {:g} s is below a nanosecond, not a time "
                                     "one run can take",
                                     backend_.Name(), s.get<double>()));
    samples.push_back(s.get<double>());
  }
  return samples;
}

std::map<std::string, std::string> ExternalCase::Details() const {
  return {{"command", backend_.command()}, {"timed_by", "the external command"},
          {"protocol", std::to_string(kExternalProtocolVersion)}};
}

bool ValidName(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_' || c == '-';
  });
}

}  // namespace

std::unique_ptr<Backend> MakeExternalBackend(const std::string& spec, double timeout_s) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || !ValidName(spec.substr(0, eq)) || eq + 1 >= spec.size())
    throw UsageError(fmt::format("--external '{}': expected NAME=COMMAND with NAME of [a-z0-9_-]", spec));
  const std::string name = spec.substr(0, eq), command = spec.substr(eq + 1);
  TempFolder dir;
  Json j;
  j["protocol"] = kExternalProtocolVersion;
  j["action"] = "describe";
  std::ofstream(dir.path() / "problem.json") << j.dump(1) << "\n";
  auto bad = [&](const std::string& what) {
    return UsageError(fmt::format("--external {}: the command cannot describe itself: {}", name, what));
  };
  const std::string what = RunCommand(command, dir.path(), timeout_s);
  if (!what.empty()) throw bad("it " + what);
  Json d;
  try {
    d = ReadJson(dir.path() / "describe.json", "its description");
  } catch (const RuntimeError& e) {
    throw bad(e.what());
  }
  CommandDescription desc;
  try {
    // An integer: 1.9 is not protocol 1.
    if (!d.at("protocol").is_number_integer())
      throw bad(fmt::format("describe.json: protocol must be an integer, not {}", d.at("protocol").dump()));
    if (d.at("protocol").get<int64_t>() != kExternalProtocolVersion)
      throw bad(fmt::format("it speaks protocol {}, this lnbench speaks {}", d.at("protocol").get<int64_t>(),
                            kExternalProtocolVersion));
    desc.description = d.value("description", name);
    desc.device = d.value("device", "cpu");
    desc.peer = d.value("peer", false);
    desc.serve = d.value("serve", false);
    for (const Json& v : d.at("variants")) {
      VariantInfo info{v.at("name").get<std::string>(), v.value("description", "")};
      if (!ValidName(info.name)) throw bad("variant names are [a-z0-9_-]");
      for (const VariantInfo& seen : desc.variants)
        if (seen.name == info.name) throw bad(fmt::format("variant '{}' is listed twice", info.name));
      desc.variants.push_back(info);
    }
    if (desc.variants.empty()) throw bad("no variants");
    for (const auto& [op, dtypes] : d.at("supports").items()) desc.supports[op] = dtypes.get<std::vector<std::string>>();
    if (d.contains("unsupported"))
      for (const auto& [op, reason] : d["unsupported"].items()) desc.reasons[op] = reason.get<std::string>();
  } catch (const Json::exception& e) {
    throw bad(fmt::format("describe.json: {}", e.what()));
  }
  return std::make_unique<ExternalBackend>(name, command, std::move(desc), timeout_s);
}

}  // namespace lnbench
