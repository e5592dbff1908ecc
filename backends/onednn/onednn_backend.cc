// The oneDNN peer backend: oneDNN's layer_normalization_forward primitive on
// the CPU engine, in its inference and training forms, with use_scale and
// use_shift for gamma and beta, and layer_normalization_backward (diff_src,
// diff_scale, diff_shift) for the backward op. It runs the whole tensor in one primitive
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
#include <optional>
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
using LnormBwd = dnnl::layer_normalization_backward;

constexpr const char* kInference = "inference";
constexpr const char* kTraining = "training";
constexpr const char* kBackward = "backward";

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
// smaller when OMP_DYNAMIC or OMP_THREAD_LIMIT say so). Under --cpus
// (ThreadCpus), pins team thread i to the i-th listed CPU, as lnbench's own
// pool does: OpenMP's threads are made by the pinned main thread and would
// otherwise all inherit its one CPU. libgomp keeps its threads between
// parallel regions of a team size, so primitives created and run with
// `threads` run on the pinned ones. `on_cpus` gets the CPU each team thread
// was on after the pin, in team order ("1,0"); "" when not pinned.
int MeasuredOmpTeam(int threads, std::string* on_cpus) {
  ScopedOmpThreads scoped(threads);
  const std::vector<int> cpus = ThreadCpus();
  int team = 0;
  std::string pin_error;
  std::vector<int> seen(static_cast<size_t>(std::max(threads, 1)), -1);
#pragma omp parallel
  {
    const int i = omp_get_thread_num();
    if (!cpus.empty()) {
      try {
        PinCallingThread(cpus[static_cast<size_t>(i) % cpus.size()]);
      } catch (const std::exception& e) {
#pragma omp critical
        pin_error = e.what();
      }
      if (static_cast<size_t>(i) < seen.size()) seen[static_cast<size_t>(i)] = sched_getcpu();
    }
    if (i == 0) team = omp_get_num_threads();
  }
  if (!pin_error.empty()) throw RuntimeError("onednn: " + pin_error);
  on_cpus->clear();
  for (int t = 0; !cpus.empty() && t < team && static_cast<size_t>(t) < seen.size(); ++t) {
    if (t > 0) *on_cpus += ',';
    *on_cpus += std::to_string(seen[static_cast<size_t>(t)]);
  }
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

// Returns the backward primitive descriptor for a problem (prop_kind backward:
// diff_src plus diff_scale/diff_shift when affine, backward_data otherwise),
// or an empty one when oneDNN has no implementation. oneDNN wants the
// descriptor of the forward it differentiates as a hint; without
// use_global_stats the derivative flows through mean and variance, which is
// lnbench's backward.
LnormBwd::primitive_desc MakeBackwardPrimitiveDesc(const Problem& problem) {
  const Lnorm::primitive_desc hint = MakePrimitiveDesc(problem, /*training=*/true);
  if (!hint) return {};
  const memory::desc data({problem.rows, problem.cols}, ToDnnl(problem.dtype),
                          memory::format_tag::ab);
  const memory::desc stat({problem.rows}, memory::data_type::f32, memory::format_tag::a);
  const dnnl::prop_kind kind =
      problem.affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  const LnormBwd::desc desc(kind, data, data, stat, static_cast<float>(problem.eps),
                            FlagsFor(problem));
  return LnormBwd::primitive_desc(desc, CpuEngine(), hint, /*allow_empty=*/true);
}

// Returns oneDNN's variance for lnbench's rstd: oneDNN's backward takes the
// variance it saved in the forward and recomputes 1/sqrt(variance + eps) in
// f32, lnbench hands the rstd the forward saved. var = 1/rstd^2 - eps_f32 in
// double (eps as the f32 oneDNN adds back), rounded to f32 once: oneDNN's
// recomputed rstd is then within about 2 f32 ulps of the given one. NaN stays
// NaN; rstd 0 (a row of infinities) gives an infinite variance.
float VarianceFromRstd(float rstd, float eps_f32) {
  const double r = rstd;
  return static_cast<float>(1.0 / (r * r) - static_cast<double>(eps_f32));
}

// Returns the message of a oneDNN exception with its status.
std::string DnnlMessage(const dnnl::error& e) {
  return std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")";
}

// What the forward and backward cases share: one primitive executed on the
// whole tensor with a set OpenMP thread count, timed with the host clock.
class OneDnnPrimitiveCase : public PreparedCase {
 public:
  OneDnnPrimitiveCase(const Problem& problem, int threads)
      : problem_(problem), threads_(ThreadsFor(threads)), pool_(&SharedThreadPool(threads)) {}

  void Run() override {
    ScopedOmpThreads scoped(threads_);
    Execute();
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

 protected:
  // Returns the details every oneDNN case reports.
  std::map<std::string, std::string> CommonDetails() const {
    std::map<std::string, std::string> details = {
        {"threads", std::to_string(threads_)},
        {"omp_team", std::to_string(omp_team_)},
        {"threading", "oneDNN's OpenMP runtime, omp_set_num_threads(" +
                          std::to_string(threads_) + ") around primitive creation and execution"},
        {"onednn_version", OneDnnVersion()},
        {"onednn_impl", impl_},
        {"onednn_isa", OneDnnIsaName()},
        {"flags", problem_.affine ? "use_scale|use_shift" : "none"},
        {"eps_f32", std::to_string(static_cast<float>(problem_.eps))},
    };
    if (!omp_cpus_.empty()) details["omp_cpus"] = omp_cpus_;
    return details;
  }

  // Keeps the primitive built from `pd` and measures the OpenMP team.
  template <class PrimitiveDesc>
  void SetPrimitive(const PrimitiveDesc& pd, dnnl::primitive primitive) {
    impl_ = pd.impl_info_str();
    primitive_ = std::move(primitive);
    stream_ = dnnl::stream(CpuEngine());
    omp_team_ = MeasuredOmpTeam(threads_, &omp_cpus_);
  }

  // Computes the outputs of a problem without rows, which oneDNN is not
  // asked to do (it rejects zero-sized memory for some arguments).
  virtual void ExecuteEmpty() {}

  Problem problem_;
  int threads_;
  ThreadPool* pool_;
  std::unordered_map<int, memory> args_;

 private:
  void Execute() {
    if (problem_.elements() == 0) return ExecuteEmpty();
    try {
      primitive_.execute(stream_, args_);
      stream_.wait();
    } catch (const dnnl::error& e) {
      throw RuntimeError(DnnlMessage(e));
    }
  }

  std::string impl_;
  int omp_team_ = 0;
  std::string omp_cpus_;  // --cpus: the CPU of each team thread, "" when not pinned
  dnnl::primitive primitive_;
  dnnl::stream stream_;
};

class OneDnnCase : public OneDnnPrimitiveCase {
 public:
  OneDnnCase(const Problem& problem, const HostTensors& inputs, int threads, bool training)
      : OneDnnPrimitiveCase(problem, threads),
        training_(training),
        y_(static_cast<size_t>(problem.elements()) * DTypeSize(problem.dtype)),
        mean_(training ? static_cast<size_t>(problem.rows) * 4 : 0),
        variance_(training ? static_cast<size_t>(problem.rows) * 4 : 0) {
    ScopedOmpThreads scoped(threads_);
    const Lnorm::primitive_desc pd = MakePrimitiveDesc(problem, training);
    if (!pd)
      throw RuntimeError("oneDNN: no layer normalization implementation for " +
                         problem.ShortName());
    dnnl::engine& engine = CpuEngine();
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
    SetPrimitive(pd, Lnorm(pd));
  }

  std::string ResolvedVariant() const override { return training_ ? kTraining : kInference; }

  void Poison() override {
    FillPoisonHost(problem_.dtype, y_.data(), problem_.elements(), *pool_);
    if (training_) {
      FillPoisonHost(DType::kF32, mean_.data(), problem_.rows, *pool_);
      FillPoisonHost(DType::kF32, variance_.data(), problem_.rows, *pool_);
    }
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

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = CommonDetails();
    d["prop_kind"] = training_ ? "forward_training" : "forward_inference";
    if (problem_.stats)
      d["stats"] =
          "mean: oneDNN's mean output; rstd: 1/sqrt(variance + eps) computed in double from "
          "oneDNN's variance output after the run (not timed)";
    else if (training_)
      d["stats"] = "oneDNN writes mean and variance (timed), lnbench does not check them";
    return d;
  }

 private:
  bool training_;
  HostBuffer y_, mean_, variance_;
};

// LayerNorm backward: dx (diff_src), dgamma (diff_scale) and dbeta
// (diff_shift) from x, dy (diff_dst), gamma (scale), mean and the variance
// derived from rstd at Prepare.
class OneDnnBackwardCase : public OneDnnPrimitiveCase {
 public:
  OneDnnBackwardCase(const Problem& problem, const HostTensors& inputs, int threads)
      : OneDnnPrimitiveCase(problem, threads),
        dx_(static_cast<size_t>(problem.elements()) * DTypeSize(problem.dtype)),
        dgamma_(problem.affine ? static_cast<size_t>(problem.cols) * 4 : 0),
        dbeta_(problem.affine ? static_cast<size_t>(problem.cols) * 4 : 0),
        shift_(problem.affine ? static_cast<size_t>(problem.cols) * 4 : 0),
        variance_(static_cast<size_t>(problem.rows) * 4) {
    ScopedOmpThreads scoped(threads_);
    const LnormBwd::primitive_desc pd = MakeBackwardPrimitiveDesc(problem);
    if (!pd)
      throw RuntimeError("oneDNN: no layer normalization backward implementation for " +
                         problem.ShortName());
    // The variance oneDNN wants, from lnbench's rstd: here, before any timed
    // run, so the conversion costs oneDNN nothing (its bytes are the rstd
    // bytes of the model: one f32 per row either way).
    const float eps_f32 = static_cast<float>(problem.eps);
    const float* rstd = inputs.get<float>(TensorId::kRstd);
    float* var = variance_.as<float>();
    for (int64_t r = 0; r < problem.rows; ++r) var[r] = VarianceFromRstd(rstd[r], eps_f32);
    dnnl::engine& engine = CpuEngine();
    // x, dy, mean and gamma are read in place.
    args_[DNNL_ARG_SRC] = memory(pd.src_desc(), engine, inputs.get(TensorId::kX));
    args_[DNNL_ARG_DIFF_DST] = memory(pd.diff_dst_desc(), engine, inputs.get(TensorId::kDy));
    args_[DNNL_ARG_MEAN] = memory(pd.mean_desc(), engine, inputs.get(TensorId::kMean));
    args_[DNNL_ARG_VARIANCE] = memory(pd.variance_desc(), engine, variance_.data());
    args_[DNNL_ARG_DIFF_SRC] = memory(pd.diff_src_desc(), engine, dx_.data());
    if (problem.affine) {
      const memory::desc param({problem.cols}, memory::data_type::f32, memory::format_tag::a);
      args_[DNNL_ARG_SCALE] = memory(param, engine, inputs.get(TensorId::kGamma));
      // oneDNN 2.6 refuses to execute a use_shift backward without a shift
      // argument, though the derivative does not depend on beta (nor does
      // oneDNN read it: a NaN shift changes no output bit). The backward op
      // has no beta, so a zero buffer stands in.
      std::memset(shift_.data(), 0, static_cast<size_t>(problem.cols) * 4);
      args_[DNNL_ARG_SHIFT] = memory(param, engine, shift_.data());
      args_[DNNL_ARG_DIFF_SCALE] = memory(param, engine, dgamma_.data());
      args_[DNNL_ARG_DIFF_SHIFT] = memory(param, engine, dbeta_.data());
    }
    SetPrimitive(pd, LnormBwd(pd));
  }

  std::string ResolvedVariant() const override { return kBackward; }

  // dgamma and dbeta of no rows are empty sums: zeros.
  void ExecuteEmpty() override {
    if (!problem_.affine) return;
    std::memset(dgamma_.data(), 0, static_cast<size_t>(problem_.cols) * 4);
    std::memset(dbeta_.data(), 0, static_cast<size_t>(problem_.cols) * 4);
  }

  void Poison() override {
    FillPoisonHost(problem_.dtype, dx_.data(), problem_.elements(), *pool_);
    if (problem_.affine) {
      FillPoisonHost(DType::kF32, dgamma_.data(), problem_.cols, *pool_);
      FillPoisonHost(DType::kF32, dbeta_.data(), problem_.cols, *pool_);
    }
  }

  void Download(const HostTensors& out) override {
    const size_t esize = DTypeSize(problem_.dtype);
    pool_->ParallelFor(problem_.elements(), [&](int64_t b, int64_t e) {
      std::memcpy(out.get<uint8_t>(TensorId::kDx) + b * esize, dx_.as<uint8_t>() + b * esize,
                  (e - b) * esize);
    });
    if (!problem_.affine) return;
    const size_t bytes = static_cast<size_t>(problem_.cols) * 4;
    if (float* dgamma = out.get<float>(TensorId::kDgamma)) std::memcpy(dgamma, dgamma_.data(), bytes);
    if (float* dbeta = out.get<float>(TensorId::kDbeta)) std::memcpy(dbeta, dbeta_.data(), bytes);
  }

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = CommonDetails();
    d["prop_kind"] = problem_.affine ? "backward" : "backward_data";
    d["stats"] =
        "mean: lnbench's input, read in place; variance = 1/rstd^2 - eps_f32 from lnbench's "
        "rstd, in double rounded to f32 at prepare (not timed); oneDNN recomputes "
        "1/sqrt(variance + eps) in f32";
    return d;
  }

 private:
  HostBuffer dx_, dgamma_, dbeta_, shift_, variance_;
};

class OneDnnBackend : public CpuBackend {
 public:
  std::string Name() const override { return "onednn"; }
  std::string Description() const override {
    return "oneDNN " + OneDnnVersion() +
           " layer_normalization_forward and _backward on the CPU engine";
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
             "forward_inference: y only (the default, or training when mean/rstd are asked for)", Direction::kForward},
            {kTraining,
             "forward_training: y plus mean and variance (rstd = 1/sqrt(variance + eps))", Direction::kForward},
            {kBackward,
             "layer_normalization_backward: dx, dgamma, dbeta (the default and only variant of "
             "--dir bwd; variance = 1/rstd^2 - eps given at prepare)", Direction::kBackward}};
  }

  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (problem.norm == Norm::kRmsNorm) return Verdict::No(RmsNormReason());
    const std::optional<Form> form = ParseVariant(options.variant, problem);
    if (!form)
      return Verdict::No("unknown variant '" + options.variant +
                         "' (have: inference, training, backward)");
    const bool backward = problem.dir == Direction::kBackward;
    if (backward && *form != Form::kBackward)
      return Verdict::No("variant " + options.variant + " is a forward primitive; " +
                         OpName(problem.norm, problem.dir) + " runs variant backward");
    if (!backward && *form == Form::kBackward)
      return Verdict::No("variant backward is layer_normalization_backward, for --dir bwd");
    if (problem.stats && *form == Form::kInference)
      return Verdict::No(
          "oneDNN's forward_inference does not output mean/variance; use variant training");
    if (!(static_cast<float>(problem.eps) > 0.0f))
      return Verdict::No("eps does not fit a positive f32 (oneDNN takes a float epsilon)");
    return DTypeVerdict(problem.dtype, *form);
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    const std::optional<Form> form = ParseVariant(options.variant, problem);
    if (!form)
      throw UsageError("onednn: unknown variant '" + options.variant +
                       "' (have: inference, training, backward)");
    const Verdict v = Supports(problem, options);
    if (!v.ok) throw UsageError("onednn: " + v.reason);
    try {
      if (*form == Form::kBackward)
        return std::make_unique<OneDnnBackwardCase>(problem, inputs, options.threads);
      return std::make_unique<OneDnnCase>(problem, inputs, options.threads,
                                          *form == Form::kTraining);
    } catch (const dnnl::error& e) {
      throw RuntimeError(DnnlMessage(e));
    }
  }

 private:
  // The primitive a variant runs.
  enum class Form { kInference, kTraining, kBackward };

  // Returns the form of a variant, nullopt for an unknown one. The default is
  // backward for --dir bwd, else inference unless the problem asks for
  // mean/rstd, which only training outputs.
  static std::optional<Form> ParseVariant(const std::string& variant, const Problem& problem) {
    if (variant.empty()) {
      if (problem.dir == Direction::kBackward) return Form::kBackward;
      return problem.stats ? Form::kTraining : Form::kInference;
    }
    if (variant == kInference) return Form::kInference;
    if (variant == kTraining) return Form::kTraining;
    if (variant == kBackward) return Form::kBackward;
    return std::nullopt;
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
  Verdict DTypeVerdict(DType dtype, Form form) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_pair(dtype, form);
    auto it = dtype_verdicts_.find(key);
    if (it != dtype_verdicts_.end()) return it->second;
    Verdict verdict = Verdict::Yes();
    try {
      Problem probe;
      probe.rows = 4;
      probe.cols = 64;
      probe.dtype = dtype;
      probe.affine = true;
      const bool found = form == Form::kBackward
                             ? static_cast<bool>(MakeBackwardPrimitiveDesc(probe))
                             : static_cast<bool>(MakePrimitiveDesc(probe, form == Form::kTraining));
      if (!found) {
        verdict = Verdict::No("oneDNN " + OneDnnVersion() + " has no " +
                              std::string(DTypeName(dtype)) + " layer normalization" +
                              (form == Form::kBackward ? " backward" : "") +
                              " on this CPU (effective ISA " + OneDnnIsaName() + ")");
      }
    } catch (const dnnl::error& e) {
      verdict = Verdict::No(DnnlMessage(e));
    }
    dtype_verdicts_.emplace(key, verdict);
    return verdict;
  }

  mutable std::mutex mutex_;
  mutable std::map<std::pair<DType, Form>, Verdict> dtype_verdicts_;
};

}  // namespace

std::unique_ptr<Backend> MakeOneDnnBackend() { return std::make_unique<OneDnnBackend>(); }

}  // namespace lnbench
