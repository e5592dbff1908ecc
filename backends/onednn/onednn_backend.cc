// The oneDNN peer backend: oneDNN's layer_normalization_forward primitive on
// the CPU engine, in its inference and training forms, with use_scale and
// use_shift for gamma and beta. It runs the whole tensor in one primitive
// call with oneDNN's own threading (OpenMP in Debian's build), so it does not
// use the CpuCase row splitting; it shares the CPU device, ceiling and
// cache flush with our CPU backends so the numbers sit side by side.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/cpu_memory.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/host_buffer.h"
#include "core/thread_pool.h"

namespace lnbench {
namespace {

using dnnl::memory;
using Lnorm = dnnl::layer_normalization_forward;

constexpr const char* kInference = "inference";
constexpr const char* kTraining = "training";

// Returns the version of the oneDNN library actually loaded ("2.6.3").
std::string OneDnnVersion() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

// Returns the name of the instruction set oneDNN's JIT dispatches to here.
std::string OneDnnIsaName() {
  switch (static_cast<dnnl_cpu_isa_t>(dnnl::get_effective_cpu_isa())) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
  }
  return "unknown(" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + ")";
}

// Returns the oneDNN element type of `dtype`.
memory::data_type ToDnnl(DType dtype) {
  switch (dtype) {
    case DType::kF32: return memory::data_type::f32;
    case DType::kBF16: return memory::data_type::bf16;
    case DType::kF16: return memory::data_type::f16;
  }
  return memory::data_type::undef;
}

// Returns the process-wide CPU engine (created on first use).
dnnl::engine& CpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Returns the OpenMP thread count for a CaseOptions.threads value (0 = all).
int ThreadsFor(int requested) { return requested > 0 ? requested : HardwareThreads(); }

// Sets the calling thread's OpenMP thread count for oneDNN and restores it on
// exit. oneDNN (OpenMP runtime) reads omp_get_max_threads() of the calling
// thread both when it creates a primitive (some implementations plan their
// work split then) and when it executes one, so both are wrapped.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int previous_;
};

// Returns the size of the team OpenMP actually forms for `threads` (it can be
// smaller when OMP_DYNAMIC or OMP_THREAD_LIMIT say so).
int MeasuredOmpTeam(int threads) {
  ScopedOmpThreads scoped(threads);
  int team = 0;
#pragma omp parallel
  if (omp_get_thread_num() == 0) team = omp_get_num_threads();
  return team;
}

// Returns the layer normalization flags for a problem: scale and shift when affine.
dnnl::normalization_flags FlagsFor(const Problem& problem) {
  return problem.affine
             ? (dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift)
             : dnnl::normalization_flags::none;
}

// Returns the primitive descriptor for a problem, or an empty one when oneDNN
// has no implementation for it. Throws dnnl::error for invalid descriptors.
Lnorm::primitive_desc MakePrimitiveDesc(const Problem& problem, bool training) {
  const memory::desc data({problem.rows, problem.cols}, ToDnnl(problem.dtype),
                          memory::format_tag::ab);
  const memory::desc stat({problem.rows}, memory::data_type::f32, memory::format_tag::a);
  const dnnl::prop_kind kind =
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const Lnorm::desc desc(kind, data, stat, static_cast<float>(problem.eps), FlagsFor(problem));
  return Lnorm::primitive_desc(desc, CpuEngine(), /*allow_empty=*/true);
}

// Returns the message of a oneDNN exception with its status.
std::string DnnlMessage(const dnnl::error& e) {
  return std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")";
}

class OneDnnCase : public PreparedCase {
 public:
  OneDnnCase(const Problem& problem, const HostTensors& inputs, int threads, bool training)
      : problem_(problem),
        inputs_(inputs),
        threads_(ThreadsFor(threads)),
        training_(training),
        pool_(&SharedThreadPool(threads)),
        y_(static_cast<size_t>(problem.elements()) * DTypeSize(problem.dtype)),
        mean_(training ? static_cast<size_t>(problem.rows) * 4 : 0),
        variance_(training ? static_cast<size_t>(problem.rows) * 4 : 0) {
    ScopedOmpThreads scoped(threads_);
    const Lnorm::primitive_desc pd = MakePrimitiveDesc(problem, training);
    if (!pd)
      throw RuntimeError("oneDNN: no layer normalization implementation for " +
                         problem.ShortName());
    impl_ = pd.impl_info_str();
    primitive_ = Lnorm(pd);
    dnnl::engine& engine = CpuEngine();
    stream_ = dnnl::stream(engine);
    // oneDNN reads x in place: no copy, the same bytes every backend reads.
    args_[DNNL_ARG_SRC] = memory(pd.src_desc(), engine, inputs.get(TensorId::kX));
    args_[DNNL_ARG_DST] = memory(pd.dst_desc(), engine, y_.data());
    if (problem.affine) {
      const memory::desc param({problem.cols}, memory::data_type::f32, memory::format_tag::a);
      args_[DNNL_ARG_SCALE] = memory(param, engine, inputs.get(TensorId::kGamma));
      args_[DNNL_ARG_SHIFT] = memory(param, engine, inputs.get(TensorId::kBeta));
    }
    if (training) {
      args_[DNNL_ARG_MEAN] = memory(pd.mean_desc(), engine, mean_.data());
      args_[DNNL_ARG_VARIANCE] = memory(pd.variance_desc(), engine, variance_.data());
    }
    omp_team_ = MeasuredOmpTeam(threads_);
  }

  std::string ResolvedVariant() const override { return training_ ? kTraining : kInference; }

  void Poison() override {
    FillPoisonHost(problem_.dtype, y_.data(), problem_.elements(), *pool_);
    if (training_) {
      FillPoisonHost(DType::kF32, mean_.data(), problem_.rows, *pool_);
      FillPoisonHost(DType::kF32, variance_.data(), problem_.rows, *pool_);
    }
  }

  void Run() override {
    ScopedOmpThreads scoped(threads_);
    Execute();
  }

  void Download(const HostTensors& out) override {
    const size_t esize = DTypeSize(problem_.dtype);
    pool_->ParallelFor(problem_.elements(), [&](int64_t b, int64_t e) {
      std::memcpy(out.get<uint8_t>(TensorId::kY) + b * esize, y_.as<uint8_t>() + b * esize,
                  (e - b) * esize);
    });
    float* out_mean = out.get<float>(TensorId::kMean);
    float* out_rstd = out.get<float>(TensorId::kRstd);
    if (!problem_.stats || out_mean == nullptr || out_rstd == nullptr) return;
    if (problem_.rows > 0) std::memcpy(out_mean, mean_.data(), problem_.rows * 4);
    // oneDNN outputs the variance; lnbench checks rstd = 1/sqrt(var + eps).
    // The conversion is done here, in double, outside the timed region, so it
    // adds no error of its own and costs oneDNN no time. An unwritten
    // variance stays unwritten (poison in, poison out).
    const float* var = variance_.as<float>();
    for (int64_t r = 0; r < problem_.rows; ++r) {
      if (FloatBits(var[r]) == kPoisonF32Bits) {
        out_rstd[r] = BitsToFloat(kPoisonF32Bits);
      } else {
        out_rstd[r] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[r]) +
                                                        problem_.eps));
      }
    }
  }

  double TimeBatch(int batch, bool cold) override {
    if (cold) {
      FlushCpuCaches();
      batch = 1;
    }
    ScopedOmpThreads scoped(threads_);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i) Execute();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
  }

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = {
        {"threads", std::to_string(threads_)},
        {"omp_team", std::to_string(omp_team_)},
        {"threading", "oneDNN's OpenMP runtime, omp_set_num_threads(" +
                          std::to_string(threads_) + ") around primitive creation and execution"},
        {"onednn_version", OneDnnVersion()},
        {"onednn_impl", impl_},
        {"onednn_isa", OneDnnIsaName()},
        {"prop_kind", training_ ? "forward_training" : "forward_inference"},
        {"flags", problem_.affine ? "use_scale|use_shift" : "none"},
        {"eps_f32", std::to_string(static_cast<float>(problem_.eps))},
    };
    if (problem_.stats)
      d["stats"] =
          "mean: oneDNN's mean output; rstd: 1/sqrt(variance + eps) computed in double from "
          "oneDNN's variance output after the run (not timed)";
    else if (training_)
      d["stats"] = "oneDNN writes mean and variance (timed), lnbench does not check them";
    return d;
  }

 private:
  void Execute() {
    if (problem_.elements() == 0) return;
    try {
      primitive_.execute(stream_, args_);
      stream_.wait();
    } catch (const dnnl::error& e) {
      throw RuntimeError(DnnlMessage(e));
    }
  }

  Problem problem_;
  HostTensors inputs_;
  int threads_;
  bool training_;
  ThreadPool* pool_;
  HostBuffer y_, mean_, variance_;
  std::string impl_;
  int omp_team_ = 0;
  Lnorm primitive_;
  dnnl::stream stream_;
  std::unordered_map<int, memory> args_;
};

class OneDnnBackend : public CpuBackend {
 public:
  std::string Name() const override { return "onednn"; }
  std::string Description() const override {
    return "oneDNN " + OneDnnVersion() + " layer_normalization_forward on the CPU engine";
  }
  bool IsPeer() const override { return true; }

  std::map<std::string, std::string> DeviceInfo() const override {
    auto info = CpuBackend::DeviceInfo();
    info["onednn_version"] = OneDnnVersion();
    info["onednn_isa"] = OneDnnIsaName();
    return info;
  }

  Verdict Available() const override {
    try {
      CpuEngine();
    } catch (const dnnl::error& e) {
      return Verdict::No("oneDNN CPU engine unavailable: " + DnnlMessage(e));
    }
    return Verdict::Yes();
  }

  std::vector<VariantInfo> Variants() const override {
    return {{kInference,
             "forward_inference: y only (the default, or training when mean/rstd are asked for)"},
            {kTraining,
             "forward_training: y plus mean and variance (rstd = 1/sqrt(variance + eps))"}};
  }

  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (problem.norm == Norm::kRmsNorm) return Verdict::No(RmsNormReason());
    if (problem.dir != Direction::kForward)
      return Verdict::No(OpName(problem.norm, problem.dir) + ": not implemented by onednn");
    bool training = false;
    if (!ParseVariant(options.variant, problem, &training))
      return Verdict::No("unknown variant '" + options.variant + "' (have: inference, training)");
    if (problem.stats && !training)
      return Verdict::No(
          "oneDNN's forward_inference does not output mean/variance; use variant training");
    if (!(static_cast<float>(problem.eps) > 0.0f))
      return Verdict::No("eps does not fit a positive f32 (oneDNN takes a float epsilon)");
    return DTypeVerdict(problem.dtype, training);
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    bool training = false;
    if (!ParseVariant(options.variant, problem, &training))
      throw UsageError("onednn: unknown variant '" + options.variant +
                       "' (have: inference, training)");
    const Verdict v = Supports(problem, options);
    if (!v.ok) throw UsageError("onednn: " + v.reason);
    try {
      return std::make_unique<OneDnnCase>(problem, inputs, options.threads, training);
    } catch (const dnnl::error& e) {
      throw RuntimeError(DnnlMessage(e));
    }
  }

 private:
  // Returns false for an unknown variant; sets *training. The default is
  // inference unless the problem asks for mean/rstd, which only training outputs.
  static bool ParseVariant(const std::string& variant, const Problem& problem, bool* training) {
    if (variant.empty()) {
      *training = problem.stats;
      return true;
    }
    if (variant == kInference || variant == kTraining) {
      *training = variant == kTraining;
      return true;
    }
    return false;
  }

  // Returns why rmsnorm is unsupported: oneDNN 2.x's layer normalization has
  // no RMS flag (normalization_flags has use_global_stats, use_scale,
  // use_shift only); oneDNN 3.x's rms_norm flag is not wired up here.
  static std::string RmsNormReason() {
#if DNNL_VERSION_MAJOR < 3
    return "rmsnorm: oneDNN " + OneDnnVersion() +
           " has no RMS normalization (no rms_norm flag in its layer normalization)";
#else
    return "rmsnorm: not implemented for oneDNN " + OneDnnVersion() +
           " (its rms_norm flag is not used by lnbench yet)";
#endif
  }

  // Returns whether oneDNN has an implementation of the dtype on this CPU,
  // asked once per (dtype, form) on a small shape: implementation choice in
  // oneDNN's CPU layer norm depends on the dtype and ISA, not on the shape.
  Verdict DTypeVerdict(DType dtype, bool training) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_pair(dtype, training);
    auto it = dtype_verdicts_.find(key);
    if (it != dtype_verdicts_.end()) return it->second;
    Verdict verdict = Verdict::Yes();
    try {
      Problem probe;
      probe.rows = 4;
      probe.cols = 64;
      probe.dtype = dtype;
      probe.affine = true;
      if (!MakePrimitiveDesc(probe, training)) {
        verdict = Verdict::No("oneDNN " + OneDnnVersion() + " has no " +
                              std::string(DTypeName(dtype)) +
                              " layer normalization on this CPU (effective ISA " +
                              OneDnnIsaName() + ")");
      }
    } catch (const dnnl::error& e) {
      verdict = Verdict::No(DnnlMessage(e));
    }
    dtype_verdicts_.emplace(key, verdict);
    return verdict;
  }

  mutable std::mutex mutex_;
  mutable std::map<std::pair<DType, bool>, Verdict> dtype_verdicts_;
};

}  // namespace

std::unique_ptr<Backend> MakeOneDnnBackend() { return std::make_unique<OneDnnBackend>(); }

}  // namespace lnbench
