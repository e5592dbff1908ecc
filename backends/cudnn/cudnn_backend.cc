// The cuDNN peer backend: cuDNN 9's layer norm and RMS norm forward (its
// inference and training phases) and backward (dx, dscale, dbias) through
// the graph (backend) API, f32/bf16/f16 data with f32 scale, bias, mean and
// inverse variance (RMS norm: scale and inverse variance, the rrms, only). libcudnn.so.9 is loaded
// with dlopen at run time (see cudnn_api.h). Device facts, memory, streams,
// event timing, the L2 flush, poison fills and the copy ceiling are the
// shared CUDA helpers (backends/cuda/cuda_device.h), so cuDNN is timed and
// checked exactly like lnbench's own CUDA kernels.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cudnn/cudnn_api.h"
#include "backends/cudnn/cudnn_layernorm.h"
#include "core/dtype.h"
#include "core/errors.h"

namespace lnbench {
namespace {

constexpr const char* kInference = "inference";
constexpr const char* kTraining = "training";
constexpr const char* kInferenceTuned = "inference-tuned";
constexpr const char* kTrainingTuned = "training-tuned";
constexpr const char* kBackward = "backward";
constexpr const char* kBackwardTuned = "backward-tuned";

// What a variant name asks for.
struct VariantChoice {
  bool training = false;  // CUDNN_NORM_FWD_TRAINING (writes mean and inv_variance)
  bool tuned = false;     // time every engine cuDNN offers and keep the fastest
  bool backward = false;  // NORM_BACKWARD (dx, dscale, dbias)
  std::string Name() const {
    if (backward) return tuned ? kBackwardTuned : kBackward;
    return training ? (tuned ? kTrainingTuned : kTraining) : (tuned ? kInferenceTuned : kInference);
  }
};

// Process-wide cuDNN state: one handle and one stream on device 0, and the
// plans built so far. Deliberately never destroyed: static destructors run
// after the CUDA runtime has begun to unload, and cuDNN calls then fail.
struct CudnnState {
  std::mutex mutex;
  bool initialized = false;
  std::string unavailable;  // why the backend cannot run, once initialized
  cudnnHandle_t handle = nullptr;
  std::unique_ptr<CudaStream> stream;  // every cuDNN call runs on it
  // Plans by (norm, rows, cols, dtype, training, every engine, backward); a
  // failure is kept as its message.
  using PlanKey = std::tuple<Norm, int64_t, int64_t, DType, bool, bool, bool>;
  std::map<PlanKey, std::shared_ptr<LayerNormPlans>> plans;
  std::map<PlanKey, std::string> plan_errors;
  L2Flusher flusher;  // for cold samples
};

CudnnState& State() {
  static CudnnState* state = new CudnnState;
  return *state;
}

// Initializes the state once (under its mutex); returns why it is unusable, or "".
std::string InitLocked(CudnnState& s) {
  if (s.initialized) return s.unavailable;
  s.initialized = true;
  const Verdict cuda = CudaAvailable();
  if (!cuda.ok) return s.unavailable = cuda.reason;
  const CudnnApi& api = Cudnn();
  if (!api.ok()) return s.unavailable = api.error;
  try {
    LNBENCH_CUDA_CALL(cudaSetDevice(CudaDeviceIndex()));
    s.stream = std::make_unique<CudaStream>();
    LNBENCH_CUDNN_CALL(api.Create(&s.handle));
    LNBENCH_CUDNN_CALL(api.SetStream(s.handle, s.stream->get()));
  } catch (const RuntimeError& e) {
    s.unavailable = std::string("cuDNN could not start: ") + e.what();
  }
  return s.unavailable;
}

// Returns the plans for a spec, building them the first time; throws RuntimeError
// with cuDNN's reason when there is none.
std::shared_ptr<LayerNormPlans> PlansFor(const LayerNormSpec& spec, bool all_engines) {
  CudnnState& s = State();
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::string why = InitLocked(s);
  if (!why.empty()) throw RuntimeError(why);
  const auto key = std::make_tuple(spec.norm, spec.rows, spec.cols, spec.dtype, spec.training,
                                   all_engines, spec.backward);
  if (auto it = s.plans.find(key); it != s.plans.end()) return it->second;
  if (auto it = s.plan_errors.find(key); it != s.plan_errors.end()) throw RuntimeError(it->second);
  try {
    auto plan =
        std::make_shared<LayerNormPlans>(BuildLayerNormPlans(s.handle, spec, all_engines));
    s.plans.emplace(key, plan);
    return plan;
  } catch (const RuntimeError& e) {
    s.plan_errors.emplace(key, e.what());
    throw;
  }
}

class CudnnCase : public PreparedCase {
 public:
  CudnnCase(const Problem& problem, const HostTensors& inputs, VariantChoice choice)
      : problem_(problem), choice_(choice), training_(choice.training), backward_(choice.backward) {
    CudnnState& s = State();
    stream_ = s.stream->get();
    handle_ = s.handle;
    const size_t n = static_cast<size_t>(problem.elements());
    const size_t esize = DTypeSize(problem.dtype);
    const size_t cols = static_cast<size_t>(problem.cols);
    const size_t rows = static_cast<size_t>(problem.rows);
    const bool training = choice.training;
    const bool backward = choice.backward;
    // RMSNorm has no bias and no mean: 1 vector per column and per row, not 2.
    const size_t vectors = layernorm() ? 2 : 1;
    int64_t workspace = 0;
    if (n > 0) {
      plans_ = PlansFor(
          {problem.rows, problem.cols, problem.dtype, training, problem.norm, backward},
          choice.tuned);
      for (const auto& c : plans_->candidates) workspace = std::max(workspace, c.workspace_bytes);
    }
    // Forward: x, y; scale (bias); mean and inv_variance when training.
    // Backward: x, dy, dx; scale, dscale (dbias); mean (layer norm) and inv_variance.
    const uint64_t needed =
        backward ? 3 * n * esize + (1 + vectors) * cols * 4 + vectors * rows * 4
                 : 2 * n * esize + vectors * cols * 4 + (training ? vectors * rows * 4 : 0);
    RequireDeviceMemory(needed + static_cast<uint64_t>(workspace), "cudnn " + problem.ShortName());
    const auto t0 = std::chrono::steady_clock::now();
    x_ = DeviceBuffer(n * esize);
    y_ = DeviceBuffer(n * esize);  // backward: dx
    scale_ = DeviceBuffer(cols * 4);
    if (backward) {
      dy_ = DeviceBuffer(n * esize);
      dscale_ = DeviceBuffer(cols * 4);
      if (layernorm()) dbias_ = DeviceBuffer(cols * 4);
    } else if (layernorm()) {
      bias_ = DeviceBuffer(cols * 4);
    }
    if (training || backward) {
      if (layernorm()) mean_ = DeviceBuffer(rows * 4);
      inv_variance_ = DeviceBuffer(rows * 4);
    }
    if (workspace > 0) workspace_ = DeviceBuffer(static_cast<size_t>(workspace));
    if (n > 0)
      LNBENCH_CUDA_CALL(
          cudaMemcpy(x_.data(), inputs.get(TensorId::kX), n * esize, cudaMemcpyHostToDevice));
    if (backward) {
      // The saved statistics (the op's inputs) become cuDNN's mean and inv_variance.
      if (n > 0)
        LNBENCH_CUDA_CALL(
            cudaMemcpy(dy_.data(), inputs.get(TensorId::kDy), n * esize, cudaMemcpyHostToDevice));
      if (rows > 0) {
        if (layernorm())
          LNBENCH_CUDA_CALL(cudaMemcpy(mean_.data(), inputs.get(TensorId::kMean), rows * 4,
                                       cudaMemcpyHostToDevice));
        LNBENCH_CUDA_CALL(cudaMemcpy(inv_variance_.data(), inputs.get(TensorId::kRstd), rows * 4,
                                     cudaMemcpyHostToDevice));
      }
    }
    if (problem.affine) {
      LNBENCH_CUDA_CALL(cudaMemcpy(scale_.data(), inputs.get(TensorId::kGamma), cols * 4,
                                   cudaMemcpyHostToDevice));
      if (bias_.bytes() > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(bias_.data(), inputs.get(TensorId::kBeta), cols * 4,
                                     cudaMemcpyHostToDevice));
    } else {
      // cuDNN's norms always apply scale (and layer norm bias): pass 1 and 0,
      // which change no bit of the normalized value.
      const std::vector<float> ones(cols, 1.0f);
      LNBENCH_CUDA_CALL(cudaMemcpy(scale_.data(), ones.data(), cols * 4, cudaMemcpyHostToDevice));
      if (bias_.bytes() > 0) LNBENCH_CUDA_CALL(cudaMemset(bias_.data(), 0, cols * 4));
    }
    upload_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    epsilon_ = static_cast<float>(problem.eps);
    if (plans_) {
      BuildVariantPack();
      chosen_ = 0;
      if (choice.tuned && plans_->candidates.size() > 1) Autotune();
    }
  }

  std::string ResolvedVariant() const override { return choice_.Name(); }

  void Poison() override {
    FillPoison(y_.data(), problem_.dtype, static_cast<uint64_t>(problem_.elements()), stream_);
    if (backward_) {
      FillPoisonF32(dscale_.as<float>(), static_cast<uint64_t>(problem_.cols), stream_);
      if (layernorm())
        FillPoisonF32(dbias_.as<float>(), static_cast<uint64_t>(problem_.cols), stream_);
    } else if (training_) {
      if (layernorm()) FillPoisonF32(mean_.as<float>(), static_cast<uint64_t>(problem_.rows), stream_);
      FillPoisonF32(inv_variance_.as<float>(), static_cast<uint64_t>(problem_.rows), stream_);
    }
    LNBENCH_CUDA_CALL(cudaStreamSynchronize(stream_));
  }

  void Run() override {
    Launch();
    LNBENCH_CUDA_CALL(cudaStreamSynchronize(stream_));
  }

  void Download(const HostTensors& out) override {
    const size_t n = static_cast<size_t>(problem_.elements());
    LNBENCH_CUDA_CALL(cudaStreamSynchronize(stream_));
    if (backward_) {
      if (n > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(out.get(TensorId::kDx), y_.data(),
                                     n * DTypeSize(problem_.dtype), cudaMemcpyDeviceToHost));
      // Without affine the problem has no dgamma/dbeta: cuDNN's (for scale
      // 1) are computed and timed but not returned.
      if (void* dg = out.get(TensorId::kDgamma); dg != nullptr)
        LNBENCH_CUDA_CALL(
            cudaMemcpy(dg, dscale_.data(), problem_.cols * 4, cudaMemcpyDeviceToHost));
      if (void* db = out.get(TensorId::kDbeta); db != nullptr && dbias_.bytes() > 0)
        LNBENCH_CUDA_CALL(
            cudaMemcpy(db, dbias_.data(), problem_.cols * 4, cudaMemcpyDeviceToHost));
      return;
    }
    if (n > 0)
      LNBENCH_CUDA_CALL(cudaMemcpy(out.get(TensorId::kY), y_.data(),
                                   n * DTypeSize(problem_.dtype), cudaMemcpyDeviceToHost));
    float* out_mean = out.get<float>(TensorId::kMean);
    float* out_rstd = out.get<float>(TensorId::kRstd);
    if (problem_.stats && problem_.rows > 0) {
      // cuDNN's training phase writes the inverse standard deviation
      // 1/sqrt(var + eps) itself (RMS norm: 1/sqrt(mean(x^2) + eps)): it is
      // lnbench's rstd as it is.
      if (layernorm() && out_mean != nullptr)
        LNBENCH_CUDA_CALL(cudaMemcpy(out_mean, mean_.data(), problem_.rows * 4,
                                     cudaMemcpyDeviceToHost));
      if (out_rstd != nullptr)
        LNBENCH_CUDA_CALL(cudaMemcpy(out_rstd, inv_variance_.data(), problem_.rows * 4,
                                     cudaMemcpyDeviceToHost));
    }
  }

  double TimeBatch(int batch, bool cold) override {
    if (cold) {
      State().flusher.Flush(stream_);  // same stream: done before the run starts
      batch = 1;
    }
    timer_.Start(stream_);
    for (int i = 0; i < batch; ++i) Launch();
    timer_.Stop(stream_);
    return timer_.Seconds();
  }

  std::map<std::string, std::string> Details() const override {
    const std::string op = backward_ ? "OPERATION_NORM_BACKWARD" : "OPERATION_NORM_FORWARD";
    std::map<std::string, std::string> d = {
        {"phase", backward_   ? "backward (dx, dscale" + std::string(layernorm() ? ", dbias)" : ")")
                  : training_ ? "CUDNN_NORM_FWD_TRAINING"
                              : "CUDNN_NORM_FWD_INFERENCE"},
        {"api",
         "cuDNN graph API: " + op + (layernorm() ? ", CUDNN_LAYER_NORM" : ", CUDNN_RMS_NORM")},
        {"cudnn_version", CudnnVersionText(Cudnn().GetVersion())},
        {"upload_s", std::to_string(upload_s_)},
        {"eps_f32", std::to_string(epsilon_)},
        {"timing", "CUDA events around the batch on the backend's stream"},
    };
    if (plans_) {
      const LayerNormCandidate& c = plans_->candidates[chosen_];
      d["engine_global_index"] = std::to_string(c.engine_index);
      d["heuristic"] = c.heuristic + " (position " + std::to_string(c.position + 1) + "; " +
                       std::to_string(plans_->offered) + " configurations offered)";
      d["workspace_bytes"] = std::to_string(c.workspace_bytes);
      if (!autotune_.empty()) d["autotune"] = autotune_;
    }
    if (!problem_.affine && backward_)
      d["affine"] = "cuDNN's backward always takes scale and writes dscale (and dbias): scale = 1 "
                    "passed, dscale/dbias computed and timed but not checked (not counted)";
    else if (!problem_.affine)
      d["affine"] = layernorm() ? "cuDNN always applies scale and bias: scale = 1, bias = 0 "
                                  "passed (read, not counted)"
                                : "cuDNN always applies scale: scale = 1 passed (read, not counted)";
    if (problem_.stats)
      d["stats"] = layernorm() ? "mean and inv_variance (= rstd) as cuDNN writes them"
                               : "inv_variance (= rstd, the rrms) as cuDNN writes it";
    else if (training_)
      d["stats"] = "cuDNN writes its statistics (timed), lnbench does not check them";
    return d;
  }

 private:
  bool layernorm() const { return problem_.norm == Norm::kLayerNorm; }

  void BuildVariantPack() {
    std::vector<int64_t> uids = {kUidX, kUidY, kUidScale, kUidEpsilon};
    std::vector<void*> ptrs = {x_.data(), y_.data(), scale_.data(), &epsilon_};
    if (backward_) {
      uids = {kUidX, kUidDy, kUidScale, kUidInvVariance, kUidDx, kUidDscale};
      ptrs = {x_.data(), dy_.data(), scale_.data(), inv_variance_.data(), y_.data(),
              dscale_.data()};
      if (layernorm()) {
        uids.insert(uids.end(), {kUidMean, kUidDbias});
        ptrs.insert(ptrs.end(), {mean_.data(), dbias_.data()});
      }
    } else if (layernorm()) {
      uids.push_back(kUidBias);
      ptrs.push_back(bias_.data());
    }
    if (training_) {
      if (layernorm()) {
        uids.push_back(kUidMean);
        ptrs.push_back(mean_.data());
      }
      uids.push_back(kUidInvVariance);
      ptrs.push_back(inv_variance_.data());
    }
    variant_pack_ = CudnnDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    variant_pack_.Set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                      static_cast<int64_t>(ptrs.size()), ptrs.data());
    variant_pack_.Set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                      static_cast<int64_t>(uids.size()), uids.data());
    void* ws = workspace_.data();
    variant_pack_.Set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    variant_pack_.Finalize();
  }

  // Enqueues one layer norm on the stream. An empty problem has no plan:
  // nothing to do, except that a backward one's dscale (and dbias) over no
  // rows are zeros.
  void Launch() {
    if (!plans_) {
      if (backward_ && dscale_.bytes() > 0)
        LNBENCH_CUDA_CALL(cudaMemsetAsync(dscale_.data(), 0, dscale_.bytes(), stream_));
      if (backward_ && dbias_.bytes() > 0)
        LNBENCH_CUDA_CALL(cudaMemsetAsync(dbias_.data(), 0, dbias_.bytes(), stream_));
      return;
    }
    LNBENCH_CUDNN_CALL(Cudnn().BackendExecute(handle_, plans_->candidates[chosen_].plan.get(),
                                              variant_pack_.get()));
  }

  // Times every candidate engine on this problem's buffers (a few warm
  // runs, then the median of a few timed batches) and keeps the fastest, as
  // cudnn-frontend's autotuning does. Candidates that fail to execute are skipped.
  void Autotune() {
    constexpr int kWarmup = 3, kSamples = 7, kBatch = 3;
    double best = 0;
    int best_index = -1;
    std::string log;
    for (size_t i = 0; i < plans_->candidates.size(); ++i) {
      chosen_ = static_cast<int>(i);
      std::vector<double> samples;
      try {
        for (int w = 0; w < kWarmup; ++w) Launch();
        for (int k = 0; k < kSamples; ++k) {
          timer_.Start(stream_);
          for (int b = 0; b < kBatch; ++b) Launch();
          timer_.Stop(stream_);
          samples.push_back(timer_.Seconds() / kBatch);
        }
      } catch (const RuntimeError& e) {
        LNBENCH_CUDA_CALL(cudaStreamSynchronize(stream_));
        log += (log.empty() ? "" : "; ") + std::string("engine ") +
               std::to_string(plans_->candidates[i].engine_index) + ": failed";
        continue;
      }
      std::sort(samples.begin(), samples.end());
      const double median = samples[samples.size() / 2];
      log += (log.empty() ? "" : "; ") + std::string("engine ") +
             std::to_string(plans_->candidates[i].engine_index) + ": " +
             std::to_string(median * 1e6) + " us";
      if (best_index < 0 || median < best) {
        best = median;
        best_index = static_cast<int>(i);
      }
    }
    if (best_index < 0) throw RuntimeError("cudnn: no candidate engine ran: " + log);
    chosen_ = best_index;
    autotune_ = log;
  }

  Problem problem_;
  VariantChoice choice_;
  bool training_;
  bool backward_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t handle_ = nullptr;
  std::shared_ptr<LayerNormPlans> plans_;
  int chosen_ = 0;        // index into plans_->candidates
  std::string autotune_;  // per-engine medians when tuned
  // Backward: y_ holds dx; dy_, dscale_ and dbias_ are its own.
  DeviceBuffer x_, y_, scale_, bias_, mean_, inv_variance_, workspace_, dy_, dscale_, dbias_;
  float epsilon_ = 0;  // read by cuDNN from host memory at every execute (by-value tensor)
  CudnnDescriptor variant_pack_;
  CudaEventTimer timer_;
  double upload_s_ = 0;
};

class CudnnBackend : public Backend {
 public:
  std::string Name() const override { return "cudnn"; }
  std::string Description() const override {
    return "cuDNN 9 layer norm and RMS norm forward and backward through the graph API, "
           "libcudnn.so.9 loaded at run time";
  }
  bool IsPeer() const override { return true; }
  std::string DeviceId() const override { return CudaDeviceId(); }

  std::map<std::string, std::string> DeviceInfo() const override {
    auto info = CudaAvailable().ok ? CudaDeviceInfo() : std::map<std::string, std::string>{};
    const CudnnApi& api = Cudnn();
    if (api.ok()) {
      info["cudnn_version"] = CudnnVersionText(api.GetVersion());
      info["cudnn_cudart_version"] = std::to_string(api.GetCudartVersion());
      info["cudnn_library"] = api.path;
    }
    return info;
  }

  Verdict Available() const override {
    CudnnState& s = State();
    std::lock_guard<std::mutex> lock(s.mutex);
    const std::string why = InitLocked(s);
    return why.empty() ? Verdict::Yes() : Verdict::No(why);
  }

  std::vector<VariantInfo> Variants() const override {
    return {{kInference,
             "CUDNN_NORM_FWD_INFERENCE, heuristic A's first engine: y only (the default, or "
             "training when mean/rstd are asked for)", Direction::kForward},
            {kTraining,
             "CUDNN_NORM_FWD_TRAINING, heuristic A's first engine: y plus mean and inv_variance "
             "(= rstd)", Direction::kForward},
            {kInferenceTuned,
             "inference, every engine of heuristics A and FALLBACK timed, the fastest kept", Direction::kForward},
            {kTrainingTuned,
             "training, every engine of heuristics A and FALLBACK timed, the fastest kept", Direction::kForward},
            {kBackward,
             "NORM_BACKWARD, heuristic A's first engine: dx, dscale (= dgamma) and dbias "
             "(= dbeta) from x, dy, scale and the saved mean and inv_variance (the default "
             "for --dir bwd)", Direction::kBackward},
            {kBackwardTuned,
             "backward, every engine of heuristics A and FALLBACK timed, the fastest kept", Direction::kBackward}};
  }

  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (Verdict v = OpVerdict(problem); !v.ok) return v;
    VariantChoice choice;
    if (!ParseVariant(options.variant, problem, &choice))
      return Verdict::No("unknown variant '" + options.variant + "' (have: " + kVariantList + ")");
    if (Verdict v = DirectionVerdict(problem, choice); !v.ok) return v;
    if (problem.stats && !choice.training && !choice.backward)
      return Verdict::No(fmt::format(
          "cuDNN's inference phase does not output {}; use variant training",
          problem.norm == Norm::kRmsNorm ? "rstd" : "mean/rstd"));
    if (!(static_cast<float>(problem.eps) > 0.0f))
      return Verdict::No("eps does not fit a positive f32 (cuDNN takes a float epsilon)");
    const Verdict available = Available();
    if (!available.ok) return available;
    if (problem.elements() == 0) return Verdict::Yes();
    // The real answer is whether cuDNN finalizes a plan for this exact shape;
    // the plans are kept for Prepare.
    try {
      PlansFor({problem.rows, problem.cols, problem.dtype, choice.training, problem.norm,
                choice.backward},
               choice.tuned);
    } catch (const RuntimeError& e) {
      return Verdict::No(e.what());
    }
    return Verdict::Yes();
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    if (Verdict v = OpVerdict(problem); !v.ok) throw UsageError("cudnn: " + v.reason);
    VariantChoice choice;
    if (!ParseVariant(options.variant, problem, &choice))
      throw UsageError("cudnn: unknown variant '" + options.variant + "' (have: " +
                       kVariantList + ")");
    if (Verdict v = DirectionVerdict(problem, choice); !v.ok)
      throw UsageError("cudnn: " + v.reason);
    if (problem.stats && !choice.training && !choice.backward)
      throw UsageError(
          fmt::format("cudnn: the inference phase does not output {}; use variant training",
                      problem.norm == Norm::kRmsNorm ? "rstd" : "mean/rstd"));
    const Verdict available = Available();
    if (!available.ok) throw RuntimeError("cudnn: " + available.reason);
    return std::make_unique<CudnnCase>(problem, inputs, choice);
  }

  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int /*threads*/, int min_samples,
                                                 double time_budget_s) override {
    // The same probe as the cuda backend: both share the selected device's ceiling.
    return MeasureCudaCopyCeiling(bytes, min_samples, time_budget_s);
  }

 private:
  static constexpr const char* kVariantList =
      "inference, training, inference-tuned, training-tuned, backward, backward-tuned";

  // Returns whether the graphs compute the problem's op: the forward and the
  // backward of layernorm (CUDNN_LAYER_NORM) and rmsnorm (CUDNN_RMS_NORM).
  static Verdict OpVerdict(const Problem& p) {
    if ((p.norm != Norm::kLayerNorm && p.norm != Norm::kRmsNorm) ||
        (p.dir != Direction::kForward && p.dir != Direction::kBackward))
      return Verdict::No(
          fmt::format("{} {}: not implemented by cudnn", NormName(p.norm), DirectionName(p.dir)));
    return Verdict::Yes();
  }

  // Returns whether the variant's graph runs the problem's direction.
  static Verdict DirectionVerdict(const Problem& p, const VariantChoice& choice) {
    const bool backward = p.dir == Direction::kBackward;
    if (backward == choice.backward) return Verdict::Yes();
    return Verdict::No(fmt::format("variant {} is {} only; {} runs as {}", choice.Name(),
                                   choice.backward ? "backward" : "forward", OpName(p.norm, p.dir),
                                   backward ? "backward or backward-tuned"
                                            : "inference, training or their -tuned forms"));
  }

  // Returns false for an unknown variant; sets *choice. The default is
  // backward for a backward problem, else inference unless the problem asks
  // for mean/rstd, which only training outputs.
  static bool ParseVariant(const std::string& variant, const Problem& problem,
                           VariantChoice* choice) {
    if (variant.empty()) {
      if (problem.dir == Direction::kBackward) {
        *choice = {false, false, true};
      } else {
        *choice = {problem.stats, false};
      }
      return true;
    }
    for (const VariantChoice c : {VariantChoice{false, false}, VariantChoice{true, false},
                                  VariantChoice{false, true}, VariantChoice{true, true},
                                  VariantChoice{false, false, true},
                                  VariantChoice{false, true, true}}) {
      if (variant == c.Name()) {
        *choice = c;
        return true;
      }
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Backend> MakeCudnnBackend() { return std::make_unique<CudnnBackend>(); }

}  // namespace lnbench
