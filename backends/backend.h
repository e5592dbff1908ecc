// The backend interface: the one header every backend implements.
//
// A backend knows nothing of the CLI, reports or other backends. It says
// whether it is available (and why not), which variants it has, whether it
// supports a problem (and why not), prepares a problem (allocates, uploads),
// runs it, times it the way its device must be timed, and hands outputs back.
// The core does everything else: inputs, reference, verification, statistics.
#ifndef LNBENCH_BACKENDS_BACKEND_H_
#define LNBENCH_BACKENDS_BACKEND_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/problem.h"

namespace lnbench {

struct TimingConfig;  // core/timing.h

// Yes/no with the reason for a no ("no CUDA device", "dtype f16 not supported").
struct Verdict {
  bool ok = true;
  std::string reason;
  static Verdict Yes() { return {true, ""}; }
  static Verdict No(std::string why) { return {false, std::move(why)}; }
};

// Host tensors of a problem, indexed by TensorId (core/op.h); nullptr when
// the tensor is not part of the problem (OpFor(problem).Tensors(problem)
// lists those that are). Owned by the core. Layouts: kRowsCols tensors are
// rows*cols elements of problem.dtype, row-major and contiguous (row r starts
// at element r*cols), aligned to 4096 bytes at element 0 only: rows are
// unaligned whenever cols*size is not a multiple of the vector width. kCols
// and kRows tensors are f32 (gamma and beta hold values representable in the
// problem's dtype). Prepare() receives the inputs (role kInput), valid until
// the prepared case is destroyed; Download() the buffers the outputs (role
// kOutput) are copied into.
struct HostTensors {
  std::array<void*, kTensorCount> ptr{};
  template <class T = void>
  T* get(TensorId id) const {
    return static_cast<T*>(ptr[static_cast<size_t>(id)]);
  }
  void set(TensorId id, void* p) { ptr[static_cast<size_t>(id)] = p; }
  void set(TensorId id, const void* p) { set(id, const_cast<void*>(p)); }
  bool has(TensorId id) const { return ptr[static_cast<size_t>(id)] != nullptr; }
};

// Per-case settings that are not part of the problem.
struct CaseOptions {
  std::string variant;  // one of Backend::Variants() names; "" = the backend's default
  int threads = 0;      // CPU backends: threads over rows (0 = all hardware threads)
  // Backend settings that move the switch points between its code paths (e.g.
  // highway's "stream_min_bytes"), so small problems reach paths that are
  // otherwise taken only by large ones. Keys are from Backend::TuningKeys();
  // the runner turns any other key into an unsupported case. Empty for the
  // backend's own choices.
  std::map<std::string, std::string> tuning = {};  // = {}: {variant, threads} initializers stay warning-free
};

// A problem that reaches one of a backend's code paths, for verification:
// `lnbench verify` runs every backend's coverage cases on top of its default
// shapes (every dtype, distribution and output mode), so a bug in a path the
// default shapes miss (row groups, streaming stores, split rows) is caught by
// the product, not only by unit tests. Keep them small: they run every time.
struct CoverageCase {
  std::string path;  // the code path reached, in words ("row groups with leftover rows")
  int64_t rows = 0;
  int64_t cols = 0;
  std::map<std::string, std::string> tuning;  // CaseOptions::tuning of the case
  // The directions whose paths it reaches (e.g. a backward-only reduction
  // over many row blocks); empty: every direction of the run.
  std::vector<Direction> dirs = {};  // (= {}: initializers that omit it stay warning-free)
};

struct VariantInfo {
  std::string name;
  std::string description;
  // The one direction the variant computes (oneDNN's and cuDNN's forward and
  // backward primitives are separate variants), or none for a variant that
  // serves both. `--variant all` (verify's default) plans a problem's cases
  // only with the variants of its direction; naming a variant of the other
  // direction gives an unsupported case with the backend's reason.
  std::optional<Direction> dir = std::nullopt;
};

// Bandwidth of a plain copy on the backend's device, the ceiling results are
// compared with. seconds holds one sample per timed copy of `bytes_per_copy`
// (bytes read + bytes written).
struct CeilingMeasurement {
  std::string method;  // "memcpy", "copy_kernel", "cudaMemcpy", ...
  uint64_t bytes_per_copy = 0;
  std::vector<double> seconds;
};

// Copies on a backend's device that the runner times between a case's own
// samples (`lnbench run --ceiling paired`), each copy method once per
// sample, so that every sample of the kernel has copies of its own moment.
class CopySampler {
 public:
  virtual ~CopySampler() = default;
  // Returns the copy methods, as CeilingMeasurement::method names them.
  virtual std::vector<std::string> Methods() const = 0;
  // Returns the bytes of one copy (read + written).
  virtual uint64_t BytesPerCopy() const = 0;
  // Returns whether the copies' buffers fit in the device's last-level
  // cache. Then Time() copies once untimed first, and the runner runs the
  // kernel once untimed after the copies, so both are timed hot, as in
  // back-to-back sampling.
  virtual bool InCache() const = 0;
  // Times one copy with Methods()[method]; returns seconds.
  virtual double Time(size_t method) = 0;
};

// One problem prepared on one backend and variant.
class PreparedCase {
 public:
  virtual ~PreparedCase() = default;
  // Returns the variant that actually runs (a dispatcher resolves the default here).
  virtual std::string ResolvedVariant() const = 0;
  // Fills every output tensor of the problem with the poison bit patterns of
  // core/dtype.h, on the device that holds them.
  virtual void Poison() = 0;
  // Runs the kernel once and returns when it has finished.
  virtual void Run() = 0;
  // Copies the outputs of the last Run() into `outputs` (every output
  // tensor of the problem; each pointer non-null).
  virtual void Download(const HostTensors& outputs) = 0;
  // Runs the kernel `batch` times back to back and returns the elapsed seconds
  // of the whole batch, measured the way the device needs (host clock for CPU
  // backends, device events for GPUs). With cold == true, caches are flushed
  // first and batch is 1.
  virtual double TimeBatch(int batch, bool cold) = 0;
  // Returns extra facts for the report: launch configuration, transfer times.
  virtual std::map<std::string, std::string> Details() const { return {}; }
  // Externally timed backends only (BackendOrigin::externally_timed): runs
  // their own timing loop, guided by `config`, and returns the seconds per run
  // of each sample they measured. Empty: the runner times it with TimeBatch.
  virtual std::vector<double> SelfTimedSamples(const TimingConfig& /*config*/) { return {}; }
  // Foreign backends only (Backend::IsForeign): copies new input values into
  // the buffers the kernel reads, for the runner's second verification on
  // fresh inputs through the same prepared case.
  virtual void ReplaceInputs(const HostTensors& /*inputs*/) {
    throw RuntimeError("this backend cannot replace its inputs");
  }
  // Frees what the kernel holds for the case (a plugin's release()) before
  // the case's result is final, so that a kernel that crashes, hangs or fails
  // there gets an error, not a result; throws RuntimeError for that. Called
  // once, last, on a case that ran; the destructor frees what is left
  // otherwise.
  virtual void Release() {}
};

// Where a backend's code comes from, for the report: built in (kind ""), a
// plugin (kind "plugin", its file and ABI version) or an external command
// (kind "external", externally timed).
struct BackendOrigin {
  std::string kind;
  std::string path;  // the plugin file or the command line
  int abi_version = 0;
  bool externally_timed = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Returns the short name used on the command line ("scalar", "highway", "cuda").
  virtual std::string Name() const = 0;
  // Returns one line saying what it is.
  virtual std::string Description() const = 0;
  // Returns true for other people's implementations (oneDNN, cuDNN), labelled as peers.
  virtual bool IsPeer() const { return false; }
  // Returns where its code comes from (built in by default).
  virtual BackendOrigin Origin() const { return {}; }
  // Returns true for code lnbench does not ship (plugins, external commands):
  // the runner verifies such a backend a second time on fresh inputs.
  bool IsForeign() const { return !Origin().kind.empty(); }
  // Returns the memory system it runs on ("cpu", "cuda:0"): backends on one
  // device share that device's copy ceiling.
  virtual std::string DeviceId() const = 0;
  // Returns facts about the device for the report (name, driver, SM count ...).
  virtual std::map<std::string, std::string> DeviceInfo() const { return {}; }
  // Returns whether it can run on this machine, and why not.
  virtual Verdict Available() const = 0;
  // Returns the variants; the first is the default.
  virtual std::vector<VariantInfo> Variants() const = 0;
  // Returns why `name`, a variant that Variants() does not list, cannot run
  // here when the backend knows the name (another CPU's SIMD target, one this
  // build did not compile), or "" when it does not: the CLI then says
  // "unknown variant".
  virtual std::string UnlistedVariantReason(const std::string& /*name*/) const { return ""; }
  // Returns the keys CaseOptions::tuning may hold for it (none by default).
  virtual std::vector<std::string> TuningKeys() const { return {}; }
  // Throws UsageError when a value of `tuning` (keys of TuningKeys() only) is
  // not one it takes: checked before any work, and by `lnbench list --cases`.
  virtual void CheckTuning(const std::map<std::string, std::string>& /*tuning*/) const {}
  // Returns the problems (and tuning) that reach each of its code paths, for
  // the default `lnbench verify` (see CoverageCase). None by default.
  virtual std::vector<CoverageCase> CoverageCases() const { return {}; }
  // Returns whether it supports `problem` with `options`, and why not: an op
  // (problem.norm, problem.dir) it lacks is a No with the reason.
  virtual Verdict Supports(const Problem& problem, const CaseOptions& options) const = 0;
  // Allocates and uploads. Throws UsageError for an unknown variant,
  // RuntimeError for device failures (out of memory, ...).
  virtual std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                                const CaseOptions& options) = 0;
  // Measures the copy ceiling of its device: samples of copying about
  // `bytes` (read + written) with `threads` threads (CPU) or the whole GPU.
  // `min_samples` samples at least, within about `time_budget_s` seconds.
  virtual std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int threads,
                                                         int min_samples,
                                                         double time_budget_s) = 0;
  // Prepares the copies of MeasureCeiling(bytes, threads) for timing one at
  // a time between a case's samples (--ceiling paired); nullptr where the
  // backend cannot (the runner then measures a ceiling before the case).
  virtual std::unique_ptr<CopySampler> PrepareCopySampler(uint64_t /*bytes*/, int /*threads*/) {
    return nullptr;
  }
};

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_BACKEND_H_
