// The scalar backend: plain portable C++, one row at a time, two passes with
// double accumulators. It is the baseline every other backend is compared with,
// so it favours obvious correctness over speed.
#include <cmath>
#include <memory>

#include "backends/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/errors.h"

namespace lnbench {
namespace {

// Loads element i of a row of `dtype` as float.
inline float LoadElement(DType dtype, const void* row, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(row)[i];
    case DType::kBF16: return BF16ToFloat(static_cast<const uint16_t*>(row)[i]);
    case DType::kF16: return F16ToFloat(static_cast<const uint16_t*>(row)[i]);
  }
  return 0;
}

inline void StoreElement(DType dtype, void* row, int64_t i, float v) {
  switch (dtype) {
    case DType::kF32: static_cast<float*>(row)[i] = v; break;
    case DType::kBF16: static_cast<uint16_t*>(row)[i] = FloatToBF16(v); break;
    case DType::kF16: static_cast<uint16_t*>(row)[i] = FloatToF16(v); break;
  }
}

class ScalarCase : public CpuCase {
 public:
  using CpuCase::CpuCase;

 protected:
  void ComputeRows(int64_t begin, int64_t end) override {
    const Problem& p = problem();
    const int64_t cols = p.cols;
    const size_t esize = DTypeSize(p.dtype);
    const float* gamma = inputs().get<const float>(TensorId::kGamma);
    const float* beta = inputs().get<const float>(TensorId::kBeta);
    float* mean = output<float>(TensorId::kMean);
    float* rstd = output<float>(TensorId::kRstd);
    for (int64_t r = begin; r < end; ++r) {
      const void* x = inputs().get<const uint8_t>(TensorId::kX) + r * cols * esize;
      void* y = output<uint8_t>(TensorId::kY) + r * cols * esize;
      // Pass 1: the mean. Double accumulation keeps 1e6-offset rows exact enough.
      double sum = 0;
      for (int64_t i = 0; i < cols; ++i) sum += LoadElement(p.dtype, x, i);
      const double mu = sum / static_cast<double>(cols);
      // Pass 2: the variance around that mean (never E[x^2] - E[x]^2).
      double sq = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const double d = LoadElement(p.dtype, x, i) - mu;
        sq += d * d;
      }
      const double var = sq / static_cast<double>(cols);
      const double rs = 1.0 / std::sqrt(var + p.eps);
      for (int64_t i = 0; i < cols; ++i) {
        double v = (LoadElement(p.dtype, x, i) - mu) * rs;
        if (p.affine) v = v * gamma[i] + beta[i];
        StoreElement(p.dtype, y, i, static_cast<float>(v));
      }
      if (p.stats) {
        mean[r] = static_cast<float>(mu);
        rstd[r] = static_cast<float>(rs);
      }
    }
  }
};

// RMSNorm forward: the sum of squares in double, rrms = 1/sqrt(ms + eps),
// y = x * rrms * gamma.
class ScalarRmsCase : public CpuCase {
 public:
  using CpuCase::CpuCase;

 protected:
  void ComputeRows(int64_t begin, int64_t end) override {
    const Problem& p = problem();
    const int64_t cols = p.cols;
    const size_t esize = DTypeSize(p.dtype);
    const float* gamma = inputs().get<const float>(TensorId::kGamma);
    float* rrms_out = output<float>(TensorId::kRstd);
    for (int64_t r = begin; r < end; ++r) {
      const void* x = inputs().get<const uint8_t>(TensorId::kX) + r * cols * esize;
      void* y = output<uint8_t>(TensorId::kY) + r * cols * esize;
      double sq = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const double v = LoadElement(p.dtype, x, i);
        sq += v * v;
      }
      const double rs = 1.0 / std::sqrt(sq / static_cast<double>(cols) + p.eps);
      for (int64_t i = 0; i < cols; ++i) {
        double v = LoadElement(p.dtype, x, i) * rs;
        if (p.affine) v = v * gamma[i];
        StoreElement(p.dtype, y, i, static_cast<float>(v));
      }
      if (p.stats) rrms_out[r] = static_cast<float>(rs);
    }
  }
};

class ScalarBackend : public CpuBackend {
 public:
  std::string Name() const override { return "scalar"; }
  std::string Description() const override {
    return "portable C++, two passes per row, double accumulators (the baseline)";
  }
  Verdict Available() const override { return Verdict::Yes(); }
  std::vector<VariantInfo> Variants() const override {
    return {{"twopass",
             "mean, then variance around the mean, then normalize (rmsnorm: sum of squares, then "
             "normalize)"}};
  }
  Verdict Supports(const Problem& problem, const CaseOptions&) const override {
    if (problem.dir != Direction::kForward)
      return Verdict::No(OpName(problem.norm, problem.dir) + ": not implemented by scalar");
    return Verdict::Yes();
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    if (!options.variant.empty() && options.variant != "twopass")
      throw UsageError("scalar: unknown variant '" + options.variant + "' (have: twopass)");
    if (problem.norm == Norm::kRmsNorm)
      return std::make_unique<ScalarRmsCase>(problem, inputs, options.threads, "twopass");
    return std::make_unique<ScalarCase>(problem, inputs, options.threads, "twopass");
  }
};

}  // namespace

std::unique_ptr<Backend> MakeScalarBackend() { return std::make_unique<ScalarBackend>(); }

}  // namespace lnbench
