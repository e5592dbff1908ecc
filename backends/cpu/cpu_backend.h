// Shared base for CPU backends: a CPU backend only writes its row kernel.
// Threads split rows through the shared pool; timing uses the host clock;
// the ceiling is memcpy on the same threads.
#ifndef LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_
#define LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/host_buffer.h"
#include "core/thread_pool.h"

namespace lnbench {

// A problem prepared on a CPU backend: outputs live in host buffers owned here.
class CpuCase : public PreparedCase {
 public:
  CpuCase(const Problem& problem, const HostInputs& inputs, int threads, std::string variant);

  std::string ResolvedVariant() const override { return variant_; }
  void Poison() override;
  void Run() override;
  void Download(const HostOutputs& out) override;
  double TimeBatch(int batch, bool cold) override;
  std::map<std::string, std::string> Details() const override;

 protected:
  // Computes rows [begin, end): reads inputs(), writes y(), mean(), rstd().
  virtual void ComputeRows(int64_t begin, int64_t end) = 0;

  const Problem& problem() const { return problem_; }
  const HostInputs& inputs() const { return inputs_; }
  void* y() { return y_.data(); }
  float* mean() { return problem_.stats ? mean_.as<float>() : nullptr; }
  float* rstd() { return problem_.stats ? rstd_.as<float>() : nullptr; }

 private:
  Problem problem_;
  HostInputs inputs_;
  ThreadPool* pool_;
  std::string variant_;
  HostBuffer y_, mean_, rstd_;
};

// A CPU backend: device "cpu", memcpy ceiling.
class CpuBackend : public Backend {
 public:
  std::string DeviceId() const override { return "cpu"; }
  std::map<std::string, std::string> DeviceInfo() const override;
  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int threads, int min_samples,
                                                 double time_budget_s) override;
};

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_
