// The thread count a CPU case gets when --threads is not given: chosen per
// problem, so a tiny problem is not spread over every core when waking the
// threads costs more than they save (8x768 bf16 took 208 us on 2 threads of a
// busy 2-core machine and 1.7 us on one).
#ifndef LNBENCH_CORE_DEFAULT_THREADS_H_
#define LNBENCH_CORE_DEFAULT_THREADS_H_

#include <cstdint>

#include "core/problem.h"

namespace lnbench {

// RunConfig::threads value meaning "chosen per problem" (the default).
inline constexpr int kAutoThreads = -1;

// Each thread is given at least this much memory traffic (read + written
// bytes of the bytes model): a thread pool's wake-up and join cost some
// microseconds, in which one core moves a few hundred KiB.
inline constexpr uint64_t kMinBytesPerThread = 512 * 1024;

// Returns the threads for `problem` on `hardware_threads`: one per
// kMinBytesPerThread of traffic, at least 1, at most one per row and per
// hardware thread.
int DefaultThreads(const Problem& problem, int hardware_threads);

}  // namespace lnbench

#endif  // LNBENCH_CORE_DEFAULT_THREADS_H_
