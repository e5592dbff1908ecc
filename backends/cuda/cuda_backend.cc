// The CUDA backend: lnbench's own LayerNorm and RMSNorm kernels on device 0
// (one plan logic and one set of kernels for both, see layernorm_device.cuh;
// the backward ones in backward_device.cuh). Prepare plans the launch
// (layernorm_plan.h, backward_plan.h), checks device memory, allocates the
// buffers and the workspace, and uploads; timing uses CUDA events around the
// kernels only, with batches captured once into a CUDA graph per batch size
// and replayed, and cold samples behind an L2 flush.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "backends/backend.h"
#include "backends/cuda/backward_kernels.h"
#include "backends/cuda/backward_plan.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cuda/layernorm_kernels.h"
#include "backends/cuda/layernorm_plan.h"
#include "core/errors.h"

namespace lnbench {
namespace {

// Graphs kept per case; a case is timed with one or two batch sizes.
constexpr size_t kMaxCachedGraphs = 8;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Returns the plan query for `problem` on device 0, with buffers that
// cudaMalloc aligns (so 16-byte loads depend on cols alone).
PlanQuery QueryFor(const Problem& problem) {
  PlanQuery q;
  q.rows = problem.rows;
  q.cols = problem.cols;
  q.dtype = problem.dtype;
  q.vector_ok = (problem.cols * static_cast<int64_t>(DTypeSize(problem.dtype))) % 16 == 0;
  q.cc_major = CudaDevice().cc_major;
  return q;
}

// Returns 2 for LayerNorm (gamma and beta; mean and rstd), 1 for RMSNorm
// (gamma; rstd): the f32 vectors a problem has per column and per row.
uint64_t VectorsPerSide(const Problem& p) { return p.norm == Norm::kRmsNorm ? 1 : 2; }

// Returns the device bytes a prepared forward case holds, the L2 flush buffer included.
uint64_t DeviceBytesNeeded(const Problem& p, const LaunchPlan& plan) {
  const uint64_t elements = static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols);
  return 2 * elements * DTypeSize(p.dtype) + (p.affine ? VectorsPerSide(p) * p.cols * 4 : 0) +
         (p.stats ? VectorsPerSide(p) * p.rows * 4 : 0) + plan.WorkspaceBytes(p.rows) +
         L2Flusher::FlushBytes();
}

// Returns the device bytes a prepared backward case holds: x, dy, dx; gamma,
// dgamma (and dbeta); mean (LayerNorm) and rstd; the dgamma tree's
// workspace; the L2 flush buffer.
uint64_t BackwardDeviceBytesNeeded(const Problem& p, const BackwardPlan& plan) {
  const uint64_t elements = static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols);
  return 3 * elements * DTypeSize(p.dtype) +
         (p.affine ? (1 + VectorsPerSide(p)) * p.cols * 4 : 0) + VectorsPerSide(p) * p.rows * 4 +
         plan.WorkspaceBytes(p.cols) + L2Flusher::FlushBytes();
}

// The tuning knob of fused backward plans (docs/cuda.md): rows per part,
// "auto" (unset), or "off" for the separate level-0 kernel. Throws
// UsageError on any other value.
constexpr const char* kPartRowsVariable = "LNBENCH_CUDA_BWD_PART_ROWS";
// ... and whether fused kernels prefetch each next row into L2: "on" (unset) or "off".
constexpr const char* kPrefetchVariable = "LNBENCH_CUDA_BWD_PREFETCH";

// Returns the backward plan query for `problem` on device 0 (buffers from
// cudaMalloc: 16-byte loads depend on cols alone).
BackwardQuery BackwardQueryFor(const Problem& problem) {
  BackwardQuery q;
  q.shape = QueryFor(problem);
  q.affine = problem.affine;
  q.param_tensors = problem.norm == Norm::kRmsNorm ? 1 : 2;
  q.part_rows = ParsePartRows(std::getenv(kPartRowsVariable));
  q.prefetch = ParsePrefetch(std::getenv(kPrefetchVariable));
  return q;
}

// Returns whether the kernels compute the problem's op: the forward and the
// backward of layernorm and rmsnorm.
Verdict OpVerdict(const Problem& p) {
  if ((p.norm != Norm::kLayerNorm && p.norm != Norm::kRmsNorm) ||
      (p.dir != Direction::kForward && p.dir != Direction::kBackward))
    return Verdict::No(
        fmt::format("{} {}: not implemented by cuda", NormName(p.norm), DirectionName(p.dir)));
  return Verdict::Yes();
}

// What forward and backward cases share: the stream, the held-stream event
// timer, the graphs of batches, the L2 flush and the transfer figures.
class TimedCudaCase : public PreparedCase {
 public:
  ~TimedCudaCase() override {
    for (auto& [batch, exec] : graphs_) cudaGraphExecDestroy(exec);
  }

  void Run() override {
    Enqueue();
    stream_.Synchronize();
    loaded_ = true;
  }

  double TimeBatch(int batch, bool cold) override {
    // The timer holds the stream while the work is enqueued; a kernel's first
    // launch may load its module lazily, which waits for the stream: load first.
    if (!loaded_) Run();
    if (cold || batch < 1) batch = 1;
    if (cold) flusher_.Flush(stream_.get());  // before the start event: not timed
    if (batch == 1 || LaunchesNothing()) {
      timer_.Start(stream_.get());
      for (int i = 0; i < batch; ++i) Enqueue();
      timer_.Stop(stream_.get());
      return timer_.Seconds();
    }
    cudaGraphExec_t exec = GraphFor(batch);
    timer_.Start(stream_.get());
    LNBENCH_CUDA_CALL(cudaGraphLaunch(exec, stream_.get()));
    timer_.Stop(stream_.get());
    return timer_.Seconds();
  }

 protected:
  // Enqueues the kernels of one run on stream_.
  virtual void Enqueue() = 0;
  // Returns true when a run launches no kernel (nothing to capture in a graph).
  virtual bool LaunchesNothing() const = 0;

  // Returns the details every case reports: launch, timer, transfers, graphs.
  std::map<std::string, std::string> CommonDetails(const std::string& launch) const {
    std::map<std::string, std::string> d = {
        {"launch", launch},
        {"timer",
         "cuda events around the kernels on a held stream (no launch latency); "
         "batch > 1 replays a CUDA graph of the batch"},
        {"upload_s", fmt::format("{:.6g}", upload_s_)},
        {"upload_bytes", std::to_string(upload_bytes_)},
    };
    if (upload_s_ > 0) d["upload_gbps"] = fmt::format("{:.3g}", upload_bytes_ / upload_s_ / 1e9);
    if (download_s_ > 0) {
      d["download_s"] = fmt::format("{:.6g}", download_s_);
      d["download_bytes"] = std::to_string(download_bytes_);
      d["download_gbps"] = fmt::format("{:.3g}", download_bytes_ / download_s_ / 1e9);
    }
    if (!graphs_.empty()) {
      std::string sizes;
      for (const auto& [batch, exec] : graphs_) {
        if (!sizes.empty()) sizes += ',';
        sizes += std::to_string(batch);
      }
      d["graph_batches"] = sizes;
    }
    return d;
  }

  // Enqueues the copy of host `src` into all of `dst` (nothing when it is empty).
  void Upload(const DeviceBuffer& dst, const void* src) {
    if (dst.bytes() == 0) return;
    LNBENCH_CUDA_CALL(
        cudaMemcpyAsync(dst.data(), src, dst.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    upload_bytes_ += dst.bytes();
  }
  // Enqueues the copy of all of `src` to host `dst` (nothing when either is empty).
  void DownloadTo(void* dst, const DeviceBuffer& src) {
    if (src.bytes() == 0 || dst == nullptr) return;
    LNBENCH_CUDA_CALL(
        cudaMemcpyAsync(dst, src.data(), src.bytes(), cudaMemcpyDeviceToHost, stream_.get()));
    download_bytes_ += src.bytes();
  }

  CudaStream stream_;
  // Host copies are timed on the host clock and reported in Details(), never as kernel time.
  double upload_s_ = 0, download_s_ = 0;
  uint64_t upload_bytes_ = 0, download_bytes_ = 0;

 private:
  // Returns the executable graph of `batch` back-to-back launches, captured on first use.
  cudaGraphExec_t GraphFor(int batch) {
    if (auto it = graphs_.find(batch); it != graphs_.end()) return it->second;
    if (graphs_.size() >= kMaxCachedGraphs) {
      for (auto& [b, exec] : graphs_) cudaGraphExecDestroy(exec);
      graphs_.clear();
    }
    cudaGraph_t graph = nullptr;
    LNBENCH_CUDA_CALL(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
    try {
      for (int i = 0; i < batch; ++i) Enqueue();
    } catch (...) {
      cudaStreamEndCapture(stream_.get(), &graph);  // leave the stream usable
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      throw;
    }
    LNBENCH_CUDA_CALL(cudaStreamEndCapture(stream_.get(), &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (err != cudaSuccess) ThrowCudaError(err, "cudaGraphInstantiate", __FILE__, __LINE__);
    graphs_[batch] = exec;
    LNBENCH_CUDA_CALL(cudaGraphUpload(exec, stream_.get()));
    return exec;
  }

  CudaEventTimer timer_{/*hold_stream=*/true};
  L2Flusher flusher_;
  std::map<int, cudaGraphExec_t> graphs_;
  bool loaded_ = false;  // the kernels have run once (lazy module loading done)
};

class CudaCase : public TimedCudaCase {
 public:
  CudaCase(const Problem& problem, const HostTensors& inputs, LaunchPlan plan)
      : problem_(problem), plan_(std::move(plan)) {
    const uint64_t elements =
        static_cast<uint64_t>(problem.rows) * static_cast<uint64_t>(problem.cols);
    const size_t x_bytes = elements * DTypeSize(problem.dtype);
    x_ = DeviceBuffer(x_bytes);
    y_ = DeviceBuffer(x_bytes);
    // RMSNorm has no beta and no mean: those buffers stay empty (null).
    const bool layernorm = problem.norm == Norm::kLayerNorm;
    if (problem.affine) {
      gamma_ = DeviceBuffer(problem.cols * sizeof(float));
      if (layernorm) beta_ = DeviceBuffer(problem.cols * sizeof(float));
    }
    if (problem.stats) {
      if (layernorm) mean_ = DeviceBuffer(problem.rows * sizeof(float));
      rstd_ = DeviceBuffer(problem.rows * sizeof(float));
    }
    workspace_ = DeviceBuffer(plan_.WorkspaceBytes(problem.rows));
    const auto start = std::chrono::steady_clock::now();
    Upload(x_, inputs.get(TensorId::kX));
    Upload(gamma_, inputs.get(TensorId::kGamma));
    Upload(beta_, inputs.get(TensorId::kBeta));
    stream_.Synchronize();
    upload_s_ = SecondsSince(start);
    args_.norm = problem.norm;
    args_.x = x_.data();
    args_.gamma = gamma_.as<float>();
    args_.beta = beta_.as<float>();
    args_.y = y_.data();
    args_.mean = mean_.as<float>();
    args_.rstd = rstd_.as<float>();
    args_.workspace = workspace_.data();
    args_.rows = problem.rows;
    args_.cols = problem.cols;
    args_.eps = static_cast<float>(problem.eps);
  }

  std::string ResolvedVariant() const override { return plan_.variant; }

  void Poison() override {
    FillPoison(y_.data(), problem_.dtype, static_cast<uint64_t>(problem_.elements()),
               stream_.get());
    if (problem_.stats) {
      if (problem_.norm == Norm::kLayerNorm)
        FillPoisonF32(mean_.as<float>(), problem_.rows, stream_.get());
      FillPoisonF32(rstd_.as<float>(), problem_.rows, stream_.get());
    }
    stream_.Synchronize();
  }

  void Download(const HostTensors& out) override {
    const auto start = std::chrono::steady_clock::now();
    download_bytes_ = 0;
    DownloadTo(out.get(TensorId::kY), y_);
    // RMSNorm: rstd only (mean_ is empty; the problem has no mean tensor).
    DownloadTo(out.get(TensorId::kMean), mean_);
    DownloadTo(out.get(TensorId::kRstd), rstd_);
    stream_.Synchronize();
    download_s_ = SecondsSince(start);
  }

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = CommonDetails(plan_.Describe());
    if (plan_.kind == KernelKind::kCluster && max_clusters_ > 0)
      d["max_active_clusters"] = std::to_string(max_clusters_);
    return d;
  }

  void set_max_clusters(int n) { max_clusters_ = n; }

 private:
  void Enqueue() override { LaunchLayerNorm(plan_, problem_.dtype, args_, stream_.get()); }
  bool LaunchesNothing() const override { return problem_.rows == 0; }

  Problem problem_;
  LaunchPlan plan_;
  DeviceBuffer x_, y_, gamma_, beta_, mean_, rstd_, workspace_;
  LayerNormArgs args_;
  int max_clusters_ = 0;
};

// A backward problem: x, dy, gamma, mean (LayerNorm) and rstd in; dx,
// dgamma and dbeta (LayerNorm) out; the dgamma tree's partials in a
// workspace allocated here, outside the timed region.
class CudaBackwardCase : public TimedCudaCase {
 public:
  CudaBackwardCase(const Problem& problem, const HostTensors& inputs, BackwardPlan plan)
      : problem_(problem), plan_(std::move(plan)) {
    const uint64_t elements =
        static_cast<uint64_t>(problem.rows) * static_cast<uint64_t>(problem.cols);
    const size_t x_bytes = elements * DTypeSize(problem.dtype);
    const bool layernorm = problem.norm == Norm::kLayerNorm;
    x_ = DeviceBuffer(x_bytes);
    dy_ = DeviceBuffer(x_bytes);
    dx_ = DeviceBuffer(x_bytes);
    if (problem.affine) {
      gamma_ = DeviceBuffer(problem.cols * sizeof(float));
      dgamma_ = DeviceBuffer(problem.cols * sizeof(float));
      if (layernorm) dbeta_ = DeviceBuffer(problem.cols * sizeof(float));
    }
    if (layernorm) mean_ = DeviceBuffer(problem.rows * sizeof(float));
    rstd_ = DeviceBuffer(problem.rows * sizeof(float));
    workspace_ = DeviceBuffer(plan_.WorkspaceBytes(problem.cols));
    const auto start = std::chrono::steady_clock::now();
    Upload(x_, inputs.get(TensorId::kX));
    Upload(dy_, inputs.get(TensorId::kDy));
    Upload(gamma_, inputs.get(TensorId::kGamma));
    Upload(mean_, inputs.get(TensorId::kMean));
    Upload(rstd_, inputs.get(TensorId::kRstd));
    stream_.Synchronize();
    upload_s_ = SecondsSince(start);
    args_.norm = problem.norm;
    args_.x = x_.data();
    args_.dy = dy_.data();
    args_.gamma = gamma_.as<float>();
    args_.mean = mean_.as<float>();
    args_.rstd = rstd_.as<float>();
    args_.dx = dx_.data();
    args_.dgamma = dgamma_.as<float>();
    args_.dbeta = dbeta_.as<float>();
    args_.workspace = workspace_.data();
    args_.rows = problem.rows;
    args_.cols = problem.cols;
  }

  std::string ResolvedVariant() const override { return plan_.variant; }

  void Poison() override {
    FillPoison(dx_.data(), problem_.dtype, static_cast<uint64_t>(problem_.elements()),
               stream_.get());
    if (dgamma_.bytes() > 0) FillPoisonF32(dgamma_.as<float>(), problem_.cols, stream_.get());
    if (dbeta_.bytes() > 0) FillPoisonF32(dbeta_.as<float>(), problem_.cols, stream_.get());
    stream_.Synchronize();
  }

  void Download(const HostTensors& out) override {
    const auto start = std::chrono::steady_clock::now();
    download_bytes_ = 0;
    DownloadTo(out.get(TensorId::kDx), dx_);
    DownloadTo(out.get(TensorId::kDgamma), dgamma_);
    DownloadTo(out.get(TensorId::kDbeta), dbeta_);
    stream_.Synchronize();
    download_s_ = SecondsSince(start);
  }

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = CommonDetails(plan_.Describe());
    d["workspace_bytes"] = std::to_string(workspace_.bytes());
    for (const char* name : {kPartRowsVariable, kPrefetchVariable})
      if (const char* knob = std::getenv(name); knob != nullptr && *knob != '\0')
        d["tuning"] += fmt::format("{}{}={}", d["tuning"].empty() ? "" : " ", name, knob);
    return d;
  }

 private:
  void Enqueue() override { LaunchNormBackward(plan_, problem_.dtype, args_, stream_.get()); }
  // Zero rows still write dgamma and dbeta (zeros: a sum over no rows).
  bool LaunchesNothing() const override { return problem_.rows == 0 && !problem_.affine; }

  Problem problem_;
  BackwardPlan plan_;
  DeviceBuffer x_, dy_, dx_, gamma_, dgamma_, dbeta_, mean_, rstd_, workspace_;
  NormBackwardArgs args_;
};

class CudaBackend : public Backend {
 public:
  std::string Name() const override { return "cuda"; }
  std::string Description() const override {
    return "lnbench's CUDA kernels (layernorm, rmsnorm; fwd, bwd): warp, block, cluster (sm_90) "
           "and split-row per row, f32 math, 16-byte loads";
  }
  std::string DeviceId() const override { return CudaDeviceId(); }
  std::map<std::string, std::string> DeviceInfo() const override { return CudaDeviceInfo(); }
  Verdict Available() const override { return CudaAvailable(); }

  std::vector<VariantInfo> Variants() const override {
    std::vector<VariantInfo> out;
    for (const CudaVariant& v : CudaVariants()) out.push_back({v.name, v.description});
    return out;
  }

  // The same cases reach the same paths for both norms (one plan logic): the
  // runner runs them for every op it runs.
  std::vector<CoverageCase> CoverageCases() const override { return CudaCoverageCases(); }

  // Both norms forward (every variant plans them alike) and backward (auto,
  // warp, block; cluster and splitrow are forward only).
  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (Verdict v = OpVerdict(problem); !v.ok) return v;
    if (Verdict v = CudaAvailable(); !v.ok) return v;
    if (problem.dir == Direction::kBackward)
      return PlanBackward(options.variant, BackwardQueryFor(problem)).verdict;
    return PlanLayerNorm(options.variant, QueryFor(problem)).verdict;
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    // An op the kernels do not compute is the user's request.
    if (Verdict v = OpVerdict(problem); !v.ok) throw UsageError("cuda: " + v.reason);
    if (Verdict v = CudaAvailable(); !v.ok) throw RuntimeError("cuda: " + v.reason);
    if (problem.dir == Direction::kBackward) return PrepareBackward(problem, inputs, options);
    // An unknown variant or a problem the variant cannot run is the user's request.
    PlanResult r = PlanLayerNorm(options.variant, QueryFor(problem));
    if (!r.verdict.ok) throw UsageError("cuda: " + r.verdict.reason);
    int max_clusters = 0;
    if (r.plan.kind == KernelKind::kCluster && problem.rows > 0) {
      max_clusters = MaxActiveClusters(r.plan, problem.dtype, problem.norm);
      if (max_clusters == 0) {
        if (options.variant == "cluster")
          throw RuntimeError(
              fmt::format("cuda: clusters of {} blocks of {} threads cannot be "
                          "scheduled on {}",
                          r.plan.blocks_per_row, r.plan.threads, CudaDevice().name));
        r = PlanLayerNorm("splitrow", QueryFor(problem));  // auto: the always-schedulable path
      }
    }
    RequireDeviceMemory(DeviceBytesNeeded(problem, r.plan),
                        fmt::format("cuda: {}", problem.ShortName()));
    auto prepared = std::make_unique<CudaCase>(problem, inputs, r.plan);
    prepared->set_max_clusters(max_clusters);
    return prepared;
  }

  std::unique_ptr<PreparedCase> PrepareBackward(const Problem& problem, const HostTensors& inputs,
                                                const CaseOptions& options) {
    BackwardPlanResult r = PlanBackward(options.variant, BackwardQueryFor(problem));
    if (!r.verdict.ok) throw UsageError("cuda: " + r.verdict.reason);
    RequireDeviceMemory(BackwardDeviceBytesNeeded(problem, r.plan),
                        fmt::format("cuda: {}", problem.ShortName()));
    return std::make_unique<CudaBackwardCase>(problem, inputs, std::move(r.plan));
  }

  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int /*threads*/, int min_samples,
                                                 double time_budget_s) override {
    if (Verdict v = CudaAvailable(); !v.ok) throw RuntimeError("cuda: " + v.reason);
    return MeasureCudaCopyCeiling(bytes, min_samples, time_budget_s);
  }
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend() { return std::make_unique<CudaBackend>(); }

}  // namespace lnbench
