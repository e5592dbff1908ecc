// The scalar backend: plain portable C++, one row at a time, two passes with
// double accumulators. It is the baseline every other backend is compared with,
// so it favours obvious correctness over speed. Its backward passes compute in
// f32, as the other backends' must, with blocked sums.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/thread_pool.h"

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


// ---- Backward (f32 arithmetic) ----------------------------------------------

// Elements (or rows) summed in one f32 chain before chains are combined
// pairwise: the sum's rounding depth is at most kChain + log2(n / kChain).
constexpr int64_t kChain = 64;

// Returns the sum of f(i) for i in [begin, end): f32 chains of kChain terms,
// combined pairwise.
template <class F>
float BlockedSum(const F& f, int64_t begin, int64_t end) {
  if (end - begin <= kChain) {
    float s = 0;
    for (int64_t i = begin; i < end; ++i) s += f(i);
    return s;
  }
  const int64_t blocks = (end - begin + kChain - 1) / kChain;
  const int64_t mid = begin + blocks / 2 * kChain;
  return BlockedSum(f, begin, mid) + BlockedSum(f, mid, end);
}

// Adds term(r, c) over rows [r0, r1) into out[c - c0] for columns [c0, c1)
// the same way: f32 chains of kChain rows, combined pairwise. The tree
// depends only on the row count, so the result is the same for any thread
// count. `scratch` holds (levels + 1) * (c1 - c0) floats.
template <class Term>
void BlockedColumnSums(const Term& term, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                       float* out, float* scratch) {
  const int64_t width = c1 - c0;
  if (r1 - r0 <= kChain) {
    std::fill(out, out + width, 0.0f);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) out[c - c0] += term(r, c);
    return;
  }
  const int64_t blocks = (r1 - r0 + kChain - 1) / kChain;
  const int64_t mid = r0 + blocks / 2 * kChain;
  BlockedColumnSums(term, r0, mid, c0, c1, out, scratch);
  BlockedColumnSums(term, mid, r1, c0, c1, scratch, scratch + width);
  for (int64_t c = 0; c < width; ++c) out[c] += scratch[c];
}

// Returns the levels of BlockedColumnSums's recursion over `rows` rows.
int64_t ColumnSumLevels(int64_t rows) {
  int64_t levels = 0;
  for (int64_t blocks = (rows + kChain - 1) / kChain; blocks > 1; blocks = (blocks + 1) / 2) ++levels;
  return levels + 1;
}

// LayerNorm and RMSNorm backward. dx per row (rows split over threads):
// xhat = (x - mean) rstd, gd = g dy, a = sum gd / H, b = sum gd xhat / H,
// dx = rstd (gd - a - xhat b) (RMSNorm: no mean, no a). Then dgamma =
// sum_rows dy xhat and dbeta = sum_rows dy, columns split over threads.
class ScalarBackwardCase : public CpuCase {
 public:
  ScalarBackwardCase(const Problem& problem, const HostTensors& inputs, int threads,
                     std::string variant)
      : CpuCase(problem, inputs, threads, std::move(variant)), pool_(&SharedThreadPool(threads)) {}

  void Run() override {
    CpuCase::Run();  // dx, row by row
    if (problem().affine) ColumnSums();
  }

 protected:
  void ComputeRows(int64_t begin, int64_t end) override {
    const Problem& p = problem();
    const bool layernorm = p.norm == Norm::kLayerNorm;
    const int64_t cols = p.cols;
    const size_t esize = DTypeSize(p.dtype);
    const float* gamma = p.affine ? inputs().get<const float>(TensorId::kGamma) : nullptr;
    const float* mean = layernorm ? inputs().get<const float>(TensorId::kMean) : nullptr;
    const float* rstd = inputs().get<const float>(TensorId::kRstd);
    const float inv_h = 1.0f / static_cast<float>(cols);
    for (int64_t r = begin; r < end; ++r) {
      const void* x = inputs().get<const uint8_t>(TensorId::kX) + r * cols * esize;
      const void* dy = inputs().get<const uint8_t>(TensorId::kDy) + r * cols * esize;
      void* dx = output<uint8_t>(TensorId::kDx) + r * cols * esize;
      const float mu = layernorm ? mean[r] : 0.0f;
      const float rs = rstd[r];
      const auto xhat = [&](int64_t j) { return (LoadElement(p.dtype, x, j) - mu) * rs; };
      const auto gd = [&](int64_t j) {
        const float d = LoadElement(p.dtype, dy, j);
        return gamma ? gamma[j] * d : d;
      };
      const float a = layernorm ? BlockedSum(gd, 0, cols) * inv_h : 0.0f;
      const float b = BlockedSum([&](int64_t j) { return gd(j) * xhat(j); }, 0, cols) * inv_h;
      for (int64_t j = 0; j < cols; ++j)
        StoreElement(p.dtype, dx, j, rs * ((gd(j) - a) - xhat(j) * b));
    }
  }

 private:
  // dgamma (and dbeta) over all rows, in chunks of columns.
  void ColumnSums() {
    const Problem& p = problem();
    const bool layernorm = p.norm == Norm::kLayerNorm;
    const int64_t cols = p.cols, rows = p.rows;
    const float* mean = layernorm ? inputs().get<const float>(TensorId::kMean) : nullptr;
    const float* rstd = inputs().get<const float>(TensorId::kRstd);
    const void* x = inputs().get(TensorId::kX);
    const void* dy = inputs().get(TensorId::kDy);
    float* dgamma = output<float>(TensorId::kDgamma);
    float* dbeta = layernorm ? output<float>(TensorId::kDbeta) : nullptr;
    constexpr int64_t kColChunk = 256;
    const int64_t chunks = (cols + kColChunk - 1) / kColChunk;
    const int64_t levels = ColumnSumLevels(rows);
    pool_->ParallelFor(chunks, [&](int64_t k0, int64_t k1) {
      std::vector<float> scratch(static_cast<size_t>(levels * kColChunk));
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t c0 = k * kColChunk, c1 = std::min(cols, c0 + kColChunk);
        const auto at = [&](int64_t r, int64_t c) { return r * cols + c; };
        BlockedColumnSums(
            [&](int64_t r, int64_t c) {
              const float mu = layernorm ? mean[r] : 0.0f;
              return LoadElement(p.dtype, dy, at(r, c)) *
                     ((LoadElement(p.dtype, x, at(r, c)) - mu) * rstd[r]);
            },
            0, rows, c0, c1, dgamma + c0, scratch.data());
        if (dbeta != nullptr)
          BlockedColumnSums([&](int64_t r, int64_t c) { return LoadElement(p.dtype, dy, at(r, c)); },
                            0, rows, c0, c1, dbeta + c0, scratch.data());
      }
    });
  }

  ThreadPool* pool_;
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
             "normalize); backward in f32: two row sums, then dx; dgamma/dbeta in 64-row chains "
             "summed pairwise"}};
  }
  Verdict Supports(const Problem&, const CaseOptions&) const override { return Verdict::Yes(); }
  // The default shapes have at most 257 rows: one 64-row chain and a few
  // pairwise steps of the backward's dgamma/dbeta. This one has 65 chains.
  std::vector<CoverageCase> CoverageCases() const override {
    return {{"backward dgamma/dbeta over many 64-row chains", 4159, 24, {}, {Direction::kBackward}}};
  }
  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    if (!options.variant.empty() && options.variant != "twopass")
      throw UsageError("scalar: unknown variant '" + options.variant + "' (have: twopass)");
    if (problem.dir == Direction::kBackward)
      return std::make_unique<ScalarBackwardCase>(problem, inputs, options.threads, "twopass");
    if (problem.norm == Norm::kRmsNorm)
      return std::make_unique<ScalarRmsCase>(problem, inputs, options.threads, "twopass");
    return std::make_unique<ScalarCase>(problem, inputs, options.threads, "twopass");
  }
};

}  // namespace

std::unique_ptr<Backend> MakeScalarBackend() { return std::make_unique<ScalarBackend>(); }

}  // namespace lnbench
