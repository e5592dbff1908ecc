#include "compare/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "core/errors.h"

namespace lnbench {

namespace {

// Returns the two-sided p-value for U = max(U1, U2) of samples of sizes n1, n2
// with tie term sum(t^3 - t), and the z it came from.
std::pair<double, double> TwoSidedP(double u_max, double n1, double n2, double tie_term) {
  const double n = n1 + n2;
  const double mu = n1 * n2 / 2;
  const double variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  if (!(variance > 0)) return {0.0, 1.0};
  const double z = (u_max - mu - 0.5) / std::sqrt(variance);
  // 2 * P(Z > z) = erfc(z / sqrt(2)); U = mu gives z < 0 and a p over 1.
  const double p = std::erfc(z / std::sqrt(2.0));
  return {z, std::min(p, 1.0)};
}

}  // namespace

MannWhitneyResult MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  LNBENCH_CHECK(!a.empty() && !b.empty(), "Mann-Whitney U test needs two non-empty samples");
  struct Value {
    double x;
    bool first;
  };
  std::vector<Value> all;
  all.reserve(a.size() + b.size());
  for (double x : a) all.push_back({x, true});
  for (double x : b) all.push_back({x, false});
  std::sort(all.begin(), all.end(), [](const Value& l, const Value& r) { return l.x < r.x; });

  // Rank sum of `a`, with tied values sharing the mean of their ranks.
  double rank_sum_a = 0;
  double tie_term = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].x == all[i].x) ++j;
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k)
      if (all[k].first) rank_sum_a += mean_rank;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }

  const double n1 = static_cast<double>(a.size());
  const double n2 = static_cast<double>(b.size());
  MannWhitneyResult result;
  result.u = rank_sum_a - n1 * (n1 + 1) / 2;
  const double u_max = std::max(result.u, n1 * n2 - result.u);
  std::tie(result.z, result.p_value) = TwoSidedP(u_max, n1, n2, tie_term);
  return result;
}

double MinAttainablePValue(size_t n1, size_t n2) {
  if (n1 == 0 || n2 == 0) return 1;
  const double a = static_cast<double>(n1);
  const double b = static_cast<double>(n2);
  return TwoSidedP(a * b, a, b, 0).second;
}

}  // namespace lnbench
