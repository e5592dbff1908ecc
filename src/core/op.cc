#include "core/op.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/problem.h"
#include "core/ops/ops.h"

namespace lnbench {

namespace {
constexpr std::string_view kTensorNames[kTensorCount] = {"x",    "gamma", "beta", "dy",     "y",
                                                         "mean", "rstd",  "dx",   "dgamma", "dbeta"};
}  // namespace

std::string_view NormName(Norm norm) {
  switch (norm) {
    case Norm::kLayerNorm: return "layernorm";
    case Norm::kRmsNorm: return "rmsnorm";
  }
  return "?";
}

std::string_view DirectionName(Direction dir) {
  switch (dir) {
    case Direction::kForward: return "fwd";
    case Direction::kBackward: return "bwd";
  }
  return "?";
}

std::optional<Norm> ParseNorm(std::string_view name) {
  for (Norm n : AllNorms())
    if (NormName(n) == name) return n;
  return std::nullopt;
}

std::optional<Direction> ParseDirection(std::string_view name) {
  for (Direction d : {Direction::kForward, Direction::kBackward})
    if (DirectionName(d) == name) return d;
  return std::nullopt;
}

const std::vector<Norm>& AllNorms() {
  static const std::vector<Norm> all = {Norm::kLayerNorm, Norm::kRmsNorm};
  return all;
}

std::string_view TensorName(TensorId id) {
  const auto i = static_cast<size_t>(id);
  return i < kTensorCount ? kTensorNames[i] : "?";
}

std::optional<TensorId> ParseTensorName(std::string_view name) {
  for (int i = 0; i < kTensorCount; ++i)
    if (kTensorNames[i] == name) return static_cast<TensorId>(i);
  return std::nullopt;
}

int64_t TensorElements(const Problem& p, Extent extent) {
  switch (extent) {
    case Extent::kRowsCols: return p.elements();
    case Extent::kCols: return p.cols;
    case Extent::kRows: return p.rows;
  }
  return 0;
}

DType TensorDType(const Problem& p, Extent extent) {
  return extent == Extent::kRowsCols ? p.dtype : DType::kF32;
}

uint64_t TensorBytes(const Problem& p, Extent extent) {
  return static_cast<uint64_t>(TensorElements(p, extent)) * DTypeSize(TensorDType(p, extent));
}

std::string OpName(Norm norm, Direction dir) {
  return fmt::format("{} {}", NormName(norm), DirectionName(dir));
}

std::string OpDescriptor::Name() const { return OpName(norm(), dir()); }

std::vector<TensorSpec> OpDescriptor::TensorsOf(const Problem& problem, TensorRole role) const {
  std::vector<TensorSpec> out;
  for (const TensorSpec& t : Tensors(problem))
    if (t.role == role) out.push_back(t);
  return out;
}

BytesModel OpDescriptor::CountBytes(const Problem& problem) const {
  BytesModel b;
  for (const TensorSpec& t : Tensors(problem))
    (t.role == TensorRole::kInput ? b.read : b.written) += TensorBytes(problem, t.extent);
  return b;
}

bool HasOp(Norm norm, Direction dir) { return OpDescriptorFor(norm, dir) != nullptr; }

const OpDescriptor& OpFor(Norm norm, Direction dir) {
  const OpDescriptor* op = OpDescriptorFor(norm, dir);
  if (op == nullptr)
    throw UsageError(fmt::format("{} {}: not implemented", NormName(norm), DirectionName(dir)));
  return *op;
}

const OpDescriptor& OpFor(const Problem& problem) { return OpFor(problem.norm, problem.dir); }

double SumEpsUnits(int64_t n) {
  const double log2n = std::ceil(std::log2(static_cast<double>(std::max<int64_t>(n, 2))));
  return 6 + log2n + std::ceil(std::sqrt(static_cast<double>(std::max<int64_t>(n, 0))) / 8);
}

}  // namespace lnbench
