#include "core/input_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/errors.h"
#include "core/npy.h"
#include "core/runner.h"

namespace lnbench {

namespace {

void CheckDyShape(const std::string& dy_path, const std::vector<int64_t>& shape, int64_t rows, int64_t cols) {
  if (shape[0] != rows || shape[1] != cols)
    throw UsageError(fmt::format("--dy {}: shape {}x{} differs from --input {}x{}", dy_path, shape[0], shape[1],
                                 rows, cols));
}

}  // namespace

std::pair<int64_t, int64_t> CheckInputFileHeaders(const std::string& x_path, const std::string& gamma_path,
                                                  const std::string& beta_path, const std::string& dy_path) {
  const NpyHeader x = ReadNpyHeader(x_path);
  CheckNpyMatrixShape(x_path, x.shape);
  if (!gamma_path.empty()) CheckNpyVectorShape(gamma_path, ReadNpyHeader(gamma_path).shape, x.shape[1]);
  if (!beta_path.empty()) CheckNpyVectorShape(beta_path, ReadNpyHeader(beta_path).shape, x.shape[1]);
  if (!dy_path.empty()) {
    const NpyHeader dy = ReadNpyHeader(dy_path);
    CheckNpyMatrixShape(dy_path, dy.shape);
    CheckDyShape(dy_path, dy.shape, x.shape[0], x.shape[1]);
  }
  return {x.shape[0], x.shape[1]};
}

InputFiles LoadInputFiles(const std::string& x_path, const std::string& gamma_path,
                          const std::string& beta_path, const std::string& dy_path) {
  InputFiles f;
  NpyArray x = ReadNpyMatrix(x_path);
  f.rows = x.shape[0];
  f.cols = x.shape[1];
  f.x = std::move(x.data);
  const auto nonfinite_rows = [&f](const std::vector<double>& values) {
    int64_t n = 0;
    for (int64_t r = 0; r < f.rows; ++r) {
      const double* row = values.data() + r * f.cols;
      n += std::any_of(row, row + f.cols, [](double v) { return !std::isfinite(v); });
    }
    return n;
  };
  f.nonfinite_rows = nonfinite_rows(f.x);
  if (!gamma_path.empty()) f.gamma = ReadNpyVector(gamma_path, f.cols).data;
  if (!beta_path.empty()) f.beta = ReadNpyVector(beta_path, f.cols).data;
  if (!dy_path.empty()) {
    NpyArray dy = ReadNpyMatrix(dy_path);
    CheckDyShape(dy_path, dy.shape, f.rows, f.cols);
    f.dy = std::move(dy.data);
    f.dy_nonfinite_rows = nonfinite_rows(f.dy);
  }
  return f;
}

InputFileCounts FillFromFiles(const InputFiles& files, const Problem& p, void* x, float* gamma,
                              float* beta, ThreadPool& pool, void* dy) {
  // A finite value that rounds to an infinity in the dtype (1e39 in f32,
  // 70000 in f16) would otherwise pass unnoticed into the run.
  std::atomic<int64_t> overflowed{0};
  const auto store_matrix = [&](const std::vector<double>& values, void* dst) {
    pool.ParallelFor(p.elements(), [&](int64_t b, int64_t e) {
      int64_t local = 0;
      for (int64_t i = b; i < e; ++i) {
        const double v = values[i];
        StoreFromDouble(p.dtype, dst, i, v);
        local += std::isfinite(v) && !std::isfinite(LoadAsDouble(p.dtype, dst, i));
      }
      overflowed += local;
    });
  };
  store_matrix(files.x, x);
  if (dy != nullptr && !files.dy.empty()) store_matrix(files.dy, dy);
  InputFileCounts counts;
  counts.nonfinite_rows = files.nonfinite_rows;
  counts.overflowed_values = overflowed.load();
  if (dy != nullptr && !files.dy.empty()) counts.dy_nonfinite_rows = files.dy_nonfinite_rows;
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
    if (beta != nullptr) beta[i] = store(files.beta, 0.0f, i);
  }
  return counts;
}

std::string ProblemTag(const Problem& p) {
  std::string op;
  if (p.norm != Norm::kLayerNorm || p.dir != Direction::kForward)
    op = fmt::format("{}_{}_", NormName(p.norm), DirectionName(p.dir));
  return fmt::format("{}{}x{}_{}_{}_aff{}_st{}_seed{}", op, p.rows, p.cols, DTypeName(p.dtype),
                     DistributionName(p.dist), p.affine ? 1 : 0, p.stats ? 1 : 0, p.seed);
}

namespace {

// Returns the shape of a tensor of `extent` as .npy dimensions.
std::vector<int64_t> NpyShape(const Problem& p, Extent extent) {
  switch (extent) {
    case Extent::kRowsCols: return {p.rows, p.cols};
    case Extent::kCols: return {p.cols};
    case Extent::kRows: return {p.rows};
  }
  return {};
}

}  // namespace

void DumpProblem(const std::string& dir, const Problem& p, const HostTensors& in,
                 const Reference& ref) {
  const std::string base = dir + "/" + ProblemTag(p) + "_";
  const OpDescriptor& op = OpFor(p);
  for (const TensorSpec& t : op.TensorsOf(p, TensorRole::kInput))
    WriteNpy(base + std::string(TensorName(t.id)) + ".npy", NpyShape(p, t.extent),
             NpyElementOf(TensorDType(p, t.extent)), in.get(t.id));
  for (const TensorSpec& t : op.ReferenceTensors(p))
    WriteNpy(base + "ref_" + std::string(TensorName(t.id)) + ".npy", NpyShape(p, t.extent),
             NpyElement::kF64, ref.data(t.id));
}

void DumpOutputs(const std::string& dir, const CaseResult& r, const HostTensors& out) {
  const Problem& p = r.problem;
  std::string base = dir + "/" + ProblemTag(p) + "_" + r.backend + "_" + r.variant;
  if (r.device == "cpu") base += fmt::format("_t{}", r.threads);
  base += "_";
  for (const TensorSpec& t : OpFor(p).TensorsOf(p, TensorRole::kOutput))
    if (out.has(t.id))
      WriteNpy(base + std::string(TensorName(t.id)) + ".npy", NpyShape(p, t.extent),
               NpyElementOf(TensorDType(p, t.extent)), out.get(t.id));
}

}  // namespace lnbench
