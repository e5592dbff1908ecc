// row_patterns: how far the norm kernels' memory patterns alone can go against
// the streaming copy of the same bytes, on one thread at 128 MiB of x (issues
// 13 and 15). Each pattern is the kernel's loop shape with the kernel's loads,
// streaming stores and prefetches, and only as much arithmetic as each variant
// names; none of it computes a real norm.
//
//   g++ -O2 -march=native -o /tmp/row_patterns scripts/microbench/row_patterns.cc && /tmp/row_patterns [rounds [--tiled]]
//
// Needs AVX-512F. Variants run on the same buffers in a new random order each
// round (shuffled_rounds.h); "vs copy" is the median time of a streaming copy
// of the same bytes over the variant's median time (1.00 = the copy's speed).
//
// Forward (x read, y streamed: the copy moves |x| bytes), rows of f32:
//   fwd_g<R>_H         the LayerNorm forward's row groups (GroupsWithTag):
//                      block k (2048 columns) of R rows normalized (gamma and
//                      beta loaded once per group, two FMAs each, prefetcht2
//                      of the same columns of the next group), then block k
//                      of the next R rows summed (sum and sum of squares);
//   fwd_g4_H_noparams  the same without gamma and beta (constants instead).
// Backward (x and dy read, dx streamed: the copy moves 1.5 |x| bytes, half of
// x + dy + dx read and half written), single rows of f32 as the single-row
// backward: a sums pass over x and dy, then a dx pass over them again:
//   bwd_bare_H         sums: one add and one FMA per vector; dx: one FMA;
//   bwd_arith_H        the backward's arithmetic (x - mean, x̂, g·dy, two
//                      sums; dx = g·dy·rstd + (x - mean)·c1 + c0) and gamma loads;
//   bwd_partials_H     + the dγ/dβ partials loaded, added to and stored in the
//                      sums pass, as single rows do;
//   ..._t0, ..._none   the dx pass prefetches the next row with prefetcht0, or
//                      not at all, instead of prefetcht2;
//   bwd_fused4_H       the fused groups of four rows (FusedGroups) that the
//                      backward takes where dx streams, from H = 1366;
//   bwd_fused8_H       the same in groups of eight;
//   bwd_fused4_H_noparts  the fused groups without the partials' loads and
//                      stores (the group's terms summed into a register).
// --tiled replaces the list with the backward's single rows and fused groups
// at H = 768-16384 and a column-tiled shape not in the kernels:
//   bwd_tiled<B>_H     rows in blocks of B: each row's sums, then the block in
//                      tiles of 128 columns, every row of the block in turn
//                      (its dx streamed, its dγ/dβ terms added to 16
//                      registers, the next block's same tile prefetched into
//                      L2), the tile's partials stored once per block.
//
// Measured on the Zen 5 VM (2026-12-07): docs/results.md, "the kernels' memory
// patterns alone"; raw output and the kernels timed in the same rounds in
// results/cpu/2026-12-07-zen5-c/ (kernel_vs_pattern.sh).
#include <immintrin.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "shuffled_rounds.h"
#include "stream_copy.h"

namespace {

float sink;

// The forward's row groups of R rows over n floats of rows of H.
template <int R, bool kParams>
void ForwardGroups(float* y, const float* x, size_t n, size_t H, const float* g, const float* b) {
  constexpr size_t kBlock = 2048;
  const size_t rows = n / H;
  float rstd[R], c[R];
  for (int j = 0; j < R; ++j) rstd[j] = 1.0f, c[j] = 0.0f;
  for (size_t r = 0; r + R <= rows; r += R) {
    const bool next = r + 2 * R <= rows;
    __m512 s[R], q[R];
    for (int j = 0; j < R; ++j) s[j] = q[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < H; k += kBlock) {
      for (size_t i = k; i < k + kBlock; i += 32) {
        const __m512 g0 = kParams ? _mm512_loadu_ps(g + i) : _mm512_set1_ps(1.0f);
        const __m512 g1 = kParams ? _mm512_loadu_ps(g + i + 16) : _mm512_set1_ps(1.0f);
        const __m512 b0 = kParams ? _mm512_loadu_ps(b + i) : _mm512_setzero_ps();
        const __m512 b1 = kParams ? _mm512_loadu_ps(b + i + 16) : _mm512_setzero_ps();
        for (int j = 0; j < R; ++j) {
          const float* xr = x + (r + j) * H;
          float* yr = y + (r + j) * H;
          if (next) _mm_prefetch(reinterpret_cast<const char*>(xr + R * H + i), _MM_HINT_T2);
          const __m512 vr = _mm512_set1_ps(rstd[j]), vc = _mm512_set1_ps(c[j]);
          const __m512 t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xr + i), vr, vc);
          const __m512 t1 = _mm512_fmadd_ps(_mm512_loadu_ps(xr + i + 16), vr, vc);
          _mm512_stream_ps(yr + i, _mm512_fmadd_ps(t0, g0, b0));
          _mm512_stream_ps(yr + i + 16, _mm512_fmadd_ps(t1, g1, b1));
        }
      }
      if (!next) continue;
      for (int j = 0; j < R; ++j) {
        const float* xr = x + (r + R + j) * H;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, q0 = a0, q1 = a0;
        for (size_t i = k; i < k + kBlock; i += 32) {
          const __m512 v0 = _mm512_loadu_ps(xr + i), v1 = _mm512_loadu_ps(xr + i + 16);
          a0 = _mm512_add_ps(a0, v0);
          a1 = _mm512_add_ps(a1, v1);
          q0 = _mm512_fmadd_ps(v0, v0, q0);
          q1 = _mm512_fmadd_ps(v1, v1, q1);
        }
        s[j] = _mm512_add_ps(s[j], _mm512_add_ps(a0, a1));
        q[j] = _mm512_add_ps(q[j], _mm512_add_ps(q0, q1));
      }
    }
    for (int j = 0; j < R; ++j) {
      const float mean = _mm512_reduce_add_ps(s[j]) / H;
      const float var = _mm512_reduce_add_ps(q[j]) / H - mean * mean;
      rstd[j] = 1e-30f / (var + 1e-5f);  // keeps y finite; the values do not matter
      c[j] = -mean * rstd[j];
      sink += rstd[j];
    }
  }
  _mm_sfence();
}

enum class Work { kBare, kArith, kPartials };

// The single-row backward over n floats of x and dy in rows of H; kHint: the
// dx pass's prefetch of the next row (_MM_HINT_T0, _MM_HINT_T2, or -1: none).
template <Work kWork, int kHint>
void BackwardRows(float* dx, const float* x, const float* dy, size_t n, size_t H, const float* g,
                  float* pg, float* pb) {
  const size_t rows = n / H;
  __m512 acc = _mm512_setzero_ps();
  const __m512 mu = _mm512_set1_ps(0.5f), rs = _mm512_set1_ps(1.5f);
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * H;
    const float* dr = dy + r * H;
    float* o = dx + r * H;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (size_t i = 0; i < H; i += 16) {
      const __m512 d = _mm512_loadu_ps(dr + i);
      if (kWork == Work::kBare) {
        a0 = _mm512_add_ps(a0, d);
        a1 = _mm512_fmadd_ps(d, _mm512_loadu_ps(xr + i), a1);
        continue;
      }
      const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mu), rs);
      const __m512 gd = _mm512_mul_ps(d, _mm512_loadu_ps(g + i));
      a0 = _mm512_add_ps(a0, gd);
      a1 = _mm512_fmadd_ps(gd, xh, a1);
      if (kWork == Work::kPartials) {
        _mm512_store_ps(pg + i, _mm512_fmadd_ps(d, xh, _mm512_load_ps(pg + i)));
        _mm512_store_ps(pb + i, _mm512_add_ps(d, _mm512_load_ps(pb + i)));
      }
    }
    const __m512 c = _mm512_add_ps(a0, a1);
    for (size_t i = 0; i < H; i += 16) {
      if (kHint >= 0 && r + 1 < rows) {
        _mm_prefetch(reinterpret_cast<const char*>(xr + H + i), static_cast<_mm_hint>(kHint));
        _mm_prefetch(reinterpret_cast<const char*>(dr + H + i), static_cast<_mm_hint>(kHint));
      }
      __m512 v;
      if (kWork == Work::kBare) {
        v = _mm512_fmadd_ps(_mm512_loadu_ps(xr + i), c, _mm512_loadu_ps(dr + i));
      } else {
        const __m512 gd = _mm512_mul_ps(_mm512_loadu_ps(dr + i), _mm512_loadu_ps(g + i));
        v = _mm512_fmadd_ps(gd, rs, _mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mu), c, rs));
      }
      _mm512_stream_ps(o + i, v);
    }
    acc = _mm512_add_ps(acc, c);
  }
  _mm_sfence();
  sink += _mm512_reduce_add_ps(acc);
}

// The sums pass of one backward row (the fused groups' and the tiled
// shape's): x̂ and g·dy, their two sums, added into one vector.
__m512 RowSums(const float* xr, const float* dr, const float* g, size_t H, __m512 mu, __m512 rs) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  for (size_t i = 0; i < H; i += 16) {
    const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mu), rs);
    const __m512 gd = _mm512_mul_ps(_mm512_loadu_ps(dr + i), _mm512_loadu_ps(g + i));
    a0 = _mm512_add_ps(a0, gd);
    a1 = _mm512_fmadd_ps(gd, xh, a1);
  }
  return _mm512_add_ps(a0, a1);
}

// The backward's fused groups (FusedGroups) over n floats of x and dy in rows
// of H: each row of a group of four summed alone (x and dy only), then one
// pass over the columns that writes the four rows' dx and adds their dγ/dβ
// terms, gamma and the partials loaded and stored once per group, with
// prefetcht2 of the same columns of the next group's rows.
template <int R, bool kPartials = true>
void BackwardFused(float* dx, const float* x, const float* dy, size_t n, size_t H,
                   const float* g, float* pg, float* pb) {
  const size_t rows = n / H;
  __m512 acc = _mm512_setzero_ps();
  const __m512 mu = _mm512_set1_ps(0.5f), rs = _mm512_set1_ps(1.5f);
  for (size_t r = 0; r + R <= rows; r += R) {
    const bool next = r + 2 * R <= rows;
    __m512 c[R];
    for (int j = 0; j < R; ++j) {
      c[j] = RowSums(x + (r + j) * H, dy + (r + j) * H, g, H, mu, rs);
    }
    for (size_t i = 0; i < H; i += 16) {
      const __m512 gv = _mm512_loadu_ps(g + i);
      __m512 tg = kPartials ? _mm512_load_ps(pg + i) : _mm512_setzero_ps();
      __m512 tb = kPartials ? _mm512_load_ps(pb + i) : _mm512_setzero_ps();
      for (int j = 0; j < R; ++j) {
        const float* xr = x + (r + j) * H;
        const float* dr = dy + (r + j) * H;
        if (next) {
          _mm_prefetch(reinterpret_cast<const char*>(xr + R * H + i), _MM_HINT_T2);
          _mm_prefetch(reinterpret_cast<const char*>(dr + R * H + i), _MM_HINT_T2);
        }
        const __m512 d = _mm512_loadu_ps(dr + i);
        const __m512 xm = _mm512_sub_ps(_mm512_loadu_ps(xr + i), mu);
        tg = _mm512_fmadd_ps(d, _mm512_mul_ps(xm, rs), tg);
        tb = _mm512_add_ps(d, tb);
        _mm512_stream_ps(dx + (r + j) * H + i,
                         _mm512_fmadd_ps(_mm512_mul_ps(d, gv), rs, _mm512_fmadd_ps(xm, c[j], rs)));
      }
      if (kPartials) {
        _mm512_store_ps(pg + i, tg);
        _mm512_store_ps(pb + i, tb);
      } else {
        acc = _mm512_add_ps(acc, _mm512_add_ps(tg, tb));
      }
    }
    for (int j = 0; j < R; ++j) acc = _mm512_add_ps(acc, c[j]);
  }
  _mm_sfence();
  sink += _mm512_reduce_add_ps(acc);
}

// Row blocks of B rows: each row's sums (x, dy, gamma), then the block in
// column tiles of 8 vectors: for each row of the block, the tile's dx
// streamed and its dgamma/dbeta terms added to registers, the next block's
// same tile prefetched into L2; the tile's partials stored once per block.
template <int B>
void BackwardTiled(float* dx, const float* x, const float* dy, size_t n, size_t H,
                   const float* g, float* pg, float* pb) {
  constexpr size_t T = 128;  // columns per tile: 8 vectors
  const size_t rows = n / H;
  __m512 acc = _mm512_setzero_ps();
  const __m512 mu = _mm512_set1_ps(0.5f), rs = _mm512_set1_ps(1.5f);
  for (size_t r0 = 0; r0 + B <= rows; r0 += B) {
    const bool next = r0 + 2 * B <= rows;
    __m512 c[B];
    for (int j = 0; j < B; ++j) {
      c[j] = RowSums(x + (r0 + j) * H, dy + (r0 + j) * H, g, H, mu, rs);
    }
    for (size_t t = 0; t < H; t += T) {
      __m512 tg[8], tb[8], gv[8];
      for (int k = 0; k < 8; ++k) {
        tg[k] = _mm512_load_ps(pg + t + 16 * k);
        tb[k] = _mm512_load_ps(pb + t + 16 * k);
        gv[k] = _mm512_loadu_ps(g + t + 16 * k);
      }
      for (int j = 0; j < B; ++j) {
        const float* xr = x + (r0 + j) * H + t;
        const float* dr = dy + (r0 + j) * H + t;
        float* o = dx + (r0 + j) * H + t;
        if (next) {
          for (int k = 0; k < 8; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(xr + B * H + 16 * k), _MM_HINT_T2);
            _mm_prefetch(reinterpret_cast<const char*>(dr + B * H + 16 * k), _MM_HINT_T2);
          }
        }
        for (int k = 0; k < 8; ++k) {
          const __m512 d = _mm512_loadu_ps(dr + 16 * k);
          const __m512 xm = _mm512_sub_ps(_mm512_loadu_ps(xr + 16 * k), mu);
          tg[k] = _mm512_fmadd_ps(d, _mm512_mul_ps(xm, rs), tg[k]);
          tb[k] = _mm512_add_ps(d, tb[k]);
          _mm512_stream_ps(o + 16 * k, _mm512_fmadd_ps(_mm512_mul_ps(d, gv[k]), rs, _mm512_fmadd_ps(xm, c[j], rs)));
        }
      }
      for (int k = 0; k < 8; ++k) {
        _mm512_store_ps(pg + t + 16 * k, tg[k]);
        _mm512_store_ps(pb + t + 16 * k, tb[k]);
      }
    }
    for (int j = 0; j < B; ++j) acc = _mm512_add_ps(acc, c[j]);
  }
  _mm_sfence();
  sink += _mm512_reduce_add_ps(acc);
}

float* Buffer(size_t floats) {
  auto* p = static_cast<float*>(aligned_alloc(2 << 20, (floats * 4 + (2 << 20) - 1) / (2 << 20) * (2 << 20)));
  if (p == nullptr) std::exit(1);
  std::memset(p, 0, floats * 4);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 9;
  const bool tiled = argc > 2 && std::string(argv[2]) == "--tiled";
  const size_t n = (128u << 20) / 4, copy_n = n * 3 / 2;
  float* x = Buffer(n);
  float* y = Buffer(n);
  float* dy = Buffer(n);
  float* cs = Buffer(copy_n);
  float* cd = Buffer(copy_n);
  float* params = Buffer(4 * 65536);
  for (size_t i = 0; i < 65536; ++i) params[i] = 1.0f;
  float *g = params, *b = params + 65536, *pg = params + 2 * 65536, *pb = params + 3 * 65536;

  struct Variant {
    std::string name;
    bool bwd;  // compared with the copy of 1.5x the bytes
    std::function<void()> run;
  };
  std::vector<Variant> v;
  v.push_back({"copy", false, [&] { StreamCopy(y, x, n); }});
  v.push_back({"copy_1.5x", true, [&] { StreamCopy(cd, cs, copy_n); }});
  if (tiled) {  // --tiled: the column-tiled shape and the kernels' two, instead of the list below
    for (size_t H : {768ul, 1024ul, 4096ul, 16384ul}) {
      const std::string h = std::to_string(H);
      v.push_back({"bwd_arith_" + h, true, [&, H] { BackwardRows<Work::kArith, _MM_HINT_T2>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_partials_" + h, true, [&, H] { BackwardRows<Work::kPartials, _MM_HINT_T2>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_fused4_" + h, true, [&, H] { BackwardFused<4>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_tiled4_" + h, true, [&, H] { BackwardTiled<4>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_tiled8_" + h, true, [&, H] { BackwardTiled<8>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_tiled16_" + h, true, [&, H] { BackwardTiled<16>(y, x, dy, n, H, g, pg, pb); }});
    }
  } else {
    for (size_t H : {4096ul, 16384ul, 65536ul}) {
      const std::string h = std::to_string(H);
      v.push_back({"fwd_g1_" + h, false, [&, H] { ForwardGroups<1, true>(y, x, n, H, g, b); }});
      v.push_back({"fwd_g2_" + h, false, [&, H] { ForwardGroups<2, true>(y, x, n, H, g, b); }});
      v.push_back({"fwd_g4_" + h, false, [&, H] { ForwardGroups<4, true>(y, x, n, H, g, b); }});
      v.push_back({"fwd_g8_" + h, false, [&, H] { ForwardGroups<8, true>(y, x, n, H, g, b); }});
      v.push_back({"fwd_g4_" + h + "_noparams", false, [&, H] { ForwardGroups<4, false>(y, x, n, H, g, b); }});
    }
    for (size_t H : {128ul, 1024ul, 4096ul, 16384ul}) {
      const std::string h = std::to_string(H);
      v.push_back({"bwd_bare_" + h, true, [&, H] { BackwardRows<Work::kBare, _MM_HINT_T2>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_arith_" + h, true, [&, H] { BackwardRows<Work::kArith, _MM_HINT_T2>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_partials_" + h, true, [&, H] { BackwardRows<Work::kPartials, _MM_HINT_T2>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_partials_" + h + "_t0", true, [&, H] { BackwardRows<Work::kPartials, _MM_HINT_T0>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_partials_" + h + "_none", true, [&, H] { BackwardRows<Work::kPartials, -1>(y, x, dy, n, H, g, pg, pb); }});
    }
    for (size_t H : {4096ul, 16384ul, 65536ul}) {
      const std::string h = std::to_string(H);
      v.push_back({"bwd_fused4_" + h, true, [&, H] { BackwardFused<4>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_fused8_" + h, true, [&, H] { BackwardFused<8>(y, x, dy, n, H, g, pg, pb); }});
      v.push_back({"bwd_fused4_" + h + "_noparts", true, [&, H] { BackwardFused<4, false>(y, x, dy, n, H, g, pg, pb); }});
    }
  }
  const auto t = ShuffledRounds(v.size(), rounds, [&](size_t k) { v[k].run(); });
  const auto median = [&](size_t k) { return t[k][t[k].size() / 2]; };
  for (size_t k = 0; k < v.size(); ++k) {
    std::printf("%-26s %8.2f ms  vs copy %.2f\n", v[k].name.c_str(), median(k) * 1e3,
                median(v[k].bwd ? 1 : 0) / median(k));
  }
  std::printf("# %g\n", sink);
  return 0;
}
