// CUDA plugins (LNB_DEVICE_CUDA): device tensors, the case's stream, CUDA-event
// timing, device poison and the device copy ceiling, all from the shared CUDA
// helpers the built-in cuda and cudnn backends use. Compiled in CUDA builds only.
//
// Guards on the GPU: every tensor is followed (in the worker also preceded)
// by kCanaryBytes of canary bytes (cudaMemset), read back after each
// verification run; inputs are read back and compared with lnbench's host copy.
//
// Two places run these cases. By default an exec'd worker process
// (app/plugin_worker.h: a CUDA context does not survive fork(), exec does):
// CudaWorkerEngine owns the device side there and exchanges tensors with
// lnbench through shared memory. With --plugin-isolation none, CudaPluginCase
// runs them in lnbench's own process.
//
// Untested on a GPU in this project's CI (no GPU there): compiled only.
#include "app/plugin_cuda.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_device.h"
#include "core/errors.h"

namespace lnbench {

namespace {

constexpr size_t kCanaryBytes = 256;
constexpr uint8_t kCanary = 0xA7;

class CudaPluginCase : public PreparedCase {
 public:
  CudaPluginCase(const lnb_backend* b, std::string name, const Problem& p, const lnb_problem& cproblem,
                 std::string variant, std::vector<PluginTensor> tensors, double timeout_s)
      : problem_(p), b_(b), name_(std::move(name)), cproblem_(cproblem), variant_(std::move(variant)),
        tensors_(std::move(tensors)), timeout_s_(timeout_s) {
    for (const PluginTensor& t : tensors_) {
      buffers_.emplace_back(t.bytes + kCanaryBytes);
      uint8_t* d = buffers_.back().as<uint8_t>();
      LNBENCH_CUDA_CALL(cudaMemset(d + t.bytes, kCanary, kCanaryBytes));
      if (!t.is_output && t.bytes > 0) LNBENCH_CUDA_CALL(cudaMemcpy(d, t.host_input, t.bytes, cudaMemcpyHostToDevice));
      c_tensors_[t.id] = {d, t.rows, t.cols, t.dtype, t.is_output ? 1u : 0u};
    }
    char reason[480] = {};
    int rc = 0;
    {
      const InProcessCall in_call(name_, "prepare", timeout_s_);
      rc = b_->prepare(b_->user, &cproblem_, variant_.c_str(), c_tensors_, &state_, reason, sizeof reason);
    }
    if (rc != 0)
      throw RuntimeError(fmt::format("{}: prepare failed: {}", name_, std::string(reason, strnlen(reason, sizeof reason))));
  }
  ~CudaPluginCase() override {
    if (state_ != nullptr) {
      const InProcessCall in_call(name_, "release", timeout_s_);
      b_->release(state_);
    }
  }
  void Release() override {
    void* state = state_;
    state_ = nullptr;
    if (state != nullptr) {
      const InProcessCall in_call(name_, "release", timeout_s_);
      b_->release(state);
    }
    // An error release() left on the device is the case's.
    LNBENCH_CUDA_CALL(cudaDeviceSynchronize());
    LNBENCH_CUDA_CHECK_LAUNCH();
  }

  std::string ResolvedVariant() const override { return variant_; }
  void Poison() override {
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].is_output)
        FillPoison(buffers_[i].data(), tensors_[i].lnbench_dtype, tensors_[i].rows * tensors_[i].cols, stream_.get());
    stream_.Synchronize();
  }
  void Run() override {
    CallRun();
    stream_.Synchronize();
    LNBENCH_CUDA_CHECK_LAUNCH();
    CheckGuards();
  }
  void Download(const HostTensors& out) override {
    const std::vector<PluginTensor> now = BindPluginTensors(problem(), nullptr, &out);
    for (size_t i = 0; i < now.size(); ++i)
      if (now[i].is_output && now[i].host_output != nullptr && now[i].bytes > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(now[i].host_output, buffers_[i].data(), now[i].bytes, cudaMemcpyDeviceToHost));
  }
  double TimeBatch(int batch, bool cold) override {
    if (cold) {
      flusher_.Flush(stream_.get());
      batch = 1;
    }
    // No held stream: a foreign run() may wait for its stream.
    const InProcessCall in_call(name_, "a timed batch", timeout_s_);
    timer_.Start(stream_.get());
    for (int i = 0; i < batch; ++i) CallRunInBatch();
    timer_.Stop(stream_.get());
    return timer_.Seconds();
  }
  void ReplaceInputs(const HostTensors& inputs) override {
    const std::vector<PluginTensor> now = BindPluginTensors(problem(), &inputs, nullptr);
    for (size_t i = 0; i < now.size(); ++i) {
      tensors_[i].host_input = now[i].host_input;
      if (!now[i].is_output && now[i].bytes > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(buffers_[i].data(), now[i].host_input, now[i].bytes, cudaMemcpyHostToDevice));
    }
  }
  std::map<std::string, std::string> Details() const override {
    return {{"isolation", "none (--plugin-isolation none)"}};
  }

 private:
  const Problem& problem() const { return problem_; }

  // One call of run() (a timed batch makes one InProcessCall of all its calls).
  void CallRun() {
    const InProcessCall in_call(name_, "run", timeout_s_);
    CallRunInBatch();
  }
  void CallRunInBatch() {
    char reason[480] = {};
    if (b_->run(state_, c_tensors_, stream_.get(), reason, sizeof reason) != 0)
      throw RuntimeError(fmt::format("{}: run failed: {}", name_, std::string(reason, strnlen(reason, sizeof reason))));
  }

  void CheckGuards() const {
    std::vector<uint8_t> host;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const PluginTensor& t = tensors_[i];
      uint8_t canary[kCanaryBytes];
      LNBENCH_CUDA_CALL(cudaMemcpy(canary, buffers_[i].as<uint8_t>() + t.bytes, kCanaryBytes, cudaMemcpyDeviceToHost));
      for (size_t k = 0; k < kCanaryBytes; ++k)
        if (canary[k] != kCanary)
          throw GuardViolation(fmt::format("{}: out-of-bounds write: {}: written past its end of {} bytes (byte {} after it)",
                                           name_, t.name, t.bytes, k));
      if (t.is_output || t.bytes == 0) continue;
      host.resize(t.bytes);
      LNBENCH_CUDA_CALL(cudaMemcpy(host.data(), buffers_[i].data(), t.bytes, cudaMemcpyDeviceToHost));
      if (std::memcmp(host.data(), t.host_input, t.bytes) != 0)
        throw GuardViolation(fmt::format("{}: the kernel changed its input {} (inputs must not be written)", name_, t.name));
    }
  }

  Problem problem_;
  const lnb_backend* b_;
  std::string name_;
  lnb_problem cproblem_;
  std::string variant_;
  std::vector<PluginTensor> tensors_;
  double timeout_s_;  // of each call into the plugin (InProcessCall)
  std::vector<DeviceBuffer> buffers_;
  lnb_tensor c_tensors_[LNB_TENSOR_COUNT] = {};
  CudaStream stream_;
  CudaEventTimer timer_;
  L2Flusher flusher_;
  void* state_ = nullptr;
};

// Makes `device` current before anything else of the engine touches CUDA.
struct CurrentDevice {
  explicit CurrentDevice(int device) { LNBENCH_CUDA_CALL(cudaSetDevice(device)); }
};

class CudaWorkerEngine : public WorkerEngine {
 public:
  CudaWorkerEngine(const lnb_backend* b, const lnb_problem& problem, std::string variant, int device,
                   std::vector<PluginTensor> tensors)
      : device_(device), b_(b), problem_(problem), variant_(std::move(variant)), tensors_(std::move(tensors)) {
    uint64_t total = 0;
    for (const PluginTensor& t : tensors_) total += t.bytes + 2 * kCanaryBytes;
    RequireDeviceMemory(total, b_->name);
    for (const PluginTensor& t : tensors_) {
      buffers_.emplace_back(kCanaryBytes + t.bytes + kCanaryBytes);
      uint8_t* base = buffers_.back().as<uint8_t>();
      LNBENCH_CUDA_CALL(cudaMemset(base, kCanary, kCanaryBytes));
      LNBENCH_CUDA_CALL(cudaMemset(base + kCanaryBytes + t.bytes, kCanary, kCanaryBytes));
      c_tensors_[t.id] = {base + kCanaryBytes, t.rows, t.cols, t.dtype, t.is_output ? 1u : 0u};
    }
    Upload();
  }
  ~CudaWorkerEngine() override { Release(); }

  void Prepare(Reply& r) override {
    if (b_->prepare(b_->user, &problem_, variant_.c_str(), c_tensors_, &state_, r.text, sizeof r.text) != 0)
      r.kind = WorkerReply::kError;
  }
  void Poison() override {
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].is_output)
        FillPoison(Data(i), tensors_[i].lnbench_dtype, tensors_[i].rows * tensors_[i].cols, stream_.get());
    LNBENCH_CUDA_CHECK_LAUNCH();
    stream_.Synchronize();
  }
  // One run, then the guards, then the outputs into the shared memory.
  void Run(Reply& r) override {
    if (!CallRun(r)) return;
    stream_.Synchronize();
    LNBENCH_CUDA_CHECK_LAUNCH();
    CheckGuards(true);
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].is_output && tensors_[i].bytes > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(tensors_[i].host_output, Data(i), tensors_[i].bytes, cudaMemcpyDeviceToHost));
  }
  // CUDA events on the plugin's stream around `batch` run() calls, as
  // CudaPluginCase times them; the canaries are checked afterwards.
  void Time(int batch, bool cold, Reply& r) override {
    if (cold) {
      flusher_.Flush(stream_.get());
      batch = 1;
    }
    // No held stream: a foreign run() may wait for its stream.
    timer_.Start(stream_.get());
    for (int i = 0; i < batch; ++i)
      if (!CallRun(r)) return;
    timer_.Stop(stream_.get());
    r.seconds = timer_.Seconds();
    LNBENCH_CUDA_CHECK_LAUNCH();
    CheckGuards(false);
  }
  void Upload() override {
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (!tensors_[i].is_output && tensors_[i].bytes > 0)
        LNBENCH_CUDA_CALL(cudaMemcpy(Data(i), tensors_[i].host_input, tensors_[i].bytes, cudaMemcpyHostToDevice));
  }
  void Release() override {
    if (state_ != nullptr) b_->release(state_);
    state_ = nullptr;
  }

 private:
  uint8_t* Data(size_t i) const { return buffers_[i].as<uint8_t>() + kCanaryBytes; }

  // Calls run(); false (r: kError with the plugin's reason) when it fails.
  bool CallRun(Reply& r) {
    if (b_->run(state_, c_tensors_, stream_.get(), r.text, sizeof r.text) == 0) return true;
    r.kind = WorkerReply::kError;
    return false;
  }

  // Throws GuardViolation for a changed canary before or after a tensor or,
  // with `inputs`, a changed input.
  void CheckGuards(bool inputs) const {
    std::vector<uint8_t> host;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const PluginTensor& t = tensors_[i];
      uint8_t canary[2][kCanaryBytes];
      LNBENCH_CUDA_CALL(cudaMemcpy(canary[0], buffers_[i].data(), kCanaryBytes, cudaMemcpyDeviceToHost));
      LNBENCH_CUDA_CALL(cudaMemcpy(canary[1], Data(i) + t.bytes, kCanaryBytes, cudaMemcpyDeviceToHost));
      for (size_t k = 0; k < kCanaryBytes; ++k) {
        if (canary[0][k] != kCanary)
          throw GuardViolation(fmt::format("{}: out-of-bounds write: {}: written before its start (byte {} before it)",
                                           b_->name, t.name, kCanaryBytes - k));
        if (canary[1][k] != kCanary)
          throw GuardViolation(fmt::format("{}: out-of-bounds write: {}: written past its end of {} bytes (byte {} after it)",
                                           b_->name, t.name, t.bytes, k));
      }
      if (!inputs || t.is_output || t.bytes == 0) continue;
      host.resize(t.bytes);
      LNBENCH_CUDA_CALL(cudaMemcpy(host.data(), Data(i), t.bytes, cudaMemcpyDeviceToHost));
      if (std::memcmp(host.data(), t.host_input, t.bytes) != 0)
        throw GuardViolation(fmt::format("{}: the kernel changed its input {} (inputs must not be written)", b_->name, t.name));
    }
  }

  CurrentDevice device_;  // first: every member below lives on this device
  const lnb_backend* b_;
  lnb_problem problem_;
  std::string variant_;
  std::vector<PluginTensor> tensors_;
  std::vector<DeviceBuffer> buffers_;
  lnb_tensor c_tensors_[LNB_TENSOR_COUNT] = {};
  CudaStream stream_;
  CudaEventTimer timer_;
  L2Flusher flusher_;
  void* state_ = nullptr;
};

}  // namespace

Verdict CudaPluginAvailable() { return CudaAvailable(); }

std::map<std::string, std::string> CudaPluginDeviceInfo() { return CudaDeviceInfo(); }

std::vector<CeilingMeasurement> CudaPluginCeiling(uint64_t bytes, int min_samples, double time_budget_s) {
  return MeasureCudaCopyCeiling(bytes, min_samples, time_budget_s);
}

std::unique_ptr<PreparedCase> MakeCudaPluginCase(const lnb_backend* b, const std::string& name, const Problem& p,
                                                 const lnb_problem& cproblem, const std::string& variant,
                                                 const HostTensors& inputs, double timeout_s) {
  uint64_t total = 0;
  const std::vector<PluginTensor> tensors = BindPluginTensors(p, &inputs, nullptr);
  for (const PluginTensor& t : tensors) total += t.bytes + kCanaryBytes;
  RequireDeviceMemory(total, name);
  return std::make_unique<CudaPluginCase>(b, name, p, cproblem, variant, tensors, timeout_s);
}

std::unique_ptr<WorkerEngine> MakeCudaWorkerEngine(const lnb_backend* b, const lnb_problem& problem,
                                                   const std::string& variant, int device,
                                                   const std::vector<PluginTensor>& tensors) {
  return std::make_unique<CudaWorkerEngine>(b, problem, variant, device, tensors);
}

}  // namespace lnbench
