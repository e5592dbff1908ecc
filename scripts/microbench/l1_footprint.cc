// l1_footprint: why a batch-1 LayerNorm row of f32 H = 4096 takes longer than
// a copy of its bytes (issue 15: batch 1 no slower than a copy). The
// normalize loop alone, y = (x * s + c) * gamma + beta over one row of H f32
// (two vectors an iteration, as the kernel's), timed 200 times back to back,
// median of 31 samples, with y at several offsets from a 4 KiB boundary (the
// other buffers on one).
//
//   g++ -O2 -march=native -o /tmp/l1_footprint scripts/microbench/l1_footprint.cc
//   taskset -c 1 /tmp/l1_footprint 4096; taskset -c 1 /tmp/l1_footprint 768
//
// Needs AVX-512F. On the Zen 5 VM (2026-12-06, 48 KiB L1d): H = 768 (x, y,
// gamma, beta 12 KiB) 3.8 cycles an iteration at 3.3 GHz, H = 4096 (64 KiB)
// 10.8-11.8, whatever y's offset (0 to 3072 bytes): the loop's four streams
// do not fit in L1 and come from L2 (about 47 bytes a cycle), and 4K
// aliasing between loads and stores plays no part. The kernel reads x twice
// (statistics, then this loop): 80 KiB through L1 against the 64 KiB of
// lnbench's ceiling for the case, a memcpy of the same bytes.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
__attribute__((noinline)) void norm(float* y, const float* x, const float* g, const float* b, size_t H, float s, float c) {
  const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
  for (size_t i = 0; i < H; i += 32) {
    __m512 a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), vs, vc);
    __m512 e = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), vs, vc);
    a = _mm512_fmadd_ps(a, _mm512_loadu_ps(g + i), _mm512_loadu_ps(b + i));
    e = _mm512_fmadd_ps(e, _mm512_loadu_ps(g + i + 16), _mm512_loadu_ps(b + i + 16));
    _mm512_storeu_ps(y + i, a); _mm512_storeu_ps(y + i + 16, e);
  }
}
int main(int argc, char** argv) {
  size_t H = argc > 1 ? atoi(argv[1]) : 4096;
  for (int off : {0, 64, 256, 1024, 2048, 3072}) {
    char* mem = (char*)aligned_alloc(4096, 4 * (H * 4 + 8192));
    float* x = (float*)mem; float* g = (float*)(mem + (H*4 + 4096)/4096*4096); float* b = (float*)((char*)g + (H*4 + 4096)/4096*4096);
    float* y = (float*)((char*)b + (H*4 + 4096)/4096*4096 + off);
    for (size_t i = 0; i < H; ++i) { x[i] = i % 7; g[i] = 1; b[i] = 0; y[i] = 0; }
    std::vector<double> t;
    for (int s = 0; s < 31; ++s) { double t0 = now(); for (int r = 0; r < 200; ++r) norm(y, x, g, b, H, 1.01f, 0.5f); t.push_back((now() - t0) / 200); }
    std::sort(t.begin(), t.end());
    printf("H=%zu y offset %4d: median %.1f ns (min %.1f) = %.2f cycles/iter at 3.3GHz\n", H, off, t[15]*1e9, t[0]*1e9, t[15]*3.3e9/(H/32.0));
    free(mem);
  }
}
