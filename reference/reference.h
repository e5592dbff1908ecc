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
#include <functional>

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

// Computes one LayerNorm backward row in float64 (g = gamma, or 1 when gamma
// is nullptr; mean and rstd are the forward's saved statistics, taken as
// exact): xhat_j = (x_j - mean) rstd, gd_j = g_j dy_j, a = sum gd / H,
// b = sum gd xhat / H (pairwise sums), dx_j = rstd (gd_j - a - xhat_j b).
// Adds dy_j xhat_j to dgamma_part[j] and dy_j to dbeta_part[j] (each nullable).
void LayerNormBackwardReferenceRow(const double* x, const double* dy, int64_t cols,
                                   const float* gamma, double mean, double rstd, double* dx,
                                   double* dgamma_part, double* dbeta_part);

// Computes one RMSNorm backward row in float64: xhat_j = x_j rrms,
// gd_j = g_j dy_j, b = sum gd xhat / H, dx_j = rrms (gd_j - xhat_j b). Adds
// dy_j xhat_j to dgamma_part[j] (nullable).
void RmsNormBackwardReferenceRow(const double* x, const double* dy, int64_t cols,
                                 const float* gamma, double rrms, double* dx, double* dgamma_part);

// Writes the forward statistics of every row of x as a forward pass saves them
// for the backward: the float64 reference rounded to f32 (round to nearest).
// LayerNorm: mean and rstd; RMSNorm: rrms into `rstd` (`mean` unused, may be
// nullptr). Rows with NaN or Inf give the forward reference's values (NaN,
// or rrms 0 for an RMSNorm row with an infinity and no NaN).
void ForwardStatistics(const Problem& problem, const void* x, float* mean, float* rstd,
                       ThreadPool& pool);

// Rows summed in one float64 chain at the leaves of the backward references'
// pairwise sums over rows (dgamma, dbeta).
inline constexpr int64_t kBackwardRowLeaf = 16;

// Calls row(r, x_r, dy_r, partial) for every row r, with row r of x and dy
// (problem.dtype) as doubles and `partial` a zeroed array of `width` doubles
// shared by the rows of one fixed block of kBackwardRowLeaf rows, into which
// `row` adds its per-column terms. Writes into out[width] the pairwise sum of
// the blocks' partials (a fixed tree over blocks: the same result for any
// thread count; out is 0 when there are no rows). Rows run in parallel.
void BackwardRows(const Problem& problem, const void* x, const void* dy, int64_t width,
                  double* out, ThreadPool& pool,
                  const std::function<void(int64_t, const double*, const double*, double*)>& row);

// The float64 reference of a problem, computed once and shared by all
// backends: one buffer of doubles per tensor of the op's ReferenceTensors().
struct Reference {
  std::array<HostBuffer, kTensorCount> tensors;
  // Op-private doubles its ErrorScales reads besides the tensors (the
  // backward ops' per-row and per-column magnitudes); empty for most ops.
  HostBuffer aux;
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
