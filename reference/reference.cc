#include "reference/reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

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
  if (y == nullptr) {
    // Statistics only (ForwardStatistics).
  } else if (gamma != nullptr && beta != nullptr) {
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
  if (y == nullptr) {
    // Statistics only (ForwardStatistics).
  } else if (gamma != nullptr) {
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

// The mean x_j - mean is exact in a double for f32 inputs within 2^29 of each
// other; xhat carries one rounding, gd = g dy none (a product of two floats is
// exact in a double). a and b are pairwise sums (leaves of 32), so dx is within
// a few eps_f64 of the exact value relative to rstd (|gd_j| + mean|gd| +
// |xhat_j| mean|gd xhat|) (tests/reference_mpfr_test.cc).
void LayerNormBackwardReferenceRow(const double* x, const double* dy, int64_t cols,
                                   const float* gamma, double mean, double rstd, double* dx,
                                   double* dgamma_part, double* dbeta_part) {
  const double h = static_cast<double>(cols);
  const auto g = [gamma](int64_t j) { return gamma ? static_cast<double>(gamma[j]) : 1.0; };
  const auto xhat = [&](int64_t j) { return (x[j] - mean) * rstd; };
  const double a = PairwiseSum([&](int64_t j) { return g(j) * dy[j]; }, 0, cols) / h;
  const double b = PairwiseSum([&](int64_t j) { return g(j) * dy[j] * xhat(j); }, 0, cols) / h;
  for (int64_t j = 0; j < cols; ++j) {
    const double xh = xhat(j);
    dx[j] = rstd * ((g(j) * dy[j] - a) - xh * b);
    if (dgamma_part != nullptr) dgamma_part[j] += dy[j] * xh;
    if (dbeta_part != nullptr) dbeta_part[j] += dy[j];
  }
}

void RmsNormBackwardReferenceRow(const double* x, const double* dy, int64_t cols,
                                 const float* gamma, double rrms, double* dx, double* dgamma_part) {
  const double h = static_cast<double>(cols);
  const auto g = [gamma](int64_t j) { return gamma ? static_cast<double>(gamma[j]) : 1.0; };
  const double b = PairwiseSum([&](int64_t j) { return g(j) * dy[j] * (x[j] * rrms); }, 0, cols) / h;
  for (int64_t j = 0; j < cols; ++j) {
    const double xh = x[j] * rrms;
    dx[j] = rrms * (g(j) * dy[j] - xh * b);
    if (dgamma_part != nullptr) dgamma_part[j] += dy[j] * xh;
  }
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

void ForwardStatistics(const Problem& problem, const void* x, float* mean, float* rstd,
                       ThreadPool& pool) {
  const int64_t cols = problem.cols;
  if (problem.norm == Norm::kRmsNorm) {
    ForEachRow(problem, x, pool, [&](int64_t r, const auto& load) {
      double rs = 0;
      RmsNormRowImpl(load, cols, nullptr, problem.eps, nullptr, &rs);
      rstd[r] = static_cast<float>(rs);
    });
    return;
  }
  ForEachRow(problem, x, pool, [&](int64_t r, const auto& load) {
    double m = 0, rs = 0;
    ReferenceRowImpl(load, cols, nullptr, nullptr, problem.eps, nullptr, &m, &rs);
    mean[r] = static_cast<float>(m);
    rstd[r] = static_cast<float>(rs);
  });
}

void BackwardRows(const Problem& problem, const void* x, const void* dy, int64_t width,
                  double* out, ThreadPool& pool,
                  const std::function<void(int64_t, const double*, const double*, double*)>& row) {
  const int64_t rows = problem.rows, cols = problem.cols;
  const int64_t blocks = (rows + kBackwardRowLeaf - 1) / kBackwardRowLeaf;
  std::fill(out, out + width, 0.0);
  if (blocks == 0) return;
  const size_t w = static_cast<size_t>(width);
  std::vector<double> partials(static_cast<size_t>(blocks) * w, 0.0);
  pool.ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    std::vector<double> xr(static_cast<size_t>(cols)), dyr(static_cast<size_t>(cols));
    for (int64_t b = b0; b < b1; ++b) {
      double* part = partials.data() + static_cast<size_t>(b) * w;
      const int64_t r_end = std::min(rows, (b + 1) * kBackwardRowLeaf);
      for (int64_t r = b * kBackwardRowLeaf; r < r_end; ++r) {
        const size_t off = static_cast<size_t>(r) * static_cast<size_t>(cols);
        for (int64_t j = 0; j < cols; ++j) {
          xr[j] = LoadAsDouble(problem.dtype, x, off + j);
          dyr[j] = LoadAsDouble(problem.dtype, dy, off + j);
        }
        row(r, xr.data(), dyr.data(), part);
      }
    }
  });
  // A pairwise tree over the blocks, level by level: block b absorbs block
  // b + step. The tree depends on the block count only.
  for (int64_t step = 1; step < blocks; step *= 2) {
    const int64_t pairs = (blocks + 2 * step - 1) / (2 * step);
    pool.ParallelFor(pairs, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p * 2 * step;
        if (b + step >= blocks) continue;
        double* dst = partials.data() + static_cast<size_t>(b) * w;
        const double* src = partials.data() + static_cast<size_t>(b + step) * w;
        for (size_t j = 0; j < w; ++j) dst[j] += src[j];
      }
    });
  }
  std::copy(partials.begin(), partials.begin() + width, out);
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
