// bf16_params: why streamed bf16 LayerNorm rows go in chunked groups
// (issue 15, 2026-12-04). The memory pattern of the forward on bf16 rows
// with f32 gamma/beta (8 bytes a column, four times the row's bytes), the
// arithmetic reduced to two FMAs and a native bf16 conversion, against a
// one-pass streaming copy of the same bytes; one thread, 256 MiB of x,
// median (and min) of 11 rounds.
//
//   g++ -O2 -march=native -o /tmp/bf16_params scripts/microbench/bf16_params.cc
//   /tmp/bf16_params 4096 [gamma offset] [beta offset]
//
// Needs AVX-512 BF16 (Zen 4, Sapphire Rapids). Patterns: onepass_* one pass
// with no statistics (noaff: y = x*s + c; aff: with gamma and beta; g: gamma
// only; packed: gamma/beta as bf16 pairs; l1_W / onepass_l1_W: gamma/beta of
// W columns reused along the row, always in L1; inter_*: gamma and beta
// interleaved in one array); rowwise_*: a row's sums, then the row
// normalized (no prefetch, prefetcht0 or prefetcht2 of the next row);
// pipe*: the kernels' block pipeline (normalize block k of row r, sum block
// k of row r+1); grpR_CW: R rows' sums, then the R rows normalized in
// chunks of W columns, chunk k of each row in turn, with prefetcht2 of the
// next group (what the kernels do now: R = 8, W = 1024); ilvR: R rows
// normalized vector by vector (the row groups' order); gpR_CW: chunked
// groups with the next group's sums interleaved chunk by chunk.
//
// On the Zen 4 VM at H = 4096 (vs copy): onepass_noaff 1.07-1.10,
// onepass_aff 0.46-0.49, onepass_g and packed 0.84-0.92, pipe2048_aff_t0
// (the kernel before) 0.48-0.51, grp8_C1024_t2 0.73-0.76, ilv4_t2 0.53-0.54,
// gp4_C1024_t2 0.52-0.56.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <algorithm>
#include <vector>
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static float sink;
typedef uint16_t bf;
static inline __m512 ld(const bf* p) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16)); }
static inline void st2(bf* p, __m512 a, __m512 b) { _mm512_stream_si512((__m512i*)p, (__m512i)_mm512_cvtne2ps_pbh(b, a)); }
void stream_copy(bf* d, const bf* s, size_t n) {
  for (size_t i = 0; i < n; i += 64) {
    __m512i a = _mm512_loadu_si512(s + i), b = _mm512_loadu_si512(s + i + 32);
    _mm512_stream_si512((__m512i*)(d + i), a); _mm512_stream_si512((__m512i*)(d + i + 32), b);
  }
  _mm_sfence();
}
template <bool kAffine>
__attribute__((noinline)) void norm_row(bf* y, const bf* x, size_t H, const float* g, const float* b, float s, float c, const bf* nx, int hint) {
  const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
  for (size_t i = 0; i < H; i += 32) {
    if (hint == 3 && (i % 64) == 0) _mm_prefetch((const char*)(nx + i), _MM_HINT_T0);
    if (hint == 1 && (i % 64) == 0) _mm_prefetch((const char*)(nx + i), _MM_HINT_T2);
    __m512 a = _mm512_fmadd_ps(ld(x + i), vs, vc), e = _mm512_fmadd_ps(ld(x + i + 16), vs, vc);
    if (kAffine) { a = _mm512_fmadd_ps(a, _mm512_loadu_ps(g + i), _mm512_loadu_ps(b + i)); e = _mm512_fmadd_ps(e, _mm512_loadu_ps(g + i + 16), _mm512_loadu_ps(b + i + 16)); }
    st2(y + i, a, e);
  }
}
__attribute__((noinline)) float sum_row(const bf* x, size_t H) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, q0 = a0, q1 = a0;
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (size_t i = 0; i < H; i += 64) {
    __m512bh v = (__m512bh)_mm512_loadu_si512(x + i), w = (__m512bh)_mm512_loadu_si512(x + i + 32);
    a0 = _mm512_dpbf16_ps(a0, v, one); q0 = _mm512_dpbf16_ps(q0, v, v);
    a1 = _mm512_dpbf16_ps(a1, w, one); q1 = _mm512_dpbf16_ps(q1, w, w);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + 1e-9f * _mm512_reduce_add_ps(_mm512_add_ps(q0, q1));
}
// one pass, no statistics
template <bool kAffine> void onepass(bf* d, const bf* s, size_t n, size_t H, const float* g, const float* b) {
  for (size_t r = 0; r < n / H; ++r) norm_row<kAffine>(d + r * H, s + r * H, H, g, b, 0.5f, 0.1f, nullptr, 0);
  _mm_sfence();
}
// whole row: sums of row r, then row r normalized, prefetching row r+1 meanwhile
template <bool kAffine> void rowwise(bf* d, const bf* s, size_t n, size_t H, const float* g, const float* b, int hint) {
  const size_t rows = n / H;
  for (size_t r = 0; r < rows; ++r) {
    const float m = sum_row(s + r * H, H);
    norm_row<kAffine>(d + r * H, s + r * H, H, g, b, 0.5f, m * 1e-9f, s + (r + 1 < rows ? r + 1 : r) * H, hint);
  }
  _mm_sfence();
}
// kernel's pipeline: normalize block k of row r, then sum block k of row r+1
template <bool kAffine> void pipelined(bf* d, const bf* s, size_t n, size_t H, size_t blk, const float* g, const float* b, int hint) {
  const size_t rows = n / H; float m = sum_row(s, H);
  for (size_t r = 0; r < rows; ++r) {
    float next = 0;
    for (size_t k = 0; k < H; k += blk) {
      const size_t w = std::min(blk, H - k);
      norm_row<kAffine>(d + r * H + k, s + r * H + k, w, g + k, b + k, 0.5f, m * 1e-9f, s + (r + 1 < rows ? r + 1 : r) * H + k, hint);
      if (r + 1 < rows) next += sum_row(s + (r + 1) * H + k, w);
    }
    m = next;
  }
  _mm_sfence();
}

// groups of R rows: sums of each row in turn, then column chunks of C: chunk k of each row in turn (g/b chunk stays in L1)
template <int R> void grouped(bf* d, const bf* s, size_t n, size_t H, size_t C, const float* g, const float* b, int hint) {
  const size_t rows = n / H;
  for (size_t r = 0; r + R <= rows; r += R) {
    float m[R];
    for (int j = 0; j < R; ++j) m[j] = sum_row(s + (r + j) * H, H);
    const size_t nr = r + R < rows ? r + R : r;
    for (size_t k = 0; k < H; k += C) {
      const size_t w = std::min(C, H - k);
      for (int j = 0; j < R; ++j)
        norm_row<true>(d + (r + j) * H + k, s + (r + j) * H + k, w, g + k, b + k, 0.5f, m[j] * 1e-9f, s + (nr + j) * H + k, hint);
    }
  }
  _mm_sfence();
}

// one pass, g/b chunk of W columns reused across the row (always L1)
void onepass_l1(bf* d, const bf* s, size_t n, size_t H, size_t W, const float* g, const float* b) {
  for (size_t r = 0; r < n / H; ++r) for (size_t k = 0; k < H; k += W) norm_row<true>(d + r * H + k, s + r * H + k, W, g, b, 0.5f, 0.1f, nullptr, 0);
  _mm_sfence();
}
__attribute__((noinline)) void norm_row_g(bf* y, const bf* x, size_t H, const float* g, float s, float c) {
  const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
  for (size_t i = 0; i < H; i += 32) {
    __m512 a = _mm512_fmadd_ps(ld(x + i), vs, vc), e = _mm512_fmadd_ps(ld(x + i + 16), vs, vc);
    a = _mm512_mul_ps(a, _mm512_loadu_ps(g + i)); e = _mm512_mul_ps(e, _mm512_loadu_ps(g + i + 16));
    st2(y + i, a, e);
  }
}
void onepass_g(bf* d, const bf* s, size_t n, size_t H, const float* g) {
  for (size_t r = 0; r < n / H; ++r) norm_row_g(d + r * H, s + r * H, H, g, 0.5f, 0.1f);
  _mm_sfence();
}
// packed bf16 g/b: one 512-bit load = 16 g + 16 b
__attribute__((noinline)) void norm_row_p(bf* y, const bf* x, size_t H, const bf* gb, float s, float c) {
  const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
  for (size_t i = 0; i < H; i += 32) {
    __m512i p0 = _mm512_loadu_si512(gb + 2 * i), p1 = _mm512_loadu_si512(gb + 2 * i + 32);
    __m512 g0 = _mm512_castsi512_ps(_mm512_slli_epi32(p0, 16)), b0 = _mm512_castsi512_ps(_mm512_and_si512(p0, _mm512_set1_epi32(0xffff0000)));
    __m512 g1 = _mm512_castsi512_ps(_mm512_slli_epi32(p1, 16)), b1 = _mm512_castsi512_ps(_mm512_and_si512(p1, _mm512_set1_epi32(0xffff0000)));
    __m512 a = _mm512_fmadd_ps(ld(x + i), vs, vc), e = _mm512_fmadd_ps(ld(x + i + 16), vs, vc);
    a = _mm512_fmadd_ps(a, g0, b0); e = _mm512_fmadd_ps(e, g1, b1);
    st2(y + i, a, e);
  }
}
void onepass_p(bf* d, const bf* s, size_t n, size_t H, const bf* gb) {
  for (size_t r = 0; r < n / H; ++r) norm_row_p(d + r * H, s + r * H, H, gb, 0.5f, 0.1f);
  _mm_sfence();
}

// interleaved f32 g/b: [g 16][b 16] per vector
__attribute__((noinline)) void norm_row_i(bf* y, const bf* x, size_t H, const float* gb, float s, float c) {
  const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
  for (size_t i = 0; i < H; i += 32) {
    __m512 a = _mm512_fmadd_ps(ld(x + i), vs, vc), e = _mm512_fmadd_ps(ld(x + i + 16), vs, vc);
    a = _mm512_fmadd_ps(a, _mm512_loadu_ps(gb + 2 * i), _mm512_loadu_ps(gb + 2 * i + 16));
    e = _mm512_fmadd_ps(e, _mm512_loadu_ps(gb + 2 * i + 32), _mm512_loadu_ps(gb + 2 * i + 48));
    st2(y + i, a, e);
  }
}
void onepass_i(bf* d, const bf* s, size_t n, size_t H, size_t W, const float* gb) {
  for (size_t r = 0; r < n / H; ++r) for (size_t k = 0; k < H; k += W) norm_row_i(d + r * H + k, s + r * H + k, W, gb, 0.5f, 0.1f);
  _mm_sfence();
}

// groups of R rows: sums of each row in turn, then all R rows normalized vector by vector (g/b loaded once per R rows)
template <int R> __attribute__((noinline)) void ilv_norm(bf* const* y, const bf* const* x, size_t H, const float* g, const float* b, const float* m, const bf* const* nx, int hint) {
  __m512 vs[R], vc[R];
  for (int j = 0; j < R; ++j) vs[j] = _mm512_set1_ps(0.5f), vc[j] = _mm512_set1_ps(m[j] * 1e-9f);
  for (size_t i = 0; i < H; i += 32) {
    const __m512 g0 = _mm512_loadu_ps(g + i), g1 = _mm512_loadu_ps(g + i + 16), b0 = _mm512_loadu_ps(b + i), b1 = _mm512_loadu_ps(b + i + 16);
    for (int j = 0; j < R; ++j) {
      if (hint == 1 && (i % 64) == 0) _mm_prefetch((const char*)(nx[j] + i), _MM_HINT_T2);
      __m512 a = _mm512_fmadd_ps(ld(x[j] + i), vs[j], vc[j]), e = _mm512_fmadd_ps(ld(x[j] + i + 16), vs[j], vc[j]);
      a = _mm512_fmadd_ps(a, g0, b0); e = _mm512_fmadd_ps(e, g1, b1);
      st2(y[j] + i, a, e);
    }
  }
}
template <int R> void ilv(bf* d, const bf* s, size_t n, size_t H, const float* g, const float* b, int hint) {
  const size_t rows = n / H;
  for (size_t r = 0; r + R <= rows; r += R) {
    float m[R]; bf* y[R]; const bf* x[R]; const bf* nx[R];
    const size_t nr = r + R < rows ? r + R : r;
    for (int j = 0; j < R; ++j) { m[j] = sum_row(s + (r + j) * H, H); y[j] = d + (r + j) * H; x[j] = s + (r + j) * H; nx[j] = s + (nr + j) * H; }
    ilv_norm<R>(y, x, H, g, b, m, nx, hint);
  }
  _mm_sfence();
}

// groups of R rows, pipelined: chunk k of the R rows of group g normalized, then chunk k of the R rows of group g+1 summed
template <int R> void gpipe(bf* d, const bf* s, size_t n, size_t H, size_t C, const float* g, const float* b, int hint) {
  const size_t rows = n / H;
  float m[R], nm[R];
  for (int j = 0; j < R; ++j) m[j] = sum_row(s + j * H, H);
  for (size_t r = 0; r + R <= rows; r += R) {
    const bool more = r + 2 * R <= rows;
    for (int j = 0; j < R; ++j) nm[j] = 0;
    for (size_t k = 0; k < H; k += C) {
      const size_t w = std::min(C, H - k);
      for (int j = 0; j < R; ++j)
        norm_row<true>(d + (r + j) * H + k, s + (r + j) * H + k, w, g + k, b + k, 0.5f, m[j] * 1e-9f, s + (more ? r + R + j : r + j) * H + k, hint);
      if (more) for (int j = 0; j < R; ++j) nm[j] += sum_row(s + (r + R + j) * H + k, w);
    }
    for (int j = 0; j < R; ++j) m[j] = nm[j];
  }
  _mm_sfence();
}
int main(int argc, char** argv) {
  const size_t H = argc > 1 ? atoi(argv[1]) : 4096;
  const size_t n = (256u << 20) / 2;
  bf* s = (bf*)aligned_alloc(4096, n * 2); bf* d = (bf*)aligned_alloc(4096, n * 2);
  const size_t go = argc > 2 ? atoi(argv[2]) : 0, bo = argc > 3 ? atoi(argv[3]) : 0; float* g = (float*)aligned_alloc(4096, H * 4 + 8192) + go; float* b = (float*)aligned_alloc(4096, H * 4 + 8192) + bo;
  for (size_t i = 0; i < H; ++i) g[i] = 1.f, b[i] = 0.f;
  for (size_t i = 0; i < n; ++i) s[i] = 0x3f80 + (i % 7);
  memset(d, 0, n * 2); float* gbi = (float*)aligned_alloc(64, H * 8); for (size_t i = 0; i < 2 * H; ++i) gbi[i] = (i / 16) % 2 ? 0.f : 1.f; bf* gb = (bf*)aligned_alloc(64, H * 4); for (size_t i = 0; i < 2 * H; ++i) gb[i] = 0x3f80;
  const char* names[] = {"stream_copy", "onepass_noaff", "onepass_aff", "rowwise_aff_nopf", "rowwise_aff_t0", "rowwise_aff_t2", "pipe2048_aff_t0", "pipe2048_aff_t2", "pipe2048_aff_nopf", "rowwise_noaff_t2", "pipe4096_aff_t2", "grp4_C512_t2", "grp4_C1024_t2", "grp8_C512_t2", "grp4_C512_t0", "grp8_C1024_t2", "grp2_C1024_t2", "onepass_l1_512", "onepass_l1_128", "onepass_g", "onepass_packed", "l1_256", "l1_1024", "l1_2048", "inter_full", "inter_W512", "inter_W128", "ilv2_t2", "ilv4_t2", "ilv4_nopf", "ilv8_t2", "grp2_C2048", "grp4_C2048", "grp8_C2048", "grp16_C1024", "grp4_C4096", "gp4_C1024_t2", "gp4_C2048_t2", "gp8_C1024_t2", "gp4_C1024_nopf", "gp2_C2048_t2", "gp4_C512_t2"};
  const int K = 42; std::vector<std::vector<double>> t(K);
  for (int rep = 0; rep < 11; ++rep) for (int k = 0; k < K; ++k) {
    double t0 = now();
    switch (k) {
      case 0: stream_copy(d, s, n); break;
      case 1: onepass<false>(d, s, n, H, g, b); break;
      case 2: onepass<true>(d, s, n, H, g, b); break;
      case 3: rowwise<true>(d, s, n, H, g, b, 0); break;
      case 4: rowwise<true>(d, s, n, H, g, b, 3); break;
      case 5: rowwise<true>(d, s, n, H, g, b, 1); break;
      case 6: pipelined<true>(d, s, n, H, 2048, g, b, 3); break;
      case 7: pipelined<true>(d, s, n, H, 2048, g, b, 1); break;
      case 8: pipelined<true>(d, s, n, H, 2048, g, b, 0); break;
      case 9: rowwise<false>(d, s, n, H, g, b, 1); break;
      case 10: pipelined<true>(d, s, n, H, 4096, g, b, 1); break;
      case 11: grouped<4>(d, s, n, H, 512, g, b, 1); break;
      case 12: grouped<4>(d, s, n, H, 1024, g, b, 1); break;
      case 13: grouped<8>(d, s, n, H, 512, g, b, 1); break;
      case 14: grouped<4>(d, s, n, H, 512, g, b, 3); break;
      case 15: grouped<8>(d, s, n, H, 1024, g, b, 1); break;
      case 16: grouped<2>(d, s, n, H, 1024, g, b, 1); break;
      case 17: onepass_l1(d, s, n, H, 512, g, b); break;
      case 18: onepass_l1(d, s, n, H, 128, g, b); break;
      case 19: onepass_g(d, s, n, H, g); break;
      case 20: onepass_p(d, s, n, H, gb); break;
      case 21: onepass_l1(d, s, n, H, 256, g, b); break;
      case 22: onepass_l1(d, s, n, H, 1024, g, b); break;
      case 23: onepass_l1(d, s, n, H, 2048, g, b); break;
      case 24: onepass_i(d, s, n, H, H, gbi); break;
      case 25: onepass_i(d, s, n, H, 512, gbi); break;
      case 26: onepass_i(d, s, n, H, 128, gbi); break;
      case 27: ilv<2>(d, s, n, H, g, b, 1); break;
      case 28: ilv<4>(d, s, n, H, g, b, 1); break;
      case 29: ilv<4>(d, s, n, H, g, b, 0); break;
      case 30: ilv<8>(d, s, n, H, g, b, 1); break;
      case 31: grouped<2>(d, s, n, H, 2048, g, b, 1); break;
      case 32: grouped<4>(d, s, n, H, 2048, g, b, 1); break;
      case 33: grouped<8>(d, s, n, H, 2048, g, b, 1); break;
      case 34: grouped<16>(d, s, n, H, 1024, g, b, 1); break;
      case 35: grouped<4>(d, s, n, H, 4096, g, b, 1); break;
      case 36: gpipe<4>(d, s, n, H, 1024, g, b, 1); break;
      case 37: gpipe<4>(d, s, n, H, 2048, g, b, 1); break;
      case 38: gpipe<8>(d, s, n, H, 1024, g, b, 1); break;
      case 39: gpipe<4>(d, s, n, H, 1024, g, b, 0); break;
      case 40: gpipe<2>(d, s, n, H, 2048, g, b, 1); break;
      case 41: gpipe<4>(d, s, n, H, 512, g, b, 1); break;
    }
    t[k].push_back(now() - t0);
  }
  for (int k = 0; k < K; ++k) { std::sort(t[k].begin(), t[k].end()); double m = t[k][t[k].size()/2]; std::printf("%-18s %7.2f ms  %5.1f GB/s  vs copy %.2f  (min %.2f)\n", names[k], m*1e3, 2*n*2/m/1e9, t[0][t[0].size()/2]/m, t[0][0]/t[k][0]); }
  std::printf("%g\n", sink);
}
