// Input generators. Every value is a pure function of (seed, row, column)
// through a counter-based generator, so any row can be regenerated alone and
// filling runs on all cores with the same result for any thread count.
#ifndef LNBENCH_CORE_GENERATORS_H_
#define LNBENCH_CORE_GENERATORS_H_

#include <cstdint>

#include "core/problem.h"
#include "core/thread_pool.h"

namespace lnbench {

// Writes row `row` of the input for `problem` as doubles (already rounded to
// problem.dtype, so storing them is exact). `out` holds problem.cols values.
void GenerateRow(const Problem& problem, int64_t row, double* out);

// Fills x (problem.rows * problem.cols elements of problem.dtype) in parallel.
void FillInput(const Problem& problem, void* x, ThreadPool& pool);

// Fills gamma and beta (problem.cols floats each) with values drawn from the
// seed and rounded to problem.dtype: gamma near 1, beta near 0, both varied so
// that a kernel that swaps or ignores them fails. When !problem.affine, gamma
// is all 1 and beta all 0.
void FillAffine(const Problem& problem, float* gamma, float* beta);

// Writes row `row` of the output gradient dy of a backward problem as doubles
// (rounded to problem.dtype). dy does not depend on the distribution of x:
// dy_j = s_r * N(0,1) * w_j with a per-row scale s_r = 2^k, k uniform in
// [-8, 4] (rows differ by up to 2^12 in size), and per-element weights w_j:
// 1 for most, 2^3 .. 2^8 for 1 in 64 elements, 2^-3 .. 2^-8 for another 1
// in 64 (docs/verification.md, "Inputs"). |N(0,1)| < 8.6 from this
// generator, so |dy| < 8.6 * 2^12 < 65504: finite in f16.
void GenerateDyRow(const Problem& problem, int64_t row, double* out);

// Fills dy (problem.rows * problem.cols elements of problem.dtype) in parallel.
void FillDy(const Problem& problem, void* dy, ThreadPool& pool);

// Returns true when row `row` of a kSpecial problem holds a NaN or an Inf.
bool IsSpecialRow(const Problem& problem, int64_t row);

}  // namespace lnbench

#endif  // LNBENCH_CORE_GENERATORS_H_
