// short_rows: why streamed short rows go in batches (issue 15). The
// statistics pass of the norm kernels over 256 MiB of f32 rows of H = 128 and
// 256 (a shift, then sum and sum of squares, two reductions and a double
// rstd per row), read in three orders, against a plain read of the same
// bytes; one thread, median of 9 rounds.
//
//   g++ -O2 -march=native -o /tmp/short_rows scripts/microbench/short_rows.cc && /tmp/short_rows
//
// Needs AVX-512F. Orders: "groups" four rows interleaved vector by vector, as
// the row groups do; "batches" four rows one after the other, as the batches
// do; "rows" one row at a time.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

static double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static volatile float g_sink;
static float g_rstd[1 << 16];

template <int R>
__attribute__((noinline)) void Stats(const float* s, size_t n, size_t H, bool interleave) {
  for (size_t r = 0; r < n / H; r += R) {
    __m512 sh[R], s0[R], s1[R], q0[R], q1[R];
    for (int j = 0; j < R; ++j) {
      sh[j] = _mm512_set1_ps(s[(r + j) * H]);
      s0[j] = s1[j] = q0[j] = q1[j] = _mm512_setzero_ps();
    }
    const auto step = [&](int j, size_t i) {
      const float* x = s + (r + j) * H;
      const __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh[j]);
      const __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), sh[j]);
      s0[j] = _mm512_add_ps(s0[j], t0);
      s1[j] = _mm512_add_ps(s1[j], t1);
      q0[j] = _mm512_fmadd_ps(t0, t0, q0[j]);
      q1[j] = _mm512_fmadd_ps(t1, t1, q1[j]);
    };
    if (interleave) {
      for (size_t i = 0; i < H; i += 32)
        for (int j = 0; j < R; ++j) step(j, i);
    } else {
      for (int j = 0; j < R; ++j)
        for (size_t i = 0; i < H; i += 32) step(j, i);
    }
    for (int j = 0; j < R; ++j) {
      const double sum = _mm512_reduce_add_ps(_mm512_add_ps(s0[j], s1[j]));
      const double sq = _mm512_reduce_add_ps(_mm512_add_ps(q0[j], q1[j]));
      const double mean = sum / double(H);
      g_rstd[(r + j) & 0xFFFF] = float(1.0 / std::sqrt(std::fabs(sq / double(H) - mean * mean) + 1e-5));
    }
  }
}

__attribute__((noinline)) void ReadOnly(const float* s, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  for (size_t i = 0; i < n; i += 32) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(s + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(s + i + 16));
  }
  g_sink = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

int main() {
  const size_t n = (256u << 20) / 4;
  float* s = static_cast<float*>(std::aligned_alloc(4096, n * 4));
  for (size_t i = 0; i < n; ++i) s[i] = float(i % 1000) * 0.001f;
  std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"read only", [&] { ReadOnly(s, n); }}};
  for (size_t H : {128, 256}) {
    const std::string h = " H=" + std::to_string(H);
    cases.push_back({"groups" + h, [=] { Stats<4>(s, n, H, true); }});
    cases.push_back({"batches" + h, [=] { Stats<4>(s, n, H, false); }});
    cases.push_back({"rows" + h, [=] { Stats<1>(s, n, H, false); }});
  }
  std::vector<std::vector<double>> t(cases.size());
  for (int round = 0; round < 9; ++round) {
    for (size_t k = 0; k < cases.size(); ++k) {
      const double t0 = Now();
      cases[k].second();
      t[k].push_back(Now() - t0);
    }
  }
  for (size_t k = 0; k < cases.size(); ++k) {
    std::sort(t[k].begin(), t[k].end());
    std::printf("%-14s %7.2f ms\n", cases[k].first.c_str(), t[k][t[k].size() / 2] * 1e3);
  }
}
