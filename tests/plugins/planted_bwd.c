/*
 * Planted-bug plugins for the backward tensors: one correct f32 LayerNorm
 * backward, built with one bug each (tests/CMakeLists.txt: -DBUG_<NAME>), so
 * tests/plugin_test.cc shows the guards cover dy, mean, rstd (inputs) and dx,
 * dgamma, dbeta (outputs) as they cover the forward's tensors.
 */
#include <lnbench/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BACKEND_NAME
#define BACKEND_NAME "planted_bwd"
#endif

static const lnb_variant kVariants[] = {{"default", "f32 layernorm backward with a planted bug"}};

typedef struct state {
  lnb_problem p;
} state;

static int supports(void* user, const lnb_problem* p, const char* variant, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  if (p->norm != LNB_NORM_LAYERNORM || p->dir != LNB_DIR_BWD || p->dtype != LNB_DTYPE_F32 ||
      (p->flags & LNB_FLAG_AFFINE) == 0) {
    snprintf(reason, reason_size, "f32 affine layernorm backward only");
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
  state* s = (state*)malloc(sizeof(state));
  s->p = *p;
  *out = s;
  return 0;
}

/* The contract's backward (OPS_DESIGN.md), in double. */
static void compute(const lnb_problem* p, const lnb_tensor* t) {
  const int64_t n = p->rows, h = p->cols;
  const float* x = (const float*)t[LNB_TENSOR_X].data;
  const float* dy = (const float*)t[LNB_TENSOR_DY].data;
  const float* g = (const float*)t[LNB_TENSOR_GAMMA].data;
  const float* mean = (const float*)t[LNB_TENSOR_MEAN].data;
  const float* rstd = (const float*)t[LNB_TENSOR_RSTD].data;
  float* dx = (float*)t[LNB_TENSOR_DX].data;
  float* dg = (float*)t[LNB_TENSOR_DGAMMA].data;
  float* db = (float*)t[LNB_TENSOR_DBETA].data;
  for (int64_t c = 0; c < h; ++c) {
    double sg = 0, sb = 0;
    for (int64_t r = 0; r < n; ++r) {
      sg += dy[r * h + c] * ((x[r * h + c] - (double)mean[r]) * rstd[r]);
      sb += dy[r * h + c];
    }
    dg[c] = (float)sg;
    db[c] = (float)sb;
  }
  for (int64_t r = 0; r < n; ++r) {
    double a = 0, b = 0;
    for (int64_t c = 0; c < h; ++c) {
      const double gd = (double)g[c] * dy[r * h + c];
      a += gd;
      b += gd * ((x[r * h + c] - (double)mean[r]) * rstd[r]);
    }
    a /= (double)h;
    b /= (double)h;
    for (int64_t c = 0; c < h; ++c) {
      const double xhat = (x[r * h + c] - (double)mean[r]) * rstd[r];
      dx[r * h + c] = (float)(rstd[r] * ((double)g[c] * dy[r * h + c] - a - xhat * b));
    }
  }
}

static int run(void* opaque, const lnb_tensor t[LNB_TENSOR_COUNT], void* stream, char* reason, size_t reason_size) {
  (void)stream;
  (void)reason;
  (void)reason_size;
  const state* s = (const state*)opaque;
  const int64_t n = s->p.rows * s->p.cols, h = s->p.cols;
#if defined(BUG_CACHE_DGAMMA)
  /* dx is computed every time; dgamma and dbeta are replayed from the first run. */
  static float* cache = NULL;
  if (cache == NULL) {
    compute(&s->p, t);
    cache = (float*)malloc(2 * (size_t)h * sizeof(float));
    memcpy(cache, t[LNB_TENSOR_DGAMMA].data, (size_t)h * sizeof(float));
    memcpy(cache + h, t[LNB_TENSOR_DBETA].data, (size_t)h * sizeof(float));
  } else {
    compute(&s->p, t);
    memcpy(t[LNB_TENSOR_DGAMMA].data, cache, (size_t)h * sizeof(float));
    memcpy(t[LNB_TENSOR_DBETA].data, cache + h, (size_t)h * sizeof(float));
  }
#else
  compute(&s->p, t);
#endif
#if defined(BUG_OOB_DBETA)
  /* One element past the end of dbeta: lands on its canary bytes. */
  ((float*)t[LNB_TENSOR_DBETA].data)[h] = 1.0f;
#elif defined(BUG_MUTATE_DY)
  ((float*)t[LNB_TENSOR_DY].data)[n / 2] += 1.0f;
#elif defined(BUG_MUTATE_RSTD)
  ((float*)t[LNB_TENSOR_RSTD].data)[s->p.rows - 1] *= 2.0f;
#endif
  (void)n;
  (void)h;
  return 0;
}

static void release(void* opaque) { free(opaque); }

static const lnb_backend kBackends[] = {{
    sizeof(lnb_backend), BACKEND_NAME, "planted-bug backward plugin", LNB_DEVICE_CPU, kVariants, 1, NULL, supports,
    prepare, run, release,
}};

static const lnb_plugin kPlugin = {LNBENCH_PLUGIN_ABI_VERSION, sizeof(lnb_plugin), "planted_bwd", "0", kBackends, 1};

LNBENCH_PLUGIN_EXPORT const lnb_plugin* lnbench_plugin(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &kPlugin;
}
