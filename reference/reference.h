// The float64 reference. Depends on nothing but the problem model.
//
// Numerically careful: the mean is a pairwise sum of doubles, the variance a
// second pass over (x - mean) with the compensation term of the corrected
// two-pass algorithm, so its error stays within a few float64 ulps of the
// exact result (proven in tests/reference_mpfr_test.cc against MPFR).
#ifndef LNBENCH_REFERENCE_REFERENCE_H_
#define LNBENCH_REFERENCE_REFERENCE_H_

#include <cstdint>

#include "core/host_buffer.h"
#include "core/problem.h"
#include "core/thread_pool.h"

namespace lnbench {

// Computes one row in float64: y[cols], and the row's mean and rstd =
// 1/sqrt(var + eps). x is read as doubles; gamma/beta may be nullptr (no affine).
void ReferenceRow(const double* x, int64_t cols, const float* gamma, const float* beta,
                  double eps, double* y, double* mean, double* rstd);

// The reference outputs of a whole problem, computed once and shared by all backends.
struct Reference {
  HostBuffer y;     // rows*cols doubles
  HostBuffer mean;  // rows doubles
  HostBuffer rstd;  // rows doubles
  const double* y_data() const { return y.as<double>(); }
  const double* mean_data() const { return mean.as<double>(); }
  const double* rstd_data() const { return rstd.as<double>(); }
};

// Computes the reference for `problem` from x (problem.dtype), gamma and beta
// (nullptr when !problem.affine), in parallel over rows.
Reference ComputeReference(const Problem& problem, const void* x, const float* gamma,
                           const float* beta, ThreadPool& pool);

}  // namespace lnbench

#endif  // LNBENCH_REFERENCE_REFERENCE_H_
