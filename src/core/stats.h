// Summary statistics of timing samples.
#ifndef LNBENCH_CORE_STATS_H_
#define LNBENCH_CORE_STATS_H_

#include <vector>

namespace lnbench {

struct SampleStats {
  double min = 0, p10 = 0, median = 0, mean = 0, p90 = 0, max = 0;
  double noise = 0;           // relative standard deviation (stdev / mean)
  double median_rel_err = 0;  // estimated relative standard error of the median
};

// Returns the statistics of `samples` (all zero when empty). Percentiles
// interpolate linearly between order statistics.
SampleStats Summarize(std::vector<double> samples);

// Returns the q-quantile (0 <= q <= 1) of sorted values.
double Quantile(const std::vector<double>& sorted, double q);

}  // namespace lnbench

#endif  // LNBENCH_CORE_STATS_H_
