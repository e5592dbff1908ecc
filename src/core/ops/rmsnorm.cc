// RMSNorm forward: y = x * rrms * gamma per row, rrms = 1/sqrt(mean(x^2) +
// eps); rrms is the op's one statistic (tensor "rstd"), an output when
// problem.stats. No beta, no mean.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/input_files.h"
#include "core/ops/ops.h"
#include "core/problem.h"
#include "reference/reference.h"

namespace lnbench {
namespace {

class RmsNormForward : public OpDescriptor {
 public:
  Norm norm() const override { return Norm::kRmsNorm; }
  Direction dir() const override { return Direction::kForward; }

  std::vector<TensorSpec> Tensors(const Problem& p) const override {
    std::vector<TensorSpec> t = {{TensorId::kX, TensorRole::kInput, Extent::kRowsCols}};
    if (p.affine) t.push_back({TensorId::kGamma, TensorRole::kInput, Extent::kCols});
    t.push_back({TensorId::kY, TensorRole::kOutput, Extent::kRowsCols});
    if (p.stats) t.push_back({TensorId::kRstd, TensorRole::kOutput, Extent::kRows});
    return t;
  }

  // y's bound needs the row's rrms even when it is not an output.
  std::vector<TensorSpec> ReferenceTensors(const Problem&) const override {
    return {{TensorId::kY, TensorRole::kOutput, Extent::kRowsCols},
            {TensorId::kRstd, TensorRole::kOutput, Extent::kRows}};
  }

  std::string_view BytesModelText() const override {
    return "read = N*H*sizeof(dtype) + (affine ? H*4 : 0); "
           "written = N*H*sizeof(dtype) + (stats ? N*4 : 0)";
  }

  // x as for LayerNorm; gamma the same values LayerNorm gets for the seed.
  void GenerateInputs(const Problem& p, const HostTensors& in, ThreadPool& pool) const override {
    FillInput(p, in.get(TensorId::kX), pool);
    if (p.affine) {
      std::vector<float> unused_beta(static_cast<size_t>(p.cols));
      FillAffine(p, in.get<float>(TensorId::kGamma), unused_beta.data());
    }
  }

  InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, const HostTensors& in,
                                ThreadPool& pool) const override {
    if (!files.beta.empty()) throw UsageError("--beta: rmsnorm has no beta (give only --gamma)");
    return lnbench::FillFromFiles(files, p, in.get(TensorId::kX), in.get<float>(TensorId::kGamma),
                                  nullptr, pool);
  }

  void ComputeReference(const Problem& p, const HostTensors& in, Reference& ref,
                        ThreadPool& pool) const override {
    RmsNormReference(p, in.get(TensorId::kX), in.get<float>(TensorId::kGamma),
                     ref.data(TensorId::kY), ref.data(TensorId::kRstd), pool);
  }

  void ErrorScales(const Problem& p, TensorId id, const HostTensors& in, const Reference& ref,
                   int64_t begin, int64_t end, double* scale) const override {
    const double* rrms = ref.data(TensorId::kRstd);
    if (id == TensorId::kY) {
      // |gamma| |x| rrms = |y| before rounding: every f32 step of the kernel
      // (the squares' sum through rrms, then two products) is off by a
      // relative amount, so the error scales with the output itself
      // (docs/verification.md, "RMSNorm"); plus the floor of subnormal steps
      // (kF32MinNormal).
      const float* gamma = p.affine ? in.get<const float>(TensorId::kGamma) : nullptr;
      const void* x = in.get(TensorId::kX);
      const int64_t cols = p.cols;
      ForRowSpans(begin, end, cols, [&](int64_t row, int64_t col, int64_t i0, int64_t i1) {
        const double r = rrms[row];
        for (int64_t i = i0; i < i1; ++i, ++col) {
          const double g = gamma ? std::fabs(static_cast<double>(gamma[col])) : 1.0;
          scale[i - begin] = g * std::fabs(LoadAsDouble(p.dtype, x, i)) * r + kF32MinNormal;
        }
      });
      return;
    }
    for (int64_t r = begin; r < end; ++r) {
      // A row with a NaN has no finite rrms: any non-finite value is right
      // there. (An infinity makes rrms exactly 0, which a kernel must match.)
      const bool finite = std::isfinite(rrms[r]);
      scale[r - begin] = finite ? std::fabs(rrms[r]) : std::nan("");
    }
  }

  double ComputeEpsUnits(const Problem& p, Extent) const override {
    // The LayerNorm allowance (docs/verification.md): the sum of squares is
    // one sum of positive terms, rrms and y a few more roundings.
    return SumEpsUnits(p.cols);
  }
};

}  // namespace

const OpDescriptor& RmsNormForwardOp() {
  static const RmsNormForward op;
  return op;
}

}  // namespace lnbench
