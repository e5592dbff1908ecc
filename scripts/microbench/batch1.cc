// batch1: one LayerNorm row, hot (issue 15's batch-1 goal: no slower than a copy of the
// same bytes). f32 rows of H (default 4096), each variant timed 2000 times a sample, in
// shuffled rounds. copy_model: memcpy of half the report's bytes (x, gamma, beta, y read
// + written), the copy the goal compares with; copy_row: x to y; ln_accN: a minimal
// LayerNorm with N accumulators per sum; statsN / norm: its two passes alone; lnpf: the
// statistics pass prefetching gamma and beta into L1; kernel: the Highway kernel (AVX3;
// AVX3_DL before 2026-12-07, the same code).
//
//   g++ -O2 -march=native -std=c++20 -DWITH_KERNEL -DHWY_WANT_AVX3_DL -I. -Isrc -o /tmp/batch1
//     scripts/microbench/batch1.cc -Wl,--start-group build/backends/highway/liblnbench_backend_highway.a
//     build/liblnbench_backends.a build/liblnbench_core.a -Wl,--end-group -lhwy -lfmt -lpthread
//   /tmp/batch1 [rounds] [reps] [H]
//
// Zen 5 VM (48 KiB L1), 2026-12-06, two processes: at H = 4096 the normalize pass alone
// (x, gamma and beta read, y written: 64 KiB, more than L1) took 1.17-1.26x the copy's
// time, the kernel 1.81-1.99x, ln_acc2 1.66-1.73x and ln_acc4 1.57-1.60x (stats alone
// 0.57-0.61 with two accumulators, 0.37-0.38 with four); at H = 768 norm 0.58, stats
// 0.44, the kernel 1.88x, ln_acc4 1.36x: the statistics, a reduction and the row's
// epilogue in double run before the normalize can start.
#include <immintrin.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "shuffled_rounds.h"
#ifdef WITH_KERNEL
#include "backends/highway/layernorm_highway.h"
#include "hwy/targets.h"
#endif
static volatile int g_cols = 4096;
alignas(64) static float g_gamma[65536], g_beta[65536];
alignas(64) static float g_x[65536], g_y[65536];
alignas(64) static char g_src[1 << 20], g_dst[1 << 20];
static size_t g_copy_bytes;
static float g_sink;

static void Copy() { memcpy(g_dst, g_src, g_copy_bytes); asm volatile("" ::: "memory"); }
static void CopyRow() { memcpy(g_y, g_x, g_cols * 4); asm volatile("" ::: "memory"); }

// The row's mean and variance with A accumulators per sum; kPf: prefetch gamma
// and beta into L1 meanwhile (two lines each per 32 elements).
template <int A, bool kPf = false>
static inline void Stats(const float* x, int h, double& mu, double& var) {
  __m512 s[A], q[A];
#pragma GCC unroll 8
  for (int a = 0; a < A; ++a) s[a] = q[a] = _mm512_setzero_ps();
  for (int k = 0; k < h; k += 16 * A) {
#pragma GCC unroll 8
    for (int a = 0; a < A; ++a) {
      const __m512 v = _mm512_load_ps(x + k + 16 * a);
      s[a] = _mm512_add_ps(s[a], v);
      q[a] = _mm512_fmadd_ps(v, v, q[a]);
      if (kPf && a < 2) {
        _mm_prefetch((const char*)(g_gamma + k + 16 * a), _MM_HINT_T0);
        _mm_prefetch((const char*)(g_beta + k + 16 * a), _MM_HINT_T0);
      }
    }
  }
#pragma GCC unroll 8
  for (int a = 1; a < A; ++a) { s[0] = _mm512_add_ps(s[0], s[a]); q[0] = _mm512_add_ps(q[0], q[a]); }
  const double ss = _mm512_reduce_add_ps(s[0]), qq = _mm512_reduce_add_ps(q[0]);
  mu = ss / h;
  var = qq / h - mu * mu;
}
static inline void Norm(const float* x, float* y, int h, float c, float r) {
  const __m512 vc = _mm512_set1_ps(c), vr = _mm512_set1_ps(r);
  for (int k = 0; k < h; k += 16) {
    const __m512 t = _mm512_fmadd_ps(_mm512_load_ps(x + k), vr, vc);
    _mm512_store_ps(y + k, _mm512_fmadd_ps(t, _mm512_load_ps(g_gamma + k), _mm512_load_ps(g_beta + k)));
  }
}
template <int A, bool kPf = false>
static void Ln() {
  const int h = g_cols;
  double mu, var;
  Stats<A, kPf>(g_x, h, mu, var);
  const double rs = 1.0 / std::sqrt(var + 1e-5);
  Norm(g_x, g_y, h, static_cast<float>(-mu * rs), static_cast<float>(rs));
  asm volatile("" ::: "memory");
}
template <int A>
static void StatsOnly() {
  double mu, var;
  Stats<A>(g_x, g_cols, mu, var);
  g_sink += static_cast<float>(mu + var);
}
static void NormOnly() { Norm(g_x, g_y, g_cols, 0.1f, 1.1f); asm volatile("" ::: "memory"); }
#ifdef WITH_KERNEL
static lnbench::HwyRowsFn g_kernel;
static void Kernel() {
  lnbench::HwyRowsArgs a;
  a.x = g_x; a.y = g_y; a.cols = g_cols; a.gamma = g_gamma; a.beta = g_beta; a.stream = false;
  g_kernel(a, 0, 1);
  asm volatile("" ::: "memory");
}
#endif
int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 31;
  const int reps = argc > 2 ? atoi(argv[2]) : 2000;
  g_cols = argc > 3 ? atoi(argv[3]) : 4096;
  g_copy_bytes = static_cast<size_t>(g_cols) * 4 * 2;  // bytes model: x, gamma, beta, y = 4 rows; copy reads half
  for (int i = 0; i < 65536; ++i) {
    g_x[i] = (static_cast<float>((i * 2654435761u) % 2000) - 1000.0f) * 0.002f;
    g_gamma[i] = 1.0f + i * 1e-5f; g_beta[i] = 0.5f;
  }
  memset(g_src, 1, sizeof g_src);
  struct V { const char* name; void (*run)(); };
  std::vector<V> v = {{"copy_model", Copy}, {"copy_row", CopyRow}, {"ln_acc2", Ln<2>}, {"ln_acc4", Ln<4>},
                      {"ln_acc8", Ln<8>}, {"lnpf_acc2", Ln<2, true>}, {"lnpf_acc4", Ln<4, true>}, {"stats2", StatsOnly<2>}, {"stats4", StatsOnly<4>},
                      {"stats8", StatsOnly<8>}, {"norm", NormOnly}};
#ifdef WITH_KERNEL
  g_kernel = lnbench::HighwayRowsFunction(lnbench::DType::kF32, HWY_AVX3);
  v.push_back({"kernel", Kernel});
#endif
  auto t = ShuffledRounds(v.size(), rounds, [&](size_t k) { for (int q = 0; q < reps; ++q) v[k].run(); });
  const double copy = t[0][rounds / 2];
  for (size_t k = 0; k < v.size(); ++k)
    printf("%-11s %8.1f ns  /copy_model %.2f\n", v[k].name, t[k][rounds / 2] / reps * 1e9, t[k][rounds / 2] / copy);
  return 0;
}
