// Shared base for CPU backends: a CPU backend only writes its row kernel.
// Threads split rows through the shared pool; timing uses the host clock;
// the ceiling is memcpy on the same threads.
#ifndef LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_
#define LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_

#include <array>
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
  CpuCase(const Problem& problem, const HostTensors& inputs, int threads, std::string variant);

  std::string ResolvedVariant() const override { return variant_; }
  void Poison() override;
  void Run() override;
  void Download(const HostTensors& outputs) override;
  double TimeBatch(int batch, bool cold) override;
  std::map<std::string, std::string> Details() const override;

  // Whether Run() splits rows over threads in balanced chunks
  // (ThreadPool::ParallelForChunks) instead of one contiguous share per
  // thread; off by default. Only for kernels whose rows are independent.
  void set_balanced_rows(bool on);
  // The grain of the balanced chunks, in rows (BalancedGrainRows of the
  // problem's row), fixed by set_balanced_rows; 0 when rows are split
  // statically.
  int64_t balanced_grain_rows() const { return balanced_grain_rows_; }

 protected:
  // Computes rows [begin, end): reads inputs(), writes the output() tensors.
  virtual void ComputeRows(int64_t begin, int64_t end) = 0;

  const Problem& problem() const { return problem_; }
  const HostTensors& inputs() const { return inputs_; }
  // Returns the case's buffer of output tensor `id`, nullptr when it is not
  // an output of the problem.
  template <class T = void>
  T* output(TensorId id) const {
    return outputs_.get<T>(id);
  }

 private:
  Problem problem_;
  HostTensors inputs_;
  ThreadPool* pool_;
  int64_t balanced_grain_rows_ = 0;
  std::string variant_;
  std::vector<TensorSpec> output_specs_;
  std::array<HostBuffer, kTensorCount> buffers_;
  HostTensors outputs_;
};

// The least input a balanced chunk of rows covers (CpuCase::set_balanced_rows),
// so that a cache-sized problem still goes in a few chunks and a claim costs
// nothing next to its rows; and the multiple of rows every chunk but the last
// is, so that kernels taking rows in groups (of 4 or 8) get whole groups.
inline constexpr uint64_t kBalancedChunkMinBytes = 64 * 1024;
inline constexpr uint64_t kBalancedChunkRowMultiple = 8;

// Returns the grain, in rows of `row_bytes` each, of CpuCase's balanced chunks:
// at least kBalancedChunkMinBytes, a multiple of kBalancedChunkRowMultiple.
int64_t BalancedGrainRows(uint64_t row_bytes);

// A CPU backend: device "cpu", memcpy ceiling.
class CpuBackend : public Backend {
 public:
  std::string DeviceId() const override { return "cpu"; }
  std::map<std::string, std::string> DeviceInfo() const override;
  std::vector<CeilingMeasurement> MeasureCeiling(uint64_t bytes, int threads, int min_samples,
                                                 double time_budget_s) override;
  std::unique_ptr<CopySampler> PrepareCopySampler(uint64_t bytes, int threads) override;
};

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CPU_CPU_BACKEND_H_
