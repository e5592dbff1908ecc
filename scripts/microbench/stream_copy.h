// stream_copy.h: the streaming copy the microbenchmarks measure their
// patterns against (AVX-512F; n a multiple of 32 floats).
#ifndef LNBENCH_SCRIPTS_MICROBENCH_STREAM_COPY_H_
#define LNBENCH_SCRIPTS_MICROBENCH_STREAM_COPY_H_

#include <immintrin.h>

#include <cstddef>

// Copies x[0, n) to y with streaming stores, two vectors at a time, then
// fences them.
inline void StreamCopy(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), c = _mm512_loadu_ps(x + i + 16);
    _mm512_stream_ps(y + i, a);
    _mm512_stream_ps(y + i + 16, c);
  }
  _mm_sfence();
}

#endif  // LNBENCH_SCRIPTS_MICROBENCH_STREAM_COPY_H_
