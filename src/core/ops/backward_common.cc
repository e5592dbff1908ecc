#include "core/ops/backward_common.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/generators.h"
#include "core/ops/ops.h"
#include "reference/reference.h"

namespace lnbench {

void GenerateBackwardInputs(const Problem& p, const HostTensors& in, float* mean,
                            ThreadPool& pool) {
  FillInput(p, in.get(TensorId::kX), pool);
  if (p.affine) {
    std::vector<float> unused_beta(static_cast<size_t>(p.cols));
    FillAffine(p, in.get<float>(TensorId::kGamma), unused_beta.data());
  }
  FillDy(p, in.get(TensorId::kDy), pool);
  ForwardStatistics(p, in.get(TensorId::kX), mean, in.get<float>(TensorId::kRstd), pool);
}

InputFileCounts FillBackwardFromFiles(const InputFiles& files, const Problem& p,
                                      const HostTensors& in, float* mean,
                                      std::string_view beta_error, ThreadPool& pool) {
  if (!files.beta.empty()) throw UsageError(std::string(beta_error));
  const InputFileCounts counts =
      FillFromFiles(files, p, in.get(TensorId::kX), in.get<float>(TensorId::kGamma), nullptr,
                    pool, in.get(TensorId::kDy));
  if (files.dy.empty()) FillDy(p, in.get(TensorId::kDy), pool);
  ForwardStatistics(p, in.get(TensorId::kX), mean, in.get<float>(TensorId::kRstd), pool);
  return counts;
}

void ColumnSumScales(const Problem& p, const double* column_magnitude, int64_t begin, int64_t end,
                     double* scale) {
  // Each of the N terms dy * xhat may be a subnormal step (kF32MinNormal):
  // N x 2^-150 at most, within N x 2^-126 times the units.
  const double floor = static_cast<double>(p.rows) * kF32MinNormal;
  for (int64_t c = begin; c < end; ++c) {
    const double m = column_magnitude[c];
    scale[c - begin] = std::isfinite(m) ? m + floor : std::nan("");
  }
}

double BackwardEpsUnits(const Problem& p, Extent extent) {
  return SumEpsUnits(extent == Extent::kRowsCols ? p.cols : p.rows);
}

}  // namespace lnbench
