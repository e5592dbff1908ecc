// The CUDA backend: lnbench's own LayerNorm and RMSNorm kernels on device 0
// (one plan logic and one set of kernels for both, see layernorm_device.cuh). Prepare
// plans the launch (layernorm_plan.h), checks device memory, allocates and
// uploads; timing uses CUDA events around the kernels only, with batches
// captured once into a CUDA graph per batch size and replayed, and cold
// samples behind an L2 flush.
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "backends/backend.h"
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

// Returns the device bytes a prepared case holds, the L2 flush buffer included.
uint64_t DeviceBytesNeeded(const Problem& p, const LaunchPlan& plan) {
  const uint64_t elements = static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols);
  return 2 * elements * DTypeSize(p.dtype) + (p.affine ? VectorsPerSide(p) * p.cols * 4 : 0) +
         (p.stats ? VectorsPerSide(p) * p.rows * 4 : 0) + plan.WorkspaceBytes(p.rows) +
         L2Flusher::FlushBytes();
}

// Returns whether the kernels compute the problem's op: the forward of
// layernorm and rmsnorm (no backward kernels yet).
Verdict OpVerdict(const Problem& p) {
  if ((p.norm != Norm::kLayerNorm && p.norm != Norm::kRmsNorm) || p.dir != Direction::kForward)
    return Verdict::No(fmt::format("{} {}: not implemented by cuda (forward kernels only)",
                                   NormName(p.norm), DirectionName(p.dir)));
  return Verdict::Yes();
}

class CudaCase : public PreparedCase {
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
    // Host copies are timed on the host clock and reported in Details(), never as kernel time.
    const auto start = std::chrono::steady_clock::now();
    if (x_bytes > 0)
      LNBENCH_CUDA_CALL(cudaMemcpyAsync(x_.data(), inputs.get(TensorId::kX), x_bytes,
                                        cudaMemcpyHostToDevice, stream_.get()));
    if (problem.affine) {
      LNBENCH_CUDA_CALL(cudaMemcpyAsync(gamma_.data(), inputs.get(TensorId::kGamma),
                                        gamma_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
      if (layernorm)
        LNBENCH_CUDA_CALL(cudaMemcpyAsync(beta_.data(), inputs.get(TensorId::kBeta),
                                          beta_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    }
    stream_.Synchronize();
    upload_s_ = SecondsSince(start);
    upload_bytes_ = x_bytes + gamma_.bytes() + beta_.bytes();
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

  ~CudaCase() override {
    for (auto& [batch, exec] : graphs_) cudaGraphExecDestroy(exec);
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

  void Run() override {
    Enqueue();
    stream_.Synchronize();
    loaded_ = true;
  }

  void Download(const HostTensors& out) override {
    const auto start = std::chrono::steady_clock::now();
    if (y_.bytes() > 0)
      LNBENCH_CUDA_CALL(cudaMemcpyAsync(out.get(TensorId::kY), y_.data(), y_.bytes(),
                                        cudaMemcpyDeviceToHost, stream_.get()));
    // RMSNorm: rstd only (mean_ is empty; the problem has no mean tensor).
    float* out_mean = out.get<float>(TensorId::kMean);
    float* out_rstd = out.get<float>(TensorId::kRstd);
    if (problem_.stats && problem_.rows > 0 && mean_.bytes() > 0 && out_mean != nullptr)
      LNBENCH_CUDA_CALL(cudaMemcpyAsync(out_mean, mean_.data(), mean_.bytes(),
                                        cudaMemcpyDeviceToHost, stream_.get()));
    if (problem_.stats && problem_.rows > 0 && out_rstd != nullptr)
      LNBENCH_CUDA_CALL(cudaMemcpyAsync(out_rstd, rstd_.data(), rstd_.bytes(),
                                        cudaMemcpyDeviceToHost, stream_.get()));
    stream_.Synchronize();
    download_s_ = SecondsSince(start);
    download_bytes_ = y_.bytes() + mean_.bytes() + rstd_.bytes();
  }

  double TimeBatch(int batch, bool cold) override {
    // The timer holds the stream while the work is enqueued; a kernel's first
    // launch may load its module lazily, which waits for the stream: load first.
    if (!loaded_) Run();
    if (cold || batch < 1) batch = 1;
    if (cold) flusher_.Flush(stream_.get());  // before the start event: not timed
    if (batch == 1 || problem_.rows == 0) {
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

  std::map<std::string, std::string> Details() const override {
    std::map<std::string, std::string> d = {
        {"launch", plan_.Describe()},
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
    if (plan_.kind == KernelKind::kCluster && max_clusters_ > 0)
      d["max_active_clusters"] = std::to_string(max_clusters_);
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

  void set_max_clusters(int n) { max_clusters_ = n; }

 private:
  void Enqueue() { LaunchLayerNorm(plan_, problem_.dtype, args_, stream_.get()); }

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

  Problem problem_;
  LaunchPlan plan_;
  CudaStream stream_;
  CudaEventTimer timer_{/*hold_stream=*/true};
  L2Flusher flusher_;
  DeviceBuffer x_, y_, gamma_, beta_, mean_, rstd_, workspace_;
  LayerNormArgs args_;
  std::map<int, cudaGraphExec_t> graphs_;
  double upload_s_ = 0, download_s_ = 0;
  uint64_t upload_bytes_ = 0, download_bytes_ = 0;
  int max_clusters_ = 0;
  bool loaded_ = false;  // the kernels have run once (lazy module loading done)
};

class CudaBackend : public Backend {
 public:
  std::string Name() const override { return "cuda"; }
  std::string Description() const override {
    return "lnbench's CUDA kernels (layernorm, rmsnorm): warp, block, cluster (sm_90) and "
           "split-row per row, f32 math, 16-byte loads";
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

  // Both norms forward: every variant plans them alike.
  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (Verdict v = OpVerdict(problem); !v.ok) return v;
    if (Verdict v = CudaAvailable(); !v.ok) return v;
    return PlanLayerNorm(options.variant, QueryFor(problem)).verdict;
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    // The kernels compute the forward op: another op is the user's request.
    if (Verdict v = OpVerdict(problem); !v.ok) throw UsageError("cuda: " + v.reason);
    if (Verdict v = CudaAvailable(); !v.ok) throw RuntimeError("cuda: " + v.reason);
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

  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int /*threads*/, int min_samples,
                                                 double time_budget_s) override {
    if (Verdict v = CudaAvailable(); !v.ok) throw RuntimeError("cuda: " + v.reason);
    return MeasureCudaCopyCeiling(bytes, min_samples, time_budget_s);
  }
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend() { return std::make_unique<CudaBackend>(); }

}  // namespace lnbench
