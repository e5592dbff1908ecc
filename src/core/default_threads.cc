#include "core/default_threads.h"

#include <algorithm>

namespace lnbench {

int DefaultThreads(const Problem& problem, int hardware_threads) {
  const uint64_t bytes = CountBytes(problem).total();
  const int64_t by_bytes = static_cast<int64_t>(bytes / kMinBytesPerThread);
  const int64_t most = std::min<int64_t>(std::max(hardware_threads, 1), std::max<int64_t>(problem.rows, 1));
  return static_cast<int>(std::clamp<int64_t>(by_bytes, 1, most));
}

}  // namespace lnbench
