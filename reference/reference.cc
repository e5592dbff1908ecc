#include "reference/reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "backends/backend.h"
#include "core/dtype.h"

namespace lnbench {
namespace {

// Elements summed directly (with 4 accumulators) at the leaves of the pairwise
// recursion. Small leaves keep the rounding depth near log2(H) + 4, so the
// error of a sum of n terms stays about (log2(n) + 4) * eps_f64 * sum|terms|.
constexpr int64_t kLeaf = 32;

// Returns the pairwise sum of f(i) for i in [begin, end).
template <class F>
double PairwiseSum(const F& f, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  if (n <= kLeaf) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = begin;
    for (; i + 4 <= end; i += 4) {
      a0 += f(i);
      a1 += f(i + 1);
      a2 += f(i + 2);
      a3 += f(i + 3);
    }
    for (; i < end; ++i) a0 += f(i);
    return (a0 + a1) + (a2 + a3);
  }
  const int64_t mid = begin + (n / 2 + kLeaf - 1) / kLeaf * kLeaf;
  return PairwiseSum(f, begin, mid) + PairwiseSum(f, mid, end);
}

struct SumPair {
  double a = 0, b = 0;
};

// Returns the pairwise sums of d(i) and d(i)^2 for i in [begin, end).
template <class F>
SumPair PairwiseSumAndSquares(const F& d, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  if (n <= kLeaf) {
    double s0 = 0, s1 = 0, q0 = 0, q1 = 0;
    int64_t i = begin;
    for (; i + 2 <= end; i += 2) {
      const double d0 = d(i), d1 = d(i + 1);
      s0 += d0;
      s1 += d1;
      q0 += d0 * d0;
      q1 += d1 * d1;
    }
    if (i < end) {
      const double d0 = d(i);
      s0 += d0;
      q0 += d0 * d0;
    }
    return {s0 + s1, q0 + q1};
  }
  const int64_t mid = begin + (n / 2 + kLeaf - 1) / kLeaf * kLeaf;
  const SumPair l = PairwiseSumAndSquares(d, begin, mid);
  const SumPair r = PairwiseSumAndSquares(d, mid, end);
  return {l.a + r.a, l.b + r.b};
}

// The reference algorithm for one row whose element i is load(i).
//
// 1. m0 = pairwise sum / H. Its error is about log2(H) eps_f64 |mean|, which on
//    1e6-offset rows would already be 1e-10 absolute: too much for an oracle.
// 2. d_i = x_i - m0, summed twice: c = sum d_i (the error of m0, times H) and
//    q = sum d_i^2. For f32 inputs d_i is exact (x_i and m0 agree in their
//    leading bits), so c / H is the true mean's residual to within eps_f64 of c.
// 3. The corrected two-pass formulas: mean = m0 + c/H,
//    var = (q - c^2/H) / H, y_i = (d_i - c/H) * rstd * gamma_i + beta_i.
// The result is within a few eps_f64 of the exact one relative to
// |gamma| (|n| + 1) + |beta| per element (tests/reference_mpfr_test.cc).
template <class Load>
void ReferenceRowImpl(const Load& load, int64_t cols, const float* gamma, const float* beta,
                      double eps, double* y, double* mean, double* rstd) {
  const double h = static_cast<double>(cols);
  const double m0 = PairwiseSum(load, 0, cols) / h;
  const SumPair cq = PairwiseSumAndSquares([&](int64_t i) { return load(i) - m0; }, 0, cols);
  const double corr = cq.a / h;
  double var = (cq.b - cq.a * corr) / h;
  if (var < 0) var = 0;  // only rounding can make it negative; NaN passes through
  const double rs = 1.0 / std::sqrt(var + eps);
  if (gamma != nullptr && beta != nullptr) {
    for (int64_t i = 0; i < cols; ++i)
      y[i] = ((load(i) - m0) - corr) * rs * static_cast<double>(gamma[i]) +
             static_cast<double>(beta[i]);
  } else if (gamma != nullptr) {
    for (int64_t i = 0; i < cols; ++i)
      y[i] = ((load(i) - m0) - corr) * rs * static_cast<double>(gamma[i]);
  } else {
    for (int64_t i = 0; i < cols; ++i) y[i] = ((load(i) - m0) - corr) * rs;
  }
  *mean = m0 + corr;
  *rstd = rs;
}

// The RMSNorm reference for one row: q = pairwise sum of x_i^2 (each square
// exact in a double for f32 inputs: 48 significant bits), ms = q / H,
// rrms = 1/sqrt(ms + eps), y_i = x_i * rrms * gamma_i. Every term is
// positive, so the sum's relative error is at most about (log2(H) + 4) eps_f64
// and rrms is within a few eps_f64 of the exact value, as is every y_i
// relative to |gamma_i x_i| rrms (tests/reference_mpfr_test.cc).
template <class Load>
void RmsNormRowImpl(const Load& load, int64_t cols, const float* gamma, double eps, double* y,
                    double* rrms) {
  const double h = static_cast<double>(cols);
  const double q = PairwiseSum(
      [&](int64_t i) {
        const double v = load(i);
        return v * v;
      },
      0, cols);
  const double rs = 1.0 / std::sqrt(q / h + eps);
  if (gamma != nullptr) {
    for (int64_t i = 0; i < cols; ++i) y[i] = load(i) * rs * static_cast<double>(gamma[i]);
  } else {
    for (int64_t i = 0; i < cols; ++i) y[i] = load(i) * rs;
  }
  *rrms = rs;
}

}  // namespace

void ReferenceRow(const double* x, int64_t cols, const float* gamma, const float* beta, double eps,
                  double* y, double* mean, double* rstd) {
  ReferenceRowImpl([x](int64_t i) { return x[i]; }, cols, gamma, beta, eps, y, mean, rstd);
}

void RmsNormReferenceRow(const double* x, int64_t cols, const float* gamma, double eps, double* y,
                         double* rrms) {
  RmsNormRowImpl([x](int64_t i) { return x[i]; }, cols, gamma, eps, y, rrms);
}

namespace {

// Calls row(r, load) for every row, load(i) returning element i of row r as a
// double, in parallel. Rows are independent: the result does not depend on
// the thread count.
template <class Row>
void ForEachRow(const Problem& problem, const void* x, ThreadPool& pool, const Row& row) {
  const int64_t cols = problem.cols;
  const DType dtype = problem.dtype;
  pool.ParallelFor(problem.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const size_t off = static_cast<size_t>(r) * static_cast<size_t>(cols);
      switch (dtype) {
        case DType::kF32: {
          const float* xr = static_cast<const float*>(x) + off;
          row(r, [xr](int64_t i) { return static_cast<double>(xr[i]); });
          break;
        }
        case DType::kBF16: {
          const uint16_t* xr = static_cast<const uint16_t*>(x) + off;
          row(r, [xr](int64_t i) { return static_cast<double>(BF16ToFloat(xr[i])); });
          break;
        }
        case DType::kF16: {
          const uint16_t* xr = static_cast<const uint16_t*>(x) + off;
          row(r, [xr](int64_t i) { return static_cast<double>(F16ToFloat(xr[i])); });
          break;
        }
      }
    }
  });
}

}  // namespace

void LayerNormReference(const Problem& problem, const void* x, const float* gamma,
                        const float* beta, double* y, double* mean, double* rstd, ThreadPool& pool) {
  if (!problem.affine) gamma = beta = nullptr;
  const int64_t cols = problem.cols;
  ForEachRow(problem, x, pool, [&](int64_t r, const auto& load) {
    ReferenceRowImpl(load, cols, gamma, beta, problem.eps, y + r * cols, mean + r, rstd + r);
  });
}

void RmsNormReference(const Problem& problem, const void* x, const float* gamma, double* y,
                      double* rrms, ThreadPool& pool) {
  if (!problem.affine) gamma = nullptr;
  const int64_t cols = problem.cols;
  ForEachRow(problem, x, pool, [&](int64_t r, const auto& load) {
    RmsNormRowImpl(load, cols, gamma, problem.eps, y + r * cols, rrms + r);
  });
}

Reference ComputeReference(const Problem& problem, const HostTensors& inputs, ThreadPool& pool) {
  const OpDescriptor& op = OpFor(problem);
  Reference ref;
  for (const TensorSpec& t : op.ReferenceTensors(problem)) {
    const int64_t n = TensorElements(problem, t.extent);
    ref.tensors[static_cast<size_t>(t.id)] = HostBuffer(static_cast<size_t>(n) * sizeof(double));
  }
  op.ComputeReference(problem, inputs, ref, pool);
  return ref;
}

Reference ComputeReference(const Problem& problem, const void* x, const float* gamma,
                           const float* beta, ThreadPool& pool) {
  HostTensors in;
  in.set(TensorId::kX, x);
  if (problem.affine) {
    in.set(TensorId::kGamma, gamma);
    if (problem.norm == Norm::kLayerNorm) in.set(TensorId::kBeta, beta);
  }
  return ComputeReference(problem, in, pool);
}

}  // namespace lnbench
