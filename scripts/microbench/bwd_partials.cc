// bwd_partials: where the LayerNorm backward of short f32 rows loses against the copy
// (issue 13: H = 128 was the backward's furthest cell from 80% of the copy). One thread,
// 256 MiB each of x, dy and dx (huge pages), bytes counted as the report does (x, dy, dx;
// the copy: 2 x 256 MiB). The Highway kernel itself (AVX3; AVX3_DL before 2026-12-07, the
// same code; rows in blocks of 64 as
// HwyBwdRunner gives them, streamed and not) beside minimal two-pass row loops that add
// its features one at a time: g (gamma), p (the dgamma/dbeta partials loaded, added to
// and stored per row), d (the row sums reduced in double); nt: streaming stores, pf:
// prefetcht0 of the next row; regs (H = 128 only): the partials in 16 registers over
// each block of 64 rows, as RegisterRows (norm_bwd_highway-inl.h) does since 3a92de0.
//
//   g++ -O2 -march=native -std=c++20 -DHWY_WANT_AVX3_DL -I. -Isrc -o /tmp/bwd_partials
//     scripts/microbench/bwd_partials.cc -Wl,--start-group build/backends/highway/liblnbench_backend_highway.a
//     build/liblnbench_backends.a build/liblnbench_core.a -Wl,--end-group -lhwy -lfmt -lpthread
//   /tmp/bwd_partials [rounds] [H]
//
// Needs AVX-512. Zen 5 VM, 2026-12-06, before 3a92de0 (kernel = partials in memory),
// H = 128, fraction of the copy in four processes (regs: two): mini_nt_pf 1.00-1.11, +g_nt_pf
// 0.96-1.02, +gp_nt_pf 0.90-0.94, +gpd_nt_pf 0.86-0.93, regs_nt 0.92-0.98, kernel
// 0.80-0.93; H = 768: +g_nt_pf 0.94, +gp_nt_pf 0.83.
#include <immintrin.h>
#include <sys/mman.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "shuffled_rounds.h"
#include "backends/highway/norm_bwd_highway.h"
#include "hwy/targets.h"
using namespace lnbench;
static size_t H = 128, N;
static float *X, *DY, *DX, *G, *MEAN, *RSTD;
alignas(64) static float PG[65536], PB[65536];
static float g_sink;
static void Copy() {
  for (size_t i = 0; i < N * H; i += 32) {
    _mm512_stream_ps(DX + i, _mm512_load_ps(X + i));
    _mm512_stream_ps(DX + i + 16, _mm512_load_ps(X + i + 16));
  }
  _mm_sfence();
}
// kG: gamma; kP: partials RMW; kStream: streaming stores (else ordinary); kPf: prefetcht0 next row
template <bool kG, bool kP, bool kStream, bool kPf, bool kDouble>
static void Mini() {
  __m512 sink = _mm512_setzero_ps();
  for (size_t r = 0; r < N; ++r) {
    const float* x = X + r * H; const float* dy = DY + r * H; float* dx = DX + r * H;
    if ((r & 63) == 0) { memset(PG, 0, H * 4); memset(PB, 0, H * 4); }
    const __m512 m = _mm512_set1_ps(MEAN[r]), rs = _mm512_set1_ps(RSTD[r]);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
    for (size_t i = 0; i < H; i += 32) {
      for (int h = 0; h < 2; ++h) {
        const size_t k = i + 16 * h;
        const __m512 xv = _mm512_load_ps(x + k), dv = _mm512_load_ps(dy + k);
        const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, m), rs);
        const __m512 gd = kG ? _mm512_mul_ps(_mm512_load_ps(G + k), dv) : dv;
        if (h == 0) { s0 = _mm512_add_ps(s0, gd); t0 = _mm512_fmadd_ps(gd, xh, t0); }
        else { s1 = _mm512_add_ps(s1, gd); t1 = _mm512_fmadd_ps(gd, xh, t1); }
        if (kP) {
          _mm512_store_ps(PG + k, _mm512_fmadd_ps(dv, xh, _mm512_load_ps(PG + k)));
          _mm512_store_ps(PB + k, _mm512_add_ps(dv, _mm512_load_ps(PB + k)));
        }
      }
    }
    float c0, c1;
    if (kDouble) {
      const double a = static_cast<double>(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1))) / H;
      const double b = static_cast<double>(_mm512_reduce_add_ps(_mm512_add_ps(t0, t1))) / H;
      const double rsd = RSTD[r];
      c0 = static_cast<float>(-rsd * a); c1 = static_cast<float>(-rsd * rsd * b);
    } else {
      const __m512 a = _mm512_add_ps(s0, s1), b = _mm512_add_ps(t0, t1);
      c0 = _mm512_cvtss_f32(a) * 1e-3f; c1 = _mm512_cvtss_f32(b) * 1e-3f;
    }
    const __m512 vc0 = _mm512_set1_ps(c0), vc1 = _mm512_set1_ps(c1);
    for (size_t i = 0; i < H; i += 16) {
      if (kPf && (i & 16) == 0 && r + 1 < N) {
        _mm_prefetch((const char*)(x + H + i), _MM_HINT_T0);
        _mm_prefetch((const char*)(dy + H + i), _MM_HINT_T0);
      }
      const __m512 xv = _mm512_load_ps(x + i), dv = _mm512_load_ps(dy + i);
      const __m512 gd = kG ? _mm512_mul_ps(_mm512_load_ps(G + i), dv) : dv;
      const __m512 o = _mm512_fmadd_ps(gd, rs, _mm512_fmadd_ps(_mm512_sub_ps(xv, m), vc1, vc0));
      if (kStream) _mm512_stream_ps(dx + i, o); else _mm512_store_ps(dx + i, o);
    }
  }
  if (kStream) _mm_sfence();
  g_sink = _mm512_reduce_add_ps(sink) + PG[3] + PB[5];
}
// H = 128 only: partials in 16 registers over each block of 64 rows.
template <bool kStream>
static void MiniRegs() {
  __m512 pg[8], pb[8];
  for (size_t r = 0; r < N; ++r) {
    const float* x = X + r * H; const float* dy = DY + r * H; float* dx = DX + r * H;
    if ((r & 63) == 0) for (int k = 0; k < 8; ++k) pg[k] = pb[k] = _mm512_setzero_ps();
    const __m512 m = _mm512_set1_ps(MEAN[r]), rs = _mm512_set1_ps(RSTD[r]);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const __m512 xv = _mm512_load_ps(x + 16 * k), dv = _mm512_load_ps(dy + 16 * k);
      const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, m), rs);
      const __m512 gd = _mm512_mul_ps(_mm512_load_ps(G + 16 * k), dv);
      if ((k & 1) == 0) { s0 = _mm512_add_ps(s0, gd); t0 = _mm512_fmadd_ps(gd, xh, t0); }
      else { s1 = _mm512_add_ps(s1, gd); t1 = _mm512_fmadd_ps(gd, xh, t1); }
      pg[k] = _mm512_fmadd_ps(dv, xh, pg[k]);
      pb[k] = _mm512_add_ps(dv, pb[k]);
    }
    const double a = static_cast<double>(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1))) / H;
    const double b = static_cast<double>(_mm512_reduce_add_ps(_mm512_add_ps(t0, t1))) / H;
    const double rsd = RSTD[r];
    const float c0 = static_cast<float>(-rsd * a), c1 = static_cast<float>(-rsd * rsd * b);
    const __m512 vc0 = _mm512_set1_ps(c0), vc1 = _mm512_set1_ps(c1);
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const __m512 xv = _mm512_load_ps(x + 16 * k), dv = _mm512_load_ps(dy + 16 * k);
      const __m512 gd = _mm512_mul_ps(_mm512_load_ps(G + 16 * k), dv);
      const __m512 o = _mm512_fmadd_ps(gd, rs, _mm512_fmadd_ps(_mm512_sub_ps(xv, m), vc1, vc0));
      if (kStream) _mm512_stream_ps(dx + 16 * k, o); else _mm512_store_ps(dx + 16 * k, o);
    }
    if ((r & 63) == 63) for (int k = 0; k < 8; ++k) { _mm512_store_ps(PG + 16 * k, pg[k]); _mm512_store_ps(PB + 16 * k, pb[k]); }
  }
  if (kStream) _mm_sfence();
}
static HwyBwdRowsFn g_fn;
template <bool kStream>
static void Kernel() {
  HwyBwdArgs a;
  a.x = X; a.dy = DY; a.dx = DX; a.gamma = G; a.mean = MEAN; a.rstd = RSTD;
  a.rows = N; a.cols = H; a.stream = kStream;
  for (size_t r = 0; r < N; r += 64) g_fn(a, r, std::min(N, r + 64), PG, PB);
}
int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 9;
  H = argc > 2 ? atoi(argv[2]) : 128;
  const size_t bytes = 256u << 20;
  N = bytes / 4 / H;
  auto alloc = [&](size_t b) { float* p = static_cast<float*>(aligned_alloc(2 << 20, b)); madvise(p, b, MADV_HUGEPAGE); memset(p, 0, b); return p; };
  X = alloc(bytes); DY = alloc(bytes); DX = alloc(bytes + (2 << 20)) ;
  G = alloc(H * 4 + 4096); MEAN = alloc(N * 4); RSTD = alloc(N * 4);
  for (size_t i = 0; i < N * H; ++i) { X[i] = ((i * 2654435761u) % 2000) * 1e-3f - 1.0f; DY[i] = ((i * 40503u) % 1000) * 1e-3f - 0.5f; }
  for (size_t i = 0; i < H; ++i) G[i] = 1.0f + i * 1e-3f;
  for (size_t r = 0; r < N; ++r) { MEAN[r] = 0.01f; RSTD[r] = 1.7f; }
  g_fn = HighwayNormBwdRowsFunction(Norm::kLayerNorm, DType::kF32, HWY_AVX3);
  struct V { const char* name; void (*run)(); double bytes; };
  const double b3 = 3.0 * bytes;
  std::vector<V> v = {{"copy", Copy, 2.0 * bytes},
                      {"kernel_nt", Kernel<true>, b3}, {"kernel_ord", Kernel<false>, b3},
                      {"mini_nt_pf", Mini<false, false, true, true, false>, b3},
                      {"mini_ord", Mini<false, false, false, false, false>, b3},
                      {"+g_nt_pf", Mini<true, false, true, true, false>, b3},
                      {"+gp_nt_pf", Mini<true, true, true, true, false>, b3},
                      {"+gpd_nt_pf", Mini<true, true, true, true, true>, b3},
                      {"+gpd_nt", Mini<true, true, true, false, true>, b3},
                      {"+gpd_ord", Mini<true, true, false, false, true>, b3}};
  if (H == 128) { v.push_back({"regs_nt", MiniRegs<true>, b3}); v.push_back({"regs_ord", MiniRegs<false>, b3}); }
  auto t = ShuffledRounds(v.size(), rounds, [&](size_t k) { v[k].run(); });
  const double copy = v[0].bytes / t[0][rounds / 2];
  for (size_t k = 0; k < v.size(); ++k) {
    const double gbs = v[k].bytes / t[k][rounds / 2];
    printf("%-11s %6.1f GB/s  of copy %.2f\n", v[k].name, gbs / 1e9, gbs / copy);
  }
}
