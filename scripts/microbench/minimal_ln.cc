// minimal_ln: how close can a LayerNorm forward of short f32 rows come to the
// streaming copy on this machine, and what do the Highway kernel's extras cost
// (issue 15: f32 H = 128 is the preset's furthest DRAM cell from 90%)? One
// thread, rows of H = 128 f32 (8 AVX-512 vectors), affine, streaming stores,
// x drawn uniform in [-2, 2) (mean 0, as the default `normal` rows: the
// kernel's raw sums apply).
//
//   g++ -O2 -march=native -o /tmp/minimal_ln scripts/microbench/minimal_ln.cc && /tmp/minimal_ln [rounds] [KiB of x] [reps] [H]
//
// With the kernel itself (its f32 rows function, AVX3 target; AVX3_DL before 2026-12-07, the
// same code) timed on the
// same buffers, linked against a Release build in build/:
//
//   g++ -O2 -march=native -DWITH_KERNEL -DHWY_WANT_AVX3_DL -I. -Isrc -o /tmp/minimal_ln
//     scripts/microbench/minimal_ln.cc -Wl,--start-group build/backends/highway/liblnbench_backend_highway.a
//     build/liblnbench_backends.a build/liblnbench_core.a -Wl,--end-group -lhwy -lfmt -lpthread
//
// Every variant runs on the same x and y, in a new random order each round
// (the variant right after the copy ran slower, whichever it was). Prints each
// variant's median time and the streaming copy's median time over it
// ("vs copy"; 1.00 = the copy's speed). Defaults: 15 rounds, 256 MiB of x
// (DRAM), H = 128; `15 256 300` is a cache-sized x timed 300 times per
// sample. H: a multiple of 32 up to 1024.
//
// Variants, each a batch of 4 rows (statistics of the 4, then the 4 written),
// as the kernel's ShortRowsWithTag:
//   batch4       raw sums (sum x, sum x^2, two accumulators each, loops over
//                a row length known at run time), mean and rstd in double;
//   batch4_pf    + prefetcht2 of the next batch's row while each row is
//                written (two lines per 32 elements, as WriteRowRange);
//   batch4_chk   + the kernel's safety tests of the raw sums and its choice
//                of the direct or offset form (MergeRawSums, FinishBlock,
//                RowScale);
//   batch4_both  both.
//
// `bf16` as the fifth argument times bf16 rows instead (H a multiple of 32;
// x and y bf16, gamma and beta f32), against a streaming copy of the same
// bytes: BatchBf16 below, the minimal batch with ordinary stores (the
// kernel's default for these rows) or streaming ones (_nt), in batches of 4,
// 16 or 64 rows, with a prefetch 2-16 KiB ahead of each written line
// (_pfNk), and with -DWITH_KERNEL the bf16 kernel as the backend calls it:
//
//   /tmp/minimal_ln 15 262144 1 128 bf16
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "shuffled_rounds.h"
#include "stream_copy.h"
#ifdef WITH_KERNEL
#include "backends/highway/layernorm_highway.h"
#include "hwy/targets.h"
#endif

static volatile int g_cols = 128;  // volatile: a row length known at run time only
alignas(64) static float g_gamma[1024], g_beta[1024];

// Sum x and sum x^2 of a row, two accumulators each (the raw sums of the
// minimal batches, f32 and bf16).
struct RawSums {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
  void Add(__m512 a, __m512 c) {
    s0 = _mm512_add_ps(s0, a);
    s1 = _mm512_add_ps(s1, c);
    q0 = _mm512_fmadd_ps(a, a, q0);
    q1 = _mm512_fmadd_ps(c, c, q1);
  }
  double Sum() const { return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)); }
  double SumSq() const { return _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)); }
};

template <bool kPrefetch, bool kChecks>
static void Batch4(float* y, const float* x, size_t n) {
  const int h = g_cols;
  for (size_t i = 0; i < n; i += 4 * static_cast<size_t>(h)) {
    float mean[4], rstd[4];
    for (int j = 0; j < 4; ++j) {
      const float* xr = x + i + j * h;
      RawSums sums;
      for (int k = 0; k < h; k += 32) sums.Add(_mm512_load_ps(xr + k), _mm512_load_ps(xr + k + 16));
      const double ss = sums.Sum(), qq = sums.SumSq();
      double mu = ss / h;
      double var = qq / h - mu * mu;
      if (kChecks) {  // the tests MergeRawSums, FinishBlock and RowScale make
        if (!std::isfinite(qq) || ss * ss > 0.25 * h * qq || qq < h * 1e-30) {
          mean[j] = rstd[j] = 0;
          continue;
        }
        if (ss * ss > 0.25 * h * qq) mu += 1;
        if (var < 0) var = 0;
        const double rs = 1.0 / std::sqrt(var + 1e-5);
        const double c = -mu * rs;
        const bool direct = var > 0 && std::isfinite(var) && std::abs(c) <= 1.0;
        mean[j] = direct ? 0.0f : static_cast<float>(mu);
        rstd[j] = static_cast<float>(rs);
      } else {
        mean[j] = static_cast<float>(mu);
        rstd[j] = static_cast<float>(1.0 / std::sqrt(var + 1e-5));
      }
    }
    const bool next = i + 4 * static_cast<size_t>(h) < n;
    for (int j = 0; j < 4; ++j) {
      const float* xr = x + i + j * h;
      float* yr = y + i + j * h;
      const __m512 m = _mm512_set1_ps(mean[j]), r = _mm512_set1_ps(rstd[j]);
      for (int k = 0; k < h; k += 16) {
        const __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(xr + k), m), r);
        const __m512 o = _mm512_fmadd_ps(t, _mm512_load_ps(g_gamma + k), _mm512_load_ps(g_beta + k));
        if (kPrefetch && (k & 16) == 0 && next) {
          _mm_prefetch(reinterpret_cast<const char*>(xr + 4 * h + k), _MM_HINT_T2);
          _mm_prefetch(reinterpret_cast<const char*>(xr + 4 * h + k + 16), _MM_HINT_T2);
        }
        _mm512_stream_ps(yr + k, o);
      }
    }
  }
  _mm_sfence();
}

// bf16 rows (x and y bf16, gamma and beta f32; `bf16` as the 5th argument):
// a minimal batch of kRows in the layout cheapest for AVX-512: a vector of 32
// bf16 read as its even elements (the word shifted into the high half) and
// its odd ones (masked in place), gamma and beta stored in that order
// (g_gamma_eo), y rounded by VCVTNE2PS2BF16 and put back in order with one
// VPERMW. No safety tests. kStream: streaming stores, else ordinary ones (the
// kernel's default for these rows). kPrefetchKiB > 0: a prefetcht0 that far
// ahead of each vector of x as it is normalized.
alignas(64) static float g_gamma_eo[1024], g_beta_eo[1024];

// The even elements of 32 bf16 (each word shifted into the high half) and the
// odd ones (masked in place), as f32.
static inline void EvenOdd(__m512i v, __m512& even, __m512& odd) {
  even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

template <bool kStream, int kRows = 4, int kPrefetchKiB = 0>
static void BatchBf16(uint16_t* y, const uint16_t* x, size_t n) {
  const int h = g_cols;
  alignas(64) uint16_t idx[32];
  for (int i = 0; i < 16; ++i) {  // out[2i] = cvt(even)[i] (low half), out[2i+1] = cvt(odd)[i]
    idx[2 * i] = static_cast<uint16_t>(i);
    idx[2 * i + 1] = static_cast<uint16_t>(16 + i);
  }
  const __m512i perm = _mm512_load_si512(idx);
  for (size_t i = 0; i < n; i += kRows * static_cast<size_t>(h)) {
    float mean[kRows], rstd[kRows];
    for (int j = 0; j < kRows; ++j) {
      const uint16_t* xr = x + i + j * h;
      RawSums sums;
      for (int k = 0; k < h; k += 32) {
        __m512 a, c;
        EvenOdd(_mm512_load_si512(xr + k), a, c);
        sums.Add(a, c);
      }
      const double ss = sums.Sum(), qq = sums.SumSq();
      const double mu = ss / h;
      const double var = std::max(qq / h - mu * mu, 0.0);
      mean[j] = static_cast<float>(mu);
      rstd[j] = static_cast<float>(1.0 / std::sqrt(var + 1e-5));
    }
    for (int j = 0; j < kRows; ++j) {
      const uint16_t* xr = x + i + j * h;
      uint16_t* yr = y + i + j * h;
      const __m512 m = _mm512_set1_ps(mean[j]), r = _mm512_set1_ps(rstd[j]);
      for (int k = 0; k < h; k += 32) {
        __m512 a, c;
        EvenOdd(_mm512_load_si512(xr + k), a, c);
        const __m512 ya = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_sub_ps(a, m), r),
                                          _mm512_load_ps(g_gamma_eo + k), _mm512_load_ps(g_beta_eo + k));
        const __m512 yc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_sub_ps(c, m), r),
                                          _mm512_load_ps(g_gamma_eo + k + 16),
                                          _mm512_load_ps(g_beta_eo + k + 16));
        if (kPrefetchKiB > 0) {
          _mm_prefetch(reinterpret_cast<const char*>(xr + k) + kPrefetchKiB * 1024, _MM_HINT_T0);
        }
        const __m512i packed = _mm512_permutexvar_epi16(
            perm, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(yc, ya)));
        if (kStream) {
          _mm512_stream_si512(reinterpret_cast<__m512i*>(yr + k), packed);
        } else {
          _mm512_store_si512(yr + k, packed);
        }
      }
    }
  }
  _mm_sfence();
}

// The bf16 variants in the f32 variants' signature: the buffers hold g_n16
// bf16 elements.
static size_t g_n16;
template <bool kStream, int kRows, int kPrefetchKiB>
static void OnBf16(float* y, const float* x, size_t) {
  BatchBf16<kStream, kRows, kPrefetchKiB>(reinterpret_cast<uint16_t*>(y),
                                          reinterpret_cast<const uint16_t*>(x), g_n16);
}

#ifdef WITH_KERNEL
static lnbench::HwyRowsFn g_kernel;
// Runs g_kernel over the n elements of x (stream: streaming stores).
static void RunKernel(void* y, const void* x, size_t n, bool stream) {
  lnbench::HwyRowsArgs a;
  a.x = x;
  a.y = y;
  a.cols = g_cols;
  a.gamma = g_gamma;
  a.beta = g_beta;
  a.stream = stream;
  g_kernel(a, 0, static_cast<int64_t>(n / g_cols));
}
static void Kernel(float* y, const float* x, size_t n) { RunKernel(y, x, n, true); }
// The bf16 kernel as the backend calls it for short 16-bit LayerNorm rows:
// ordinary stores, batches of 4 (UnstreamedByDefault); the buffers hold g_n16
// bf16 elements.
static void KernelBf16(float* y, const float* x, size_t) { RunKernel(y, x, g_n16, false); }
#endif

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 15;
  const size_t bytes = static_cast<size_t>(argc > 2 ? atoll(argv[2]) : 262144) << 10;
  const int reps = argc > 3 ? atoi(argv[3]) : 1;
  const int cols = argc > 4 ? atoi(argv[4]) : 128;
  if (cols < 32 || cols > 1024 || cols % 32 != 0) {
    fprintf(stderr, "minimal_ln: H must be a multiple of 32 from 32 to 1024\n");
    return 2;
  }
  g_cols = cols;
  const size_t n = bytes / sizeof(float) / (4 * cols) * (4 * cols);  // whole batches
  float* x = static_cast<float*>(aligned_alloc(2 << 20, bytes));
  float* y = static_cast<float*>(aligned_alloc(2 << 20, bytes));
  madvise(x, bytes, MADV_HUGEPAGE);
  madvise(y, bytes, MADV_HUGEPAGE);
  for (size_t i = 0; i < n; ++i) {
    x[i] = (static_cast<float>((i * 2654435761u) % 2000) - 1000.0f) * 0.002f;
    y[i] = 0;
  }
  for (int i = 0; i < 1024; ++i) {
    g_gamma[i] = 1.0f + i * 1e-3f;
    g_beta[i] = 0.5f;
  }
  const bool bf16 = argc > 5 && strcmp(argv[5], "bf16") == 0;
  struct Variant {
    const char* name;
    void (*run)(float*, const float*, size_t);
  };
  std::vector<Variant> v;
  if (bf16) {
    for (int k = 0; k < 1024; k += 32) {  // gamma and beta in BatchBf16's even/odd order
      for (int i = 0; i < 16; ++i) {
        g_gamma_eo[k + i] = g_gamma[k + 2 * i];
        g_gamma_eo[k + 16 + i] = g_gamma[k + 2 * i + 1];
        g_beta_eo[k + i] = g_beta[k + 2 * i];
        g_beta_eo[k + 16 + i] = g_beta[k + 2 * i + 1];
      }
    }
    // The same buffers as bf16: n / 2 floats' bytes hold n bf16 (x from the
    // f32 values above, rounded down: any finite values do).
    g_n16 = n / (64 * cols) * (64 * cols);  // whole batches of 64
    uint16_t* x16 = reinterpret_cast<uint16_t*>(x);
    for (size_t i = 0; i < g_n16; ++i) {
      uint32_t b;
      memcpy(&b, &x[i], 4);
      x16[i] = static_cast<uint16_t>(b >> 16);  // in place: x16[i] lies at or before x[i]
    }
    v = {{"stream_copy", [](float* yy, const float* xx, size_t) { StreamCopy(yy, xx, g_n16 / 2); }},
         {"batch4_bf16", OnBf16<false, 4, 0>},      {"batch4_bf16_nt", OnBf16<true, 4, 0>},
         {"b4_pf2k", OnBf16<false, 4, 2>},          {"b4_pf4k", OnBf16<false, 4, 4>},
         {"b4_pf8k", OnBf16<false, 4, 8>},          {"b4_pf16k", OnBf16<false, 4, 16>},
         {"b4_nt_pf8k", OnBf16<true, 4, 8>},        {"batch16_bf16", OnBf16<false, 16, 0>},
         {"batch16_bf16_nt", OnBf16<true, 16, 0>},  {"batch64_bf16_nt", OnBf16<true, 64, 0>}};
  } else {
    v = {{"stream_copy", StreamCopy},
         {"batch4", Batch4<false, false>},
         {"batch4_pf", Batch4<true, false>},
         {"batch4_chk", Batch4<false, true>},
         {"batch4_both", Batch4<true, true>}};
  }
#ifdef WITH_KERNEL
  g_kernel = lnbench::HighwayRowsFunction(bf16 ? lnbench::DType::kBF16 : lnbench::DType::kF32,
                                          HWY_AVX3);
  if (g_kernel == nullptr) {
    fprintf(stderr, "minimal_ln: no AVX3 kernel in this build\n");
    return 1;
  }
  v.push_back(bf16 ? Variant{"kernel_bf16", KernelBf16} : Variant{"kernel", Kernel});
#endif
  std::vector<std::vector<double>> t = ShuffledRounds(v.size(), rounds, [&](size_t k) {
    for (int q = 0; q < reps; ++q) v[k].run(y, x, n);
  });
  for (auto& a : t) {
    for (double& s : a) s /= reps;
  }
  const double copy = t[0][rounds / 2];
  for (size_t k = 0; k < v.size(); ++k) {
    printf("%-15s %10.4f ms  vs copy %.2f\n", v[k].name, t[k][rounds / 2] * 1e3,
           copy / t[k][rounds / 2]);
  }
  return 0;
}
