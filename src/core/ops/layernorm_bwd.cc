// LayerNorm backward: from x, dy, gamma and the forward's saved mean and rstd,
// dx = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)) per row, xhat =
// (x - mean) rstd, and over rows dgamma = sum dy xhat, dbeta = sum dy
// (gamma present, i.e. affine). docs/verification.md, "Backward", derives
// the bounds.
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

class LayerNormBackward : public OpDescriptor {
 public:
  Norm norm() const override { return Norm::kLayerNorm; }
  Direction dir() const override { return Direction::kBackward; }

  std::vector<TensorSpec> Tensors(const Problem& p) const override {
    std::vector<TensorSpec> t = {{TensorId::kX, TensorRole::kInput, Extent::kRowsCols}};
    if (p.affine) t.push_back({TensorId::kGamma, TensorRole::kInput, Extent::kCols});
    t.push_back({TensorId::kDy, TensorRole::kInput, Extent::kRowsCols});
    t.push_back({TensorId::kMean, TensorRole::kInput, Extent::kRows});
    t.push_back({TensorId::kRstd, TensorRole::kInput, Extent::kRows});
    t.push_back({TensorId::kDx, TensorRole::kOutput, Extent::kRowsCols});
    if (p.affine) {
      t.push_back({TensorId::kDgamma, TensorRole::kOutput, Extent::kCols});
      t.push_back({TensorId::kDbeta, TensorRole::kOutput, Extent::kCols});
    }
    return t;
  }

  std::vector<TensorSpec> ReferenceTensors(const Problem&) const override {
    return {{TensorId::kDx, TensorRole::kOutput, Extent::kRowsCols},
            {TensorId::kDgamma, TensorRole::kOutput, Extent::kCols},
            {TensorId::kDbeta, TensorRole::kOutput, Extent::kCols}};
  }

  std::string_view BytesModelText() const override {
    return "read = 2*N*H*sizeof(dtype) + 2*N*4 + (affine ? H*4 : 0); "
           "written = N*H*sizeof(dtype) + (affine ? 2*H*4 : 0)";
  }

  // Inputs: backward_common.h; mean and rstd as the forward saved them.
  void GenerateInputs(const Problem& p, const HostTensors& in, ThreadPool& pool) const override {
    GenerateBackwardInputs(p, in, in.get<float>(TensorId::kMean), pool);
  }

  InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, const HostTensors& in,
                                ThreadPool& pool) const override {
    return FillBackwardFromFiles(
        files, p, in, in.get<float>(TensorId::kMean),
        "--beta: the backward pass has no beta input (give --gamma, --dy)", pool);
  }

  // The reference, and the magnitudes the bounds scale with (Reference::aux):
  // per row A = mean|g dy| and B = mean|g dy xhat|, per column sum|dy xhat|
  // and sum|dy| over rows.
  void ComputeReference(const Problem& p, const HostTensors& in, Reference& ref,
                        ThreadPool& pool) const override {
    const int64_t rows = p.rows, cols = p.cols;
    const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
    const float* mean = in.get<const float>(TensorId::kMean);
    const float* rstd = in.get<const float>(TensorId::kRstd);
    double* dx = ref.data(TensorId::kDx);
    ref.aux = HostBuffer(static_cast<size_t>(2 * rows + 2 * cols) * sizeof(double));
    double* row_mag = ref.aux.as<double>();
    std::vector<double> sums(static_cast<size_t>(4 * cols));
    BackwardRows(p, in.get(TensorId::kX), in.get(TensorId::kDy), 4 * cols, sums.data(), pool,
                 [&](int64_t r, const double* x, const double* dy, double* part) {
                   const double m = mean[r], rs = rstd[r];
                   LayerNormBackwardReferenceRow(x, dy, cols, gamma, m, rs, dx + r * cols, part,
                                                 part + cols);
                   double a = 0, b = 0;
                   for (int64_t j = 0; j < cols; ++j) {
                     const double g = gamma ? std::fabs(static_cast<double>(gamma[j])) : 1.0;
                     const double t = std::fabs(dy[j] * (x[j] - m) * rs);
                     a += g * std::fabs(dy[j]);
                     b += g * t;
                     part[2 * cols + j] += t;
                     part[3 * cols + j] += std::fabs(dy[j]);
                   }
                   row_mag[2 * r] = a / static_cast<double>(cols);
                   row_mag[2 * r + 1] = b / static_cast<double>(cols);
                 });
    std::copy(sums.begin(), sums.begin() + cols, ref.data(TensorId::kDgamma));
    std::copy(sums.begin() + cols, sums.begin() + 2 * cols, ref.data(TensorId::kDbeta));
    std::copy(sums.begin() + 2 * cols, sums.end(), row_mag + 2 * rows);
  }

  void ErrorScales(const Problem& p, TensorId id, const HostTensors& in, const Reference& ref,
                   int64_t begin, int64_t end, double* scale) const override {
    const double* row_mag = ref.aux.as<double>();
    const double* col_mag = row_mag + 2 * p.rows;
    switch (id) {
      case TensorId::kDx: {
        // rstd (|g_j dy_j| + A + |xhat_j| B): the sizes of the three terms of
        // dx before they cancel. Each f32 step is off relative to one of
        // them; the sums a and b by their depth times A and B; a step whose
        // result is subnormal by an absolute 2^-150 (kF32MinNormal).
        const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
        const float* mean = in.get<const float>(TensorId::kMean);
        const float* rstd = in.get<const float>(TensorId::kRstd);
        const void* x = in.get(TensorId::kX);
        const void* dy = in.get(TensorId::kDy);
        const int64_t cols = p.cols;
        ForRowSpans(begin, end, cols, [&](int64_t row, int64_t col, int64_t i0, int64_t i1) {
          const double rs = rstd[row], m = mean[row];
          const double a = row_mag[2 * row], b = row_mag[2 * row + 1];
          for (int64_t i = i0; i < i1; ++i, ++col) {
            const double xhat = (LoadAsDouble(p.dtype, x, i) - m) * rs;
            const double g = gamma ? std::fabs(static_cast<double>(gamma[col])) : 1.0;
            scale[i - begin] = std::fabs(rs) * (g * std::fabs(LoadAsDouble(p.dtype, dy, i)) + a +
                                                std::fabs(xhat) * b + kF32MinNormal);
          }
        });
        return;
      }
      case TensorId::kDgamma:
        ColumnSumScales(p, col_mag, begin, end, scale);
        return;
      case TensorId::kDbeta:
        ColumnSumScales(p, col_mag + p.cols, begin, end, scale);
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

const OpDescriptor& LayerNormBackwardOp() {
  static const LayerNormBackward op;
  return op;
}

}  // namespace lnbench
