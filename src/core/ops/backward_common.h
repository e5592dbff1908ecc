// Steps the two backward ops share (layernorm_bwd.cc, rmsnorm_bwd.cc): how
// their inputs are made, and how their per-column sums are judged.
#ifndef LNBENCH_CORE_OPS_BACKWARD_COMMON_H_
#define LNBENCH_CORE_OPS_BACKWARD_COMMON_H_

#include <cstdint>
#include <string_view>

#include "core/input_files.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"

namespace lnbench {

// x and gamma as for the forward pass of the seed, dy from its own generator,
// then the statistics as the forward saves them: mean (nullptr for RMSNorm,
// which has none) and rstd (rrms for RMSNorm).
void GenerateBackwardInputs(const Problem& p, const HostTensors& in, float* mean,
                            ThreadPool& pool);

// x (and gamma) from the files, dy from --dy or else from the seed, the
// statistics computed from x as GenerateBackwardInputs does. A --beta file is
// a usage error, `beta_error` its message.
InputFileCounts FillBackwardFromFiles(const InputFiles& files, const Problem& p,
                                      const HostTensors& in, float* mean,
                                      std::string_view beta_error, ThreadPool& pool);

// The error scales of a per-column sum over rows (dgamma, dbeta) for columns
// [begin, end): `column_magnitude[c]` = sum over rows of |term|, as a sum's
// error is its depth times that, plus N x kF32MinNormal (each term may be a
// subnormal step, ops.h). NaN where that is not finite (a row without finite
// statistics: any non-finite value is right there).
void ColumnSumScales(const Problem& p, const double* column_magnitude, int64_t begin, int64_t end,
                     double* scale);

// docs/verification.md, "Backward": dx's row sums are judged like the
// forward's, over H; dgamma/dbeta are sums over N rows, judged the same way
// over N (a tree, or blocked partials combined in a tree).
double BackwardEpsUnits(const Problem& p, Extent extent);

}  // namespace lnbench

#endif  // LNBENCH_CORE_OPS_BACKWARD_COMMON_H_
