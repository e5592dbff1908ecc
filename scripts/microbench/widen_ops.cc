// widen_ops: the throughput of the vector instructions the 16-bit kernels spend their
// time on, on this core: VPERMW (the bf16 widening in order), VPSLLD (the unordered one),
// VFMADD, VCVTNE2PS2BF16 (two f32 vectors rounded to bf16), and a load of 16 elements
// widened by VCVTPH2PS (f16), VPERMW (bf16, in order) or VPANDD (bf16, odd elements).
// Each instruction runs in 12 independent chains, so the figure is its throughput, not
// its latency: ns per instruction, the best of five rounds.
//
//   g++ -O2 -march=native -o /tmp/widen_ops scripts/microbench/widen_ops.cc && taskset -c 1 /tmp/widen_ops
//
// Needs AVX-512BW and AVX512_BF16. Zen 5 VM, 2026-12-07, vCPU 1, three runs: VPERMW
// 0.15-0.16 ns, VPSLLD 0.15-0.21, VFMADD 0.15-0.21, VCVTNE2PS2BF16 0.31-0.33; loads widened
// by VCVTPH2PS 0.22-0.25, VPERMW 0.16-0.22, VPANDD 0.17-0.21
// (results/cpu/2026-12-07-zen5-e/tried_not_kept.txt). So an even/odd layout of bf16 rows
// (a shift and an AND per load instead of a VPERMW) would trade one operation for another
// of the same cost.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

namespace {

constexpr long kIterations = 50000000;
alignas(64) unsigned short buf[12 * 32];

// Returns ns per instruction of body(n), which runs n iterations of 12 instructions.
template <class F>
double NsPerOp(const F& body) {
  const auto t0 = std::chrono::steady_clock::now();
  body(kIterations);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (kIterations * 12.0);
}

// The asm statements keep each chain's value in a register and stop the compiler from
// folding, hoisting or vectorizing the chains away.
#define KEEP(v) __asm__ volatile("" : "+v"(v));
#define USE(v) __asm__ volatile("" ::"v"(v));
#define LOAD256(h, i) __asm__ volatile("vmovdqu %1, %0" : "=x"(h) : "m"(*(const __m256i*)(buf + (i) * 32)));
#define LOAD512(h, i) __asm__ volatile("vmovdqu64 %1, %0" : "=v"(h) : "m"(*(const __m512i*)(buf + (i) * 32)));

double Vpermw() {
  const __m512i idx = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                       15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  return NsPerOp([&](long n) {
#define D(i) __m512i v##i = _mm512_set1_epi32(i + 1);
    R12(D)
    for (long k = 0; k < n; ++k) {
#define P(i) v##i = _mm512_maskz_permutexvar_epi16(0xAAAAAAAAu, idx, v##i); KEEP(v##i)
      R12(P)
    }
#define U(i) USE(v##i)
    R12(U)
  });
}

double Vpslld() {
  return NsPerOp([&](long n) {
    R12(D)
    for (long k = 0; k < n; ++k) {
#define SH(i) v##i = _mm512_slli_epi32(v##i, 1); KEEP(v##i)
      R12(SH)
    }
    R12(U)
  });
}

double Vfmadd() {
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(1e-9f);
  return NsPerOp([&](long n) {
#define DF(i) __m512 f##i = _mm512_set1_ps(1.0f + i);
    R12(DF)
    for (long k = 0; k < n; ++k) {
#define F(i) f##i = _mm512_fmadd_ps(f##i, a, b); KEEP(f##i)
      R12(F)
    }
#define UF(i) USE(f##i)
    R12(UF)
  });
}

double Vcvtne2ps2bf16() {
  const __m512 a = _mm512_set1_ps(1.0000001f);
  return NsPerOp([&](long n) {
    R12(DF)
    for (long k = 0; k < n; ++k) {
#define C(i) f##i = (__m512)_mm512_cvtne2ps_pbh(f##i, a); KEEP(f##i)
      R12(C)
    }
    R12(UF)
  });
}

double LoadVcvtph2ps() {
  return NsPerOp([&](long n) {
    R12(DF)
    for (long k = 0; k < n; ++k) {
#define LC(i) { __m256i h; LOAD256(h, i) f##i = _mm512_cvtph_ps(h); KEEP(f##i) }
      R12(LC)
    }
    R12(UF)
  });
}

double LoadVpermw() {
  const __m512i idx = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0,
                                       7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0, 0);
  return NsPerOp([&](long n) {
#define DZ(i) __m512i v##i = _mm512_setzero_si512();
    R12(DZ)
    for (long k = 0; k < n; ++k) {
#define LP(i) { __m256i h; LOAD256(h, i) v##i = _mm512_maskz_permutexvar_epi16(0xAAAAAAAAu, idx, _mm512_castsi256_si512(h)); KEEP(v##i) }
      R12(LP)
    }
    R12(U)
  });
}

double LoadVpandd() {
  const __m512i mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  return NsPerOp([&](long n) {
    R12(DF)
    for (long k = 0; k < n; ++k) {
#define LA(i) { __m512i h; LOAD512(h, i) f##i = _mm512_castsi512_ps(_mm512_and_si512(h, mask)); KEEP(f##i) }
      R12(LA)
    }
    R12(UF)
  });
}

}  // namespace

int main() {
  for (int i = 0; i < 12 * 32; ++i) buf[i] = static_cast<unsigned short>(0x3c00 + i);
  double best[7];
  std::fill(best, best + 7, 1e30);
  for (int round = 0; round < 5; ++round) {
    const double t[7] = {Vpermw(), Vpslld(), Vfmadd(), Vcvtne2ps2bf16(),
                         LoadVcvtph2ps(), LoadVpermw(), LoadVpandd()};
    for (int k = 0; k < 7; ++k) best[k] = std::min(best[k], t[k]);
  }
  std::printf("ns per instruction (12 independent chains, best of 5 rounds):\n");
  std::printf("  VPERMW %.3f  VPSLLD %.3f  VFMADD %.3f  VCVTNE2PS2BF16 %.3f\n", best[0], best[1],
              best[2], best[3]);
  std::printf("a load of 16 elements widened by: VCVTPH2PS %.3f  VPERMW %.3f  VPANDD %.3f\n",
              best[4], best[5], best[6]);
}
