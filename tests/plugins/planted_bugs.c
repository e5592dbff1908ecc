/*
 * Planted-bug plugins: one correct f32 LayerNorm forward, built several times
 * with one bug each (tests/CMakeLists.txt: -DBUG_<NAME>). Each must be caught
 * by lnbench's guards with the right status (tests/plugin_test.cc).
 * With PLANTED_BUG_ROWS=N in the environment the bug shows only on problems
 * of N rows (tests/plugin_isolation_test.cc: the cases around a crash).
 */
#include <lnbench/plugin.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BACKEND_NAME
#define BACKEND_NAME "planted"
#endif

static const lnb_variant kVariants[] = {{"default", "f32 layernorm forward with a planted bug"}};

typedef struct state {
  lnb_problem p;
  long calls; /* run() calls on this prepared case */
} state;

#if defined(BUG_STDOUT)
/* Runs when lnbench loads the library, in lnbench's own process. */
__attribute__((constructor)) static void loaded(void) { printf("planted_stdout: loaded\n"); }
#endif

static int supports(void* user, const lnb_problem* p, const char* variant, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
#if defined(BUG_STDOUT)
  printf("planted_stdout: supports\n"); /* lnbench calls supports() in its own process in every mode */
#elif defined(BUG_EXIT_IN_SUPPORTS)
  exit(0);
#elif defined(BUG_HANG_IN_SUPPORTS)
  for (;;) pause();
#endif
  if (p->norm != LNB_NORM_LAYERNORM || p->dir != LNB_DIR_FWD || p->dtype != LNB_DTYPE_F32) {
    snprintf(reason, reason_size, "f32 layernorm forward only");
    return 0;
  }
  return 1;
}

static int prepare(void* user, const lnb_problem* p, const char* variant, const lnb_tensor t[LNB_TENSOR_COUNT],
                   void** out, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  (void)t;
  (void)reason;
  (void)reason_size;
  state* s = (state*)calloc(1, sizeof(state));
  s->p = *p;
  *out = s;
  return 0;
}

/* Returns whether the planted bug shows on `p` (see PLANTED_BUG_ROWS). */
static int bug_applies(const lnb_problem* p) {
  const char* rows = getenv("PLANTED_BUG_ROWS");
  return rows == NULL || atoll(rows) == (long long)p->rows;
}

static void compute(const lnb_problem* p, const lnb_tensor* t) {
  const float* x = (const float*)t[LNB_TENSOR_X].data;
  const float* g = (const float*)t[LNB_TENSOR_GAMMA].data;
  const float* b = (const float*)t[LNB_TENSOR_BETA].data;
  float* y = (float*)t[LNB_TENSOR_Y].data;
  float* mo = (float*)t[LNB_TENSOR_MEAN].data;
  float* ro = (float*)t[LNB_TENSOR_RSTD].data;
  for (int64_t r = 0; r < p->rows; ++r) {
    double sum = 0, sq = 0;
    for (int64_t c = 0; c < p->cols; ++c) sum += x[r * p->cols + c];
    const double mean = sum / (double)p->cols;
    for (int64_t c = 0; c < p->cols; ++c) sq += (x[r * p->cols + c] - mean) * (x[r * p->cols + c] - mean);
    const double rstd = 1.0 / sqrt(sq / (double)p->cols + p->eps);
    for (int64_t c = 0; c < p->cols; ++c) {
      double v = (x[r * p->cols + c] - mean) * rstd;
      if (g != NULL) v = v * g[c] + b[c];
      y[r * p->cols + c] = (float)v;
    }
    if (mo != NULL) {
      mo[r] = (float)mean;
      ro[r] = (float)rstd;
    }
  }
}

static int run(void* opaque, const lnb_tensor t[LNB_TENSOR_COUNT], void* stream, char* reason, size_t reason_size) {
  (void)stream;
  (void)reason;
  (void)reason_size;
  state* s = (state*)opaque;
  const int64_t n = s->p.rows * s->p.cols;
  ++s->calls;
  if (!bug_applies(&s->p)) {
    compute(&s->p, t);
    return 0;
  }
#if defined(BUG_IDLE_WHEN_TIMED)
  /* Right on its first two calls (lnbench's two verifications), then does
     nothing: only a check of the timed runs' outputs catches it. */
  if (s->calls > 2) return 0;
#endif
#if defined(BUG_CACHE)
  /* Computes once, then replays the first outputs whatever the inputs. */
  static float* cache = NULL;
  if (cache == NULL) {
    compute(&s->p, t);
    cache = (float*)malloc((size_t)n * sizeof(float));
    memcpy(cache, t[LNB_TENSOR_Y].data, (size_t)n * sizeof(float));
  } else {
    memcpy(t[LNB_TENSOR_Y].data, cache, (size_t)n * sizeof(float));
  }
  return 0;
#else
  compute(&s->p, t);
#endif
#if defined(BUG_OOB_NEAR)
  /* One element past the end of y: lands on the canary bytes (when y does not end on a page). */
  ((float*)t[LNB_TENSOR_Y].data)[n] = 1.0f;
#elif defined(BUG_OOB_FAR)
  /* 100 bytes into the page after the one y ends in: lands on the guard page. */
  const uintptr_t end = (uintptr_t)t[LNB_TENSOR_Y].data + (uintptr_t)n * sizeof(float);
  *(volatile char*)(((end + 4095) & ~(uintptr_t)4095) + 100) = 1;
#elif defined(BUG_MUTATE)
  ((float*)t[LNB_TENSOR_X].data)[n / 2] += 1.0f;
#elif defined(BUG_CRASH)
  *(volatile int*)(uintptr_t)16 = 1; /* a null-pointer write */
#elif defined(BUG_HANG)
  for (;;) pause();
#elif defined(BUG_FAIL)
  snprintf(reason, reason_size, "planted failure");
  return 1;
#elif defined(BUG_EXIT)
  exit(0); /* as a library's error path might: the status says success */
#elif defined(BUG_TERM)
  raise(SIGTERM);
#elif defined(BUG_STDOUT)
  printf("planted_stdout: call %ld\n", s->calls); /* buffered, unflushed */
#endif
  return 0;
}

static void release(void* opaque) {
  free(opaque);
#if defined(BUG_RELEASE_CRASH)
  /* A kernel right in every run whose release() writes through a bad pointer
     (a double free in practice): the case is an error, not a result. */
  *(volatile int*)(uintptr_t)32 = 1;
#elif defined(BUG_RELEASE_HANG)
  for (;;) pause();
#endif
}

static const lnb_backend kBackends[] = {{
    sizeof(lnb_backend), BACKEND_NAME, "planted-bug plugin", LNB_DEVICE_CPU, kVariants, 1, NULL, supports,
    prepare, run, release,
}};

#ifndef PLUGIN_ABI
#define PLUGIN_ABI LNBENCH_PLUGIN_ABI_VERSION
#endif

static const lnb_plugin kPlugin = {PLUGIN_ABI, sizeof(lnb_plugin), "planted", "0", kBackends, 1};

#if !defined(BUG_NO_ENTRY)
LNBENCH_PLUGIN_EXPORT const lnb_plugin* lnbench_plugin(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &kPlugin;
}
#else
LNBENCH_PLUGIN_EXPORT const lnb_plugin* some_other_symbol(void) { return &kPlugin; }
#endif
