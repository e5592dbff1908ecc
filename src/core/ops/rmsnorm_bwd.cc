// RMSNorm backward: from x, dy, gamma and the forward's saved rrms (tensor
// "rstd"), dx = rrms (g dy - xhat mean(g dy xhat)) per row, xhat = x rrms,
// and over rows dgamma = sum dy xhat (gamma present, i.e. affine).
// docs/verification.md, "Backward", derives the bounds.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "core/input_files.h"
#include "core/ops/backward_common.h"
#include "core/ops/ops.h"
#include "core/problem.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

class RmsNormBackward : public OpDescriptor {
 public:
  Norm norm() const override { return Norm::kRmsNorm; }
  Direction dir() const override { return Direction::kBackward; }

  std::vector<TensorSpec> Tensors(const Problem& p) const override {
    std::vector<TensorSpec> t = {{TensorId::kX, TensorRole::kInput, Extent::kRowsCols}};
    if (p.affine) t.push_back({TensorId::kGamma, TensorRole::kInput, Extent::kCols});
    t.push_back({TensorId::kDy, TensorRole::kInput, Extent::kRowsCols});
    t.push_back({TensorId::kRstd, TensorRole::kInput, Extent::kRows});
    t.push_back({TensorId::kDx, TensorRole::kOutput, Extent::kRowsCols});
    if (p.affine) t.push_back({TensorId::kDgamma, TensorRole::kOutput, Extent::kCols});
    return t;
  }

  std::vector<TensorSpec> ReferenceTensors(const Problem&) const override {
    return {{TensorId::kDx, TensorRole::kOutput, Extent::kRowsCols},
            {TensorId::kDgamma, TensorRole::kOutput, Extent::kCols}};
  }

  std::string_view BytesModelText() const override {
    return "read = 2*N*H*sizeof(dtype) + N*4 + (affine ? H*4 : 0); "
           "written = N*H*sizeof(dtype) + (affine ? H*4 : 0)";
  }

  // Inputs: backward_common.h; rrms as the forward saved it (no mean).
  void GenerateInputs(const Problem& p, const HostTensors& in, ThreadPool& pool) const override {
    GenerateBackwardInputs(p, in, nullptr, pool);
  }

  InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, const HostTensors& in,
                                ThreadPool& pool) const override {
    return FillBackwardFromFiles(files, p, in, nullptr,
                                 "--beta: rmsnorm has no beta (give only --gamma)", pool);
  }

  // The reference, and the magnitudes the bounds scale with (Reference::aux):
  // per row B = mean|g dy xhat|, per column sum|dy xhat| over rows.
  void ComputeReference(const Problem& p, const HostTensors& in, Reference& ref,
                        ThreadPool& pool) const override {
    const int64_t rows = p.rows, cols = p.cols;
    const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
    const float* rrms = in.get<const float>(TensorId::kRstd);
    double* dx = ref.data(TensorId::kDx);
    ref.aux = HostBuffer(static_cast<size_t>(rows + cols) * sizeof(double));
    double* row_mag = ref.aux.as<double>();
    std::vector<double> sums(static_cast<size_t>(2 * cols));
    BackwardRows(p, in.get(TensorId::kX), in.get(TensorId::kDy), 2 * cols, sums.data(), pool,
                 [&](int64_t r, const double* x, const double* dy, double* part) {
                   const double rs = rrms[r];
                   RmsNormBackwardReferenceRow(x, dy, cols, gamma, rs, dx + r * cols, part);
                   double b = 0;
                   for (int64_t j = 0; j < cols; ++j) {
                     const double g = gamma ? std::fabs(static_cast<double>(gamma[j])) : 1.0;
                     const double t = std::fabs(dy[j] * x[j] * rs);
                     b += g * t;
                     part[cols + j] += t;
                   }
                   row_mag[r] = b / static_cast<double>(cols);
                 });
    std::copy(sums.begin(), sums.begin() + cols, ref.data(TensorId::kDgamma));
    std::copy(sums.begin() + cols, sums.end(), row_mag + rows);
  }

  void ErrorScales(const Problem& p, TensorId id, const HostTensors& in, const Reference& ref,
                   int64_t begin, int64_t end, double* scale) const override {
    const double* row_mag = ref.aux.as<double>();
    const double* col_mag = row_mag + p.rows;
    switch (id) {
      case TensorId::kDx: {
        // rrms (|g_j dy_j| + |xhat_j| B): the sizes of the two terms of dx
        // before they cancel (LayerNorm's without the mean term), and the
        // floor of subnormal steps (kF32MinNormal).
        const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
        const float* rrms = in.get<const float>(TensorId::kRstd);
        const void* x = in.get(TensorId::kX);
        const void* dy = in.get(TensorId::kDy);
        const int64_t cols = p.cols;
        ForRowSpans(begin, end, cols, [&](int64_t row, int64_t col, int64_t i0, int64_t i1) {
          const double rs = rrms[row], mag = row_mag[row];
          for (int64_t i = i0; i < i1; ++i, ++col) {
            const double xhat = LoadAsDouble(p.dtype, x, i) * rs;
            const double g = gamma ? std::fabs(static_cast<double>(gamma[col])) : 1.0;
            scale[i - begin] = std::fabs(rs) * (g * std::fabs(LoadAsDouble(p.dtype, dy, i)) +
                                                std::fabs(xhat) * mag + kF32MinNormal);
          }
        });
        return;
      }
      case TensorId::kDgamma:  // sum over rows of |dy xhat|
        ColumnSumScales(p, col_mag, begin, end, scale);
        return;
      default:
        std::fill(scale, scale + (end - begin), std::nan(""));
    }
  }

  double ComputeEpsUnits(const Problem& p, Extent extent) const override {
    return BackwardEpsUnits(p, extent);
  }
};

}  // namespace

const OpDescriptor& RmsNormBackwardOp() {
  static const RmsNormBackward op;
  return op;
}

}  // namespace lnbench
