// The float64 reference. Depends on nothing but the problem model.
//
// Numerically careful: the mean is a pairwise sum of doubles, the variance a
// second pass over (x - mean) with the compensation term of the corrected
// two-pass algorithm, so its error stays within a few float64 ulps of the
// exact result (proven in tests/reference_mpfr_test.cc against MPFR).
#ifndef LNBENCH_REFERENCE_REFERENCE_H_
#define LNBENCH_REFERENCE_REFERENCE_H_

#include <array>
#include <cstdint>

#include "core/host_buffer.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"

namespace lnbench {

// Computes one row in float64: y[cols], and the row's mean and rstd =
// 1/sqrt(var + eps). x is read as doubles; gamma/beta may be nullptr (no affine).
void ReferenceRow(const double* x, int64_t cols, const float* gamma, const float* beta,
                  double eps, double* y, double* mean, double* rstd);

// Computes one RMSNorm row in float64: y[cols] = x * rrms * gamma and
// rrms = 1/sqrt(mean(x^2) + eps), the mean of squares a pairwise sum of
// exact double squares of the inputs. gamma may be nullptr (no affine).
void RmsNormReferenceRow(const double* x, int64_t cols, const float* gamma, double eps, double* y,
                         double* rrms);

// The float64 reference of a problem, computed once and shared by all
// backends: one buffer of doubles per tensor of the op's ReferenceTensors().
struct Reference {
  std::array<HostBuffer, kTensorCount> tensors;
  bool has(TensorId id) const { return tensors[static_cast<size_t>(id)].bytes() > 0; }
  const double* data(TensorId id) const { return tensors[static_cast<size_t>(id)].as<double>(); }
  double* data(TensorId id) { return tensors[static_cast<size_t>(id)].as<double>(); }
  // The LayerNorm forward tensors, for tests that check them by hand.
  const double* y_data() const { return data(TensorId::kY); }
  const double* mean_data() const { return data(TensorId::kMean); }
  const double* rstd_data() const { return data(TensorId::kRstd); }
};

// Computes the reference of `problem` (OpFor(problem).ComputeReference) from
// its input tensors, in parallel over rows.
Reference ComputeReference(const Problem& problem, const HostTensors& inputs, ThreadPool& pool);
// The same for a LayerNorm or RMSNorm forward problem given x, gamma and beta
// (gamma, beta nullptr when !problem.affine; beta unused by RMSNorm).
Reference ComputeReference(const Problem& problem, const void* x, const float* gamma,
                           const float* beta, ThreadPool& pool);

// The row loops the op files call: LayerNorm forward (y, mean, rstd: rows*cols,
// rows, rows doubles) and RMSNorm forward (y, rrms).
void LayerNormReference(const Problem& problem, const void* x, const float* gamma,
                        const float* beta, double* y, double* mean, double* rstd, ThreadPool& pool);
void RmsNormReference(const Problem& problem, const void* x, const float* gamma, double* y,
                      double* rrms, ThreadPool& pool);

}  // namespace lnbench

#endif  // LNBENCH_REFERENCE_REFERENCE_H_
