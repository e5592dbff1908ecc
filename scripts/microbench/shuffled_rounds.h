// shuffled_rounds.h: the timing loop of the microbenchmarks that compare
// several variants on the same buffers (minimal_ln.cc, store_kind.cc).
#ifndef LNBENCH_SCRIPTS_MICROBENCH_SHUFFLED_ROUNDS_H_
#define LNBENCH_SCRIPTS_MICROBENCH_SHUFFLED_ROUNDS_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <random>
#include <vector>

// Runs variants 0..count-1 (`run(k)` runs variant k once) in `rounds` rounds,
// each round in a new random order (on a shared VM the variant right after a
// copy ran slower, whichever it was; a fixed order would always charge the
// same one), and returns each variant's wall times in seconds, sorted.
template <class Run>
std::vector<std::vector<double>> ShuffledRounds(size_t count, int rounds, const Run& run) {
  const auto now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::vector<std::vector<double>> t(count);
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = i;
  std::mt19937 rng(42);
  for (int r = 0; r < rounds; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t k : order) {
      const double s = now();
      run(k);
      t[k].push_back(now() - s);
    }
  }
  for (auto& a : t) std::sort(a.begin(), a.end());
  return t;
}

#endif  // LNBENCH_SCRIPTS_MICROBENCH_SHUFFLED_ROUNDS_H_
