#include "core/stats.h"

#include <algorithm>
#include <cmath>

namespace lnbench {

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

SampleStats Summarize(std::vector<double> samples) {
  SampleStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  s.min = samples.front();
  s.max = samples.back();
  s.p10 = Quantile(samples, 0.10);
  s.median = Quantile(samples, 0.5);
  s.p90 = Quantile(samples, 0.90);
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / n;
  double sq = 0;
  for (double v : samples) sq += (v - s.mean) * (v - s.mean);
  const double stdev = samples.size() > 1 ? std::sqrt(sq / (n - 1)) : 0;
  s.noise = s.mean > 0 ? stdev / s.mean : 0;
  // Standard error of the median from a robust spread (1.4826 * MAD estimates
  // sigma without letting a few preempted samples dominate), times
  // sqrt(pi/2) / sqrt(n), the asymptotic efficiency of the median.
  std::vector<double> dev(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) dev[i] = std::fabs(samples[i] - s.median);
  std::sort(dev.begin(), dev.end());
  const double sigma = 1.4826 * Quantile(dev, 0.5);
  s.median_rel_err = s.median > 0 ? 1.2533 * sigma / std::sqrt(n) / s.median : 0;
  return s;
}

}  // namespace lnbench
