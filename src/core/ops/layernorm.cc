// LayerNorm forward: y = (x - mean) * rstd * gamma + beta per row, rstd =
// 1/sqrt(var + eps); mean and rstd are outputs when problem.stats.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "core/generators.h"
#include "core/input_files.h"
#include "core/ops/ops.h"
#include "core/problem.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

class LayerNormForward : public OpDescriptor {
 public:
  Norm norm() const override { return Norm::kLayerNorm; }
  Direction dir() const override { return Direction::kForward; }

  std::vector<TensorSpec> Tensors(const Problem& p) const override {
    std::vector<TensorSpec> t = {{TensorId::kX, TensorRole::kInput, Extent::kRowsCols}};
    if (p.affine) {
      t.push_back({TensorId::kGamma, TensorRole::kInput, Extent::kCols});
      t.push_back({TensorId::kBeta, TensorRole::kInput, Extent::kCols});
    }
    t.push_back({TensorId::kY, TensorRole::kOutput, Extent::kRowsCols});
    if (p.stats) {
      t.push_back({TensorId::kMean, TensorRole::kOutput, Extent::kRows});
      t.push_back({TensorId::kRstd, TensorRole::kOutput, Extent::kRows});
    }
    return t;
  }

  // y's bound needs the row's mean and rstd even when they are not outputs.
  std::vector<TensorSpec> ReferenceTensors(const Problem&) const override {
    return {{TensorId::kY, TensorRole::kOutput, Extent::kRowsCols},
            {TensorId::kMean, TensorRole::kOutput, Extent::kRows},
            {TensorId::kRstd, TensorRole::kOutput, Extent::kRows}};
  }

  std::string_view BytesModelText() const override {
    return "read = N*H*sizeof(dtype) + (affine ? 2*H*4 : 0); "
           "written = N*H*sizeof(dtype) + (stats ? 2*N*4 : 0)";
  }

  void GenerateInputs(const Problem& p, const HostTensors& in, ThreadPool& pool) const override {
    FillInput(p, in.get(TensorId::kX), pool);
    if (p.affine) FillAffine(p, in.get<float>(TensorId::kGamma), in.get<float>(TensorId::kBeta));
  }

  InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, const HostTensors& in,
                                ThreadPool& pool) const override {
    return lnbench::FillFromFiles(files, p, in.get(TensorId::kX), in.get<float>(TensorId::kGamma),
                                  in.get<float>(TensorId::kBeta), pool);
  }

  void ComputeReference(const Problem& p, const HostTensors& in, Reference& ref,
                        ThreadPool& pool) const override {
    LayerNormReference(p, in.get(TensorId::kX), in.get<float>(TensorId::kGamma),
                       in.get<float>(TensorId::kBeta), ref.data(TensorId::kY),
                       ref.data(TensorId::kMean), ref.data(TensorId::kRstd), pool);
  }

  // Returns row r's variance. From rstd = 1/sqrt(var + eps) where that keeps
  // it (var at least 2^-20 eps: 1/rstd^2 - eps then loses at most 2^-32 of
  // it); below that (rows of N(0,1) * 2^-40 with eps = 1e-5) the subtraction
  // leaves rounding noise of 1/rstd^2, so it is summed from x around the
  // reference mean, in float64.
  static double RowVariance(const Problem& p, const void* x, double mean, double rstd,
                            int64_t r) {
    const double var = 1.0 / (rstd * rstd) - p.eps;
    if (var >= 0x1p-20 * p.eps) return var;
    double m2 = 0;
    for (int64_t i = r * p.cols; i < (r + 1) * p.cols; ++i) {
      const double d = LoadAsDouble(p.dtype, x, i) - mean;
      m2 += d * d;
    }
    return m2 / static_cast<double>(p.cols);
  }

  void ErrorScales(const Problem& p, TensorId id, const HostTensors& in, const Reference& ref,
                   int64_t begin, int64_t end, double* scale) const override {
    const double* mean = ref.data(TensorId::kMean);
    const double* rstd = ref.data(TensorId::kRstd);
    switch (id) {
      case TensorId::kY: {
        // |gamma| (|n| + spread) + |beta|: n = (x - mean) rstd is the
        // normalized value; spread = sigma * rstd = sqrt(var / (var + eps)) is
        // the size in n of an error of the mean relative to the row's spread
        // (1 unless eps dominates the variance). Plus the floor of subnormal
        // steps (kF32MinNormal: gamma near 1e-40 with beta 0).
        const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
        const float* beta = p.affine ? in.get<const float>(TensorId::kBeta) : nullptr;
        const void* x = in.get(TensorId::kX);
        const int64_t cols = p.cols;
        ForRowSpans(begin, end, cols, [&](int64_t row, int64_t col, int64_t i0, int64_t i1) {
          const double m = mean[row], r = rstd[row];
          // var / (var + eps) = 1 - eps rstd^2, which cancels to 0 (or to
          // noise) where eps dominates the variance by 2^20 and more (eps =
          // 1e20 on N(0, 1) rows: 0 instead of 1e-10, and correct kernels
          // failed at 5x the allowance); there sigma rstd from the row.
          const double share = 1.0 - p.eps * r * r;
          const double spread = share >= 0x1p-20 || !std::isfinite(share)
                                    ? std::sqrt(std::max(0.0, share))
                                    : std::sqrt(std::max(0.0, RowVariance(p, x, m, r, row))) * r;
          for (int64_t i = i0; i < i1; ++i, ++col) {
            const double n = (LoadAsDouble(p.dtype, x, i) - m) * r;
            const double g = gamma ? std::fabs(static_cast<double>(gamma[col])) : 1.0;
            const double b = beta ? std::fabs(static_cast<double>(beta[col])) : 0.0;
            scale[i - begin] = g * (std::fabs(n) + spread) + b + kF32MinNormal;
          }
        });
        return;
      }
      case TensorId::kMean:
      case TensorId::kRstd:
        for (int64_t r = begin; r < end; ++r) {
          double& s = scale[r - begin];
          // A row's mean is defined whenever its values are finite, even
          // where rstd is not (a row of equal values with eps = 0: var + eps
          // = 0); such a mean is exact, and its scale is then |mean|.
          if (!std::isfinite(mean[r]) || (id == TensorId::kRstd && !std::isfinite(rstd[r]))) {
            s = std::nan("");
          } else if (id == TensorId::kMean) {
            // A mean computed from values of size |mean| + stddev carries that much rounding.
            s = std::fabs(mean[r]) + std::sqrt(RowVariance(p, in.get(TensorId::kX), mean[r],
                                                           rstd[r], r));
          } else {
            s = std::fabs(rstd[r]);  // relative
          }
        }
        return;
      default:
        std::fill(scale, scale + (end - begin), std::nan(""));
    }
  }

  double ComputeEpsUnits(const Problem& p, Extent) const override {
    // See docs/verification.md for the derivation.
    return SumEpsUnits(p.cols);
  }
};

}  // namespace

const OpDescriptor& LayerNormForwardOp() {
  static const LayerNormForward op;
  return op;
}

}  // namespace lnbench
