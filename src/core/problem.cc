#include "core/problem.h"

#include <fmt/format.h>

namespace lnbench {

namespace {
struct DistName {
  Distribution dist;
  std::string_view name;
};
constexpr DistName kDistNames[] = {
    {Distribution::kNormal, "normal"},       {Distribution::kUniform, "uniform"},
    {Distribution::kOffset1e4, "offset1e4"}, {Distribution::kOffset1e6, "offset1e6"},
    {Distribution::kTinyVariance, "tinyvar"}, {Distribution::kConstant, "constant"},
    {Distribution::kOutliers, "outliers"},   {Distribution::kExact, "exact"},
    {Distribution::kSpecial, "special"},     {Distribution::kFile, "file"},
};
}  // namespace

std::string_view DistributionName(Distribution dist) {
  for (const auto& d : kDistNames)
    if (d.dist == dist) return d.name;
  return "?";
}

std::optional<Distribution> ParseDistribution(std::string_view name) {
  for (const auto& d : kDistNames)
    if (d.name == name && d.dist != Distribution::kFile) return d.dist;
  return std::nullopt;
}

const std::vector<Distribution>& AllDistributions() {
  static const std::vector<Distribution> all = {
      Distribution::kNormal,   Distribution::kUniform,  Distribution::kOffset1e4,
      Distribution::kOffset1e6, Distribution::kTinyVariance, Distribution::kConstant,
      Distribution::kOutliers, Distribution::kExact,    Distribution::kSpecial};
  return all;
}

std::string Problem::ShortName() const {
  std::string op;
  if (norm != Norm::kLayerNorm || dir != Direction::kForward)
    op = fmt::format("{} {} ", NormName(norm), DirectionName(dir));
  return fmt::format("{}{}x{} {} {}", op, rows, cols, DTypeName(dtype), DistributionName(dist));
}

BytesModel CountBytes(const Problem& p) { return OpFor(p).CountBytes(p); }

}  // namespace lnbench
