// twopass: the memory pattern of the Highway norm kernels without their
// arithmetic, against a one-pass streaming copy, on one thread (issue 15).
// 256 MiB of f32 read and 256 MiB written; median of 15 rounds per pattern;
// "vs copy" is the streaming copy's time over the pattern's.
//
//   g++ -O2 -march=native -o /tmp/twopass scripts/microbench/twopass.cc && /tmp/twopass
//
// Needs AVX-512F. Patterns: read_only, write_only (streaming stores);
// twopass_same_*: sum an 8 KiB block, then stream the same block out (from
// L1), with a prefetch of the next block (t0/t2/nta, distance); rows*: the
// kernels' pipeline (stream block k of rows r..r+R-1 out, then sum block k of
// the next R rows) with no prefetch, prefetcht0 (the kernels before issue 15's
// change) or prefetcht2 of the next rows; row_at_time*: sum a whole row, then
// stream it out while prefetching the next row.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>
#include "stream_copy.h"
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static float sink;
// per block: sum (read), then stream out (re-read from L1) -- same block
template <int kHint>
void two_pass_same(float* d, const float* s, size_t n, size_t blk, size_t pfd = 0) {
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < n; b += blk) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (size_t i = b; i < b + blk; i += 32) { a0 = _mm512_add_ps(a0, _mm512_loadu_ps(s + i)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(s + i + 16)); }
    acc = _mm512_add_ps(acc, _mm512_add_ps(a0, a1));
    for (size_t i = b; i < b + blk; i += 32) {
      if (kHint >= 0) { _mm_prefetch((const char*)(s + i + pfd), (_mm_hint)kHint); _mm_prefetch((const char*)(s + i + pfd + 16), (_mm_hint)kHint); }
      _mm512_stream_ps(d + i, _mm512_loadu_ps(s + i)); _mm512_stream_ps(d + i + 16, _mm512_loadu_ps(s + i + 16));
    }
  }
  _mm_sfence(); sink += _mm512_reduce_add_ps(acc);
}
// pipeline like the kernel: rows of H; stream out block k of row r, then sum block k of row r+1
void two_pass_rows(float* d, const float* s, size_t n, size_t H, size_t blk, size_t R, int hint = -1, size_t pfd = 0) {
  __m512 acc = _mm512_setzero_ps();
  const size_t rows = n / H;
  for (size_t r = 0; r < rows; r += R) {
    for (size_t b = 0; b < H; b += blk) {
      for (size_t j = 0; j < R; ++j) {
        const float* x = s + (r + j) * H; float* y = d + (r + j) * H;
        const float* nx = s + (r + R + j) * H + pfd;
        for (size_t i = b; i < b + blk; i += 32) {
          if (hint == 3) { _mm_prefetch((const char*)(nx + i), _MM_HINT_T0); _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T0); }
          if (hint == 1) { _mm_prefetch((const char*)(nx + i), _MM_HINT_T2); _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T2); }
          _mm512_stream_ps(y + i, _mm512_loadu_ps(x + i)); _mm512_stream_ps(y + i + 16, _mm512_loadu_ps(x + i + 16));
        }
      }
      if (r + R < rows) for (size_t j = 0; j < R; ++j) {
        const float* x = s + (r + R + j) * H;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (size_t i = b; i < b + blk; i += 32) { a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16)); }
        acc = _mm512_add_ps(acc, _mm512_add_ps(a0, a1));
      }
    }
  }
  _mm_sfence(); sink += _mm512_reduce_add_ps(acc);
}
// whole row: sum row r (prefetched), then stream row r while prefetching row r+1
void row_at_a_time(float* d, const float* s, size_t n, size_t H, int hint) {
  __m512 acc = _mm512_setzero_ps();
  const size_t rows = n / H;
  for (size_t r = 0; r < rows; ++r) {
    const float* x = s + r * H; float* y = d + r * H; const float* nx = x + H;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (size_t i = 0; i < H; i += 32) { a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16)); }
    acc = _mm512_add_ps(acc, _mm512_add_ps(a0, a1));
    for (size_t i = 0; i < H; i += 32) {
      if (r + 1 < rows) {
        if (hint == 1) { _mm_prefetch((const char*)(nx + i), _MM_HINT_T2); _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T2); }
        if (hint == 3) { _mm_prefetch((const char*)(nx + i), _MM_HINT_T0); _mm_prefetch((const char*)(nx + i + 16), _MM_HINT_T0); }
      }
      _mm512_stream_ps(y + i, _mm512_loadu_ps(x + i)); _mm512_stream_ps(y + i + 16, _mm512_loadu_ps(x + i + 16));
    }
  }
  _mm_sfence(); sink += _mm512_reduce_add_ps(acc);
}
void read_only(const float* s, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 32) { a0 = _mm512_add_ps(a0, _mm512_loadu_ps(s + i)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(s + i + 16)); }
  sink += _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}
void write_only(float* d, size_t n) {
  __m512 z = _mm512_set1_ps(1.f);
  for (size_t i = 0; i < n; i += 32) { _mm512_stream_ps(d + i, z); _mm512_stream_ps(d + i + 16, z); }
  _mm_sfence();
}
int main() {
  const size_t n = (256u << 20) / 4;
  float* s = (float*)aligned_alloc(4096, n * 4); float* d = (float*)aligned_alloc(4096, n * 4);
  memset(s, 1, n * 4); memset(d, 0, n * 4);
  const char* names[] = {"stream_copy", "read_only", "write_only", "twopass_same_8K", "rows16384x4_8K", "rows4096x4_8K", "rows16384x1_8K", "same_pf_t0_+8K", "same_pf_t2_+8K", "same_pf_t0_+16K", "same_pf_nta_+8K", "same_pf_t0_+4K", "rows16384x4_t0", "rows16384x4_t2", "rows16384x4_t2+8K", "rows16384x1_t2", "row_at_time16K_t2", "row_at_time16K_t0", "row_at_time4K_t2", "row_at_time64K_t2", "row_at_time768_t2"};
  const int K = 21; std::vector<std::vector<double>> t(K);
  for (int rep = 0; rep < 15; ++rep) for (int k = 0; k < K; ++k) {
    double t0 = now();
    switch (k) {
      case 0: StreamCopy(d, s, n); break;
      case 1: read_only(s, n); break;
      case 2: write_only(d, n); break;
      case 3: two_pass_same<-1>(d, s, n, 2048); break;
      case 7: two_pass_same<_MM_HINT_T0>(d, s, n, 2048, 2048); break;
      case 8: two_pass_same<_MM_HINT_T2>(d, s, n, 2048, 2048); break;
      case 9: two_pass_same<_MM_HINT_T0>(d, s, n, 2048, 4096); break;
      case 10: two_pass_same<_MM_HINT_NTA>(d, s, n, 2048, 2048); break;
      case 11: two_pass_same<_MM_HINT_T0>(d, s, n, 2048, 1024); break;
      case 12: two_pass_rows(d, s, n, 16384, 2048, 4, 3); break;
      case 13: two_pass_rows(d, s, n, 16384, 2048, 4, 1); break;
      case 14: two_pass_rows(d, s, n, 16384, 2048, 4, 1, 2048); break;
      case 15: two_pass_rows(d, s, n, 16384, 2048, 1, 1); break;
      case 16: row_at_a_time(d, s, n, 16384, 1); break;
      case 17: row_at_a_time(d, s, n, 16384, 3); break;
      case 18: row_at_a_time(d, s, n, 4096, 1); break;
      case 19: row_at_a_time(d, s, n, 65536, 1); break;
      case 20: row_at_a_time(d, s, n, 768, 1); break;
      case 4: two_pass_rows(d, s, n, 16384, 2048, 4); break;
      case 5: two_pass_rows(d, s, n, 4096, 2048, 4); break;
      case 6: two_pass_rows(d, s, n, 16384, 2048, 1); break;
    }
    t[k].push_back(now() - t0);
  }
  for (int k = 0; k < K; ++k) { std::sort(t[k].begin(), t[k].end()); double m = t[k][t[k].size()/2]; std::printf("%-18s %7.2f ms  %5.1f GB/s(r+w)  vs copy %.2f\n", names[k], m*1e3, (k==1||k==2? 1:2)*n*4/m/1e9, t[0][t[0].size()/2]/m); }
  std::printf("%g\n", sink);
}
