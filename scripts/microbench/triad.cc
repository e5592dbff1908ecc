// triad: what a kernel that reads two arrays and writes one (the backward's x, dy -> dx)
// can reach against the streaming copy that lnbench takes as its ceiling (issue 13). 256 MiB
// each of f32 x and dy; bytes counted: 2 x 256 MiB for the copy, 3 x 256 MiB for the others.
// Medians of 11 rounds, each pattern split over the given number of threads:
//   copy      streaming copy of x (the ceiling)
//   triad     out = x * 1.5 + dy, one pass, streaming stores
//   rowsH     the backward's two-pass row pattern with trivial arithmetic: per row of H,
//             sum x and x * dy, then write dx = x * c + dy from L1 with streaming stores
//             while prefetching the next row (H = 128: prefetcht0; 1024, 4096: prefetcht2)
//
//   g++ -O2 -march=native -pthread -o /tmp/triad scripts/microbench/triad.cc && /tmp/triad 1
//
// Needs AVX-512F. Zen 5 VM, 2026-12-05: triad 1.01-1.10x the copy's GB/s, rows 0.82-1.00
// (one and two threads, two runs each; docs/results.md).
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>
#include "stream_copy.h"
#include <thread>
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
void triad(float* d, const float* x, const float* y, size_t n) {
  const __m512 a = _mm512_set1_ps(1.5f);
  for (size_t i = 0; i < n; i += 32) {
    __m512 r0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), a, _mm512_loadu_ps(y + i));
    __m512 r1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), a, _mm512_loadu_ps(y + i + 16));
    _mm512_stream_ps(d + i, r0); _mm512_stream_ps(d + i + 16, r1);
  }
  _mm_sfence();
}
// two pass per row of H: sums over x,y; then write from L1 with prefetch of next row
float sink;
template <int hint> void rows2(float* d, const float* x, const float* y, size_t n, size_t H) {
  __m512 acc = _mm512_setzero_ps();
  for (size_t r = 0; r < n; r += H) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (size_t i = r; i < r + H; i += 16) { s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i)); s1 = _mm512_fmadd_ps(_mm512_loadu_ps(y+i), _mm512_loadu_ps(x + i), s1); }
    __m512 c = _mm512_add_ps(s0, s1);
    for (size_t i = r; i < r + H; i += 16) {
      if (hint >= 0 && r + H < n) { _mm_prefetch((const char*)(x + i + H), (_mm_hint)hint); _mm_prefetch((const char*)(y + i + H), (_mm_hint)hint); }
      _mm512_stream_ps(d + i, _mm512_fmadd_ps(_mm512_loadu_ps(x + i), c, _mm512_loadu_ps(y + i)));
    }
    acc = _mm512_add_ps(acc, c);
  }
  _mm_sfence();
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  float total = 0;
  for (float v : lanes) total += v;
  sink = total;
}
int main(int argc, char** argv) {
  int T = argc > 1 ? atoi(argv[1]) : 1;
  size_t n = (256u << 20) / 4;
  float *x = (float*)aligned_alloc(64, n * 4), *y = (float*)aligned_alloc(64, n * 4), *d = (float*)aligned_alloc(64, n * 4);
  for (size_t i = 0; i < n; ++i) { x[i] = i * 1e-6f; y[i] = 1.0f; d[i] = 0; }
  auto par = [&](auto f) {
    std::vector<std::thread> th; size_t per = n / T;
    double t0 = now();
    for (int t = 0; t < T; ++t) th.emplace_back([&, t] { f(t * per, per); });
    for (auto& t : th) t.join();
    return now() - t0;
  };
  const int R = 11;
  std::vector<double> rc, rt, r128, r1024, r4096;
  for (int k = 0; k < R; ++k) {
    rc.push_back(2.0 * n * 4 / par([&](size_t o, size_t m) { StreamCopy(d + o, x + o, m); }) / 1e9);
    rt.push_back(3.0 * n * 4 / par([&](size_t o, size_t m) { triad(d + o, x + o, y + o, m); }) / 1e9);
    r128.push_back(3.0 * n * 4 / par([&](size_t o, size_t m) { rows2<3>(d + o, x + o, y + o, m, 128); }) / 1e9);
    r1024.push_back(3.0 * n * 4 / par([&](size_t o, size_t m) { rows2<1>(d + o, x + o, y + o, m, 1024); }) / 1e9);
    r4096.push_back(3.0 * n * 4 / par([&](size_t o, size_t m) { rows2<1>(d + o, x + o, y + o, m, 4096); }) / 1e9);
  }
  auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  printf("threads %d  GB/s medians: copy %.1f  triad %.1f (%.2f)  rows128 %.1f (%.2f)  rows1024 %.1f (%.2f)  rows4096 %.1f (%.2f)\n", T,
         med(rc), med(rt), med(rt) / med(rc), med(r128), med(r128) / med(rc), med(r1024), med(r1024)/med(rc), med(r4096), med(r4096)/med(rc));
}
