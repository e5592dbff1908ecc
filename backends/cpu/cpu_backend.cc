#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/cpu_memory.h"
#include "core/errors.h"

namespace lnbench {

CpuCase::CpuCase(const Problem& problem, const HostTensors& inputs, int threads,
                 std::string variant)
    : problem_(problem),
      inputs_(inputs),
      pool_(&SharedThreadPool(threads)),
      variant_(std::move(variant)),
      output_specs_(OpFor(problem).TensorsOf(problem, TensorRole::kOutput)) {
  for (const TensorSpec& t : output_specs_) {
    HostBuffer& b = buffers_[static_cast<size_t>(t.id)];
    b = HostBuffer(TensorBytes(problem, t.extent));
    outputs_.set(t.id, b.data());
  }
}

void CpuCase::Poison() {
  for (const TensorSpec& t : output_specs_)
    FillPoisonHost(TensorDType(problem_, t.extent), outputs_.get(t.id),
                   TensorElements(problem_, t.extent), *pool_);
}

int64_t BalancedGrainRows(uint64_t row_bytes) {
  const uint64_t rows = std::max<uint64_t>(1, (kBalancedChunkMinBytes + row_bytes - 1) /
                                                  std::max<uint64_t>(row_bytes, 1));
  return static_cast<int64_t>((rows + kBalancedChunkRowMultiple - 1) / kBalancedChunkRowMultiple *
                              kBalancedChunkRowMultiple);
}

void CpuCase::set_balanced_rows(bool on) {
  const uint64_t row_bytes = static_cast<uint64_t>(problem_.cols) * DTypeSize(problem_.dtype);
  balanced_grain_rows_ = on ? BalancedGrainRows(row_bytes) : 0;
}

void CpuCase::Run() {
  if (balanced_grain_rows_ > 0 && pool_->threads() > 1) {
    pool_->ParallelForChunks(problem_.rows, balanced_grain_rows_,
                             [this](int64_t, int64_t b, int64_t e) { ComputeRows(b, e); });
    return;
  }
  pool_->ParallelFor(problem_.rows, [this](int64_t b, int64_t e) { ComputeRows(b, e); });
}

void CpuCase::Download(const HostTensors& out) {
  for (const TensorSpec& t : output_specs_) {
    const size_t esize = DTypeSize(TensorDType(problem_, t.extent));
    const int64_t n = TensorElements(problem_, t.extent);
    uint8_t* dst = out.get<uint8_t>(t.id);
    const uint8_t* src = outputs_.get<const uint8_t>(t.id);
    // n == 0: the buffers are empty (nullptr), and memcpy from nullptr is UB.
    if (dst == nullptr || n == 0) continue;
    pool_->ParallelFor(n, [&](int64_t b, int64_t e) {
      std::memcpy(dst + b * esize, src + b * esize, (e - b) * esize);
    });
  }
}

double CpuCase::TimeBatch(int batch, bool cold) {
  if (cold) {
    FlushCpuCaches();
    batch = 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batch; ++i) Run();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

std::map<std::string, std::string> CpuCase::Details() const {
  std::map<std::string, std::string> details = {{"threads", std::to_string(pool_->threads())}};
  if (balanced_grain_rows_ > 0 && pool_->threads() > 1) details["row_split"] = "balanced chunks";
  return details;
}

std::map<std::string, std::string> CpuBackend::DeviceInfo() const {
  return {{"cpu", CpuModelName()}, {"hardware_threads", std::to_string(HardwareThreads())}};
}

namespace {

// Test hook of the warnings' end-to-end tests: LNBENCH_TEST_CEILING_JITTER=F
// (1 to 1000) makes two ceiling samples in three F times slower: a synthetic
// noisy and low ceiling (its median is a slowed sample), such as a busy
// machine measures. Returns 1 when unset.
double CeilingJitterFromEnvironment() {
  const char* env = std::getenv("LNBENCH_TEST_CEILING_JITTER");
  if (env == nullptr) return 1;
  char* end = nullptr;
  const double factor = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(factor >= 1 && factor <= 1000))
    throw UsageError(std::string("LNBENCH_TEST_CEILING_JITTER must be a number from 1 to 1000, got '") + env +
                     "'");
  return factor;
}

// Returns sample i of a ceiling's method as LNBENCH_TEST_CEILING_JITTER
// leaves it: two samples in three `jitter` times slower.
double Jittered(double seconds, uint64_t i, double jitter) {
  return i % 3 != 0 ? seconds * jitter : seconds;
}

// Whether a ceiling of `bytes` (read + written) times a streaming copy beside
// memcpy: beyond the cache, where a streaming copy can beat memcpy (which may
// still read every destination line first); the runner takes the faster.
bool CeilingStreams(uint64_t bytes) { return bytes / 2 > LastLevelCacheBytes(); }

}  // namespace

std::vector<CeilingMeasurement> CpuBackend::MeasureCeiling(uint64_t bytes, int threads,
                                                           int min_samples, double time_budget_s) {
  std::vector<CeilingMeasurement> out = {MeasureCpuCopy(bytes, threads, min_samples, time_budget_s)};
  if (CeilingStreams(bytes))
    out.push_back(MeasureCpuCopy(bytes, threads, min_samples, time_budget_s, /*streaming=*/true));
  if (const double jitter = CeilingJitterFromEnvironment(); jitter != 1)
    for (CeilingMeasurement& m : out)
      for (size_t i = 0; i < m.seconds.size(); ++i) m.seconds[i] = Jittered(m.seconds[i], i, jitter);
  return out;
}

namespace {

// memcpy, and beyond the last-level cache a streaming copy too, as
// MeasureCeiling, from one pair of buffers.
class CpuCopySampler : public CopySampler {
 public:
  CpuCopySampler(uint64_t bytes, int threads)
      : copy_(bytes, threads),
        streaming_(CeilingStreams(bytes)),
        jitter_(CeilingJitterFromEnvironment()) {}
  std::vector<std::string> Methods() const override {
    if (streaming_) return {"memcpy", "stream_copy"};
    return {"memcpy"};
  }
  uint64_t BytesPerCopy() const override { return copy_.bytes_per_copy(); }
  bool InCache() const override { return !streaming_; }
  double Time(size_t method) override {
    const bool streaming = method == 1;
    if (!streaming_) copy_.Time(streaming);  // warm: timed hot, as back to back
    const double s = copy_.Time(streaming);
    return Jittered(s, samples_[method]++, jitter_);
  }

 private:
  CpuCopy copy_;
  bool streaming_;
  double jitter_;
  uint64_t samples_[2] = {0, 0};
};

}  // namespace

std::unique_ptr<CopySampler> CpuBackend::PrepareCopySampler(uint64_t bytes, int threads) {
  return std::make_unique<CpuCopySampler>(bytes, threads);
}

}  // namespace lnbench
