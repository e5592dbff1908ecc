/*
 * An lnbench plugin in plain C: LayerNorm and RMSNorm forward for f32 on the CPU.
 *
 * Build it against an installed lnbench (see CMakeLists.txt next to it):
 *     cmake -S examples/plugins -B build-plugins -DCMAKE_PREFIX_PATH=/usr/local
 *     cmake --build build-plugins
 * then verify and time it like any backend:
 *     lnbench verify --plugin build-plugins/liblnbench_example_cpu.so -b example_c
 *     lnbench run --plugin build-plugins/liblnbench_example_cpu.so -b example_c,highway
 */
#include <lnbench/plugin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes a reason into the caller's buffer (snprintf always ends it with NUL). */
#define REASON(...) (void)snprintf(reason, reason_size, __VA_ARGS__)

static const lnb_variant kVariants[] = {
    {"twopass", "layernorm: mean, then the variance of x - mean; rmsnorm: the mean of x^2; in double per row"},
};

typedef struct state {
  lnb_norm norm;
  int64_t rows, cols;
  double eps;
  uint32_t flags;
} state;

static int supports(void* user, const lnb_problem* p, const char* variant, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  if (p->norm != LNB_NORM_LAYERNORM && p->norm != LNB_NORM_RMSNORM)
    return REASON("only layernorm and rmsnorm are implemented"), 0;
  if (p->dir != LNB_DIR_FWD) return REASON("only the forward direction is implemented"), 0;
  if (p->dtype != LNB_DTYPE_F32) return REASON("only f32 is implemented"), 0;
  return 1;
}

static int prepare(void* user, const lnb_problem* p, const char* variant, const lnb_tensor t[LNB_TENSOR_COUNT],
                   void** out, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  (void)t;
  state* s = (state*)malloc(sizeof(state));
  if (s == NULL) return REASON("out of memory"), 1;
  s->norm = p->norm;
  s->rows = p->rows;
  s->cols = p->cols;
  s->eps = p->eps;
  s->flags = p->flags;
  *out = s;
  return 0;
}

static int run(void* opaque, const lnb_tensor t[LNB_TENSOR_COUNT], void* stream, char* reason, size_t reason_size) {
  (void)stream;
  (void)reason;
  (void)reason_size;
  const state* s = (const state*)opaque;
  const float* x = (const float*)t[LNB_TENSOR_X].data;
  const float* gamma = (const float*)t[LNB_TENSOR_GAMMA].data; /* NULL without affine */
  const float* beta = (const float*)t[LNB_TENSOR_BETA].data;   /* NULL for rmsnorm */
  float* y = (float*)t[LNB_TENSOR_Y].data;
  float* mean_out = (float*)t[LNB_TENSOR_MEAN].data; /* NULL without stats, and for rmsnorm */
  float* rstd_out = (float*)t[LNB_TENSOR_RSTD].data; /* NULL without stats */
  const int rms = s->norm == LNB_NORM_RMSNORM;
  for (int64_t r = 0; r < s->rows; ++r) {
    const float* xr = x + r * s->cols;
    float* yr = y + r * s->cols;
    /* Two passes in double: the variance of x - mean cannot cancel the way
     * E[x^2] - E[x]^2 does on offset inputs. RMSNorm centres nothing: its
     * statistic is the mean of x^2 itself (mean 0 below). */
    double mean = 0;
    if (!rms) {
      double sum = 0;
      for (int64_t c = 0; c < s->cols; ++c) sum += xr[c];
      mean = sum / (double)s->cols;
    }
    double sq = 0;
    for (int64_t c = 0; c < s->cols; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
    const double rstd = 1.0 / sqrt(sq / (double)s->cols + s->eps);
    for (int64_t c = 0; c < s->cols; ++c) {
      double v = (xr[c] - mean) * rstd;
      if (gamma != NULL) v *= gamma[c];
      if (beta != NULL) v += beta[c];
      yr[c] = (float)v;
    }
    if (mean_out != NULL) mean_out[r] = (float)mean;
    if (rstd_out != NULL) rstd_out[r] = (float)rstd;
  }
  return 0;
}

static void release(void* opaque) { free(opaque); }

static const lnb_backend kBackends[] = {{
    sizeof(lnb_backend), "example_c", "LayerNorm and RMSNorm forward in plain C (in double)", LNB_DEVICE_CPU,
    kVariants, 1, NULL, supports, prepare, run, release,
}};

static const lnb_plugin kPlugin = {
    LNBENCH_PLUGIN_ABI_VERSION, sizeof(lnb_plugin), "lnbench-example-c", "1.0", kBackends, 1,
};

LNBENCH_PLUGIN_EXPORT const lnb_plugin* lnbench_plugin(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &kPlugin;
}
