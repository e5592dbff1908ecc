#include "core/input_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/errors.h"
#include "core/npy.h"
#include "core/runner.h"

namespace lnbench {

InputFiles LoadInputFiles(const std::string& x_path, const std::string& gamma_path,
                          const std::string& beta_path) {
  InputFiles f;
  NpyArray x = ReadNpyMatrix(x_path);
  f.rows = x.shape[0];
  f.cols = x.shape[1];
  f.x = std::move(x.data);
  for (int64_t r = 0; r < f.rows; ++r) {
    const double* row = f.x.data() + r * f.cols;
    f.nonfinite_rows += std::any_of(row, row + f.cols, [](double v) { return !std::isfinite(v); });
  }
  if (!gamma_path.empty()) f.gamma = ReadNpyVector(gamma_path, f.cols).data;
  if (!beta_path.empty()) f.beta = ReadNpyVector(beta_path, f.cols).data;
  return f;
}

InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, void* x, float* gamma,
                              float* beta, ThreadPool& pool) {
  // A finite value that rounds to an infinity in the dtype (1e39 in f32,
  // 70000 in f16) would otherwise pass unnoticed into the run.
  std::atomic<int64_t> overflowed{0};
  pool.ParallelFor(p.elements(), [&](int64_t b, int64_t e) {
    int64_t local = 0;
    for (int64_t i = b; i < e; ++i) {
      const double v = files.x[i];
      StoreFromDouble(p.dtype, x, i, v);
      local += std::isfinite(v) && !std::isfinite(LoadAsDouble(p.dtype, x, i));
    }
    overflowed += local;
  });
  InputFileCounts counts;
  counts.nonfinite_rows = files.nonfinite_rows;
  counts.overflowed_values = overflowed.load();
  if (!p.affine) return counts;
  // Missing gamma/beta mean the identity: gamma 1, beta 0. Values are rounded
  // to the dtype's precision, as every backend may hold them in that dtype.
  const auto store = [&](const std::vector<double>& values, float fallback, int64_t i) {
    if (values.empty()) return fallback;
    const double v = values[i];
    const float f = static_cast<float>(RoundToDType(v, p.dtype));
    counts.overflowed_values += std::isfinite(v) && !std::isfinite(f);
    return f;
  };
  for (int64_t i = 0; i < p.cols; ++i) {
    gamma[i] = store(files.gamma, 1.0f, i);
    beta[i] = store(files.beta, 0.0f, i);
  }
  return counts;
}

std::string ProblemTag(const Problem& p) {
  return fmt::format("{}x{}_{}_{}_aff{}_st{}_seed{}", p.rows, p.cols, DTypeName(p.dtype),
                     DistributionName(p.dist), p.affine ? 1 : 0, p.stats ? 1 : 0, p.seed);
}

void DumpProblem(const std::string& dir, const Problem& p, const HostInputs& in,
                 const Reference& ref) {
  const std::string base = dir + "/" + ProblemTag(p) + "_";
  const std::vector<int64_t> matrix = {p.rows, p.cols};
  WriteNpy(base + "x.npy", matrix, NpyElementOf(p.dtype), in.x);
  if (p.affine) {
    WriteNpy(base + "gamma.npy", {p.cols}, NpyElement::kF32, in.gamma);
    WriteNpy(base + "beta.npy", {p.cols}, NpyElement::kF32, in.beta);
  }
  WriteNpy(base + "ref_y.npy", matrix, NpyElement::kF64, ref.y_data());
  WriteNpy(base + "ref_mean.npy", {p.rows}, NpyElement::kF64, ref.mean_data());
  WriteNpy(base + "ref_rstd.npy", {p.rows}, NpyElement::kF64, ref.rstd_data());
}

void DumpOutputs(const std::string& dir, const CaseResult& r, const HostOutputs& out) {
  const Problem& p = r.problem;
  std::string base = dir + "/" + ProblemTag(p) + "_" + r.backend + "_" + r.variant;
  if (r.device == "cpu") base += fmt::format("_t{}", r.threads);
  base += "_";
  WriteNpy(base + "y.npy", {p.rows, p.cols}, NpyElementOf(p.dtype), out.y);
  if (p.stats && out.mean != nullptr) {
    WriteNpy(base + "mean.npy", {p.rows}, NpyElement::kF32, out.mean);
    WriteNpy(base + "rstd.npy", {p.rows}, NpyElement::kF32, out.rstd);
  }
}

}  // namespace lnbench
